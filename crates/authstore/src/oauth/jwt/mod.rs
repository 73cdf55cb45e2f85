//! JWTs signed with Ed25519 (`EdDSA`), RSA (`RS256`) or P-256 (`ES256`): one current signing key per algorithm kept in the store, encrypted at rest under a key-encryption key, with scheduled and on-demand rotation, and the JWK set that publishes them.
//!
//! Keys live under `oauth-signing-key:<kid>` (listed under the index
//! `oauth-signing-keys:all`), each recording its algorithm (a record
//! without one is an Ed25519 key). `oauth-signing-key:current` names the
//! current `EdDSA` key; `oauth-signing-key:current:RS256` and
//! `oauth-signing-key:current:ES256` the current keys of the others. With a
//! [`KeyEncryptionKey`](super::KeyEncryptionKey) in [`OAuthConfig`](super::OAuthConfig)
//! the private key (PKCS#8) is stored sealed with AES-256-GCM: a random
//! 96-bit nonce per encryption, the key id as associated data, and the
//! key-encryption key's fingerprint beside it, so a wrong key-encryption
//! key is told apart from damaged data. Without one, the private key is
//! stored in clear (the in-process memory store; `authstore serve` refuses
//! a persistent store without one).
//!
//! A rotated-out key loses its private key at once (it never signs again)
//! and stays published for one access-token lifetime plus an hour, so
//! tokens it signed still verify; its record (no key material) is then
//! kept 30 more days as `retired`, for [`OAuth::signing_keys`], and expires.
//! A key stored in clear is sealed the first time it is used with a
//! key-encryption key configured, or by [`OAuth::secure_signing_keys`].
//! A JWT access token is also recorded like an opaque token (by its
//! SHA-256), so revocation and introspection work the same for both formats.

mod alg;
mod cache;
mod info;
mod rotation;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use alg::{SigningAlg, UnknownSigningAlg};
pub(super) use cache::KeyCache;
pub use info::{KeyProtection, KeyUpkeep, SigningKeyInfo, SigningKeyStatus};

use super::kek::{CURRENT, Sealed, corrupt, corrupt_key, key_key, wrong_kek};
use super::{OAuth, OAuthError};
use crate::error::Error;
use crate::ext::{StoreExt, Versioned};
use crate::secret;
use crate::types::PutOptions;
use alg::{NewKey, PublicKey, SigningPair};

const KEYS_INDEX: &str = "oauth-signing-keys:all";
/// How long a retired key's record (no key material) is kept for listing.
const RETIRED_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Attempts at a compare-and-set before giving up to a concurrent writer.
const ATTEMPTS: usize = 8;

fn eddsa() -> SigningAlg {
    SigningAlg::EdDSA
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// The algorithm; records written before there were several are `EdDSA`.
    #[serde(default = "eddsa")]
    alg: SigningAlg,
    /// The PKCS#8 document in clear, base64url: only without a key-encryption key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs8: Option<String>,
    /// The PKCS#8 document sealed under the key-encryption key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
    /// The public key, base64url: Ed25519 the raw key (the JWK's `x`),
    /// P-256 the uncompressed point, RSA the modulus (the JWK's `n`).
    public: String,
    /// RSA: the public exponent, base64url (the JWK's `e`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    /// Unix seconds.
    created_at: u64,
    /// Set when rotated out: published until then (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    published_until: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Current {
    kid: String,
}

/// The store key of the pointer naming `alg`'s current key. `EdDSA` keeps
/// the name it had when it was the only algorithm.
fn current_key(alg: SigningAlg) -> String {
    match alg {
        SigningAlg::EdDSA => CURRENT.to_owned(),
        other => format!("{CURRENT}:{other}"),
    }
}

/// Whether `token` looks like a compact JWS (three base64url parts, at most 8 KiB).
pub(crate) fn is_jwt_shaped(token: &str) -> bool {
    token.len() <= 8192
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl StoredKey {
    fn protection(&self) -> KeyProtection {
        match (&self.sealed, &self.pkcs8) {
            (Some(sealed), _) => KeyProtection::Encrypted {
                kek_fingerprint: sealed.kek.clone(),
            },
            (None, Some(_)) => KeyProtection::Plaintext,
            (None, None) => KeyProtection::PublicOnly,
        }
    }
}

impl OAuth {
    fn now_secs(&self) -> u64 {
        self.now() / 1000
    }

    /// How long a rotated-out key stays published: one access-token lifetime plus an hour.
    fn publish_after_rotation(&self) -> Duration {
        self.config.access_token_ttl + Duration::from_secs(3600)
    }

    /// The algorithm of ID tokens for clients that registered none
    /// ([`OAuthConfig::id_token_alg`](super::OAuthConfig::id_token_alg)).
    pub fn id_token_alg(&self) -> SigningAlg {
        self.config.id_token_alg
    }

    /// The algorithm JWT access tokens are signed with ([`OAuthConfig::access_token_alg`](super::OAuthConfig::access_token_alg)).
    pub fn access_token_alg(&self) -> SigningAlg {
        self.config.access_token_alg
    }

    /// Refuses to keep a private key in clear when the configuration says
    /// every signing key must be encrypted at rest.
    fn check_clear_allowed(&self) -> Result<(), OAuthError> {
        if self.config.require_key_encryption && self.config.key_encryption_key.is_none() {
            return Err(Error::InvalidArgument(
                "no key-encryption key is configured, and signing keys are never kept in clear \
                 in this store: configure a key-encryption key",
            )
            .into());
        }
        Ok(())
    }

    /// A new key record: sealed if a key-encryption key is configured.
    fn new_record(
        &self,
        kid: &str,
        alg: SigningAlg,
        key: &NewKey,
        created_at: u64,
    ) -> Result<StoredKey, OAuthError> {
        let (pkcs8, sealed) = match &self.config.key_encryption_key {
            Some(kek) => (None, Some(kek.seal(kid, &key.pkcs8)?)),
            None => {
                self.check_clear_allowed()?;
                (Some(URL_SAFE_NO_PAD.encode(&key.pkcs8)), None)
            }
        };
        Ok(StoredKey {
            kid: kid.to_owned(),
            alg,
            pkcs8,
            sealed,
            public: key.public.public.clone(),
            e: key.public.e.clone(),
            created_at,
            published_until: None,
        })
    }

    /// Generates a key of `alg` (off the async threads: an RSA key takes a
    /// while) and stores it, not yet current; returns its id.
    async fn create_key(&self, alg: SigningAlg) -> Result<String, OAuthError> {
        self.check_clear_allowed()?;
        let key = match alg {
            SigningAlg::RS256 => tokio::task::spawn_blocking(move || alg::generate(alg))
                .await
                .map_err(|e| Error::internal("RSA key generation", e))??,
            _ => alg::generate(alg)?,
        };
        let kid = URL_SAFE_NO_PAD.encode(&secret::random_bytes()?[..12]);
        let stored = self.new_record(&kid, alg, &key, self.now_secs())?;
        let options = PutOptions::new().create_only().index(KEYS_INDEX);
        self.store
            .put_json(&key_key(&kid), &stored, options)
            .await?;
        Ok(kid)
    }

    /// Makes `kid` the current key of `alg` if the pointer is still at
    /// `expected` (its version; `None`: no pointer yet). Returns whether it did.
    async fn swap_current(
        &self,
        alg: SigningAlg,
        kid: &str,
        expected: Option<u64>,
    ) -> Result<bool, OAuthError> {
        let options = match expected {
            Some(version) => PutOptions::new().if_version(version),
            None => PutOptions::new().create_only(),
        };
        let written = self
            .store
            .put_json(
                &current_key(alg),
                &Current {
                    kid: kid.to_owned(),
                },
                options,
            )
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(e) if e.is_condition_failed() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a new signing key of `alg` and makes it the current one (a
    /// compare-and-set on the current-key pointer, so concurrent rotations
    /// each take effect in turn). The previous key loses its private key and
    /// stays published until the tokens it signed have expired. Returns the
    /// new key id.
    ///
    /// # Errors
    /// Store errors; [`Error::Contended`] after losing many races in a row.
    pub async fn rotate_signing_key(&self, alg: SigningAlg) -> Result<String, OAuthError> {
        let kid = self.create_key(alg).await?;
        let pointer = current_key(alg);
        for _ in 0..ATTEMPTS {
            let previous = self.store.get_json::<Current>(&pointer).await?;
            if self
                .swap_current(alg, &kid, previous.as_ref().map(|p| p.version))
                .await?
            {
                if let Some(previous) = previous {
                    self.keys.forget(&previous.value.kid);
                    self.retire(&previous.value.kid).await?;
                }
                return Ok(kid);
            }
        }
        Err(Error::Contended {
            key: pointer,
            attempts: ATTEMPTS as u32,
        }
        .into())
    }

    /// Rotates `kid` out: deletes its private key, publishes it for one
    /// access-token lifetime plus an hour, then keeps the record as retired.
    async fn retire(&self, kid: &str) -> Result<bool, OAuthError> {
        let key = key_key(kid);
        for _ in 0..ATTEMPTS {
            let Some(stored) = self.store.get_json::<StoredKey>(&key).await? else {
                return Ok(false);
            };
            if stored.value.published_until.is_some()
                && stored.value.pkcs8.is_none()
                && stored.value.sealed.is_none()
            {
                return Ok(false);
            }
            let publish = self.publish_after_rotation();
            let published_until = stored
                .value
                .published_until
                .unwrap_or_else(|| self.now_secs() + publish.as_secs());
            let retired = StoredKey {
                pkcs8: None,
                sealed: None,
                published_until: Some(published_until),
                ..stored.value
            };
            let ttl =
                Duration::from_secs(published_until.saturating_sub(self.now_secs())) + RETIRED_KEPT;
            let options = PutOptions::new()
                .if_version(stored.version)
                .ttl(ttl)
                .index(KEYS_INDEX);
            match self.store.put_json(&key, &retired, options).await {
                Ok(_) => return Ok(true),
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended {
            key,
            attempts: ATTEMPTS as u32,
        }
        .into())
    }

    /// The current key id of `alg`, creating its first key on first use (of
    /// concurrent first uses, one key wins and the others are discarded).
    async fn current_kid(&self, alg: SigningAlg) -> Result<String, OAuthError> {
        let pointer = current_key(alg);
        if let Some(current) = self.store.get_json::<Current>(&pointer).await? {
            return Ok(current.value.kid);
        }
        let kid = self.create_key(alg).await?;
        if self.swap_current(alg, &kid, None).await? {
            return Ok(kid);
        }
        self.store.delete(&key_key(&kid)).await?;
        let winner = self.store.get_json::<Current>(&pointer).await?;
        winner
            .map(|c| c.value.kid)
            .ok_or_else(|| corrupt("the current signing key is missing"))
    }

    /// The ids of the current keys, by algorithm.
    async fn current_kids(&self) -> Result<Vec<(SigningAlg, String)>, OAuthError> {
        let mut kids = Vec::new();
        for alg in SigningAlg::ALL {
            if let Some(current) = self.store.get_json::<Current>(&current_key(alg)).await? {
                kids.push((alg, current.value.kid));
            }
        }
        Ok(kids)
    }

    /// The PKCS#8 document of a stored key, decrypted if sealed; `None` for
    /// a key without a private half.
    fn private_key(&self, stored: &StoredKey) -> Result<Option<Vec<u8>>, OAuthError> {
        match (&stored.sealed, &stored.pkcs8) {
            (Some(sealed), _) => match &self.config.key_encryption_key {
                Some(kek) => kek.open(&stored.kid, sealed).map(Some),
                None => Err(wrong_kek(&stored.kid, &sealed.kek, None)),
            },
            (None, Some(text)) => {
                self.check_clear_allowed()?;
                URL_SAFE_NO_PAD
                    .decode(text)
                    .map(Some)
                    .map_err(|_| corrupt_key(&stored.kid, "signing key is not base64url"))
            }
            (None, None) => Ok(None),
        }
    }

    /// Loads a stored key's private half as a key of its algorithm.
    fn load_pair(stored: &StoredKey, der: &[u8]) -> Result<SigningPair, OAuthError> {
        alg::load(stored.alg, der).ok_or_else(|| {
            corrupt_key(
                &stored.kid,
                &format!("signing key is not a PKCS#8 {} key", stored.alg),
            )
        })
    }

    /// Seals a key stored in clear, if a key-encryption key is configured
    /// (compare-and-set: a concurrent change wins). Returns whether it did.
    async fn seal_in_place(
        &self,
        stored: &Versioned<StoredKey>,
        pkcs8: &[u8],
    ) -> Result<bool, OAuthError> {
        let Some(kek) = &self.config.key_encryption_key else {
            return Ok(false);
        };
        if stored.value.sealed.is_some() || stored.value.pkcs8.is_none() {
            return Ok(false);
        }
        let sealed = StoredKey {
            pkcs8: None,
            sealed: Some(kek.seal(&stored.value.kid, pkcs8)?),
            ..stored.value.clone()
        };
        let mut options = PutOptions::new()
            .if_version(stored.version)
            .index(KEYS_INDEX);
        if let Some(expires_at) = stored.expires_at {
            let left = expires_at
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                .saturating_sub(self.now());
            if left == 0 {
                return Ok(false);
            }
            options = options.ttl(Duration::from_millis(left));
        }
        match self
            .store
            .put_json(&key_key(&stored.value.kid), &sealed, options)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_condition_failed() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The current signing key of `alg`, created on first use. A current
    /// key stored in clear is sealed now if a key-encryption key is
    /// configured. The loaded key is kept in this process (see [`KeyCache`]);
    /// the current-key pointer is read every time.
    async fn signing_key(&self, alg: SigningAlg) -> Result<(String, Arc<SigningPair>), OAuthError> {
        for _ in 0..3 {
            let kid = self.current_kid(alg).await?;
            if let Some(pair) = self.keys.get(&kid, self.now()) {
                return Ok((kid, pair));
            }
            let Some(stored) = self.store.get_json::<StoredKey>(&key_key(&kid)).await? else {
                // Rotated and expired between the two reads: look again.
                continue;
            };
            if stored.value.alg != alg {
                return Err(corrupt_key(
                    &kid,
                    &format!(
                        "the current {alg} key pointer names a {} key",
                        stored.value.alg
                    ),
                ));
            }
            let Some(der) = self.private_key(&stored.value)? else {
                // Rotated out between the two reads, or (a race with
                // `secure_signing_keys`) stripped while current: then a new
                // key takes over. Either way, look again.
                let still = self.store.get_json::<Current>(&current_key(alg)).await?;
                if still.is_some_and(|c| c.value.kid == kid) {
                    self.rotate_signing_key(alg).await?;
                }
                continue;
            };
            let pair = Arc::new(Self::load_pair(&stored.value, &der)?);
            self.seal_in_place(&stored, &der).await?;
            self.keys.put(&kid, alg, Arc::clone(&pair), self.now());
            return Ok((kid, pair));
        }
        Err(corrupt("the current signing key is missing"))
    }

    /// Brings the stored signing keys in line with the configuration: a
    /// rotated-out key that still holds its private key (stored before
    /// rotation deleted it) loses it; with a key-encryption key configured,
    /// a current key stored in clear is sealed, and a sealed current key is
    /// checked to decrypt. Every algorithm's keys are covered. Run it at
    /// start-up, before serving.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the key when a current key is sealed under
    /// another key-encryption key (or none is configured), or does not
    /// decrypt; store errors.
    pub async fn secure_signing_keys(&self) -> Result<KeyUpkeep, OAuthError> {
        let mut upkeep = KeyUpkeep::default();
        let current = self.current_kids().await?;
        let is_current = |kid: &str| current.iter().any(|(_, k)| k == kid);
        for key in self.store.list_index(KEYS_INDEX).await? {
            let Some(stored) = self.store.get_json::<StoredKey>(&key).await? else {
                continue;
            };
            if is_current(&stored.value.kid) {
                if let Some(der) = self.private_key(&stored.value)? {
                    Self::load_pair(&stored.value, &der)?;
                    upkeep.sealed += usize::from(self.seal_in_place(&stored, &der).await?);
                }
            } else if stored.value.protection() != KeyProtection::PublicOnly {
                // Look again just before: a rotation may have made it current.
                let now_current = self
                    .store
                    .get_json::<Current>(&current_key(stored.value.alg))
                    .await?;
                if now_current.is_some_and(|c| c.value.kid == stored.value.kid) {
                    continue;
                }
                upkeep.stripped += usize::from(self.retire(&stored.value.kid).await?);
            }
        }
        Ok(upkeep)
    }

    /// Every signing key in the store, of every algorithm, newest first: id,
    /// algorithm, creation, status and how it is protected, never key material.
    ///
    /// # Errors
    /// Store errors.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyInfo>, OAuthError> {
        let current = self.current_kids().await?;
        let now = self.now_secs();
        let mut keys = Vec::new();
        for key in self.store.list_index(KEYS_INDEX).await? {
            let Some(stored) = self.store.get_json::<StoredKey>(&key).await? else {
                continue;
            };
            let stored = stored.value;
            let status = if current.iter().any(|(_, kid)| kid == &stored.kid) {
                SigningKeyStatus::Current
            } else if stored.published_until.is_some_and(|until| until <= now) {
                SigningKeyStatus::Retired
            } else {
                SigningKeyStatus::Previous
            };
            keys.push(SigningKeyInfo {
                protection: stored.protection(),
                kid: stored.kid,
                alg: stored.alg,
                created_at: stored.created_at,
                status,
                published_until: stored.published_until,
            });
        }
        keys.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.kid.cmp(&b.kid))
        });
        Ok(keys)
    }

    /// Signs `claims` as a compact JWS with the current key of `alg`, with
    /// the header `typ` (`at+jwt` for RFC 9068 access tokens, `JWT` for ID tokens).
    pub(crate) async fn sign_jwt(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &Value,
    ) -> Result<String, OAuthError> {
        let (kid, pair) = self.signing_key(alg).await?;
        let header = json!({ "alg": alg.as_str(), "typ": typ, "kid": kid });
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signing_input = format!("{}.{}", encode(&header), encode(claims));
        let signature = pair.sign(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Signs `claims` as an OpenID Connect ID token: a JWS with `typ: JWT`,
    /// signed with the current key of `alg` (created on first use), whose
    /// public key is published by [`jwks`](Self::jwks). The code exchange
    /// and refresh pass the client's algorithm ([`id_token_alg_for`](Self::id_token_alg_for)).
    /// The claims are signed as given: the caller sets `iss`, `sub`, `aud`,
    /// `exp`, `iat`, `nonce` and the rest.
    ///
    /// # Errors
    /// Store errors; a signing key that does not decrypt under the
    /// configured key-encryption key.
    pub async fn sign_id_token(
        &self,
        alg: SigningAlg,
        claims: &Value,
    ) -> Result<String, OAuthError> {
        self.sign_jwt(alg, "JWT", claims).await
    }

    /// The JWK set (RFC 7517) of every published signing key of every
    /// algorithm (the current ones and those rotated out less than an
    /// access-token lifetime plus an hour ago), for `jwks_uri`. Each key
    /// has `kid`, `kty`, `alg`, `use: sig` and its public members.
    ///
    /// # Errors
    /// Store errors.
    pub async fn jwks(&self) -> Result<Value, OAuthError> {
        let now = self.now_secs();
        let mut keys = Vec::new();
        for key in self.store.list_index(KEYS_INDEX).await? {
            let Some(stored) = self.store.get_json::<StoredKey>(&key).await? else {
                continue;
            };
            let stored = stored.value;
            if stored.published_until.is_some_and(|until| until <= now) {
                continue;
            }
            let public = PublicKey {
                public: stored.public,
                e: stored.e,
            };
            keys.extend(alg::public_jwk(stored.alg, &stored.kid, &public));
        }
        Ok(json!({ "keys": keys }))
    }
}

#[cfg(test)]
mod tests;
