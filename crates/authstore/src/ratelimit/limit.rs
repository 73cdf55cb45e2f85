//! The limiter's values: a [`Limit`] and its [`Algorithm`], the [`Decision`] of a check, and the [`FailurePolicy`] for a failing store.

use std::time::Duration;

/// How requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Generic Cell Rate Algorithm: smooth, burst-tolerant, one number per key (the default).
    #[default]
    Gcra,
    /// The previous window's count weighted by its overlap, plus the current one.
    SlidingWindow,
    /// A counter per fixed window.
    FixedWindow,
}

/// A limit: `requests` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per period (and the GCRA burst).
    pub requests: u32,
    /// The period.
    pub period: Duration,
    /// The counting algorithm.
    pub algorithm: Algorithm,
}

impl Limit {
    /// `requests` per `period` with GCRA.
    pub fn per(requests: u32, period: Duration) -> Self {
        Self {
            requests: requests.max(1),
            period,
            algorithm: Algorithm::Gcra,
        }
    }

    /// The same limit with another algorithm.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }
}

/// The verdict of one [`RateLimiter::check`](super::RateLimiter::check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead (its cost was spent).
    pub allowed: bool,
    /// Requests that could still be made now.
    pub remaining: u32,
    /// How long until the quota is fully available again.
    pub reset_after: Duration,
    /// When refused, how long until the same request would be allowed.
    pub retry_after: Duration,
    /// The limit that decided.
    pub limit: Limit,
    /// True when the store failed and the failure policy decided.
    pub degraded: bool,
}

impl Decision {
    pub(super) fn from_gcra(d: crate::types::GcraDecision, limit: Limit) -> Self {
        Self {
            allowed: d.allowed,
            remaining: d.remaining,
            reset_after: d.reset_after,
            retry_after: d.retry_after,
            limit,
            degraded: false,
        }
    }

    /// A window limit's verdict on `used` units (fractional for a sliding window).
    pub(super) fn from_window(limit: Limit, used: f64, reset_after: Duration) -> Self {
        let allowed = used <= f64::from(limit.requests);
        Self {
            allowed,
            remaining: (f64::from(limit.requests) - used).max(0.0).floor() as u32,
            reset_after,
            retry_after: if allowed { Duration::ZERO } else { reset_after },
            limit,
            degraded: false,
        }
    }
}

/// What to do when the store fails.
#[derive(Debug, Clone, Default)]
pub enum FailurePolicy {
    /// Return the error (the default).
    #[default]
    Error,
    /// Allow the request (availability first); marked `degraded`.
    Open,
    /// Refuse the request (protection first); marked `degraded`.
    Closed,
    /// Count in this process's memory meanwhile; marked `degraded`.
    Local,
}
