//! The store cleanup `serve` runs on a schedule: expired entries and the index members they leave behind.
//!
//! Every backend drops or hides an expired entry by itself, but some leave
//! something behind until a cleanup pass: Redis keeps the members of expired
//! entries in their index sets (and the sets themselves), and the SQL and
//! memory stores keep expired rows until their sweeper passes. Without this
//! task a long-running server on Redis would need `authstore cleanup` from
//! cron to keep its memory bounded.

use std::future::Future;
use std::time::Instant;

use authstore::Store;

use crate::state::AppState;

/// Entries and index members removed per `purge_expired` call; a pass calls
/// it again while a call reaches the limit.
const BATCH: usize = 10_000;

/// Calls of one pass at most, so a pass always ends.
const MAX_BATCHES: usize = 100;

/// Starts the cleanup task when [`Settings::cleanup_interval`](crate::settings::Settings)
/// is set: one pass per interval (the first one interval after the start),
/// until `stop` resolves.
pub fn spawn_cleanup(
    state: &AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = state.settings().cleanup_interval?;
    let state = state.clone();
    Some(tokio::spawn(async move {
        let start = tokio::time::Instant::now() + every;
        let mut interval = tokio::time::interval_at(start, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = interval.tick() => {}
            }
            clean_once(&state).await;
        }
    }))
}

/// One cleanup pass; returns what it removed. A store error is logged and
/// the pass ends; the next one tries again.
pub async fn clean_once(state: &AppState) -> u64 {
    let started = Instant::now();
    let removed = match purge(state.store().as_ref(), BATCH, Some(MAX_BATCHES)).await {
        Ok(removed) => removed,
        Err((removed, e)) => {
            tracing::warn!(
                error = %authstore::error_chain(&e),
                removed,
                "store cleanup failed; trying again at the next pass"
            );
            return removed;
        }
    };
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if removed > 0 {
        tracing::info!(
            removed,
            took_ms,
            "store cleanup: expired entries and index members removed"
        );
    } else {
        tracing::debug!(took_ms, "store cleanup: nothing to remove");
    }
    removed
}

/// Calls `purge_expired(batch)` until a call removes fewer than `batch`
/// (or `max_batches` calls were made); returns how many were removed, or
/// that count with the error that stopped it.
pub(crate) async fn purge(
    store: &dyn Store,
    batch: usize,
    max_batches: Option<usize>,
) -> Result<u64, (u64, authstore::Error)> {
    let mut removed = 0u64;
    let mut calls = 0usize;
    while max_batches.is_none_or(|max| calls < max) {
        calls += 1;
        let n = store.purge_expired(batch).await.map_err(|e| (removed, e))?;
        removed += n;
        if n < batch as u64 {
            break;
        }
    }
    Ok(removed)
}
