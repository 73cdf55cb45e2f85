//! Checks of [`authstore::credentials`] on any store (cheap argon2 parameters: the logic is under test, not the cost).

use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::credentials::{Credentials, CredentialsConfig, LoginOutcome};
use authstore::{Error, FakeClock, Store};

use crate::conformance::pass_time;

fn credentials(store: &Arc<dyn Store>, clock: &FakeClock, forgiven_after: Duration) -> Credentials {
    let config = CredentialsConfig {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_failures: 3,
        failure_forgiven_after: forgiven_after,
    };
    Credentials::with_config(Arc::clone(store), config, clock.clone()).unwrap()
}

/// Register once per username (case-insensitive); the right password logs in,
/// a wrong one or an unknown user is the same `InvalidCredentials`; the
/// stored hash is argon2id, never the password.
pub async fn credentials_register_and_authenticate(store: Arc<dyn Store>, clock: FakeClock) {
    let creds = credentials(&store, &clock, Duration::from_secs(60));
    creds
        .register_user("Bob@Example.com", "u-9", "s3cret pass")
        .await
        .unwrap();
    let again = creds
        .register_user(" bob@example.com ", "u-10", "x")
        .await
        .unwrap_err();
    assert!(matches!(again, Error::AlreadyExists { .. }), "{again:?}");
    assert_eq!(
        creds
            .authenticate("BOB@example.com", "s3cret pass")
            .await
            .unwrap(),
        LoginOutcome::Authenticated {
            user_id: "u-9".into()
        }
    );
    assert_eq!(
        creds
            .authenticate("bob@example.com", "wrong")
            .await
            .unwrap(),
        LoginOutcome::InvalidCredentials
    );
    assert_eq!(
        creds
            .authenticate("nobody@example.com", "s3cret pass")
            .await
            .unwrap(),
        LoginOutcome::InvalidCredentials
    );
    let stored = store
        .get("credential:bob@example.com")
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&stored.value);
    assert!(
        text.contains("$argon2id$") && !text.contains("s3cret pass"),
        "{text}"
    );
    creds
        .change_password("bob@example.com", "s3cret pass", "new pass")
        .await
        .unwrap();
    assert!(matches!(
        creds
            .authenticate("bob@example.com", "new pass")
            .await
            .unwrap(),
        LoginOutcome::Authenticated { .. }
    ));
    assert!(
        creds
            .change_password("bob@example.com", "s3cret pass", "x")
            .await
            .is_err()
    );
}

/// An unknown user costs an argon2id verification too: its median time is
/// of the same order as a known user's wrong password.
pub async fn credentials_unknown_user_takes_the_same_path(store: Arc<dyn Store>, clock: FakeClock) {
    let config = CredentialsConfig {
        memory_kib: 4096,
        iterations: 2,
        parallelism: 1,
        max_failures: 1000,
        failure_forgiven_after: Duration::from_millis(1),
    };
    let creds = Credentials::with_config(Arc::clone(&store), config, clock).unwrap();
    creds.register_user("known", "u-1", "pw").await.unwrap();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        creds.authenticate("known", "wrong").await.unwrap();
        known.push(t.elapsed());
        let t = Instant::now();
        creds.authenticate("unknown", "wrong").await.unwrap();
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[3].as_secs_f64(), unknown[3].as_secs_f64());
    assert!(
        u > k * 0.5,
        "unknown-user median {u:.4}s vs known-user {k:.4}s: the dummy hash is not verified"
    );
}

/// After `max_failures` failures the user is locked out, even with the right
/// password, until a failure is forgiven.
pub async fn credentials_lockout_after_failures(store: Arc<dyn Store>, clock: FakeClock) {
    let forgiven = Duration::from_millis(600);
    let creds = credentials(&store, &clock, forgiven);
    creds.register_user("carol", "u-3", "right").await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            creds.authenticate("carol", "wrong").await.unwrap(),
            LoginOutcome::InvalidCredentials
        );
    }
    match creds.authenticate("carol", "right").await.unwrap() {
        LoginOutcome::LockedOut { retry_after } => {
            assert!(
                retry_after > Duration::ZERO && retry_after <= forgiven,
                "{retry_after:?}"
            );
        }
        other => panic!("expected a lockout, got {other:?}"),
    }
    pass_time(&*store, &clock, forgiven + Duration::from_millis(100)).await;
    assert!(matches!(
        creds.authenticate("carol", "right").await.unwrap(),
        LoginOutcome::Authenticated { .. }
    ));
}

/// What an operator does to users: list them (no hash in sight), disable
/// (the right password then gives `Disabled`, a wrong one stays
/// `InvalidCredentials`, and the password cannot be changed), enable,
/// reset the password without the current one, delete in one step.
pub async fn credentials_operator_actions(store: Arc<dyn Store>, clock: FakeClock) {
    let creds = credentials(&store, &clock, Duration::from_secs(60));
    creds
        .register_user("Carol", "u-c", "carol pass")
        .await
        .unwrap();
    creds
        .register_user("dave", "u-d", "dave pass")
        .await
        .unwrap();
    let users = creds.users().await.unwrap();
    let names: Vec<(&str, &str, bool)> = users
        .iter()
        .map(|u| (u.username.as_str(), u.user_id.as_str(), u.is_disabled()))
        .collect();
    assert_eq!(names, [("Carol", "u-c", false), ("dave", "u-d", false)]);
    let (first, next) = creds.users_page(None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let (second, _) = creds.users_page(next.as_deref(), 1).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].user_id, second[0].user_id);
    assert_eq!(
        creds.user_by_id("u-d").await.unwrap().unwrap().username,
        "dave"
    );
    assert_eq!(creds.user_by_id("u-nobody").await.unwrap(), None);

    clock.advance(Duration::from_secs(5));
    let disabled = creds.set_disabled("CAROL", true).await.unwrap();
    assert!(disabled.is_disabled());
    assert_eq!(creds.user("carol").await.unwrap().unwrap(), disabled);
    let again = creds.set_disabled("carol", true).await.unwrap();
    assert_eq!(again.disabled_at, disabled.disabled_at, "no second write");
    assert_eq!(
        creds.authenticate("carol", "carol pass").await.unwrap(),
        LoginOutcome::Disabled
    );
    assert_eq!(
        creds.authenticate("carol", "wrong").await.unwrap(),
        LoginOutcome::InvalidCredentials
    );
    let err = creds
        .change_password("carol", "carol pass", "other")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(
        !creds
            .set_disabled("carol", false)
            .await
            .unwrap()
            .is_disabled()
    );
    assert!(matches!(
        creds.authenticate("carol", "carol pass").await.unwrap(),
        LoginOutcome::Authenticated { .. }
    ));

    creds.set_password("carol", "reset pass").await.unwrap();
    assert_eq!(
        creds.authenticate("carol", "carol pass").await.unwrap(),
        LoginOutcome::InvalidCredentials
    );
    assert!(matches!(
        creds.authenticate("carol", "reset pass").await.unwrap(),
        LoginOutcome::Authenticated { .. }
    ));
    let err = creds.set_password("carol", "").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");

    for missing in [
        creds.set_disabled("erin", true).await.unwrap_err(),
        creds.set_password("erin", "x").await.unwrap_err(),
    ] {
        assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
    }
    let deleted = creds.delete_user("Carol").await.unwrap().unwrap();
    assert_eq!(deleted.user_id, "u-c");
    assert_eq!(creds.delete_user("carol").await.unwrap(), None);
    assert_eq!(creds.user("carol").await.unwrap(), None);
    assert!(!store.exists("credential:carol").await.unwrap());
    assert_eq!(
        creds.authenticate("carol", "reset pass").await.unwrap(),
        LoginOutcome::InvalidCredentials
    );
    let err = creds.user("\n").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
