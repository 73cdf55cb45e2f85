//! Key rules: `namespace:id`, at most 512 bytes, no control characters.

use crate::error::{Error, KeyProblem, Result};

/// Longest key, index key or prefix accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// Most index keys one entry may carry.
pub const MAX_INDEX_KEYS: usize = 4;

/// Default largest value a store accepts, in bytes (1 MiB).
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;

/// Checks that `key` is a valid entry or index key.
///
/// A valid key is at most [`MAX_KEY_LEN`] bytes, has no control characters,
/// and has the form `namespace:id` where both parts are non-empty
/// (the id may itself contain `:`).
///
/// ```
/// assert!(authstore::validate_key("session:abc").is_ok());
/// assert!(authstore::validate_key("session").is_err());
/// assert!(authstore::validate_key("bad\nkey:x").is_err());
/// ```
///
/// # Errors
/// [`Error::InvalidKey`] naming the [`KeyProblem`].
pub fn validate_key(key: &str) -> Result<()> {
    let problem = if key.is_empty() {
        Some(KeyProblem::Empty)
    } else if key.len() > MAX_KEY_LEN {
        Some(KeyProblem::TooLong)
    } else if has_control(key) {
        Some(KeyProblem::ControlCharacter)
    } else {
        match key.find(':') {
            Some(at) if at > 0 && at + 1 < key.len() => None,
            _ => Some(KeyProblem::MissingNamespace),
        }
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(invalid(key, problem)),
    }
}

/// Checks a store's key prefix: at most [`MAX_KEY_LEN`] bytes, no control
/// characters. The empty prefix is allowed.
///
/// # Errors
/// [`Error::InvalidKey`].
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_KEY_LEN {
        return Err(invalid(prefix, KeyProblem::TooLong));
    }
    if has_control(prefix) {
        return Err(invalid(prefix, KeyProblem::ControlCharacter));
    }
    Ok(())
}

/// Checks a list of index keys: each valid, no more than [`MAX_INDEX_KEYS`].
///
/// # Errors
/// [`Error::TooManyIndexKeys`] or [`Error::InvalidKey`].
pub fn validate_index_keys<S: AsRef<str>>(keys: &[S]) -> Result<()> {
    if keys.len() > MAX_INDEX_KEYS {
        return Err(Error::TooManyIndexKeys {
            count: keys.len(),
            max: MAX_INDEX_KEYS,
        });
    }
    keys.iter().try_for_each(|k| validate_key(k.as_ref()))
}

/// True if `s` holds a C0 or C1 control character or DEL.
fn has_control(s: &str) -> bool {
    // Fast path over bytes: C0 and DEL are single bytes; C1 (U+0080–U+009F)
    // is encoded as 0xC2 0x80..=0x9F in UTF-8.
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c < 0x20
            || c == 0x7f
            || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)))
    })
}

/// Builds the error, showing at most 64 bytes of the key with controls escaped.
fn invalid(key: &str, problem: KeyProblem) -> Error {
    let shown: String = key
        .char_indices()
        .take_while(|(i, _)| *i < 64)
        .map(|(_, c)| c)
        .collect::<String>()
        .escape_debug()
        .to_string();
    Error::InvalidKey {
        key: shown,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(key: &str) -> Option<KeyProblem> {
        match validate_key(key) {
            Ok(()) => None,
            Err(Error::InvalidKey { problem, .. }) => Some(problem),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn accepts_namespaced_keys() {
        assert_eq!(problem("session:abc"), None);
        assert_eq!(problem("rl:ip:10.0.0.1"), None);
        assert_eq!(problem("ünï:cödé"), None);
        assert_eq!(problem(&format!("n:{}", "x".repeat(510))), None);
    }

    #[test]
    fn rejects_bad_keys_with_the_reason() {
        assert_eq!(problem(""), Some(KeyProblem::Empty));
        assert_eq!(problem("nonamespace"), Some(KeyProblem::MissingNamespace));
        assert_eq!(problem(":id"), Some(KeyProblem::MissingNamespace));
        assert_eq!(problem("ns:"), Some(KeyProblem::MissingNamespace));
        assert_eq!(problem("ns:a\tb"), Some(KeyProblem::ControlCharacter));
        assert_eq!(problem("ns:a\u{7f}"), Some(KeyProblem::ControlCharacter));
        assert_eq!(problem("ns:a\u{85}"), Some(KeyProblem::ControlCharacter));
        assert_eq!(
            problem(&format!("n:{}", "x".repeat(511))),
            Some(KeyProblem::TooLong)
        );
    }

    #[test]
    fn error_shows_escaped_truncated_key() {
        let long = format!("ns:\n{}", "y".repeat(600));
        let err = validate_key(&long).unwrap_err();
        let Error::InvalidKey { key, .. } = err else {
            panic!("wrong variant")
        };
        assert!(key.starts_with("ns:\\n"));
        assert!(key.len() < 80);
    }

    #[test]
    fn index_key_count_is_limited() {
        let keys = ["a:1", "a:2", "a:3", "a:4", "a:5"];
        assert!(matches!(
            validate_index_keys(&keys),
            Err(Error::TooManyIndexKeys { count: 5, max: 4 })
        ));
        assert!(validate_index_keys(&keys[..4]).is_ok());
    }
}
