//! Checks of [`authstore::audit`] on any store, fed by the other modules.

use std::sync::Arc;
use std::time::Duration;

use authstore::audit::{AuditEvent, AuditSink, NoAudit, Outcome, StoreAudit};
use authstore::session::{SessionConfig, SessionManager, SessionMeta, SessionUser};
use authstore::tokens::{ApiTokens, NewToken};
use authstore::{Clock, FakeClock, Store};

use crate::conformance::{SHORT_TTL, pass_time};

/// Modules emit events to one sink; they can be queried by user and by time range.
pub async fn audit_events_from_modules_are_queryable(store: Arc<dyn Store>, clock: FakeClock) {
    let audit = Arc::new(StoreAudit::with_clock(
        Arc::clone(&store),
        Duration::from_secs(3600),
        clock.clone(),
    ));
    let sessions =
        SessionManager::with_config(Arc::clone(&store), SessionConfig::default(), clock.clone())
            .with_audit(audit.clone());
    let tokens = ApiTokens::with_clock(Arc::clone(&store), clock.clone()).with_audit(audit.clone());
    let start = clock.now();
    let mut s = sessions
        .create(
            None,
            SessionMeta {
                ip: Some("198.51.100.4".into()),
                ..SessionMeta::default()
            },
        )
        .await
        .unwrap();
    clock.advance(Duration::from_millis(10));
    sessions
        .login(&mut s, SessionUser::new("u5"))
        .await
        .unwrap();
    clock.advance(Duration::from_millis(10));
    let issued = tokens
        .issue(NewToken::for_principal("u5").scope("read"))
        .await
        .unwrap();
    clock.advance(Duration::from_millis(10));
    let middle = clock.now();
    tokens.revoke(&issued.info.handle).await.unwrap();
    clock.advance(Duration::from_millis(10));
    audit
        .record(AuditEvent::new("custom.thing", Outcome::Denied).user("u6"))
        .await
        .unwrap();
    let end = clock.now() + Duration::from_millis(1);

    let mine = audit.by_user("u5", start, end).await.unwrap();
    let actions: Vec<_> = mine.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["session.login", "token.issue"], "{mine:?}");
    assert_eq!(mine[0].ip.as_deref(), Some("198.51.100.4"));
    assert!(
        mine.iter()
            .all(|e| !format!("{e:?}").contains(s.id().expose())),
        "no secrets in events"
    );
    let all = audit.in_time_range(start, end).await.unwrap();
    let actions: Vec<_> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "session.create",
            "session.login",
            "token.issue",
            "token.revoke",
            "custom.thing"
        ]
    );
    let later = audit.in_time_range(middle, end).await.unwrap();
    assert_eq!(later.len(), 2, "the time range bounds the query");
    assert!(matches!(later[1].outcome, Outcome::Denied));
}

/// Events expire after the retention; the disabled sink reports itself off.
pub async fn audit_retention_and_disabled_sink(store: Arc<dyn Store>, clock: FakeClock) {
    let audit = StoreAudit::with_clock(Arc::clone(&store), SHORT_TTL, clock.clone());
    let start = clock.now();
    audit
        .record(AuditEvent::new("x.y", Outcome::Success).user("u7"))
        .await
        .unwrap();
    let far = clock.now() + Duration::from_secs(3600);
    assert_eq!(audit.by_user("u7", start, far).await.unwrap().len(), 1);
    pass_time(&*store, &clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        audit.by_user("u7", start, far).await.unwrap().is_empty(),
        "past retention"
    );
    assert!(!NoAudit.enabled() && audit.enabled());
}
