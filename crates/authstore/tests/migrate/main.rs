//! Library-level tests of `authstore::migrate`: memory → Redis copies of
//! 100,000 entries with TTLs and indexes, interrupted and resumed runs,
//! conflicts, a source that is never written, export → import round trips,
//! corrupted export files and dry runs. Redis is a private `redis-server`
//! (or `REDIS_URL`); every test uses its own key prefix.
#![cfg(feature = "redis")]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authstore::migrate::{MigrateOptions, MigrateReport, VerifyReport, migrate, verify};
use authstore::{PutOptions, ScanEntry, Store};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

mod conflicts;
mod copy;
mod export_import;
mod interrupted;
mod read_only;

/// Entries in the large data sets.
const N: usize = 100_000;

/// A private `redis-server` for one test, so that its `SCAN`s walk only its
/// own keys; or the server `REDIS_URL` names, shared, where the test removes
/// its keys at the end. Either way every test uses its own key prefix.
#[derive(Debug)]
struct Redis(RedisTarget);

impl Redis {
    fn start() -> Self {
        Self(RedisServer::from_env_or_start().expect("start redis-server"))
    }

    /// A Redis store under `prefix`, opened by URL as an operator would (`?prefix=`).
    async fn store(&self, prefix: &str) -> Arc<dyn Store> {
        let url = self.0.url();
        let sep = if url.contains('?') { '&' } else { '?' };
        // A generous command timeout: the tests may share a loaded machine.
        let store = authstore::open(&format!("{url}{sep}prefix={prefix}&timeout_ms=10000"))
            .await
            .expect("open the Redis store");
        assert_eq!(store.prefix(), prefix);
        store
    }

    /// A plain redis-rs connection, to look at the raw keys under a prefix.
    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.0.url())
            .expect("redis client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis")
    }

    /// Every raw Redis key under `prefix` (entries and index sets), deduplicated.
    async fn raw_keys(&self, prefix: &str) -> HashSet<Vec<u8>> {
        let mut conn = self.conn().await;
        let mut keys = HashSet::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(10_000)
                .query_async(&mut conn)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// The keys of the entries (not index sets) under `prefix`, read raw.
    async fn raw_entry_keys(&self, prefix: &str) -> BTreeSet<String> {
        let index_marker = format!("{prefix}\u{1e}").into_bytes();
        self.raw_keys(prefix)
            .await
            .into_iter()
            .filter(|k| !k.starts_with(&index_marker))
            .map(|k| String::from_utf8(k[prefix.len()..].to_vec()).expect("UTF-8 key"))
            .collect()
    }

    /// Removes what the test left on an external server (a private one is
    /// killed when the guard drops).
    async fn cleanup(&self, prefixes: &[&str]) {
        if !self.0.is_external() {
            return;
        }
        let mut conn = self.conn().await;
        for prefix in prefixes {
            let keys: Vec<Vec<u8>> = self.raw_keys(prefix).await.into_iter().collect();
            for chunk in keys.chunks(1000) {
                let _: () = redis::cmd("UNLINK")
                    .arg(chunk)
                    .query_async(&mut conn)
                    .await
                    .expect("UNLINK");
            }
        }
    }
}

/// A key prefix no other test (or earlier run on an external server) uses.
fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("migrate-test:{}:{nanos}:{test}:", std::process::id())
}

async fn memory_store() -> Arc<dyn Store> {
    authstore::open("memory://")
        .await
        .expect("open a memory store")
}

/// Every live entry under `prefix`, page by page (Redis may repeat a key).
async fn scan_all(store: &dyn Store, prefix: &str) -> Vec<ScanEntry> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .scan(prefix, cursor.as_deref(), 1000)
            .await
            .expect("scan");
        out.extend(page.entries);
        cursor = page.cursor;
        if cursor.is_none() {
            return out;
        }
    }
}

async fn key_set(store: &dyn Store, prefix: &str) -> BTreeSet<String> {
    scan_all(store, prefix)
        .await
        .into_iter()
        .map(|e| e.key)
        .collect()
}

/// What a full scan shows of one entry; `expires` is absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    value: Vec<u8>,
    version: u64,
    index_keys: Vec<String>,
    expires: Option<Instant>,
}

/// Every live entry of `store`, by key; panics on a key scanned twice
/// unless `repeats_allowed` (Redis `SCAN`).
async fn snapshot(store: &dyn Store, repeats_allowed: bool) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 500).await.expect("scan");
        let read_at = Instant::now();
        for e in page.entries {
            let mut index_keys = e.index_keys;
            index_keys.sort();
            let seen = Seen {
                value: e.value.to_vec(),
                version: e.version,
                index_keys,
                expires: e.ttl.map(|ttl| read_at + ttl),
            };
            let again = out.insert(e.key.clone(), seen);
            assert!(
                repeats_allowed || again.is_none(),
                "{} scanned twice",
                e.key
            );
        }
        cursor = page.cursor;
        if cursor.is_none() {
            return out;
        }
    }
}

/// Whether two snapshots hold the same entries, expiries within `slack`.
fn assert_same_snapshot(
    before: &BTreeMap<String, Seen>,
    after: &BTreeMap<String, Seen>,
    slack: Duration,
) {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the key set changed"
    );
    for (key, b) in before {
        let a = &after[key];
        assert_eq!(a.value, b.value, "{key}: value changed");
        assert_eq!(a.version, b.version, "{key}: version changed");
        assert_eq!(a.index_keys, b.index_keys, "{key}: index keys changed");
        let close = match (a.expires, b.expires) {
            (None, None) => true,
            (Some(x), Some(y)) => x.max(y) - x.min(y) <= slack,
            _ => false,
        };
        assert!(
            close,
            "{key}: expiry changed ({:?} → {:?})",
            b.expires, a.expires
        );
    }
}

fn ttl_close(a: Option<Duration>, b: Option<Duration>, tolerance: Duration) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.max(b) - a.min(b) <= tolerance,
        _ => false,
    }
}

/// How many entries of each kind [`populate`] wrote.
#[derive(Debug, Default)]
struct Population {
    /// Entries per namespace (`session:`, `oauth-at:`, `ratelimit:`, `user:`, `expiring:`).
    per_namespace: BTreeMap<&'static str, usize>,
    /// Keys of the entries written with 1–1.5 s to live.
    short_lived: Vec<String>,
    /// When the short-lived entries were written (they are all gone 1.5 s later).
    short_written_at: Option<Instant>,
}

/// Writes [`N`] entries to `store`: sessions indexed by user (TTL 10 min
/// to 2 h), OAuth access tokens indexed by grant and some by client (5 min
/// to 1 h), rate-limit counters written with `incr` (5 min to 1 h, some
/// with no TTL), users with no TTL, and last `short_lived` entries with
/// 1–1.5 s left, indexed under `expiring-set:*`.
async fn populate(store: &dyn Store, short_lived: usize) -> Population {
    const SESSIONS: usize = 40_000;
    const TOKENS: usize = 25_000;
    const COUNTERS: usize = 15_000;
    let users = N - SESSIONS - TOKENS - COUNTERS - short_lived;
    let mut population = Population::default();
    for i in 0..SESSIONS {
        let ttl = Duration::from_secs(600 + (i as u64 * 7919) % 6600);
        let user = i % 4000;
        let value = format!(
            r#"{{"user":"u-{user}","csrf":"c{i:x}","ip":"10.0.{}.{}"}}"#,
            i % 256,
            i / 256
        );
        let options = PutOptions::new()
            .ttl(ttl)
            .index(format!("session-user:{user}"));
        store
            .put(&format!("session:{i:06}"), value.as_bytes(), options)
            .await
            .expect("put session");
    }
    for i in 0..TOKENS {
        let ttl = Duration::from_secs(300 + (i as u64 * 104_729) % 3300);
        let mut options = PutOptions::new()
            .ttl(ttl)
            .index(format!("oauth-grant:{}", i % 5000));
        if i % 5 == 0 {
            options = options.index(format!("oauth-client:{}", i % 50));
        }
        // Binary values: a token id followed by bytes that are not UTF-8.
        let mut value = format!("at-{i}").into_bytes();
        value.extend_from_slice(&[0xff, 0x00, 0x1f, 0x1e, (i % 256) as u8]);
        store
            .put(&format!("oauth-at:{i:06}"), &value, options)
            .await
            .expect("put token");
    }
    for i in 0..COUNTERS {
        let key = format!("ratelimit:{i:06}");
        let ttl = (i % 15 != 0).then(|| Duration::from_secs(300 + (i as u64 % 3300)));
        store
            .incr(&key, (i % 100) as i64 + 1, ttl)
            .await
            .expect("incr");
        if i % 10 == 0 {
            store.incr(&key, 5, ttl).await.expect("incr again");
        }
    }
    for i in 0..users {
        let value = format!(r#"{{"id":"u-{i}","email":"user{i}@example.test"}}"#);
        store
            .put(&format!("user:{i:06}"), value.as_bytes(), PutOptions::new())
            .await
            .expect("put user");
    }
    population.short_written_at = Some(Instant::now());
    for i in 0..short_lived {
        let key = format!("expiring:{i:04}");
        let options = PutOptions::new()
            .ttl(Duration::from_millis(1000 + (i as u64 * 37) % 500))
            .index(format!("expiring-set:{}", i % 10));
        store
            .put(&key, b"about to expire", options)
            .await
            .expect("put short-lived");
        population.short_lived.push(key);
    }
    population.per_namespace = BTreeMap::from([
        ("session:", SESSIONS),
        ("oauth-at:", TOKENS),
        ("ratelimit:", COUNTERS),
        ("user:", users),
        ("expiring:", short_lived),
    ]);
    population
}

fn assert_exact(report: &VerifyReport, what: &str) {
    assert!(
        report.is_exact(),
        "{what}: verify found {} mismatches, first: {:?}",
        report.mismatched,
        report
            .mismatches
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert_eq!(report.matched, report.checked, "{what}: {report:?}");
}

fn assert_no_failures(report: &MigrateReport, what: &str) {
    assert_eq!(
        report.failed,
        0,
        "{what}: failures {:?}",
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(report.failures.is_empty(), "{what}");
    assert!(report.cursor.is_none(), "{what}: the run did not finish");
}

/// `migrate(from → to)` without a progress callback; panics on an error.
async fn run_migrate(from: &dyn Store, to: &dyn Store, options: &MigrateOptions) -> MigrateReport {
    migrate(from, to, options, |_| {}).await.unwrap()
}

/// `verify(from → to)` without a progress callback; panics on an error.
async fn run_verify(from: &dyn Store, to: &dyn Store, options: &MigrateOptions) -> VerifyReport {
    verify(from, to, options, |_| {}).await.unwrap()
}
