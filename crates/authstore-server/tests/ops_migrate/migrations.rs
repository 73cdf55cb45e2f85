//! `authstore migrate` between Redis, PostgreSQL and SQLite, and migrations killed or interrupted and run again.

use std::time::{Duration, Instant};

use authstore_testkit::harness::Target;
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

use crate::{
    N, Run, SHORT, assert_same_entries, assert_standard_data, authstore, count, fill, fill_short,
    fresh_postgres, migrate_run, open, per_namespace, redis, redis_url, snapshot, spawn_authstore,
    sqlite_url,
};

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

    let run = migrate_run(from_url, to_url, &["--verify", "--json"]).await;
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
        from.capabilities().name,
        to.capabilities().name,
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

    let run = migrate_run(
        &from_url,
        &to_url,
        &["--resume-from", cursor, "--verify", "--json"],
    )
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

    let bad = migrate_run(&from_url, &to_url, &["--resume-from", "not-a-cursor"]).await;
    bad.expect_code(2);
    assert!(bad.stderr.contains("cursor"), "{}", bad.all());
}
