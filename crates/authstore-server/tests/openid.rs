//! OpenID Connect on `authstore serve`'s router: ID tokens (signature against `/jwks`, nonce, at_hash, auth_time) at the code exchange and at refresh, each client's ID-token algorithm (`id_token_signed_response_alg`), `/userinfo`, `prompt` and `max_age`, both discovery documents (also under an issuer with a path), OpenID Connect switched off, and CORS on the endpoints browsers call.

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
    let res = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(res.status(), 303);
    let params = query(&location(&res));
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], server.issuer);

    // Signed in, nothing remembered: consent_required.
    let page = browser
        .get(&authorize_url("", &[("scope", "openid")]))
        .await;
    let next = browser.sign_in(&page, "/login").await;
    let page = browser.get(&next).await;
    browser.approve(&page, "/authorize", true).await;
    let res = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid profile"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(query(&location(&res))["error"], "consent_required");

    // Remembered consent: prompt=none completes silently.
    let res = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("prompt", "none")],
        ))
        .await;
    assert!(
        query(&location(&res)).contains_key("code"),
        "{}",
        location(&res)
    );

    // prompt=consent shows the consent page despite the remembered consent.
    let page = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("prompt", "consent")],
        ))
        .await;
    assert!(is_consent(&page), "{}", page.body());

    // prompt=login shows the sign-in page despite the session, once.
    let page = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("prompt", "login"), ("nonce", "n-2")],
        ))
        .await;
    server.clock.advance(Duration::from_secs(30));
    let next = browser.sign_in(&page, "/login").await;
    assert!(!next.contains("prompt"), "{next}");
    let res = browser.get(&next).await;
    let tokens = exchange(&server.issuer, &location(&res)).await;
    let claims = verify_id_token(&server.issuer, tokens["id_token"].as_str().unwrap()).await;
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
    let page = browser
        .get(&authorize_url("", &[("scope", "openid")]))
        .await;
    let next = browser.sign_in(&page, "/login").await;
    let page = browser.get(&next).await;
    browser.approve(&page, "/authorize", true).await;
    server.clock.advance(Duration::from_secs(120));

    let res = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("max_age", "600")],
        ))
        .await;
    assert!(query(&location(&res)).contains_key("code"), "recent enough");
    let page = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("max_age", "60")],
        ))
        .await;
    assert!(is_login(&page), "too old: {}", page.body());
    let res = browser
        .get(&authorize_url(
            "",
            &[("scope", "openid"), ("max_age", "60"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(query(&location(&res))["error"], "login_required");
    let page = browser
        .get(&authorize_url("", &[("scope", "openid"), ("max_age", "0")]))
        .await;
    assert!(is_login(&page), "max_age=0 always asks");
    let next = browser.sign_in(&page, "/login").await;
    let res = browser.get(&next).await;
    let tokens = exchange(&server.issuer, &location(&res)).await;
    let claims = verify_id_token(&server.issuer, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["auth_time"], START + 120);
}

#[tokio::test]
async fn discovery_documents() {
    let server = start("", |_| {}).await;
    let issuer = &server.issuer;
    let (status, oidc) = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert_eq!(oidc["issuer"], issuer.as_str());
    assert_eq!(oidc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(oidc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"]),
        "every alg a client may register, the default first"
    );
    assert!(
        oidc.get("userinfo_signing_alg_values_supported").is_none(),
        "/userinfo answers plain JSON only"
    );
    for claim in ["sub", "auth_time", "nonce", "preferred_username", "email"] {
        assert!(
            oidc["claims_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == claim),
            "{claim}"
        );
    }
    assert!(
        oidc["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "openid")
    );
    let (status, oauth) =
        get_json(&format!("{issuer}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 200);
    assert_eq!(oauth["token_endpoint"], oidc["token_endpoint"]);
    assert_eq!(oauth["userinfo_endpoint"], oidc["userinfo_endpoint"]);
}

#[tokio::test]
async fn an_issuer_with_a_path_serves_everything_under_it() {
    let server = start("/tenant", |_| {}).await;
    let (origin, issuer) = (&server.origin, &server.issuer);
    for url in [
        format!("{origin}/.well-known/oauth-authorization-server/tenant"),
        format!("{origin}/.well-known/openid-configuration/tenant"),
        format!("{issuer}/.well-known/openid-configuration"),
    ] {
        let (status, doc) = get_json(&url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(doc["issuer"], issuer.as_str(), "{url}");
        assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    }
    let (status, _) = get_json(&format!("{origin}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 404, "not at the root");
    assert_eq!(get_json(&format!("{origin}/jwks")).await.0, 404);

    let (_, tokens) = sign_in_and_exchange(
        &server,
        "/tenant",
        &[("scope", "openid profile"), ("nonce", "n-t")],
    )
    .await;
    let claims = verify_id_token(issuer, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["nonce"], "n-t");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let res = userinfo(issuer, Method::GET, Some(&bearer)).await;
    assert_eq!(res.status(), 200);

    // The account page and sign-out stay under the path too.
    let mut browser = Browser::new(&server);
    let res = browser.get("/tenant/account").await;
    assert_eq!(location(&res), "/tenant/login");
    let page = browser.get("/tenant/login").await;
    assert_eq!(hidden(page.body(), "return_to"), "/tenant/account");
    // A browser resolves the form's action against the page's URL.
    let action = form_action(page.body());
    let page_url = url::Url::parse(&format!("{issuer}/login")).unwrap();
    assert_eq!(page_url.join(&action).unwrap().path(), "/tenant/login");
    assert_eq!(
        browser.sign_in(&page, "/tenant/login").await,
        "/tenant/account"
    );
    let page = browser.get("/tenant/account").await;
    let logout = page.body().split("action=\"").last().unwrap();
    let logout = &logout[..logout.find('"').unwrap()];
    let page_url = url::Url::parse(&format!("{issuer}/account")).unwrap();
    assert_eq!(page_url.join(logout).unwrap().path(), "/tenant/logout");
}

#[tokio::test]
async fn openid_switched_off() {
    let server = start("", |s| s.openid = false).await;
    let issuer = &server.issuer;
    let (_, oauth) = get_json(&format!("{issuer}/.well-known/oauth-authorization-server")).await;
    assert!(
        !oauth["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "openid"),
        "{oauth}"
    );
    assert!(oauth.get("userinfo_endpoint").is_none(), "{oauth}");
    assert_eq!(
        get_json(&format!("{issuer}/.well-known/openid-configuration"))
            .await
            .0,
        404
    );
    let (_, tokens) = sign_in_and_exchange(&server, "", &[("scope", "openid read")]).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    assert_eq!(
        userinfo(issuer, Method::GET, Some(&bearer)).await.status(),
        404
    );
}

#[tokio::test]
async fn cors_on_the_endpoints_browsers_call_only() {
    let server = start("", |_| {}).await;
    let issuer = &server.issuer;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/token",
        "/register",
        "/revoke",
        "/jwks",
        "/userinfo",
    ] {
        let url = format!("{issuer}{path}");
        let res = with_origin(Method::OPTIONS, &url, true).await;
        assert!(
            res.status().is_success(),
            "preflight {path}: {}",
            res.status()
        );
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert!(
            h.get("access-control-allow-credentials").is_none(),
            "{path}"
        );
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{path}: {methods}"
        );
        let headers = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            headers.contains("authorization") && headers.contains("content-type"),
            "{path}: {headers}"
        );

        let method = if matches!(path, "/token" | "/register" | "/revoke") {
            Method::POST
        } else {
            Method::GET
        };
        let res = with_origin(method, &url, false).await;
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert!(
            h.get("access-control-allow-credentials").is_none(),
            "{path}"
        );
        let exposed = h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(exposed.contains("www-authenticate"), "{path}: {exposed}");
    }
    for path in ["/authorize", "/login", "/account", "/introspect"] {
        let url = format!("{issuer}{path}");
        for (method, preflight) in [(Method::GET, false), (Method::OPTIONS, true)] {
            let res = with_origin(method, &url, preflight).await;
            assert!(
                res.headers().get("access-control-allow-origin").is_none(),
                "{path}"
            );
        }
    }
}

#[test]
fn config_file_openid_section_and_issuer_path() {
    use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
    let no_env = |_: &str| None::<String>;
    let resolve = |text: &str| {
        let file = ConfigFile::parse(text, "test.toml").expect("valid TOML");
        ServeConfig::resolve(&Overrides::default(), Some(&file), &no_env)
    };
    let on = resolve("issuer = \"https://as.example/tenant/v1\"").unwrap();
    assert!(on.settings.openid, "on by default");
    assert_eq!(on.settings.issuer_path(), "/tenant/v1");
    let off = resolve("[openid]\nenabled = false").unwrap();
    assert!(!off.settings.openid);
    for issuer in [
        "https://as.example/{tenant}",
        "https://as.example/a//b",
        "https://as.example/a/../b",
        "https://as.example/*all",
    ] {
        let err = resolve(&format!("issuer = {issuer:?}")).unwrap_err();
        assert!(err.to_string().contains("path"), "{issuer}: {err}");
    }
    assert!(ConfigFile::parse("[openid]\nenable = true", "test.toml").is_err());
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
