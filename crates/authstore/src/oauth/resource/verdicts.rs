//! A bounded in-process cache of validation verdicts, keyed by the token's SHA-256 (never the token): an accepted token, shared until a deadline, or a refusal.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::{AccessToken, InvalidToken};

/// Shards: concurrent requests rarely wait for one another.
const SHARDS: usize = 16;

/// What was decided about a token.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    /// Accepted, with what it stands for.
    Accepted(Arc<AccessToken>),
    /// Refused.
    Refused(InvalidToken),
}

#[derive(Debug)]
struct Entry {
    /// Forgotten at this time (ms since the epoch).
    until_ms: u64,
    verdict: Verdict,
}

type Shard = HashMap<[u8; 32], Entry, ahash::RandomState>;

/// At most `capacity` verdicts; an expired one is never returned.
#[derive(Debug)]
pub(super) struct Verdicts {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

/// The cache key of `token`.
pub(super) fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Verdicts {
    /// Room for about `capacity` verdicts (at least one per shard).
    pub(super) fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard::with_hasher(ahash::RandomState::new())))
            .collect();
        Self { shards, per_shard }
    }

    fn shard(&self, key: &[u8; 32]) -> &Mutex<Shard> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// The verdict on `key`, if one is remembered and not expired at `now_ms`.
    pub(super) fn get(&self, key: &[u8; 32], now_ms: u64) -> Option<Verdict> {
        let mut shard = self.shard(key).lock();
        match shard.get(key) {
            Some(entry) if entry.until_ms > now_ms => Some(entry.verdict.clone()),
            Some(_) => {
                shard.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `verdict` on `key` until `until_ms`. A full shard first
    /// drops its expired verdicts, then, if still full, an arbitrary one.
    pub(super) fn put(&self, key: [u8; 32], verdict: Verdict, until_ms: u64, now_ms: u64) {
        if until_ms <= now_ms {
            return;
        }
        let mut shard = self.shard(&key).lock();
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, e| e.until_ms > now_ms);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(key, Entry { until_ms, verdict });
    }

    /// Remembered verdicts, expired ones included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(sub: &str) -> Verdict {
        Verdict::Accepted(Arc::new(AccessToken {
            subject: Some(sub.into()),
            client_id: "c".into(),
            scopes: vec![],
            audience: None,
            expires_at: 0,
            grant_id: None,
        }))
    }

    #[test]
    fn a_verdict_is_returned_until_its_deadline_only() {
        let cache = Verdicts::new(10);
        let key = token_key("t");
        cache.put(key, token("a"), 2_000, 1_000);
        assert!(
            matches!(cache.get(&key, 1_999), Some(Verdict::Accepted(t)) if t.subject.as_deref() == Some("a"))
        );
        assert!(cache.get(&key, 2_000).is_none());
        assert_eq!(cache.len(), 0, "an expired verdict is dropped when seen");
        cache.put(key, Verdict::Refused(InvalidToken::Inactive), 1_000, 1_000);
        assert!(
            cache.get(&key, 999).is_none(),
            "a verdict already expired is not stored"
        );
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = Verdicts::new(64);
        for i in 0..10_000 {
            cache.put(token_key(&i.to_string()), token("x"), u64::MAX, 0);
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        let last = token_key("9999");
        assert!(cache.get(&last, 1).is_some(), "the newest verdict is kept");
    }

    #[test]
    fn expired_verdicts_make_room_first() {
        let cache = Verdicts::new(SHARDS);
        // Fill every shard with one verdict that expires at 10.
        let mut i = 0;
        while cache.len() < SHARDS && i < 100_000 {
            cache.put(token_key(&format!("old{i}")), token("old"), 10, 0);
            i += 1;
        }
        let fresh = token_key("fresh");
        cache.put(fresh, token("fresh"), 100, 20);
        assert!(cache.get(&fresh, 21).is_some());
        assert!(cache.len() <= SHARDS);
    }
}
