//! Parameters, result cells and value encoding shared by the SQL backends.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::types::Entry;

/// A statement parameter, owned so it can cross into a blocking thread (SQLite).
#[derive(Debug, Clone)]
pub(crate) enum Param {
    /// `text`.
    Text(String),
    /// `bigint`.
    Int(i64),
    /// Nullable `bigint`.
    OptInt(Option<i64>),
    /// Nullable `bytea` / BLOB.
    Bytes(Option<Vec<u8>>),
    /// Nullable JSON text (`json` / TEXT), kept verbatim.
    Json(Option<String>),
    /// Index keys: `text[]` on PostgreSQL, a JSON array on SQLite; empty is NULL.
    Keys(Vec<String>),
}

/// One result cell, decoded by the driver into the few shapes the backends use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// Any integer or boolean column.
    Int(i64),
    /// `bytea`, BLOB or the raw text of a JSON column.
    Bytes(Vec<u8>),
    /// A text column.
    Text(String),
    /// The `index_keys` column.
    Keys(Vec<String>),
}

/// One result row.
pub(crate) type Row = Vec<Cell>;

impl Cell {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(*n),
            _ => None,
        }
    }
}

/// How a value is stored: the columns `value`, `value_json` and `counter`
/// hold it, exactly one of them non-NULL.
///
/// A canonical decimal `i64` (what `incr` writes and reads) goes to `counter`,
/// valid JSON to `value_json` verbatim (so people can query it), anything
/// else to `value`. Every form reads back as the exact bytes written.
pub(crate) fn encode_value(value: &[u8]) -> [Param; 3] {
    if let Some(n) = crate::backend::decimal::canonical_i64(value) {
        return [
            Param::Bytes(None),
            Param::Json(None),
            Param::OptInt(Some(n)),
        ];
    }
    if let Ok(text) = std::str::from_utf8(value)
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        return [
            Param::Bytes(None),
            Param::Json(Some(text.to_owned())),
            Param::OptInt(None),
        ];
    }
    [
        Param::Bytes(Some(value.to_vec())),
        Param::Json(None),
        Param::OptInt(None),
    ]
}

/// The stored bytes from the three value cells (the bytes cell is moved, not copied).
pub(crate) fn decode_value(key: &str, value: Cell, json: Cell, counter: Cell) -> Result<Bytes> {
    match (value, json, counter) {
        (Cell::Bytes(b), Cell::Null, Cell::Null) | (Cell::Null, Cell::Bytes(b), Cell::Null) => {
            Ok(Bytes::from(b))
        }
        (Cell::Null, Cell::Null, Cell::Int(n)) => Ok(Bytes::copy_from_slice(
            itoa::Buffer::new().format(n).as_bytes(),
        )),
        _ => Err(Error::corrupt(
            Some(key),
            "a row must hold exactly one of value, value_json and counter",
        )),
    }
}

/// Decodes the columns `value, value_json, counter, version, expires_at` from `at`.
/// The value's cells are taken out of `row`.
pub(crate) fn decode_entry(key: &str, row: &mut [Cell], at: usize) -> Result<Entry> {
    let cells = row
        .get_mut(at..at + 5)
        .ok_or_else(|| Error::corrupt(Some(key), "short row"))?;
    let mut take = |i: usize| std::mem::replace(&mut cells[i], Cell::Null);
    let value = decode_value(key, take(0), take(1), take(2))?;
    let version = cells[3]
        .int()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::corrupt(Some(key), "version is not a positive integer"))?;
    let expires_at = decode_expiry(key, &cells[4])?;
    Ok(Entry::from_parts(value, version, expires_at))
}

/// An `expires_at` cell as milliseconds since the epoch.
pub(crate) fn decode_expiry(key: &str, cell: &Cell) -> Result<Option<u64>> {
    match cell {
        Cell::Null => Ok(None),
        Cell::Int(ms) => u64::try_from(*ms)
            .map(Some)
            .map_err(|_| Error::corrupt(Some(key), "negative expires_at")),
        _ => Err(Error::corrupt(Some(key), "expires_at is not an integer")),
    }
}

/// Milliseconds as the `bigint` the schema stores, saturating.
pub(crate) fn millis_param(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The smallest string greater than every string that starts with `prefix`,
/// in byte (= code point) order; `None` if there is none.
pub(crate) fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The exclusive upper bound for keys starting with `prefix`. When no string
/// follows every such key (an empty prefix), a sentinel above any valid
/// stored key (prefix + key ≤ 1024 bytes) stands in.
pub(crate) fn prefix_upper_bound(prefix: &str) -> String {
    prefix_successor(prefix).unwrap_or_else(|| "\u{10FFFF}".repeat(257))
}

const CURSOR_TAG: &str = "sql1:";

/// An opaque scan cursor resuming after `last_key` (without the store prefix).
pub(crate) fn encode_cursor(last_key: &str) -> String {
    let mut out = String::with_capacity(CURSOR_TAG.len() + last_key.len() * 2);
    out.push_str(CURSOR_TAG);
    for b in last_key.bytes() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// The key a cursor resumes after.
///
/// # Errors
/// [`Error::InvalidArgument`] for a string [`encode_cursor`] did not produce.
pub(crate) fn decode_cursor(cursor: &str) -> Result<String> {
    const BAD: Error = Error::InvalidArgument("scan cursor was not produced by this store");
    let hex = cursor.strip_prefix(CURSOR_TAG).ok_or(BAD)?.as_bytes();
    if hex.len() % 2 != 0 {
        return Err(BAD);
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(BAD),
    };
    let bytes = hex
        .chunks_exact(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect::<Result<Vec<u8>>>()?;
    String::from_utf8(bytes).map_err(|_| BAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(params: &[Param; 3]) -> usize {
        match params {
            [Param::Bytes(Some(_)), _, _] => 0,
            [_, Param::Json(Some(_)), _] => 1,
            _ => 2,
        }
    }

    #[test]
    fn values_go_to_the_column_that_shows_them_best() {
        assert_eq!(column(&encode_value(b"42")), 2);
        assert_eq!(column(&encode_value(b"-9223372036854775808")), 2);
        assert_eq!(column(&encode_value(b"{\"a\": [1, 2]}")), 1);
        assert_eq!(column(&encode_value(b"\"text\"")), 1);
        for not_canonical in [&b"042"[..], b"+5", b" 7", b"-0", b"9223372036854775808"] {
            assert_ne!(column(&encode_value(not_canonical)), 2, "{not_canonical:?}");
        }
        assert_eq!(column(&encode_value(b"\xff\x00binary")), 0);
        assert_eq!(column(&encode_value(b"")), 0);
        assert_eq!(column(&encode_value(b"{\"a\":")), 0);
    }

    #[test]
    fn every_form_decodes_to_the_bytes_written() {
        for value in [
            &b"42"[..],
            b"{ \"b\":1,  \"a\":2 }",
            b"\x00\x01",
            b"-0",
            b"plain",
        ] {
            let [v, j, c] = encode_value(value);
            let cell = |p: Param| match p {
                Param::Bytes(Some(b)) => Cell::Bytes(b),
                Param::Json(Some(s)) => Cell::Bytes(s.into_bytes()),
                Param::OptInt(Some(n)) => Cell::Int(n),
                _ => Cell::Null,
            };
            let back = decode_value("k", cell(v), cell(j), cell(c)).unwrap();
            assert_eq!(&back[..], value);
        }
        let both = decode_value("k", Cell::Bytes(vec![1]), Cell::Null, Cell::Int(1));
        assert!(matches!(both, Err(Error::Corrupt { .. })));
    }

    #[test]
    fn prefix_bounds_cover_exactly_the_prefixed_keys() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor(""), None);
        let hi = prefix_upper_bound("");
        assert!("\u{10FFFF}".repeat(256).as_str() < hi.as_str());
        let hi = prefix_upper_bound("t:");
        assert!("t:\u{10FFFF}zz" < hi.as_str() && "t;" >= hi.as_str());
    }

    #[test]
    fn cursors_round_trip_and_reject_foreign_strings() {
        for key in ["", "session:1", "ü:\u{10FFFF}"] {
            assert_eq!(decode_cursor(&encode_cursor(key)).unwrap(), key);
        }
        for bad in ["not-a-cursor", "sql1:abc", "sql1:zz", "sql1:ff"] {
            assert!(
                matches!(decode_cursor(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }
}
