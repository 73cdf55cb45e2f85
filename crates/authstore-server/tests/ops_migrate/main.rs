//! `authstore migrate`, `export`, `import`, `stats`, `health` and `cleanup` run as the real binary against real redis-server, PostgreSQL and SQLite stores (100,000 entries for the migrations), and their outcomes checked in the stores.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use authstore::{PutOptions, Store};
use authstore_testkit::harness::postgres::{PostgresServer, PostgresTarget};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};
use bytes::Bytes;
use serde_json::Value;

#[path = "../ops_support/mod.rs"]
mod ops_support;

mod dry_run;
mod export_import;
mod maintenance;
mod migrations;
mod redaction;

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

/// `authstore migrate --from FROM --to TO <flags>` with stdin closed.
async fn migrate_run(from: &str, to: &str, flags: &[&str]) -> Run {
    let mut args = vec!["migrate", "--from", from, "--to", to];
    args.extend_from_slice(flags);
    authstore(&args).await
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
