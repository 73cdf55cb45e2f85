//! The whole conformance suite against a private 3-master Redis Cluster
//! (or `REDIS_CLUSTER_URL`), plus checks that data really spreads over slots.
#![cfg(feature = "redis")]

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, PutOptions, RedisStore, Store};
use authstore_testkit::harness::redis_cluster::{RedisCluster, RedisClusterTarget};

fn cluster() -> &'static RedisClusterTarget {
    static CLUSTER: OnceLock<RedisClusterTarget> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::from_env_or_start().expect("start a 3-master cluster"))
}

async fn open(prefix: String, _clock: FakeClock) -> Arc<dyn Store> {
    let store = RedisStore::builder()
        .url(&cluster().url())
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to the cluster");
    Arc::new(store)
}

authstore_testkit::conformance_suite!(open);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_and_indexes_span_every_master() {
    let store = open(authstore_testkit::unique_prefix("span"), FakeClock::new()).await;
    for i in 0..60 {
        let opts = PutOptions::new().index(format!("user:{}", i % 3));
        store.put(&format!("sess:{i}"), b"v", opts).await.unwrap();
    }
    if let Some(c) = cluster().server() {
        for url in c.urls() {
            let mut node = redis::Client::open(url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap();
            let keys: u64 = redis::cmd("DBSIZE").query_async(&mut node).await.unwrap();
            assert!(keys > 0, "master {url} holds none of the 60+ keys");
        }
    }
    for u in 0..3 {
        let listed = store.list_index(&format!("user:{u}")).await.unwrap();
        assert_eq!(listed.len(), 20, "user:{u} lists its entries across slots");
    }
    assert_eq!(store.delete_index("user:0").await.unwrap(), 20);
    let page = authstore_testkit::conformance::scan_all(&*store, "sess:", 7).await;
    assert_eq!(page.len(), 40, "scan walks every master");
}
