//! Checks of [`authstore::ratelimit`] on any store: exact admissions per window for each algorithm, and exactness across two store instances.

use std::sync::Arc;
use std::time::Duration;

use authstore::ratelimit::{Algorithm, Limit, RateLimiter};
use authstore::{Clock, FakeClock, Store};

use crate::conformance::{pass_time, run_parallel};

/// Moves time (fake and, for server clocks, real) to the start of the next `period` window.
async fn align(store: &dyn Store, clock: &FakeClock, period: Duration) {
    let p = period.as_millis() as u64;
    pass_time(
        store,
        clock,
        Duration::from_millis(p - clock.now_millis() % p),
    )
    .await;
}

async fn admitted(limiter: &RateLimiter, key: &str, tries: usize) -> usize {
    let mut n = 0;
    for _ in 0..tries {
        if limiter.check(key, 1).await.unwrap().allowed {
            n += 1;
        }
    }
    n
}

/// GCRA admits the burst, then one request per emission interval; a refusal says when to retry.
pub async fn ratelimit_gcra_admits_exactly(store: Arc<dyn Store>, clock: FakeClock) {
    let limiter = RateLimiter::with_clock(
        Arc::clone(&store),
        Limit::per(5, Duration::from_secs(5)),
        clock.clone(),
    );
    assert_eq!(admitted(&limiter, "k", 8).await, 5);
    let refused = limiter.check("k", 1).await.unwrap();
    assert!(!refused.allowed && refused.remaining == 0);
    assert!(
        refused.retry_after > Duration::from_millis(800)
            && refused.retry_after <= Duration::from_secs(1)
    );
    assert_eq!(refused.limit.requests, 5);
    pass_time(&*store, &clock, Duration::from_millis(1050)).await;
    assert_eq!(
        admitted(&limiter, "k", 3).await,
        1,
        "one interval frees one request"
    );
    assert_eq!(
        admitted(&limiter, "other", 6).await,
        5,
        "keys are independent"
    );
}

/// A fixed window admits exactly the limit per window; refusals do not consume.
pub async fn ratelimit_fixed_window_admits_exactly(store: Arc<dyn Store>, clock: FakeClock) {
    let period = Duration::from_secs(1);
    let limiter = RateLimiter::with_clock(
        Arc::clone(&store),
        Limit::per(4, period).algorithm(Algorithm::FixedWindow),
        clock.clone(),
    );
    align(&*store, &clock, period).await;
    let first = limiter.check("k", 1).await.unwrap();
    assert!(first.allowed && first.remaining == 3, "{first:?}");
    assert_eq!(admitted(&limiter, "k", 10).await, 3);
    let refused = limiter.check("k", 1).await.unwrap();
    assert!(!refused.allowed && refused.retry_after <= period);
    assert!(limiter.check("k", 4).await.map(|d| !d.allowed).unwrap());
    align(&*store, &clock, period).await;
    assert_eq!(
        admitted(&limiter, "k", 10).await,
        4,
        "a new window, a full quota"
    );
}

/// The sliding window weighs the previous window by how much of it still overlaps.
pub async fn ratelimit_sliding_window_weighs_the_previous_window(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let period = Duration::from_secs(1);
    let limiter = RateLimiter::with_clock(
        Arc::clone(&store),
        Limit::per(10, period).algorithm(Algorithm::SlidingWindow),
        clock.clone(),
    );
    align(&*store, &clock, period).await;
    assert_eq!(admitted(&limiter, "k", 15).await, 10);
    align(&*store, &clock, period).await;
    // Half-way through the next window the previous one counts 10 × 0.5 = 5.
    pass_time(&*store, &clock, period / 2).await;
    assert_eq!(admitted(&limiter, "k", 15).await, 5);
}

/// Two independent store instances on one backend, 50 concurrent tasks
/// each, limit 100: exactly 100 requests are admitted in total.
pub async fn ratelimit_two_stores_admit_exactly_the_limit(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    clock: FakeClock,
) {
    let hour = Duration::from_secs(3600);
    let cases = [
        vec![Limit::per(100, hour)],
        vec![Limit::per(100, hour).algorithm(Algorithm::FixedWindow)],
        vec![Limit::per(100, hour).algorithm(Algorithm::SlidingWindow)],
        // Several limits: one entry replaced by compare-and-set.
        vec![
            Limit::per(1000, hour).algorithm(Algorithm::FixedWindow),
            Limit::per(100, hour),
        ],
    ];
    for (case, limits) in cases.into_iter().enumerate() {
        let limiter = |store: &Arc<dyn Store>| {
            RateLimiter::with_clock(Arc::clone(store), limits[0], clock.clone())
                .with_limits(limits.clone())
                .unwrap()
        };
        let (la, lb) = (limiter(&a), limiter(&b));
        let algorithm = limits.iter().map(|l| l.algorithm).collect::<Vec<_>>();
        let key = format!("shared-{case}");
        let allowed = run_parallel(100, |i| {
            let (limiter, key) = (
                if i % 2 == 0 { la.clone() } else { lb.clone() },
                key.clone(),
            );
            async move {
                let mut n = 0;
                for _ in 0..3 {
                    if limiter.check(&key, 1).await.unwrap().allowed {
                        n += 1;
                    }
                }
                n
            }
        });
        assert_eq!(
            allowed.iter().sum::<usize>(),
            100,
            "{algorithm:?}: exactly the limit across two stores"
        );
    }
}

/// Refused keys are answered from the process cache until their retry time.
pub async fn ratelimit_blocked_keys_skip_the_store(store: Arc<dyn Store>, clock: FakeClock) {
    let limiter = RateLimiter::with_clock(
        Arc::clone(&store),
        Limit::per(2, Duration::from_secs(2)),
        clock.clone(),
    )
    .cache_blocked_keys(100);
    assert_eq!(admitted(&limiter, "k", 3).await, 2);
    // The store forgets the key; the cache still refuses without asking it.
    store.delete("rl:k").await.unwrap();
    assert!(!limiter.check("k", 1).await.unwrap().allowed);
    assert!(
        !store.exists("rl:k").await.unwrap(),
        "the store was not consulted"
    );
    pass_time(&*store, &clock, Duration::from_millis(1100)).await;
    assert!(
        limiter.check("k", 1).await.unwrap().allowed,
        "after retry_after the store decides again"
    );
}

/// Several limits on one key are all-or-nothing: a request refused by one
/// consumes nothing from the others, whatever their algorithms.
pub async fn ratelimit_several_limits_are_all_or_nothing(store: Arc<dyn Store>, clock: FakeClock) {
    let short = Limit::per(2, Duration::from_secs(1)).algorithm(Algorithm::FixedWindow);
    let long = Limit::per(3, Duration::from_secs(3600)).algorithm(Algorithm::FixedWindow);
    let limiter = RateLimiter::with_clock(Arc::clone(&store), short, clock.clone())
        .with_limits(vec![short, long])
        .unwrap();
    align(&*store, &clock, Duration::from_secs(1)).await;
    assert_eq!(
        admitted(&limiter, "k", 5).await,
        2,
        "the per-second limit refuses the rest"
    );
    align(&*store, &clock, Duration::from_secs(1)).await;
    // Refusals by the short limit took nothing from the long one: one more fits (2 + 1 = 3).
    assert_eq!(admitted(&limiter, "k", 5).await, 1);
    let refused = limiter.check("k", 1).await.unwrap();
    assert_eq!(refused.limit, long, "the limit that decided");

    // GCRA joins the set: 2 per 10 s (one unit back every 5 s), and at most 1 per second.
    let smooth = Limit::per(2, Duration::from_secs(10));
    let per_second = Limit::per(1, Duration::from_secs(1)).algorithm(Algorithm::FixedWindow);
    let mixed = RateLimiter::with_clock(Arc::clone(&store), smooth, clock.clone())
        .namespace("mix:")
        .unwrap()
        .with_limits(vec![smooth, per_second])
        .unwrap();
    align(&*store, &clock, Duration::from_secs(10)).await;
    assert_eq!(
        admitted(&mixed, "k", 5).await,
        1,
        "the per-second window refuses the rest"
    );
    assert_eq!(mixed.check("k", 1).await.unwrap().limit, per_second);
    pass_time(&*store, &clock, Duration::from_secs(1)).await;
    // Had any of the 5 refusals spent a GCRA unit, none would be left now.
    assert!(
        mixed.check("k", 1).await.unwrap().allowed,
        "GCRA's second unit is still there"
    );
    pass_time(&*store, &clock, Duration::from_secs(1)).await;
    let refused = mixed.check("k", 1).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.limit, smooth, "now GCRA decides");
    assert_eq!(
        refused.retry_after,
        Duration::from_secs(3),
        "its next unit is back 5 s after the second one was spent"
    );
}

/// Exceeding the limit blocks the key, longer for repeat offenders.
pub async fn ratelimit_blocks_escalate(store: Arc<dyn Store>, clock: FakeClock) {
    use authstore::ratelimit::Blocking;
    let blocking = Blocking {
        base: Duration::from_millis(400),
        factor: 2,
        max: Duration::from_secs(60),
        memory: Duration::from_secs(3600),
    };
    let limiter = RateLimiter::with_clock(
        Arc::clone(&store),
        Limit::per(1, Duration::from_millis(100)),
        clock.clone(),
    )
    .block_when_exceeded(blocking);
    assert!(limiter.check("k", 1).await.unwrap().allowed);
    let first = limiter.check("k", 1).await.unwrap();
    assert!(
        !first.allowed && first.retry_after >= Duration::from_millis(400),
        "{first:?}"
    );
    pass_time(&*store, &clock, Duration::from_millis(200)).await;
    assert!(
        !limiter.check("k", 1).await.unwrap().allowed,
        "still blocked, though the rate recovered"
    );
    pass_time(&*store, &clock, Duration::from_millis(300)).await;
    assert!(
        limiter.check("k", 1).await.unwrap().allowed,
        "the block ended"
    );
    let second = limiter.check("k", 1).await.unwrap();
    assert!(
        !second.allowed && second.retry_after >= Duration::from_millis(800),
        "escalated: {second:?}"
    );
}

/// Penalty adds points and reward takes them off; a quota resolver gives keys their own limits.
pub async fn ratelimit_penalty_reward_and_quota(store: Arc<dyn Store>, clock: FakeClock) {
    let limit = Limit::per(3, Duration::from_secs(3600)).algorithm(Algorithm::FixedWindow);
    let limiter = RateLimiter::with_clock(Arc::clone(&store), limit, clock.clone()).quota_resolver(
        Arc::new(move |key: &str| {
            key.starts_with("premium").then(|| {
                vec![Limit::per(10, Duration::from_secs(3600)).algorithm(Algorithm::FixedWindow)]
            })
        }),
    );
    limiter.penalty("k", 2).await.unwrap();
    assert_eq!(
        admitted(&limiter, "k", 5).await,
        1,
        "the penalty used 2 of 3"
    );
    limiter.reward("k", 2).await.unwrap();
    assert_eq!(
        admitted(&limiter, "k", 5).await,
        2,
        "the reward gave 2 back"
    );
    assert_eq!(
        admitted(&limiter, "premium-1", 12).await,
        10,
        "the resolver's quota"
    );
    let gcra = RateLimiter::with_clock(
        Arc::clone(&store),
        Limit::per(3, Duration::from_secs(60)),
        clock,
    );
    assert!(
        gcra.penalty("k", 1).await.is_err(),
        "penalty needs a window algorithm"
    );
}
