//! The operator's actions on the memory store and on SQLite: what they return, what they end, and that deleting a user leaves no entry naming it.

use std::sync::Arc;

use authstore::credentials::LoginOutcome;
use authstore::oauth::{
    AuthorizationRequest, Client, ClientChanges, NewClient, OAuth, TokenResponse, pkce_challenge,
};
use authstore::session::{SessionMeta, SessionUser};
use authstore::{Store, SystemClock};

use super::{AdminError, clients, users};
use crate::settings::Settings;
use crate::state::AppState;

const REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-xx";
const ADA: &str = "u-ada-91c2f0";

fn state(store: Arc<dyn Store>) -> AppState {
    let mut settings = Settings::default();
    settings.oauth.secret_hash_memory_kib = 8;
    settings.oauth.secret_hash_iterations = 1;
    settings.credentials.memory_kib = 8;
    settings.credentials.iterations = 1;
    AppState::with_clock(store, settings, SystemClock).unwrap()
}

async fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("admin.db").display());
    vec![
        ("memory", authstore::open("memory://").await.unwrap(), None),
        ("sqlite", authstore::open(&url).await.unwrap(), Some(dir)),
    ]
}

async fn app(oauth: &OAuth, confidential: bool) -> (Client, Option<String>) {
    let mut new = if confidential {
        NewClient::confidential("Notes", REDIRECT)
    } else {
        NewClient::public("Photos", REDIRECT)
    };
    new.scopes = vec!["read".into()];
    let registered = oauth.register_client(new).await.unwrap();
    (registered.client, registered.secret)
}

async fn grant(oauth: &OAuth, client: &Client, user: &str) -> TokenResponse {
    let code = oauth
        .issue_code(&AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: REDIRECT.into(),
            scope: vec!["read".into()],
            code_challenge: pkce_challenge(VERIFIER),
            subject: user.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    oauth
        .exchange_code(client, &code, REDIRECT, VERIFIER)
        .await
        .unwrap()
}

async fn active(oauth: &OAuth, tokens: &TokenResponse) -> bool {
    oauth
        .introspect(&tokens.access_token)
        .await
        .unwrap()
        .is_some()
}

async fn sign_in_session(state: &AppState, user_id: &str) {
    let meta = SessionMeta {
        ip: Some("203.0.113.7".into()),
        ..SessionMeta::default()
    };
    let user = SessionUser::new(user_id.to_owned());
    state.sessions().create(Some(user), meta).await.unwrap();
}

/// Every entry outside the audit log whose key or value names `needle`.
async fn entries_naming(store: &Arc<dyn Store>, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 500).await.unwrap();
        for e in page.entries {
            let value = String::from_utf8_lossy(&e.value);
            if !e.key.starts_with("audit:") && (e.key.contains(needle) || value.contains(needle)) {
                found.push(format!("{} = {value}", e.key));
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}

async fn login(state: &AppState, name: &str, password: &str) -> LoginOutcome {
    state
        .credentials()
        .authenticate_from(name, password, "test")
        .await
        .unwrap()
}

#[tokio::test]
async fn users_are_listed_disabled_enabled_reset_and_deleted_with_all_they_own() {
    for (backend, store, _dir) in stores().await {
        let state = state(Arc::clone(&store));
        let creds = state.credentials();
        creds.register_user("Ada", ADA, "first pass").await.unwrap();
        creds
            .register_user("bob", "u-bob", "bob pass")
            .await
            .unwrap();
        let oauth = state.oauth();
        let (notes, _) = app(oauth, true).await;
        let ada_tokens = grant(oauth, &notes, ADA).await;
        let bob_tokens = grant(oauth, &notes, "u-bob").await;
        sign_in_session(&state, ADA).await;
        sign_in_session(&state, "u-bob").await;

        let listed = users::list(&state).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["Ada", "bob"], "{backend}");
        let shown = users::show(&state, "ada").await.unwrap();
        assert_eq!(
            (shown.sessions.len(), shown.grants.len()),
            (1, 1),
            "{backend}"
        );
        assert_eq!(shown.sessions[0].ip.as_deref(), Some("203.0.113.7"));

        let ended = users::disable(&state, "ADA").await.unwrap();
        assert!(ended.user.disabled, "{backend}");
        assert_eq!(
            (ended.sessions_ended, ended.grants_revoked),
            (1, 1),
            "{backend}"
        );
        assert!(!active(oauth, &ada_tokens).await, "{backend}: token ended");
        assert!(
            active(oauth, &bob_tokens).await,
            "{backend}: others untouched"
        );
        assert_eq!(
            login(&state, "ada", "first pass").await,
            LoginOutcome::Disabled
        );
        let shown = users::show(&state, "ada").await.unwrap();
        assert!(
            shown.sessions.is_empty() && shown.grants.is_empty(),
            "{backend}"
        );

        assert!(!users::enable(&state, "ada").await.unwrap().disabled);
        assert!(matches!(
            login(&state, "ada", "first pass").await,
            LoginOutcome::Authenticated { .. }
        ));
        sign_in_session(&state, ADA).await;
        let reset = users::set_password(&state, "ada", "second pass", true)
            .await
            .unwrap();
        assert_eq!(reset.sessions_ended, 1, "{backend}");
        assert_eq!(
            login(&state, "ada", "first pass").await,
            LoginOutcome::InvalidCredentials
        );
        assert!(matches!(
            login(&state, "ada", "second pass").await,
            LoginOutcome::Authenticated { .. }
        ));
        for err in [
            users::disable(&state, "nobody").await.unwrap_err(),
            users::show(&state, "nobody").await.unwrap_err(),
            users::delete(&state, "nobody").await.unwrap_err(),
        ] {
            assert!(matches!(err, AdminError::NotFound(_)), "{backend}: {err:?}");
        }
        let err = users::set_password(&state, "ada", "", false)
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::Invalid(_)), "{backend}: {err:?}");

        // Everything Ada owns, then gone.
        let live = grant(oauth, &notes, ADA).await;
        oauth
            .remember_consent(
                ADA,
                &notes.client_id,
                &["read".into()],
                &[],
                std::time::Duration::from_secs(600),
            )
            .await
            .unwrap();
        sign_in_session(&state, ADA).await;
        let profile = crate::pages::profile::Profile::of_login("Ada");
        crate::pages::profile::remember(&*store, ADA, &profile)
            .await
            .unwrap();
        assert!(!entries_naming(&store, ADA).await.is_empty());
        let deleted = users::delete(&state, "ada").await.unwrap();
        assert_eq!(deleted.user.user_id, ADA);
        assert_eq!(deleted.sessions_ended, 1, "{backend}");
        assert_eq!(deleted.grants_revoked, 1, "{backend}");
        assert_eq!(
            entries_naming(&store, ADA).await,
            Vec::<String>::new(),
            "{backend}"
        );
        assert!(!active(oauth, &live).await, "{backend}");
        assert!(
            crate::pages::profile::load(&*store, ADA)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            login(&state, "ada", "second pass").await,
            LoginOutcome::InvalidCredentials
        );
        let names: Vec<String> = users::list(&state)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["bob"], "{backend}");
        assert!(
            active(oauth, &bob_tokens).await,
            "{backend}: bob keeps his grant"
        );
    }
}

#[tokio::test]
async fn clients_are_listed_updated_rotated_and_deleted_with_their_grants() {
    for (backend, store, _dir) in stores().await {
        let state = state(store);
        let oauth = state.oauth();
        let (notes, secret) = app(oauth, true).await;
        let (photos, _) = app(oauth, false).await;
        let tokens = grant(oauth, &notes, "u-1").await;

        let listed = clients::list(&state).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|c| c.client_name.as_str()).collect();
        assert_eq!(names, ["Notes", "Photos"], "{backend}");
        assert_eq!(listed[1].token_endpoint_auth_method, "none");
        assert_eq!(listed[1].client_secret_expires_at, None);
        let shown = clients::show(&state, &notes.client_id).await.unwrap();
        assert_eq!(shown.grants.len(), 1, "{backend}");

        let changes = ClientChanges {
            name: Some("Notes 2".into()),
            redirect_uris: Some(vec![REDIRECT.into(), "https://notes.example/cb".into()]),
            ..ClientChanges::default()
        };
        let updated = clients::update(&state, &notes.client_id, &changes)
            .await
            .unwrap();
        assert_eq!(updated.client_name, "Notes 2");
        assert_eq!(updated.redirect_uris.len(), 2);
        let bad = ClientChanges {
            redirect_uris: Some(vec!["http://notes.example/cb".into()]),
            ..ClientChanges::default()
        };
        let err = clients::update(&state, &notes.client_id, &bad)
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::Invalid(_)), "{backend}: {err:?}");

        let rotated = clients::rotate_secret(&state, &notes.client_id, None)
            .await
            .unwrap();
        let new_secret = rotated.client_secret.clone().expect("a new secret");
        let old = secret.unwrap();
        assert!(
            oauth
                .authenticate_client(&notes.client_id, Some(&old))
                .await
                .is_err()
        );
        assert!(
            oauth
                .authenticate_client(&notes.client_id, Some(&new_secret))
                .await
                .is_ok()
        );
        assert!(!format!("{rotated:?}").contains(&new_secret));
        let err = clients::rotate_secret(&state, &photos.client_id, None)
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::Invalid(_)), "{backend}: public");

        let deleted = clients::delete(&state, &notes.client_id).await.unwrap();
        assert_eq!(deleted.grants_revoked, 1, "{backend}");
        assert!(!active(oauth, &tokens).await, "{backend}: its tokens end");
        for err in [
            clients::show(&state, &notes.client_id).await.unwrap_err(),
            clients::delete(&state, &notes.client_id).await.unwrap_err(),
            clients::rotate_secret(&state, "nope", None)
                .await
                .unwrap_err(),
            clients::update(&state, "nope", &changes).await.unwrap_err(),
        ] {
            assert!(matches!(err, AdminError::NotFound(_)), "{backend}: {err:?}");
        }
        assert_eq!(clients::list(&state).await.unwrap().len(), 1, "{backend}");
    }
}
