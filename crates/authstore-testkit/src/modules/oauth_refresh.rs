//! Checks of refresh token rotation (grace window, reuse detection, scopes, lifetime) and of revocation.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{OAuthConfig, OAuthError, RevokeOutcome};
use authstore::secret::random_token;
use authstore::{FakeClock, Store};

use crate::conformance::pass_time;

use super::oauth::{
    active, assert_invalid_grant, assert_revoked_by_reuse, config, grant, oauth, oauth_with,
    refresh_token, register, scopes, stored_text,
};

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
