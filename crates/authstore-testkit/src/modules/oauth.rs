//! Checks of [`authstore::oauth`] on any store: the code flow with PKCE, refresh rotation with its grace window and reuse detection, revocation, introspection, client authentication, consent, and the redemption and rotation races.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::oauth::{
    AuthorizationRequest, Client, NewClient, OAuth, OAuthConfig, OAuthError, RegisteredClient,
    RevokeOutcome, TokenResponse, Upserted, pkce_challenge,
};
use authstore::secret::random_token;
use authstore::{Clock, FakeClock, Store};

use crate::conformance::{SHORT_TTL, pass_time, run_parallel};

/// The redirect URI registered for public (native) clients: loopback, any port.
const LOOPBACK: &str = "http://127.0.0.1/callback";
/// The redirect URI a public client presents.
const LOOPBACK_PORT: &str = "http://127.0.0.1:8123/callback";
/// The redirect URI of confidential (web) clients.
const WEB: &str = "https://app.example/cb";
/// The resource (RFC 8707) the tokens are for.
const RESOURCE: &str = "https://api.example/";
/// Concurrent requests in the race checks.
const RACE: usize = 200;

/// The default config with cheap argon2id parameters.
fn config() -> OAuthConfig {
    OAuthConfig {
        secret_hash_memory_kib: 1024,
        secret_hash_iterations: 1,
        ..OAuthConfig::default()
    }
}

fn oauth_with(store: &Arc<dyn Store>, clock: &FakeClock, config: OAuthConfig) -> OAuth {
    OAuth::with_config(Arc::clone(store), config, clock.clone()).expect("valid config")
}

fn oauth(store: &Arc<dyn Store>, clock: &FakeClock) -> OAuth {
    oauth_with(store, clock, config())
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Registers a client allowed scopes `read`, `write` and `admin`.
async fn register(oauth: &OAuth, confidential: bool) -> RegisteredClient {
    let mut new = if confidential {
        NewClient::confidential("web app", WEB)
    } else {
        NewClient::public("native app", LOOPBACK)
    };
    new.scopes = scopes(&["read", "write", "admin"]);
    oauth.register_client(new).await.expect("registered")
}

/// The redirect URI a client of [`register`] presents.
fn redirect_of(client: &Client) -> &'static str {
    if client.is_confidential() {
        WEB
    } else {
        LOOPBACK_PORT
    }
}

fn request(client: &Client, scope: &[&str], challenge: &str) -> AuthorizationRequest {
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
async fn authorize(oauth: &OAuth, client: &Client, scope: &[&str]) -> (String, String) {
    let verifier = random_token().unwrap();
    let code = oauth
        .issue_code(&request(client, scope, &pkce_challenge(&verifier)))
        .await
        .expect("code issued");
    (code, verifier)
}

/// Tokens of a fresh grant: a code issued and redeemed.
async fn grant(oauth: &OAuth, client: &Client, scope: &[&str]) -> TokenResponse {
    let (code, verifier) = authorize(oauth, client, scope).await;
    oauth
        .exchange_code(client, &code, redirect_of(client), &verifier)
        .await
        .expect("code redeemed")
}

async fn active(oauth: &OAuth, token: &str) -> bool {
    oauth.introspect(token).await.unwrap().is_some()
}

fn refresh_token(tokens: &TokenResponse) -> &str {
    tokens.refresh_token.as_deref().expect("a refresh token")
}

#[track_caller]
fn assert_invalid_grant<T: std::fmt::Debug>(result: Result<T, OAuthError>, what: &str) {
    match result {
        Err(OAuthError::InvalidGrant(_)) => {}
        other => panic!("{what}: expected invalid_grant, got {other:?}"),
    }
}

/// A reuse refusal names the revocation (the HTTP layer counts revoked grants by it).
#[track_caller]
fn assert_revoked_by_reuse<T: std::fmt::Debug>(result: Result<T, OAuthError>, what: &str) {
    match result {
        Err(OAuthError::InvalidGrant(why)) if why.contains("revoked") => {}
        other => panic!("{what}: expected invalid_grant naming the revocation, got {other:?}"),
    }
}

/// Every live entry's key and value, as text.
async fn stored_text(store: &dyn Store) -> Vec<String> {
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

/// The code flow for a public client (no secret, loopback redirect on any
/// port) and a confidential one: code with PKCE, tokens, introspection
/// (client, subject, scope, audience, expiry), one rotation; only hashes reach the store.
pub async fn oauth_code_flow_public_and_confidential(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let mut secrets = Vec::new();
    for confidential in [false, true] {
        let registered = register(&oauth, confidential).await;
        assert_eq!(registered.secret.is_some(), confidential);
        assert_eq!(registered.client.is_confidential(), confidential);
        let client = oauth
            .authenticate_client(&registered.client.client_id, registered.secret.as_deref())
            .await
            .expect("client authenticates");
        assert_eq!(client, registered.client);
        let (code, verifier) = authorize(&oauth, &client, &["read", "write"]).await;
        let issued_at = clock.now_millis();
        let tokens = oauth
            .exchange_code(&client, &code, redirect_of(&client), &verifier)
            .await
            .expect("code redeemed");
        assert_eq!(tokens.token_type, "Bearer");
        assert_eq!(tokens.expires_in, 3600);
        assert_eq!(tokens.scope, "read write");
        let debug = format!("{tokens:?}");
        assert!(
            !debug.contains(&tokens.access_token) && !debug.contains(refresh_token(&tokens)),
            "Debug hides tokens"
        );

        let info = oauth
            .introspect(&tokens.access_token)
            .await
            .unwrap()
            .expect("access token active");
        assert!(info.active);
        assert_eq!(info.token_type, "access_token");
        assert_eq!(info.client_id, client.client_id);
        assert_eq!(info.sub.as_deref(), Some("u-1"));
        assert_eq!(info.scope, "read write");
        assert_eq!(info.aud.as_deref(), Some(RESOURCE));
        assert_eq!(info.iat, issued_at / 1000);
        assert_eq!(info.exp, (issued_at + 3_600_000) / 1000);

        let rt = oauth
            .introspect(refresh_token(&tokens))
            .await
            .unwrap()
            .expect("refresh token active");
        assert_eq!(rt.token_type, "refresh_token");
        assert_eq!(rt.client_id, client.client_id);
        assert_eq!(rt.sub.as_deref(), Some("u-1"));
        assert_eq!(rt.scope, "read write");
        assert_eq!(rt.aud.as_deref(), Some(RESOURCE));
        assert!(rt.exp > issued_at / 1000 + 29 * 24 * 3600, "{rt:?}");

        clock.advance(Duration::from_secs(1));
        let refreshed = oauth
            .refresh(&client, refresh_token(&tokens), None)
            .await
            .expect("refreshed");
        assert_ne!(refresh_token(&refreshed), refresh_token(&tokens));
        assert_ne!(refreshed.access_token, tokens.access_token);
        assert_eq!(refreshed.scope, "read write");
        assert!(
            !active(&oauth, refresh_token(&tokens)).await,
            "the rotated refresh token is inactive"
        );
        assert!(active(&oauth, refresh_token(&refreshed)).await);
        let info = oauth
            .introspect(&refreshed.access_token)
            .await
            .unwrap()
            .expect("new access token active");
        assert_eq!(
            (info.client_id.as_str(), info.sub.as_deref()),
            (client.client_id.as_str(), Some("u-1"))
        );
        assert_eq!(info.iat, (issued_at + 1000) / 1000);
        assert!(
            active(&oauth, &tokens.access_token).await,
            "rotation leaves earlier access tokens to expire on their own"
        );
        secrets.extend([
            code,
            verifier,
            refresh_token(&tokens).to_owned(),
            refresh_token(&refreshed).to_owned(),
            tokens.access_token,
            refreshed.access_token,
        ]);
        secrets.extend(registered.secret);
    }
    let stored = stored_text(&*store).await;
    assert!(stored.iter().any(|e| e.contains("oauth-rt-head:")));
    for secret in &secrets {
        assert!(
            !stored.iter().any(|e| e.contains(secret.as_str())),
            "a secret reached the store in the clear"
        );
    }
}

/// A redirect URI must be registered at issue, and the exchange must name
/// exactly the one of the request.
pub async fn oauth_redirect_uri_is_checked_at_issue_and_exchange(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth(&store, &clock);
    let mut new = NewClient::confidential("two uris", WEB);
    new.redirect_uris.push("https://app.example/other".into());
    let client = oauth.register_client(new).await.unwrap().client;
    let verifier = random_token().unwrap();
    let challenge = pkce_challenge(&verifier);
    for bad in [
        "https://evil.example/cb",
        "https://app.example/cb?next=evil",
        "https://app.example/cb/",
        "https://app.example:8443/cb",
        "http://app.example/cb",
        "",
    ] {
        let req = AuthorizationRequest {
            redirect_uri: bad.into(),
            ..request(&client, &[], &challenge)
        };
        assert!(
            matches!(
                oauth.issue_code(&req).await,
                Err(OAuthError::InvalidRequest(_))
            ),
            "{bad:?} is not registered"
        );
    }
    let code = oauth
        .issue_code(&request(&client, &[], &challenge))
        .await
        .unwrap();
    assert_invalid_grant(
        oauth
            .exchange_code(&client, &code, "https://app.example/other", &verifier)
            .await,
        "another registered redirect URI than the request's",
    );
    assert_invalid_grant(
        oauth
            .exchange_code(&client, &code, "https://evil.example/cb", &verifier)
            .await,
        "an unregistered redirect URI",
    );
    assert!(
        oauth
            .exchange_code(&client, &code, WEB, &verifier)
            .await
            .is_ok(),
        "refused exchanges do not consume the code"
    );

    // Loopback: any port at the authorization request, the same one at the exchange.
    let native = register(&oauth, false).await.client;
    for bad in [
        "http://127.0.0.1:8123/other",
        "http://127.0.0.2:8123/callback",
        "http://user@127.0.0.1:8123/callback",
        "https://127.0.0.1:8123/callback",
    ] {
        let req = AuthorizationRequest {
            redirect_uri: bad.into(),
            ..request(&native, &[], &challenge)
        };
        assert!(
            oauth.issue_code(&req).await.is_err(),
            "{bad:?} is not the registered loopback URI"
        );
    }
    let code = oauth
        .issue_code(&request(&native, &[], &challenge))
        .await
        .unwrap();
    assert_invalid_grant(
        oauth
            .exchange_code(&native, &code, "http://127.0.0.1:9000/callback", &verifier)
            .await,
        "another loopback port than the request's",
    );
    assert!(
        oauth
            .exchange_code(&native, &code, LOOPBACK_PORT, &verifier)
            .await
            .is_ok()
    );
}

/// Only S256 challenges are accepted; the exchange needs the verifier:
/// missing, plain (the challenge itself), malformed or wrong verifiers are
/// refused without consuming the code.
pub async fn oauth_pkce_is_required_and_checked(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, false).await.client;
    let verifier = random_token().unwrap();
    for bad in [
        String::new(),
        "!".repeat(43),
        "a".repeat(42),
        "a".repeat(44),
        format!("{}=", &pkce_challenge(&verifier)[..42]),
        "a".repeat(128),
    ] {
        assert!(
            matches!(
                oauth.issue_code(&request(&client, &[], &bad)).await,
                Err(OAuthError::InvalidRequest(_))
            ),
            "challenge {bad:?} is not S256"
        );
    }
    let challenge = pkce_challenge(&verifier);
    let code = oauth
        .issue_code(&request(&client, &[], &challenge))
        .await
        .unwrap();
    let long = "a".repeat(129);
    let other = random_token().unwrap();
    for (bad, what) in [
        ("", "a missing verifier"),
        (
            challenge.as_str(),
            "the plain method (verifier = challenge)",
        ),
        (other.as_str(), "a wrong verifier"),
        ("short", "a verifier under 43 characters"),
        (long.as_str(), "a verifier over 128 characters"),
        (&verifier[..42], "a truncated verifier"),
    ] {
        assert_invalid_grant(
            oauth
                .exchange_code(&client, &code, LOOPBACK_PORT, bad)
                .await,
            what,
        );
    }
    let tokens = oauth
        .exchange_code(&client, &code, LOOPBACK_PORT, &verifier)
        .await
        .expect("the right verifier still redeems the code");
    assert!(active(&oauth, &tokens.access_token).await);

    // A plain challenge that happens to look like S256 gets nowhere either.
    let plain = random_token().unwrap();
    let code = oauth
        .issue_code(&request(&client, &[], &plain))
        .await
        .unwrap();
    assert_invalid_grant(
        oauth
            .exchange_code(&client, &code, LOOPBACK_PORT, &plain)
            .await,
        "a challenge sent as its own verifier",
    );
}

/// A code redeems once; a second redemption fails and revokes the grant:
/// the tokens of the first exchange become inactive and cannot refresh.
pub async fn oauth_code_reuse_revokes_the_grant(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, true).await.client;
    let bystander = grant(&oauth, &client, &["read"]).await;
    let (code, verifier) = authorize(&oauth, &client, &["read"]).await;
    let first = oauth
        .exchange_code(&client, &code, WEB, &verifier)
        .await
        .unwrap();
    assert!(active(&oauth, &first.access_token).await);
    assert_revoked_by_reuse(
        oauth.exchange_code(&client, &code, WEB, &verifier).await,
        "second redemption",
    );
    assert!(!active(&oauth, &first.access_token).await);
    assert!(!active(&oauth, refresh_token(&first)).await);
    assert_invalid_grant(
        oauth.refresh(&client, refresh_token(&first), None).await,
        "refresh of a revoked grant",
    );
    assert_invalid_grant(
        oauth.exchange_code(&client, &code, WEB, &verifier).await,
        "third redemption",
    );
    assert!(
        active(&oauth, &bystander.access_token).await
            && active(&oauth, refresh_token(&bystander)).await,
        "other grants of the client are untouched"
    );
}

/// A code past its lifetime is refused.
pub async fn oauth_expired_code_is_refused(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            code_ttl: Duration::from_secs(1),
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let (code, verifier) = authorize(&oauth, &client, &[]).await;
    let (fresh, fresh_verifier) = authorize(&oauth, &client, &[]).await;
    assert!(
        oauth
            .exchange_code(&client, &fresh, LOOPBACK_PORT, &fresh_verifier)
            .await
            .is_ok()
    );
    pass_time(&*store, &clock, Duration::from_millis(1100)).await;
    assert_invalid_grant(
        oauth
            .exchange_code(&client, &code, LOOPBACK_PORT, &verifier)
            .await,
        "expired code",
    );
}

/// A code bound to client A is refused to client B, and stays redeemable by A.
pub async fn oauth_code_of_another_client_is_invalid_grant(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth(&store, &clock);
    let a = register(&oauth, true).await.client;
    let b = register(&oauth, true).await.client;
    let (code, verifier) = authorize(&oauth, &a, &["read"]).await;
    match oauth.exchange_code(&b, &code, WEB, &verifier).await {
        Err(e @ OAuthError::InvalidGrant(_)) => {
            assert_eq!((e.code(), e.status()), ("invalid_grant", 400));
        }
        other => panic!("client B redeemed A's code: {other:?}"),
    }
    let tokens = oauth
        .exchange_code(&a, &code, WEB, &verifier)
        .await
        .expect("A still redeems it");
    assert_eq!(
        oauth
            .introspect(&tokens.access_token)
            .await
            .unwrap()
            .map(|i| i.client_id),
        Some(a.client_id.clone())
    );
    assert_invalid_grant(
        oauth.refresh(&b, refresh_token(&tokens), None).await,
        "B refreshing A's token",
    );
    assert!(
        active(&oauth, refresh_token(&tokens)).await,
        "B's attempt does not count as reuse"
    );
}

/// RFC 7009: a client may revoke only its own tokens; an unknown token is
/// `NotFound` (and introspects inactive); revoking an access token ends only it.
pub async fn oauth_revoke_checks_the_client(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let a = register(&oauth, true).await.client;
    let b = register(&oauth, false).await.client;
    let tokens = grant(&oauth, &a, &["read"]).await;
    for token in [tokens.access_token.as_str(), refresh_token(&tokens)] {
        assert_eq!(
            oauth.revoke(&b, token).await.unwrap(),
            RevokeOutcome::WrongClient
        );
        assert!(
            active(&oauth, token).await,
            "B's revocation changed nothing"
        );
    }
    let unknown = random_token().unwrap();
    assert_eq!(
        oauth.revoke(&a, &unknown).await.unwrap(),
        RevokeOutcome::NotFound
    );
    assert!(oauth.introspect(&unknown).await.unwrap().is_none());

    assert_eq!(
        oauth.revoke(&a, &tokens.access_token).await.unwrap(),
        RevokeOutcome::Revoked
    );
    assert!(!active(&oauth, &tokens.access_token).await);
    assert!(
        active(&oauth, refresh_token(&tokens)).await,
        "an access token's revocation leaves the grant"
    );
    assert_eq!(
        oauth.revoke(&a, &tokens.access_token).await.unwrap(),
        RevokeOutcome::NotFound,
        "revoking twice"
    );
    let again = oauth
        .refresh(&a, refresh_token(&tokens), None)
        .await
        .expect("the grant still refreshes");
    assert!(active(&oauth, &again.access_token).await);
}

/// Garbage and oversized inputs are refused with errors, never panics, and
/// never reach the store as keys.
pub async fn oauth_garbage_inputs_are_errors(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let registered = register(&oauth, true).await;
    let client = registered.client.clone();
    let huge = "A".repeat(10 * 1024);
    let nul = format!("{}\0", "a".repeat(42));
    let spaced = format!("{} ", "a".repeat(42));
    let garbage = [
        huge.as_str(),
        "",
        "not a token",
        nul.as_str(),
        spaced.as_str(),
        "ä".repeat(22).as_str(),
    ]
    .map(str::to_owned);
    let (code, verifier) = authorize(&oauth, &client, &["read"]).await;
    for bad in &garbage {
        assert_invalid_grant(
            oauth.exchange_code(&client, bad, WEB, &verifier).await,
            "garbage code",
        );
        assert_invalid_grant(
            oauth.exchange_code(&client, &code, bad, &verifier).await,
            "garbage redirect URI",
        );
        assert_invalid_grant(
            oauth.exchange_code(&client, &code, WEB, bad).await,
            "garbage verifier",
        );
        assert_invalid_grant(
            oauth.refresh(&client, bad, None).await,
            "garbage refresh token",
        );
        assert!(oauth.introspect(bad).await.unwrap().is_none());
        assert_eq!(
            oauth.revoke(&client, bad).await.unwrap(),
            RevokeOutcome::NotFound
        );
        assert!(oauth.client(bad).await.unwrap().is_none());
        for secret in [None, Some(bad.as_str()), registered.secret.as_deref()] {
            assert!(
                matches!(
                    oauth.authenticate_client(bad, secret).await,
                    Err(OAuthError::InvalidClient)
                ),
                "client id {bad:.20?}"
            );
        }
        assert!(matches!(
            oauth
                .authenticate_client(&client.client_id, Some(bad))
                .await,
            Err(OAuthError::InvalidClient)
        ));
        let challenge = pkce_challenge(&verifier);
        let good = request(&client, &["read"], &challenge);
        for (req, what) in [
            (
                AuthorizationRequest {
                    client_id: bad.clone(),
                    ..good.clone()
                },
                "client_id",
            ),
            (
                AuthorizationRequest {
                    redirect_uri: bad.clone(),
                    ..good.clone()
                },
                "redirect_uri",
            ),
            (
                AuthorizationRequest {
                    code_challenge: bad.clone(),
                    ..good.clone()
                },
                "code_challenge",
            ),
            (
                AuthorizationRequest {
                    scope: vec![bad.clone()],
                    ..good.clone()
                },
                "scope",
            ),
        ] {
            assert!(
                oauth.issue_code(&req).await.is_err(),
                "garbage {what} {bad:.20?} was accepted"
            );
        }
        let mut new = NewClient::confidential("x", WEB);
        new.redirect_uris = vec![bad.clone()];
        assert!(matches!(
            oauth.register_client(new).await,
            Err(OAuthError::InvalidRedirectUri(_))
        ));
    }
    for subject in [String::new(), huge.clone()] {
        let req = AuthorizationRequest {
            subject,
            ..request(&client, &["read"], &pkce_challenge(&verifier))
        };
        assert!(matches!(
            oauth.issue_code(&req).await,
            Err(OAuthError::InvalidRequest(_))
        ));
    }
    assert!(matches!(
        oauth
            .issue_code(&request(
                &client,
                &["read", "delete"],
                &pkce_challenge(&verifier)
            ))
            .await,
        Err(OAuthError::InvalidScope(_))
    ));
    let mut nameless = NewClient::confidential(" ", WEB);
    assert!(matches!(
        oauth.register_client(nameless.clone()).await,
        Err(OAuthError::InvalidClientMetadata(_))
    ));
    nameless.name = "ok".into();
    nameless.scopes = vec!["two words".into()];
    assert!(matches!(
        oauth.register_client(nameless).await,
        Err(OAuthError::InvalidClientMetadata(_))
    ));
    assert!(
        oauth
            .exchange_code(&client, &code, WEB, &verifier)
            .await
            .is_ok(),
        "none of it consumed the code"
    );
}

/// Reuse of a rotated refresh token outside the grace window (grace 0, or
/// after it passed) revokes the whole grant, even when the replay asks for
/// a scope it could not get: access tokens and the newest refresh token
/// become inactive.
pub async fn oauth_refresh_reuse_revokes_the_grant(store: Arc<dyn Store>, clock: FakeClock) {
    for grace in [Duration::ZERO, Duration::from_secs(10)] {
        let oauth = oauth_with(
            &store,
            &clock,
            OAuthConfig {
                refresh_grace: grace,
                ..config()
            },
        );
        let client = register(&oauth, false).await.client;
        let first = grant(&oauth, &client, &["read"]).await;
        let second = oauth
            .refresh(&client, refresh_token(&first), None)
            .await
            .unwrap();
        let third = oauth
            .refresh(&client, refresh_token(&second), None)
            .await
            .unwrap();
        // Past the window (by the module's clock; no store TTL is involved).
        clock.advance(grace + Duration::from_millis(1));
        // A replay is reuse whatever it asks for: here a wider scope.
        let wider = scopes(&["read", "admin"]);
        let asked = grace.is_zero().then_some(wider.as_slice());
        assert_revoked_by_reuse(
            oauth.refresh(&client, refresh_token(&second), asked).await,
            &format!("reuse with grace {grace:?}, scope {asked:?}"),
        );
        for (token, what) in [
            (first.access_token.as_str(), "first access token"),
            (second.access_token.as_str(), "second access token"),
            (third.access_token.as_str(), "newest access token"),
            (refresh_token(&third), "newest refresh token"),
        ] {
            assert!(!active(&oauth, token).await, "{what} survived reuse");
        }
        assert_invalid_grant(
            oauth.refresh(&client, refresh_token(&third), None).await,
            "the newest refresh token after reuse",
        );
    }
}

/// Within the grace window a retry with the replaced refresh token gets
/// the same response as the rotation it repeats (the same access and
/// refresh tokens) and rotates nothing, however often it is repeated: the
/// chain keeps exactly one live refresh token, and the store holds neither
/// token in the clear. A retry asking for other scopes is refused without
/// revoking. Once the chain moved on, the replaced token is reuse. The
/// window runs from the rotation; retries do not extend it.
pub async fn oauth_refresh_retry_within_grace_keeps_one_chain(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            refresh_grace: Duration::from_secs(10),
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let t0 = grant(&oauth, &client, &["read", "write"]).await;
    let lost = oauth
        .refresh(&client, refresh_token(&t0), None)
        .await
        .unwrap();
    let first_retry = oauth
        .refresh(&client, refresh_token(&t0), None)
        .await
        .expect("a retry at once");
    assert_eq!(first_retry, lost, "the same response, expires_in included");
    clock.advance(Duration::from_secs(5));
    for attempt in 0..2 {
        let retry = oauth
            .refresh(&client, refresh_token(&t0), None)
            .await
            .expect("a retry within the window");
        assert_eq!(
            (&retry.access_token, &retry.refresh_token, &retry.scope),
            (&lost.access_token, &lost.refresh_token, &lost.scope),
            "retry {attempt} gets the same tokens"
        );
        assert!(
            retry.expires_in <= lost.expires_in - 5 && retry.expires_in + 6 >= lost.expires_in,
            "expires_in counts down: {} then {}",
            lost.expires_in,
            retry.expires_in
        );
    }
    // Every refresh token the chain ever had: only the successor is live.
    assert!(active(&oauth, refresh_token(&lost)).await);
    assert!(!active(&oauth, refresh_token(&t0)).await, "chain forked");
    assert!(active(&oauth, &lost.access_token).await);
    let text = stored_text(&*store).await.join("\n");
    for (secret, what) in [
        (refresh_token(&t0), "the replaced refresh token"),
        (refresh_token(&lost), "the successor refresh token"),
        (lost.access_token.as_str(), "the successor access token"),
    ] {
        assert!(!text.contains(secret), "{what} is stored in the clear");
    }
    // Other scopes are not a retry: refused, and nothing is revoked.
    assert_invalid_grant(
        oauth
            .refresh(&client, refresh_token(&t0), Some(&scopes(&["read"])))
            .await,
        "a retry for a narrower scope",
    );
    assert!(matches!(
        oauth
            .refresh(&client, refresh_token(&t0), Some(&scopes(&["admin"])))
            .await,
        Err(OAuthError::InvalidScope(_))
    ));
    assert!(
        active(&oauth, refresh_token(&lost)).await,
        "nothing revoked"
    );
    let next = oauth
        .refresh(&client, refresh_token(&lost), None)
        .await
        .expect("the chain continues from the successor");
    assert!(active(&oauth, refresh_token(&next)).await);
    assert!(!active(&oauth, refresh_token(&lost)).await);
    assert_revoked_by_reuse(
        oauth.refresh(&client, refresh_token(&t0), None).await,
        "the token two rotations back",
    );
    assert!(!active(&oauth, refresh_token(&next)).await);
    assert!(!active(&oauth, &next.access_token).await);

    // The window is measured from the rotation.
    let t0 = grant(&oauth, &client, &["read"]).await;
    let rotated = oauth
        .refresh(&client, refresh_token(&t0), None)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(6));
    let retry = oauth
        .refresh(&client, refresh_token(&t0), None)
        .await
        .unwrap();
    assert_eq!(retry.refresh_token, rotated.refresh_token);
    clock.advance(Duration::from_secs(6));
    assert_revoked_by_reuse(
        oauth.refresh(&client, refresh_token(&t0), None).await,
        "a retry 12 s after the rotation",
    );
    assert!(!active(&oauth, refresh_token(&rotated)).await);
}

/// Revoking a refresh token revokes its grant: its access tokens too.
pub async fn oauth_revoking_a_refresh_token_revokes_the_grant(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, true).await.client;
    let first = grant(&oauth, &client, &["read"]).await;
    let second = oauth
        .refresh(&client, refresh_token(&first), None)
        .await
        .unwrap();
    let other = grant(&oauth, &client, &["read"]).await;
    assert_eq!(
        oauth.revoke(&client, refresh_token(&second)).await.unwrap(),
        RevokeOutcome::Revoked
    );
    for token in [
        first.access_token.as_str(),
        second.access_token.as_str(),
        refresh_token(&second),
    ] {
        assert!(!active(&oauth, token).await);
    }
    assert_invalid_grant(
        oauth.refresh(&client, refresh_token(&second), None).await,
        "refresh after revocation",
    );
    assert_eq!(
        oauth.revoke(&client, &second.access_token).await.unwrap(),
        RevokeOutcome::NotFound,
        "the grant's access tokens are gone"
    );
    assert!(
        active(&oauth, &other.access_token).await && active(&oauth, refresh_token(&other)).await,
        "another grant of the same client is untouched"
    );
}

/// A refresh may narrow the grant's scopes for the new access token; it can
/// never widen them, and a refused refresh does not consume the token.
pub async fn oauth_refresh_scope_can_narrow_not_widen(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, true).await.client;
    let tokens = grant(&oauth, &client, &["read", "write"]).await;
    for wider in [
        scopes(&["read", "admin"]),
        scopes(&["admin"]),
        scopes(&["delete"]),
    ] {
        assert!(
            matches!(
                oauth
                    .refresh(&client, refresh_token(&tokens), Some(&wider))
                    .await,
                Err(OAuthError::InvalidScope(_))
            ),
            "{wider:?}"
        );
    }
    let narrow = oauth
        .refresh(&client, refresh_token(&tokens), Some(&scopes(&["read"])))
        .await
        .expect("narrowing");
    assert_eq!(narrow.scope, "read");
    assert_eq!(
        oauth
            .introspect(&narrow.access_token)
            .await
            .unwrap()
            .unwrap()
            .scope,
        "read"
    );
    let full = oauth
        .refresh(&client, refresh_token(&narrow), None)
        .await
        .unwrap();
    assert_eq!(full.scope, "read write", "no scope: the grant's scopes");
    assert!(matches!(
        oauth
            .refresh(
                &client,
                refresh_token(&full),
                Some(&scopes(&["read", "admin"]))
            )
            .await,
        Err(OAuthError::InvalidScope(_))
    ));
}

/// Refreshing keeps a grant alive: a refresh token issued near the end of
/// the previous one's lifetime works for its own full lifetime; an idle
/// grant ends with its last refresh token.
pub async fn oauth_refresh_keeps_the_grant_alive(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            refresh_token_ttl: Duration::from_millis(1000),
            code_tombstone_ttl: Duration::from_millis(200),
            access_token_ttl: Duration::from_millis(500),
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let first = grant(&oauth, &client, &["read"]).await;
    pass_time(&*store, &clock, Duration::from_millis(600)).await;
    let second = oauth
        .refresh(&client, refresh_token(&first), None)
        .await
        .unwrap();
    pass_time(&*store, &clock, Duration::from_millis(600)).await;
    assert!(
        active(&oauth, refresh_token(&second)).await,
        "a refresh token 600 ms into its 1 s life, 1.2 s into the grant"
    );
    let third = oauth
        .refresh(&client, refresh_token(&second), None)
        .await
        .expect("refreshing extends the grant");
    assert!(active(&oauth, &third.access_token).await);
    pass_time(&*store, &clock, Duration::from_millis(1100)).await;
    assert!(!active(&oauth, refresh_token(&third)).await);
    assert_invalid_grant(
        oauth.refresh(&client, refresh_token(&third), None).await,
        "an idle grant's expired refresh token",
    );
}

/// Client authentication: the right secret, never a wrong or missing one,
/// no secret for public clients, nothing for unknown clients; secrets expire.
pub async fn oauth_client_authentication(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let web = register(&oauth, true).await;
    let native = register(&oauth, false).await;
    let secret = web.secret.clone().expect("a secret");
    let id = web.client.client_id.as_str();
    assert_eq!(
        oauth
            .authenticate_client(id, Some(&secret))
            .await
            .unwrap()
            .client_id,
        id
    );
    let wrong = random_token().unwrap();
    let unknown = random_token().unwrap();
    let pid = native.client.client_id.as_str();
    for (client_id, presented, what) in [
        (id, Some(wrong.as_str()), "wrong secret"),
        (id, Some(""), "empty secret"),
        (id, None, "confidential client without its secret"),
        (
            unknown.as_str(),
            Some(secret.as_str()),
            "unknown client with a secret",
        ),
        (unknown.as_str(), None, "unknown client without a secret"),
        (pid, Some(secret.as_str()), "public client with a secret"),
        (pid, Some(""), "public client with an empty secret"),
    ] {
        match oauth.authenticate_client(client_id, presented).await {
            Err(e @ OAuthError::InvalidClient) => assert_eq!(e.status(), 401),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(
        oauth
            .authenticate_client(pid, None)
            .await
            .unwrap()
            .client_id,
        pid
    );
    assert_eq!(
        oauth.client(id).await.unwrap().as_ref(),
        Some(&web.client),
        "the stored client reads back"
    );

    // Secret expiry (judged by the module's clock).
    let mut expiring = NewClient::confidential("expiring", WEB);
    expiring.secret_ttl = Some(Duration::from_secs(2));
    let expiring = oauth.register_client(expiring).await.unwrap();
    let at = expiring.client.secret_expires_at.expect("an expiry");
    assert!(at > clock.now_millis() / 1000 && at <= clock.now_millis() / 1000 + 2);
    let (eid, esecret) = (
        expiring.client.client_id.as_str(),
        expiring.secret.as_deref(),
    );
    assert!(oauth.authenticate_client(eid, esecret).await.is_ok());
    clock.advance(Duration::from_secs(3));
    assert!(matches!(
        oauth.authenticate_client(eid, esecret).await,
        Err(OAuthError::InvalidClient)
    ));
    assert!(
        oauth.authenticate_client(id, Some(&secret)).await.is_ok(),
        "a secret without expiry still works"
    );
    let mut public = NewClient::public("no secret, no expiry", LOOPBACK);
    public.secret_ttl = Some(Duration::from_secs(2));
    assert_eq!(
        oauth
            .register_client(public)
            .await
            .unwrap()
            .client
            .secret_expires_at,
        None
    );

    assert!(oauth.delete_client(id).await.unwrap());
    assert!(matches!(
        oauth.authenticate_client(id, Some(&secret)).await,
        Err(OAuthError::InvalidClient)
    ));
}

/// A secret remembered after a successful verification (the in-process
/// memo, [`OAuthConfig::secret_cache_ttl`]) never outlives what the store
/// says: another instance rotating the secret or deleting the client takes
/// effect at once; a wrong secret stays wrong; the memo's expiry changes nothing.
pub async fn oauth_remembered_secret_follows_the_stored_client(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let (here, there) = (oauth(&store, &clock), oauth(&store, &clock));
    let meta = NewClient::confidential("configured", WEB);
    let (old, new) = ("o".repeat(40), "n".repeat(40));
    there
        .put_client("svc", meta.clone(), Some(&old))
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(here.authenticate_client("svc", Some(&old)).await.is_ok());
    }
    assert!(
        matches!(
            here.authenticate_client("svc", Some(&new)).await,
            Err(OAuthError::InvalidClient)
        ),
        "a wrong secret after a remembered success"
    );

    let (_, outcome) = there
        .put_client("svc", meta.clone(), Some(&new))
        .await
        .unwrap();
    assert_eq!(outcome, Upserted::Updated);
    assert!(
        matches!(
            here.authenticate_client("svc", Some(&old)).await,
            Err(OAuthError::InvalidClient)
        ),
        "the rotated-out secret, remembered by this instance"
    );
    assert!(here.authenticate_client("svc", Some(&new)).await.is_ok());

    clock.advance(config().secret_cache_ttl + Duration::from_secs(1));
    assert!(
        here.authenticate_client("svc", Some(&new)).await.is_ok(),
        "after the memo expired"
    );
    assert!(matches!(
        here.authenticate_client("svc", Some(&old)).await,
        Err(OAuthError::InvalidClient)
    ));

    assert!(there.delete_client("svc").await.unwrap());
    assert!(
        matches!(
            here.authenticate_client("svc", Some(&new)).await,
            Err(OAuthError::InvalidClient)
        ),
        "a client deleted by another instance"
    );

    let no_memo = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            secret_cache_ttl: Duration::ZERO,
            ..config()
        },
    );
    there.put_client("svc", meta, Some(&old)).await.unwrap();
    for _ in 0..2 {
        assert!(no_memo.authenticate_client("svc", Some(&old)).await.is_ok());
    }
}

/// Debug output of a client never shows its secret or the secret's hash;
/// the store holds only the argon2id hash.
pub async fn oauth_client_debug_hides_secrets(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let registered = register(&oauth, true).await;
    let secret = registered.secret.clone().unwrap();
    let entry = store
        .get(&format!("oauth-client:{}", registered.client.client_id))
        .await
        .unwrap()
        .expect("stored client");
    let stored = String::from_utf8(entry.value.to_vec()).unwrap();
    assert!(
        !stored.contains(&secret),
        "the secret is stored in the clear"
    );
    let start = stored.find("$argon2id$").expect("an argon2id hash");
    let hash = &stored[start..start + stored[start..].find('"').unwrap()];
    let authenticated = oauth
        .authenticate_client(&registered.client.client_id, Some(&secret))
        .await
        .unwrap();
    for debug in [
        format!("{registered:?}"),
        format!("{:?}", registered.client),
        format!("{authenticated:?}"),
        format!("{authenticated:#?}"),
    ] {
        assert!(debug.contains(&registered.client.client_id));
        assert!(!debug.contains(&secret), "Debug shows the secret: {debug}");
        assert!(!debug.contains(hash), "Debug shows the hash: {debug}");
        assert!(!debug.contains("argon2"), "Debug shows the hash: {debug}");
    }
}

/// The client credentials grant: for a confidential client, its own scopes
/// or fewer, no refresh token, no subject; refused to a public client.
pub async fn oauth_client_credentials_grant(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, true).await.client;
    let all = oauth.client_credentials(&client, None).await.unwrap();
    assert_eq!(all.scope, "read write admin");
    assert!(all.refresh_token.is_none());
    let info = oauth
        .introspect(&all.access_token)
        .await
        .unwrap()
        .expect("active");
    assert_eq!(info.client_id, client.client_id);
    assert_eq!((info.sub, info.aud), (None, None));
    assert_eq!(info.token_type, "access_token");
    let read = oauth
        .client_credentials(&client, Some(&scopes(&["read"])))
        .await
        .unwrap();
    assert_eq!(read.scope, "read");
    assert!(matches!(
        oauth
            .client_credentials(&client, Some(&scopes(&["read", "delete"])))
            .await,
        Err(OAuthError::InvalidScope(_))
    ));
    let public = register(&oauth, false).await.client;
    match oauth.client_credentials(&public, None).await {
        Err(e @ OAuthError::UnauthorizedClient(_)) => assert_eq!(e.code(), "unauthorized_client"),
        other => panic!("a public client got client credentials: {other:?}"),
    }
    let mut code_only = NewClient::confidential("code only", WEB);
    code_only.grant_types = vec![authstore::oauth::GrantType::AuthorizationCode];
    let code_only = oauth.register_client(code_only).await.unwrap().client;
    assert!(matches!(
        oauth.client_credentials(&code_only, None).await,
        Err(OAuthError::UnauthorizedClient(_))
    ));
    assert_eq!(
        oauth.revoke(&client, &all.access_token).await.unwrap(),
        RevokeOutcome::Revoked
    );
    assert!(!active(&oauth, &all.access_token).await);
    assert!(active(&oauth, &read.access_token).await);
}

/// Remembered consent covers exactly the approved scopes of one client for
/// one subject and one set of resources, until it is revoked or expires;
/// consents for other sets of resources of the same client coexist.
pub async fn oauth_consent_is_remembered_and_revoked(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let ttl = OAuth::default_consent_ttl();
    let none: &[String] = &[];
    oauth
        .remember_consent("u-1", "client-a", &scopes(&["read", "write"]), none, ttl)
        .await
        .unwrap();
    for (subject, client, wanted, covered) in [
        ("u-1", "client-a", scopes(&["read"]), true),
        ("u-1", "client-a", scopes(&["write", "read"]), true),
        ("u-1", "client-a", scopes(&[]), true),
        ("u-1", "client-a", scopes(&["admin"]), false),
        ("u-1", "client-a", scopes(&["read", "admin"]), false),
        ("u-1", "client-b", scopes(&["read"]), false),
        ("u-2", "client-a", scopes(&["read"]), false),
    ] {
        assert_eq!(
            oauth
                .has_consent(subject, client, &wanted, none)
                .await
                .unwrap(),
            covered,
            "{subject} {client} {wanted:?}"
        );
    }
    oauth
        .remember_consent("u-1", "client-a", &scopes(&["read"]), none, ttl)
        .await
        .unwrap();
    assert!(
        !oauth
            .has_consent("u-1", "client-a", &scopes(&["write"]), none)
            .await
            .unwrap(),
        "a new consent for the same resources replaces the old one"
    );
    // Bound to the set of resources: another set, or none, is asked again;
    // the order of the resources does not matter.
    let api = scopes(&["https://api.example/"]);
    let files = scopes(&["https://files.example/"]);
    let both = scopes(&["https://files.example/", "https://api.example/"]);
    oauth
        .remember_consent("u-4", "client-a", &scopes(&["read"]), &api, ttl)
        .await
        .unwrap();
    oauth
        .remember_consent("u-4", "client-a", &scopes(&["write"]), &both, ttl)
        .await
        .unwrap();
    for (resources, wanted, covered) in [
        (api.clone(), "read", true),
        (api.clone(), "write", false),
        (both.clone(), "write", true),
        (
            scopes(&["https://api.example/", "https://files.example/"]),
            "write",
            true,
        ),
        (files.clone(), "read", false),
        (scopes(&["https://other.example/"]), "read", false),
        (vec![], "read", false),
    ] {
        assert_eq!(
            oauth
                .has_consent("u-4", "client-a", &scopes(&[wanted]), &resources)
                .await
                .unwrap(),
            covered,
            "{resources:?} {wanted}"
        );
    }
    // A record of an earlier format (a bare list of scopes) never matches.
    store
        .put(
            "oauth-consent:u-5|client-a",
            br#"["read"]"#,
            authstore::PutOptions::new(),
        )
        .await
        .unwrap();
    assert!(
        !oauth
            .has_consent("u-5", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap()
    );
    let mut listed = oauth.consents("u-4").await.unwrap();
    listed.sort_by_key(|a| a.resources.len());
    assert_eq!(
        listed,
        vec![
            authstore::oauth::RememberedConsent {
                client_id: "client-a".into(),
                scopes: scopes(&["read"]),
                resources: api.clone(),
            },
            authstore::oauth::RememberedConsent {
                client_id: "client-a".into(),
                scopes: scopes(&["write"]),
                resources: scopes(&["https://api.example/", "https://files.example/"]),
            },
        ]
    );
    // Revoking one set keeps the other; revoking the client drops all.
    assert!(
        oauth
            .revoke_consent_for("u-4", "client-a", &both)
            .await
            .unwrap()
    );
    assert!(
        oauth
            .has_consent("u-4", "client-a", &scopes(&["read"]), &api)
            .await
            .unwrap()
    );
    assert!(
        !oauth
            .has_consent("u-4", "client-a", &scopes(&["write"]), &both)
            .await
            .unwrap()
    );
    assert!(oauth.revoke_consent("u-4", "client-a").await.unwrap());
    assert!(oauth.consents("u-4").await.unwrap().is_empty());
    assert!(oauth.revoke_consent("u-1", "client-a").await.unwrap());
    assert!(
        !oauth
            .has_consent("u-1", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap()
    );
    assert!(!oauth.revoke_consent("u-1", "client-a").await.unwrap());

    oauth
        .remember_consent("u-3", "client-a", &scopes(&["read"]), none, SHORT_TTL)
        .await
        .unwrap();
    assert!(
        oauth
            .has_consent("u-3", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap()
    );
    pass_time(&*store, &clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        !oauth
            .has_consent("u-3", "client-a", &scopes(&["read"]), none)
            .await
            .unwrap(),
        "consent expires"
    );
}

/// Redeems one code from `RACE` concurrent requests spread over `instances`;
/// asserts exactly one success, every other attempt refused as reuse, and
/// the grant revoked afterwards.
async fn race_code(instances: &[OAuth]) {
    let oauth = &instances[0];
    let client = register(oauth, false).await.client;
    let (code, verifier) = authorize(oauth, &client, &["read"]).await;
    let started = Instant::now();
    let results = run_parallel(RACE, |i| {
        let oauth = instances[i % instances.len()].clone();
        let (client, code, verifier) = (client.clone(), code.clone(), verifier.clone());
        async move {
            oauth
                .exchange_code(&client, &code, LOOPBACK_PORT, &verifier)
                .await
        }
    });
    let elapsed = started.elapsed();
    eprintln!(
        "{RACE} concurrent redemptions over {} store(s): {elapsed:?}",
        instances.len()
    );
    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(tokens) => winners.push(tokens),
            loser => assert_revoked_by_reuse(loser, "a losing redemption"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one redemption wins");
    let winner = &winners[0];
    assert!(
        !active(oauth, &winner.access_token).await,
        "the concurrent reuse revoked the winner's access token"
    );
    assert!(!active(oauth, refresh_token(winner)).await);
    assert_invalid_grant(
        oauth.refresh(&client, refresh_token(winner), None).await,
        "the winner's refresh token",
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "{RACE} redemptions took {elapsed:?}"
    );
}

/// 200 concurrent redemptions of one code: exactly one wins; every other
/// sees the used code and revokes the grant, so the winner's tokens end inactive.
pub async fn oauth_concurrent_code_redemption_has_one_winner(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    race_code(&[oauth(&store, &clock)]).await;
}

/// The code race across two store instances on one backend.
pub async fn oauth_two_stores_redeem_a_code_once(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    clock: FakeClock,
) {
    race_code(&[oauth(&a, &clock), oauth(&b, &clock)]).await;
}

/// 200 concurrent refreshes of one refresh token inside a 60 s grace
/// window: rotation is a compare-and-set on the grant's head, so one
/// rotates, and every other request, a retry of the replaced token, gets
/// that rotation's response: all 200 return the same tokens, that refresh
/// token is the one active (one chain), and it keeps working. Each loser
/// of the compare-and-set costs one failed write and a read; the elapsed
/// time is printed.
pub async fn oauth_concurrent_refresh_within_grace_keeps_one_chain(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            refresh_grace: Duration::from_secs(60),
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let first = grant(&oauth, &client, &["read"]).await;
    let token = refresh_token(&first).to_owned();
    let started = Instant::now();
    let results = run_parallel(RACE, |_| {
        let (oauth, client, token) = (oauth.clone(), client.clone(), token.clone());
        async move { oauth.refresh(&client, &token, None).await }
    });
    let elapsed = started.elapsed();
    eprintln!("{RACE} concurrent refreshes within the grace window: {elapsed:?}");
    let issued: Vec<TokenResponse> = results
        .into_iter()
        .map(|r| r.expect("every retry within the grace window succeeds"))
        .collect();
    let mut distinct: Vec<&str> = issued.iter().map(refresh_token).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        1,
        "every request got the one rotation's token"
    );
    assert!(
        issued
            .iter()
            .all(|t| t.access_token == issued[0].access_token),
        "and its access token"
    );
    let successor = distinct[0];
    assert!(active(&oauth, successor).await && active(&oauth, &issued[0].access_token).await);
    assert!(
        !active(&oauth, &token).await,
        "one chain: the replaced token is dead"
    );
    // The losers of the compare-and-set removed their successors' records:
    // the grant has its first tokens and the one rotation's, nothing else.
    for (prefix, what) in [("oauth-rt:", "refresh"), ("oauth-at:", "access")] {
        let page = store.scan(prefix, None, 1000).await.unwrap();
        assert_eq!(page.entries.len(), 2, "{what} token records");
    }
    let next = oauth
        .refresh(&client, successor, None)
        .await
        .expect("the chain continues");
    assert!(active(&oauth, refresh_token(&next)).await);
    assert!(
        elapsed < Duration::from_secs(60),
        "{RACE} refreshes took {elapsed:?}"
    );
}

/// 200 concurrent refreshes of one refresh token without a grace window:
/// at most one succeeds, and the others' reuse revokes the grant.
pub async fn oauth_concurrent_refresh_without_grace_revokes_the_grant(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth_with(
        &store,
        &clock,
        OAuthConfig {
            refresh_grace: Duration::ZERO,
            ..config()
        },
    );
    let client = register(&oauth, false).await.client;
    let first = grant(&oauth, &client, &["read"]).await;
    let token = refresh_token(&first).to_owned();
    let results = run_parallel(RACE, |_| {
        let (oauth, client, token) = (oauth.clone(), client.clone(), token.clone());
        async move { oauth.refresh(&client, &token, None).await }
    });
    let mut winners = Vec::new();
    let mut reuse_seen = false;
    for result in results {
        match result {
            Ok(tokens) => winners.push(tokens),
            Err(OAuthError::InvalidGrant(why)) => reuse_seen |= why.contains("reuse"),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert!(winners.len() <= 1, "{} refreshes succeeded", winners.len());
    assert!(reuse_seen, "some refresh saw the reuse");
    assert!(!active(&oauth, &first.access_token).await, "grant revoked");
    for tokens in &winners {
        assert!(!active(&oauth, &tokens.access_token).await);
        assert!(!active(&oauth, refresh_token(tokens)).await);
    }
}
