//! [`UnavailableStore`]: a store that is always down, for testing what modules do when the backend fails.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authstore::{
    Capabilities, Counter, Entry, Error, ExpiryClock, GcraDecision, GcraParams, Health, PutItem,
    PutOptions, Result, ScanPage, SharedClock, Store, StoreStats, SystemClock, VersionCheck,
};

/// Every operation fails with [`Error::Backend`] ("store unavailable"), as a
/// store whose server is unreachable does (`put_many` fails as a whole, as a
/// batch that could not be sent). `health` reports not ok; `gcra_inline`
/// answers `None`, so callers reach the failing `gcra`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnavailableStore;

fn down<T>() -> Result<T> {
    Err(Error::backend("unavailable", "store unavailable"))
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for UnavailableStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "unavailable",
            expiry_clock: ExpiryClock::Injected,
            // It stands for a database or server that cannot be reached.
            durable: true,
        }
    }
    fn clock(&self) -> SharedClock {
        Arc::new(SystemClock)
    }
    fn prefix(&self) -> &str {
        ""
    }
    async fn get(&self, _: &str) -> Result<Option<Entry>> {
        down()
    }
    async fn put(&self, _: &str, _: &[u8], _: PutOptions) -> Result<u64> {
        down()
    }
    async fn put_many(&self, _: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        down()
    }
    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        let _ = (checks, puts);
        down()
    }
    async fn take(&self, _: &str) -> Result<Option<Entry>> {
        down()
    }
    async fn delete(&self, _: &str) -> Result<bool> {
        down()
    }
    async fn exists(&self, _: &str) -> Result<bool> {
        down()
    }
    async fn touch(&self, _: &str, _: Duration) -> Result<bool> {
        down()
    }
    async fn incr(&self, _: &str, _: i64, _: Option<Duration>) -> Result<Counter> {
        down()
    }
    async fn gcra(&self, _: &str, _: GcraParams) -> Result<GcraDecision> {
        down()
    }
    fn get_inline(&self, _: &str) -> Option<Result<Option<Entry>>> {
        None
    }
    fn gcra_inline(&self, _: &str, _: GcraParams) -> Option<Result<GcraDecision>> {
        None
    }
    async fn list_index(&self, _: &str) -> Result<Vec<String>> {
        down()
    }
    async fn delete_index(&self, _: &str) -> Result<u64> {
        down()
    }
    async fn scan(&self, _: &str, _: Option<&str>, _: usize) -> Result<ScanPage> {
        down()
    }
    async fn purge_expired(&self, _: usize) -> Result<u64> {
        down()
    }
    async fn stats(&self) -> Result<StoreStats> {
        down()
    }
    async fn health(&self) -> Health {
        Health {
            ok: false,
            latency: Duration::ZERO,
            detail: Some("store unavailable".into()),
        }
    }
}
