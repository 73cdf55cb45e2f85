//! OpenID Connect on `authstore serve`'s router: ID tokens (signature against `/jwks`, nonce, at_hash, auth_time) at the code exchange and at refresh, each client's ID-token algorithm (`id_token_signed_response_alg`), `/userinfo`, and `prompt` and `max_age`.

mod common;
mod openid_support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::{PASSWORD, USER, hidden, send};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request};
use http_body_util::Full;
use openid_support::*;
use serde_json::Value;

#[tokio::test]
async fn id_tokens_at_the_code_exchange_and_at_refresh() {
    let server = start("", |_| {}).await;
    let (_, tokens) = sign_in_and_exchange(
        &server,
        "",
        &[("scope", "openid profile"), ("nonce", "n-0S6_WzA2Mj")],
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let claims = verify_id_token(&server.issuer, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["sub"], "u-ada");
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["azp"], CLIENT_ID);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["at_hash"], at_hash(access));
    assert_eq!(
        claims["auth_time"], START,
        "the sign-in time of the fake clock"
    );
    assert_eq!(claims["iat"], START);
    assert!(claims["exp"].as_u64().unwrap() > START);

    server.clock.advance(Duration::from_secs(100));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let body = format!("grant_type=refresh_token&refresh_token={refresh}");
    let refreshed = post_token(&server.issuer, &body).await;
    let id_token = refreshed["id_token"].as_str().expect("a fresh ID token");
    let again = verify_id_token(&server.issuer, id_token).await;
    assert_eq!(again["sub"], "u-ada");
    assert_eq!(again["auth_time"], START, "auth_time is the sign-in's");
    assert_eq!(again["iat"], START + 100);
    assert!(again.get("nonce").is_none(), "no nonce after a refresh");
    assert_eq!(
        again["at_hash"],
        at_hash(refreshed["access_token"].as_str().unwrap())
    );

    // A retry within the grace window gets the very same response.
    let retried = post_token(&server.issuer, &body).await;
    assert_eq!(retried["id_token"], refreshed["id_token"]);
    assert_eq!(retried["access_token"], refreshed["access_token"]);
}

#[tokio::test]
async fn no_id_token_without_the_openid_scope() {
    let server = start("", |_| {}).await;
    let (_, tokens) = sign_in_and_exchange(&server, "", &[("scope", "read"), ("nonce", "n")]).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn userinfo_needs_a_live_token_with_openid() {
    let server = start("", |_| {}).await;
    let (_, tokens) = sign_in_and_exchange(&server, "", &[("scope", "openid profile")]).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    for method in [Method::GET, Method::POST] {
        let res = userinfo(&server.issuer, method, Some(&bearer)).await;
        assert_eq!(res.status(), 200, "{}", res.body());
        let claims: Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(claims["sub"], "u-ada");
        assert_eq!(claims["preferred_username"], USER);
        assert!(
            claims.get("email").is_none(),
            "no email scope, and no address: {claims}"
        );
    }

    let res = userinfo(&server.issuer, Method::GET, None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");

    let res = userinfo(&server.issuer, Method::GET, Some("Bearer not-a-real-token")).await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );

    let (_, plain) = sign_in_and_exchange(&server, "", &[("scope", "read")]).await;
    let bearer = format!("Bearer {}", plain["access_token"].as_str().unwrap());
    let res = userinfo(&server.issuer, Method::GET, Some(&bearer)).await;
    assert_eq!(res.status(), 403);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"openid\""),
        "{challenge}"
    );

    // A revoked token is refused.
    let revoke = send(
        Request::post(format!("{}/revoke", server.issuer))
            .header(
                AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"))),
            )
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(format!(
                "token={}",
                tokens["access_token"].as_str().unwrap()
            ))))
            .unwrap(),
    )
    .await;
    assert_eq!(revoke.status(), 200);
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    assert_eq!(
        userinfo(&server.issuer, Method::GET, Some(&bearer))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn userinfo_gives_the_address_with_the_email_scope() {
    let server = start("", |_| {}).await;
    server
        .state
        .credentials()
        .register_user("Lin@Example.com", "u-lin", PASSWORD)
        .await
        .unwrap();
    let mut browser = Browser::new(&server);
    let page = browser
        .get(&authorize_url("", &[("scope", "openid email")]))
        .await;
    let fields = [
        ("_csrf", hidden(page.body(), "_csrf")),
        ("return_to", hidden(page.body(), "return_to")),
        ("username", "lin@example.com".to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = browser.go(Method::POST, "/login", Some(&pairs)).await;
    let page = browser.get(&location(&res)).await;
    let redirect = browser.approve(&page, "/authorize", false).await;
    let tokens = exchange(&server.issuer, &redirect).await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let res = userinfo(&server.issuer, Method::GET, Some(&bearer)).await;
    let claims: Value = serde_json::from_str(res.body()).unwrap();
    assert_eq!(claims["sub"], "u-lin");
    assert_eq!(claims["email"], "lin@example.com");
    assert_eq!(claims["email_verified"], false);
    assert!(
        claims.get("preferred_username").is_none(),
        "no profile scope: {claims}"
    );
}

#[tokio::test]
async fn prompt_none_login_and_consent() {
    let server = start("", |_| {}).await;
    let mut browser = Browser::new(&server);
    // No session: prompt=none fails at the client with login_required.
    let res = browser.get(&openid_authorize(&[("prompt", "none")])).await;
    assert_eq!(res.status(), 303);
    let params = query(&location(&res));
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], server.issuer);

    // Signed in, nothing remembered: consent_required.
    browser.sign_in_and_remember().await;
    let res = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid profile"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(query(&location(&res))["error"], "consent_required");

    // Remembered consent: prompt=none completes silently.
    let res = browser.get(&openid_authorize(&[("prompt", "none")])).await;
    assert!(
        query(&location(&res)).contains_key("code"),
        "{}",
        location(&res)
    );

    // prompt=consent shows the consent page despite the remembered consent.
    let page = browser
        .get(&openid_authorize(&[("prompt", "consent")]))
        .await;
    assert!(is_consent(&page), "{}", page.body());

    // prompt=login shows the sign-in page despite the session, once.
    let page = browser
        .get(&openid_authorize(&[("prompt", "login"), ("nonce", "n-2")]))
        .await;
    server.clock.advance(Duration::from_secs(30));
    let (next, claims) = browser.sign_in_for_claims(&server.issuer, &page).await;
    assert!(!next.contains("prompt"), "{next}");
    assert_eq!(claims["auth_time"], START + 30, "the new sign-in");
    assert_eq!(claims["nonce"], "n-2", "carried through the sign-in");

    for bad in ["none login", "select_account", "bogus"] {
        let res = browser.get(&authorize_url("", &[("prompt", bad)])).await;
        assert_eq!(
            query(&location(&res))["error"],
            "invalid_request",
            "prompt={bad}"
        );
    }
    let res = browser
        .get(&authorize_url("", &[("max_age", "soon")]))
        .await;
    assert_eq!(query(&location(&res))["error"], "invalid_request");
}

#[tokio::test]
async fn max_age_older_than_the_sign_in_asks_again() {
    let server = start("", |_| {}).await;
    let mut browser = Browser::new(&server);
    browser.sign_in_and_remember().await;
    server.clock.advance(Duration::from_secs(120));

    let res = browser.get(&openid_authorize(&[("max_age", "600")])).await;
    assert!(query(&location(&res)).contains_key("code"), "recent enough");
    let page = browser.get(&openid_authorize(&[("max_age", "60")])).await;
    assert!(is_login(&page), "too old: {}", page.body());
    let res = browser
        .get(&openid_authorize(&[("max_age", "60"), ("prompt", "none")]))
        .await;
    assert_eq!(query(&location(&res))["error"], "login_required");
    let page = browser.get(&openid_authorize(&[("max_age", "0")])).await;
    assert!(is_login(&page), "max_age=0 always asks");
    let (_, claims) = browser.sign_in_for_claims(&server.issuer, &page).await;
    assert_eq!(claims["auth_time"], START + 120);
}

#[tokio::test]
async fn id_tokens_are_signed_with_the_alg_each_client_registered() {
    let server = start("", |s| s.registration = true).await;
    let issuer = &server.issuer;
    for alg in ["ES256", "EdDSA", "RS256"] {
        let (status, client) = register(
            issuer,
            &serde_json::json!({
                "redirect_uris": [REDIRECT],
                "scope": "openid",
                "id_token_signed_response_alg": alg,
            }),
        )
        .await;
        assert_eq!(status, 201, "{client}");
        assert_eq!(client["id_token_signed_response_alg"], alg, "echoed");
        let client_id = client["client_id"].as_str().unwrap();
        let tokens = public_client_tokens(&server, client_id).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let claims = verify_id_token_alg(issuer, id_token, alg).await;
        assert_eq!(claims["aud"], client_id);
        assert_eq!(
            claims["at_hash"],
            at_hash_alg(tokens["access_token"].as_str().unwrap(), alg),
            "{alg}"
        );
    }

    // A client that states no alg gets the OpenID Connect default, and the
    // response names none.
    let (status, plain) = register(
        issuer,
        &serde_json::json!({"redirect_uris": [REDIRECT], "scope": "openid"}),
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    assert!(
        plain.get("id_token_signed_response_alg").is_none(),
        "{plain}"
    );
    let tokens = public_client_tokens(&server, plain["client_id"].as_str().unwrap()).await;
    verify_id_token_alg(issuer, tokens["id_token"].as_str().unwrap(), "RS256").await;
}

#[tokio::test]
async fn a_client_without_an_alg_gets_the_configured_id_token_alg() {
    let server = start("", |s| {
        s.registration = true;
        s.oauth.id_token_alg = authstore::oauth::SigningAlg::EdDSA;
    })
    .await;
    let (status, plain) = register(
        &server.issuer,
        &serde_json::json!({"redirect_uris": [REDIRECT], "scope": "openid"}),
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    let tokens = public_client_tokens(&server, plain["client_id"].as_str().unwrap()).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = verify_id_token_alg(&server.issuer, id_token, "EdDSA").await;
    assert_eq!(
        claims["at_hash"],
        at_hash_alg(tokens["access_token"].as_str().unwrap(), "EdDSA")
    );
    let (_, oidc) = get_json(&format!(
        "{}/.well-known/openid-configuration",
        server.issuer
    ))
    .await;
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn registration_refuses_an_id_token_alg_the_server_cannot_sign_with() {
    let server = start("", |s| s.registration = true).await;
    for alg in [
        serde_json::json!("none"),
        serde_json::json!("HS256"),
        serde_json::json!("PS256"),
        serde_json::json!("rs256"),
        serde_json::json!(256),
    ] {
        let (status, body) = register(
            &server.issuer,
            &serde_json::json!({
                "redirect_uris": [REDIRECT],
                "id_token_signed_response_alg": alg,
            }),
        )
        .await;
        assert_eq!(status, 400, "{alg}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{alg}");
        let why = body["error_description"].as_str().unwrap();
        assert!(why.contains("id_token_signed_response_alg"), "{alg}: {why}");
    }
}
