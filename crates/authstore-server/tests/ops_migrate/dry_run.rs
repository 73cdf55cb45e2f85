//! Dry runs, and a migration of a store onto itself: both write nothing.

use authstore::PutOptions;

use crate::{
    assert_same_entries, count, fill, migrate_run, open, redis, redis_url, snapshot, sqlite_url,
    unique, with_param, write_entry,
};

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
    migrate_run(&from_url, &to_url, &["--dry-run", "--verify"])
        .await
        .expect_code(2);
    let run = migrate_run(&from_url, &to_url, &["--dry-run", "--json"]).await;
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

    let text = migrate_run(&from_url, &to_url, &["--dry-run"]).await;
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
    let run = migrate_run(&from_url, &conflict_url, &["--dry-run", "--json"]).await;
    run.expect_code(1);
    let report = run.json();
    assert_eq!(count(&report, "failed"), 1, "{report}");
    assert_eq!(report["failures"][0]["key"], "user:000003", "{report}");
    assert!(run.stderr.contains("different value"), "{}", run.all());
    let run = migrate_run(
        &from_url,
        &conflict_url,
        &["--dry-run", "--overwrite", "--json"],
    )
    .await;
    run.expect_code(0);
    let report = run.json();
    assert_eq!(count(&report, "migrated"), ENTRIES as u64, "{report}");
    let left = snapshot(conflict.as_ref(), "").await;
    assert_eq!(left.len(), 1, "still nothing written");
    assert_eq!(left["user:000003"].value.as_ref(), b"another value");
}

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
        let run = migrate_run(from, to, &["--json"]).await;
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
    let run = migrate_run(&url, &other, &["--json"]).await;
    run.expect_code(0);
    assert_eq!(count(&run.json(), "migrated"), 100, "{}", run.all());
    let copied = snapshot(open(&other).await.as_ref(), "").await;
    assert_same_entries(&after, &copied);
}
