//! Random secrets and their digests: 256-bit values from the OS CSPRNG, URL-safe text, SHA-256, constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Bytes of randomness in every id and token: 256 bits.
pub const SECRET_BYTES: usize = 32;
/// Length of [`random_token`]'s text: 32 bytes in unpadded base64url.
pub const TOKEN_TEXT_LEN: usize = 43;

/// 32 bytes from the operating system's CSPRNG.
///
/// # Errors
/// [`Error::Internal`] if the OS cannot provide randomness (never silently weaker).
pub fn random_bytes() -> Result<[u8; SECRET_BYTES]> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal("the OS random generator", e.to_string()))?;
    Ok(bytes)
}

/// A fresh 256-bit secret as 43 characters of unpadded base64url.
///
/// # Errors
/// As [`random_bytes`].
pub fn random_token() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes()?))
}

/// Whether `text` has the shape of a [`random_token`] (43 base64url characters).
pub fn is_token_shaped(text: &str) -> bool {
    text.len() == TOKEN_TEXT_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of `text` as 64 lowercase hex digits: how ids and tokens are stored.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_url_safe_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert!(is_token_shaped(&a) && is_token_shaped(&b));
        assert_ne!(a, b);
        assert!(!is_token_shaped("short") && !is_token_shaped(&format!("{}=", &a[1..])));
    }

    #[test]
    fn digests_and_comparison() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sane") && !constant_time_eq(b"a", b"ab"));
    }
}
