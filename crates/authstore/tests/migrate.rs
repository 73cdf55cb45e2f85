//! Library-level tests of `authstore::migrate`: memory → Redis copies of
//! 100,000 entries with TTLs and indexes, interrupted and resumed runs,
//! conflicts, a source that is never written, export → import round trips,
//! corrupted export files and dry runs. Redis is a private `redis-server`
//! (or `REDIS_URL`); every test uses its own key prefix.
#![cfg(feature = "redis")]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authstore::migrate::{
    ImportOptions, MigrateOptions, MigrateReport, VerifyReport, export, import, migrate, verify,
};
use authstore::{PutOptions, ScanEntry, Store};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

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

/// Test 1: 100,000 entries of several kinds, memory → Redis, then `verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_to_redis_100k_entries_with_ttls_indexes_and_counters() {
    let started = Instant::now();
    let prefix = unique_prefix("bulk");
    let redis = Redis::start();
    let (source, target) = (memory_store().await, redis.store(&prefix).await);
    let population = populate(source.as_ref(), 300).await;
    let short_written_at = population.short_written_at.expect("written");

    let options = MigrateOptions::default();
    let mut pages = 0u64;
    let mut last_scanned = 0u64;
    let report = migrate(source.as_ref(), target.as_ref(), &options, |r| {
        assert!(r.scanned >= last_scanned, "progress went backwards");
        last_scanned = r.scanned;
        pages += 1;
    })
    .await
    .expect("migrate");
    assert_no_failures(&report, "migrate");
    assert_eq!(
        report.migrated + report.expired,
        report.scanned,
        "{report:?}"
    );
    assert_eq!(report.unchanged, 0, "{report:?}");
    let short = population.short_lived.len() as u64;
    let long_lived = N as u64 - short;
    // Everything but the short-lived entries is live for the whole run.
    assert!(
        (long_lived..=N as u64).contains(&report.scanned),
        "{report:?}"
    );
    assert!(report.migrated >= long_lived, "{report:?}");
    assert!(report.expired <= short, "{report:?}");
    assert!(
        pages >= N as u64 / 1000,
        "progress after every page: {pages}"
    );

    let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("verify");
    assert_exact(&verified, "memory → redis");
    assert!(
        (long_lived..=N as u64).contains(&verified.checked),
        "{verified:?}"
    );
    assert!(verified.expiring <= short, "{verified:?}");

    // The target holds the source's entries and nothing else (the
    // short-lived ones aside: they expire on both sides).
    let source_entries = scan_all(source.as_ref(), "").await;
    let lasting = |key: &String| !key.starts_with("expiring:");
    let at_source: BTreeSet<String> = source_entries
        .iter()
        .map(|e| e.key.clone())
        .filter(lasting)
        .collect();
    let at_target: BTreeSet<String> = redis
        .raw_entry_keys(&prefix)
        .await
        .into_iter()
        .filter(lasting)
        .collect();
    assert_eq!(at_source.len() as u64, long_lived);
    assert!(at_source == at_target, "the key sets differ");
    for (namespace, written) in &population.per_namespace {
        if *namespace != "expiring:" {
            let n = at_target
                .iter()
                .filter(|k| k.starts_with(namespace))
                .count();
            assert_eq!(n, *written, "{namespace}");
        }
    }

    // A sample, entry by entry: bytes, TTL, index membership, counters.
    let tolerance = Duration::from_secs(2);
    let mut indexes_checked = HashSet::new();
    let mut sampled = 0;
    for entry in source_entries.iter().step_by(97) {
        if entry.key.starts_with("expiring:") {
            continue;
        }
        sampled += 1;
        let now = SystemTime::now();
        let (from, to) = (
            source.get(&entry.key).await.unwrap().expect("at source"),
            target.get(&entry.key).await.unwrap().expect("in target"),
        );
        assert_eq!(from.value, to.value, "{}: value", entry.key);
        let (ttl_from, ttl_to) = (from.ttl_at(now), to.ttl_at(now));
        assert!(
            ttl_close(ttl_from, ttl_to, tolerance),
            "{}: TTL {ttl_from:?} at the source, {ttl_to:?} in the target",
            entry.key
        );
        for index_key in &entry.index_keys {
            if indexes_checked.insert(index_key.clone()) {
                let (a, b) = (
                    source.list_index(index_key).await.unwrap(),
                    target.list_index(index_key).await.unwrap(),
                );
                assert!(a.contains(&entry.key), "{index_key}");
                assert_eq!(a, b, "{index_key}: index members");
            }
        }
        if entry.key.starts_with("ratelimit:") {
            // A copied counter keeps counting from its value and keeps its TTL.
            let before: i64 = std::str::from_utf8(&from.value).unwrap().parse().unwrap();
            let counter = target.incr(&entry.key, 1, None).await.expect("incr");
            assert_eq!(counter.value, before + 1, "{}", entry.key);
            assert!(
                ttl_close(counter.ttl, ttl_from, tolerance),
                "{}: counter TTL {:?}, source {ttl_from:?}",
                entry.key,
                counter.ttl
            );
        }
    }
    assert!(sampled >= 1000, "sampled {sampled}");
    assert!(indexes_checked.len() >= 500, "{}", indexes_checked.len());

    // The short-lived entries expired on both sides: none is left in the
    // target, nor in its indexes. (A copy's TTL counts from when the target
    // runs the write, so it may outlive the source's by the write's queueing
    // delay: hence the margin.)
    let margin = Duration::from_millis(700);
    tokio::time::sleep_until((short_written_at + Duration::from_millis(1500) + margin).into())
        .await;
    assert!(key_set(target.as_ref(), "expiring:").await.is_empty());
    for set in 0..10 {
        let members = target
            .list_index(&format!("expiring-set:{set}"))
            .await
            .unwrap();
        assert!(members.is_empty(), "expiring-set:{set}: {members:?}");
    }

    // What is copied gets the time it has left, not its original TTL:
    // entries written with 3 s to live and copied 1.5 s later have about
    // 1.5 s in the target (not 3 s), and are gone from it when they expire
    // at the source.
    let late_written = Instant::now();
    for i in 0..200 {
        let options = PutOptions::new()
            .ttl(Duration::from_secs(3))
            .index(format!("late-set:{}", i % 4));
        source
            .put(&format!("late:{i:03}"), b"late", options)
            .await
            .unwrap();
    }
    let spread = late_written.elapsed();
    tokio::time::sleep_until((late_written + Duration::from_millis(1500)).into()).await;
    let late_options = MigrateOptions {
        prefix: "late:".into(),
        ..MigrateOptions::default()
    };
    let late = migrate(source.as_ref(), target.as_ref(), &late_options, |_| {})
        .await
        .unwrap();
    assert_no_failures(&late, "late entries");
    assert_eq!((late.scanned, late.migrated), (200, 200), "{late:?}");
    for i in 0..200 {
        let key = format!("late:{i:03}");
        let now = SystemTime::now();
        let left = Duration::from_secs(3).saturating_sub(late_written.elapsed());
        let ttl = target.get(&key).await.unwrap().expect("copied").ttl_at(now);
        let ttl = ttl.expect("copied with a TTL");
        assert!(
            ttl <= left + spread + margin,
            "{key}: {ttl:?} in the target, at most {left:?} left at the source"
        );
    }
    assert_eq!(target.list_index("late-set:1").await.unwrap().len(), 50);
    let gone_at = late_written + spread + Duration::from_secs(3) + margin;
    tokio::time::sleep_until(gone_at.into()).await;
    assert!(key_set(source.as_ref(), "late:").await.is_empty());
    assert!(key_set(target.as_ref(), "late:").await.is_empty());
    assert!(target.list_index("late-set:1").await.unwrap().is_empty());
    eprintln!(
        "memory → redis: {report:?}; verify {:?}; whole test {:?}",
        verified.elapsed,
        started.elapsed()
    );
    redis.cleanup(&[&prefix]).await;
}

/// What a run's progress callback saw: `(scanned, cursor)` after each page.
type Progress = Vec<(u64, Option<String>)>;

/// Runs `migrate(from → to)` in a task and aborts it once progress has
/// seen at least `at` entries. The progress callback aborts its own task,
/// which stops at its next await: in the middle of the next page, with
/// that page's first writes in flight. Returns every `(scanned, cursor)`
/// progress reported.
async fn interrupted_migrate(from: Arc<dyn Store>, to: Arc<dyn Store>, at: u64) -> Progress {
    let seen = Arc::new(AtomicU64::new(0));
    let abort: Arc<OnceLock<tokio::task::AbortHandle>> = Arc::default();
    let progress: Arc<Mutex<Progress>> = Arc::default();
    let task = {
        let (seen, abort, progress) = (seen.clone(), abort.clone(), progress.clone());
        tokio::spawn(async move {
            let options = MigrateOptions::default();
            migrate(from.as_ref(), to.as_ref(), &options, |report| {
                progress
                    .lock()
                    .unwrap()
                    .push((report.scanned, report.cursor.clone()));
                if seen.fetch_max(report.scanned, Ordering::SeqCst) < at && report.scanned >= at {
                    // Set right after the spawn, long before this page.
                    loop {
                        if let Some(handle) = abort.get() {
                            handle.abort();
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
            })
            .await
        })
    };
    abort
        .set(task.abort_handle())
        .expect("the abort handle is set once");
    let outcome = task.await;
    assert!(
        outcome.as_ref().is_err_and(|e| e.is_cancelled()),
        "the run was not interrupted: {outcome:?}"
    );
    assert!(seen.load(Ordering::SeqCst) >= at);
    let progress = progress.lock().unwrap().clone();
    assert!(
        progress
            .last()
            .is_some_and(|(n, c)| *n >= at && c.is_some()),
        "{:?}",
        progress.last()
    );
    progress
}

/// Entries and index sets under a Redis prefix, raw: every entry once, and
/// one index set per index key the source uses, nothing else.
async fn assert_raw_layout(redis: &Redis, prefix: &str, source: &[ScanEntry]) {
    let raw = redis.raw_keys(prefix).await;
    let index_marker = format!("{prefix}\u{1e}").into_bytes();
    let (indexes, entries): (Vec<_>, Vec<_>) =
        raw.into_iter().partition(|k| k.starts_with(&index_marker));
    let expected_entries: BTreeSet<Vec<u8>> = source
        .iter()
        .map(|e| format!("{prefix}{}", e.key).into_bytes())
        .collect();
    assert_eq!(entries.len(), expected_entries.len(), "raw entry keys");
    assert!(
        entries.into_iter().collect::<BTreeSet<_>>() == expected_entries,
        "raw entry keys differ"
    );
    let expected_indexes: BTreeSet<Vec<u8>> = source
        .iter()
        .flat_map(|e| &e.index_keys)
        .map(|k| [&index_marker[..], k.as_bytes()].concat())
        .collect();
    assert!(
        indexes.into_iter().collect::<BTreeSet<_>>() == expected_indexes,
        "index sets differ"
    );
}

/// Test 2: a run aborted at 40% and run again, from the start or from its
/// last cursor, ends with exactly the source's entries in the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_then_rerun_from_start_or_resumed() {
    let started = Instant::now();
    let (prefix_a, prefix_b) = (unique_prefix("rerun"), unique_prefix("resume"));
    let redis = Redis::start();
    let source = memory_store().await;
    populate(source.as_ref(), 0).await;
    let source_entries = scan_all(source.as_ref(), "").await;
    let source_keys: BTreeSet<String> = source_entries.iter().map(|e| e.key.clone()).collect();
    assert_eq!(source_keys.len(), N);
    let at = N as u64 * 2 / 5;
    let options = MigrateOptions::default();

    // Aborted at 40%, then run again from the start.
    let target = redis.store(&prefix_a).await;
    interrupted_migrate(source.clone(), target.clone(), at).await;
    // One round trip on the store's own connection: the writes the aborted
    // run had already queued on it are done when it returns.
    target.exists("barrier:x").await.unwrap();
    let copied = redis.raw_entry_keys(&prefix_a).await.len() as u64;
    assert!(
        (at..at + 1000).contains(&copied),
        "{copied} entries copied before the abort"
    );
    let report = migrate(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("migrate again");
    assert_no_failures(&report, "re-run");
    assert_eq!(report.scanned, N as u64, "{report:?}");
    assert_eq!(
        report.migrated + report.unchanged + report.expired,
        report.scanned,
        "{report:?}"
    );
    assert_eq!(report.expired, 0, "{report:?}");
    assert_eq!(report.unchanged, copied, "{report:?}");
    let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("verify");
    assert_exact(&verified, "re-run");
    assert_eq!(verified.checked, N as u64);
    assert_raw_layout(&redis, &prefix_a, &source_entries).await;

    // Aborted at 40%, then resumed from the last cursor progress reported.
    let target = redis.store(&prefix_b).await;
    let progress = interrupted_migrate(source.clone(), target.clone(), at).await;
    let (done, cursor) = progress.last().cloned().expect("progress");
    let resumed = MigrateOptions {
        resume_from: cursor,
        ..MigrateOptions::default()
    };
    let report = migrate(source.as_ref(), target.as_ref(), &resumed, |_| {})
        .await
        .expect("resume");
    assert_no_failures(&report, "resumed run");
    assert_eq!(done + report.scanned, N as u64, "{report:?} after {done}");
    assert_eq!(
        report.migrated + report.unchanged + report.expired,
        report.scanned,
        "{report:?}"
    );
    // Only the writes in flight when the run was aborted can be there already.
    assert!(report.unchanged < 1000, "{report:?}");
    let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("verify");
    assert_exact(&verified, "resumed run");
    assert_eq!(verified.checked, N as u64);
    assert_raw_layout(&redis, &prefix_b, &source_entries).await;

    // A cursor the source did not produce is refused.
    let bogus = MigrateOptions {
        resume_from: Some("not a cursor".into()),
        ..MigrateOptions::default()
    };
    let err = migrate(source.as_ref(), target.as_ref(), &bogus, |_| {}).await;
    assert!(
        matches!(err, Err(authstore::Error::InvalidArgument(_))),
        "{err:?}"
    );
    eprintln!("interrupted runs: whole test {:?}", started.elapsed());
    redis.cleanup(&[&prefix_a, &prefix_b]).await;
}

/// Test 3: what is gone at the source does not come back, and what the
/// target holds differently is reported, not overwritten (unless asked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_revived_and_conflicts_are_not_overwritten() {
    let (prefix_1, prefix_2, prefix_3) = (
        unique_prefix("revive-1"),
        unique_prefix("revive-2"),
        unique_prefix("conflict"),
    );
    let redis = Redis::start();
    let source = memory_store().await;
    let hour = PutOptions::new().ttl(Duration::from_secs(3600));
    for i in 0..1000 {
        let options = hour.clone().index(format!("session-user:{}", i % 10));
        source
            .put(
                &format!("session:{i:04}"),
                format!("s{i}").as_bytes(),
                options,
            )
            .await
            .unwrap();
    }
    for i in 0..50 {
        let options = PutOptions::new()
            .ttl(Duration::from_millis(1200))
            .index("short-set:1");
        source
            .put(&format!("short:{i:02}"), b"short", options)
            .await
            .unwrap();
    }
    let options = MigrateOptions::default();
    let first_target = redis.store(&prefix_1).await;
    let first = migrate(source.as_ref(), first_target.as_ref(), &options, |_| {})
        .await
        .unwrap();
    assert_no_failures(&first, "first run");
    assert_eq!(first.migrated + first.expired, first.scanned, "{first:?}");
    assert!((1000..=1050).contains(&first.scanned), "{first:?}");

    // Deleted and expired at the source after the first run.
    for i in (0..1000).step_by(10) {
        assert!(source.delete(&format!("session:{i:04}")).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let live: BTreeSet<String> = key_set(source.as_ref(), "").await;
    assert_eq!(live.len(), 900);

    // A second run into an empty target copies only what is live.
    let second_target = redis.store(&prefix_2).await;
    let second = migrate(source.as_ref(), second_target.as_ref(), &options, |_| {})
        .await
        .unwrap();
    assert_no_failures(&second, "second run");
    assert_eq!(
        (second.scanned, second.migrated, second.expired),
        (900, 900, 0)
    );
    assert!(key_set(second_target.as_ref(), "").await == live);
    assert!(
        second_target
            .list_index("short-set:1")
            .await
            .unwrap()
            .is_empty()
    );
    let members = second_target.list_index("session-user:0").await.unwrap();
    assert!(
        members.is_empty(),
        "every session:..0 was deleted: {members:?}"
    );
    assert_eq!(
        second_target.list_index("session-user:1").await.unwrap(),
        source.list_index("session-user:1").await.unwrap()
    );
    // A second run into the first target writes nothing and recreates nothing.
    let rerun = migrate(source.as_ref(), first_target.as_ref(), &options, |_| {})
        .await
        .unwrap();
    assert_no_failures(&rerun, "re-run");
    assert_eq!(
        (rerun.scanned, rerun.unchanged, rerun.migrated),
        (900, 900, 0)
    );
    assert!(key_set(first_target.as_ref(), "short:").await.is_empty());
    assert!(
        first_target
            .list_index("short-set:1")
            .await
            .unwrap()
            .is_empty()
    );

    // An export keeps absolute expiries: imported later, what expired in
    // the meantime is skipped and the rest keeps the time it had left.
    let exported = memory_store().await;
    for i in 0..20 {
        exported
            .put(
                &format!("soon:{i}"),
                b"x",
                PutOptions::new().ttl(Duration::from_millis(1500)),
            )
            .await
            .unwrap();
        exported
            .put(
                &format!("later:{i}"),
                b"y",
                PutOptions::new().ttl(Duration::from_secs(10)),
            )
            .await
            .unwrap();
    }
    let mut file = Vec::new();
    export(exported.as_ref(), &mut file, &options, |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let imported = memory_store().await;
    let report = import(
        imported.as_ref(),
        &mut &file[..],
        &options,
        ImportOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.failed, 0, "{:?}", report.failures);
    assert_eq!(
        (report.scanned, report.migrated, report.expired),
        (40, 20, 20)
    );
    assert!(key_set(imported.as_ref(), "soon:").await.is_empty());
    for i in 0..20 {
        let key = format!("later:{i}");
        let now = SystemTime::now();
        let there = exported.get(&key).await.unwrap().unwrap().ttl_at(now);
        let here = imported.get(&key).await.unwrap().unwrap().ttl_at(now);
        // Without the time since the export taken off it would be ~2.5 s longer.
        assert!(
            ttl_close(there, here, Duration::from_millis(500)),
            "{key}: {there:?} at the source, {here:?} imported"
        );
    }

    // Conflicts: the target holds `user:theirs` with another value.
    let target = redis.store(&prefix_3).await;
    let source = memory_store().await;
    source
        .put("user:same", b"same", PutOptions::new())
        .await
        .unwrap();
    source
        .put(
            "user:theirs",
            b"ours",
            PutOptions::new().index("user-email:new"),
        )
        .await
        .unwrap();
    source
        .put("user:new", b"new", PutOptions::new())
        .await
        .unwrap();
    target
        .put("user:same", b"same", PutOptions::new())
        .await
        .unwrap();
    let theirs_version = target
        .put(
            "user:theirs",
            b"theirs",
            PutOptions::new()
                .ttl(Duration::from_secs(600))
                .index("user-email:old"),
        )
        .await
        .unwrap();
    let report = migrate(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            report.scanned,
            report.migrated,
            report.unchanged,
            report.failed
        ),
        (3, 1, 1, 1),
        "{report:?}"
    );
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].0, "user:theirs");
    assert!(
        report.failures[0].1.contains("different value"),
        "{:?}",
        report.failures[0]
    );
    let kept = target.get("user:theirs").await.unwrap().expect("kept");
    assert_eq!(
        (&kept.value[..], kept.version),
        (&b"theirs"[..], theirs_version)
    );
    assert_eq!(
        target.list_index("user-email:old").await.unwrap(),
        ["user:theirs"]
    );
    let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .unwrap();
    assert_eq!(verified.mismatched, 1, "{verified:?}");
    assert_eq!(
        verified.mismatches,
        [authstore::migrate::Mismatch::Value {
            key: "user:theirs".into()
        }]
    );

    let overwrite = MigrateOptions {
        overwrite: true,
        ..MigrateOptions::default()
    };
    let report = migrate(source.as_ref(), target.as_ref(), &overwrite, |_| {})
        .await
        .unwrap();
    assert_no_failures(&report, "overwrite");
    assert_eq!((report.scanned, report.migrated), (3, 3), "{report:?}");
    let replaced = target.get("user:theirs").await.unwrap().expect("replaced");
    assert_eq!(&replaced.value[..], b"ours");
    assert_eq!(replaced.expires_at, None, "the source's (absent) TTL");
    assert_eq!(
        target.list_index("user-email:new").await.unwrap(),
        ["user:theirs"]
    );
    assert!(
        target
            .list_index("user-email:old")
            .await
            .unwrap()
            .is_empty()
    );
    assert_exact(
        &verify(source.as_ref(), target.as_ref(), &options, |_| {})
            .await
            .unwrap(),
        "after overwrite",
    );
    redis.cleanup(&[&prefix_1, &prefix_2, &prefix_3]).await;
}

/// Test 4: migrate, verify, export and dry runs only read the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_is_never_written() {
    let (prefix_target, prefix_source) = (unique_prefix("ro-target"), unique_prefix("ro-source"));
    let redis = Redis::start();
    let slack = Duration::from_millis(500);

    // Memory → Redis.
    let source = memory_store().await;
    for i in 0..3000 {
        let options = match i % 3 {
            0 => PutOptions::new()
                .ttl(Duration::from_secs(600 + i))
                .index(format!("session-user:{}", i % 30)),
            1 => PutOptions::new().index(format!("user-email:{i}")),
            _ => PutOptions::new().ttl(Duration::from_secs(900)),
        };
        source
            .put(
                &format!("entry:{i:05}"),
                format!("v{i}").as_bytes(),
                options.clone(),
            )
            .await
            .unwrap();
        if i % 7 == 0 {
            // Versions above 1.
            source
                .put(
                    &format!("entry:{i:05}"),
                    format!("w{i}").as_bytes(),
                    options,
                )
                .await
                .unwrap();
        }
    }
    for i in 0..200 {
        source
            .incr(&format!("ratelimit:{i}"), i, Some(Duration::from_secs(900)))
            .await
            .unwrap();
    }
    let target = redis.store(&prefix_target).await;
    let before = snapshot(source.as_ref(), false).await;
    let stats_before = source.stats().await.unwrap();
    assert_eq!(before.len(), 3200);
    let options = MigrateOptions::default();
    let dry = MigrateOptions {
        dry_run: true,
        ..MigrateOptions::default()
    };
    let overwrite = MigrateOptions {
        overwrite: true,
        ..MigrateOptions::default()
    };
    let small_pages = MigrateOptions {
        batch_size: 7,
        concurrency: 3,
        ..MigrateOptions::default()
    };
    let report = migrate(source.as_ref(), target.as_ref(), &dry, |_| {})
        .await
        .unwrap();
    assert_eq!((report.scanned, report.migrated), (3200, 3200));
    for run in [&options, &options, &overwrite, &small_pages] {
        let report = migrate(source.as_ref(), target.as_ref(), run, |_| {})
            .await
            .unwrap();
        assert_no_failures(&report, "migrate");
        assert_eq!(report.scanned, 3200);
        assert_exact(
            &verify(source.as_ref(), target.as_ref(), run, |_| {})
                .await
                .unwrap(),
            "verify",
        );
    }
    export(source.as_ref(), &mut Vec::new(), &options, |_| {})
        .await
        .unwrap();
    let after = snapshot(source.as_ref(), false).await;
    assert_same_snapshot(&before, &after, slack);
    let stats_after = source.stats().await.unwrap();
    assert_eq!(
        (stats_after.entries, stats_after.sets, stats_after.deletes),
        (
            stats_before.entries,
            stats_before.sets,
            stats_before.deletes
        ),
        "the memory source was written to"
    );

    // Redis → memory, with the Redis store as the source.
    let source = redis.store(&prefix_source).await;
    for i in 0..2000u64 {
        let options = match i % 2 {
            0 => PutOptions::new()
                .ttl(Duration::from_secs(600 + i))
                .index(format!("session-user:{}", i % 20)),
            _ => PutOptions::new(),
        };
        source
            .put(
                &format!("session:{i:05}"),
                &[i as u8, 0xff, 0x1f, 0x1e],
                options,
            )
            .await
            .unwrap();
    }
    for i in 0..100 {
        source
            .incr(
                &format!("ratelimit:{i}"),
                i + 1,
                Some(Duration::from_secs(900)),
            )
            .await
            .unwrap();
    }
    let raw_before = redis.raw_keys(&prefix_source).await;
    let before = snapshot(source.as_ref(), true).await;
    assert_eq!(before.len(), 2100);
    let target = memory_store().await;
    let report = migrate(source.as_ref(), target.as_ref(), &dry, |_| {})
        .await
        .unwrap();
    assert!(report.migrated >= 2100, "{report:?}");
    assert_eq!(target.stats().await.unwrap().sets, 0, "the dry run wrote");
    for run in [&options, &options, &overwrite, &small_pages] {
        let report = migrate(source.as_ref(), target.as_ref(), run, |_| {})
            .await
            .unwrap();
        assert_no_failures(&report, "migrate");
        assert!(report.scanned >= 2100, "{report:?}");
        assert_exact(
            &verify(source.as_ref(), target.as_ref(), run, |_| {})
                .await
                .unwrap(),
            "verify",
        );
    }
    export(source.as_ref(), &mut Vec::new(), &options, |_| {})
        .await
        .unwrap();
    let after = snapshot(source.as_ref(), true).await;
    assert_same_snapshot(&before, &after, slack);
    assert!(
        redis.raw_keys(&prefix_source).await == raw_before,
        "raw keys changed"
    );
    redis.cleanup(&[&prefix_target, &prefix_source]).await;
}

/// An export's entry lines by key: base64 value, sorted index keys, and
/// absolute expiry (ms since the epoch). Checks the header and end marker.
fn export_lines(file: &[u8]) -> BTreeMap<String, (String, Vec<String>, Option<u64>)> {
    let text = std::str::from_utf8(file).expect("an export is UTF-8");
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    let header: serde_json::Value = serde_json::from_str(lines[0]).expect("header");
    assert_eq!(
        header["authstore_export"],
        authstore::migrate::FORMAT_VERSION
    );
    let exported_at = header["exported_at_ms"].as_u64().expect("exported_at_ms");
    let end: serde_json::Value = serde_json::from_str(lines[lines.len() - 1]).expect("end");
    assert_eq!(end["end"], true);
    assert_eq!(end["entries"].as_u64(), Some(lines.len() as u64 - 2));
    let mut out = BTreeMap::new();
    for line in &lines[1..lines.len() - 1] {
        let entry: serde_json::Value = serde_json::from_str(line).expect("entry line");
        let key = entry["key"].as_str().expect("key").to_owned();
        let value = entry["value"].as_str().expect("value").to_owned();
        let mut index: Vec<String> = entry
            .get("index")
            .map(|i| {
                i.as_array()
                    .expect("index array")
                    .iter()
                    .map(|k| k.as_str().expect("index key").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        index.sort();
        let expires = entry["ttl_ms"].as_u64().map(|ttl| exported_at + ttl);
        assert!(
            out.insert(key, (value, index, expires)).is_none(),
            "repeated line"
        );
    }
    out
}

/// Test 5: export → import keeps every byte, index key and expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_is_byte_exact() {
    let prefix = unique_prefix("roundtrip");
    let redis = Redis::start();
    let source = memory_store().await;
    let all_bytes: Vec<u8> = (0..=255).collect();
    source
        .put(
            "bin:all",
            &all_bytes,
            PutOptions::new()
                .ttl(Duration::from_secs(3600))
                .index("bin-set:all"),
        )
        .await
        .unwrap();
    for b in 0..=255u8 {
        let value = [b, !b, b, b'\n', b'\r', b'"', b'\\', b];
        let mut options = PutOptions::new().index(format!("bin-set:{}", b % 4));
        if b % 2 == 0 {
            options = options.ttl(Duration::from_secs(600 + u64::from(b)));
        }
        if b % 3 == 0 {
            options = options.index(format!("bin-byte:{b}"));
        }
        source
            .put(&format!("bin:{b:03}"), &value, options)
            .await
            .unwrap();
    }
    let odd_keys = [
        "bin:empty",
        "user:ünïcødé-ключ-鍵",
        "user:quote\"back\\slash",
        "user:{\"end\":true,\"entries\":0}",
        "user:a:b:c",
    ];
    for (i, key) in odd_keys.iter().enumerate() {
        let value: &[u8] = if i == 0 { b"" } else { key.as_bytes() };
        source
            .put(key, value, PutOptions::new().index("odd-set:all"))
            .await
            .unwrap();
    }
    for i in 0..50 {
        source
            .incr(
                &format!("ratelimit:{i}"),
                i * 1_000_000_007,
                Some(Duration::from_secs(1200)),
            )
            .await
            .unwrap();
    }
    let n = 1 + 256 + odd_keys.len() as u64 + 50;
    let options = MigrateOptions::default();

    let mut file = Vec::new();
    let exported = export(source.as_ref(), &mut file, &options, |_| {})
        .await
        .unwrap();
    assert_eq!((exported.scanned, exported.migrated), (n, n));
    let first = export_lines(&file);
    assert_eq!(first.len() as u64, n);

    let into_memory = memory_store().await;
    let into_redis = redis.store(&prefix).await;
    for target in [&into_memory, &into_redis] {
        let report = import(
            target.as_ref(),
            &mut &file[..],
            &options,
            ImportOptions { strict: true },
            |_| {},
        )
        .await
        .expect("import");
        assert_no_failures(&report, target.backend());
        assert_eq!((report.scanned, report.migrated), (n, n), "{report:?}");
        let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
            .await
            .unwrap();
        assert_exact(&verified, target.backend());
        assert_eq!(verified.checked, n);
        for entry in scan_all(source.as_ref(), "").await {
            let got = target.get(&entry.key).await.unwrap().expect("imported");
            assert_eq!(got.value, entry.value, "{}: bytes", entry.key);
        }
        for index_key in [
            "bin-set:0",
            "bin-set:3",
            "bin-set:all",
            "bin-byte:255",
            "odd-set:all",
        ] {
            assert_eq!(
                target.list_index(index_key).await.unwrap(),
                source.list_index(index_key).await.unwrap(),
                "{}: {index_key}",
                target.backend()
            );
        }
        let counter = target.incr("ratelimit:3", 1, None).await.unwrap();
        assert_eq!(counter.value, 3_000_000_022);
        assert!(counter.ttl.is_some_and(|t| t <= Duration::from_secs(1200)));
        target.incr("ratelimit:3", -1, None).await.unwrap();

        // Exported again, the entry lines say the same.
        let mut again = Vec::new();
        export(target.as_ref(), &mut again, &options, |_| {})
            .await
            .unwrap();
        let second = export_lines(&again);
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            second.keys().collect::<Vec<_>>(),
            "{}",
            target.backend()
        );
        for (key, (value, index, expires)) in &first {
            let (value_2, index_2, expires_2) = &second[key];
            assert_eq!(value, value_2, "{key}: value");
            assert_eq!(index, index_2, "{key}: index keys");
            let close = match (expires, expires_2) {
                (None, None) => true,
                (Some(a), Some(b)) => a.abs_diff(*b) <= 2000,
                _ => false,
            };
            assert!(close, "{key}: expiry {expires:?} then {expires_2:?}");
        }
    }
    redis.cleanup(&[&prefix]).await;
}

/// A small export: header, 10 entry lines (lines 2–11), end marker (line 12).
async fn small_export() -> (Vec<Vec<u8>>, Vec<String>) {
    let source = memory_store().await;
    for i in 0..10 {
        let options = PutOptions::new()
            .ttl(Duration::from_secs(600))
            .index(format!("session-user:{}", i % 3));
        source
            .put(
                &format!("session:{i}"),
                format!("value {i}").as_bytes(),
                options,
            )
            .await
            .unwrap();
    }
    let mut file = Vec::new();
    export(
        source.as_ref(),
        &mut file,
        &MigrateOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    let lines: Vec<Vec<u8>> = file
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), 12);
    let keys = lines[1..11]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["key"].as_str().unwrap().to_owned()
        })
        .collect();
    (lines, keys)
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut file = lines.join(&b'\n');
    file.push(b'\n');
    file
}

/// Imports `file` into a fresh memory store; returns the report (or error) and the keys imported.
async fn try_import(
    file: &[u8],
    strict: bool,
) -> (authstore::Result<MigrateReport>, BTreeSet<String>) {
    let target = memory_store().await;
    let report = import(
        target.as_ref(),
        &mut &file[..],
        &MigrateOptions::default(),
        ImportOptions { strict },
        |_| {},
    )
    .await;
    (report, key_set(target.as_ref(), "").await)
}

/// Test 6: a bad line is reported with its line number; strict stops there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_export_lines_are_reported_with_their_line_number() {
    let (lines, keys) = small_export().await;
    let all: BTreeSet<String> = keys.iter().cloned().collect();
    let (report, imported) = try_import(&join(&lines), true).await;
    let report = report.expect("the intact file imports");
    assert_no_failures(&report, "intact");
    assert_eq!((report.scanned, report.migrated), (10, 10));
    assert!(imported == all);

    // Line 5 is the fourth entry line.
    let original = String::from_utf8(lines[4].clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(&original).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut line = line.clone();
        line[field] = value;
        line.to_string().into_bytes()
    };
    let mut not_utf8 = original.clone().into_bytes();
    let at = not_utf8.len() - 10;
    not_utf8.insert(at, 0xff);
    let corruptions: [(&str, Vec<u8>, &str); 7] = [
        (
            "bad JSON",
            original.as_bytes()[..original.len() / 2].to_vec(),
            "not an entry line",
        ),
        (
            "bad base64",
            with("value", "!!not base64!!".into()),
            "not base64",
        ),
        ("bad key", with("key", "no-namespace".into()), "bad key"),
        (
            "control character in the key",
            with("key", "session:a\u{7}b".into()),
            "bad key",
        ),
        (
            "bad index key",
            with("index", serde_json::json!(["no namespace"])),
            "bad index key",
        ),
        (
            "unknown field",
            with("extra", 1.into()),
            "not an entry line",
        ),
        ("not UTF-8", not_utf8, "not an entry line"),
    ];
    let good: BTreeSet<String> = all.iter().filter(|k| **k != keys[3]).cloned().collect();
    for (what, bad_line, why) in corruptions {
        let mut corrupted = lines.clone();
        corrupted[4] = bad_line;
        let file = join(&corrupted);
        let (report, imported) = try_import(&file, false).await;
        let report = report.unwrap_or_else(|e| panic!("{what}: non-strict import failed: {e}"));
        assert_eq!(
            (report.scanned, report.migrated, report.failed),
            (10, 9, 1),
            "{what}: {report:?}"
        );
        assert_eq!(report.failures.len(), 1, "{what}");
        let (place, reason) = &report.failures[0];
        assert_eq!(place, "line 5", "{what}: {reason}");
        assert!(reason.contains(why), "{what}: {reason}");
        assert!(imported == good, "{what}: the other entries are imported");

        let (strict, imported) = try_import(&file, true).await;
        let err = strict.expect_err(what).to_string();
        assert!(err.contains("line 5"), "{what}: {err}");
        assert!(err.contains(why), "{what}: {err}");
        assert!(!imported.contains(&keys[3]), "{what}");
    }

    // Truncated: no end marker.
    let truncated = join(&lines[..11]);
    let (report, imported) = try_import(&truncated, false).await;
    let report = report.unwrap();
    assert_eq!((report.migrated, report.failed), (10, 1), "{report:?}");
    assert_eq!(report.failures[0].0, "line 11");
    assert!(report.failures[0].1.contains("truncated"), "{report:?}");
    assert!(imported == all);
    let err = try_import(&truncated, true)
        .await
        .0
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 11") && err.contains("truncated"),
        "{err}"
    );

    // Cut in the middle of line 7: a bad line, and no end marker.
    let mut cut = lines[..7].to_vec();
    let half = cut[6].len() / 2;
    cut[6].truncate(half);
    let cut = cut.join(&b'\n');
    let (report, imported) = try_import(&cut, false).await;
    let report = report.unwrap();
    assert_eq!(
        (report.scanned, report.migrated, report.failed),
        (6, 5, 2),
        "{report:?}"
    );
    assert_eq!(report.failures[0].0, "line 7");
    assert!(report.failures[0].1.contains("not an entry line"));
    assert_eq!(report.failures[1].0, "line 7");
    assert!(report.failures[1].1.contains("truncated"));
    assert_eq!(imported.len(), 5);

    // An entry line missing: the end marker's count no longer matches.
    let mut missing = lines.clone();
    missing.remove(4);
    let (report, imported) = try_import(&join(&missing), false).await;
    let report = report.unwrap();
    assert_eq!((report.migrated, report.failed), (9, 1), "{report:?}");
    assert_eq!(report.failures[0].0, "line 11");
    assert!(
        report.failures[0]
            .1
            .contains("the end marker counts 10 entries, the file has 9"),
        "{report:?}"
    );
    assert!(imported == good);

    // An end marker with the wrong count.
    let mut wrong_count = lines.clone();
    wrong_count[11] = br#"{"end":true,"entries":11}"#.to_vec();
    let file = join(&wrong_count);
    let (report, imported) = try_import(&file, false).await;
    let report = report.unwrap();
    assert_eq!((report.migrated, report.failed), (10, 1), "{report:?}");
    assert_eq!(report.failures[0].0, "line 12");
    assert!(
        report.failures[0]
            .1
            .contains("the end marker counts 11 entries, the file has 10"),
        "{report:?}"
    );
    assert!(imported == all);
    let err = try_import(&file, true).await.0.unwrap_err().to_string();
    assert!(err.contains("line 12"), "{err}");

    // Text after the end marker.
    let mut trailing = lines.clone();
    trailing.push(lines[1].clone());
    let (report, _) = try_import(&join(&trailing), false).await;
    let report = report.unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    assert_eq!(report.failures[0].0, "line 13");
    assert!(report.failures[0].1.contains("after the end marker"));

    // A bad header or an unknown format version stops the import either way.
    for (header, why) in [
        (b"not json".to_vec(), "not an authstore export header"),
        (
            String::from_utf8(lines[0].clone())
                .unwrap()
                .replace("\"authstore_export\":1", "\"authstore_export\":2")
                .into_bytes(),
            "format version 2",
        ),
    ] {
        let mut file = lines.clone();
        file[0] = header;
        for strict in [false, true] {
            let (report, imported) = try_import(&join(&file), strict).await;
            let err = report.expect_err(why).to_string();
            assert!(err.contains("line 1:") && err.contains(why), "{err}");
            assert!(imported.is_empty());
        }
    }
    let err = try_import(b"", false).await.0.unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

/// Test 7: a dry run counts and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    let prefix = unique_prefix("dry-run");
    let redis = Redis::start();
    let source = memory_store().await;
    for i in 0..2000 {
        let options = PutOptions::new()
            .ttl(Duration::from_secs(600))
            .index(format!("session-user:{}", i % 100));
        source
            .put(
                &format!("session:{i:04}"),
                format!("s{i}").as_bytes(),
                options,
            )
            .await
            .unwrap();
    }
    source
        .put("user:same", b"same", PutOptions::new())
        .await
        .unwrap();
    source
        .put("user:differs", b"ours", PutOptions::new())
        .await
        .unwrap();
    let target = redis.store(&prefix).await;
    target
        .put("user:same", b"same", PutOptions::new())
        .await
        .unwrap();
    target
        .put(
            "user:differs",
            b"theirs",
            PutOptions::new().index("user-email:x"),
        )
        .await
        .unwrap();
    let raw_before = redis.raw_keys(&prefix).await;
    let before = snapshot(target.as_ref(), true).await;
    assert_eq!(before.len(), 2);

    let dry = MigrateOptions {
        dry_run: true,
        ..MigrateOptions::default()
    };
    let report = migrate(source.as_ref(), target.as_ref(), &dry, |_| {})
        .await
        .unwrap();
    // The counts a real run would report: the conflict is a failure.
    assert_eq!(
        (
            report.scanned,
            report.migrated,
            report.unchanged,
            report.failed
        ),
        (2002, 2000, 1, 1),
        "{report:?}"
    );
    assert_eq!(report.failures[0].0, "user:differs");
    let counts = |r: &MigrateReport| (r.scanned, r.migrated, r.unchanged, r.failed);
    let mut file = Vec::new();
    export(source.as_ref(), &mut file, &dry, |_| {})
        .await
        .unwrap();
    let imported = import(
        target.as_ref(),
        &mut &file[..],
        &dry,
        ImportOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(counts(&imported), counts(&report));
    let overwrite_dry = MigrateOptions {
        overwrite: true,
        ..dry.clone()
    };
    let report = migrate(source.as_ref(), target.as_ref(), &overwrite_dry, |_| {})
        .await
        .unwrap();
    assert_no_failures(&report, "dry run with overwrite");
    assert_eq!(
        (report.scanned, report.migrated),
        (2002, 2002),
        "{report:?}"
    );

    assert_same_snapshot(
        &before,
        &snapshot(target.as_ref(), true).await,
        Duration::ZERO,
    );
    assert!(
        redis.raw_keys(&prefix).await == raw_before,
        "the dry runs wrote to Redis"
    );
    assert!(
        target
            .list_index("session-user:1")
            .await
            .unwrap()
            .is_empty()
    );

    // The same counts as the real run that follows.
    let dry_counts = counts(
        &migrate(source.as_ref(), target.as_ref(), &dry, |_| {})
            .await
            .unwrap(),
    );
    let real = migrate(
        source.as_ref(),
        target.as_ref(),
        &MigrateOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(counts(&real), dry_counts);
    assert_eq!(key_set(target.as_ref(), "session:").await.len(), 2000);

    // Into a memory store: nothing stored, no write counted.
    let memory = memory_store().await;
    let report = migrate(source.as_ref(), memory.as_ref(), &dry, |_| {})
        .await
        .unwrap();
    assert_eq!((report.migrated, report.failed), (2002, 0));
    let stats = memory.stats().await.unwrap();
    assert_eq!((stats.entries, stats.sets), (0, 0));
    redis.cleanup(&[&prefix]).await;
}
