//! How entries are laid out in Redis strings, and decoding them back.
//!
//! An entry written by `put` is one Redis string:
//! `0x1F version[:token] 0x1F index-key 0x1E index-key … 0x1F value`.
//! The token, written only in Cluster mode, names this write's index
//! memberships (index members are `key 0x1F token` there).
//! A counter (created by `incr` or `gcra`) is a plain decimal string, which
//! is what `INCRBY` needs; an entry written by `put` keeps its header when
//! `incr` or `gcra` update its decimal value. Entries always start with 0x1F
//! and counters never do, so one `GET` tells them apart. The TTL is Redis's
//! own (`PX`).

use bytes::Bytes;

use crate::error::{Error, Result};

/// Field separator (ASCII unit separator); keys cannot contain it.
pub(crate) const FIELD: u8 = 0x1f;
/// Separator between index keys (ASCII record separator).
pub(crate) const INDEX_SEP: u8 = 0x1e;

/// A decoded Redis value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) value: Bytes,
    /// 0 for counters (their version is backend-defined).
    pub(crate) version: u64,
    /// The membership token of a Cluster-mode write (empty otherwise).
    pub(crate) token: String,
    pub(crate) index_keys: Vec<String>,
}

/// Decodes what `GET` returned for `key`.
pub(crate) fn decode(key: &str, raw: Vec<u8>) -> Result<Decoded> {
    if raw.first() != Some(&FIELD) {
        return Ok(Decoded {
            value: Bytes::from(raw),
            version: 0,
            token: String::new(),
            index_keys: Vec::new(),
        });
    }
    let corrupt = || Error::corrupt(Some(key), "malformed authstore entry header in Redis");
    let version_end = 1 + raw[1..]
        .iter()
        .position(|&b| b == FIELD)
        .ok_or_else(corrupt)?;
    let index_end = version_end
        + 1
        + raw[version_end + 1..]
            .iter()
            .position(|&b| b == FIELD)
            .ok_or_else(corrupt)?;
    let version_field = std::str::from_utf8(&raw[1..version_end]).map_err(|_| corrupt())?;
    let (version, token) = version_field.split_once(':').unwrap_or((version_field, ""));
    let version = version
        .parse::<u64>()
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(corrupt)?;
    let token = token.to_owned();
    let index_part =
        std::str::from_utf8(&raw[version_end + 1..index_end]).map_err(|_| corrupt())?;
    let index_keys = index_part
        .split(char::from(INDEX_SEP))
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let mut value = Bytes::from(raw);
    Ok(Decoded {
        value: value.split_off(index_end + 1),
        version,
        token,
        index_keys,
    })
}

/// Converts a Redis `PTTL` reply (ms; -1 no TTL, -2 no key) into a TTL.
pub(crate) fn pttl_to_ttl(pttl: i64) -> Option<std::time::Duration> {
    (pttl >= 0).then(|| std::time::Duration::from_millis(pttl as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_entries_and_counters() {
        let raw = b"\x1f12\x1fuser:1\x1egrant:2\x1fpayload\x1fwith seps".to_vec();
        let d = decode("k:1", raw).unwrap();
        assert_eq!(d.version, 12);
        assert_eq!(d.index_keys, ["user:1", "grant:2"]);
        assert_eq!(&d.value[..], b"payload\x1fwith seps");
        let t = decode("k:1", b"\x1f3:ab12\x1fu:1\x1fv".to_vec()).unwrap();
        assert_eq!(
            (t.version, t.token.as_str(), &t.value[..]),
            (3, "ab12", &b"v"[..])
        );
        let c = decode("k:2", b"42".to_vec()).unwrap();
        assert_eq!((c.version, &c.value[..]), (0, &b"42"[..]));
        let e = decode("k:3", b"\x1f1\x1f\x1f".to_vec()).unwrap();
        assert!(e.value.is_empty() && e.index_keys.is_empty());
    }

    #[test]
    fn corrupt_headers_are_errors_not_panics() {
        for raw in [
            &b"\x1f"[..],
            b"\x1f12",
            b"\x1fx\x1f\x1fv",
            b"\x1f0\x1f\x1fv",
            b"\x1f1\x1f\xff\x1fv",
        ] {
            assert!(
                matches!(decode("k:1", raw.to_vec()), Err(Error::Corrupt { .. })),
                "{raw:?}"
            );
        }
    }
}
