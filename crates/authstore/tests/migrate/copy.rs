//! A memory store of 100,000 entries of several kinds copied to Redis and verified.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant, SystemTime};

use authstore::PutOptions;
use authstore::migrate::{MigrateOptions, migrate, verify};

use crate::{
    N, Redis, assert_exact, assert_no_failures, key_set, memory_store, populate, run_migrate,
    scan_all, ttl_close, unique_prefix,
};

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
    let late = run_migrate(source.as_ref(), target.as_ref(), &late_options).await;
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
