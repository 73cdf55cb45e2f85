//! RFC 9068 JWT access tokens signed with Ed25519 (`EdDSA`): signing keys kept in the store with rotation, and the JWK set that publishes them.
//!
//! Keys live under `oauth-signing-key:<kid>` (PKCS#8, listed under the
//! index `oauth-signing-keys:all`); `oauth-signing-key:current` names the
//! one that signs. A rotated-out key stays published for one access-token
//! lifetime plus an hour, so tokens it signed still verify, then expires.
//! A JWT is also recorded like an opaque token (by its SHA-256), so
//! revocation and introspection work the same for both formats.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{OAuth, OAuthError};
use crate::error::Error;
use crate::ext::StoreExt;
use crate::secret;
use crate::types::PutOptions;

const CURRENT: &str = "oauth-signing-key:current";
const KEYS_INDEX: &str = "oauth-signing-keys:all";

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// PKCS#8 document, base64url.
    pkcs8: String,
    /// The raw public key, base64url (the JWK's `x`).
    public: String,
    created_at: u64,
}

#[derive(Serialize, Deserialize)]
struct Current {
    kid: String,
}

fn key_key(kid: &str) -> String {
    format!("oauth-signing-key:{kid}")
}

fn corrupt(detail: &str) -> OAuthError {
    OAuthError::Store(Error::corrupt(Some(CURRENT), detail))
}

/// Whether `token` looks like a compact JWS (three base64url parts, at most 8 KiB).
pub(crate) fn is_jwt_shaped(token: &str) -> bool {
    token.len() <= 8192
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl OAuth {
    /// Creates a new Ed25519 signing key and makes it the current one; the
    /// previous key stays published until the tokens it signed have expired.
    /// Returns the new key id.
    ///
    /// # Errors
    /// Store errors.
    pub async fn rotate_signing_key(&self) -> Result<String, OAuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| Error::backend("ring", "could not generate an Ed25519 key"))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| Error::backend("ring", "could not load the generated key"))?;
        let kid = URL_SAFE_NO_PAD.encode(&secret::random_bytes()?[..12]);
        let stored = StoredKey {
            kid: kid.clone(),
            pkcs8: URL_SAFE_NO_PAD.encode(pkcs8.as_ref()),
            public: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            created_at: self.now() / 1000,
        };
        let options = PutOptions::new().create_only().index(KEYS_INDEX);
        self.store
            .put_json(&key_key(&kid), &stored, options)
            .await?;
        let previous = self.store.get_json::<Current>(CURRENT).await?;
        self.store
            .put_json(CURRENT, &Current { kid: kid.clone() }, PutOptions::new())
            .await?;
        if let Some(previous) = previous {
            let keep = self.config.access_token_ttl + std::time::Duration::from_secs(3600);
            self.store
                .touch(&key_key(&previous.value.kid), keep)
                .await?;
        }
        Ok(kid)
    }

    /// The current signing key, created on first use.
    async fn signing_key(&self) -> Result<(String, Ed25519KeyPair), OAuthError> {
        for _ in 0..3 {
            let kid = match self.store.get_json::<Current>(CURRENT).await? {
                Some(current) => current.value.kid,
                None => self.rotate_signing_key().await?,
            };
            let Some(stored) = self.store.get_json::<StoredKey>(&key_key(&kid)).await? else {
                // Rotated and expired between the two reads: look again.
                continue;
            };
            let der = URL_SAFE_NO_PAD
                .decode(&stored.value.pkcs8)
                .map_err(|_| corrupt("signing key is not base64url"))?;
            let pair = Ed25519KeyPair::from_pkcs8(&der)
                .map_err(|_| corrupt("signing key is not PKCS#8 Ed25519"))?;
            return Ok((kid, pair));
        }
        Err(corrupt("the current signing key is missing"))
    }

    /// Signs `claims` as a JWT access token (`typ: at+jwt`, RFC 9068).
    pub(crate) async fn sign_jwt(&self, claims: &Value) -> Result<String, OAuthError> {
        let (kid, pair) = self.signing_key().await?;
        let header = json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signing_input = format!("{}.{}", encode(&header), encode(claims));
        let signature = pair.sign(signing_input.as_bytes());
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The JWK set (RFC 7517) of every published signing key, for `jwks_uri`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn jwks(&self) -> Result<Value, OAuthError> {
        let mut keys = Vec::new();
        for key in self.store.list_index(KEYS_INDEX).await? {
            if let Some(stored) = self.store.get_json::<StoredKey>(&key).await? {
                keys.push(json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": stored.value.kid,
                    "x": stored.value.public,
                }));
            }
        }
        Ok(json!({ "keys": keys }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(is_jwt_shaped("aGVhZA.Y2xhaW1z.c2ln"));
        assert!(!is_jwt_shaped("a.b"));
        assert!(!is_jwt_shaped("a.b.c d"));
        assert!(!is_jwt_shaped(&format!("{}.b.c", "a".repeat(9000))));
    }
}
