//! The reference model: entries, index keys and a clock in a `BTreeMap`, with the contract's rules in plain Rust.

use std::collections::BTreeMap;
use std::time::Duration;

use authstore::GcraDecision;

/// One entry as the contract sees it, live or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The bytes `get` returns (a counter's decimal form).
    pub(crate) value: Vec<u8>,
    /// Written last by `incr` or `gcra`: its version is backend-defined.
    pub(crate) counter: bool,
    /// A number read off the server's clock (a GCRA state on a server-clock
    /// store, or a counter incremented from one): the store's figure may run
    /// ahead of the model's by the time the sequence has taken.
    pub(crate) clocked: bool,
    /// The version the last put returned (meaningless for a counter).
    pub(crate) version: u64,
    /// The greatest version a put returned since the entry was created: every
    /// later put of the live entry must return more.
    pub(crate) floor: u64,
    /// Expiry in ms by the model clock; `None` never expires.
    pub(crate) expires_at: Option<u64>,
    /// Index keys, as the last put named them.
    pub(crate) index_keys: Vec<String>,
    /// Once expired: whether the backend certainly still holds it physically
    /// (no call that may remove expired entries lazily has seen it since).
    pub(crate) stored: bool,
}

impl Entry {
    fn is_live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    /// Time left at `now`, in ms.
    pub(crate) fn remaining(&self, now: u64) -> Option<u64> {
        self.expires_at.map(|at| at.saturating_sub(now))
    }

    pub(crate) fn has_index(&self, index_key: &str) -> bool {
        self.index_keys.iter().any(|k| k == index_key)
    }
}

/// The whole key space of one store prefix, and the time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    /// Now, in ms since the epoch.
    pub(crate) now: u64,
    entries: BTreeMap<String, Entry>,
}

impl Model {
    pub(crate) fn new(now: u64) -> Self {
        Self {
            now,
            entries: BTreeMap::new(),
        }
    }

    /// The live entry under `key`.
    pub(crate) fn live(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.is_live(self.now))
    }

    /// The live entry under `key`, to change in place.
    pub(crate) fn live_mut(&mut self, key: &str) -> Option<&mut Entry> {
        let now = self.now;
        self.entries.get_mut(key).filter(|e| e.is_live(now))
    }

    /// Writes (creates or replaces) the entry under `key`.
    pub(crate) fn write(&mut self, key: &str, entry: Entry) {
        self.entries.insert(key.to_owned(), entry);
    }

    /// The entry is gone, live or expired (delete, take of a live entry).
    pub(crate) fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// A call that may remove an expired entry lazily has looked at `key`.
    pub(crate) fn seen_expired(&mut self, key: &str) {
        let now = self.now;
        if let Some(e) = self.entries.get_mut(key).filter(|e| !e.is_live(now)) {
            e.stored = false;
        }
    }

    /// Sorted keys of the live entries carrying `index_key`.
    pub(crate) fn index(&self, index_key: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.is_live(self.now) && e.has_index(index_key))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Expired entries carrying `index_key` may have been removed lazily.
    pub(crate) fn seen_index(&mut self, index_key: &str) {
        let now = self.now;
        for e in self.entries.values_mut() {
            if !e.is_live(now) && e.has_index(index_key) {
                e.stored = false;
            }
        }
    }

    /// Removes every entry carrying `index_key`; returns how many were live.
    pub(crate) fn delete_index(&mut self, index_key: &str) -> u64 {
        let live = self.index(index_key).len() as u64;
        self.entries.retain(|_, e| !e.has_index(index_key));
        live
    }

    /// Live entries whose key starts with `prefix`, by key.
    pub(crate) fn scan(&self, prefix: &str) -> Vec<(&str, &Entry)> {
        self.entries
            .iter()
            .filter(|(k, e)| k.starts_with(prefix) && e.is_live(self.now))
            .map(|(k, e)| (k.as_str(), e))
            .collect()
    }

    /// (expired entries certainly still stored, expired entries that may be).
    pub(crate) fn expired_counts(&self) -> (u64, u64) {
        let expired = self.entries.values().filter(|e| !e.is_live(self.now));
        expired.fold((0, 0), |(sure, all), e| {
            (sure + u64::from(e.stored), all + 1)
        })
    }

    /// After `purge_expired(limit)` removed `n`: below the limit every
    /// expired entry is gone; at the limit, which ones went is unknown.
    pub(crate) fn purged(&mut self, n: u64, limit: usize) {
        let now = self.now;
        if n < limit as u64 {
            self.entries.retain(|_, e| e.is_live(now));
        } else {
            for e in self.entries.values_mut().filter(|e| !e.is_live(now)) {
                e.stored = false;
            }
        }
    }
}

/// `bytes` as a counter: exactly the decimal form of an `i64` (no sign
/// `+`, no leading zero, no spaces, not `-0`), as Redis's `INCRBY` reads it.
pub(crate) fn as_counter(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let n: i64 = text.parse().ok()?;
    (n.to_string() == text).then_some(n)
}

/// One GCRA step as the contract documents it (`governor`, `redis-cell`):
/// the state is the theoretical arrival time `tat` (ms); a request of
/// `cost` units fits when `max(tat, now) + cost × interval` is at most
/// `now + burst × interval`. Returns the decision and, when the request
/// spent units, the new TAT (which is also when the state expires).
pub(crate) fn gcra(
    stored_tat: Option<u64>,
    now: u64,
    interval: u64,
    burst: u32,
    cost: u32,
) -> (GcraDecision, Option<u64>) {
    let tat = stored_tat.map_or(now, |t| t.max(now));
    let limit = now.saturating_add(interval.saturating_mul(u64::from(burst)));
    let after = tat.saturating_add(interval.saturating_mul(u64::from(cost)));
    let units = |ms: u64| u32::try_from(ms / interval).unwrap_or(u32::MAX);
    if after <= limit {
        let decision = GcraDecision {
            allowed: true,
            remaining: units(limit - after),
            retry_after: Duration::ZERO,
            reset_after: Duration::from_millis(after - now),
        };
        (decision, (cost > 0).then_some(after))
    } else {
        let decision = GcraDecision {
            allowed: false,
            remaining: units(limit.saturating_sub(tat)),
            retry_after: Duration::from_millis(after - limit),
            reset_after: Duration::from_millis(tat - now),
        };
        (decision, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_canonical_decimals_only() {
        assert_eq!(as_counter(b"-3"), Some(-3));
        assert_eq!(as_counter(b"9223372036854775807"), Some(i64::MAX));
        for text in ["042", "+5", "-0", " 7", "", "x", "9223372036854775808"] {
            assert_eq!(as_counter(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn gcra_admits_the_burst_then_one_per_interval() {
        let (first, tat) = gcra(None, 1_000, 100, 2, 1);
        assert!(first.allowed && first.remaining == 1 && tat == Some(1_100));
        let (second, tat) = gcra(tat, 1_000, 100, 2, 1);
        assert!(second.allowed && second.remaining == 0 && tat == Some(1_200));
        let (denied, none) = gcra(tat, 1_050, 100, 2, 1);
        assert!(!denied.allowed && none.is_none());
        assert_eq!(denied.retry_after, Duration::from_millis(50));
        assert_eq!(denied.reset_after, Duration::from_millis(150));
        let (query, none) = gcra(tat, 1_100, 100, 2, 0);
        assert!(query.allowed && query.remaining == 1 && none.is_none());
    }
}
