//! `cargo bench -p authstore --features redis,postgres --bench migrate`:
//! migration throughput (entries/s) of `authstore::migrate::migrate`, memory → Redis and Redis → PostgreSQL.
//!
//! One run:
//! 1. starts a private `redis-server` and PostgreSQL (testkit harness;
//!    `REDIS_URL` / `DATABASE_URL` name external ones instead), each store
//!    under a fresh key prefix;
//! 2. fills a memory store with `AUTHSTORE_BENCH_ENTRIES` entries (default
//!    1,000,000): 40% sessions of ~200 bytes with a 1 h TTL, each listed
//!    under one of 10,000 `session-user:` index keys; 30% access-token
//!    records (~150 bytes, 1 h TTL, each under one of 50,000 grant index
//!    keys); 20% rate-limit counters (written with `incr`, 10 min TTL); 10%
//!    user records (~120 bytes, no TTL);
//! 3. migrates memory → Redis with `MigrateOptions::default()` (batch 1,000,
//!    16 `put_many` batches in flight), then Redis → PostgreSQL (the same options,
//!    PostgreSQL pool of 16), timing each migration alone, and checks the
//!    counts (every entry migrated, none failed);
//! 4. runs `verify` on both (not timed) and requires it to be exact;
//! 5. prints entries/s against the target (≥ 50,000 entries/s into Redis).
//!
//! `AUTHSTORE_BENCH_CONCURRENCY=N` changes the 16. Under `cargo test
//! --benches` (no `--bench`) it runs on 2,000 entries and the figures are
//! not measurements. See `docs/BENCHMARKS.md` ("Migration throughput").

use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::migrate::{MigrateOptions, MigrateReport, migrate, verify};
use authstore::{PutOptions, Store};
use authstore_testkit::harness::postgres::PostgresServer;
use authstore_testkit::harness::redis::RedisServer;
use futures::StreamExt as _;

/// Target rate into Redis, entries/s.
const TARGET_INTO_REDIS: f64 = 50_000.0;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The i-th entry: key, value, options (and whether it is a counter).
fn entry(i: usize) -> (String, Vec<u8>, PutOptions, bool) {
    let hour = Duration::from_secs(3600);
    match i % 10 {
        0..=3 => (
            format!("session:{i:016x}{:048x}", i * 7919),
            format!(
                r#"{{"user":{{"id":"u-{}","roles":["reader"]}},"data":{{"csrf":"{:064x}","theme":"dark"}},"created":{i}}}"#,
                i % 10_000,
                i * 31
            )
            .into_bytes(),
            PutOptions::new()
                .ttl(hour)
                .index(format!("session-user:u-{}", i % 10_000)),
            false,
        ),
        4..=6 => (
            format!("oauth-at:{:064x}", i * 104_729),
            format!(
                r#"{{"grant_id":"g-{}","client_id":"c-1","subject":"u-{}","scope":["read"],"issued_at":{i},"expires_at":{}}}"#,
                i % 50_000,
                i % 10_000,
                i + 3_600_000
            )
            .into_bytes(),
            PutOptions::new()
                .ttl(hour)
                .index(format!("oauth-grant-ix:g-{}", i % 50_000)),
            false,
        ),
        7 | 8 => (
            format!("rl:login:{i:012}"),
            Vec::new(),
            PutOptions::new().ttl(Duration::from_secs(600)),
            true,
        ),
        _ => (
            format!("user:u-{i}"),
            format!(r#"{{"id":"u-{i}","name":"user {i}","email":"u{i}@example.com"}}"#)
                .into_bytes(),
            PutOptions::new(),
            false,
        ),
    }
}

async fn fill(store: &dyn Store, n: usize) {
    futures::stream::iter(0..n)
        .map(|i| async move {
            let (key, value, options, counter) = entry(i);
            if counter {
                store
                    .incr(&key, (i % 50) as i64 + 1, options.ttl)
                    .await
                    .map(|_| ())
            } else {
                store.put(&key, &value, options).await.map(|_| ())
            }
        })
        .buffer_unordered(64)
        .for_each(|r| {
            r.expect("fill the source");
            async {}
        })
        .await;
}

struct Case {
    name: &'static str,
    report: MigrateReport,
}

async fn run_case(
    name: &'static str,
    from: &dyn Store,
    to: &dyn Store,
    options: &MigrateOptions,
    n: usize,
) -> Case {
    let started = Instant::now();
    let report = migrate(from, to, options, |_| {})
        .await
        .expect("migration runs");
    let elapsed = started.elapsed();
    assert_eq!(report.scanned, n as u64, "{name}: every entry read");
    assert_eq!(
        (report.migrated, report.failed),
        (n as u64, 0),
        "{name}: every entry migrated: {:?}",
        report.failures.first()
    );
    let checked = verify(from, to, options, |_| {})
        .await
        .expect("verify runs");
    assert!(
        checked.is_exact(),
        "{name}: verify found {:?}",
        checked.mismatches.first()
    );
    println!(
        "{name}: {n} entries in {:.2} s = {:.0} entries/s (verify: {} identical, {:.2} s)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        checked.matched,
        checked.elapsed.as_secs_f64()
    );
    Case {
        name,
        report: MigrateReport { elapsed, ..report },
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benchmarking = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let n = if benchmarking {
        env_number("AUTHSTORE_BENCH_ENTRIES", 1_000_000)
    } else {
        println!("test mode (no --bench): 2,000 entries, figures below are not measurements");
        2_000
    };
    let options = MigrateOptions {
        concurrency: env_number(
            "AUTHSTORE_BENCH_CONCURRENCY",
            MigrateOptions::default().concurrency,
        ),
        ..MigrateOptions::default()
    };
    let redis = RedisServer::from_env_or_start().expect("redis-server");
    let postgres = PostgresServer::from_env_or_start().expect("PostgreSQL");
    let prefix = format!("bench{}", std::process::id());
    let memory: Arc<dyn Store> = authstore::open("memory://").await.expect("memory");
    let redis_store = authstore::open(&format!("{}?prefix={prefix}:", redis.url()))
        .await
        .expect("redis store");
    let pg_url = postgres.url();
    let sep = if pg_url.contains('?') { '&' } else { '?' };
    let pg_store = authstore::open(&format!("{pg_url}{sep}prefix={prefix}:&pool_size=16"))
        .await
        .expect("postgres store");

    let filling = Instant::now();
    fill(memory.as_ref(), n).await;
    println!(
        "filled the memory store with {n} entries in {:.2} s",
        filling.elapsed().as_secs_f64()
    );
    println!(
        "options: batch {}, {} put_many batches in flight; 2 cores shared by this process, redis-server and PostgreSQL",
        options.batch_size, options.concurrency
    );
    let cases = [
        run_case(
            "memory -> redis",
            memory.as_ref(),
            redis_store.as_ref(),
            &options,
            n,
        )
        .await,
        run_case(
            "redis -> postgres",
            redis_store.as_ref(),
            pg_store.as_ref(),
            &options,
            n,
        )
        .await,
    ];
    println!();
    println!("| migration | entries | seconds | entries/s | target |");
    println!("|---|---:|---:|---:|---|");
    for case in &cases {
        let rate = case.report.scanned as f64 / case.report.elapsed.as_secs_f64();
        let target = if case.name.ends_with("redis") {
            if rate >= TARGET_INTO_REDIS {
                "≥ 50,000/s: met".to_owned()
            } else {
                format!(
                    "≥ 50,000/s: MISSED by {:.0}%",
                    (1.0 - rate / TARGET_INTO_REDIS) * 100.0
                )
            }
        } else {
            "–".to_owned()
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {target} |",
            case.name,
            case.report.scanned,
            case.report.elapsed.as_secs_f64(),
            rate
        );
    }
    drop((redis_store, pg_store));
    drop((redis, postgres));
}
