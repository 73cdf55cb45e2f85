//! The canonical decimal form of counters, the same in every backend (and as Redis's `INCRBY` reads it).

/// `bytes` as an `i64` if it is exactly that number's decimal form: an
/// optional `-`, no `+`, no leading zeros, no spaces, and not `-0`.
pub fn canonical_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let n: i64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    (itoa::Buffer::new().format(n).as_bytes() == bytes).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::canonical_i64;

    #[test]
    fn only_the_canonical_form_is_a_counter() {
        assert_eq!(canonical_i64(b"42"), Some(42));
        assert_eq!(canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(canonical_i64(b"0"), Some(0));
        for bad in [
            &b"042"[..],
            b"+5",
            b" 7",
            b"7 ",
            b"-0",
            b"",
            b"9223372036854775808",
            b"1e3",
        ] {
            assert_eq!(canonical_i64(bad), None, "{bad:?}");
        }
    }
}
