//! The background task that deletes expired rows in batches.

use std::sync::Weak;
use std::time::Duration;

use super::Shared;
use super::codec::{Param, prefix_upper_bound};

/// Every `interval`, deletes expired rows of every prefix, `batch` at a time,
/// until a batch comes back short. Stops once the store is dropped.
pub(super) fn spawn(
    shared: Weak<Shared>,
    interval: Duration,
    batch: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            loop {
                let now = shared.clock.now_millis();
                let all = (
                    Param::Text(String::new()),
                    Param::Text(prefix_upper_bound("")),
                );
                match super::ops::purge(&shared, now, all.0, all.1, batch).await {
                    Ok(n) if n as usize >= batch => continue,
                    // A failure (database down) is retried at the next tick.
                    _ => break,
                }
            }
        }
    })
}
