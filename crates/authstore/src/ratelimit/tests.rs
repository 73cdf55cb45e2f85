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

#[test]
fn a_plain_check_on_the_memory_store_is_decided_before_it_is_polled() {
    use futures::FutureExt;
    let limiter = limiter();
    let first = limiter.check("ip:1", 1);
    assert_eq!(format!("{first:?}"), r#"Check("ready")"#);
    assert!(first.now_or_never().expect("ready").unwrap().allowed);
    assert!(
        limiter
            .check("ip:1", 1)
            .now_or_never()
            .unwrap()
            .unwrap()
            .allowed
    );
    let third = limiter.check("ip:1", 1).now_or_never().expect("ready");
    assert!(
        !third.unwrap().allowed,
        "the third of 2 per minute is refused"
    );
    let too_big = limiter.check("ip:1", 3).now_or_never().expect("ready");
    assert!(
        too_big.is_err(),
        "a cost above the limit is an error at once"
    );
}

#[tokio::test]
async fn a_check_with_extras_waits_for_the_store_and_decides_the_same() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let limit = Limit::per(2, Duration::from_secs(60));
    let blocking = super::Blocking {
        base: Duration::from_secs(10),
        factor: 2,
        max: Duration::from_secs(60),
        memory: Duration::from_secs(600),
    };
    let limiter =
        RateLimiter::with_clock(store, limit, FakeClock::new()).block_when_exceeded(blocking);
    let check = limiter.check("ip:1", 1);
    assert_eq!(format!("{check:?}"), r#"Check("waiting")"#);
    assert!(check.await.unwrap().allowed);
    assert!(limiter.check("ip:1", 1).await.unwrap().allowed);
    let refused = limiter.check("ip:1", 1).await.unwrap();
    assert!(!refused.allowed);
    assert!(
        refused.retry_after >= Duration::from_secs(10),
        "the block applies"
    );
}
