//! Checks of scan, purge_expired, stats, health and prefix isolation.

use std::collections::BTreeMap;
use std::time::Duration;

use authstore::{Error, FakeClock, PutOptions, ScanEntry, Store};

use super::{SHORT_TTL, assert_ttl, pass_time};

/// Scans `prefix` to the end with pages of `limit`, checking page sizes.
pub async fn scan_all(store: &dyn Store, prefix: &str, limit: usize) -> Vec<ScanEntry> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let page = store.scan(prefix, cursor.as_deref(), limit).await.unwrap();
        assert!(page.entries.len() <= limit, "page larger than the limit");
        out.extend(page.entries);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("scan did not finish");
}

/// Paged scan returns every entry exactly once, with TTL, version and index keys.
pub async fn scan_pages_cover_every_entry_once(store: &dyn Store, _clock: &FakeClock) {
    let ttl = Duration::from_secs(3600);
    for i in 0..57 {
        let mut opts = PutOptions::new();
        if i % 2 == 0 {
            opts = opts.ttl(ttl);
        }
        if i % 5 == 0 {
            opts = opts.index("user:scan");
        }
        store
            .put(&format!("scan:{i:03}"), format!("v{i}").as_bytes(), opts)
            .await
            .unwrap();
    }
    let entries = scan_all(store, "scan:", 10).await;
    let by_key: BTreeMap<_, _> = entries.iter().map(|e| (e.key.clone(), e)).collect();
    assert_eq!(entries.len(), 57, "no duplicates across pages");
    assert_eq!(by_key.len(), 57, "every entry once");
    for i in 0..57 {
        let e = by_key[&format!("scan:{i:03}")];
        assert_eq!(e.value, format!("v{i}").as_bytes());
        assert_eq!(e.version, 1);
        if i % 2 == 0 {
            assert_ttl(store, e.ttl, ttl, "scanned TTL");
        } else {
            assert_eq!(e.ttl, None);
        }
        let expected: Vec<String> = if i % 5 == 0 {
            vec!["user:scan".into()]
        } else {
            vec![]
        };
        assert_eq!(e.index_keys, expected, "index keys of scan:{i:03}");
    }
}

/// Scan returns only keys with the given prefix; the empty prefix returns all.
pub async fn scan_filters_by_prefix(store: &dyn Store, _clock: &FakeClock) {
    for key in ["alpha:1", "alpha:2", "beta:1", "alphabet:1"] {
        store.put(key, b"x", PutOptions::new()).await.unwrap();
    }
    let mut alpha: Vec<_> = scan_all(store, "alpha:", 3)
        .await
        .into_iter()
        .map(|e| e.key)
        .collect();
    alpha.sort();
    assert_eq!(alpha, ["alpha:1", "alpha:2"]);
    assert_eq!(scan_all(store, "", 2).await.len(), 4);
    assert!(scan_all(store, "gamma:", 5).await.is_empty());
}

/// Scan skips expired entries.
pub async fn scan_skips_expired(store: &dyn Store, clock: &FakeClock) {
    store
        .put("sx:gone", b"x", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    store.put("sx:kept", b"x", PutOptions::new()).await.unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    let keys: Vec<_> = scan_all(store, "sx:", 10)
        .await
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["sx:kept"]);
}

/// Scan shows a counter as its decimal value.
pub async fn scan_shows_counters(store: &dyn Store, _clock: &FakeClock) {
    store
        .incr("sc:ctr", 17, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let entries = scan_all(store, "sc:", 10).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(&entries[0].value[..], b"17");
    assert!(entries[0].ttl.is_some());
}

/// A zero limit or a foreign cursor is an `InvalidArgument`, not a panic.
pub async fn scan_rejects_bad_arguments(store: &dyn Store, _clock: &FakeClock) {
    assert!(matches!(
        store.scan("", None, 0).await,
        Err(Error::InvalidArgument(_))
    ));
    let bad = store.scan("", Some("not-a-cursor"), 10).await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "got {bad:?}");
}

/// `purge_expired` removes expired entries up to its limit and reports the count.
pub async fn purge_expired_counts_and_limits(store: &dyn Store, clock: &FakeClock) {
    for i in 0..5 {
        store
            .put(&format!("pg:{i}"), b"x", PutOptions::new().ttl(SHORT_TTL))
            .await
            .unwrap();
    }
    store.put("pg:live", b"x", PutOptions::new()).await.unwrap();
    assert_eq!(
        store.purge_expired(100).await.unwrap(),
        0,
        "nothing expired yet"
    );
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    let first = store.purge_expired(2).await.unwrap();
    assert!(first <= 2, "limit respected: {first}");
    let rest = store.purge_expired(100).await.unwrap();
    // A server-clock backend may also expire some entries on its own.
    assert!(
        first + rest <= 5,
        "never purges live entries: {first} + {rest}"
    );
    if store.capabilities().expiry_clock == authstore::ExpiryClock::Injected {
        assert_eq!((first, first + rest), (2, 5));
    }
    assert_eq!(store.purge_expired(100).await.unwrap(), 0);
    assert!(store.exists("pg:live").await.unwrap());
}

/// Stats count hits, misses, sets, deletes and live entries.
pub async fn stats_count_operations(store: &dyn Store, _clock: &FakeClock) {
    let before = store.stats().await.unwrap();
    store.put("st:a", b"x", PutOptions::new()).await.unwrap();
    store.put("st:b", b"x", PutOptions::new()).await.unwrap();
    store.get("st:a").await.unwrap();
    store.get("st:missing").await.unwrap();
    store.delete("st:b").await.unwrap();
    let after = store.stats().await.unwrap();
    assert!(
        after.sets >= before.sets + 2,
        "sets {before:?} -> {after:?}"
    );
    assert!(after.hits > before.hits, "hits {before:?} -> {after:?}");
    assert!(
        after.misses > before.misses,
        "misses {before:?} -> {after:?}"
    );
    assert!(
        after.deletes > before.deletes,
        "deletes {before:?} -> {after:?}"
    );
    assert!(after.entries >= 1, "entries {after:?}");
}

/// Evictions and expirations only ever grow.
pub async fn stats_expirations_are_counted(store: &dyn Store, clock: &FakeClock) {
    let before = store.stats().await.unwrap();
    store
        .put("se:a", b"x", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    store.purge_expired(100).await.unwrap();
    let after = store.stats().await.unwrap();
    assert!(after.evictions >= before.evictions);
    if store.capabilities().expiry_clock == authstore::ExpiryClock::Injected {
        assert!(
            after.expirations > before.expirations,
            "{before:?} -> {after:?}"
        );
    }
}

/// `health` reports ok with a plausible latency.
pub async fn health_is_ok(store: &dyn Store, _clock: &FakeClock) {
    let h = store.health().await;
    assert!(h.ok, "health: {:?}", h.detail);
    assert!(h.latency < Duration::from_secs(5));
}

/// The capabilities name the backend with a short lowercase word.
pub async fn capabilities_name_the_backend(store: &dyn Store, _clock: &FakeClock) {
    let name = store.capabilities().name;
    assert!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "capabilities name {name:?} is a short lowercase word"
    );
}

/// Two stores with different prefixes never see each other's data.
pub async fn prefix_isolation(a: &dyn Store, b: &dyn Store, _clock: &FakeClock) {
    assert_ne!(
        a.prefix(),
        b.prefix(),
        "the suite must pass two different prefixes"
    );
    a.put("iso:k", b"from a", PutOptions::new().index("user:iso"))
        .await
        .unwrap();
    b.put("iso:k", b"from b", PutOptions::new()).await.unwrap();
    a.incr("iso:ctr", 1, None).await.unwrap();
    assert_eq!(&a.get("iso:k").await.unwrap().unwrap().value[..], b"from a");
    assert_eq!(&b.get("iso:k").await.unwrap().unwrap().value[..], b"from b");
    assert!(
        b.list_index("user:iso").await.unwrap().is_empty(),
        "indexes are per prefix"
    );
    assert!(
        !b.exists("iso:ctr").await.unwrap(),
        "counters are per prefix"
    );
    assert_eq!(b.delete_index("user:iso").await.unwrap(), 0);
    assert!(
        a.exists("iso:k").await.unwrap(),
        "b's delete_index must not reach a"
    );
    let b_keys: Vec<_> = scan_all(b, "iso:", 10)
        .await
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(b_keys, ["iso:k"], "scan sees only its own prefix");
    assert!(b.take("iso:k").await.unwrap().is_some());
    assert!(a.exists("iso:k").await.unwrap());
}
