//! The GCRA arithmetic behind [`Store::gcra`](crate::Store::gcra), shared by every backend.
//!
//! The state is one number, the theoretical arrival time (TAT) in ms since
//! the epoch. Backends run [`step`] inside their own atomic section (a lock,
//! a transaction, a Lua script) and store the returned TAT.

use std::time::Duration;

use crate::clock::duration_to_millis;
use crate::error::{Error, Result};
use crate::types::{GcraDecision, GcraParams};

/// The outcome of one GCRA step: the decision and the TAT to store, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraOutcome {
    /// What to tell the caller.
    pub decision: GcraDecision,
    /// New TAT (ms since the epoch) to store with expiry at that same instant;
    /// `None` means leave the state unchanged.
    pub store_tat: Option<u64>,
}

/// Checks `params`: interval ≥ 1 ms, burst ≥ 1, cost ≤ burst.
///
/// # Errors
/// [`Error::InvalidArgument`].
pub fn validate(params: &GcraParams) -> Result<()> {
    if duration_to_millis(params.emission_interval) == 0 {
        return Err(Error::InvalidArgument(
            "GCRA emission interval must be at least 1 ms",
        ));
    }
    if params.burst == 0 {
        return Err(Error::InvalidArgument("GCRA burst must be at least 1"));
    }
    if params.cost > params.burst {
        return Err(Error::InvalidArgument(
            "GCRA cost must not exceed the burst",
        ));
    }
    Ok(())
}

/// One GCRA step at `now` (ms) given the stored TAT (`None` when absent or expired).
/// `params` must have passed [`validate`].
pub fn step(stored_tat: Option<u64>, now: u64, params: &GcraParams) -> GcraOutcome {
    let interval = duration_to_millis(params.emission_interval);
    let window = interval.saturating_mul(u64::from(params.burst));
    let tat = stored_tat.map_or(now, |t| t.max(now));
    let new_tat = tat.saturating_add(interval.saturating_mul(u64::from(params.cost)));
    let horizon = now.saturating_add(window);
    let ms = Duration::from_millis;
    if new_tat <= horizon {
        GcraOutcome {
            decision: GcraDecision {
                allowed: true,
                remaining: to_u32((horizon - new_tat) / interval),
                retry_after: Duration::ZERO,
                reset_after: ms(new_tat - now),
            },
            store_tat: (params.cost > 0).then_some(new_tat),
        }
    } else {
        GcraOutcome {
            decision: GcraDecision {
                allowed: false,
                remaining: to_u32(horizon.saturating_sub(tat) / interval),
                retry_after: ms(new_tat - horizon),
                reset_after: ms(tat - now),
            },
            store_tat: None,
        }
    }
}

fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(interval_ms: u64, burst: u32) -> GcraParams {
        GcraParams {
            emission_interval: Duration::from_millis(interval_ms),
            burst,
            cost: 1,
        }
    }

    #[test]
    fn burst_then_steady_rate() {
        let p = params(100, 3);
        let mut tat = None;
        let now = 1_000_000;
        for expected_remaining in [2, 1, 0] {
            let out = step(tat, now, &p);
            assert!(out.decision.allowed);
            assert_eq!(out.decision.remaining, expected_remaining);
            tat = out.store_tat;
        }
        let denied = step(tat, now, &p);
        assert!(!denied.decision.allowed);
        assert_eq!(denied.decision.retry_after, Duration::from_millis(100));
        assert_eq!(denied.decision.reset_after, Duration::from_millis(300));
        assert_eq!(denied.store_tat, None);
        let later = step(tat, now + 100, &p);
        assert!(later.decision.allowed);
        assert_eq!(later.decision.remaining, 0);
    }

    #[test]
    fn zero_cost_only_reports() {
        let p = params(10, 5).cost(0);
        let out = step(None, 50, &p);
        assert!(out.decision.allowed);
        assert_eq!(out.decision.remaining, 5);
        assert_eq!(out.store_tat, None);
    }

    #[test]
    fn validation_rejects_impossible_limits() {
        assert!(validate(&params(0, 1)).is_err());
        assert!(validate(&params(1, 0)).is_err());
        assert!(validate(&params(1, 2).cost(3)).is_err());
        assert!(validate(&params(1, 2).cost(2)).is_ok());
    }
}
