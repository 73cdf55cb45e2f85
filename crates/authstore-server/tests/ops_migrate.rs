//! `authstore migrate`, `export`, `import`, `stats`, `health` and `cleanup` run as the real binary against real redis-server, PostgreSQL and SQLite stores (100,000 entries for the migrations), and their outcomes checked in the stores.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use authstore::{PutOptions, Store};
use authstore_testkit::harness::Target;
use authstore_testkit::harness::postgres::{PostgresServer, PostgresTarget};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};
use bytes::Bytes;
use serde_json::Value;

mod ops_support;

/// Entries of the big migrations.
const N: usize = 100_000;
/// Of those, entries written last with a TTL of 1–1.5 s.
const SHORT: usize = 300;
/// How far a copied entry's expiry may be from the source's.
const TTL_TOLERANCE: Duration = Duration::from_secs(2);
/// Writes in flight while filling a store.
const FILL_CONCURRENCY: usize = 64;

// ---------------------------------------------------------------- stores

/// A name no other test (or test run) uses: `tag`, process id, a counter, the time.
fn unique(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{tag}_{}_{}_{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with `param` (`name=value`) added to its query.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// One PostgreSQL server for the whole file (or `DATABASE_URL`); each test takes a fresh database.
fn postgres() -> &'static PostgresTarget {
    static PG: OnceLock<PostgresTarget> = OnceLock::new();
    PG.get_or_init(|| {
        PostgresServer::builder()
            .fsync(false)
            .setting("max_connections", "300")
            .from_env_or_start()
            .expect("start PostgreSQL")
    })
}

/// The URL of a fresh, empty PostgreSQL database.
fn fresh_postgres(tag: &str) -> String {
    let url = postgres()
        .create_database(&unique(&format!("om_{tag}")))
        .expect("create database");
    with_param(&url, "pool_size=32&sweep_interval_ms=0")
}

/// A private redis-server (or `REDIS_URL`); keep the guard alive while it is used.
fn redis() -> RedisTarget {
    RedisServer::from_env_or_start().expect("start redis-server")
}

/// A URL on `redis` under a key prefix no other test uses (with a command
/// timeout that a loaded test machine does not reach).
fn redis_url(redis: &RedisTarget, tag: &str) -> String {
    with_param(
        &redis.url(),
        &format!("prefix={}:&timeout_ms=30000", unique(tag)),
    )
}

/// `sqlite:///abs/path/NAME.db` in `dir`.
fn sqlite_url(dir: &tempfile::TempDir, name: &str) -> String {
    let path = dir.path().join(format!("{name}.db"));
    assert!(path.is_absolute());
    format!("sqlite://{}?sweep_interval_ms=0", path.display())
}

async fn open(url: &str) -> Arc<dyn Store> {
    authstore::open(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

// ---------------------------------------------------------------- the binary

/// What a run of the binary printed, and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Both streams, for messages and for searching.
    fn all(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{}", self.all());
        self
    }

    /// Standard output parsed as one JSON document.
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.all()))
    }
}

/// `authstore <args>` with stdin closed (on a blocking thread).
async fn authstore(args: &[&str]) -> Run {
    authstore_env(args, &[]).await
}

async fn authstore_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = ops_support::authstore();
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || Run::of(command.output().expect("run authstore")))
        .await
        .expect("join")
}

/// `authstore <args>` started in the background.
fn spawn_authstore(args: &[&str]) -> Child {
    ops_support::authstore()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn authstore")
}

fn count(json: &Value, field: &str) -> u64 {
    json[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {field:?} in {json}"))
}

// ---------------------------------------------------------------- data

/// The bytes of a token-like binary value (not UTF-8, zeros included).
fn binary(i: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = vec![0u8, 0xff, 0xfe];
    for _ in 0..29 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out
}

/// Writes entry `i` of the standard data set, one of four kinds:
/// sessions (TTL 15 minutes to 2 hours, indexed by user), binary OAuth
/// access tokens (TTL 1–3 hours, two index keys), rate-limit counters
/// (`incr`, TTL 10–60 minutes) and users (no TTL, some indexed). No TTL is
/// short enough to run out while a test runs, however slow the machine.
async fn write_entry(store: &dyn Store, i: usize) {
    let secs = |n: u64| Duration::from_secs(n);
    let n = i as u64;
    let result = match i % 4 {
        0 => {
            let value = format!(
                "{{\"user\":\"u{}\",\"csrf\":\"c{n:x}\",\"n\":{i}}}",
                i % 997
            );
            let options = PutOptions::new()
                .ttl(secs(900 + n * 7919 % 7000))
                .index(format!("session-user:u{}", i % 997));
            store
                .put(&format!("session:{i:06}"), value.as_bytes(), options)
                .await
        }
        1 => {
            let options = PutOptions::new()
                .ttl(secs(3600 + n % 7200))
                .index(format!("oauth-client:c{}", i % 13))
                .index(format!("oauth-user:u{}", i % 997));
            store
                .put(&format!("oauth-at:{i:06}"), &binary(i), options)
                .await
        }
        2 => store
            .incr(
                &format!("ratelimit:{i:06}"),
                (n % 50) as i64 - 7,
                Some(secs(600 + n % 3000)),
            )
            .await
            .map(|_| 0),
        _ => {
            let value = format!("{{\"name\":\"user {i}\",\"hash\":\"$argon2id$v=19${n:016x}\"}}");
            let mut options = PutOptions::new();
            if i % 8 == 3 {
                options = options.index(format!("user-email:e{i}"));
            }
            store
                .put(&format!("user:{i:06}"), value.as_bytes(), options)
                .await
        }
    };
    result.unwrap_or_else(|e| panic!("write entry {i}: {e}"));
}

/// Writes short-lived entry `j`: an authorization code with 1–1.5 s to
/// live, in a namespace that sorts first, so that a key-ordered (SQL) scan
/// reaches it before it expires.
async fn write_short(store: &dyn Store, j: usize) {
    let options = PutOptions::new()
        .ttl(Duration::from_millis(1000 + (j as u64 * 7) % 500))
        .index(format!("session-user:u{}", j % 997));
    store
        .put(
            &format!("auth-code:short-{j:04}"),
            b"{\"short\":true}",
            options,
        )
        .await
        .unwrap_or_else(|e| panic!("write short entry {j}: {e}"));
}

/// Runs `f(i)` for every `i` in `range`, `concurrency` at a time.
async fn for_each<F, Fut>(range: Range<usize>, concurrency: usize, f: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(range.start));
    let f = Arc::new(f);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, f, end) = (Arc::clone(&next), Arc::clone(&f), range.end);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                f(i).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a writer panicked");
    }
}

/// Writes entries `range` of the standard data set to `store`.
async fn fill(store: &Arc<dyn Store>, range: Range<usize>) {
    let store = Arc::clone(store);
    for_each(range, FILL_CONCURRENCY, move |i| {
        let store = Arc::clone(&store);
        async move { write_entry(store.as_ref(), i).await }
    })
    .await;
}

/// Writes the short-lived entries `0..count`.
async fn fill_short(store: &Arc<dyn Store>, count: usize) {
    let store = Arc::clone(store);
    for_each(0..count, FILL_CONCURRENCY, move |j| {
        let store = Arc::clone(&store);
        async move { write_short(store.as_ref(), j).await }
    })
    .await;
}

// ---------------------------------------------------------------- comparing stores

/// One live entry as a scan saw it.
#[derive(Debug, Clone)]
struct Seen {
    value: Bytes,
    index_keys: Vec<String>,
    /// When it expires (the scan's TTL counted from when its page arrived).
    expires: Option<Instant>,
}

/// Every live entry of `store` whose key starts with `prefix`.
async fn snapshot(store: &dyn Store, prefix: &str) -> BTreeMap<String, Seen> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .scan(prefix, cursor.as_deref(), 1000)
            .await
            .expect("scan");
        let read_at = Instant::now();
        for entry in page.entries {
            let mut index_keys = entry.index_keys;
            index_keys.sort_unstable();
            all.insert(
                entry.key,
                Seen {
                    value: entry.value,
                    index_keys,
                    expires: entry.ttl.map(|ttl| read_at + ttl),
                },
            );
        }
        cursor = page.cursor;
        if cursor.is_none() {
            return all;
        }
    }
}

/// Asserts that `target` holds exactly `source`'s keys, with the same
/// bytes and index keys and an expiry within [`TTL_TOLERANCE`].
fn assert_same_entries(source: &BTreeMap<String, Seen>, target: &BTreeMap<String, Seen>) {
    let missing: Vec<&String> = source.keys().filter(|k| !target.contains_key(*k)).collect();
    let extra: Vec<&String> = target.keys().filter(|k| !source.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "key sets differ: {} missing in the target (first {:?}), {} only in the target (first {:?})",
        missing.len(),
        &missing[..missing.len().min(5)],
        extra.len(),
        &extra[..extra.len().min(5)]
    );
    for (key, s) in source {
        let t = &target[key];
        assert_eq!(s.value, t.value, "{key}: value");
        assert_eq!(s.index_keys, t.index_keys, "{key}: index keys");
        match (s.expires, t.expires) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let gap = if a > b { a - b } else { b - a };
                assert!(
                    gap <= TTL_TOLERANCE,
                    "{key}: expiries {gap:?} apart (tolerance {TTL_TOLERANCE:?})"
                );
            }
            (a, b) => panic!("{key}: only one side expires (source {a:?}, target {b:?})"),
        }
    }
}

/// Checks that `seen` is the standard data set `0..n` as [`write_entry`] wrote it.
fn assert_standard_data(seen: &BTreeMap<String, Seen>, n: usize) {
    assert_eq!(seen.len(), n, "live entries");
    for i in (0..n).step_by(997) {
        let (key, index_count, expires) = match i % 4 {
            0 => (format!("session:{i:06}"), 1, true),
            1 => (format!("oauth-at:{i:06}"), 2, true),
            2 => (format!("ratelimit:{i:06}"), 0, true),
            _ => (format!("user:{i:06}"), usize::from(i % 8 == 3), false),
        };
        let entry = seen.get(&key).unwrap_or_else(|| panic!("{key} is missing"));
        assert_eq!(entry.index_keys.len(), index_count, "{key}: index keys");
        assert_eq!(entry.expires.is_some(), expires, "{key}: TTL");
        match i % 4 {
            1 => assert_eq!(entry.value.as_ref(), binary(i).as_slice(), "{key}"),
            2 => assert_eq!(
                entry.value.as_ref(),
                ((i as i64 % 50) - 7).to_string().as_bytes(),
                "{key}: a counter reads as its decimal value"
            ),
            _ => {}
        }
    }
}

/// Per namespace (`session`, …), how many entries `seen` holds.
fn per_namespace(seen: &BTreeMap<String, Seen>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for key in seen.keys() {
        let ns = key.split_once(':').map_or("", |(ns, _)| ns);
        *out.entry(ns.to_owned()).or_default() += 1;
    }
    out
}

// ---------------------------------------------------------------- 1. migrations between backends

/// Fills `from` with [`N`] entries ([`SHORT`] of them about to expire), runs
/// `authstore migrate --from --to --verify --json`, and checks the report and
/// the target entry by entry.
async fn migrate_between(from_url: &str, to_url: &str) {
    let started = Instant::now();
    let from = open(from_url).await;
    let to = open(to_url).await;
    let long = N - SHORT;
    fill(&from, 0..long).await;
    let filled = started.elapsed();
    fill_short(&from, SHORT).await;
    let short_written = Instant::now();

    let run = authstore(&[
        "migrate", "--from", from_url, "--to", to_url, "--verify", "--json",
    ])
    .await;
    run.expect_code(0);
    let migrated_in = short_written.elapsed();
    let report = run.json();
    let (scanned, migrated, unchanged, expired, failed) = (
        count(&report, "scanned"),
        count(&report, "migrated"),
        count(&report, "unchanged"),
        count(&report, "expired"),
        count(&report, "failed"),
    );
    assert_eq!(failed, 0, "{report}");
    assert_eq!(migrated + unchanged + expired, scanned, "{report}");
    assert!(
        scanned >= long as u64 && migrated >= long as u64 && migrated <= N as u64,
        "every long-lived entry is read and copied: {report}"
    );
    assert_eq!(report["dry_run"], false);
    let verify = &report["verify"];
    assert_eq!(count(verify, "mismatched"), 0, "{verify}");
    assert!(count(verify, "checked") >= long as u64, "{verify}");
    assert_eq!(
        count(verify, "checked"),
        count(verify, "matched"),
        "{verify}"
    );

    // Let the short-lived entries expire on both sides, then compare everything.
    let settle = Duration::from_millis(2000).saturating_sub(short_written.elapsed());
    tokio::time::sleep(settle).await;
    let compare = Instant::now();
    let (source, target) = tokio::join!(snapshot(from.as_ref(), ""), snapshot(to.as_ref(), ""));
    let compare = compare.elapsed();
    assert_standard_data(&source, long);
    assert_same_entries(&source, &target);
    assert_eq!(per_namespace(&source), per_namespace(&target));

    // A copied counter is still a counter.
    let counter = to.incr("ratelimit:000002", 10, None).await.expect("incr");
    assert_eq!(
        counter.value,
        2 - 7 + 10,
        "the counter was -5 (entry 2's delta)"
    );
    assert!(counter.ttl.is_some(), "the counter kept its TTL");
    eprintln!(
        "{} -> {}: filled in {filled:?}, migrated + verified in {migrated_in:?}, compared in {compare:?}, total {:?}: {report}",
        from.backend(),
        to.backend(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_redis_to_postgres_copies_every_live_entry() {
    let redis = redis();
    migrate_between(&redis_url(&redis, "r2p"), &fresh_postgres("r2p")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_postgres_to_sqlite_copies_every_live_entry() {
    let dir = tempfile::tempdir().unwrap();
    migrate_between(&fresh_postgres("p2s"), &sqlite_url(&dir, "target")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_sqlite_to_redis_copies_every_live_entry() {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis();
    migrate_between(&sqlite_url(&dir, "source"), &redis_url(&redis, "s2r")).await;
}

// ---------------------------------------------------------------- 2. an interrupted migration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_migration_completes_when_run_again() {
    let redis = redis();
    let from_url = redis_url(&redis, "killed");
    // The target is a server of its own, so its key count (DBSIZE: entries
    // and index keys) shows how far the copy got, cheaply.
    let target_server: RedisTarget =
        Target::Private(RedisServer::start().expect("start the target redis-server"));
    let to_url = redis_url(&target_server, "killed");
    let from = open(&from_url).await;
    let to = open(&to_url).await;
    let started = Instant::now();
    fill(&from, 0..N).await;
    let filled = started.elapsed();
    let args = [
        "migrate",
        "--from",
        &from_url,
        "--to",
        &to_url,
        "--batch-size",
        "500",
        "--verify",
        "--json",
    ];

    let mut child = spawn_authstore(&args);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let keys = to.stats().await.expect("stats").entries;
        if keys >= 5_000 {
            break;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the migration ended before it could be interrupted ({keys} keys written)"
        );
        assert!(Instant::now() < deadline, "the migration made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    let killed = child.wait_with_output().expect("wait");
    assert_eq!(killed.status.code(), None, "killed by a signal");
    // Commands the server had already received may still run: wait until the count settles.
    let mut keys = to.stats().await.expect("stats").entries;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = to.stats().await.expect("stats").entries;
        if now == keys {
            break;
        }
        keys = now;
    }
    let partial = snapshot(to.as_ref(), "").await.len() as u64;
    assert!(
        partial > 0 && partial < N as u64,
        "the killed run copied some but not all entries: {partial}"
    );
    let killed_at = started.elapsed();

    let run = authstore(&args).await;
    run.expect_code(0);
    let rerun = started.elapsed();
    let report = run.json();
    let (migrated, unchanged, expired, failed) = (
        count(&report, "migrated"),
        count(&report, "unchanged"),
        count(&report, "expired"),
        count(&report, "failed"),
    );
    assert_eq!((failed, expired), (0, 0), "{report}");
    assert_eq!(migrated + unchanged, count(&report, "scanned"), "{report}");
    assert!(
        unchanged >= partial,
        "what the killed run copied is found unchanged: {report}"
    );
    assert_eq!(
        migrated,
        N as u64 - partial,
        "only the rest is written: {report}"
    );
    let verify = &report["verify"];
    assert_eq!(count(verify, "mismatched"), 0, "{verify}");
    assert_eq!(count(verify, "expiring"), 0, "{verify}");
    assert!(count(verify, "checked") >= N as u64, "{verify}");

    let (source, target) = tokio::join!(snapshot(from.as_ref(), ""), snapshot(to.as_ref(), ""));
    assert_standard_data(&source, N);
    assert_same_entries(&source, &target);
    eprintln!(
        "killed after {partial} entries; filled {filled:?}, killed at {killed_at:?}, re-run done at {rerun:?}, total {:?}: {report}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_from_the_cursor_it_printed() {
    const ENTRIES: usize = 5_000;
    let redis = redis();
    let dir = tempfile::tempdir().unwrap();
    let from_url = redis_url(&redis, "sigint");
    let to_url = sqlite_url(&dir, "sigint");
    let from = open(&from_url).await;
    let to = open(&to_url).await;
    fill(&from, 0..ENTRIES).await;

    // Small pages, one write at a time: slow enough to interrupt midway.
    let mut child = spawn_authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &to_url,
        "--batch-size",
        "100",
        "--concurrency",
        "1",
    ]);
    loop {
        if to.stats().await.expect("stats").entries >= 300 {
            break;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the migration ended before it could be interrupted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let interrupted = Run::of(child.wait_with_output().expect("wait"));
    interrupted.expect_code(1);
    let (_, rest) = interrupted
        .stderr
        .split_once("interrupted; continue with --resume-from ")
        .unwrap_or_else(|| panic!("no cursor: {}", interrupted.all()));
    let cursor = rest.split_whitespace().next().expect("a cursor");
    let partial = snapshot(to.as_ref(), "").await.len() as u64;
    assert!(partial < ENTRIES as u64, "{partial}");

    let run = authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &to_url,
        "--resume-from",
        cursor,
        "--verify",
        "--json",
    ])
    .await;
    run.expect_code(0);
    let report = run.json();
    let (scanned, migrated, unchanged) = (
        count(&report, "scanned"),
        count(&report, "migrated"),
        count(&report, "unchanged"),
    );
    assert!(
        scanned < ENTRIES as u64,
        "the scan resumed, not restarted: {report}"
    );
    assert_eq!(migrated + unchanged, scanned, "{report}");
    assert_eq!(migrated, ENTRIES as u64 - partial, "{report}");
    assert_eq!(count(&report["verify"], "mismatched"), 0, "{report}");
    assert_eq!(
        count(&report["verify"], "checked"),
        ENTRIES as u64,
        "{report}"
    );
    let source = snapshot(from.as_ref(), "").await;
    assert_same_entries(&source, &snapshot(to.as_ref(), "").await);

    let bad = authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &to_url,
        "--resume-from",
        "not-a-cursor",
    ])
    .await;
    bad.expect_code(2);
    assert!(bad.stderr.contains("cursor"), "{}", bad.all());
}

// ---------------------------------------------------------------- 3. dry run

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_and_writes_nothing() {
    const ENTRIES: usize = 2_000;
    const PRESENT: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let redis = redis();
    let from_url = sqlite_url(&dir, "source");
    let to_url = redis_url(&redis, "dry");
    let from = open(&from_url).await;
    let to = open(&to_url).await;
    fill(&from, 0..ENTRIES).await;
    // The target already holds a few of them, identical.
    for i in (0..ENTRIES).step_by(ENTRIES / PRESENT) {
        write_entry(to.as_ref(), i).await;
    }
    let before = snapshot(to.as_ref(), "").await;
    assert_eq!(before.len(), PRESENT);
    // On a private server, the whole database's key count (entries and indexes).
    let keys_before = to.stats().await.expect("stats").entries;

    // A dry run writes nothing to verify: asking for both is a usage error.
    authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &to_url,
        "--dry-run",
        "--verify",
    ])
    .await
    .expect_code(2);
    let run = authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &to_url,
        "--dry-run",
        "--json",
    ])
    .await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["dry_run"], true, "{report}");
    assert_eq!(count(&report, "scanned"), ENTRIES as u64, "{report}");
    assert_eq!(
        count(&report, "migrated"),
        (ENTRIES - PRESENT) as u64,
        "{report}"
    );
    assert_eq!(count(&report, "unchanged"), PRESENT as u64, "{report}");
    assert_eq!(
        (count(&report, "failed"), count(&report, "expired")),
        (0, 0),
        "{report}"
    );
    assert!(
        report.get("verify").is_none(),
        "a dry run has nothing to verify: {report}"
    );
    assert!(run.stderr.contains("dry run"), "{}", run.all());

    let text = authstore(&["migrate", "--from", &from_url, "--to", &to_url, "--dry-run"]).await;
    text.expect_code(0);
    assert!(
        text.stdout
            .contains(&format!("dry run: migrated {}", ENTRIES - PRESENT)),
        "{}",
        text.all()
    );

    let after = snapshot(to.as_ref(), "").await;
    assert_same_entries(&before, &after);
    assert_eq!(after.len(), PRESENT, "the dry run wrote nothing");
    if !redis.is_external() {
        let keys_after = to.stats().await.expect("stats").entries;
        assert_eq!(
            keys_after, keys_before,
            "no key was added to the Redis database"
        );
    }

    // An entry the target holds with another value: the dry run reports the
    // conflict the real run would (exit status 1), unless --overwrite.
    let conflict_url = redis_url(&redis, "dry-conflict");
    let conflict = open(&conflict_url).await;
    conflict
        .put("user:000003", b"another value", PutOptions::new())
        .await
        .unwrap();
    let run = authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &conflict_url,
        "--dry-run",
        "--json",
    ])
    .await;
    run.expect_code(1);
    let report = run.json();
    assert_eq!(count(&report, "failed"), 1, "{report}");
    assert_eq!(report["failures"][0]["key"], "user:000003", "{report}");
    assert!(run.stderr.contains("different value"), "{}", run.all());
    let run = authstore(&[
        "migrate",
        "--from",
        &from_url,
        "--to",
        &conflict_url,
        "--dry-run",
        "--overwrite",
        "--json",
    ])
    .await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(count(&report, "migrated"), ENTRIES as u64, "{report}");
    let left = snapshot(conflict.as_ref(), "").await;
    assert_eq!(left.len(), 1, "still nothing written");
    assert_eq!(left["user:000003"].value.as_ref(), b"another value");
}

// ---------------------------------------------------------------- 4. a store onto itself

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_store_onto_itself_is_refused() {
    let redis = redis();
    let base = redis.url();
    let prefix = format!("{}:", unique("self"));
    let url = with_param(&base, &format!("prefix={prefix}"));
    let store = open(&url).await;
    fill(&store, 0..100).await;
    let with_password = |pw: &str| {
        base.replacen("redis://", &format!("redis://:{pw}@"), 1)
            .replacen("rediss://", &format!("rediss://:{pw}@"), 1)
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_url(&dir, "same");
    let sqlite_path = sqlite.trim_start_matches("sqlite://").to_owned();
    let same = [
        (url.clone(), url.clone()),
        (
            format!("{base}/0?prefix={prefix}&timeout_ms=1500"),
            format!("{base}/0?timeout_ms=1500&prefix={prefix}"),
        ),
        (
            format!("{}/0?prefix={prefix}", with_password("first-pw")),
            format!("{}/0?prefix={prefix}", with_password("second-pw")),
        ),
        (
            "redis://127.0.0.1:6379/0".to_owned(),
            "redis://127.0.0.1/0".to_owned(),
        ),
        (sqlite.clone(), format!("sqlite:{sqlite_path}")),
        (
            "postgresql://app:first-pw@db.invalid/auth?sslmode=disable".to_owned(),
            "postgres://app:second-pw@db.invalid:5432/auth?sslmode=disable".to_owned(),
        ),
    ];
    for (from, to) in &same {
        let run = authstore(&["migrate", "--from", from, "--to", to, "--json"]).await;
        run.expect_code(2);
        assert!(
            run.stderr.contains("onto itself"),
            "{from} -> {to}: {}",
            run.all()
        );
        assert!(
            !run.all().contains("first-pw") && !run.all().contains("second-pw"),
            "{}",
            run.all()
        );
    }
    let after = snapshot(store.as_ref(), "").await;
    assert_eq!(after.len(), 100, "nothing was written");

    // Another prefix on the same server is another store.
    let other = with_param(&base, &format!("prefix={}:", unique("other")));
    let run = authstore(&["migrate", "--from", &url, "--to", &other, "--json"]).await;
    run.expect_code(0);
    assert_eq!(count(&run.json(), "migrated"), 100, "{}", run.all());
    let copied = snapshot(open(&other).await.as_ref(), "").await;
    assert_same_entries(&after, &copied);
}

// ---------------------------------------------------------------- 5. passwords are never printed

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_in_urls_are_redacted_in_all_output() {
    const PW: &str = "s3cret-pw";
    const PG_PW: &str = "pg-s3cret-pw";
    // An ACL user with a password. (`--requirepass` would also lock the
    // harness's readiness check, an unauthenticated PING, out of the server.)
    let server = RedisServer::builder()
        .args([
            "--user",
            "app",
            "on",
            &format!(">{PW}"),
            "~*",
            "&*",
            "+@all",
        ])
        .start()
        .expect("start redis-server with a password");
    let redis_base = format!("redis://app:{PW}@127.0.0.1:{}", server.port());
    let redis_url = with_param(&redis_base, &format!("prefix={}:", unique("pw")));
    let store = open(&redis_url).await;
    fill(&store, 0..500).await;
    // The harness's PostgreSQL trusts every connection: any password is accepted.
    let (pg_url, pg_secret) = match postgres() {
        PostgresTarget::Private(_) => (
            fresh_postgres("pw").replacen(
                "postgres://postgres@",
                &format!("postgres://postgres:{PG_PW}@"),
                1,
            ),
            Some(PG_PW),
        ),
        PostgresTarget::External { .. } => (fresh_postgres("pw"), None),
    };
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl.zst");
    let export = export.to_str().unwrap();
    let closed = authstore_testkit::harness::free_port().unwrap();
    let closed_url = format!("redis://app:{PW}@127.0.0.1:{closed}/0");
    let wrong_pw = format!("redis://app:wrong-pw@127.0.0.1:{}/0", server.port());
    // PostgreSQL also takes the password as a query parameter.
    const QUERY_PW: &str = "q-s3cret-pw";
    let pg_query = matches!(postgres(), PostgresTarget::Private(_))
        .then(|| with_param(&fresh_postgres("pwq"), &format!("password={QUERY_PW}")));
    let closed_pg = format!(
        "postgres://postgres:{PG_PW}@127.0.0.1:{}/x",
        authstore_testkit::harness::free_port().unwrap()
    );

    // Each run: its arguments, its exit status, and whether it prints a URL
    // with a password (which must then show as `***`).
    let pg_named = pg_secret.is_some();
    let mut runs: Vec<(Vec<&str>, i32, bool)> = vec![
        (
            vec!["migrate", "--from", &redis_url, "--to", &pg_url, "--verify"],
            0,
            true,
        ),
        (
            vec![
                "migrate", "--from", &redis_url, "--to", &pg_url, "--verify", "--json",
            ],
            0,
            true,
        ),
        (
            vec![
                "migrate",
                "--from",
                &redis_url,
                "--to",
                &pg_url,
                "--dry-run",
            ],
            0,
            true,
        ),
        (
            vec!["migrate", "--from", &redis_url, "--to", &closed_url],
            1,
            true,
        ),
        (
            vec!["migrate", "--from", &redis_url, "--to", &redis_url],
            2,
            true,
        ),
        (vec!["stats", "--store", &redis_url], 0, true),
        (vec!["stats", "--store", &redis_url, "--json"], 0, true),
        (vec!["stats", "--store", &pg_url], 0, pg_named),
        (vec!["health", "--store", &redis_url], 0, true),
        (vec!["health", "--store", &redis_url, "--json"], 0, true),
        (vec!["health", "--store", &pg_url, "--json"], 0, pg_named),
        (vec!["health", "--store", &closed_url], 1, true),
        (vec!["health", "--store", &wrong_pw], 1, true),
        (
            vec!["export", "--store", &redis_url, "--out", export],
            0,
            true,
        ),
        (
            vec!["import", "--store", &pg_url, "--in", export],
            0,
            pg_named,
        ),
        (
            vec!["import", "--store", &pg_url, "--in", export, "--json"],
            0,
            false,
        ),
        (vec!["cleanup", "--store", &pg_url], 0, pg_named),
        (vec!["cleanup", "--store", &redis_url], 0, true),
        (vec!["health", "--store", &closed_pg], 1, true),
    ];
    if let Some(pg_query) = &pg_query {
        runs.extend([
            (vec!["stats", "--store", pg_query], 0, true),
            (vec!["health", "--store", pg_query, "--json"], 0, true),
            (
                vec![
                    "migrate",
                    "--from",
                    &redis_url,
                    "--to",
                    pg_query,
                    "--dry-run",
                ],
                0,
                true,
            ),
        ]);
    }
    for (args, code, names_url) in &runs {
        for env in [&[][..], &[("RUST_LOG", "debug")][..]] {
            let run = authstore_env(args, env).await;
            let all = run.all();
            assert_eq!(run.code, Some(*code), "{args:?} {env:?}: {all}");
            for secret in [Some(PW), pg_secret, Some("wrong-pw"), Some(QUERY_PW)]
                .into_iter()
                .flatten()
            {
                assert!(
                    !all.contains(secret),
                    "{args:?} {env:?} printed {secret:?}: {all}"
                );
            }
            if *names_url {
                assert!(
                    all.contains("***"),
                    "{args:?} {env:?} shows the redacted URL: {all}"
                );
            }
        }
    }
    // The runs did their work: the target holds the source's entries.
    let source = snapshot(store.as_ref(), "").await;
    let target = snapshot(open(&pg_url).await.as_ref(), "").await;
    assert_eq!(source.len(), 500);
    assert_same_entries(&source, &target);
}

// ---------------------------------------------------------------- 6. export and import

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_and_bad_lines_are_named() {
    const ENTRIES: usize = 5_000;
    let redis = redis();
    let dir = tempfile::tempdir().unwrap();
    let from_url = redis_url(&redis, "export");
    let from = open(&from_url).await;
    fill(&from, 0..ENTRIES).await;
    let plain = dir.path().join("export.jsonl");
    let packed = dir.path().join("export.jsonl.zst");
    for file in [&plain, &packed] {
        let file = file.to_str().unwrap();
        let run = authstore(&["export", "--store", &from_url, "--out", file]).await;
        run.expect_code(0);
        assert!(
            run.stdout.contains(&format!("exported {ENTRIES} entries")),
            "{}",
            run.all()
        );
    }
    let plain_text = std::fs::read_to_string(&plain).unwrap();
    let lines: Vec<&str> = plain_text.lines().collect();
    assert_eq!(lines.len(), ENTRIES + 2, "header, entries, end marker");
    assert!(
        lines[0].starts_with("{\"authstore_export\":1"),
        "{}",
        lines[0]
    );
    let end: Value = serde_json::from_str(lines[ENTRIES + 1]).unwrap();
    assert_eq!(
        (end["end"].as_bool(), end["entries"].as_u64()),
        (Some(true), Some(ENTRIES as u64))
    );
    let zst = std::fs::read(&packed).unwrap();
    assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    assert!(zst.len() < plain_text.len() / 2, "compressed");

    let source = snapshot(from.as_ref(), "").await;
    assert_standard_data(&source, ENTRIES);
    let targets = [
        (plain.to_str().unwrap(), sqlite_url(&dir, "from-plain")),
        (packed.to_str().unwrap(), fresh_postgres("import")),
    ];
    for (file, url) in &targets {
        let run = authstore(&["import", "--store", url, "--in", file, "--json"]).await;
        run.expect_code(0);
        let report = run.json();
        assert_eq!(count(&report, "scanned"), ENTRIES as u64, "{report}");
        assert_eq!(count(&report, "migrated"), ENTRIES as u64, "{report}");
        assert_eq!(count(&report, "failed"), 0, "{report}");
        let imported = snapshot(open(url).await.as_ref(), "").await;
        assert_same_entries(&source, &imported);

        // Importing again changes nothing.
        let again = authstore(&["import", "--store", url, "--in", file, "--json"]).await;
        again.expect_code(0);
        let report = again.json();
        assert_eq!(
            (count(&report, "unchanged"), count(&report, "migrated")),
            (ENTRIES as u64, 0),
            "{report}"
        );
        // And migrate --verify agrees.
        let check = authstore(&[
            "migrate", "--from", &from_url, "--to", url, "--verify", "--json",
        ])
        .await;
        check.expect_code(0);
        assert_eq!(
            count(&check.json()["verify"], "mismatched"),
            0,
            "{}",
            check.all()
        );
    }

    // A full disk fails the export (exit status 1), compressed or not.
    if std::path::Path::new("/dev/full").exists() {
        for name in ["full.jsonl", "full.jsonl.zst"] {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink("/dev/full", &link).unwrap();
            let run = authstore(&[
                "export",
                "--store",
                &from_url,
                "--out",
                link.to_str().unwrap(),
            ])
            .await;
            run.expect_code(1);
            assert!(run.stderr.contains("No space left"), "{}", run.all());
            assert!(!run.stdout.contains("exported"), "{}", run.all());
        }
    }

    // One corrupt line: named, skipped and counted; with --strict, the import stops.
    const BAD: usize = 42;
    let mut corrupt: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    corrupt[BAD - 1] = corrupt[BAD - 1][..corrupt[BAD - 1].len() / 2].to_owned();
    let bad_file = dir.path().join("corrupt.jsonl");
    std::fs::write(&bad_file, corrupt.join("\n") + "\n").unwrap();
    let bad_file = bad_file.to_str().unwrap();
    let lenient_url = sqlite_url(&dir, "lenient");
    let run = authstore(&["import", "--store", &lenient_url, "--in", bad_file]).await;
    run.expect_code(1);
    assert!(run.stderr.contains(&format!("line {BAD}")), "{}", run.all());
    let imported = snapshot(open(&lenient_url).await.as_ref(), "").await;
    assert_eq!(imported.len(), ENTRIES - 1, "every other line is imported");

    let strict_url = sqlite_url(&dir, "strict");
    let run = authstore(&[
        "import",
        "--store",
        &strict_url,
        "--in",
        bad_file,
        "--strict",
        "--json",
    ])
    .await;
    run.expect_code(1);
    assert!(run.stderr.contains(&format!("line {BAD}")), "{}", run.all());
    let imported = snapshot(open(&strict_url).await.as_ref(), "").await;
    assert!(
        imported.len() < ENTRIES - 1,
        "the strict import stopped: {}",
        imported.len()
    );
}

// ---------------------------------------------------------------- 7. stats, health, cleanup

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counts_namespaces_and_health_reports_the_store() {
    const ENTRIES: usize = 1_203;
    let redis = redis();
    let dir = tempfile::tempdir().unwrap();
    for url in [redis_url(&redis, "stats"), sqlite_url(&dir, "stats")] {
        let store = open(&url).await;
        fill(&store, 0..ENTRIES).await;
        let run = authstore(&["stats", "--store", &url, "--json"]).await;
        run.expect_code(0);
        let stats = run.json();
        assert_eq!(count(&stats, "live_entries"), ENTRIES as u64, "{stats}");
        let ns = &stats["namespaces"];
        let expected = [
            ("session", ENTRIES.div_ceil(4), true),
            ("oauth-at", (ENTRIES + 2) / 4, true),
            ("ratelimit", (ENTRIES + 1) / 4, true),
            ("user", ENTRIES / 4, false),
        ];
        let mut names: Vec<&str> = ns.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["oauth-at", "ratelimit", "session", "user"],
            "{stats}"
        );
        for (name, entries, expiring) in expected {
            assert_eq!(
                count(&ns[name], "entries"),
                entries as u64,
                "{name}: {stats}"
            );
            let with_ttl = if expiring { entries as u64 } else { 0 };
            assert_eq!(count(&ns[name], "with_ttl"), with_ttl, "{name}: {stats}");
            assert!(count(&ns[name], "bytes") > 0);
        }
        let text = authstore(&["stats", "--store", &url]).await;
        text.expect_code(0);
        assert!(
            text.stdout.contains(&format!("live entries {ENTRIES}")),
            "{}",
            text.all()
        );

        let health = authstore(&["health", "--store", &url, "--json"]).await;
        health.expect_code(0);
        let json = health.json();
        assert_eq!(json["ok"], true, "{json}");
        let latency = json["latency_ms"].as_f64().expect("latency_ms");
        assert!(latency > 0.0 && latency < 5_000.0, "{json}");
        let text = authstore(&["health", "--store", &url]).await;
        text.expect_code(0);
        assert!(
            text.stdout.starts_with("ok ") && text.stdout.contains(" ms"),
            "{}",
            text.all()
        );
    }

    let closed = authstore_testkit::harness::free_port().unwrap();
    let down = format!("redis://127.0.0.1:{closed}");
    let started = Instant::now();
    let run = authstore(&["health", "--store", &down]).await;
    run.expect_code(1);
    assert!(
        run.all().contains(&format!("127.0.0.1:{closed}")),
        "{}",
        run.all()
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_purges_the_expired_entries_and_says_how_many() {
    const EXPIRED: usize = 37;
    const LIVE: usize = 25;
    const FOREVER: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "cleanup");
    let store = open(&url).await;
    for i in 0..LIVE {
        let options = PutOptions::new().ttl(Duration::from_secs(3600));
        store
            .put(&format!("session:live-{i}"), b"live", options)
            .await
            .unwrap();
    }
    for i in 0..FOREVER {
        store
            .put(&format!("user:{i}"), b"user", PutOptions::new())
            .await
            .unwrap();
    }
    for i in 0..EXPIRED {
        let mut options = PutOptions::new().ttl(Duration::from_secs(1));
        if i % 3 == 0 {
            options = options.index(format!("session-user:u{i}"));
        }
        store
            .put(&format!("session:old-{i}"), b"old", options)
            .await
            .unwrap();
    }
    // The SQLite store judges expiry by the system clock, in another process: wait for real.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = store.stats().await.unwrap().entries;
    assert_eq!(before, (EXPIRED + LIVE + FOREVER) as u64, "not purged yet");

    let run = authstore(&["cleanup", "--store", &url, "--batch-size", "10"]).await;
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(&format!("purged {EXPIRED} ")),
        "{}",
        run.all()
    );
    let again = authstore(&["cleanup", "--store", &url]).await;
    again.expect_code(0);
    assert!(again.stdout.starts_with("purged 0 "), "{}", again.all());

    assert_eq!(
        store.stats().await.unwrap().entries,
        (LIVE + FOREVER) as u64
    );
    let left = snapshot(store.as_ref(), "").await;
    assert_eq!(left.len(), LIVE + FOREVER);
    assert!(left.keys().all(|k| !k.starts_with("session:old-")));
}
