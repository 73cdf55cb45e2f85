//! The whole conformance suite and every module suite (sessions, CSRF, rate
//! limits, credentials, API tokens, audit, OAuth) against a private 3-master
//! Redis Cluster (or `REDIS_CLUSTER_URL`), a migration onto the Cluster and
//! back, and checks that data really spreads over slots.
#![cfg(feature = "redis")]

use std::sync::{Arc, OnceLock};

use std::collections::BTreeMap;
use std::time::Duration;

use authstore::migrate::{MigrateOptions, MigrateReport, migrate, verify};
use authstore::{FakeClock, PutOptions, RedisStore, Store};
use authstore_testkit::harness::redis_cluster::{RedisCluster, RedisClusterTarget};

fn cluster() -> &'static RedisClusterTarget {
    static CLUSTER: OnceLock<RedisClusterTarget> = OnceLock::new();
    CLUSTER.get_or_init(|| RedisCluster::from_env_or_start().expect("start a 3-master cluster"))
}

async fn open(prefix: String, _clock: FakeClock) -> Arc<dyn Store> {
    // The suites run their tests in parallel on 2 cores, some with 500
    // concurrent commands; the default 2 s command timeout is for production
    // latency, and a CPU-starved moment here is not a failure of the store
    // (timeouts have their own tests in redis_faults.rs).
    let store = RedisStore::builder()
        .url(&cluster().url())
        .prefix(prefix)
        .command_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect to the cluster");
    Arc::new(store)
}

authstore_testkit::conformance_suite!(open);

authstore_testkit::modules_suite!(open);

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

/// A commit's keys must share one hash slot: a commit across slots is
/// refused before anything is written; one within a slot keeps its index
/// memberships right when plain puts rewrite its entries afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_stay_within_one_hash_slot() {
    use authstore::{Error, PutItem, VersionCheck};
    let store = open(authstore_testkit::unique_prefix("slots"), FakeClock::new()).await;
    let put = |key| PutItem {
        key,
        value: b"v",
        options: PutOptions::new().index("owner:{g}"),
    };
    let across = store.commit(&[], &[put("a:{g}1"), put("a:{h}2")]).await;
    assert!(
        matches!(across, Err(Error::InvalidArgument(_))),
        "{across:?}"
    );
    let untagged_index = store
        .commit(
            &[],
            &[PutItem {
                key: "a:{g}1",
                value: b"v",
                options: PutOptions::new().index("owner:elsewhere"),
            }],
        )
        .await;
    assert!(
        matches!(untagged_index, Err(Error::InvalidArgument(_))),
        "an index set in another slot: {untagged_index:?}"
    );
    assert!(store.get("a:{g}1").await.unwrap().is_none());
    let versions = store
        .commit(&[], &[put("a:{g}1"), put("a:{g}2")])
        .await
        .unwrap();
    assert_eq!(versions, vec![1, 1]);
    assert_eq!(
        store.list_index("owner:{g}").await.unwrap(),
        vec!["a:{g}1", "a:{g}2"]
    );
    // A plain put moves one entry to another index; a second commit
    // rewrites the other under the same one.
    store
        .put("a:{g}1", b"w", PutOptions::new().index("owner:other"))
        .await
        .unwrap();
    let version = store
        .commit(
            &[VersionCheck {
                key: "a:{g}1",
                version: 2,
            }],
            &[put("a:{g}2")],
        )
        .await
        .unwrap();
    assert_eq!(version, vec![2]);
    assert_eq!(store.list_index("owner:{g}").await.unwrap(), vec!["a:{g}2"]);
    assert_eq!(
        store.list_index("owner:other").await.unwrap(),
        vec!["a:{g}1"]
    );
    assert_eq!(store.delete_index("owner:{g}").await.unwrap(), 1);
    assert!(store.get("a:{g}2").await.unwrap().is_none());
}

/// Every live entry of `store` as `(value, sorted index keys)`, by key.
async fn contents(store: &dyn Store) -> BTreeMap<String, (Vec<u8>, Vec<String>)> {
    authstore_testkit::conformance::scan_all(store, "", 500)
        .await
        .into_iter()
        .map(|e| {
            let mut index_keys = e.index_keys;
            index_keys.sort();
            (e.key, (e.value.to_vec(), index_keys))
        })
        .collect()
}

fn assert_complete(report: &MigrateReport, what: &str) {
    assert_eq!(report.failed, 0, "{what}: {:?}", report.failures);
    assert!(report.cursor.is_none(), "{what}: the run did not finish");
    assert_eq!(report.migrated, report.scanned, "{what}: {report:?}");
}

/// memory → Cluster → memory: values, counters, TTLs and indexes arrive on
/// every master and come back whole, and `verify` agrees both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_onto_the_cluster_and_back_loses_nothing() {
    const ENTRIES: usize = 3_000;
    let memory = authstore::open("memory://").await.expect("memory store");
    for i in 0..ENTRIES {
        let key = format!("sess:{i}");
        let mut opts = PutOptions::new().index(format!("user:{}", i % 50));
        if i % 3 == 0 {
            opts = opts.ttl(Duration::from_secs(3600));
        }
        memory
            .put(&key, format!("value {i}").as_bytes(), opts)
            .await
            .unwrap();
    }
    for i in 0..100 {
        let ttl = (i % 2 == 0).then(|| Duration::from_secs(3600));
        memory.incr(&format!("count:{i}"), i, ttl).await.unwrap();
    }
    let cluster = open(
        authstore_testkit::unique_prefix("migrate"),
        FakeClock::new(),
    )
    .await;
    let options = MigrateOptions::default();

    let report = migrate(memory.as_ref(), cluster.as_ref(), &options, |_| {})
        .await
        .expect("migrate memory → cluster");
    assert_complete(&report, "memory → cluster");
    assert_eq!(report.scanned, ENTRIES as u64 + 100);
    let checked = verify(memory.as_ref(), cluster.as_ref(), &options, |_| {})
        .await
        .expect("verify memory → cluster");
    assert!(checked.is_exact(), "{:?}", checked.mismatches);
    assert_eq!(checked.matched, ENTRIES as u64 + 100);
    assert_eq!(
        contents(memory.as_ref()).await,
        contents(cluster.as_ref()).await
    );
    assert_eq!(
        cluster.list_index("user:7").await.unwrap().len(),
        ENTRIES / 50
    );
    assert_eq!(cluster.incr("count:42", 0, None).await.unwrap().value, 42);
    let copied = cluster.get("sess:0").await.unwrap().expect("copied");
    let ttl = copied.ttl_at(std::time::SystemTime::now());
    assert!(
        ttl.is_some_and(|t| t > Duration::from_secs(3500)),
        "the TTL travels: {ttl:?}"
    );

    let back = authstore::open("memory://").await.expect("memory store");
    let report = migrate(cluster.as_ref(), back.as_ref(), &options, |_| {})
        .await
        .expect("migrate cluster → memory");
    assert_complete(&report, "cluster → memory");
    let checked = verify(cluster.as_ref(), back.as_ref(), &options, |_| {})
        .await
        .expect("verify cluster → memory");
    assert!(checked.is_exact(), "{:?}", checked.mismatches);
    assert_eq!(
        contents(memory.as_ref()).await,
        contents(back.as_ref()).await
    );
}
