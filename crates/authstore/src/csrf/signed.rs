//! Signed double-submit tokens: stateless, HMAC-SHA256 bound to the session, with a key ring.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::secret;

/// One signing key of a [`KeyRing`].
#[derive(Clone)]
struct Key {
    id: String,
    secret: Vec<u8>,
}

/// Signing keys: the newest signs, all verify, so keys rotate without
/// invalidating tokens in flight. `Debug` shows key ids only.
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| &k.id))
            .finish()
    }
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; the last one added signs. Ids are `[A-Za-z0-9_-]+`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a secret under 32 bytes or a bad id.
    pub fn with_key(mut self, id: &str, secret: &[u8]) -> Result<Self> {
        if secret.len() < 32 {
            return Err(Error::InvalidArgument(
                "a signing key needs at least 32 bytes",
            ));
        }
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::InvalidArgument("key ids are [A-Za-z0-9_-]+"));
        }
        self.keys.push(Key {
            id: id.to_owned(),
            secret: secret.to_vec(),
        });
        Ok(self)
    }

    /// Signs `value` for `purpose` (e.g. `"session-cookie"`) with the newest
    /// key: `value.keyid.mac`. The value must not be empty.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the ring is empty.
    pub fn sign(&self, purpose: &str, value: &str) -> Result<String> {
        let key = self
            .keys
            .last()
            .ok_or(Error::InvalidArgument("the key ring is empty"))?;
        let mac = Self::purpose_mac(key, purpose, value)?;
        Ok(format!(
            "{value}.{}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// The value of a [`sign`](Self::sign)ed string if a key of the ring
    /// signed it for `purpose` (compared in constant time).
    pub fn verify<'a>(&self, purpose: &str, signed: &'a str) -> Option<&'a str> {
        let mut parts = signed.rsplitn(3, '.');
        let (Some(mac), Some(kid), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let valid = self.keys.iter().filter(|k| k.id == kid).any(|k| {
            Self::purpose_mac(k, purpose, value).is_ok_and(|m| secret::constant_time_eq(&m, &mac))
        });
        (valid && !value.is_empty()).then_some(value)
    }

    fn purpose_mac(key: &Key, purpose: &str, value: &str) -> Result<Vec<u8>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.secret)
            .map_err(|_| Error::InvalidArgument("bad HMAC key"))?;
        mac.update(b"authstore-signed-v1\0");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn mac(key: &Key, binding: &str, nonce: &str) -> Result<Vec<u8>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.secret)
            .map_err(|_| Error::InvalidArgument("bad HMAC key"))?;
        mac.update(b"authstore-csrf-v1\0");
        mac.update(binding.as_bytes());
        mac.update(b"\0");
        mac.update(nonce.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

/// Issues and verifies signed double-submit tokens `kid.nonce.mac`, bound
/// to a session (its handle or id): a token minted for one session fails
/// for every other.
///
/// ```
/// use authstore::csrf::{KeyRing, SignedTokens};
/// let ring = KeyRing::new().with_key("k1", &[7; 32])?;
/// let tokens = SignedTokens::new(ring);
/// let t = tokens.issue("session-handle")?;
/// assert!(tokens.verify("session-handle", &t));
/// assert!(!tokens.verify("another-session", &t));
/// # Ok::<(), authstore::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SignedTokens {
    ring: KeyRing,
}

impl SignedTokens {
    /// Tokens signed with `ring`'s newest key.
    pub fn new(ring: KeyRing) -> Self {
        Self { ring }
    }

    /// A fresh token for `binding`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the ring is empty.
    pub fn issue(&self, binding: &str) -> Result<String> {
        let key = self
            .ring
            .keys
            .last()
            .ok_or(Error::InvalidArgument("the key ring is empty"))?;
        let nonce = secret::random_token()?;
        let mac = KeyRing::mac(key, binding, &nonce)?;
        Ok(format!(
            "{}.{nonce}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// Whether `token` was issued for `binding` by a key of the ring
    /// (compared in constant time).
    pub fn verify(&self, binding: &str, token: &str) -> bool {
        let mut parts = token.splitn(3, '.');
        let (Some(kid), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return false;
        };
        self.ring.keys.iter().filter(|k| k.id == kid).any(|k| {
            KeyRing::mac(k, binding, nonce).is_ok_and(|m| secret::constant_time_eq(&m, &mac))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_key_is_dropped() {
        let old = KeyRing::new().with_key("k1", &[1; 32]).unwrap();
        let t1 = SignedTokens::new(old.clone()).issue("s").unwrap();
        let rotated = SignedTokens::new(old.with_key("k2", &[2; 32]).unwrap());
        assert!(rotated.verify("s", &t1), "old key still verifies");
        assert!(
            rotated.issue("s").unwrap().starts_with("k2."),
            "new key signs"
        );
        let only_new = SignedTokens::new(KeyRing::new().with_key("k2", &[2; 32]).unwrap());
        assert!(
            !only_new.verify("s", &t1),
            "a dropped key no longer verifies"
        );
    }

    #[test]
    fn signed_values_verify_per_purpose_and_across_rotation() {
        let ring = KeyRing::new().with_key("k1", &[1; 32]).unwrap();
        let signed = ring.sign("cookie", "abc.def").unwrap();
        assert!(signed.starts_with("abc.def.k1."));
        assert_eq!(ring.verify("cookie", &signed), Some("abc.def"));
        assert_eq!(ring.verify("other", &signed), None, "bound to its purpose");
        let rotated = ring.with_key("k2", &[2; 32]).unwrap();
        assert_eq!(rotated.verify("cookie", &signed), Some("abc.def"));
        assert!(rotated.sign("cookie", "x").unwrap().starts_with("x.k2."));
        let tampered = signed.replacen("abc", "abd", 1);
        assert_eq!(rotated.verify("cookie", &tampered), None);
        for bad in ["", "x", "x.k1", ".k1.AAAA", "x.k1.!!"] {
            assert_eq!(rotated.verify("cookie", bad), None, "{bad}");
        }
    }

    #[test]
    fn tampering_and_garbage_fail() {
        let tokens = SignedTokens::new(KeyRing::new().with_key("k", &[3; 32]).unwrap());
        let t = tokens.issue("s").unwrap();
        let mut bytes = t.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(!tokens.verify("s", &String::from_utf8(bytes).unwrap()));
        for bad in ["", "k", "k.x", "k.x.!!", "zz.a.b"] {
            assert!(!tokens.verify("s", bad), "{bad}");
        }
        assert!(KeyRing::new().with_key("k", &[0; 8]).is_err());
        assert!(format!("{:?}", KeyRing::new().with_key("k", &[9; 32]).unwrap()).contains("\"k\""));
    }
}
