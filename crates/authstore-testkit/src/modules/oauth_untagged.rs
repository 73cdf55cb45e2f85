//! Checks that grants stored before a grant's keys carried its hash tag (43-character ids and tokens, untagged keys) still redeem, refresh, list and revoke.

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::pkce_challenge;
use authstore::secret::{random_token, sha256_hex};
use authstore::{FakeClock, PutOptions, Store};

use super::oauth::{
    RESOURCE, active, assert_revoked_by_reuse, oauth, redirect_of, refresh_token, register,
};

/// A grant and an unredeemed code written in the earlier layout: the code
/// is redeemed, the refresh token rotates, tokens stay in that layout, the
/// grant is listed under its user, and reuse of the code revokes it all.
pub async fn oauth_grants_from_before_tagged_keys_keep_working(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let oauth = oauth(&store, &clock);
    let client = register(&oauth, false).await.client;
    let (grant_id, code, verifier) = (
        random_token().unwrap(),
        random_token().unwrap(),
        random_token().unwrap(),
    );
    // Every value here is base64url or a URL without quotes: no escaping.
    let grant = format!(
        r#"{{"client_id":"{}","subject":"u-1","scope":["read"],"resources":["{RESOURCE}"],"created_at":{}}}"#,
        client.client_id,
        authstore::Clock::now_millis(&clock),
    );
    store
        .put(
            &format!("oauth-grant:{grant_id}"),
            grant.as_bytes(),
            PutOptions::new()
                .ttl(Duration::from_secs(86_400))
                .create_only()
                .index("oauth-user-grants:u-1")
                .index(format!("oauth-client-grants:{}", client.client_id)),
        )
        .await
        .unwrap();
    let record = format!(
        r#"{{"grant_id":"{grant_id}","client_id":"{}","redirect_uri":"{}","code_challenge":"{}"}}"#,
        client.client_id,
        redirect_of(&client),
        pkce_challenge(&verifier),
    );
    store
        .put(
            &format!("oauth-code:{}", sha256_hex(&code)),
            record.as_bytes(),
            PutOptions::new()
                .ttl(Duration::from_secs(600))
                .create_only(),
        )
        .await
        .unwrap();

    let tokens = oauth
        .exchange_code(&client, &code, redirect_of(&client), &verifier)
        .await
        .expect("an earlier code is redeemed");
    assert_eq!(tokens.scope, "read");
    for token in [&tokens.access_token, refresh_token(&tokens)] {
        assert_eq!(
            token.len(),
            43,
            "tokens of an earlier grant keep its layout"
        );
    }
    let info = oauth
        .introspect(&tokens.access_token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.sub.as_deref(), Some("u-1"));
    let next = oauth
        .refresh(&client, refresh_token(&tokens), None)
        .await
        .expect("an earlier grant's refresh token rotates");
    assert!(active(&oauth, &next.access_token).await);
    assert!(active(&oauth, refresh_token(&next)).await);
    let listed = oauth.user_grants("u-1").await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|g| g.grant_id.as_str())
            .collect::<Vec<_>>(),
        vec![grant_id.as_str()]
    );

    let again = oauth
        .exchange_code(&client, &code, redirect_of(&client), &verifier)
        .await;
    assert_revoked_by_reuse(again, "an earlier code redeemed twice");
    assert!(!active(&oauth, &next.access_token).await);
    assert!(!active(&oauth, refresh_token(&next)).await);
    assert!(oauth.user_grants("u-1").await.unwrap().is_empty());
}
