//! Fixtures shared by the OAuth checks of the `oauth_*` modules: cheap configs, registered clients, issued codes and grants, and assertions on OAuth errors.

use std::sync::Arc;

use authstore::oauth::{
    AuthorizationRequest, Client, GrantProblem, NewClient, OAuth, OAuthConfig, OAuthError,
    RegisteredClient, TokenResponse, pkce_challenge,
};
use authstore::secret::random_token;
use authstore::{FakeClock, Store};

/// The redirect URI registered for public (native) clients: loopback, any port.
pub(super) const LOOPBACK: &str = "http://127.0.0.1/callback";
/// The redirect URI a public client presents.
pub(super) const LOOPBACK_PORT: &str = "http://127.0.0.1:8123/callback";
/// The redirect URI of confidential (web) clients.
pub(super) const WEB: &str = "https://app.example/cb";
/// The resource (RFC 8707) the tokens are for.
pub(super) const RESOURCE: &str = "https://api.example/";
/// Concurrent requests in the race checks.
pub(super) const RACE: usize = 200;

/// The default config with cheap argon2id parameters.
pub(super) fn config() -> OAuthConfig {
    OAuthConfig {
        secret_hash_memory_kib: 1024,
        secret_hash_iterations: 1,
        ..OAuthConfig::default()
    }
}

pub(super) fn oauth_with(store: &Arc<dyn Store>, clock: &FakeClock, config: OAuthConfig) -> OAuth {
    OAuth::with_config(Arc::clone(store), config, clock.clone()).expect("valid config")
}

pub(super) fn oauth(store: &Arc<dyn Store>, clock: &FakeClock) -> OAuth {
    oauth_with(store, clock, config())
}

pub(super) fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Registers a client allowed scopes `read`, `write` and `admin`.
pub(super) async fn register(oauth: &OAuth, confidential: bool) -> RegisteredClient {
    let mut new = if confidential {
        NewClient::confidential("web app", WEB)
    } else {
        NewClient::public("native app", LOOPBACK)
    };
    new.scopes = scopes(&["read", "write", "admin"]);
    oauth.register_client(new).await.expect("registered")
}

/// The redirect URI a client of [`register`] presents.
pub(super) fn redirect_of(client: &Client) -> &'static str {
    if client.is_confidential() {
        WEB
    } else {
        LOOPBACK_PORT
    }
}

pub(super) fn request(client: &Client, scope: &[&str], challenge: &str) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_of(client).into(),
        scope: scopes(scope),
        code_challenge: challenge.into(),
        resources: vec![RESOURCE.into()],
        subject: "u-1".into(),
        ..Default::default()
    }
}

/// An approved request's code and its PKCE verifier.
pub(super) async fn authorize(oauth: &OAuth, client: &Client, scope: &[&str]) -> (String, String) {
    let verifier = random_token().unwrap();
    let code = oauth
        .issue_code(&request(client, scope, &pkce_challenge(&verifier)))
        .await
        .expect("code issued");
    (code, verifier)
}

/// Tokens of a fresh grant: a code issued and redeemed.
pub(super) async fn grant(oauth: &OAuth, client: &Client, scope: &[&str]) -> TokenResponse {
    let (code, verifier) = authorize(oauth, client, scope).await;
    oauth
        .exchange_code(client, &code, redirect_of(client), &verifier)
        .await
        .expect("code redeemed")
}

pub(super) async fn active(oauth: &OAuth, token: &str) -> bool {
    oauth.introspect(token).await.unwrap().is_some()
}

pub(super) fn refresh_token(tokens: &TokenResponse) -> &str {
    tokens.refresh_token.as_deref().expect("a refresh token")
}

#[track_caller]
pub(super) fn assert_invalid_grant<T: std::fmt::Debug>(result: Result<T, OAuthError>, what: &str) {
    match result {
        Err(OAuthError::InvalidGrant(_)) => {}
        other => panic!("{what}: expected invalid_grant, got {other:?}"),
    }
}

/// A refusal naming the grant's revocation: reuse detection (which revoked
/// it), or a grant a concurrent reuse revoked first.
#[track_caller]
pub(super) fn assert_revoked_by_reuse<T: std::fmt::Debug>(
    result: Result<T, OAuthError>,
    what: &str,
) {
    match result {
        Err(OAuthError::InvalidGrant(why))
            if why.revokes_grant() || why == GrantProblem::Revoked => {}
        other => panic!("{what}: expected invalid_grant naming the revocation, got {other:?}"),
    }
}

/// Every live entry's key and value, as text.
pub(super) async fn stored_text(store: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 100).await.unwrap();
        for e in &page.entries {
            out.push(format!("{} {}", e.key, String::from_utf8_lossy(&e.value)));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}
