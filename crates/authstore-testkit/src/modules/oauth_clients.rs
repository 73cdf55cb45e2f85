//! Checks of OAuth clients: secret verification and its memo, redacted Debug output, and the client credentials grant.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{NewClient, OAuthConfig, OAuthError, RevokeOutcome, Upserted};
use authstore::secret::random_token;
use authstore::{Clock, FakeClock, Store};

use super::oauth::{LOOPBACK, WEB, active, config, oauth, oauth_with, register, scopes};

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
