//! SqliteStore on a real file: durability across drop and reopen, races
//! between two connections, concurrent migration, the sweeper, URLs.
#![cfg(feature = "sqlite")]

use std::time::Duration;

use authstore::{FakeClock, PutOptions, SqliteStore, Store};
use authstore_testkit::persistence;

async fn open(path: &std::path::Path, clock: &FakeClock) -> SqliteStore {
    SqliteStore::builder()
        .path(path)
        .clock(clock.clone())
        .sweep_interval(None)
        .connect()
        .await
        .expect("open SQLite file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_entries_survive_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.db");
    let clock = FakeClock::new();
    let before = open(&path, &clock).await;
    let written = persistence::fill(&before, 10_000).await;
    drop(before);
    let after = open(&path, &clock).await;
    persistence::verify(&after, &written).await;
    assert_eq!(after.stats().await.unwrap().entries, 10_000);
    assert_eq!(after.migrate().await.unwrap(), 0, "already migrated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connections_on_one_file_race_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let clock = FakeClock::new();
    let (a, b) = tokio::join!(open(&path, &clock), open(&path, &clock));
    persistence::two_stores_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_opening_a_new_file_at_once_all_open() {
    // Each opener switches the new file to WAL and migrates it; SQLite may
    // refuse one of two simultaneous switches at once rather than wait.
    for round in 0..25 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let clock = FakeClock::new();
        let opened = futures::future::join_all((0..4).map(|_| {
            SqliteStore::builder()
                .path(&path)
                .clock(clock.clone())
                .sweep_interval(None)
                .connect()
        }))
        .await;
        for (i, store) in opened.into_iter().enumerate() {
            let store = store.unwrap_or_else(|e| panic!("round {round}: opener {i}: {e}"));
            let key = format!("k:{i}");
            store.put(&key, b"v", PutOptions::new()).await.unwrap();
            assert!(store.exists(&key).await.unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_expired_rows_in_batches() {
    let clock = FakeClock::new();
    let s = SqliteStore::builder()
        .in_memory()
        .clock(clock.clone())
        .sweep_interval(Some(Duration::from_millis(20)))
        .sweep_batch(7)
        .connect()
        .await
        .unwrap();
    persistence::sweeper_removes_expired_rows(&s, &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_by_url_with_table_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?table_prefix=app_",
        dir.path().join("u.db").display()
    );
    let store = authstore::open(&url).await.expect("open sqlite:// URL");
    let caps = store.capabilities();
    assert_eq!((caps.name, caps.durable), ("sqlite", true));
    store.put("t:k", b"v", PutOptions::new()).await.unwrap();
    let same = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(same.entries_table(), "app_entries");
    assert_eq!(&same.get("t:k").await.unwrap().unwrap().value[..], b"v");
    let other_tables = SqliteStore::connect(&url.replace("app_", "other_"))
        .await
        .unwrap();
    assert!(other_tables.get("t:k").await.unwrap().is_none());
    let memory = authstore::open("sqlite::memory:").await.unwrap();
    assert!(memory.health().await.ok);
    let bad = authstore::open("sqlite:///nonexistent-dir/x/y.db")
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad,
            authstore::OpenError::Store(authstore::Error::Backend { .. })
        ),
        "{bad:?}"
    );
    assert!(!bad.is_configuration());
}
