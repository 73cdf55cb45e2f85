//! Rate limiting on any [`Store`]: GCRA (default), sliding window and fixed window, each one atomic store step per check, with a store-failure policy and an in-process cache of blocked keys.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> authstore::Result<()> {
//! use authstore::ratelimit::{Limit, RateLimiter};
//! use std::time::Duration;
//! let limiter = RateLimiter::new(authstore::open("memory://").await?, Limit::per(3, Duration::from_secs(60)));
//! for _ in 0..3 {
//!     assert!(limiter.check("login:203.0.113.9", 1).await?.allowed);
//! }
//! let denied = limiter.check("login:203.0.113.9", 1).await?;
//! assert!(!denied.allowed && denied.retry_after > Duration::ZERO);
//! # Ok(()) }
//! ```
//!
//! **Atomicity.** GCRA is the store's own `gcra` primitive: one script on
//! Redis, one statement on SQL, one lock in memory. The window algorithms
//! count with `incr`, which is atomic everywhere: every request gets a
//! distinct count, so exactly `limit` requests per window are admitted
//! however many clients race, across processes. A refused request's count
//! is given back, so refusals do not consume the quota.

mod local;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SharedClock, SystemClock, duration_to_millis};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::types::GcraParams;
use local::BlockedKeys;

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

/// The verdict of one [`RateLimiter::check`].
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

/// Checks requests against a [`Limit`] per key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Arc<dyn Store>,
    local: Arc<dyn Store>,
    clock: SharedClock,
    limit: Limit,
    prefix: Arc<str>,
    on_failure: FailurePolicy,
    blocked: Option<Arc<BlockedKeys>>,
}

impl RateLimiter {
    /// `limit` on `store`, with the system clock.
    pub fn new(store: Arc<dyn Store>, limit: Limit) -> Self {
        Self::with_clock(store, limit, SystemClock)
    }

    /// `limit` on `store`, judging windows by `clock` (use the store's clock).
    pub fn with_clock(store: Arc<dyn Store>, limit: Limit, clock: impl Clock) -> Self {
        let clock: SharedClock = Arc::new(clock);
        let local = crate::memory::MemoryStore::builder()
            .sweep_interval(None)
            .clock(Arc::clone(&clock))
            .build()
            .expect("a default memory store builds");
        Self {
            store,
            local: Arc::new(local),
            clock,
            limit,
            prefix: "rl:".into(),
            on_failure: FailurePolicy::Error,
            blocked: None,
        }
    }

    /// Key namespace of this limiter's state (default `rl:`); give each limiter its own.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] unless it is `name:`-shaped.
    pub fn namespace(mut self, namespace: &str) -> Result<Self> {
        crate::key::validate_key(&format!("{namespace}x"))?;
        self.prefix = namespace.into();
        Ok(self)
    }

    /// What to do when the store fails.
    pub fn on_store_failure(mut self, policy: FailurePolicy) -> Self {
        self.on_failure = policy;
        self
    }

    /// Remembers refused keys in this process until their `retry_after`,
    /// answering them without a store round trip (at most `capacity` keys).
    pub fn cache_blocked_keys(mut self, capacity: usize) -> Self {
        self.blocked = Some(Arc::new(BlockedKeys::new(capacity)));
        self
    }

    /// The limit.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Checks a request of `cost` units for `key`, spending them if allowed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a cost above the limit; store errors
    /// under [`FailurePolicy::Error`].
    pub async fn check(&self, key: &str, cost: u32) -> Result<Decision> {
        if cost > self.limit.requests {
            return Err(Error::InvalidArgument("cost exceeds the limit"));
        }
        let now = self.clock.now_millis();
        if let Some(blocked) = &self.blocked
            && let Some(until) = blocked.blocked_until(key, now)
        {
            let retry_after = Duration::from_millis(until - now);
            return Ok(self.refused(retry_after, retry_after, false));
        }
        let decision = match self.decide(&*self.store, key, cost, now).await {
            Ok(d) => d,
            Err(e) => match self.on_failure {
                FailurePolicy::Error => return Err(e),
                FailurePolicy::Open => Decision {
                    allowed: true,
                    remaining: 0,
                    reset_after: Duration::ZERO,
                    retry_after: Duration::ZERO,
                    limit: self.limit,
                    degraded: true,
                },
                FailurePolicy::Closed => Decision {
                    degraded: true,
                    ..self.refused(self.limit.period, self.limit.period, true)
                },
                FailurePolicy::Local => Decision {
                    degraded: true,
                    ..self.decide(&*self.local, key, cost, now).await?
                },
            },
        };
        if let Some(blocked) = &self.blocked
            && !decision.allowed
            && !decision.degraded
        {
            blocked.block(key, now + duration_to_millis(decision.retry_after), now);
        }
        Ok(decision)
    }

    fn refused(&self, retry_after: Duration, reset_after: Duration, degraded: bool) -> Decision {
        Decision {
            allowed: false,
            remaining: 0,
            reset_after,
            retry_after,
            limit: self.limit,
            degraded,
        }
    }

    async fn decide(&self, store: &dyn Store, key: &str, cost: u32, now: u64) -> Result<Decision> {
        match self.limit.algorithm {
            Algorithm::Gcra => self.gcra(store, key, cost).await,
            Algorithm::FixedWindow | Algorithm::SlidingWindow => {
                self.window(store, key, cost, now).await
            }
        }
    }

    async fn gcra(&self, store: &dyn Store, key: &str, cost: u32) -> Result<Decision> {
        let params = GcraParams::per_period(self.limit.requests, self.limit.period).cost(cost);
        let d = store.gcra(&format!("{}{key}", self.prefix), params).await?;
        Ok(Decision {
            allowed: d.allowed,
            remaining: d.remaining,
            reset_after: d.reset_after,
            retry_after: d.retry_after,
            limit: self.limit,
            degraded: false,
        })
    }

    /// Window counting: `incr` the current window's counter (atomic), decide,
    /// and give the cost back if refused.
    async fn window(&self, store: &dyn Store, key: &str, cost: u32, now: u64) -> Result<Decision> {
        let period = duration_to_millis(self.limit.period).max(1);
        let index = now / period;
        let elapsed = now % period;
        let counter = |i: u64| format!("{}{key}@{i}", self.prefix);
        // A window's counter lives two periods, long enough to weigh it as the previous one.
        let ttl = Duration::from_millis(period * 2);
        let current = store
            .incr(&counter(index), i64::from(cost), Some(ttl))
            .await?
            .value;
        let previous_weight = match self.limit.algorithm {
            Algorithm::SlidingWindow if index > 0 => {
                let previous = match store.get(&counter(index - 1)).await? {
                    Some(e) => crate::decimal::canonical_i64(&e.value).unwrap_or(0),
                    None => 0,
                };
                previous as f64 * (period - elapsed) as f64 / period as f64
            }
            _ => 0.0,
        };
        let limit = f64::from(self.limit.requests);
        let used = previous_weight + current as f64;
        let reset_after = Duration::from_millis(period - elapsed);
        if used <= limit {
            return Ok(Decision {
                allowed: true,
                remaining: (limit - used).floor() as u32,
                reset_after,
                retry_after: Duration::ZERO,
                limit: self.limit,
                degraded: false,
            });
        }
        // Refused: give the units back so a refusal consumes nothing.
        store
            .incr(&counter(index), -i64::from(cost), Some(ttl))
            .await?;
        Ok(self.refused(reset_after, reset_after, false))
    }
}
