//! The successor of a rotated refresh token, sealed under a key only the holder of the rotated token can derive, so a retry within the grace window gets the same tokens back.
//!
//! At rotation the new tokens are known in the clear for the last time.
//! They are kept in the grant's head record, encrypted with
//! ChaCha20-Poly1305 under HKDF-SHA256(salt = a domain tag, key material =
//! the rotated refresh token, info = the grant id). The store holds only
//! SHA-256 of that token, from which the key cannot be derived: reading the
//! store gives no usable token, and only a client presenting the rotated
//! token can open the successor. The associated data binds the ciphertext
//! to its grant and to the hash of the successor refresh token, so it
//! cannot be moved to another head.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{aead, hkdf};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Separates these keys from any other use of a refresh token.
const DOMAIN: &[u8] = b"authstore oauth refresh-token successor v1";

/// What a retry gets back: the successor's tokens and what they grant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Successor {
    pub(super) access_token: String,
    pub(super) refresh_token: String,
    pub(super) scope: Vec<String>,
    /// When the access token expires, ms since the epoch.
    pub(super) expires_at: u64,
    /// The access token's audience (RFC 8707 resource), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) resource: Option<String>,
    /// The ID token sent with them, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) id_token: Option<String>,
}

impl std::fmt::Debug for Successor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Successor")
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn key(rotated_token: &str, grant_id: &str) -> Result<aead::LessSafeKey> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DOMAIN).extract(rotated_token.as_bytes());
    let info = [grant_id.as_bytes()];
    let okm = prk.expand(&info, &aead::CHACHA20_POLY1305).map_err(|_| {
        Error::internal("HKDF key derivation", "the output length is not supported")
    })?;
    Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
}

fn aad(grant_id: &str, successor_hash: &str) -> Vec<u8> {
    format!("{grant_id}|{successor_hash}").into_bytes()
}

/// Encrypts `successor` for the holder of `rotated_token`; base64url of nonce and ciphertext.
pub(super) fn seal(
    rotated_token: &str,
    grant_id: &str,
    successor_hash: &str,
    successor: &Successor,
) -> Result<String> {
    let key = key(rotated_token, grant_id)?;
    let mut nonce = [0u8; aead::NONCE_LEN];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::internal("the OS random generator", e.to_string()))?;
    let mut data = serde_json::to_vec(successor)
        .map_err(|e| Error::internal("serializing the sealed successor", e))?;
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(aad(grant_id, successor_hash)),
        &mut data,
    )
    .map_err(|_| Error::internal("AEAD sealing", "ring refused to seal"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Decrypts what [`seal`] produced; `None` for a wrong token, grant or successor, or damaged text.
pub(super) fn open(
    rotated_token: &str,
    grant_id: &str,
    successor_hash: &str,
    sealed: &str,
) -> Option<Successor> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < aead::NONCE_LEN + aead::CHACHA20_POLY1305.tag_len() {
        return None;
    }
    let (nonce, data) = bytes.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let key = key(rotated_token, grant_id).ok()?;
    let plain = key
        .open_in_place(
            nonce,
            aead::Aad::from(aad(grant_id, successor_hash)),
            &mut data,
        )
        .ok()?;
    serde_json::from_slice(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn successor() -> Successor {
        Successor {
            access_token: "at".into(),
            refresh_token: "rt".into(),
            scope: vec!["read".into()],
            expires_at: 42,
            resource: Some("https://api.example/".into()),
            id_token: Some("idt".into()),
        }
    }

    #[test]
    fn only_the_rotated_token_opens_its_successor() {
        let sealed = seal("old-token", "g1", "h2", &successor()).unwrap();
        assert_eq!(open("old-token", "g1", "h2", &sealed), Some(successor()));
        assert_eq!(open("other-token", "g1", "h2", &sealed), None);
        assert_eq!(
            open("old-token", "g2", "h2", &sealed),
            None,
            "another grant"
        );
        assert_eq!(open("old-token", "g1", "h3", &sealed), None, "another head");
        assert_eq!(open("old-token", "g1", "h2", "AAAA"), None);
        assert_eq!(open("old-token", "g1", "h2", "not base64!"), None);
        let again = seal("old-token", "g1", "h2", &successor()).unwrap();
        assert_ne!(sealed, again, "a fresh nonce every time");
    }

    #[test]
    fn debug_hides_the_tokens() {
        let text = format!(
            "{:?}",
            Successor {
                access_token: "secret-access".into(),
                refresh_token: "secret-refresh".into(),
                ..successor()
            }
        );
        assert!(!text.contains("secret-"), "{text}");
    }
}
