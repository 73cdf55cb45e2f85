//! Checks of the authorization code flow: PKCE, redirect URIs, code reuse, expiry and the client a code is bound to.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{AuthorizationRequest, NewClient, OAuthConfig, OAuthError, pkce_challenge};
use authstore::secret::random_token;
use authstore::{Clock, FakeClock, Store};

use crate::conformance::pass_time;

use super::oauth::{
    LOOPBACK_PORT, RESOURCE, WEB, active, assert_invalid_grant, assert_revoked_by_reuse, authorize,
    config, grant, oauth, oauth_with, redirect_of, refresh_token, register, request, stored_text,
};

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

/// A code read ahead of its redemption (`read_code`, as a token endpoint
/// does while it authenticates the client) redeems as a fresh read would:
/// once; a read that went stale because another redemption won is reuse;
/// a read of another code is ignored.
pub async fn oauth_code_read_ahead_redeems_as_a_fresh_read(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, false).await.client;
    let redirect = redirect_of(&client);

    let (code, verifier) = authorize(&oauth, &client, &["read"]).await;
    let read = oauth.read_code(&code).await.unwrap();
    let tokens = oauth
        .exchange_code_read(&client, read, &code, (redirect, &verifier), None)
        .await
        .expect("redeemed from the read");
    assert!(active(&oauth, &tokens.access_token).await);

    let (code, verifier) = authorize(&oauth, &client, &["read"]).await;
    let stale = oauth.read_code(&code).await.unwrap();
    let first = oauth
        .exchange_code(&client, &code, redirect, &verifier)
        .await
        .expect("the first redemption wins");
    assert_revoked_by_reuse(
        oauth
            .exchange_code_read(&client, stale, &code, (redirect, &verifier), None)
            .await,
        "a read taken before another redemption won",
    );
    assert!(!active(&oauth, &first.access_token).await);

    let (other, _) = authorize(&oauth, &client, &["read"]).await;
    let (code, verifier) = authorize(&oauth, &client, &["read"]).await;
    let read = oauth.read_code(&other).await.unwrap();
    oauth
        .exchange_code_read(&client, read, &code, (redirect, &verifier), None)
        .await
        .expect("a read of another code is ignored");
    let garbage = oauth.read_code("not a code").await.unwrap();
    assert_invalid_grant(
        oauth
            .exchange_code_read(&client, garbage, "not a code", (redirect, &verifier), None)
            .await,
        "a malformed code",
    );
}
