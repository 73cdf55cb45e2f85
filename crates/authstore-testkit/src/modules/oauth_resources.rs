//! Checks of RFC 8707 resource indicators in [`authstore::oauth`] on any store: known resources, one audience per token, narrowing at refresh, client credentials and the default resource.

use std::sync::Arc;

use authstore::oauth::{
    AuthorizationRequest, Client, KnownResources, NewClient, OAuth, OAuthConfig, OAuthError,
    TokenResponse, pkce_challenge,
};
use authstore::secret::random_token;
use authstore::{FakeClock, Store};

const WEB: &str = "https://app.example/cb";
const API: &str = "https://api.example/mcp";
const FILES: &str = "https://files.example/";
const UNKNOWN: &str = "https://unknown.example/";

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// `API` accepts `tools`, `FILES` accepts `files`; `API` is the default.
fn oauth(store: &Arc<dyn Store>, clock: &FakeClock) -> OAuth {
    let resources = KnownResources::any()
        .with_resource(API, ["tools"])
        .and_then(|k| k.with_resource(FILES, ["files"]))
        .and_then(|k| k.with_default(API))
        .expect("valid resources");
    let config = OAuthConfig {
        secret_hash_memory_kib: 1024,
        secret_hash_iterations: 1,
        resources,
        ..OAuthConfig::default()
    };
    OAuth::with_config(Arc::clone(store), config, clock.clone()).expect("valid config")
}

async fn client(oauth: &OAuth) -> Client {
    let mut new = NewClient::confidential("web app", WEB);
    new.scopes = scopes(&["tools", "files", "offline_access", "admin"]);
    oauth.register_client(new).await.expect("registered").client
}

fn request(
    client: &Client,
    scope: &[&str],
    resources: &[&str],
    verifier: &str,
) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: WEB.into(),
        scope: scopes(scope),
        code_challenge: pkce_challenge(verifier),
        resources: scopes(resources),
        subject: "u-1".into(),
        ..Default::default()
    }
}

async fn code(
    oauth: &OAuth,
    client: &Client,
    scope: &[&str],
    resources: &[&str],
) -> (String, String) {
    let verifier = random_token().unwrap();
    let code = oauth
        .issue_code(&request(client, scope, resources, &verifier))
        .await
        .expect("code issued");
    (code, verifier)
}

async fn aud(oauth: &OAuth, token: &str) -> Option<String> {
    oauth.introspect(token).await.unwrap().expect("active").aud
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, OAuthError>, code: &str, what: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "{what}: {e}"),
        Ok(v) => panic!("{what}: accepted: {v:?}"),
    }
}

fn refresh_of(tokens: &TokenResponse) -> &str {
    tokens.refresh_token.as_deref().expect("a refresh token")
}

/// Unknown or malformed resources are `invalid_target` at the
/// authorization step and with client credentials; scopes a request's
/// resources do not accept are `invalid_scope`; none named gets the default.
pub async fn oauth_resources_unknown_is_invalid_target(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = client(&oauth).await;
    let verifier = random_token().unwrap();
    for resources in [
        &[UNKNOWN][..],
        &[API, UNKNOWN],
        &["api.example"],
        &["https://api.example/mcp#x"],
    ] {
        assert_code(
            oauth
                .issue_code(&request(&client, &["tools"], resources, &verifier))
                .await,
            "invalid_target",
            &format!("{resources:?}"),
        );
    }
    assert_code(
        oauth
            .issue_code(&request(&client, &["files"], &[API], &verifier))
            .await,
        "invalid_scope",
        "files is not a scope of the api",
    );
    // Server scopes go with any resource.
    let (c, v) = code(&oauth, &client, &["tools", "offline_access"], &[API]).await;
    let tokens = oauth.exchange_code(&client, &c, WEB, &v).await.unwrap();
    assert_eq!(tokens.scope, "tools offline_access");
    // None named: the default resource.
    let (c, v) = code(&oauth, &client, &["tools"], &[]).await;
    let tokens = oauth.exchange_code(&client, &c, WEB, &v).await.unwrap();
    assert_eq!(
        aud(&oauth, &tokens.access_token).await.as_deref(),
        Some(API)
    );

    assert_code(
        oauth
            .client_credentials_for(&client, None, Some(UNKNOWN))
            .await,
        "invalid_target",
        "client credentials for an unknown resource",
    );
    assert_code(
        oauth
            .client_credentials_for(&client, Some(&scopes(&["tools"])), Some(FILES))
            .await,
        "invalid_scope",
        "client credentials asking a scope the resource does not accept",
    );
    let files = oauth
        .client_credentials_for(&client, None, Some(FILES))
        .await
        .unwrap();
    assert_eq!(
        files.scope, "files offline_access",
        "the client's scopes the resource accepts"
    );
    assert_eq!(
        aud(&oauth, &files.access_token).await.as_deref(),
        Some(FILES)
    );
    let default = oauth.client_credentials(&client, None).await.unwrap();
    assert_eq!(default.scope, "tools offline_access");
    assert_eq!(
        aud(&oauth, &default.access_token).await.as_deref(),
        Some(API)
    );
}

/// A grant for several resources: the code exchange names one of them
/// (none named or another one is `invalid_target` and leaves the code
/// unused), and its token carries that resource's scopes only.
pub async fn oauth_resources_exchange_picks_one(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = client(&oauth).await;
    let (c, v) = code(
        &oauth,
        &client,
        &["tools", "files", "offline_access"],
        &[API, FILES],
    )
    .await;
    for resource in [None, Some(UNKNOWN), Some("not a uri")] {
        assert_code(
            oauth
                .exchange_code_for(&client, &c, WEB, &v, resource)
                .await,
            "invalid_target",
            &format!("{resource:?}"),
        );
    }
    let tokens = oauth
        .exchange_code_for(&client, &c, WEB, &v, Some(FILES))
        .await
        .expect("the code is still unused");
    assert_eq!(tokens.scope, "files offline_access");
    assert_eq!(
        aud(&oauth, &tokens.access_token).await.as_deref(),
        Some(FILES)
    );
    let info = oauth
        .introspect(refresh_of(&tokens))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        info.aud, None,
        "a refresh token for two resources has no one audience"
    );
}

/// A refresh may narrow the audience to one of the grant's resources and
/// the scopes to ones it accepts, never widen them; a retry within the
/// grace window asking for another resource is refused and revokes nothing.
pub async fn oauth_resources_refresh_narrows_never_widens(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = client(&oauth).await;
    let (c, v) = code(&oauth, &client, &["tools", "files"], &[API, FILES]).await;
    let first = oauth
        .exchange_code_for(&client, &c, WEB, &v, Some(API))
        .await
        .unwrap();
    let rt = refresh_of(&first).to_owned();
    // Widening: a resource or a scope outside the grant.
    assert_code(
        oauth.refresh_for(&client, &rt, None, Some(UNKNOWN)).await,
        "invalid_target",
        "an unknown resource",
    );
    assert_code(
        oauth.refresh_for(&client, &rt, None, None).await,
        "invalid_target",
        "a grant for two resources needs one named",
    );
    assert_code(
        oauth
            .refresh_for(&client, &rt, Some(&scopes(&["admin"])), Some(API))
            .await,
        "invalid_scope",
        "a scope outside the grant",
    );
    assert_code(
        oauth
            .refresh_for(&client, &rt, Some(&scopes(&["files"])), Some(API))
            .await,
        "invalid_scope",
        "a scope the audience does not accept",
    );
    // Refused requests rotated nothing: the token still works, for the other resource.
    let second = oauth
        .refresh_for(&client, &rt, None, Some(FILES))
        .await
        .unwrap();
    assert_eq!(second.scope, "files");
    assert_eq!(
        aud(&oauth, &second.access_token).await.as_deref(),
        Some(FILES)
    );
    // A retry of that rotation for another resource is refused, revoking nothing.
    assert_code(
        oauth.refresh_for(&client, &rt, None, Some(API)).await,
        "invalid_grant",
        "a retry for another resource",
    );
    let retry = oauth
        .refresh_for(&client, &rt, None, Some(FILES))
        .await
        .unwrap();
    assert_eq!(retry.access_token, second.access_token, "the same response");
    // The grant keeps both resources: the next refresh may go back to the api.
    let third = oauth
        .refresh_for(
            &client,
            refresh_of(&second),
            Some(&scopes(&["tools"])),
            Some(API),
        )
        .await
        .unwrap();
    assert_eq!(third.scope, "tools");
    assert_eq!(aud(&oauth, &third.access_token).await.as_deref(), Some(API));
}

/// A grant stored with the earlier single `resource` field still works.
pub async fn oauth_resources_read_earlier_grants(store: Arc<dyn Store>, clock: FakeClock) {
    let oauth = oauth(&store, &clock);
    let client = client(&oauth).await;
    let (c, v) = code(&oauth, &client, &["tools"], &[API]).await;
    let tokens = oauth.exchange_code(&client, &c, WEB, &v).await.unwrap();
    let grant_id = oauth
        .access_token(&tokens.access_token)
        .await
        .unwrap()
        .unwrap()
        .grant_id
        .unwrap();
    let key = format!("oauth-grant:{{{grant_id}}}");
    let entry = store.get(&key).await.unwrap().unwrap();
    let text = String::from_utf8(entry.value.to_vec()).unwrap();
    let list = format!("\"resources\":[\"{API}\"]");
    assert!(text.contains(&list), "{text}");
    let earlier = text.replace(&list, &format!("\"resource\":\"{API}\""));
    store
        .put(
            &key,
            earlier.as_bytes(),
            authstore::PutOptions::new().ttl(std::time::Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let next = oauth
        .refresh(&client, refresh_of(&tokens), None)
        .await
        .unwrap();
    assert_eq!(aud(&oauth, &next.access_token).await.as_deref(), Some(API));
}
