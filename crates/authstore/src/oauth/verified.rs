//! A process-local memo of client secrets that recently passed argon2id verification, so a client that authenticates on every request pays for argon2id once per stored hash, not once per request.
//!
//! What it keeps, per client id: the stored argon2id hash the secret was
//! verified against, an HMAC-SHA-256 of the secret under a random key drawn
//! when the process starts (never the secret itself), and when the memo
//! expires. A memo recalls a presented secret only when:
//! - the client's stored hash is byte-for-byte the one verified (so a
//!   rotated secret, a replaced or a re-registered client misses);
//! - the presented secret's HMAC equals the remembered one (compared in
//!   constant time).
//!
//! It is `Recall::Fresh` while younger than
//! [`OAuthConfig::secret_cache_ttl`](super::OAuthConfig::secret_cache_ttl):
//! the secret is accepted without argon2id. Past that it is
//! `Recall::Stale`: argon2id runs again, but the secret is known to have
//! been right before, so the per-client limits on secret checks do not
//! apply to it (a flood of wrong secrets on a client id cannot lock out the
//! client that owns it). A stale memo stays until the memo is full.
//!
//! Only successes are remembered, and failures never erase a memo: a wrong
//! secret always costs a full argon2id verification (within the limits).
//! The client record itself is read from the store on every request, so
//! deleting a client or letting its secret expire takes effect at once, on
//! every process.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::RwLock;
use ring::hmac;

use crate::clock::duration_to_millis;
use crate::error::Result;
use crate::secret;

/// At most this many clients are remembered; past it new successes are not.
const CAPACITY: usize = 10_000;

/// What the memo knows of a presented secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recall {
    /// Verified less than the TTL ago: accept it without argon2id.
    Fresh,
    /// Verified before, longer ago than the TTL: verify it again, exempt from limits.
    Stale,
    /// Not known to be right.
    Unknown,
}

struct Memo {
    stored_hash: Box<str>,
    tag: hmac::Tag,
    expires_at: u64,
}

/// Secrets verified recently, by client id.
pub(crate) struct VerifiedSecrets {
    key: hmac::Key,
    ttl_millis: u64,
    memos: RwLock<HashMap<String, Memo>>,
}

impl std::fmt::Debug for VerifiedSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSecrets")
            .field("ttl_millis", &self.ttl_millis)
            .field("clients", &self.memos.read().len())
            .finish_non_exhaustive()
    }
}

impl VerifiedSecrets {
    /// An empty memo whose entries live `ttl` (zero: remember nothing).
    pub(crate) fn new(ttl: Duration) -> Result<Self> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret::random_bytes()?);
        Ok(Self {
            key,
            ttl_millis: duration_to_millis(ttl),
            memos: RwLock::new(HashMap::new()),
        })
    }

    /// What is known of `secret` for `client_id` with `stored_hash` at `now`
    /// (milliseconds).
    pub(crate) fn recall(
        &self,
        client_id: &str,
        stored_hash: &str,
        secret: &str,
        now: u64,
    ) -> Recall {
        if self.ttl_millis == 0 {
            return Recall::Unknown;
        }
        let memos = self.memos.read();
        let Some(memo) = memos.get(client_id) else {
            return Recall::Unknown;
        };
        let same = memo.stored_hash.as_bytes() == stored_hash.as_bytes()
            && hmac::verify(&self.key, secret.as_bytes(), memo.tag.as_ref()).is_ok();
        match (same, now < memo.expires_at) {
            (false, _) => Recall::Unknown,
            (true, true) => Recall::Fresh,
            (true, false) => Recall::Stale,
        }
    }

    /// Whether `secret` is the one that last passed verification for
    /// `client_id`, however long ago and whatever the client's stored hash
    /// is now: enough to tell a client's own secret from a guess before
    /// reading the client, not to accept it.
    pub(crate) fn knows(&self, client_id: &str, secret: &str) -> bool {
        if self.ttl_millis == 0 {
            return false;
        }
        self.memos.read().get(client_id).is_some_and(|memo| {
            hmac::verify(&self.key, secret.as_bytes(), memo.tag.as_ref()).is_ok()
        })
    }

    /// Whether `secret` was verified against `stored_hash` for `client_id`
    /// less than the TTL before `now` (milliseconds).
    #[cfg(test)]
    pub(crate) fn recalls(
        &self,
        client_id: &str,
        stored_hash: &str,
        secret: &str,
        now: u64,
    ) -> bool {
        self.recall(client_id, stored_hash, secret, now) == Recall::Fresh
    }

    /// Remembers that `secret` verified against `stored_hash` at `now`.
    pub(crate) fn remember(&self, client_id: &str, stored_hash: &str, secret: &str, now: u64) {
        if self.ttl_millis == 0 {
            return;
        }
        let memo = Memo {
            stored_hash: stored_hash.into(),
            tag: hmac::sign(&self.key, secret.as_bytes()),
            expires_at: now.saturating_add(self.ttl_millis),
        };
        let mut memos = self.memos.write();
        if memos.len() >= CAPACITY && !memos.contains_key(client_id) {
            memos.retain(|_, m| now < m.expires_at);
            if memos.len() >= CAPACITY {
                return;
            }
        }
        memos.insert(client_id.to_owned(), memo);
    }

    /// Forgets `client_id` (the client was deleted).
    pub(crate) fn forget(&self, client_id: &str) {
        if self.ttl_millis != 0 && self.memos.read().contains_key(client_id) {
            self.memos.write().remove(client_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_only_the_same_secret_and_hash_before_expiry() {
        let memo = VerifiedSecrets::new(Duration::from_secs(60)).unwrap();
        assert!(!memo.recalls("c", "h1", "s", 0), "nothing remembered yet");
        memo.remember("c", "h1", "s", 1_000);
        assert!(memo.recalls("c", "h1", "s", 1_000));
        assert!(memo.recalls("c", "h1", "s", 60_999));
        assert!(!memo.recalls("c", "h1", "s", 61_000), "expired");
        assert!(!memo.recalls("c", "h1", "wrong", 2_000));
        assert!(
            !memo.recalls("c", "h2", "s", 2_000),
            "the stored hash changed"
        );
        assert!(!memo.recalls("other", "h1", "s", 2_000));
        memo.forget("c");
        assert!(!memo.recalls("c", "h1", "s", 2_000));
    }

    #[test]
    fn an_expired_memo_is_stale_only_for_the_same_secret_and_hash() {
        let memo = VerifiedSecrets::new(Duration::from_secs(60)).unwrap();
        memo.remember("c", "h1", "s", 0);
        assert_eq!(memo.recall("c", "h1", "s", 59_999), Recall::Fresh);
        assert_eq!(memo.recall("c", "h1", "s", 60_000), Recall::Stale);
        assert_eq!(memo.recall("c", "h1", "s", u64::MAX), Recall::Stale);
        assert_eq!(memo.recall("c", "h1", "wrong", 60_000), Recall::Unknown);
        assert_eq!(memo.recall("c", "h2", "s", 60_000), Recall::Unknown);
        assert!(memo.knows("c", "s") && !memo.knows("c", "wrong") && !memo.knows("d", "s"));
        memo.remember("c", "h1", "s", 60_000);
        assert_eq!(
            memo.recall("c", "h1", "s", 60_000),
            Recall::Fresh,
            "renewed"
        );
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let memo = VerifiedSecrets::new(Duration::ZERO).unwrap();
        memo.remember("c", "h", "s", 0);
        assert!(!memo.recalls("c", "h", "s", 0));
    }

    #[test]
    fn full_memo_drops_expired_entries_and_then_stops_growing() {
        let memo = VerifiedSecrets::new(Duration::from_secs(1)).unwrap();
        for i in 0..CAPACITY {
            memo.remember(&format!("c{i}"), "h", "s", 0);
        }
        memo.remember("late", "h", "s", 10);
        assert!(!memo.recalls("late", "h", "s", 10), "full of live entries");
        memo.remember("later", "h", "s", 5_000);
        assert!(
            memo.recalls("later", "h", "s", 5_000),
            "expired ones made room"
        );
        assert_eq!(memo.memos.read().len(), 1);
    }

    #[test]
    fn debug_shows_no_secret_material() {
        let memo = VerifiedSecrets::new(Duration::from_secs(1)).unwrap();
        memo.remember("c", "h", "hunter2-secret", 0);
        let shown = format!("{memo:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("clients: 1"),
            "{shown}"
        );
    }
}
