//! What the signing-key listing reports: a key's status, how its private half is stored, and what key upkeep changed.

use super::alg::SigningAlg;

/// Where a signing key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyStatus {
    /// Signs new tokens of its algorithm; published at `/jwks`.
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
        /// [`KeyEncryptionKey::fingerprint`](super::super::KeyEncryptionKey::fingerprint) of the key that sealed it.
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

/// One signing key as [`OAuth::signing_keys`](super::super::OAuth::signing_keys) lists it: never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyInfo {
    /// The key id (the JWT header's `kid`).
    pub kid: String,
    /// The JWS algorithm it signs with.
    pub alg: SigningAlg,
    /// When it was created, unix seconds.
    pub created_at: u64,
    /// Current, previous or retired.
    pub status: SigningKeyStatus,
    /// For a rotated-out key: published at `/jwks` until then (unix seconds).
    pub published_until: Option<u64>,
    /// How its private half is stored.
    pub protection: KeyProtection,
}

/// What [`OAuth::secure_signing_keys`](super::super::OAuth::secure_signing_keys) changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyUpkeep {
    /// Keys stored in clear that were sealed under the key-encryption key.
    pub sealed: usize,
    /// Rotated-out keys whose private key was deleted.
    pub stripped: usize,
}
