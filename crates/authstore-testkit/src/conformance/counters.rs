//! Checks of `incr` counters and the `gcra` rate-limit step.

use std::time::Duration;

use authstore::{Error, FakeClock, GcraParams, PutOptions, Store};

use super::{SHORT_TTL, assert_ttl, pass_time};

/// The first `incr` creates the counter at `delta` with the given TTL.
pub async fn incr_creates_with_ttl(store: &dyn Store, _clock: &FakeClock) {
    let ttl = Duration::from_secs(60);
    let c = store.incr("ctr:new", 5, Some(ttl)).await.unwrap();
    assert_eq!(c.value, 5);
    assert_ttl(store, c.ttl, ttl, "incr on create");
    let none = store.incr("ctr:forever", 1, None).await.unwrap();
    assert_eq!((none.value, none.ttl), (1, None));
}

/// Later increments add up and keep the TTL set at creation.
pub async fn incr_keeps_ttl_of_existing(store: &dyn Store, clock: &FakeClock) {
    let ttl = Duration::from_secs(60);
    store.incr("ctr:k", 1, Some(ttl)).await.unwrap();
    pass_time(store, clock, Duration::from_millis(200)).await;
    let c = store
        .incr("ctr:k", 2, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(c.value, 3);
    assert_ttl(
        store,
        c.ttl,
        ttl - Duration::from_millis(200),
        "existing counter keeps its TTL",
    );
}

/// A negative delta decrements, below zero too.
pub async fn incr_negative_decrements(store: &dyn Store, _clock: &FakeClock) {
    store.incr("ctr:d", 3, None).await.unwrap();
    assert_eq!(store.incr("ctr:d", -5, None).await.unwrap().value, -2);
    assert_eq!(store.incr("ctr:fresh", -1, None).await.unwrap().value, -1);
}

/// After its TTL a counter starts again from zero with a fresh TTL.
pub async fn incr_after_expiry_restarts(store: &dyn Store, clock: &FakeClock) {
    store.incr("ctr:w", 10, Some(SHORT_TTL)).await.unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    let ttl = Duration::from_secs(30);
    let c = store.incr("ctr:w", 1, Some(ttl)).await.unwrap();
    assert_eq!(c.value, 1, "an expired window restarts");
    assert_ttl(store, c.ttl, ttl, "restarted counter");
}

/// A counter reads back as decimal ASCII, and a decimal put can be incremented.
pub async fn counter_reads_as_decimal(store: &dyn Store, _clock: &FakeClock) {
    store.incr("ctr:r", 42, None).await.unwrap();
    assert_eq!(&store.get("ctr:r").await.unwrap().unwrap().value[..], b"42");
    store.put("ctr:p", b"41", PutOptions::new()).await.unwrap();
    assert_eq!(store.incr("ctr:p", 1, None).await.unwrap().value, 42);
    assert_eq!(&store.get("ctr:p").await.unwrap().unwrap().value[..], b"42");
}

/// `incr` of a non-integer value is `NotACounter` and leaves it alone.
pub async fn incr_non_counter_is_typed_error(store: &dyn Store, _clock: &FakeClock) {
    store
        .put("ctr:text", b"hello", PutOptions::new())
        .await
        .unwrap();
    let err = store.incr("ctr:text", 1, None).await.unwrap_err();
    assert!(
        matches!(err, Error::NotACounter { ref key } if key == "ctr:text"),
        "got {err:?}"
    );
    assert_eq!(
        &store.get("ctr:text").await.unwrap().unwrap().value[..],
        b"hello"
    );
}

/// Only a canonical decimal is a counter (as Redis's `INCRBY` reads it):
/// `042`, `+5`, ` 7` and `-0` are text, and `incr` refuses them.
pub async fn incr_accepts_only_canonical_decimals(store: &dyn Store, _clock: &FakeClock) {
    for (i, text) in ["042", "+5", " 7", "-0", "1e3"].iter().enumerate() {
        let key = format!("ctr:canon{i}");
        store
            .put(&key, text.as_bytes(), PutOptions::new())
            .await
            .unwrap();
        let err = store.incr(&key, 1, None).await.unwrap_err();
        assert!(
            matches!(err, Error::NotACounter { .. }),
            "{text:?}: {err:?}"
        );
        let kept = store.get(&key).await.unwrap().unwrap();
        assert_eq!(
            &kept.value[..],
            text.as_bytes(),
            "{text:?} is left as it was"
        );
    }
    store
        .put("ctr:canon", b"-7", PutOptions::new())
        .await
        .unwrap();
    assert_eq!(store.incr("ctr:canon", 10, None).await.unwrap().value, 3);
}

/// Overflow is `CounterOverflow` and the counter keeps its value.
pub async fn incr_overflow_changes_nothing(store: &dyn Store, _clock: &FakeClock) {
    store.incr("ctr:max", i64::MAX - 1, None).await.unwrap();
    let err = store.incr("ctr:max", 2, None).await.unwrap_err();
    assert!(matches!(err, Error::CounterOverflow { .. }), "got {err:?}");
    assert_eq!(
        store.incr("ctr:max", 0, None).await.unwrap().value,
        i64::MAX - 1
    );
    store.incr("ctr:min", i64::MIN, None).await.unwrap();
    let err = store.incr("ctr:min", -1, None).await.unwrap_err();
    assert!(matches!(err, Error::CounterOverflow { .. }), "got {err:?}");
}

/// GCRA admits the burst, then denies with a retry hint.
pub async fn gcra_burst_then_deny(store: &dyn Store, _clock: &FakeClock) {
    let p = GcraParams {
        emission_interval: Duration::from_secs(10),
        burst: 3,
        cost: 1,
    };
    for expected_remaining in [2, 1, 0] {
        let d = store.gcra("rl:burst", p).await.unwrap();
        assert!(d.allowed, "within the burst");
        assert_eq!(d.remaining, expected_remaining);
        assert_eq!(d.retry_after, Duration::ZERO);
    }
    let denied = store.gcra("rl:burst", p).await.unwrap();
    assert!(!denied.allowed, "burst exhausted");
    assert_eq!(denied.remaining, 0);
    assert!(
        denied.retry_after > Duration::from_secs(9)
            && denied.retry_after <= Duration::from_secs(10),
        "retry after about one interval, got {:?}",
        denied.retry_after
    );
    let other = store.gcra("rl:other", p).await.unwrap();
    assert!(
        other.allowed && other.remaining == 2,
        "keys are independent"
    );
}

/// `gcra_inline`, where a backend offers it, decides exactly as `gcra`
/// on the same state (backends that must be awaited return `None`).
pub async fn gcra_inline_agrees_with_gcra(store: &dyn Store, _clock: &FakeClock) {
    let p = GcraParams {
        emission_interval: Duration::from_secs(10),
        burst: 2,
        cost: 1,
    };
    if store.gcra_inline("rl:inline", p).is_none() {
        assert!(
            store.gcra_inline("rl:inline", p.cost(2)).is_none(),
            "a backend answers in place always or never"
        );
        return;
    }
    // The first inline call spent one unit; the rest alternate.
    let second = store.gcra("rl:inline", p).await.unwrap();
    assert!(second.allowed && second.remaining == 0);
    let third = store.gcra_inline("rl:inline", p).unwrap().unwrap();
    assert!(!third.allowed, "inline sees what gcra wrote");
    assert_eq!(third, store.gcra("rl:inline", p).await.unwrap());
    let too_costly = store.gcra_inline("rl:inline", p.cost(3)).unwrap();
    assert!(matches!(too_costly, Err(Error::InvalidArgument(_))));
    let bad_key = store.gcra_inline("no namespace", p).unwrap();
    assert!(matches!(bad_key, Err(Error::InvalidKey { .. })));
}

/// GCRA lets one more request through per emission interval.
pub async fn gcra_recovers_over_time(store: &dyn Store, clock: &FakeClock) {
    let p = GcraParams {
        emission_interval: SHORT_TTL,
        burst: 2,
        cost: 1,
    };
    assert!(store.gcra("rl:rec", p).await.unwrap().allowed);
    assert!(store.gcra("rl:rec", p).await.unwrap().allowed);
    assert!(!store.gcra("rl:rec", p).await.unwrap().allowed);
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(50)).await;
    assert!(
        store.gcra("rl:rec", p).await.unwrap().allowed,
        "one interval frees one unit"
    );
    assert!(
        !store.gcra("rl:rec", p).await.unwrap().allowed,
        "but only one"
    );
}

/// GCRA with a cost spends several units; a cost of 0 only reports.
pub async fn gcra_cost_and_query(store: &dyn Store, _clock: &FakeClock) {
    let p = GcraParams::per_period(10, Duration::from_secs(60));
    let d = store.gcra("rl:cost", p.cost(4)).await.unwrap();
    assert!(d.allowed && d.remaining == 6, "got {d:?}");
    let q = store.gcra("rl:cost", p.cost(0)).await.unwrap();
    assert!(
        q.allowed && q.remaining == 6,
        "a query spends nothing: {q:?}"
    );
    let big = store.gcra("rl:cost", p.cost(7)).await.unwrap();
    assert!(
        !big.allowed && big.remaining == 6,
        "a request above what remains is denied: {big:?}"
    );
    let err = store.gcra("rl:cost", p.cost(11)).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(_)),
        "cost above burst: {err:?}"
    );
    let zero = GcraParams {
        emission_interval: Duration::ZERO,
        burst: 1,
        cost: 1,
    };
    assert!(matches!(
        store.gcra("rl:cost", zero).await,
        Err(Error::InvalidArgument(_))
    ));
}
