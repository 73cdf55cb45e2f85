//! `MeteredStore`: the whole conformance suite through it, every method reaching the inner store, and what it records per operation through the `metrics` facade (read back from a Prometheus recorder).
#![cfg(feature = "metrics")]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use authstore::metered::{MeteredStore, STORE_BUCKETS, STORE_OPERATION_DURATION};
use authstore::{
    Capabilities, Counter, Entry, Error, FakeClock, GcraDecision, GcraParams, Health, MemoryStore,
    PutItem, PutOptions, Result, ScanPage, Store, StoreStats, VersionCheck,
};
use authstore_testkit::UnavailableStore;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// A store metered into its own Prometheus recorder, and the handle that renders it.
fn metered(inner: Arc<dyn Store>) -> (MeteredStore, PrometheusHandle) {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(STORE_OPERATION_DURATION.into()),
            STORE_BUCKETS,
        )
        .expect("valid buckets")
        .build_recorder();
    let handle = recorder.handle();
    (
        MeteredStore::with_recorder(inner, Arc::new(recorder)),
        handle,
    )
}

/// The value of the series `series` (name and labels, exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// How many times `op` ran, from the latency histogram's count.
fn calls(text: &str, op: &str) -> u64 {
    sample(
        text,
        &format!("{STORE_OPERATION_DURATION}_count{{op=\"{op}\"}}"),
    )
    .unwrap_or(0)
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
    let store = shared()
        .with_prefix(&prefix)
        .expect("valid prefix")
        .with_clock(clock);
    Arc::new(MeteredStore::new(Arc::new(store)))
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn every_operation_is_timed_and_outcomes_are_classified() {
    let (store, handle) = metered(authstore::open("memory://").await.unwrap());
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
    let text = handle.render();
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
        assert_eq!(calls(&text, op), 1, "{op} in:\n{text}");
    }
    assert_eq!((calls(&text, "put"), calls(&text, "gcra")), (2, 2));
    assert!(
        !text.contains("authstore_store_errors_total"),
        "already_exists is a rejection, not a failure:\n{text}"
    );
    assert!(
        text.contains("# TYPE authstore_store_operation_duration_seconds histogram")
            && text.contains(
                "authstore_store_operation_duration_seconds_bucket{op=\"get\",le=\"0.0001\"} "
            ),
        "a histogram with the store buckets:\n{text}"
    );
    assert!(
        text.contains("authstore_store_rejections_total{op=\"put\",kind=\"already_exists\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("authstore_store_operation_duration_seconds_count{op=\"get\"} 1"),
        "{text}"
    );
    assert_eq!((store.capabilities().name, store.prefix()), ("memory", ""));
}

#[tokio::test]
async fn failures_are_counted_by_kind() {
    let (store, handle) = metered(Arc::new(UnavailableStore));
    assert!(store.get("s:1").await.is_err());
    assert!(store.incr("c:1", 1, None).await.is_err());
    assert!(!store.health().await.ok);
    assert!(
        store
            .gcra_inline("g:1", GcraParams::per_period(1, Duration::from_secs(1)))
            .is_none()
    );
    let text = handle.render();
    assert_eq!(
        sample(
            &text,
            "authstore_store_errors_total{op=\"incr\",kind=\"backend\"}"
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(calls(&text, "gcra"), 0, "an inline miss is not a call");
    assert_eq!(calls(&text, "health"), 1, "{text}");
    assert!(
        text.contains("authstore_store_errors_total{op=\"get\",kind=\"backend\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("authstore_store_errors_total{op=\"health\",kind=\"unhealthy\"} 1"),
        "{text}"
    );
}

/// A store that forwards every method to a [`MemoryStore`] and records which
/// methods reached it.
#[derive(Debug)]
struct Recording {
    inner: MemoryStore,
    seen: Mutex<BTreeSet<&'static str>>,
}

impl Recording {
    fn saw(&self, method: &'static str) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(method);
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for Recording {
    fn capabilities(&self) -> Capabilities {
        self.saw("capabilities");
        self.inner.capabilities()
    }
    fn clock(&self) -> authstore::SharedClock {
        self.saw("clock");
        self.inner.clock()
    }
    fn prefix(&self) -> &str {
        self.saw("prefix");
        self.inner.prefix()
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.saw("get");
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        self.saw("put");
        self.inner.put(key, value, options).await
    }
    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        self.saw("put_many");
        self.inner.put_many(items).await
    }
    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        self.saw("commit");
        self.inner.commit(checks, puts).await
    }
    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        self.saw("take");
        self.inner.take(key).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.saw("delete");
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.saw("exists");
        self.inner.exists(key).await
    }
    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        self.saw("touch");
        self.inner.touch(key, ttl).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<Counter> {
        self.saw("incr");
        self.inner.incr(key, delta, ttl).await
    }
    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        self.saw("gcra");
        self.inner.gcra(key, params).await
    }
    fn get_inline(&self, key: &str) -> Option<Result<Option<Entry>>> {
        self.saw("get_inline");
        self.inner.get_inline(key)
    }
    fn gcra_inline(&self, key: &str, params: GcraParams) -> Option<Result<GcraDecision>> {
        self.saw("gcra_inline");
        self.inner.gcra_inline(key, params)
    }
    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        self.saw("list_index");
        self.inner.list_index(index_key).await
    }
    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        self.saw("delete_index");
        self.inner.delete_index(index_key).await
    }
    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        self.saw("scan");
        self.inner.scan(prefix, cursor, limit).await
    }
    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        self.saw("purge_expired");
        self.inner.purge_expired(limit).await
    }
    async fn stats(&self) -> Result<StoreStats> {
        self.saw("stats");
        self.inner.stats().await
    }
    async fn health(&self) -> Health {
        self.saw("health");
        self.inner.health().await
    }
}

#[tokio::test]
async fn every_method_reaches_the_inner_store() {
    let inner = Arc::new(Recording {
        inner: MemoryStore::builder()
            .sweep_interval(None)
            .build()
            .expect("valid configuration"),
        seen: Mutex::default(),
    });
    let (store, handle) = metered(inner.clone());
    let params = GcraParams::per_period(10, Duration::from_secs(1));

    assert_eq!(store.capabilities().name, "memory");
    let _ = store.capabilities();
    let _ = store.clock();
    assert_eq!(store.prefix(), "");
    store
        .put("s:1", b"v", PutOptions::new().index("ix:1"))
        .await
        .unwrap();
    let batch = [
        PutItem {
            key: "s:2",
            value: b"a",
            options: PutOptions::new(),
        },
        PutItem {
            key: "s:1",
            value: b"b",
            options: PutOptions::new().create_only(),
        },
    ];
    let results = store.put_many(&batch).await.unwrap();
    assert_eq!(results.len(), 2);
    assert!(matches!(results[1], Err(Error::AlreadyExists { .. })));
    assert!(store.get("s:2").await.unwrap().is_some());
    assert!(store.exists("s:1").await.unwrap());
    assert!(store.touch("s:1", Duration::from_secs(60)).await.unwrap());
    assert_eq!(store.incr("c:1", 2, None).await.unwrap().value, 2);
    store.gcra("g:1", params).await.unwrap();
    assert!(store.gcra_inline("g:1", params).is_some());
    assert!(matches!(store.get_inline("s:1"), Some(Ok(Some(_)))));
    assert_eq!(store.list_index("ix:1").await.unwrap(), ["s:1"]);
    assert_eq!(store.scan("s:", None, 10).await.unwrap().entries.len(), 2);
    assert!(store.take("s:2").await.unwrap().is_some());
    assert!(!store.delete("s:2").await.unwrap());
    assert_eq!(store.delete_index("ix:1").await.unwrap(), 1);
    store.purge_expired(10).await.unwrap();
    store.stats().await.unwrap();
    assert!(store.health().await.ok);

    let seen = inner
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let every_method = [
        "capabilities",
        "clock",
        "prefix",
        "get",
        "put",
        "put_many",
        "take",
        "delete",
        "exists",
        "touch",
        "incr",
        "gcra",
        "get_inline",
        "gcra_inline",
        "list_index",
        "delete_index",
        "scan",
        "purge_expired",
        "stats",
        "health",
    ];
    let missing: Vec<_> = every_method
        .iter()
        .filter(|method| !seen.contains(*method))
        .collect();
    assert!(
        missing.is_empty(),
        "never reached the inner store: {missing:?}"
    );

    let text = handle.render();
    assert_eq!(calls(&text, "put_many"), 1, "one batch is one call");
    assert_eq!(
        calls(&text, "put"),
        1,
        "the batch is not metered as single puts"
    );
    assert!(
        text.contains(
            "authstore_store_rejections_total{op=\"put_many\",kind=\"already_exists\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn new_records_into_the_global_recorder() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only global recorder of this test binary");
    let store = MeteredStore::new(authstore::open("memory://").await.unwrap());
    store.get("s:1").await.unwrap();
    store.get("s:2").await.unwrap();
    let text = handle.render();
    assert!(
        text.contains("# HELP authstore_store_operation_duration_seconds "),
        "described:\n{text}"
    );
    assert!(calls(&text, "get") >= 2, "{text}");
}

/// The store calls behind the token endpoint. A code exchange reads the
/// code (while the endpoint authenticates the client) and commits once; a
/// refresh reads the token, the grant's head and the grant together, then
/// commits once with the grant's extension alongside. Every backend sends
/// each call as one request (on Redis a pipelined GET and PTTL, or one
/// script), so each is two round trips to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_and_a_refresh_each_read_once_and_commit_once() {
    use authstore::oauth::{AuthorizationRequest, NewClient, OAuth, pkce_challenge};
    let (metered, handle) = metered(Arc::new(MemoryStore::new()));
    let store: Arc<dyn Store> = Arc::new(metered);
    let oauth = OAuth::new(Arc::clone(&store)).unwrap();
    let client = oauth
        .register_client(NewClient::public("cli", "http://127.0.0.1/callback"))
        .await
        .unwrap()
        .client;
    let verifier = authstore::secret::random_token().unwrap();
    let redirect = "http://127.0.0.1:8123/callback";
    let code = oauth
        .issue_code(&AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect.into(),
            code_challenge: pkce_challenge(&verifier),
            subject: "u-1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let ops = ["get", "put", "commit", "touch", "delete", "delete_index"];
    let counts = || {
        let text = handle.render();
        ops.map(|op| calls(&text, op))
    };
    let delta = |before: [u64; 6], after: [u64; 6]| {
        ops.iter()
            .zip(before.iter().zip(after))
            .filter(|(_, (b, a))| a > *b)
            .map(|(op, (b, a))| format!("{op} {}", a - b))
            .collect::<Vec<_>>()
    };

    let before = counts();
    let read = oauth.read_code(&code).await.unwrap();
    let tokens = oauth
        .exchange_code_read(&client, read, &code, (redirect, &verifier), None)
        .await
        .unwrap();
    assert_eq!(delta(before, counts()), ["get 1", "commit 1"], "exchange");

    let before = counts();
    let refresh = tokens.refresh_token.as_deref().unwrap();
    oauth.refresh(&client, refresh, None).await.unwrap();
    assert_eq!(
        delta(before, counts()),
        ["get 3", "commit 1", "touch 1"],
        "refresh"
    );
}
