//! Sentinel: a master, a replica and 3 sentinels; the store follows a failover.
#![cfg(feature = "redis")]

use std::time::{Duration, Instant};

use authstore::{PutOptions, RedisStore, Store};
use authstore_testkit::harness::redis_sentinel::RedisSentinelSetup;

/// The sentinels' `down-after-milliseconds` plus `failover-timeout` (harness settings).
const SENTINEL_TIMEOUT: Duration = Duration::from_millis(1000 + 3000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_follows_a_failover_to_the_new_master() {
    let mut setup = RedisSentinelSetup::start().expect("start master, replica and 3 sentinels");
    let store = RedisStore::builder()
        .url(&setup.url())
        .command_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .expect("connect through the sentinels");
    store
        .put("sess:before", b"v", PutOptions::new())
        .await
        .unwrap();
    // Let the replica catch up so the write survives the failover.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old_master = setup.master_port();
    setup.kill_master().unwrap();
    let killed = Instant::now();
    let recovered = loop {
        if store
            .put("sess:after", b"v", PutOptions::new())
            .await
            .is_ok()
        {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < SENTINEL_TIMEOUT + Duration::from_secs(2),
            "writes did not resume within the sentinel timeout + 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_master = setup.current_master_port().unwrap();
    eprintln!("sentinel failover: writes resumed {recovered:?} after the master was killed");
    assert_ne!(new_master, old_master, "a failover happened");
    assert_eq!(new_master, setup.replica_port(), "the replica was promoted");
    assert!(
        store.exists("sess:before").await.unwrap(),
        "replicated data is on the new master"
    );
    assert!(store.exists("sess:after").await.unwrap());
}
