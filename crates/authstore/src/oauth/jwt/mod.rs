//! RFC 9068 JWT access tokens signed with Ed25519 (`EdDSA`): signing keys kept in the store, encrypted at rest under a key-encryption key, with rotation, and the JWK set that publishes them.
//!
//! Keys live under `oauth-signing-key:<kid>` (listed under the index
//! `oauth-signing-keys:all`); `oauth-signing-key:current` names the one
//! that signs. With a [`KeyEncryptionKey`](super::KeyEncryptionKey) in [`OAuthConfig`](super::OAuthConfig)
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
//! A JWT is also recorded like an opaque token (by its SHA-256), so
//! revocation and introspection work the same for both formats.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kek::{CURRENT, Sealed, corrupt, corrupt_key, key_key, wrong_kek};
use super::{OAuth, OAuthError};
use crate::error::Error;
use crate::ext::{StoreExt, Versioned};
use crate::secret;
use crate::types::PutOptions;

const KEYS_INDEX: &str = "oauth-signing-keys:all";
/// How long a retired key's record (no key material) is kept for listing.
const RETIRED_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Attempts at a compare-and-set before giving up to a concurrent writer.
const ATTEMPTS: usize = 8;

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// The PKCS#8 document in clear, base64url: only without a key-encryption key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pkcs8: Option<String>,
    /// The PKCS#8 document sealed under the key-encryption key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
    /// The raw public key, base64url (the JWK's `x`).
    public: String,
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

/// Where a signing key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyStatus {
    /// Signs new access tokens; published at `/jwks`.
    Current,
    /// Rotated out: no longer signs, still published so the tokens it
    /// signed verify, until [`SigningKeyInfo::published_until`].
    Previous,
    /// No longer published; the record (no key material) is kept for a while, then expires.
    Retired,
}

impl SigningKeyStatus {
    /// `current`, `previous` or `retired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Retired => "retired",
        }
    }
}

/// How a signing key's private half is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProtection {
    /// Sealed under the key-encryption key with this fingerprint.
    Encrypted {
        /// [`KeyEncryptionKey::fingerprint`](super::KeyEncryptionKey::fingerprint) of the key that sealed it.
        kek_fingerprint: String,
    },
    /// In clear (stored without a key-encryption key).
    Plaintext,
    /// No private key is stored (a rotated-out key).
    PublicOnly,
}

impl KeyProtection {
    /// `encrypted`, `plaintext` or `public-only`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Encrypted { .. } => "encrypted",
            Self::Plaintext => "plaintext",
            Self::PublicOnly => "public-only",
        }
    }
}

/// One signing key as [`OAuth::signing_keys`] lists it: never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyInfo {
    /// The key id (the JWT header's `kid`).
    pub kid: String,
    /// The JWS algorithm: `EdDSA`.
    pub alg: &'static str,
    /// When it was created, unix seconds.
    pub created_at: u64,
    /// Current, previous or retired.
    pub status: SigningKeyStatus,
    /// For a rotated-out key: published at `/jwks` until then (unix seconds).
    pub published_until: Option<u64>,
    /// How its private half is stored.
    pub protection: KeyProtection,
}

/// What [`OAuth::secure_signing_keys`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUpkeep {
    /// Keys stored in clear that were sealed under the key-encryption key.
    pub sealed: usize,
    /// Rotated-out keys whose private key was deleted.
    pub stripped: usize,
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

    /// A new key record for `pkcs8`: sealed if a key-encryption key is configured.
    fn new_record(
        &self,
        kid: &str,
        pkcs8: &[u8],
        public: &[u8],
        created_at: u64,
    ) -> Result<StoredKey, OAuthError> {
        let (pkcs8, sealed) = match &self.config.key_encryption_key {
            Some(kek) => (None, Some(kek.seal(kid, pkcs8)?)),
            None => (Some(URL_SAFE_NO_PAD.encode(pkcs8)), None),
        };
        Ok(StoredKey {
            kid: kid.to_owned(),
            pkcs8,
            sealed,
            public: URL_SAFE_NO_PAD.encode(public),
            created_at,
            published_until: None,
        })
    }

    /// Generates a key and stores it (not yet current); returns its id.
    async fn create_key(&self) -> Result<String, OAuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| Error::backend("ring", "could not generate an Ed25519 key"))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| Error::backend("ring", "could not load the generated key"))?;
        let kid = URL_SAFE_NO_PAD.encode(&secret::random_bytes()?[..12]);
        let stored = self.new_record(
            &kid,
            pkcs8.as_ref(),
            pair.public_key().as_ref(),
            self.now_secs(),
        )?;
        let options = PutOptions::new().create_only().index(KEYS_INDEX);
        self.store
            .put_json(&key_key(&kid), &stored, options)
            .await?;
        Ok(kid)
    }

    /// Creates a new Ed25519 signing key and makes it the current one (a
    /// compare-and-set on the current-key pointer, so concurrent rotations
    /// each take effect in turn). The previous key loses its private key and
    /// stays published until the tokens it signed have expired. Returns the
    /// new key id.
    ///
    /// # Errors
    /// Store errors; [`Error::Contended`] after losing many races in a row.
    pub async fn rotate_signing_key(&self) -> Result<String, OAuthError> {
        let kid = self.create_key().await?;
        for _ in 0..ATTEMPTS {
            let previous = self.store.get_json::<Current>(CURRENT).await?;
            let options = match &previous {
                Some(p) => PutOptions::new().if_version(p.version),
                None => PutOptions::new().create_only(),
            };
            let written = self
                .store
                .put_json(CURRENT, &Current { kid: kid.clone() }, options)
                .await;
            match written {
                Ok(_) => {
                    if let Some(previous) = previous {
                        self.retire(&previous.value.kid).await?;
                    }
                    return Ok(kid);
                }
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended {
            key: CURRENT.to_owned(),
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

    /// The current key's id, creating the first key on first use (of
    /// concurrent first uses, one key wins and the others are discarded).
    async fn current_kid(&self) -> Result<String, OAuthError> {
        if let Some(current) = self.store.get_json::<Current>(CURRENT).await? {
            return Ok(current.value.kid);
        }
        let kid = self.create_key().await?;
        let created = self
            .store
            .put_json(
                CURRENT,
                &Current { kid: kid.clone() },
                PutOptions::new().create_only(),
            )
            .await;
        match created {
            Ok(_) => Ok(kid),
            Err(Error::AlreadyExists { .. }) => {
                self.store.delete(&key_key(&kid)).await?;
                let winner = self.store.get_json::<Current>(CURRENT).await?;
                winner
                    .map(|c| c.value.kid)
                    .ok_or_else(|| corrupt("the current signing key is missing"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The PKCS#8 document of a stored key, decrypted if sealed; `None` for
    /// a key without a private half.
    fn private_key(&self, stored: &StoredKey) -> Result<Option<Vec<u8>>, OAuthError> {
        match (&stored.sealed, &stored.pkcs8) {
            (Some(sealed), _) => match &self.config.key_encryption_key {
                Some(kek) => kek.open(&stored.kid, sealed).map(Some),
                None => Err(wrong_kek(&stored.kid, &sealed.kek, None)),
            },
            (None, Some(text)) => URL_SAFE_NO_PAD
                .decode(text)
                .map(Some)
                .map_err(|_| corrupt_key(&stored.kid, "signing key is not base64url")),
            (None, None) => Ok(None),
        }
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

    /// The current signing key, created on first use. A current key stored
    /// in clear is sealed now if a key-encryption key is configured.
    async fn signing_key(&self) -> Result<(String, Ed25519KeyPair), OAuthError> {
        for _ in 0..3 {
            let kid = self.current_kid().await?;
            let Some(stored) = self.store.get_json::<StoredKey>(&key_key(&kid)).await? else {
                // Rotated and expired between the two reads: look again.
                continue;
            };
            let Some(der) = self.private_key(&stored.value)? else {
                // Rotated out between the two reads, or (a race with
                // `secure_signing_keys`) stripped while current: then a new
                // key takes over. Either way, look again.
                let still = self.store.get_json::<Current>(CURRENT).await?;
                if still.is_some_and(|c| c.value.kid == kid) {
                    self.rotate_signing_key().await?;
                }
                continue;
            };
            let pair = Ed25519KeyPair::from_pkcs8(&der)
                .map_err(|_| corrupt_key(&kid, "signing key is not PKCS#8 Ed25519"))?;
            self.seal_in_place(&stored, &der).await?;
            return Ok((kid, pair));
        }
        Err(corrupt("the current signing key is missing"))
    }

    /// Brings the stored signing keys in line with the configuration: a
    /// rotated-out key that still holds its private key (stored before
    /// rotation deleted it) loses it; with a key-encryption key configured,
    /// a current key stored in clear is sealed, and a sealed current key is
    /// checked to decrypt. Run it at start-up, before serving.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the key when the current key is sealed under
    /// another key-encryption key (or none is configured), or does not
    /// decrypt; store errors.
    pub async fn secure_signing_keys(&self) -> Result<KeyUpkeep, OAuthError> {
        let mut upkeep = KeyUpkeep::default();
        let current = self
            .store
            .get_json::<Current>(CURRENT)
            .await?
            .map(|c| c.value.kid);
        for key in self.store.list_index(KEYS_INDEX).await? {
            let Some(stored) = self.store.get_json::<StoredKey>(&key).await? else {
                continue;
            };
            if Some(&stored.value.kid) == current.as_ref() {
                if let Some(der) = self.private_key(&stored.value)? {
                    Ed25519KeyPair::from_pkcs8(&der).map_err(|_| {
                        corrupt_key(&stored.value.kid, "signing key is not PKCS#8 Ed25519")
                    })?;
                    upkeep.sealed += usize::from(self.seal_in_place(&stored, &der).await?);
                }
            } else if stored.value.protection() != KeyProtection::PublicOnly {
                // Look again just before: a rotation may have made it current.
                let now_current = self.store.get_json::<Current>(CURRENT).await?;
                if now_current.is_some_and(|c| c.value.kid == stored.value.kid) {
                    continue;
                }
                upkeep.stripped += usize::from(self.retire(&stored.value.kid).await?);
            }
        }
        Ok(upkeep)
    }

    /// Every signing key in the store, newest first: id, creation, status and
    /// how it is protected, never key material.
    ///
    /// # Errors
    /// Store errors.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyInfo>, OAuthError> {
        let current = self
            .store
            .get_json::<Current>(CURRENT)
            .await?
            .map(|c| c.value.kid);
        let now = self.now_secs();
        let mut keys = Vec::new();
        for key in self.store.list_index(KEYS_INDEX).await? {
            let Some(stored) = self.store.get_json::<StoredKey>(&key).await? else {
                continue;
            };
            let stored = stored.value;
            let status = if Some(&stored.kid) == current.as_ref() {
                SigningKeyStatus::Current
            } else if stored.published_until.is_some_and(|until| until <= now) {
                SigningKeyStatus::Retired
            } else {
                SigningKeyStatus::Previous
            };
            keys.push(SigningKeyInfo {
                protection: stored.protection(),
                kid: stored.kid,
                alg: "EdDSA",
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

    /// The JWK set (RFC 7517) of every published signing key (the current
    /// one and those rotated out less than an access-token lifetime plus an
    /// hour ago), for `jwks_uri`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn jwks(&self) -> Result<Value, OAuthError> {
        let now = self.now_secs();
        let mut keys = Vec::new();
        for key in self.store.list_index(KEYS_INDEX).await? {
            if let Some(stored) = self.store.get_json::<StoredKey>(&key).await? {
                if stored
                    .value
                    .published_until
                    .is_some_and(|until| until <= now)
                {
                    continue;
                }
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
mod tests;
