//! Unit tests of the limiter's construction (the local fallback store exists only with its policy) and of limits at the edge of the arithmetic.

use std::sync::Arc;
use std::time::Duration;

use super::{Algorithm, FailurePolicy, Limit, RateLimiter};
use crate::{FakeClock, MemoryStore, Store};

fn limiter() -> RateLimiter {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    RateLimiter::with_clock(
        store,
        Limit::per(2, Duration::from_secs(60)),
        FakeClock::new(),
    )
}

#[tokio::test]
async fn the_local_store_is_made_only_for_the_local_policy() {
    assert!(limiter().local.is_none(), "no policy set");
    for policy in [
        FailurePolicy::Error,
        FailurePolicy::Open,
        FailurePolicy::Closed,
    ] {
        let l = limiter().on_store_failure(policy.clone());
        assert!(l.local.is_none(), "{policy:?} needs no local store");
    }

    let local = limiter().on_store_failure(FailurePolicy::Local);
    let made = Arc::clone(local.local.as_ref().expect("Local makes its store"));
    let again = local.clone().on_store_failure(FailurePolicy::Local);
    assert!(
        Arc::ptr_eq(again.local.as_ref().expect("kept"), &made),
        "choosing Local again keeps the same store"
    );
    let switched = again.on_store_failure(FailurePolicy::Open);
    assert!(switched.local.is_none(), "another policy drops it");
}

#[tokio::test]
async fn window_limits_of_the_longest_periods_count_without_overflow() {
    let period = Duration::from_millis(u64::MAX);
    for algorithm in [Algorithm::FixedWindow, Algorithm::SlidingWindow] {
        let limit = Limit::per(2, period).algorithm(algorithm);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let single = RateLimiter::with_clock(Arc::clone(&store), limit, FakeClock::new());
        assert!(single.check("k", 1).await.unwrap().allowed, "{algorithm:?}");
        let combined = RateLimiter::with_clock(store, limit, FakeClock::new())
            .with_limits(vec![limit, Limit::per(5, period).algorithm(algorithm)])
            .unwrap();
        assert!(
            combined.check("k", 1).await.unwrap().allowed,
            "{algorithm:?}"
        );
    }
}
