//! Runs that must not write: the source of migrate, verify and export, and every dry run.

use std::time::Duration;

use authstore::PutOptions;
use authstore::migrate::{ImportOptions, MigrateOptions, MigrateReport, export, import, migrate};

use crate::{
    Redis, assert_exact, assert_no_failures, assert_same_snapshot, key_set, memory_store,
    run_migrate, run_verify, snapshot, unique_prefix,
};

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
    let report = run_migrate(source.as_ref(), target.as_ref(), &dry).await;
    assert_eq!((report.scanned, report.migrated), (3200, 3200));
    for run in [&options, &options, &overwrite, &small_pages] {
        let report = run_migrate(source.as_ref(), target.as_ref(), run).await;
        assert_no_failures(&report, "migrate");
        assert_eq!(report.scanned, 3200);
        assert_exact(
            &run_verify(source.as_ref(), target.as_ref(), run).await,
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
    let report = run_migrate(source.as_ref(), target.as_ref(), &dry).await;
    assert!(report.migrated >= 2100, "{report:?}");
    assert_eq!(target.stats().await.unwrap().sets, 0, "the dry run wrote");
    for run in [&options, &options, &overwrite, &small_pages] {
        let report = run_migrate(source.as_ref(), target.as_ref(), run).await;
        assert_no_failures(&report, "migrate");
        assert!(report.scanned >= 2100, "{report:?}");
        assert_exact(
            &run_verify(source.as_ref(), target.as_ref(), run).await,
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
    let report = run_migrate(source.as_ref(), target.as_ref(), &dry).await;
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
    let report = run_migrate(source.as_ref(), target.as_ref(), &overwrite_dry).await;
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
    let dry_counts = counts(&run_migrate(source.as_ref(), target.as_ref(), &dry).await);
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
    let report = run_migrate(source.as_ref(), memory.as_ref(), &dry).await;
    assert_eq!((report.migrated, report.failed), (2002, 0));
    let stats = memory.stats().await.unwrap();
    assert_eq!((stats.entries, stats.sets), (0, 0));
    redis.cleanup(&[&prefix]).await;
}
