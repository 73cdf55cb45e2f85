//! The RFC 7591 §3 initial access tokens that unlock confidential and client-credentials registrations at `/register`, kept only as SHA-256 digests and compared in constant time.

use authstore::secret::{constant_time_eq, sha256_hex};

/// Fewest characters an initial access token given in the clear may have.
pub(crate) const MIN_TOKEN_CHARS: usize = 32;

/// The initial access tokens `/register` accepts, as SHA-256 digests (64
/// lowercase hex digits each). Empty: none is configured, and open
/// registration is the only kind. `Debug` shows only how many there are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct InitialAccessTokens {
    digests: Vec<String>,
}

impl std::fmt::Debug for InitialAccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InitialAccessTokens({} configured)", self.digests.len())
    }
}

impl InitialAccessTokens {
    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Accepts `token` (given in the clear, e.g. from an environment
    /// variable); only its SHA-256 is kept.
    ///
    /// # Errors
    /// A token shorter than [`MIN_TOKEN_CHARS`], or with spaces or control characters.
    pub fn add_token(&mut self, token: &str) -> Result<(), String> {
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!(
                "an initial access token needs at least {MIN_TOKEN_CHARS} characters"
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "an initial access token is printable ASCII without spaces (RFC 6750 b64token)"
                    .into(),
            );
        }
        self.digests.push(sha256_hex(token));
        Ok(())
    }

    /// Accepts the token whose SHA-256 is `hex` (64 hex digits, either case).
    ///
    /// # Errors
    /// Anything but 64 hex digits.
    pub fn add_sha256_hex(&mut self, hex: &str) -> Result<(), String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("initial_access_token_sha256 must be 64 hex digits (a SHA-256)".into());
        }
        self.digests.push(hex.to_ascii_lowercase());
        Ok(())
    }

    /// Whether `token` is one of them. Compares its SHA-256 with every
    /// configured digest in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = sha256_hex(token);
        self.digests.iter().fold(false, |found, digest| {
            found | constant_time_eq(presented.as_bytes(), digest.as_bytes())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_as_digests_and_checked() {
        let token = "t".repeat(40);
        let mut tokens = InitialAccessTokens::default();
        assert!(tokens.is_empty() && !tokens.accepts(&token));
        tokens.add_token(&token).unwrap();
        let other = "u".repeat(40);
        tokens
            .add_sha256_hex(&sha256_hex(&other).to_ascii_uppercase())
            .unwrap();
        assert!(tokens.accepts(&token) && tokens.accepts(&other));
        assert!(!tokens.accepts("t") && !tokens.accepts(&"t".repeat(41)));
        let debug = format!("{tokens:?}");
        assert!(!debug.contains(&token) && !debug.contains(&sha256_hex(&token)));
        assert!(tokens.add_token("short").is_err());
        assert!(tokens.add_token(&format!("{} x", "a".repeat(40))).is_err());
        assert!(tokens.add_sha256_hex("abc").is_err());
        assert!(tokens.add_sha256_hex(&"g".repeat(64)).is_err());
    }
}
