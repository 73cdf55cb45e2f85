//! `MeteredStore`: the whole conformance suite through it (it delegates every method faithfully), and what it records per operation.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use authstore::{FakeClock, GcraParams, MemoryStore, PutOptions, Store};
use authstore_server::metered::MeteredStore;
use authstore_testkit::UnavailableStore;

fn shared() -> &'static MemoryStore {
    static BASE: OnceLock<MemoryStore> = OnceLock::new();
    BASE.get_or_init(|| {
        MemoryStore::builder()
            .sweep_interval(None)
            .build()
            .expect("valid configuration")
    })
}

async fn open(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
    let store = shared()
        .with_prefix(&prefix)
        .expect("valid prefix")
        .with_clock(clock);
    Arc::new(MeteredStore::new(Arc::new(store)))
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn every_operation_is_timed_and_outcomes_are_classified() {
    let store = MeteredStore::new(authstore::open("memory://").await.unwrap());
    store
        .put("s:1", b"v", PutOptions::new().create_only().index("ix:1"))
        .await
        .unwrap();
    assert!(
        store
            .put("s:1", b"v", PutOptions::new().create_only())
            .await
            .is_err()
    );
    store.get("s:1").await.unwrap();
    store.exists("s:1").await.unwrap();
    store.touch("s:1", Duration::from_secs(60)).await.unwrap();
    store.list_index("ix:1").await.unwrap();
    store.scan("", None, 10).await.unwrap();
    store.take("s:1").await.unwrap();
    store.delete("s:1").await.unwrap();
    store.delete_index("ix:1").await.unwrap();
    store.incr("c:1", 1, None).await.unwrap();
    let params = GcraParams::per_period(10, Duration::from_secs(1));
    store.gcra("g:1", params).await.unwrap();
    let inline = store.gcra_inline("g:1", params);
    assert!(
        inline.is_some(),
        "the memory store answers GCRA inline, through the wrapper too"
    );
    store.purge_expired(10).await.unwrap();
    store.stats().await.unwrap();
    assert!(store.health().await.ok);
    let m = store.metrics();
    for op in [
        "get",
        "exists",
        "touch",
        "list_index",
        "scan",
        "take",
        "delete",
        "delete_index",
        "incr",
        "purge_expired",
        "stats",
        "health",
    ] {
        assert_eq!(m.calls(op), 1, "{op}");
    }
    assert_eq!((m.calls("put"), m.calls("gcra")), (2, 2));
    assert_eq!(
        m.errors("put"),
        0,
        "already_exists is a rejection, not a failure"
    );
    let mut text = String::new();
    m.render_into(&mut text);
    assert!(
        text.contains("authstore_store_rejections_total{op=\"put\",kind=\"already_exists\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("authstore_store_operation_duration_seconds_count{op=\"get\"} 1"),
        "{text}"
    );
    assert_eq!((store.backend(), store.prefix()), ("memory", ""));
}

#[tokio::test]
async fn failures_are_counted_by_kind() {
    let store = MeteredStore::new(Arc::new(UnavailableStore));
    assert!(store.get("s:1").await.is_err());
    assert!(store.incr("c:1", 1, None).await.is_err());
    assert!(!store.health().await.ok);
    assert!(
        store
            .gcra_inline("g:1", GcraParams::per_period(1, Duration::from_secs(1)))
            .is_none()
    );
    let m = store.metrics();
    assert_eq!(
        (m.errors("get"), m.errors("incr"), m.errors("health")),
        (1, 1, 1)
    );
    assert_eq!(m.calls("gcra"), 0, "an inline miss is not a call");
    let mut text = String::new();
    m.render_into(&mut text);
    assert!(
        text.contains("authstore_store_errors_total{op=\"get\",kind=\"backend\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("authstore_store_errors_total{op=\"health\",kind=\"unhealthy\"} 1"),
        "{text}"
    );
}
