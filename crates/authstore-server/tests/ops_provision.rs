//! Static provisioning on a memory store: idempotent across restarts and concurrent instances, never rewriting what exists, refusing what it cannot do before writing.

use std::sync::Arc;

use authstore::credentials::LoginOutcome;
use authstore::oauth::GrantType;
use authstore::{Store, StoreExt};
use authstore_server::AppState;
use authstore_server::config::{ClientSpec, UserSpec};
use authstore_server::provision::{Outcome, ProvisionError, marker_key, provision};
use authstore_testkit::UnavailableStore;

mod ops_support;

fn user(name: &str, password: &str) -> UserSpec {
    UserSpec {
        name: name.into(),
        user_id: Some(format!("u-{name}")),
        password: password.into(),
    }
}

fn public_client(name: &str, redirect: &str) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        client_id: None,
        redirect_uris: vec![redirect.into()],
        scopes: vec!["openid".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        public: true,
        secret: None,
        id_token_alg: None,
    }
}

fn state_on(store: &Arc<dyn Store>) -> AppState {
    AppState::new(Arc::clone(store), ops_support::fast_settings()).unwrap()
}

async fn count(store: &Arc<dyn Store>, prefix: &str) -> usize {
    store.scan(prefix, None, 1000).await.unwrap().entries.len()
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let store = authstore::open("memory://").await.unwrap();
    let users = [
        user("alice", "first password"),
        user("bob", "bob's password"),
    ];
    let clients = [
        public_client("cli", "http://127.0.0.1/cb"),
        public_client("docs", "https://docs.example/cb"),
    ];
    let first = provision(&state_on(&store), &users, &clients)
        .await
        .unwrap();
    assert!(first.users.iter().all(|(_, o)| *o == Outcome::Created));
    assert!(first.clients.iter().all(|(_, _, o)| *o == Outcome::Created));
    // A restart: a new state on the same store, the password changed in the config.
    let restarted = state_on(&store);
    let users_again = [
        user("alice", "changed password"),
        user("bob", "bob's password"),
    ];
    let second = provision(&restarted, &users_again, &clients).await.unwrap();
    assert!(
        second.users.iter().all(|(_, o)| *o == Outcome::Existing),
        "{second:?}"
    );
    assert!(
        second
            .clients
            .iter()
            .all(|(_, _, o)| *o == Outcome::Existing),
        "{second:?}"
    );
    let ids = |r: &authstore_server::provision::ProvisionReport| {
        r.clients.iter().map(|c| c.1.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&second), "the same client ids");
    assert!(second.drifted.is_empty());
    assert_eq!(
        count(&store, "oauth-client:").await,
        2,
        "no duplicate clients"
    );
    assert_eq!(count(&store, "credential:").await, 2, "no duplicate users");
    let login = restarted
        .credentials()
        .authenticate("alice", "first password")
        .await
        .unwrap();
    assert_eq!(
        login,
        LoginOutcome::Authenticated {
            user_id: "u-alice".into()
        },
        "an existing password is kept"
    );
    let client = restarted
        .oauth()
        .client(&second.clients[0].1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (client.name.as_str(), client.is_confidential()),
        ("cli", false)
    );
    assert_eq!(client.redirect_uris, ["http://127.0.0.1/cb"]);
}

#[tokio::test]
async fn concurrent_instances_register_one_client() {
    let store = authstore::open("memory://").await.unwrap();
    let clients = [public_client("shared", "https://app.example/cb")];
    let (a, b, c) = (state_on(&store), state_on(&store), state_on(&store));
    let (ra, rb, rc) = tokio::join!(
        provision(&a, &[], &clients),
        provision(&b, &[], &clients),
        provision(&c, &[], &clients)
    );
    let ids: Vec<String> = [ra, rb, rc]
        .into_iter()
        .map(|r| r.unwrap().clients[0].1.clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        count(&store, "oauth-client:").await,
        1,
        "the losers' registrations are removed"
    );
    let marker = store
        .get_json::<serde_json::Value>(&marker_key("shared"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marker.value["client_id"], ids[0].as_str());
}

#[tokio::test]
async fn drift_is_reported_and_a_deleted_client_comes_back() {
    let store = authstore::open("memory://").await.unwrap();
    let state = state_on(&store);
    let original = public_client("app", "https://app.example/cb");
    let first = provision(&state, &[], std::slice::from_ref(&original))
        .await
        .unwrap();
    let changed = ClientSpec {
        redirect_uris: vec!["https://app.example/other".into()],
        ..original.clone()
    };
    let second = provision(&state, &[], &[changed]).await.unwrap();
    assert_eq!(second.clients[0].2, Outcome::Existing);
    assert_eq!(second.drifted, ["app"], "kept as stored, reported");
    assert!(
        state
            .oauth()
            .delete_client(&first.clients[0].1)
            .await
            .unwrap()
    );
    let third = provision(&state, &[], &[original]).await.unwrap();
    assert_eq!(third.clients[0].2, Outcome::Created);
    assert_ne!(third.clients[0].1, first.clients[0].1);
    assert_eq!(count(&store, "oauth-client:").await, 1);
}

#[tokio::test]
async fn unsupported_or_invalid_entries_fail_before_writing() {
    let store = authstore::open("memory://").await.unwrap();
    let state = state_on(&store);
    let secret_without_id = ClientSpec {
        public: false,
        secret: Some("s3cret-s3cret-s3cret-s3cret-s3cret".into()),
        ..public_client("conf", "https://a.example/cb")
    };
    let error = provision(&state, &[user("carol", "pw")], &[secret_without_id])
        .await
        .unwrap_err();
    let ProvisionError::Invalid(message) = error else {
        panic!("{error:?}")
    };
    assert!(
        message.contains("client_id") && !message.contains("s3cret"),
        "{message}"
    );
    assert_eq!(count(&store, "").await, 0, "nothing written");
    let bad_uri = public_client("bad", "http://not-loopback.example/cb");
    let error = provision(&state, &[], &[bad_uri]).await.unwrap_err();
    assert!(
        matches!(&error, ProvisionError::Invalid(m) if m.contains("invalid_redirect_uri")),
        "{error:?}"
    );
    let empty_password = UserSpec {
        password: String::new(),
        ..user("dave", "")
    };
    assert!(matches!(
        provision(&state, &[empty_password], &[]).await,
        Err(ProvisionError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_store_failure_is_a_store_error() {
    let store: Arc<dyn Store> = Arc::new(UnavailableStore);
    let error = provision(&state_on(&store), &[user("erin", "pw")], &[])
        .await
        .unwrap_err();
    assert!(matches!(error, ProvisionError::Store(_)), "{error:?}");
    let error = provision(
        &state_on(&store),
        &[],
        &[public_client("x", "https://x.example/cb")],
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ProvisionError::Store(_)), "{error:?}");
}

#[tokio::test]
async fn fixed_id_clients_are_created_replaced_and_left_alone() {
    let store = authstore::open("memory://").await.unwrap();
    let state = state_on(&store);
    let secret = "a-configured-secret-of-enough-length-0123";
    let spec = ClientSpec {
        client_id: Some("billing-api".into()),
        public: false,
        secret: Some(secret.into()),
        ..public_client("billing", "https://billing.example/cb")
    };
    let first = provision(&state, &[], std::slice::from_ref(&spec))
        .await
        .unwrap();
    assert_eq!(
        first.clients[0],
        ("billing".into(), "billing-api".into(), Outcome::Created)
    );
    let again = provision(&state, &[], std::slice::from_ref(&spec))
        .await
        .unwrap();
    assert_eq!(
        again.clients[0].2,
        Outcome::Existing,
        "the same config writes nothing"
    );
    let client = state
        .oauth()
        .authenticate_client("billing-api", Some(secret))
        .await
        .unwrap();
    assert!(client.is_confidential());
    assert_eq!(client.id_token_alg, None);
    let moved = ClientSpec {
        redirect_uris: vec!["https://billing.example/new".into()],
        id_token_alg: Some(authstore::oauth::SigningAlg::ES256),
        ..spec.clone()
    };
    let changed = provision(&state, &[], &[moved]).await.unwrap();
    assert_eq!(changed.clients[0].2, Outcome::Updated);
    let stored = state.oauth().client("billing-api").await.unwrap().unwrap();
    assert_eq!(stored.redirect_uris, ["https://billing.example/new"]);
    assert_eq!(
        stored.id_token_alg,
        Some(authstore::oauth::SigningAlg::ES256),
        "the configured ID-token alg is stored"
    );
    assert!(
        state
            .oauth()
            .authenticate_client("billing-api", Some("wrong"))
            .await
            .is_err()
    );
    let short = ClientSpec {
        secret: Some("short".into()),
        ..spec
    };
    let error = provision(&state, &[], &[short]).await.unwrap_err();
    assert!(
        matches!(&error, ProvisionError::Invalid(m) if m.contains("32")),
        "{error:?}"
    );
}
