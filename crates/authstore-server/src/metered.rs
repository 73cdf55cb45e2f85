//! [`MeteredStore`]: a [`Store`] that delegates every method and records its latency and errors per operation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authstore::{
    Capabilities, Counter, Entry, Error, GcraDecision, GcraParams, Health, PutItem, PutOptions,
    Result, ScanPage, Store, StoreStats,
};

use crate::metrics::Histogram;

/// Upper bounds (seconds) of the store latency buckets.
pub const STORE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The store operations, one per [`Store`] method that reaches the backend.
const OPS: [&str; 15] = [
    "get",
    "put",
    "put_many",
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

/// Latency and errors per store operation. Cheap to clone; clones share the counts.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    ops: Arc<[OpStats]>,
}

#[derive(Debug)]
struct OpStats {
    latency: Histogram,
    /// Failures (backend down, timeout, corrupt data, …) by kind.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Answers of the store contract that are errors to the caller but not
    /// failures of the store (`already_exists`, `version_conflict`, …), by kind.
    rejections: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            ops: OPS
                .iter()
                .map(|_| OpStats {
                    latency: Histogram::new(STORE_BUCKETS),
                    errors: Mutex::default(),
                    rejections: Mutex::default(),
                })
                .collect(),
        }
    }
}

impl StoreMetrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times operation `op` (`"get"`, `"put"`, …) has run.
    pub fn calls(&self, op: &str) -> u64 {
        self.find(op).map_or(0, |s| s.latency.count())
    }

    /// How many times operation `op` failed (any kind).
    pub fn errors(&self, op: &str) -> u64 {
        self.find(op).map_or(0, |s| {
            s.errors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .sum()
        })
    }

    fn find(&self, op: &str) -> Option<&OpStats> {
        OPS.iter().position(|&o| o == op).map(|i| &self.ops[i])
    }

    fn record(&self, op: Op, elapsed: Duration, error: Option<&Error>) {
        let stats = &self.ops[op as usize];
        stats.latency.observe(elapsed);
        if let Some(error) = error {
            stats.count_error(error);
        }
    }

    /// Records one `put_many` batch: its latency once, then the outer error
    /// or each item's error by kind.
    fn record_batch(&self, elapsed: Duration, result: &Result<Vec<Result<u64>>>) {
        let stats = &self.ops[Op::PutMany as usize];
        stats.latency.observe(elapsed);
        match result {
            Err(error) => stats.count_error(error),
            Ok(items) => items
                .iter()
                .filter_map(|item| item.as_ref().err())
                .for_each(|error| stats.count_error(error)),
        }
    }

    fn record_unhealthy(&self, elapsed: Duration) {
        let stats = &self.ops[Op::Health as usize];
        stats.latency.observe(elapsed);
        *stats
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry("unhealthy")
            .or_default() += 1;
    }

    /// Appends the store metrics to `out` in the Prometheus text format.
    pub fn render_into(&self, out: &mut String) {
        let name = "authstore_store_operation_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time a store operation took, by operation.\n# TYPE {name} histogram"
        );
        for (op, stats) in OPS.iter().zip(self.ops.iter()) {
            stats.latency.render(out, name, &format!("op=\"{op}\""));
        }
        for (name, help, rejections) in [
            (
                "authstore_store_errors_total",
                "Store operations that failed (backend, timeout, corrupt, unhealthy, …), by operation and kind.",
                false,
            ),
            (
                "authstore_store_rejections_total",
                "Store operations refused by the store contract (already_exists, not_found, version_conflict, …).",
                true,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (op, stats) in OPS.iter().zip(self.ops.iter()) {
                let map = if rejections {
                    &stats.rejections
                } else {
                    &stats.errors
                };
                for (kind, count) in map.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                    let _ = writeln!(out, "{name}{{op=\"{op}\",kind=\"{kind}\"}} {count}");
                }
            }
        }
    }
}

impl OpStats {
    fn count_error(&self, error: &Error) {
        let (kind, failure) = classify(error);
        let map = if failure {
            &self.errors
        } else {
            &self.rejections
        };
        *map.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(kind)
            .or_default() += 1;
    }
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

/// A [`Store`] that delegates every method to another and records each
/// call's latency and outcome in [`StoreMetrics`]. `gcra_inline` answers are
/// recorded as `gcra`; `health` reporting not ok counts as an `unhealthy` error.
/// A `put_many` batch is one `put_many` call, each failed item counted by kind.
///
/// Every method is forwarded explicitly, so a backend's own `put_many`,
/// `exists` or `health` is never replaced by the trait's default.
#[derive(Debug, Clone)]
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: StoreMetrics,
}

impl MeteredStore {
    /// Meters `inner` into fresh metrics.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self::with_metrics(inner, StoreMetrics::new())
    }

    /// Meters `inner` into `metrics`.
    pub fn with_metrics(inner: Arc<dyn Store>, metrics: StoreMetrics) -> Self {
        Self { inner, metrics }
    }

    /// The metrics this store records into.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// The metered store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    async fn timed<T>(&self, op: Op, call: impl Future<Output = Result<T>>) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .record(op, started.elapsed(), result.as_ref().err());
        result
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for MeteredStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn clock(&self) -> authstore::SharedClock {
        self.inner.clock()
    }

    fn prefix(&self) -> &str {
        self.inner.prefix()
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.timed(Op::Get, self.inner.get(key)).await
    }

    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        self.timed(Op::Put, self.inner.put(key, value, options))
            .await
    }

    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        let started = Instant::now();
        let result = self.inner.put_many(items).await;
        self.metrics.record_batch(started.elapsed(), &result);
        result
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
        self.metrics
            .record(Op::Gcra, started.elapsed(), answer.as_ref().err());
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
        if health.ok {
            self.metrics.record(Op::Health, started.elapsed(), None);
        } else {
            self.metrics.record_unhealthy(started.elapsed());
        }
        health
    }
}
