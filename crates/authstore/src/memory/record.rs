//! One stored entry packed into a single heap allocation: header, key, index keys, value.
//!
//! Layout of the boxed bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | version, u64 LE |
//! | 8..16 | expiry in ms since the epoch, u64 LE, 0 = never |
//! | 16 | kind: 0 = bytes, 1 = counter (value is an i64 LE) |
//! | 17 | number of index keys |
//! | 18..20 | length of the stored key, u16 LE |
//! | .. | stored key = store prefix, 0x1F, key |
//! | .. | each index key: u16 LE length, bytes |
//! | .. | value |
//!
//! Keeping everything in one allocation costs one `malloc` per entry instead
//! of three and keeps the per-entry overhead near 60 bytes.

use crate::error::{Error, Result};

const HEADER: usize = 20;
const KIND_BYTES: u8 = 0;
const KIND_COUNTER: u8 = 1;

/// Separates the store prefix from the key inside a stored key.
pub(crate) const PREFIX_SEP: u8 = 0x1f;

/// What the value bytes of a record mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Opaque bytes written by `put`.
    Bytes(&'a [u8]),
    /// A counter written by `incr` or `gcra`.
    Counter(i64),
}

/// A packed entry. An empty record marks a free slot and owns no memory.
#[derive(Default)]
pub(crate) struct Record(Box<[u8]>);

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record(<{} bytes>)", self.0.len())
    }
}

impl Record {
    /// Packs a record. Lengths are validated by the caller (keys ≤ 512 bytes).
    pub(crate) fn new(
        prefix: &str,
        key: &str,
        index_keys: &[String],
        value: Value<'_>,
        version: u64,
        expires_at: Option<u64>,
    ) -> Self {
        let stored_key_len = prefix.len() + 1 + key.len();
        let index_len: usize = index_keys.iter().map(|k| 2 + k.len()).sum();
        let (kind, value_len) = match value {
            Value::Bytes(b) => (KIND_BYTES, b.len()),
            Value::Counter(_) => (KIND_COUNTER, 8),
        };
        let mut buf = Vec::with_capacity(HEADER + stored_key_len + index_len + value_len);
        buf.extend_from_slice(&version.to_le_bytes());
        buf.extend_from_slice(&expires_at.unwrap_or(0).to_le_bytes());
        buf.push(kind);
        buf.push(index_keys.len() as u8);
        buf.extend_from_slice(&(stored_key_len as u16).to_le_bytes());
        buf.extend_from_slice(prefix.as_bytes());
        buf.push(PREFIX_SEP);
        buf.extend_from_slice(key.as_bytes());
        for k in index_keys {
            buf.extend_from_slice(&(k.len() as u16).to_le_bytes());
            buf.extend_from_slice(k.as_bytes());
        }
        match value {
            Value::Bytes(b) => buf.extend_from_slice(b),
            Value::Counter(n) => buf.extend_from_slice(&n.to_le_bytes()),
        }
        Self(buf.into_boxed_slice())
    }

    /// True for the empty record of a free slot.
    pub(crate) fn is_free(&self) -> bool {
        self.0.is_empty()
    }

    /// Heap bytes this record holds.
    pub(crate) fn size(&self) -> usize {
        self.0.len()
    }

    fn u64_at(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        u64::from_le_bytes(b)
    }

    fn u16_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }

    pub(crate) fn version(&self) -> u64 {
        self.u64_at(0)
    }

    pub(crate) fn set_version(&mut self, version: u64) {
        self.0[0..8].copy_from_slice(&version.to_le_bytes());
    }

    /// Expiry in ms since the epoch, `None` = never.
    pub(crate) fn expires_at(&self) -> Option<u64> {
        match self.u64_at(8) {
            0 => None,
            at => Some(at),
        }
    }

    pub(crate) fn set_expires_at(&mut self, at: Option<u64>) {
        self.0[8..16].copy_from_slice(&at.unwrap_or(0).to_le_bytes());
    }

    /// Whether the record is expired at `now` (ms since the epoch).
    pub(crate) fn is_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    /// The stored key: prefix, 0x1F, key.
    pub(crate) fn stored_key(&self) -> &[u8] {
        &self.0[HEADER..HEADER + self.u16_at(18)]
    }

    /// True if this record is `key` under `prefix`.
    #[inline]
    pub(crate) fn is_key(&self, prefix: &str, key: &str) -> bool {
        let stored = self.stored_key();
        let (p, k) = (prefix.as_bytes(), key.as_bytes());
        stored.len() == p.len() + 1 + k.len()
            && stored[p.len()] == PREFIX_SEP
            && &stored[..p.len()] == p
            && &stored[p.len() + 1..] == k
    }

    /// The key without the prefix (what callers of the store see).
    pub(crate) fn key(&self) -> &str {
        let (_, key) = split_stored_key(self.stored_key());
        // The bytes were copied from a `&str` in `new`.
        std::str::from_utf8(key).unwrap_or_default()
    }

    /// The store prefix this record belongs to.
    pub(crate) fn prefix(&self) -> &[u8] {
        split_stored_key(self.stored_key()).0
    }

    fn index_start(&self) -> usize {
        HEADER + self.u16_at(18)
    }

    /// The record's index keys.
    pub(crate) fn index_keys(&self) -> impl Iterator<Item = &str> {
        let mut at = self.index_start();
        (0..self.0[17]).map(move |_| {
            let len = self.u16_at(at);
            let key = &self.0[at + 2..at + 2 + len];
            at += 2 + len;
            std::str::from_utf8(key).unwrap_or_default()
        })
    }

    pub(crate) fn has_index_key(&self, index_key: &str) -> bool {
        self.index_keys().any(|k| k == index_key)
    }

    fn value_start(&self) -> usize {
        let mut at = self.index_start();
        for _ in 0..self.0[17] {
            at += 2 + self.u16_at(at);
        }
        at
    }

    pub(crate) fn value(&self) -> Value<'_> {
        let bytes = &self.0[self.value_start()..];
        if self.0[16] == KIND_COUNTER {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            Value::Counter(i64::from_le_bytes(b))
        } else {
            Value::Bytes(bytes)
        }
    }

    /// The value as a counter: a counter record, or bytes holding a
    /// canonical decimal i64 (see [`canonical_i64`](crate::backend::decimal::canonical_i64)).
    pub(crate) fn counter(&self) -> Result<i64> {
        match self.value() {
            Value::Counter(n) => Ok(n),
            Value::Bytes(b) => {
                crate::backend::decimal::canonical_i64(b).ok_or_else(|| Error::NotACounter {
                    key: self.key().to_owned(),
                })
            }
        }
    }

    /// Overwrites the value of a counter record in place.
    /// Returns false if this is not a counter record (the caller must rebuild it).
    /// Whether the value is a counter.
    pub(crate) fn is_counter(&self) -> bool {
        self.0[16] == KIND_COUNTER
    }

    pub(crate) fn set_counter(&mut self, n: i64) -> bool {
        if self.0[16] != KIND_COUNTER {
            return false;
        }
        let at = self.value_start();
        self.0[at..at + 8].copy_from_slice(&n.to_le_bytes());
        true
    }

    /// The value as callers see it: bytes, or a counter's decimal ASCII.
    pub(crate) fn value_bytes(&self) -> bytes::Bytes {
        match self.value() {
            Value::Bytes(b) => bytes::Bytes::copy_from_slice(b),
            Value::Counter(n) => {
                bytes::Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes())
            }
        }
    }
}

/// Splits a stored key at its first 0x1F into (prefix, key).
pub(crate) fn split_stored_key(stored: &[u8]) -> (&[u8], &[u8]) {
    match stored.iter().position(|&b| b == PREFIX_SEP) {
        Some(at) => (&stored[..at], &stored[at + 1..]),
        None => (&[], stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_reads_every_field() {
        let idx = vec!["user:1".to_string(), "grant:abc".to_string()];
        let mut r = Record::new("t1", "session:x", &idx, Value::Bytes(b"hello"), 7, Some(99));
        assert_eq!(r.version(), 7);
        assert_eq!(r.expires_at(), Some(99));
        assert_eq!(r.key(), "session:x");
        assert_eq!(r.prefix(), b"t1");
        assert!(r.is_key("t1", "session:x"));
        assert!(!r.is_key("", "t1:session:x"));
        assert!(!r.is_key("t", "1session:x"));
        assert_eq!(r.index_keys().collect::<Vec<_>>(), ["user:1", "grant:abc"]);
        assert_eq!(r.value(), Value::Bytes(b"hello"));
        assert!(r.is_expired(99) && !r.is_expired(98));
        r.set_version(8);
        r.set_expires_at(None);
        assert_eq!((r.version(), r.expires_at()), (8, None));
        assert!(
            !r.set_counter(1),
            "bytes record is not rewritten as a counter"
        );
    }

    #[test]
    fn counters_round_trip_and_parse_decimal_bytes() {
        let mut c = Record::new("", "rl:a", &[], Value::Counter(-5), 1, None);
        assert_eq!(c.counter().unwrap(), -5);
        assert!(c.set_counter(41));
        assert_eq!(&c.value_bytes()[..], b"41");
        let b = Record::new("", "n:a", &[], Value::Bytes(b"12"), 1, None);
        assert_eq!(b.counter().unwrap(), 12);
        let bad = Record::new("", "n:a", &[], Value::Bytes(b"x"), 1, None);
        assert!(matches!(bad.counter(), Err(Error::NotACounter { .. })));
    }
}
