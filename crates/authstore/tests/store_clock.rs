//! Modules built with `new` on a store read time from the store's clock: on a [`FakeClock`] store they follow the fake time.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use authstore::audit::{AuditEvent, AuditSink, Outcome, StoreAudit};
use authstore::ratelimit::{Algorithm, Limit, RateLimiter};
use authstore::session::{SessionManager, SessionMeta};
use authstore::tokens::{ApiTokens, NewToken};
use authstore::{FakeClock, MemoryStore, Store};

/// 15 s into a one-minute window, long ago.
const T0: u64 = 1_500_000_015_000;

fn store(clock: &FakeClock) -> Arc<dyn Store> {
    Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .clock(clock.clone())
            .build()
            .expect("valid configuration"),
    )
}

#[tokio::test]
async fn sessions_tokens_and_audit_events_carry_the_store_clocks_time() {
    let clock = FakeClock::at_millis(T0);
    let store = store(&clock);

    let session = SessionManager::new(Arc::clone(&store))
        .create(None, SessionMeta::default())
        .await
        .unwrap();
    assert_eq!(session.created_at(), UNIX_EPOCH + Duration::from_millis(T0));

    clock.advance(Duration::from_secs(1));
    let issued = ApiTokens::new(Arc::clone(&store))
        .issue(NewToken::for_principal("u1"))
        .await
        .unwrap();
    assert_eq!(issued.info.created_at, T0 + 1_000);

    clock.advance(Duration::from_secs(1));
    let audit = StoreAudit::new(Arc::clone(&store), Duration::from_secs(3600));
    audit
        .record(AuditEvent::new("login", Outcome::Success).user("u1"))
        .await
        .unwrap();
    let events = audit
        .by_user(
            "u1",
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::from_millis(T0 + 2_001),
        )
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.at).collect::<Vec<_>>(),
        [T0 + 2_000]
    );
}

#[tokio::test]
async fn a_rate_limit_window_follows_the_store_clock() {
    let clock = FakeClock::at_millis(T0);
    let limit = Limit::per(1, Duration::from_secs(60)).algorithm(Algorithm::FixedWindow);
    let limiter = RateLimiter::new(store(&clock), limit);
    assert!(limiter.check("k", 1).await.unwrap().allowed);
    let refused = limiter.check("k", 1).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(
        refused.retry_after,
        Duration::from_secs(45),
        "the window ends 45 s after the fake time"
    );
    clock.advance(Duration::from_secs(45));
    assert!(limiter.check("k", 1).await.unwrap().allowed);
}
