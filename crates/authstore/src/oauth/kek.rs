//! The key-encryption key that seals JWT signing keys at rest (AES-256-GCM), and the sealed form stored in the store.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::OAuthError;
use crate::error::Error;
use crate::secret;

/// The algorithm recorded with every sealed key.
const SEAL_ALG: &str = "A256GCM";

/// The store key of the record naming the current signing key.
pub(super) const CURRENT: &str = "oauth-signing-key:current";

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
        SystemRandom::new().fill(&mut key).map_err(|_| {
            Error::internal("the OS random generator", "ring could not fill the buffer")
        })?;
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
    pub(super) fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Sealed, OAuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| {
            Error::internal("the OS random generator", "ring could not fill the buffer")
        })?;
        let mut in_out = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(kid).as_bytes()),
                &mut in_out,
            )
            .map_err(|_| Error::internal("signing key encryption", "ring refused to seal"))?;
        Ok(Sealed {
            alg: SEAL_ALG.into(),
            kek: self.fingerprint(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ciphertext: URL_SAFE_NO_PAD.encode(in_out),
        })
    }

    /// Opens what [`seal`](Self::seal) sealed for `kid`.
    pub(super) fn open(&self, kid: &str, sealed: &Sealed) -> Result<Vec<u8>, OAuthError> {
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
pub(super) fn associated_data(kid: &str) -> String {
    format!("authstore oauth-signing-key v1 {kid}")
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Sealed {
    /// `A256GCM`.
    pub(super) alg: String,
    /// The fingerprint of the key-encryption key.
    pub(super) kek: String,
    /// 96-bit nonce, base64url.
    pub(super) nonce: String,
    /// Ciphertext and tag, base64url.
    pub(super) ciphertext: String,
}

pub(super) fn key_key(kid: &str) -> String {
    format!("oauth-signing-key:{kid}")
}

pub(super) fn corrupt(detail: &str) -> OAuthError {
    OAuthError::Store(Error::corrupt(Some(CURRENT), detail))
}

pub(super) fn corrupt_key(kid: &str, detail: &str) -> OAuthError {
    OAuthError::Store(Error::corrupt(Some(&key_key(kid)), detail))
}

pub(super) fn wrong_kek(kid: &str, sealed_under: &str, configured: Option<&str>) -> OAuthError {
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
