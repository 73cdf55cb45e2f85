//! A store that implements only the required `Store` methods: the trait's own `exists`, `put_many` and `health` keep the whole contract.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use authstore::{
    Capabilities, Clock, Counter, Entry, Error, FakeClock, GcraDecision, GcraParams, MemoryStore,
    PutItem, PutOptions, Result, ScanPage, Store, StoreStats, SystemClock, VersionCheck,
};

/// The required methods, forwarded to a [`MemoryStore`]; `get` fails while `down` is set.
#[derive(Debug)]
struct Minimal {
    inner: MemoryStore,
    down: AtomicBool,
}

impl Minimal {
    fn new(inner: MemoryStore) -> Self {
        Self {
            inner,
            down: AtomicBool::new(false),
        }
    }
}

#[async_trait]
impl Store for Minimal {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "minimal",
            ..self.inner.capabilities()
        }
    }
    fn prefix(&self) -> &str {
        self.inner.prefix()
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        if self.down.load(Ordering::Relaxed) {
            return Err(Error::backend("minimal", "connection refused"));
        }
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        self.inner.put(key, value, options).await
    }
    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        self.inner.commit(checks, puts).await
    }
    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        self.inner.take(key).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key).await
    }
    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        self.inner.touch(key, ttl).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<Counter> {
        self.inner.incr(key, delta, ttl).await
    }
    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        self.inner.gcra(key, params).await
    }
    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        self.inner.list_index(index_key).await
    }
    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        self.inner.delete_index(index_key).await
    }
    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        self.inner.scan(prefix, cursor, limit).await
    }
    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        self.inner.purge_expired(limit).await
    }
    async fn stats(&self) -> Result<StoreStats> {
        self.inner.stats().await
    }
}

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
    let store = shared().with_prefix(&prefix).expect("valid prefix");
    Arc::new(Minimal::new(store.with_clock(clock)))
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn a_store_names_itself_by_capabilities_and_defaults_to_the_system_clock() {
    let long_ago = FakeClock::at_millis(1_000);
    let inner = shared().with_prefix("clock-default").unwrap();
    let store = Minimal::new(inner.with_clock(long_ago));
    assert_eq!(store.capabilities().name, "minimal");
    assert_eq!(store.inner.clock().now_millis(), 1_000);
    let system = SystemClock.now_millis();
    assert!(
        store.clock().now_millis() >= system,
        "the default clock is the system clock, not the inner store's"
    );
}

#[tokio::test]
async fn default_health_reports_whether_the_store_answers() {
    let store = Minimal::new(shared().with_prefix("health-default").unwrap());
    let up = store.health().await;
    assert!(up.ok && up.detail.is_none(), "{up:?}");

    store.down.store(true, Ordering::Relaxed);
    let down = store.health().await;
    assert!(!down.ok);
    let detail = down.detail.expect("a failed check says why");
    assert!(detail.contains("connection refused"), "{detail}");
    assert!(matches!(
        store.exists("s:1").await,
        Err(Error::Backend { .. })
    ));
}

#[tokio::test]
async fn default_put_many_keeps_going_after_a_failed_item() {
    let store = Minimal::new(shared().with_prefix("batch-default").unwrap());
    store
        .put("s:taken", b"old", PutOptions::new())
        .await
        .unwrap();
    let items = [
        PutItem {
            key: "s:taken",
            value: b"new",
            options: PutOptions::new().create_only(),
        },
        PutItem {
            key: "s:free",
            value: b"v",
            options: PutOptions::new().create_only(),
        },
    ];
    let results = store.put_many(&items).await.expect("the batch is sent");
    assert!(matches!(results[0], Err(Error::AlreadyExists { .. })));
    assert_eq!(results[1].as_ref().ok(), Some(&1));
    assert_eq!(
        store.get("s:taken").await.unwrap().unwrap().value,
        &b"old"[..]
    );
    assert!(store.exists("s:free").await.unwrap());
}
