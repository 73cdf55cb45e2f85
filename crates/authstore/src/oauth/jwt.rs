//! RFC 9068 JWT access tokens signed with Ed25519 (`EdDSA`): signing keys kept in the store, encrypted at rest under a key-encryption key, with rotation, and the JWK set that publishes them.
//!
//! Keys live under `oauth-signing-key:<kid>` (listed under the index
//! `oauth-signing-keys:all`); `oauth-signing-key:current` names the one
//! that signs. With a [`KeyEncryptionKey`] in [`OAuthConfig`](super::OAuthConfig)
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
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{OAuth, OAuthError};
use crate::error::Error;
use crate::ext::{StoreExt, Versioned};
use crate::secret;
use crate::types::PutOptions;

const CURRENT: &str = "oauth-signing-key:current";
const KEYS_INDEX: &str = "oauth-signing-keys:all";
/// The sealing algorithm, as recorded beside each sealed key.
const SEAL_ALG: &str = "A256GCM";
/// How long a retired key's record (no key material) is kept for listing.
const RETIRED_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Attempts at a compare-and-set before giving up to a concurrent writer.
const ATTEMPTS: usize = 8;

/// The 256-bit key that encrypts the JWT signing keys at rest (AES-256-GCM).
///
/// Give it to [`OAuthConfig::key_encryption_key`](super::OAuthConfig::key_encryption_key).
/// Its `Debug` output shows only its [`fingerprint`](Self::fingerprint).
///
/// ```
/// use authstore::oauth::KeyEncryptionKey;
/// let kek = KeyEncryptionKey::from_base64url("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
/// assert!(!format!("{kek:?}").contains("AAECAw"));
/// assert!(KeyEncryptionKey::from_base64url("too short").is_err());
/// ```
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: [u8; 32],
}

impl KeyEncryptionKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The key from the base64url encoding of 32 bytes (padding and
    /// surrounding whitespace are ignored), e.g. the output of
    /// `openssl rand 32 | basenc --base64url`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for anything else; the message never
    /// repeats the text.
    pub fn from_base64url(text: &str) -> crate::error::Result<Self> {
        let bad = || {
            Error::InvalidArgument(
                "a key-encryption key is the base64url encoding of exactly 32 bytes",
            )
        };
        let trimmed = text.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD.decode(trimmed).map_err(|_| bad())?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Self { key })
    }

    /// A new random key.
    ///
    /// # Errors
    /// The system random generator failed.
    pub fn generate() -> crate::error::Result<Self> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| Error::backend("ring", "the system random generator failed"))?;
        Ok(Self { key })
    }

    /// The key as base64url without padding (a secret: keep it out of logs).
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key)
    }

    /// A short public identifier of this key (11 characters: the first 64
    /// bits of a SHA-256 over a label and the key). Stored beside every key
    /// it seals, so a key sealed under another key-encryption key is
    /// recognised as such.
    pub fn fingerprint(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"authstore key-encryption key fingerprint v1\0");
        ctx.update(&self.key);
        URL_SAFE_NO_PAD.encode(&ctx.finish().as_ref()[..8])
    }

    fn aead(&self) -> LessSafeKey {
        // 32 bytes is AES-256's key length: `new` cannot fail.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).expect("a 32-byte AES-256 key"))
    }

    /// Seals `plaintext` (a PKCS#8 document) for the key `kid`.
    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Sealed, OAuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::backend("ring", "the system random generator failed"))?;
        let mut in_out = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(kid).as_bytes()),
                &mut in_out,
            )
            .map_err(|_| Error::backend("ring", "could not encrypt the signing key"))?;
        Ok(Sealed {
            alg: SEAL_ALG.into(),
            kek: self.fingerprint(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ciphertext: URL_SAFE_NO_PAD.encode(in_out),
        })
    }

    /// Opens what [`seal`](Self::seal) sealed for `kid`.
    fn open(&self, kid: &str, sealed: &Sealed) -> Result<Vec<u8>, OAuthError> {
        if sealed.alg != SEAL_ALG {
            return Err(corrupt_key(
                kid,
                &format!("unknown sealing algorithm {:?}", sealed.alg),
            ));
        }
        if sealed.kek != self.fingerprint() {
            return Err(wrong_kek(kid, &sealed.kek, Some(&self.fingerprint())));
        }
        let damaged = || {
            corrupt_key(
                kid,
                "the sealed private key does not decrypt under the key-encryption key whose \
                 fingerprint it carries: it was damaged or altered",
            )
        };
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(damaged)?;
        let mut in_out = URL_SAFE_NO_PAD
            .decode(&sealed.ciphertext)
            .map_err(|_| damaged())?;
        let plain = self
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(kid).as_bytes()),
                &mut in_out,
            )
            .map_err(|_| damaged())?;
        Ok(plain.to_vec())
    }
}

impl PartialEq for KeyEncryptionKey {
    fn eq(&self, other: &Self) -> bool {
        secret::constant_time_eq(&self.key, &other.key)
    }
}

impl Eq for KeyEncryptionKey {}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("fingerprint", &self.fingerprint())
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The associated data a key's ciphertext is bound to: a sealed key moved
/// under another key id does not decrypt.
fn associated_data(kid: &str) -> String {
    format!("authstore oauth-signing-key v1 {kid}")
}

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

#[derive(Clone, Serialize, Deserialize)]
struct Sealed {
    /// `A256GCM`.
    alg: String,
    /// The fingerprint of the key-encryption key.
    kek: String,
    /// 96-bit nonce, base64url.
    nonce: String,
    /// Ciphertext and tag, base64url.
    ciphertext: String,
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
        /// [`KeyEncryptionKey::fingerprint`] of the key that sealed it.
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

fn key_key(kid: &str) -> String {
    format!("oauth-signing-key:{kid}")
}

fn corrupt(detail: &str) -> OAuthError {
    OAuthError::Store(Error::corrupt(Some(CURRENT), detail))
}

fn corrupt_key(kid: &str, detail: &str) -> OAuthError {
    OAuthError::Store(Error::corrupt(Some(&key_key(kid)), detail))
}

fn wrong_kek(kid: &str, sealed_under: &str, configured: Option<&str>) -> OAuthError {
    corrupt_key(
        kid,
        &match configured {
            Some(configured) => format!(
                "signing key {kid} is encrypted under the key-encryption key with fingerprint \
                 {sealed_under}, not under the configured one ({configured}): configure the key \
                 it was sealed with"
            ),
            None => format!(
                "signing key {kid} is encrypted under the key-encryption key with fingerprint \
                 {sealed_under}, and no key-encryption key is configured"
            ),
        },
    )
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
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::FakeClock;
    use crate::memory::MemoryStore;
    use crate::oauth::OAuthConfig;
    use crate::store::Store;

    #[test]
    fn jwt_shape() {
        assert!(is_jwt_shaped("aGVhZA.Y2xhaW1z.c2ln"));
        assert!(!is_jwt_shaped("a.b"));
        assert!(!is_jwt_shaped("a.b.c d"));
        assert!(!is_jwt_shaped(&format!("{}.b.c", "a".repeat(9000))));
    }

    fn oauth(store: &Arc<dyn Store>, clock: &FakeClock, kek: Option<&KeyEncryptionKey>) -> OAuth {
        let config = OAuthConfig {
            key_encryption_key: kek.cloned(),
            jwt_issuer: Some("https://issuer.example".into()),
            ..OAuthConfig::default()
        };
        OAuth::with_config(Arc::clone(store), config, clock.clone()).unwrap()
    }

    fn store(clock: &FakeClock) -> Arc<dyn Store> {
        Arc::new(MemoryStore::builder().clock(clock.clone()).build().unwrap())
    }

    async fn record(store: &Arc<dyn Store>, kid: &str) -> StoredKey {
        store
            .get_json::<StoredKey>(&key_key(kid))
            .await
            .unwrap()
            .unwrap()
            .value
    }

    #[test]
    fn a_key_encryption_key_parses_only_32_bytes_and_never_shows_itself() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let text = kek.to_base64url();
        assert_eq!(KeyEncryptionKey::from_base64url(&text).unwrap(), kek);
        assert_eq!(
            KeyEncryptionKey::from_base64url(&format!(" {text}=\n")).unwrap(),
            kek
        );
        for bad in [
            "",
            "AAAA",
            &text[..40],
            &format!("{text}AAAA"),
            "not base64!",
        ] {
            let error = KeyEncryptionKey::from_base64url(bad).unwrap_err();
            assert!(error.to_string().contains("32 bytes"), "{error}");
        }
        let debug = format!("{kek:?}");
        assert!(!debug.contains(&text) && debug.contains(&kek.fingerprint()));
        assert_ne!(
            kek.fingerprint(),
            KeyEncryptionKey::generate().unwrap().fingerprint()
        );
    }

    #[test]
    fn sealing_binds_the_key_id_and_detects_a_wrong_key_or_damage() {
        let kek = KeyEncryptionKey::generate().unwrap();
        let sealed = kek.seal("kid-1", b"private key bytes").unwrap();
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key bytes");
        let again = kek.seal("kid-1", b"private key bytes").unwrap();
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce per encryption");

        let moved = kek.open("kid-2", &sealed).unwrap_err().to_string();
        assert!(moved.contains("damaged or altered"), "{moved}");

        let other = KeyEncryptionKey::generate().unwrap();
        let wrong = other.open("kid-1", &sealed).unwrap_err().to_string();
        assert!(
            wrong.contains(&kek.fingerprint()) && wrong.contains(&other.fingerprint()),
            "{wrong}"
        );

        let mut flipped = sealed.clone();
        let mut bytes = URL_SAFE_NO_PAD.decode(&flipped.ciphertext).unwrap();
        bytes[0] ^= 1;
        flipped.ciphertext = URL_SAFE_NO_PAD.encode(bytes);
        assert!(kek.open("kid-1", &flipped).is_err());
        flipped.ciphertext = "!!".into();
        assert!(kek.open("kid-1", &flipped).is_err());
    }

    #[tokio::test]
    async fn with_a_key_encryption_key_the_private_key_is_stored_sealed() {
        let clock = FakeClock::new();
        let store = store(&clock);
        let kek = KeyEncryptionKey::generate().unwrap();
        let oauth = oauth(&store, &clock, Some(&kek));
        let token = oauth.sign_jwt(&json!({"sub": "u-1"})).await.unwrap();
        let kid = oauth.signing_keys().await.unwrap()[0].kid.clone();
        let stored = record(&store, &kid).await;
        assert!(stored.pkcs8.is_none());
        let sealed = stored.sealed.clone().expect("sealed");
        assert_eq!(sealed.kek, kek.fingerprint());
        // The sealed document is the key that signed the token.
        let der = kek.open(&kid, &sealed).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&der).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(pair.public_key()), stored.public);
        let raw = store.get(&key_key(&kid)).await.unwrap().unwrap().value;
        let seed = &der[16..48];
        assert!(!raw.windows(seed.len()).any(|w| w == seed));
        assert!(!String::from_utf8_lossy(&raw).contains(&URL_SAFE_NO_PAD.encode(&der)));
        assert_eq!(token.split('.').count(), 3);

        // No key-encryption key, or another one: a clear error, no panic.
        let without = oauth_err(&store, &clock, None).await;
        assert!(
            without.contains("no key-encryption key is configured"),
            "{without}"
        );
        let other = KeyEncryptionKey::generate().unwrap();
        let wrong = oauth_err(&store, &clock, Some(&other)).await;
        assert!(wrong.contains(&other.fingerprint()), "{wrong}");
    }

    async fn oauth_err(
        store: &Arc<dyn Store>,
        clock: &FakeClock,
        kek: Option<&KeyEncryptionKey>,
    ) -> String {
        let oauth = oauth(store, clock, kek);
        let signing = oauth.sign_jwt(&json!({})).await.unwrap_err().to_string();
        let checked = oauth.secure_signing_keys().await.unwrap_err().to_string();
        assert_eq!(signing, checked);
        signing
    }

    #[tokio::test]
    async fn a_key_stored_in_clear_is_sealed_once_a_key_encryption_key_is_configured() {
        let clock = FakeClock::new();
        let store = store(&clock);
        let plain = oauth(&store, &clock, None);
        plain.sign_jwt(&json!({})).await.unwrap();
        let old = plain.rotate_signing_key().await.unwrap();
        let current = plain.rotate_signing_key().await.unwrap();
        assert_eq!(
            record(&store, &current).await.protection(),
            KeyProtection::Plaintext
        );
        assert_eq!(
            record(&store, &old).await.protection(),
            KeyProtection::PublicOnly,
            "rotation deleted the outgoing private key"
        );

        let kek = KeyEncryptionKey::generate().unwrap();
        let sealed = oauth(&store, &clock, Some(&kek));
        let upkeep = sealed.secure_signing_keys().await.unwrap();
        assert_eq!(
            upkeep,
            KeyUpkeep {
                sealed: 1,
                stripped: 0
            }
        );
        assert_eq!(
            record(&store, &current).await.protection(),
            KeyProtection::Encrypted {
                kek_fingerprint: kek.fingerprint()
            }
        );
        assert_eq!(
            sealed.secure_signing_keys().await.unwrap(),
            KeyUpkeep::default()
        );
        // Signing still works, with the same key.
        let token = sealed.sign_jwt(&json!({})).await.unwrap();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["kid"], current.as_str());
    }

    #[tokio::test]
    async fn a_rotated_out_key_is_published_for_a_token_lifetime_then_retired() {
        let clock = FakeClock::new();
        let store = store(&clock);
        let kek = KeyEncryptionKey::generate().unwrap();
        let oauth = oauth(&store, &clock, Some(&kek));
        let first = oauth.rotate_signing_key().await.unwrap();
        let second = oauth.rotate_signing_key().await.unwrap();
        let keys = oauth.signing_keys().await.unwrap();
        let status = |keys: &[SigningKeyInfo], kid: &str| {
            keys.iter().find(|k| k.kid == kid).map(|k| k.status)
        };
        assert_eq!(status(&keys, &second), Some(SigningKeyStatus::Current));
        assert_eq!(status(&keys, &first), Some(SigningKeyStatus::Previous));
        assert_eq!(
            oauth.jwks().await.unwrap()["keys"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        clock.advance(oauth.publish_after_rotation() + Duration::from_secs(1));
        let keys = oauth.signing_keys().await.unwrap();
        assert_eq!(status(&keys, &first), Some(SigningKeyStatus::Retired));
        let published = oauth.jwks().await.unwrap();
        assert_eq!(published["keys"].as_array().unwrap().len(), 1);
        assert_eq!(published["keys"][0]["kid"], second.as_str());

        clock.advance(RETIRED_KEPT);
        let keys = oauth.signing_keys().await.unwrap();
        assert_eq!(status(&keys, &first), None, "the retired record expired");
        assert_eq!(status(&keys, &second), Some(SigningKeyStatus::Current));
    }
}
