//! The server driven by an independent OAuth client, the `oauth2` crate: code + PKCE, refresh, revocation, introspection, client credentials and dynamic registration, with the sign-in and consent forms posted as a browser posts them.

mod common;

use std::sync::Arc;

use authstore::MemoryStore;
use authstore::oauth::NewClient;
use common::{Browser, oauth_http, send, start};
use http::Request;
use http_body_util::Full;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RevocationUrl, Scope, StandardRevocableToken,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};

fn memory() -> Arc<dyn authstore::Store> {
    Arc::new(MemoryStore::builder().build().unwrap())
}

const REDIRECT: &str = "http://127.0.0.1:9876/callback";

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn code_pkce_refresh_introspect_revoke_with_the_oauth2_crate() {
    // The client introspects its own tokens: a trusted introspector.
    let server = start(memory(), |s| {
        s.introspection.trusted = vec!["oauth2-crate".into()];
    })
    .await;
    let mut new = NewClient::confidential("oauth2 crate", REDIRECT);
    new.scopes = vec!["read".into(), "write".into()];
    let secret = "oauth2-crate-secret-".repeat(2);
    let (client, _) = server
        .state
        .oauth()
        .put_client("oauth2-crate", new, Some(&secret))
        .await
        .unwrap();
    let registered = authstore::oauth::RegisteredClient {
        client,
        secret: Some(secret),
    };
    let base = &server.base;
    let client = BasicClient::new(ClientId::new(registered.client.client_id.clone()))
        .set_client_secret(ClientSecret::new(registered.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(format!("{base}/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap())
        .set_revocation_url(
            RevocationUrl::new(format!("{}/revoke", base.replace("http://", "https://"))).unwrap(),
        )
        .set_introspection_url(IntrospectionUrl::new(format!("{base}/introspect")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = Browser::new(base);
    let location = browser.authorize(auth_url.as_str()).await;
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(base.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&location, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http)
        .await
        .expect("code exchange");
    assert_eq!(tokens.scopes().unwrap()[0].as_str(), "read");
    let refresh = tokens.refresh_token().expect("a refresh token").clone();

    let info = client
        .introspect(tokens.access_token())
        .request_async(&oauth_http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(
        info.client_id().unwrap().as_str(),
        registered.client.client_id
    );
    assert_eq!(info.sub(), Some("u-ada"));

    // Refresh rotates: the new pair works, the old refresh token is dead.
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .request_async(&oauth_http)
        .await
        .expect("refresh");
    let new_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(new_refresh.secret(), refresh.secret());
    let old = client
        .introspect(&oauth2::AccessToken::new(refresh.secret().clone()))
        .request_async(&oauth_http)
        .await
        .unwrap();
    assert!(!old.active(), "the rotated refresh token is inactive");

    // The code cannot be redeemed twice; the reuse revokes the grant.
    let (_, verifier2) = PkceCodeChallenge::new_random_sha256();
    let again = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier2)
        .request_async(&oauth_http)
        .await;
    assert!(again.is_err());

    // Revoking the refresh token (RFC 7009) kills the grant's access tokens too.
    let fresh_code = {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .url();
        let location = browser.authorize(url.as_str()).await;
        (query_param(&location, "code").unwrap(), verifier)
    };
    let tokens = client
        .exchange_code(AuthorizationCode::new(fresh_code.0))
        .set_pkce_verifier(fresh_code.1)
        .request_async(&oauth_http)
        .await
        .unwrap();
    let rt = tokens.refresh_token().unwrap().clone();
    client
        .revoke_token(StandardRevocableToken::RefreshToken(rt.clone()))
        .unwrap()
        .request_async(&oauth_http)
        .await
        .expect("revocation");
    let info = client
        .introspect(tokens.access_token())
        .request_async(&oauth_http)
        .await
        .unwrap();
    assert!(
        !info.active(),
        "revoking the refresh token revoked its access token"
    );
    assert!(
        client
            .exchange_refresh_token(&RefreshToken::new(rt.secret().clone()))
            .request_async(&oauth_http)
            .await
            .is_err()
    );
    // An unknown token still gets 200.
    client
        .revoke_token(StandardRevocableToken::AccessToken(
            oauth2::AccessToken::new("x".repeat(43)),
        ))
        .unwrap()
        .request_async(&oauth_http)
        .await
        .expect("unknown tokens are 200");
}

#[tokio::test]
async fn client_credentials_and_dynamic_registration() {
    // A confidential client is registered with an initial access token (RFC 7591 §3).
    const INITIAL_ACCESS_TOKEN: &str = "initial-access-token-for-the-oauth2-crate";
    let server = start(memory(), |s| {
        s.registration_tokens
            .add_token(INITIAL_ACCESS_TOKEN)
            .unwrap();
        s.introspection.trusted = vec!["introspector".into()];
    })
    .await;
    // Only a client the operator names may introspect.
    let introspector_secret = "introspector-secret-".repeat(2);
    server
        .state
        .oauth()
        .put_client(
            "introspector",
            NewClient::confidential("introspector", REDIRECT),
            Some(&introspector_secret),
        )
        .await
        .unwrap();
    let base = &server.base;
    let body = serde_json::json!({
        "client_name": "registered at run time",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "read",
    });
    let res = send(
        Request::post(format!("{base}/register"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {INITIAL_ACCESS_TOKEN}"))
            .body(Full::new(body.to_string().into()))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.body());
    let reg: serde_json::Value = serde_json::from_str(res.body()).unwrap();
    assert!(
        reg["client_secret_expires_at"].as_u64().unwrap() > 0,
        "the secret expires"
    );
    let client = BasicClient::new(ClientId::new(reg["client_id"].as_str().unwrap().into()))
        .set_client_secret(ClientSecret::new(
            reg["client_secret"].as_str().unwrap().into(),
        ))
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{base}/introspect")).unwrap());
    let tokens = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read".into()))
        .request_async(&oauth_http)
        .await
        .expect("client credentials");
    let introspector = BasicClient::new(ClientId::new("introspector".into()))
        .set_client_secret(ClientSecret::new(introspector_secret))
        .set_introspection_url(IntrospectionUrl::new(format!("{base}/introspect")).unwrap());
    let info = introspector
        .introspect(tokens.access_token())
        .request_async(&oauth_http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), None, "a client's own token has no user");
    let wider = client
        .exchange_client_credentials()
        .add_scope(Scope::new("admin".into()))
        .request_async(&oauth_http)
        .await;
    assert!(wider.is_err(), "scopes beyond the registration are refused");
}
