//! The whole conformance suite against a real, private redis-server (or `REDIS_URL`).
#![cfg(feature = "redis")]

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, RedisStore, Store};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

/// One server for the whole test binary; every test uses its own key prefix.
fn server_url() -> String {
    static SERVER: OnceLock<RedisTarget> = OnceLock::new();
    SERVER
        .get_or_init(|| RedisServer::from_env_or_start().expect("start redis-server"))
        .url()
}

async fn open(prefix: String, _clock: FakeClock) -> Arc<dyn Store> {
    let store = RedisStore::builder()
        .url(&server_url())
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to redis");
    Arc::new(store)
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn capabilities_say_redis_and_durable() {
    let clock = FakeClock::new();
    let store = open(authstore_testkit::unique_prefix("caps"), clock.clone()).await;
    authstore_testkit::conformance::assert_capabilities(&*store, &clock, "redis", true);
}

authstore_testkit::modules_suite!(open);

/// `purge_expired` prunes an index set of the members whose entry expired
/// or was deleted, keeps live ones (also one whose TTL a GCRA step moved past
/// its index score) and respects its limit. Redis's own expiry clock is what
/// is tested, so the test waits for it.
#[tokio::test]
async fn purge_expired_prunes_index_members_of_gone_entries_only() {
    use std::time::Duration;

    use authstore::{GcraParams, PutOptions};

    let store = open(
        format!("purge-ix-{}:", std::process::id()),
        FakeClock::new(),
    )
    .await;
    let short = PutOptions::new().ttl(Duration::from_millis(300));
    for i in 0..3 {
        let key = format!("t:gone{i}");
        store
            .put(&key, b"x", short.clone().index("ix:a"))
            .await
            .unwrap();
    }
    let forever = PutOptions::new().index("ix:a");
    store.put("t:deleted", b"x", forever.clone()).await.unwrap();
    store.put("t:kept", b"x", forever).await.unwrap();
    let long = PutOptions::new().ttl(Duration::from_secs(60)).index("ix:a");
    store.put("t:long", b"x", long).await.unwrap();
    // A counter entry whose TTL a GCRA step lengthens past its index score.
    store
        .put("t:limited", b"5", short.clone().index("ix:a"))
        .await
        .unwrap();
    let step = GcraParams {
        emission_interval: Duration::from_secs(30),
        burst: 2,
        cost: 1,
    };
    assert!(store.gcra("t:limited", step).await.unwrap().allowed);
    assert!(store.delete("t:deleted").await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(store.purge_expired(2).await.unwrap(), 2, "the limit holds");
    assert_eq!(
        store.purge_expired(100).await.unwrap(),
        2,
        "the third expired entry and the deleted one"
    );
    assert_eq!(store.purge_expired(100).await.unwrap(), 0);
    assert_eq!(
        store.list_index("ix:a").await.unwrap(),
        ["t:kept", "t:limited", "t:long"],
        "live members stay"
    );
}
