//! What is gone at the source is not revived; what the target holds differently is reported, not overwritten.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use authstore::PutOptions;
use authstore::migrate::{ImportOptions, MigrateOptions, export, import};

use crate::{
    Redis, assert_exact, assert_no_failures, key_set, memory_store, run_migrate, run_verify,
    ttl_close, unique_prefix,
};

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
    let first = run_migrate(source.as_ref(), first_target.as_ref(), &options).await;
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
    let second = run_migrate(source.as_ref(), second_target.as_ref(), &options).await;
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
    let rerun = run_migrate(source.as_ref(), first_target.as_ref(), &options).await;
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
    let report = run_migrate(source.as_ref(), target.as_ref(), &options).await;
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
    let verified = run_verify(source.as_ref(), target.as_ref(), &options).await;
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
    let report = run_migrate(source.as_ref(), target.as_ref(), &overwrite).await;
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
        &run_verify(source.as_ref(), target.as_ref(), &options).await,
        "after overwrite",
    );
    redis.cleanup(&[&prefix_1, &prefix_2, &prefix_3]).await;
}
