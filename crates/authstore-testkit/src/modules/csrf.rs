//! Checks of [`authstore::csrf`]'s store-backed parts on any store.

use std::sync::Arc;
use std::time::Duration;

use authstore::csrf::{self, SynchronizerTokens};
use authstore::session::{SessionConfig, SessionManager, SessionMeta};
use authstore::{FakeClock, Store};

use crate::conformance::{SHORT_TTL, pass_time, run_parallel};

/// A one-time token is accepted exactly once, even by 100 concurrent verifications.
pub async fn csrf_one_time_token_is_accepted_once(store: Arc<dyn Store>, _clock: FakeClock) {
    let tokens = SynchronizerTokens::new(Arc::clone(&store), Duration::from_secs(600), true);
    let token = tokens.issue("session-a").await.unwrap();
    let accepted = run_parallel(100, |_| {
        let (tokens, token) = (tokens.clone(), token.clone());
        async move { tokens.verify("session-a", &token).await.unwrap() }
    });
    assert_eq!(accepted.iter().filter(|ok| **ok).count(), 1);
}

/// A reusable token works until it expires, only for its own session.
pub async fn csrf_reusable_token_is_bound_and_expires(store: Arc<dyn Store>, clock: FakeClock) {
    let tokens = SynchronizerTokens::new(Arc::clone(&store), SHORT_TTL, false);
    let token = tokens.issue("session-a").await.unwrap();
    assert!(tokens.verify("session-a", &token).await.unwrap());
    assert!(
        tokens.verify("session-a", &token).await.unwrap(),
        "reusable"
    );
    assert!(
        !tokens.verify("session-b", &token).await.unwrap(),
        "bound to its session"
    );
    assert!(!tokens.verify("session-a", "forged").await.unwrap());
    pass_time(&*store, &clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        !tokens.verify("session-a", &token).await.unwrap(),
        "expired"
    );
}

/// The per-session token lives in the session record and ends with it.
pub async fn csrf_session_token_ends_with_the_session(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = SessionManager::with_config(Arc::clone(&store), SessionConfig::default(), clock);
    let mut s = sessions.create(None, SessionMeta::default()).await.unwrap();
    let token = csrf::session_token(&mut s).unwrap();
    assert_eq!(
        csrf::session_token(&mut s).unwrap(),
        token,
        "stable within the session"
    );
    sessions.save(&mut s).await.unwrap();
    let loaded = sessions.load(s.id()).await.unwrap().unwrap();
    assert!(csrf::verify_session_token(&loaded, &token));
    assert!(!csrf::verify_session_token(&loaded, "x"));
    sessions.destroy(s.id()).await.unwrap();
    assert!(
        sessions.load(s.id()).await.unwrap().is_none(),
        "gone with the session"
    );
}
