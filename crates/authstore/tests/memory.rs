//! MemoryStore behaviour beyond the shared contract: bounds, eviction, sweeper, URLs.

use std::time::Duration;

use authstore::{
    Error, EvictionPolicy, FakeClock, MemoryStore, OpenError, PutOptions, Store, StoreExt, open,
    open_with_clock,
};

fn bounded(max_entries: usize, policy: EvictionPolicy, clock: &FakeClock) -> MemoryStore {
    MemoryStore::builder()
        .max_entries(max_entries)
        .eviction(policy)
        .sweep_interval(None)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn lru_evicts_the_least_recently_used() {
    let clock = FakeClock::new();
    let store = bounded(50, EvictionPolicy::Lru, &clock);
    for i in 0..50 {
        store
            .put(&format!("k:{i}"), b"v", PutOptions::new())
            .await
            .unwrap();
        clock.advance(Duration::from_millis(20));
    }
    // Keys 25..50 are read recently; 0..25 are cold.
    for i in 25..50 {
        store.get(&format!("k:{i}")).await.unwrap();
    }
    clock.advance(Duration::from_millis(20));
    for i in 50..60 {
        store
            .put(&format!("k:{i}"), b"v", PutOptions::new())
            .await
            .unwrap();
    }
    assert_eq!(store.size(), 50, "the bound holds exactly");
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.evictions, 10);
    let mut hot_survivors = 0;
    for i in 25..60 {
        hot_survivors += usize::from(store.exists(&format!("k:{i}")).await.unwrap());
    }
    // Sampled LRU: the recently used keys overwhelmingly survive.
    assert!(
        hot_survivors >= 32,
        "only {hot_survivors} of 35 recent keys survived"
    );
}

#[tokio::test]
async fn soonest_expiry_evicts_short_lived_entries_first() {
    let clock = FakeClock::new();
    let store = bounded(40, EvictionPolicy::SoonestExpiry, &clock);
    for i in 0..20 {
        let opts = PutOptions::new().ttl(Duration::from_secs(10 + i));
        store.put(&format!("short:{i}"), b"v", opts).await.unwrap();
    }
    for i in 0..20 {
        store
            .put(&format!("forever:{i}"), b"v", PutOptions::new())
            .await
            .unwrap();
    }
    for i in 0..10 {
        store
            .put(&format!("new:{i}"), b"v", PutOptions::new())
            .await
            .unwrap();
    }
    assert_eq!(store.size(), 40);
    let mut forever_left = 0;
    for i in 0..20 {
        forever_left += usize::from(store.exists(&format!("forever:{i}")).await.unwrap());
    }
    assert_eq!(forever_left, 20, "entries without TTL go last");
}

#[tokio::test]
async fn max_bytes_bounds_memory() {
    let store = MemoryStore::builder()
        .max_bytes(64 * 1024)
        .sweep_interval(None)
        .build()
        .unwrap();
    let value = vec![0u8; 1000];
    for i in 0..500 {
        store
            .put(&format!("b:{i}"), &value, PutOptions::new())
            .await
            .unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert!(stats.bytes.unwrap() <= 64 * 1024, "{stats:?}");
    assert!(stats.evictions >= 430, "{stats:?}");
    assert!(
        store.exists("b:499").await.unwrap(),
        "the newest write is kept"
    );
}

#[tokio::test]
async fn expired_entries_are_evicted_before_live_ones_and_count_as_expired() {
    let clock = FakeClock::new();
    let store = bounded(10, EvictionPolicy::Lru, &clock);
    for i in 0..10 {
        let opts = PutOptions::new().ttl(Duration::from_secs(1));
        store.put(&format!("old:{i}"), b"v", opts).await.unwrap();
    }
    clock.advance(Duration::from_secs(2));
    for i in 0..10 {
        store
            .put(&format!("new:{i}"), b"v", PutOptions::new())
            .await
            .unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.evictions, 0, "{stats:?}");
    assert_eq!(stats.expirations, 10, "{stats:?}");
}

#[tokio::test]
async fn an_expired_counter_restarts_in_place_as_a_new_entry() {
    let clock = FakeClock::new();
    let store = bounded(100, EvictionPolicy::Lru, &clock);
    let ttl = Duration::from_secs(1);
    for _ in 0..3 {
        store.incr("ctr:x", 5, Some(ttl)).await.unwrap();
    }
    store
        .put(
            "ctr:indexed",
            b"7",
            PutOptions::new().ttl(ttl).index("ix:a"),
        )
        .await
        .unwrap();
    let before = store.stats().await.unwrap();
    clock.advance(ttl + Duration::from_millis(1));
    let restarted = store.incr("ctr:x", 1, Some(ttl * 2)).await.unwrap();
    assert_eq!(restarted.value, 1);
    assert_eq!(restarted.ttl, Some(ttl * 2));
    let entry = store.get("ctr:x").await.unwrap().unwrap();
    assert_eq!((&entry.value[..], entry.version), (&b"1"[..], 1));
    // An expired entry with index keys is replaced, and leaves its index.
    assert_eq!(
        store.incr("ctr:indexed", 2, Some(ttl)).await.unwrap().value,
        2
    );
    assert!(store.list_index("ix:a").await.unwrap().is_empty());
    let after = store.stats().await.unwrap();
    assert_eq!(after.expirations, before.expirations + 2);
    assert_eq!(after.entries, 2);
}

#[tokio::test]
async fn sweeper_purges_in_the_background_and_stops_on_shutdown() {
    let clock = FakeClock::new();
    let store = MemoryStore::builder()
        .sweep_interval(Some(Duration::from_millis(20)))
        .clock(clock.clone())
        .build()
        .unwrap();
    for i in 0..100 {
        let opts = PutOptions::new().ttl(Duration::from_secs(1));
        store.put(&format!("sw:{i}"), b"v", opts).await.unwrap();
    }
    clock.advance(Duration::from_secs(5));
    // This waits for the sweeper thread's own timer, which is what is tested.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.size() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.size(), 0, "the sweeper removed every expired entry");
    assert!(store.sweeps() >= 1);
    assert!(store.sweeper_running());
    store.shutdown();
    assert!(!store.sweeper_running(), "shutdown joins the sweeper");
    store
        .put("after:shutdown", b"v", PutOptions::new())
        .await
        .unwrap();
    assert!(
        store.exists("after:shutdown").await.unwrap(),
        "the store stays usable"
    );
}

#[tokio::test]
async fn cleanup_clear_and_size() {
    let clock = FakeClock::new();
    let store = bounded(1000, EvictionPolicy::Lru, &clock);
    let other = store.with_prefix("tenant-b").unwrap();
    for i in 0..10 {
        let ttl = PutOptions::new().ttl(Duration::from_secs(1));
        store
            .put(&format!("c:{i}"), b"v", ttl.clone())
            .await
            .unwrap();
        other.put(&format!("c:{i}"), b"v", ttl).await.unwrap();
    }
    store.put("c:keep", b"v", PutOptions::new()).await.unwrap();
    assert_eq!(store.size(), 21);
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.cleanup(), 20, "cleanup purges every prefix");
    assert_eq!(store.size(), 1);
    assert_eq!(store.clear(), 1);
    assert_eq!(store.size(), 0);
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_sweeper_thread() {
    let store = MemoryStore::builder()
        .sweep_interval(Some(Duration::from_millis(5)))
        .build()
        .unwrap();
    let clone = store.clone();
    drop(store);
    assert!(clone.sweeper_running(), "a remaining handle keeps it");
    clone.put("x:y", b"v", PutOptions::new()).await.unwrap();
    drop(clone);
    // Nothing to observe on a dropped store beyond not hanging or leaking
    // a thread that keeps it alive: count live sweeper threads by name.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let names = thread_names();
        let sweepers = names
            .iter()
            .filter(|n| n.starts_with("authstore-swee"))
            .count();
        if sweepers == 0 || std::time::Instant::now() > deadline {
            assert_eq!(sweepers, 0, "sweeper threads left: {names:?}");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn open_builds_memory_stores_from_urls() {
    let store = open("memory://?max_entries=3&eviction=soonest-expiry&sweep_interval_ms=0")
        .await
        .unwrap();
    let caps = store.capabilities();
    assert_eq!((caps.name, caps.durable), ("memory", false));
    for i in 0..5 {
        store
            .put(&format!("u:{i}"), b"v", PutOptions::new())
            .await
            .unwrap();
    }
    assert_eq!(
        store.stats().await.unwrap().entries,
        3,
        "max_entries applied"
    );
    let prefixed = open("memory://?prefix=tenant1").await.unwrap();
    assert_eq!(prefixed.prefix(), "tenant1");
}

#[tokio::test]
async fn open_reports_bad_urls_and_missing_features() {
    let err = open("memory://?max_entriez=3").await.unwrap_err();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "{err}");
    assert!(err.is_configuration());
    assert!(err.to_string().contains("max_entriez"));
    let err = open("memory://?max_entries=lots").await.unwrap_err();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "{err}");
    let err = open("memory:// bad").await.unwrap_err();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "{err}");
    let err = open("ftp://x").await.unwrap_err();
    assert!(matches!(err, OpenError::UnknownScheme { .. }), "{err}");
    assert!(err.is_configuration());
    let mut disabled = Vec::new();
    if cfg!(not(feature = "postgres")) {
        disabled.extend([
            ("postgres://u@h/db", "postgres"),
            ("postgresql://u@h/db", "postgres"),
        ]);
    }
    if cfg!(not(feature = "sqlite")) {
        disabled.extend([
            ("sqlite://auth.db", "sqlite"),
            ("sqlite::memory:", "sqlite"),
        ]);
    }
    if cfg!(not(feature = "redis")) {
        disabled.extend([
            ("redis://127.0.0.1:6379", "redis"),
            ("rediss://u:p@host:6380", "redis"),
            ("redis+cluster://a:1,b:2", "redis"),
        ]);
    }
    for (url, feature) in disabled {
        match open(url).await {
            Err(err @ OpenError::FeatureDisabled { .. }) => {
                assert!(err.is_configuration());
                assert!(err.to_string().contains(&format!("`{feature}`")), "{err}");
                assert!(
                    !err.to_string().contains("u:p@"),
                    "no credentials in errors: {err}"
                );
            }
            other => panic!("{url}: expected FeatureDisabled, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn open_with_clock_uses_the_clock() {
    let clock = FakeClock::new();
    let store = open_with_clock("memory://", clock.clone()).await.unwrap();
    store
        .put("t:1", b"v", PutOptions::new().ttl(Duration::from_secs(1)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(!store.exists("t:1").await.unwrap());
}

#[tokio::test]
async fn json_helpers_round_trip_and_report_bad_data() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Session {
        user: String,
        n: u32,
    }
    let store = MemoryStore::new();
    let s = Session {
        user: "ada".into(),
        n: 3,
    };
    let v = store.put_json("s:1", &s, PutOptions::new()).await.unwrap();
    let back = store.get_json::<Session>("s:1").await.unwrap().unwrap();
    assert_eq!((back.value, back.version), (s, v));
    store
        .put("s:2", b"not json", PutOptions::new())
        .await
        .unwrap();
    let err = store.get_json::<Session>("s:2").await.unwrap_err();
    assert!(matches!(err, Error::Serde { .. }), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the serde error is kept"
    );
    let taken: Option<Session> = store.take_json("s:1").await.unwrap();
    assert!(taken.is_some());
    assert!(store.get("s:1").await.unwrap().is_none());
}

#[test]
fn builder_rejects_bad_configuration() {
    assert!(matches!(
        MemoryStore::builder().max_entries(0).build(),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        MemoryStore::builder().prefix("bad\u{1}prefix").build(),
        Err(Error::InvalidKey { .. })
    ));
}

#[test]
fn debug_output_never_shows_values() {
    let entry = authstore::Entry::from_parts(bytes::Bytes::from_static(b"s3cret-token"), 1, None);
    let shown = format!("{entry:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("12 bytes"));
}
