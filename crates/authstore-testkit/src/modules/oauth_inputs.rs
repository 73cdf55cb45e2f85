//! Checks that garbage and oversized OAuth inputs are typed errors that never reach the store as keys.

use std::sync::Arc;

use authstore::oauth::{
    AuthorizationRequest, NewClient, OAuthError, RevokeOutcome, pkce_challenge,
};
use authstore::{FakeClock, Store};

use super::oauth::{WEB, assert_invalid_grant, authorize, oauth, register, request};

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
