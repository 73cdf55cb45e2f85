//! What a rate limiter does when its store is down: each failure policy.

use std::sync::Arc;
use std::time::Duration;

use authstore::ratelimit::{FailurePolicy, Limit, RateLimiter};
use authstore::{Error, FakeClock};
use authstore_testkit::UnavailableStore;

fn limiter(policy: FailurePolicy) -> RateLimiter {
    RateLimiter::with_clock(
        Arc::new(UnavailableStore),
        Limit::per(2, Duration::from_secs(60)),
        FakeClock::new(),
    )
    .on_store_failure(policy)
}

#[tokio::test]
async fn the_failure_policy_decides_when_the_store_is_down() {
    let err = limiter(FailurePolicy::Error)
        .check("k", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");

    let open = limiter(FailurePolicy::Open).check("k", 1).await.unwrap();
    assert!(open.allowed && open.degraded);

    let closed = limiter(FailurePolicy::Closed).check("k", 1).await.unwrap();
    assert!(!closed.allowed && closed.degraded && closed.retry_after > Duration::ZERO);

    let local = limiter(FailurePolicy::Local);
    let verdicts: Vec<bool> = futures::future::join_all((0..4).map(|_| local.check("k", 1)))
        .await
        .into_iter()
        .map(|d| d.unwrap().allowed)
        .collect();
    assert_eq!(
        verdicts.iter().filter(|a| **a).count(),
        2,
        "the local fallback still limits: {verdicts:?}"
    );
}

#[tokio::test]
async fn a_cost_above_the_limit_is_a_typed_error() {
    let err = limiter(FailurePolicy::Open)
        .check("k", 3)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
