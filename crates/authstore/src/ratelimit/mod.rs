//! Rate limiting on any [`Store`]: GCRA (default), sliding window and fixed window, each one atomic store step per check, with a store-failure policy and an in-process cache of blocked keys.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
//! is given back, so refusals do not consume the quota. Several limits on
//! one key keep all their state in one entry replaced by compare-and-set
//! (see `combined`), so they are decided together and atomically.

mod check;
mod combined;
mod limit;
mod local;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SharedClock, duration_to_millis};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::types::GcraParams;
pub use check::Check;
pub use limit::{Algorithm, Decision, FailurePolicy, Limit};
use local::BlockedKeys;

/// Checks requests against a [`Limit`] per key. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn Store>,
    /// The in-process store of [`FailurePolicy::Local`], made when that
    /// policy is chosen.
    local: Option<Arc<dyn Store>>,
    clock: SharedClock,
    /// The limits every key gets unless the resolver says otherwise; the first is the primary.
    limits: Arc<[Limit]>,
    /// The GCRA parameters of `limits[0]`, derived once rather than per check.
    primary: GcraParams,
    prefix: Arc<str>,
    on_failure: FailurePolicy,
    blocked: Option<Arc<BlockedKeys>>,
    blocking: Option<Blocking>,
    resolver: Option<QuotaResolver>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("store", &self.store)
            .field("limits", &self.limits)
            .field("namespace", &self.prefix)
            .field("on_failure", &self.on_failure)
            .field("blocking", &self.blocking)
            .field("quota_resolver", &self.resolver.is_some())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The namespaced key of an in-place GCRA check, reused so that checks do not allocate.
    static STATE_KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Picks the limits of a key (e.g. by plan or tenant); `None` keeps the limiter's own.
pub type QuotaResolver = Arc<dyn Fn(&str) -> Option<Vec<Limit>> + Send + Sync>;

/// Blocking after the limit is exceeded: the key is refused for `base`,
/// then `base × factor`, `base × factor²`, … (at most `max`) for each
/// further refusal while earlier ones are remembered (`memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// The first block.
    pub base: Duration,
    /// Growth per repeated offence (1 = no escalation).
    pub factor: u32,
    /// The longest block.
    pub max: Duration,
    /// How long an offence counts towards escalation.
    pub memory: Duration,
}

impl RateLimiter {
    /// `limit` on `store`, judging windows by the store's [`clock`](Store::clock).
    pub fn new(store: Arc<dyn Store>, limit: Limit) -> Self {
        let clock = store.clock();
        Self::with_clock(store, limit, clock)
    }

    /// `limit` on `store`, judging windows by `clock` (use the store's clock).
    pub fn with_clock(store: Arc<dyn Store>, limit: Limit, clock: impl Clock) -> Self {
        Self {
            store,
            local: None,
            clock: crate::clock::share(clock),
            limits: Arc::from(vec![limit]),
            primary: GcraParams::per_period(limit.requests, limit.period),
            prefix: "rl:".into(),
            on_failure: FailurePolicy::Error,
            blocked: None,
            blocking: None,
            resolver: None,
        }
    }

    /// Several limits on every key (e.g. 10 per second and 100 per minute),
    /// of any algorithms, checked all-or-nothing: a request refused by one
    /// consumes nothing from the others.
    ///
    /// Their state is one entry, replaced by compare-and-set on its version:
    /// two store round trips per check rather than one, and a check that
    /// loses a race to a concurrent one on the same key starts again (after
    /// 1,000 lost races in a row it fails with
    /// [`Error::Contended`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for no limits.
    pub fn with_limits(mut self, limits: Vec<Limit>) -> Result<Self> {
        check_limits(&limits)?;
        self.primary = GcraParams::per_period(limits[0].requests, limits[0].period);
        self.limits = Arc::from(limits);
        Ok(self)
    }

    /// Blocks keys that exceed the limit, escalating for repeat offenders.
    pub fn block_when_exceeded(mut self, blocking: Blocking) -> Self {
        self.blocking = Some(blocking);
        self
    }

    /// Picks each key's limits (a per-key quota); the result is checked like [`with_limits`](Self::with_limits).
    pub fn quota_resolver(mut self, resolver: QuotaResolver) -> Self {
        self.resolver = Some(resolver);
        self
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

    /// What to do when the store fails. [`FailurePolicy::Local`] gives the
    /// limiter (and its clones made afterwards) an in-process memory store
    /// on the limiter's clock; the other policies need none.
    pub fn on_store_failure(mut self, policy: FailurePolicy) -> Self {
        self.local = match policy {
            FailurePolicy::Local => self.local.take().or_else(|| {
                let local = crate::memory::MemoryStore::builder()
                    .sweep_interval(None)
                    .clock(Arc::clone(&self.clock))
                    .build()
                    .expect("a default memory store builds");
                Some(Arc::new(local))
            }),
            _ => None,
        };
        self.on_failure = policy;
        self
    }

    /// Remembers refused keys in this process until their `retry_after`,
    /// answering them without a store round trip (at most `capacity` keys).
    pub fn cache_blocked_keys(mut self, capacity: usize) -> Self {
        self.blocked = Some(Arc::new(BlockedKeys::new(capacity)));
        self
    }

    /// What this limiter does when its store fails.
    pub fn failure_policy(&self) -> &FailurePolicy {
        &self.on_failure
    }

    /// The primary limit.
    pub fn limit(&self) -> Limit {
        self.limits[0]
    }

    /// The key's limits: borrowed on the hot path (no shared refcount to bump).
    fn limits_for(&self, key: &str) -> Result<std::borrow::Cow<'_, [Limit]>> {
        match self.resolver.as_ref().and_then(|r| r(key)) {
            Some(limits) => {
                check_limits(&limits)?;
                Ok(std::borrow::Cow::Owned(limits))
            }
            None => Ok(std::borrow::Cow::Borrowed(&self.limits)),
        }
    }

    /// `namespace + key`, built without the formatting machinery.
    fn state_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }

    /// Adds `points` to the key's count in every window limit (punish a bad request).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a GCRA limit; store errors.
    pub async fn penalty(&self, key: &str, points: u32) -> Result<()> {
        self.adjust(key, i64::from(points)).await
    }

    /// Takes `points` off the key's count in every window limit (reward a good request).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a GCRA limit; store errors.
    pub async fn reward(&self, key: &str, points: u32) -> Result<()> {
        self.adjust(key, -i64::from(points)).await
    }

    async fn adjust(&self, key: &str, delta: i64) -> Result<()> {
        let limits = self.limits_for(key)?;
        if limits.iter().any(|l| l.algorithm == Algorithm::Gcra) {
            return Err(Error::InvalidArgument(
                "penalty and reward need a window algorithm",
            ));
        }
        if limits.len() > 1 {
            let state = combined::state_key(&self.prefix, key);
            let change = combined::Change::Adjust(delta);
            combined::run(&*self.store, &*self.clock, state, &limits, change).await?;
            return Ok(());
        }
        let (counter, ttl, _, _) = self.window_slot(key, &limits[0], self.clock.now_millis());
        self.store.incr(&counter, delta, Some(ttl)).await?;
        Ok(())
    }

    /// Checks a request of `cost` units for `key`, spending them if allowed.
    ///
    /// When the store answers in place (the memory store) and the limiter
    /// has one GCRA limit and no extras, the check is made by this call and
    /// the returned future is already decided: one store step and no
    /// allocation. Anything that must wait for the store is a boxed future
    /// that starts when it is first polled. Await the result either way.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a cost above the limit; store errors
    /// under [`FailurePolicy::Error`].
    pub fn check<'a>(&'a self, key: &'a str, cost: u32) -> Check<'a> {
        let Some(limit) = self.plain_gcra() else {
            return Check::waiting(self.check_general(key, cost));
        };
        if cost > limit.requests {
            return Check::ready(Err(Error::InvalidArgument("cost exceeds the limit")));
        }
        let params = self.gcra_params(limit, cost);
        match self.gcra_in_place(&*self.store, key, params) {
            Some(Ok(d)) => Check::ready(Ok(Decision::from_gcra(d, limit))),
            Some(Err(e)) => Check::waiting(self.after_failure(e, key, cost, limit)),
            None => Check::waiting(async move {
                match self.store.gcra(&self.state_key(key), params).await {
                    Ok(d) => Ok(Decision::from_gcra(d, limit)),
                    Err(e) => self.after_failure(e, key, cost, limit).await,
                }
            }),
        }
    }

    /// The failure policy's decision for a plain GCRA check whose store step failed.
    async fn after_failure(
        &self,
        error: Error,
        key: &str,
        cost: u32,
        limit: Limit,
    ) -> Result<Decision> {
        let now = self.clock.now_millis();
        self.on_failure(error, key, cost, now, &[limit]).await
    }

    /// The single GCRA limit, when no resolver, blocking or cache is configured.
    fn plain_gcra(&self) -> Option<Limit> {
        match &*self.limits {
            [limit]
                if limit.algorithm == Algorithm::Gcra
                    && self.resolver.is_none()
                    && self.blocked.is_none()
                    && self.blocking.is_none() =>
            {
                Some(*limit)
            }
            _ => None,
        }
    }

    async fn check_general(&self, key: &str, cost: u32) -> Result<Decision> {
        let limits = self.limits_for(key)?;
        if limits.iter().any(|l| cost > l.requests) {
            return Err(Error::InvalidArgument("cost exceeds the limit"));
        }
        let now = self.clock.now_millis();
        if let Some(blocked) = &self.blocked
            && let Some(until) = blocked.blocked_until(key, now)
        {
            let retry_after = Duration::from_millis(until - now);
            return Ok(self.refused(limits[0], retry_after, retry_after, false));
        }
        if self.blocking.is_some()
            && let Some(entry) = self
                .store
                .get(&format!("{}block:{key}", self.prefix))
                .await?
        {
            let left = entry.ttl_at(self.clock.now()).unwrap_or(Duration::ZERO);
            return Ok(self.refused(limits[0], left, left, false));
        }
        let mut decision = match self.decide(&*self.store, key, cost, now, &limits).await {
            Ok(d) => d,
            Err(e) => self.on_failure(e, key, cost, now, &limits).await?,
        };
        if !decision.allowed && !decision.degraded {
            if let Some(blocking) = self.blocking {
                let block = self.block(key, blocking).await?;
                decision.retry_after = decision.retry_after.max(block);
                decision.reset_after = decision.reset_after.max(block);
            }
            if let Some(blocked) = &self.blocked {
                blocked.block(key, now + duration_to_millis(decision.retry_after), now);
            }
        }
        Ok(decision)
    }

    /// The decision when the store failed, as the failure policy says.
    async fn on_failure(
        &self,
        error: Error,
        key: &str,
        cost: u32,
        now: u64,
        limits: &[Limit],
    ) -> Result<Decision> {
        let primary = limits[0];
        Ok(match self.on_failure {
            FailurePolicy::Error => return Err(error),
            FailurePolicy::Open => Decision {
                allowed: true,
                remaining: 0,
                reset_after: Duration::ZERO,
                retry_after: Duration::ZERO,
                limit: primary,
                degraded: true,
            },
            FailurePolicy::Closed => self.refused(primary, primary.period, primary.period, true),
            FailurePolicy::Local => match &self.local {
                Some(local) => Decision {
                    degraded: true,
                    ..self.decide(&**local, key, cost, now, limits).await?
                },
                // `on_store_failure` makes the local store with this policy.
                None => return Err(error),
            },
        })
    }

    /// Records an offence and blocks the key for the escalated duration; returns it.
    async fn block(&self, key: &str, blocking: Blocking) -> Result<Duration> {
        let strikes = self
            .store
            .incr(
                &format!("{}strikes:{key}", self.prefix),
                1,
                Some(blocking.memory),
            )
            .await?
            .value;
        let exponent = u32::try_from(strikes.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(32);
        let factor = blocking.factor.max(1).saturating_pow(exponent);
        let block = blocking.base.saturating_mul(factor).min(blocking.max);
        if !block.is_zero() {
            let options = crate::types::PutOptions::new().ttl(block);
            self.store
                .put(&format!("{}block:{key}", self.prefix), b"blocked", options)
                .await?;
        }
        Ok(block)
    }

    fn refused(
        &self,
        limit: Limit,
        retry_after: Duration,
        reset_after: Duration,
        degraded: bool,
    ) -> Decision {
        Decision {
            allowed: false,
            remaining: 0,
            reset_after,
            retry_after,
            limit,
            degraded,
        }
    }

    async fn decide(
        &self,
        store: &dyn Store,
        key: &str,
        cost: u32,
        now: u64,
        limits: &[Limit],
    ) -> Result<Decision> {
        match limits {
            [limit] if limit.algorithm == Algorithm::Gcra => {
                self.gcra(store, key, cost, *limit).await
            }
            [limit] => self.window(store, key, *limit, cost, now).await,
            _ => {
                let state = combined::state_key(&self.prefix, key);
                let change = combined::Change::Spend(cost);
                combined::run(store, &*self.clock, state, limits, change).await
            }
        }
    }

    async fn gcra(
        &self,
        store: &dyn Store,
        key: &str,
        cost: u32,
        limit: Limit,
    ) -> Result<Decision> {
        let params = self.gcra_params(limit, cost);
        let d = match self.gcra_in_place(store, key, params) {
            Some(d) => d?,
            None => store.gcra(&self.state_key(key), params).await?,
        };
        Ok(Decision::from_gcra(d, limit))
    }

    /// The GCRA parameters of `limit` for a request of `cost` units.
    fn gcra_params(&self, limit: Limit, cost: u32) -> GcraParams {
        if limit == self.limits[0] {
            self.primary
        } else {
            GcraParams::per_period(limit.requests, limit.period)
        }
        .cost(cost)
    }

    /// The store's in-place answer (`None` from a store that must be
    /// awaited), the namespaced key joined in a reused per-thread buffer.
    fn gcra_in_place(
        &self,
        store: &dyn Store,
        key: &str,
        params: GcraParams,
    ) -> Option<Result<crate::types::GcraDecision>> {
        STATE_KEY.with_borrow_mut(|joined| {
            joined.clear();
            joined.push_str(&self.prefix);
            joined.push_str(key);
            store.gcra_inline(joined, params)
        })
    }

    /// The counter key of the window holding `now`, its TTL, the window index and the time into it.
    fn window_slot(&self, key: &str, limit: &Limit, now: u64) -> (String, Duration, u64, u64) {
        let period = duration_to_millis(limit.period).max(1);
        let index = now / period;
        let counter = format!("{}{key}@{index}", self.prefix);
        // A window's counter lives two periods, long enough to weigh it as the previous one.
        (
            counter,
            Duration::from_millis(period.saturating_mul(2)),
            index,
            now % period,
        )
    }

    /// One window limit: `incr` the current window's counter (atomic) and
    /// decide; a refused request's units are given back.
    async fn window(
        &self,
        store: &dyn Store,
        key: &str,
        limit: Limit,
        cost: u32,
        now: u64,
    ) -> Result<Decision> {
        let (counter, ttl, index, elapsed) = self.window_slot(key, &limit, now);
        let period = duration_to_millis(limit.period).max(1);
        let current = store
            .incr(&counter, i64::from(cost), Some(ttl))
            .await?
            .value;
        let previous_weight = match limit.algorithm {
            Algorithm::SlidingWindow if index > 0 => {
                let (previous_key, ..) = self.window_slot(key, &limit, (index - 1) * period);
                let previous = match store.get(&previous_key).await? {
                    Some(e) => {
                        crate::backend::decimal::canonical_i64(&e.value).ok_or_else(|| {
                            Error::corrupt(Some(&previous_key), "window count is not a decimal")
                        })?
                    }
                    None => 0,
                };
                previous as f64 * (period - elapsed) as f64 / period as f64
            }
            _ => 0.0,
        };
        let reset_after = Duration::from_millis(period - elapsed);
        let decision = Decision::from_window(limit, previous_weight + current as f64, reset_after);
        if !decision.allowed {
            // Refused: give the units back so a refusal consumes nothing.
            store.incr(&counter, -i64::from(cost), Some(ttl)).await?;
        }
        Ok(decision)
    }
}

fn check_limits(limits: &[Limit]) -> Result<()> {
    if limits.is_empty() {
        return Err(Error::InvalidArgument("a limiter needs at least one limit"));
    }
    Ok(())
}
