//! Key rules: `namespace:id`, at most 512 bytes, no control characters.

use std::time::Duration;

use crate::error::{Error, KeyProblem, Result};
use crate::types::{PutItem, PutOptions, VersionCheck};

/// Longest key, index key or prefix accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// Most index keys one entry may carry.
pub const MAX_INDEX_KEYS: usize = 4;

/// Most keys one [`Store::commit`](crate::Store::commit) may name, checks and puts together.
pub const MAX_COMMIT_KEYS: usize = 8;

/// Default largest value a store accepts, in bytes (1 MiB).
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;

/// Checks that `key` is a valid entry or index key.
///
/// A valid key is at most [`MAX_KEY_LEN`] bytes, has no control characters,
/// and has the form `namespace:id` where both parts are non-empty
/// (the id may itself contain `:`).
///
/// ```
/// assert!(authstore::backend::validate_key("session:abc").is_ok());
/// assert!(authstore::backend::validate_key("session").is_err());
/// assert!(authstore::backend::validate_key("bad\nkey:x").is_err());
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

/// Checks everything about a put but the key: value size against
/// `max_value_size`, a non-zero TTL, and the index keys. Every backend calls
/// this before touching storage, so a rejected put changes nothing.
///
/// # Errors
/// [`Error::ValueTooLarge`], [`Error::ZeroTtl`], [`Error::TooManyIndexKeys`],
/// [`Error::InvalidKey`].
pub fn validate_put(value: &[u8], options: &PutOptions, max_value_size: usize) -> Result<()> {
    if value.len() > max_value_size {
        return Err(Error::ValueTooLarge {
            size: value.len(),
            max: max_value_size,
        });
    }
    validate_ttl(options.ttl)?;
    validate_index_keys(&options.index_keys)
}

/// Checks a [`Store::commit`](crate::Store::commit) before it touches
/// storage: at least one put, at most [`MAX_COMMIT_KEYS`] keys, none
/// named twice, and every key and put valid.
///
/// # Errors
/// [`Error::InvalidArgument`] for no put, too many keys or a key named
/// twice; the errors of [`validate_key`] and [`validate_put`].
pub fn validate_commit(
    checks: &[VersionCheck<'_>],
    puts: &[PutItem<'_>],
    max_value_size: usize,
) -> Result<()> {
    if puts.is_empty() {
        return Err(Error::InvalidArgument("a commit needs at least one put"));
    }
    if checks.len() + puts.len() > MAX_COMMIT_KEYS {
        return Err(Error::InvalidArgument("a commit names too many keys"));
    }
    let keys = || {
        checks
            .iter()
            .map(|c| c.key)
            .chain(puts.iter().map(|p| p.key))
    };
    for (i, key) in keys().enumerate() {
        validate_key(key)?;
        if keys().take(i).any(|k| k == key) {
            return Err(Error::InvalidArgument("a commit names a key twice"));
        }
    }
    puts.iter()
        .try_for_each(|p| validate_put(p.value, &p.options, max_value_size))
}

/// Checks that a TTL, if given, is at least one millisecond.
///
/// # Errors
/// [`Error::ZeroTtl`].
pub fn validate_ttl(ttl: Option<Duration>) -> Result<()> {
    match ttl {
        Some(t) if t.as_millis() == 0 => Err(Error::ZeroTtl),
        _ => Ok(()),
    }
}

/// True if `s` holds a C0 or C1 control character or DEL.
///
/// This runs on every store call, so it tests 8 bytes at a time (SWAR);
/// only keys holding the byte 0xC2 (the UTF-8 lead byte of U+0080–U+00BF)
/// take the slower check for C1 controls.
#[inline]
fn has_control(s: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Exact "some byte of x is below n" for n <= 0x80 (Hacker's Delight).
    let has_byte_below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    let has_byte = |x: u64, b: u8| has_byte_below(x ^ (ONES * u64::from(b)), 1);
    let bytes = s.as_bytes();
    let mut maybe_c1 = false;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        if has_byte_below(x, 0x20) || has_byte(x, 0x7f) {
            return true;
        }
        maybe_c1 |= has_byte(x, 0xc2);
    }
    for &c in chunks.remainder() {
        if c < 0x20 || c == 0x7f {
            return true;
        }
        maybe_c1 |= c == 0xc2;
    }
    maybe_c1 && s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c))
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
    fn control_scan_matches_a_naive_scan_at_every_offset() {
        let naive = |s: &str| s.chars().any(|c| c.is_control());
        for cp in (0u32..0x250).chain([0x7ff, 0x800, 0xffff, 0x1_0000]) {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            for offset in 0..20 {
                let s: String = "a".repeat(offset) + &c.to_string() + "bcdefghij";
                assert_eq!(has_control(&s), naive(&s), "U+{cp:04X} at {offset}");
            }
        }
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
