//! `serve`'s scheduled store cleanup: expired entries, and on Redis the index sets they leave behind, are removed without `authstore cleanup`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use authstore::{FakeClock, PutOptions, Store};
use authstore_server::AppState;
use authstore_server::store_cleanup::{clean_once, spawn_cleanup};

/// Three entries listed under one index key, living `ttl`, and one without a TTL.
async fn fill(store: &dyn Store, ttl: Duration) {
    for i in 0..3 {
        store
            .put(
                &format!("oauth-at:{i}"),
                b"x",
                PutOptions::new().ttl(ttl).index("grant:g1"),
            )
            .await
            .unwrap();
    }
    store
        .put("credential:kept", b"x", PutOptions::new())
        .await
        .unwrap();
}

fn state_on(store: Arc<dyn Store>, clock: FakeClock, every: Option<Duration>) -> AppState {
    let mut settings = common::settings("http://127.0.0.1:1");
    settings.cleanup_interval = every;
    AppState::with_clock(store, settings, clock).unwrap()
}

#[tokio::test]
async fn a_pass_removes_expired_entries_and_keeps_live_ones() {
    let clock = FakeClock::new();
    let store = common::clocked_store(&clock);
    let state = state_on(Arc::clone(&store), clock.clone(), None);
    fill(store.as_ref(), Duration::from_secs(60)).await;
    assert_eq!(clean_once(&state).await, 0, "nothing expired yet");
    clock.advance(Duration::from_secs(61));
    let before = store.stats().await.unwrap().entries;
    assert_eq!(clean_once(&state).await, 3);
    assert_eq!(store.stats().await.unwrap().entries, before - 3);
    assert!(store.exists("credential:kept").await.unwrap());
    assert_eq!(clean_once(&state).await, 0, "the next pass finds nothing");
}

#[tokio::test]
async fn the_scheduled_task_runs_every_interval_and_only_when_set() {
    let clock = FakeClock::new();
    let store = common::clocked_store(&clock);
    let off = state_on(Arc::clone(&store), clock.clone(), None);
    assert!(spawn_cleanup(&off, std::future::pending()).is_none());

    let state = state_on(
        Arc::clone(&store),
        clock.clone(),
        Some(Duration::from_millis(50)),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = spawn_cleanup(&state, async move {
        let _ = stop_rx.await;
    })
    .expect("a task when an interval is set");
    let purged_after = |store: Arc<dyn Store>, entries: u64| async move {
        // The task's own interval is real time: poll for its pass.
        for _ in 0..100 {
            if store.stats().await.unwrap().entries == entries {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    };
    for round in 0..2 {
        let live = store.stats().await.unwrap().entries;
        fill(store.as_ref(), Duration::from_secs(10)).await;
        clock.advance(Duration::from_secs(11));
        assert!(
            purged_after(Arc::clone(&store), live + u64::from(round == 0)).await,
            "round {round}: the expired entries went without a call"
        );
    }
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task ends when stopped")
        .unwrap();
}

/// On Redis, entries expire on their own but their index set stays until a
/// cleanup: the pass removes it (Redis's own expiry clock is what is tested,
/// so this test waits for it).
#[cfg(feature = "redis")]
#[tokio::test]
async fn on_redis_a_pass_removes_the_index_sets_expired_entries_leave() {
    use authstore::RedisStore;
    use authstore_testkit::harness::redis::RedisServer;

    // A private server: the test counts every key it holds.
    let server = RedisServer::start().expect("start redis-server");
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::builder()
            .url(&server.url())
            .connect()
            .await
            .expect("connect to redis"),
    );
    let state = state_on(Arc::clone(&store), FakeClock::new(), None);
    fill(store.as_ref(), Duration::from_millis(300)).await;
    assert_eq!(
        store.stats().await.unwrap().entries,
        5,
        "four entries and one index set"
    );
    let mut left = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = store.stats().await.unwrap().entries;
        if left == 2 {
            break;
        }
    }
    assert_eq!(
        left, 2,
        "Redis expired the three entries, not their index set"
    );
    assert_eq!(clean_once(&state).await, 3, "three stale index members");
    assert_eq!(
        store.stats().await.unwrap().entries,
        1,
        "only the entry without a TTL is left"
    );
    assert!(store.exists("credential:kept").await.unwrap());
}
