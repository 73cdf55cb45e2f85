//! [`MeteredStore`]: a [`Store`] that delegates every method and records each call's latency and outcome through the `metrics` facade (feature `metrics`).
//!
//! Three series, labelled by operation (`op`: `get`, `put`, `put_many`,
//! `take`, `delete`, `exists`, `touch`, `incr`, `gcra`, `list_index`,
//! `delete_index`, `scan`, `purge_expired`, `stats`, `health`):
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`STORE_OPERATION_DURATION`] `authstore_store_operation_duration_seconds` | histogram | `op` |
//! | [`STORE_ERRORS`] `authstore_store_errors_total` | counter | `op`, `kind` (`backend`, `timeout`, `corrupt`, `unhealthy`, …) |
//! | [`STORE_REJECTIONS`] `authstore_store_rejections_total` | counter | `op`, `kind` (`already_exists`, `version_conflict`, …) |
//!
//! Errors are failures of the store (the backend is down, slow or holds
//! corrupt data); rejections are answers of the store contract that the
//! caller sees as errors (a `create_only` put on an existing key, a version
//! conflict). They are counted apart so an alert on errors does not fire on
//! ordinary contention.
//!
//! The metrics go to the recorder installed with
//! [`metrics::set_global_recorder`] (any exporter: Prometheus, StatsD,
//! OpenTelemetry), or to the one given to [`MeteredStore::with_recorder`].
//! Install the global recorder before building the store: the histogram
//! handles are registered once, at construction.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use authstore::metered::MeteredStore;
//! use authstore::Store;
//!
//! let store: Arc<dyn Store> = Arc::new(MeteredStore::new(authstore::open("memory://").await?));
//! store.get("session:1").await?; // one `get` observed by the installed recorder
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use metrics::{Histogram, Recorder};

use crate::{
    Capabilities, Counter, Entry, Error, GcraDecision, GcraParams, Health, PutItem, PutOptions,
    Result, ScanPage, SharedClock, Store, StoreStats, VersionCheck,
};

/// The latency histogram of every store operation, in seconds.
pub const STORE_OPERATION_DURATION: &str = "authstore_store_operation_duration_seconds";
/// Store operations that failed, by operation and kind.
pub const STORE_ERRORS: &str = "authstore_store_errors_total";
/// Store operations refused by the store contract, by operation and kind.
pub const STORE_REJECTIONS: &str = "authstore_store_rejections_total";

/// Bucket bounds (seconds) that suit [`STORE_OPERATION_DURATION`]: 100 µs
/// (an in-process store) to 2.5 s (a store timing out). Give them to the
/// exporter, e.g. `PrometheusBuilder::set_buckets_for_metric`.
pub const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A recorder shared by the handles of one metered object.
pub type SharedRecorder = Arc<dyn Recorder + Send + Sync>;

/// The store operations, one per [`Store`] method that reaches the backend,
/// in the order of [`Op`].
const OPS: [&str; 16] = [
    "get",
    "put",
    "put_many",
    "commit",
    "take",
    "delete",
    "exists",
    "touch",
    "incr",
    "gcra",
    "list_index",
    "delete_index",
    "scan",
    "purge_expired",
    "stats",
    "health",
];

#[derive(Debug, Clone, Copy)]
enum Op {
    Get,
    Put,
    PutMany,
    Commit,
    Take,
    Delete,
    Exists,
    Touch,
    Incr,
    Gcra,
    ListIndex,
    DeleteIndex,
    Scan,
    PurgeExpired,
    Stats,
    Health,
}

/// A [`Store`] that delegates every method to another and records each
/// call's latency and outcome (see the [module](self) for the series).
/// `get_inline` and `gcra_inline` answers are recorded as `get` and `gcra`,
/// and a miss (the inner store cannot answer in place) is not a call; `health` reporting not ok counts as
/// an `unhealthy` error; a `put_many` batch is one `put_many` call, each
/// failed item counted by kind.
///
/// Every method is forwarded explicitly, so a backend's own `put_many`,
/// `exists` or `health` is never replaced by the trait's default.
#[derive(Clone)]
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    recorder: Option<SharedRecorder>,
    /// One latency histogram per operation, in the order of [`OPS`].
    latency: Arc<[Histogram]>,
}

impl std::fmt::Debug for MeteredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredStore")
            .field("inner", &self.inner)
            .field("own_recorder", &self.recorder.is_some())
            .finish_non_exhaustive()
    }
}

impl MeteredStore {
    /// Meters `inner` into the global recorder (the one installed now).
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self::build(inner, None)
    }

    /// Meters `inner` into `recorder` instead of the global one, e.g. to keep
    /// two stores' series apart or to read them back in a test.
    pub fn with_recorder(inner: Arc<dyn Store>, recorder: SharedRecorder) -> Self {
        Self::build(inner, Some(recorder))
    }

    fn build(inner: Arc<dyn Store>, recorder: Option<SharedRecorder>) -> Self {
        let latency = with_recorder(recorder.as_ref(), || {
            describe();
            OPS.iter()
                .map(|&op| metrics::histogram!(STORE_OPERATION_DURATION, "op" => op))
                .collect()
        });
        Self {
            inner,
            recorder,
            latency,
        }
    }

    /// The metered store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    async fn timed<T>(&self, op: Op, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        self.record(op, started.elapsed(), result.as_ref().err());
        result
    }

    fn record(&self, op: Op, elapsed: Duration, error: Option<&Error>) {
        self.latency[op as usize].record(elapsed.as_secs_f64());
        if let Some(error) = error {
            self.count_error(op, error);
        }
    }

    /// Records one `put_many` batch: its latency once, then the outer error
    /// or each item's error by kind.
    fn record_batch(&self, elapsed: Duration, result: &Result<Vec<Result<u64>>>) {
        self.latency[Op::PutMany as usize].record(elapsed.as_secs_f64());
        match result {
            Err(error) => self.count_error(Op::PutMany, error),
            Ok(items) => items
                .iter()
                .filter_map(|item| item.as_ref().err())
                .for_each(|error| self.count_error(Op::PutMany, error)),
        }
    }

    fn count_error(&self, op: Op, error: &Error) {
        let (kind, failure) = classify(error);
        self.count(op, kind, failure);
    }

    /// Errors are rare: their counters are looked up when they happen, so
    /// only the kinds seen appear in the exposition.
    fn count(&self, op: Op, kind: &'static str, failure: bool) {
        let name = if failure {
            STORE_ERRORS
        } else {
            STORE_REJECTIONS
        };
        let op = OPS[op as usize];
        with_recorder(self.recorder.as_ref(), || {
            metrics::counter!(name, "op" => op, "kind" => kind).increment(1);
        });
    }
}

/// Runs `f` with `recorder` as the current recorder (for the `metrics`
/// macros it calls), or with the global recorder when `None`.
pub fn with_recorder<T>(recorder: Option<&SharedRecorder>, f: impl FnOnce() -> T) -> T {
    match recorder {
        Some(recorder) => metrics::with_local_recorder(recorder.as_ref(), f),
        None => f(),
    }
}

/// Describes the store series to the current recorder.
fn describe() {
    metrics::describe_histogram!(
        STORE_OPERATION_DURATION,
        "Time a store operation took, by operation."
    );
    metrics::describe_counter!(
        STORE_ERRORS,
        "Store operations that failed (backend, timeout, corrupt, unhealthy, …), by operation and kind."
    );
    metrics::describe_counter!(
        STORE_REJECTIONS,
        "Store operations refused by the store contract (already_exists, not_found, version_conflict, …)."
    );
}

/// An error's kind label, and whether it is a failure of the store (rather than a contract answer).
fn classify(error: &Error) -> (&'static str, bool) {
    match error {
        Error::InvalidKey { .. } => ("invalid_key", false),
        Error::ValueTooLarge { .. } => ("value_too_large", false),
        Error::TooManyIndexKeys { .. } => ("too_many_index_keys", false),
        Error::ZeroTtl => ("zero_ttl", false),
        Error::InvalidArgument(_) => ("invalid_argument", false),
        Error::AlreadyExists { .. } => ("already_exists", false),
        Error::NotFound { .. } => ("not_found", false),
        Error::VersionConflict { .. } => ("version_conflict", false),
        Error::NotACounter { .. } => ("not_a_counter", false),
        Error::CounterOverflow { .. } => ("counter_overflow", false),
        Error::Corrupt { .. } => ("corrupt", true),
        Error::Serde { .. } => ("serde", true),
        Error::Contended { .. } => ("contended", true),
        Error::Timeout { .. } => ("timeout", true),
        Error::PermissionDenied { .. } => ("permission_denied", true),
        Error::Backend { .. } => ("backend", true),
        Error::Internal { .. } => ("internal", true),
        _ => ("other", true),
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for MeteredStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn clock(&self) -> SharedClock {
        self.inner.clock()
    }

    fn prefix(&self) -> &str {
        self.inner.prefix()
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.timed(Op::Get, self.inner.get(key)).await
    }

    fn get_inline(&self, key: &str) -> Option<Result<Option<Entry>>> {
        let started = Instant::now();
        let answer = self.inner.get_inline(key)?;
        self.record(Op::Get, started.elapsed(), answer.as_ref().err());
        Some(answer)
    }

    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        self.timed(Op::Put, self.inner.put(key, value, options))
            .await
    }

    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        let started = Instant::now();
        let result = self.inner.put_many(items).await;
        self.record_batch(started.elapsed(), &result);
        result
    }

    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        self.timed(Op::Commit, self.inner.commit(checks, puts))
            .await
    }

    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        self.timed(Op::Take, self.inner.take(key)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        self.timed(Op::Delete, self.inner.delete(key)).await
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        self.timed(Op::Exists, self.inner.exists(key)).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        self.timed(Op::Touch, self.inner.touch(key, ttl)).await
    }

    async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<Counter> {
        self.timed(Op::Incr, self.inner.incr(key, delta, ttl_on_create))
            .await
    }

    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        self.timed(Op::Gcra, self.inner.gcra(key, params)).await
    }

    fn gcra_inline(&self, key: &str, params: GcraParams) -> Option<Result<GcraDecision>> {
        let started = Instant::now();
        let answer = self.inner.gcra_inline(key, params)?;
        self.record(Op::Gcra, started.elapsed(), answer.as_ref().err());
        Some(answer)
    }

    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        self.timed(Op::ListIndex, self.inner.list_index(index_key))
            .await
    }

    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        self.timed(Op::DeleteIndex, self.inner.delete_index(index_key))
            .await
    }

    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        self.timed(Op::Scan, self.inner.scan(prefix, cursor, limit))
            .await
    }

    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        self.timed(Op::PurgeExpired, self.inner.purge_expired(limit))
            .await
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.timed(Op::Stats, self.inner.stats()).await
    }

    async fn health(&self) -> Health {
        let started = Instant::now();
        let health = self.inner.health().await;
        self.latency[Op::Health as usize].record(started.elapsed().as_secs_f64());
        if !health.ok {
            self.count(Op::Health, "unhealthy", true);
        }
        health
    }
}
