//! What the server refuses, over HTTP: wrong redirect URIs, missing/plain/wrong PKCE, reused codes and refresh tokens, expired codes, cross-client revocation, unknown tokens, bad client auth, oversized and malformed input — each with the RFC error and status, never a 500.

mod common;

use std::time::Duration;

use authstore::FakeClock;
use authstore::oauth::{AuthorizationRequest, NewClient, RegisteredClient, pkce_challenge};
use authstore_server::AppState;
use base64::Engine as _;
use bytes::Bytes;
use common::{Browser, send};
use http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use http_body_util::Full;
use serde_json::Value;

const REDIRECT: &str = "https://app.example/callback";

struct Fixture {
    server: common::Server,
    clock: FakeClock,
    a: RegisteredClient,
    b: RegisteredClient,
    /// A trusted introspector, for checking whether a token is active.
    introspector: RegisteredClient,
}

const INTROSPECTOR: &str = "introspector";

async fn fixture(tweak: impl FnOnce(&mut authstore_server::Settings)) -> Fixture {
    let clock = FakeClock::new();
    let (listener, base) = common::bind().await;
    let mut settings = common::settings(&base);
    settings.introspection.trusted = vec![INTROSPECTOR.into()];
    tweak(&mut settings);
    let state =
        AppState::with_clock(common::clocked_store(&clock), settings, clock.clone()).unwrap();
    common::add_user(&state).await;
    common::serve(listener, &state);
    let client = |name: &str| {
        let mut c = NewClient::confidential(name, REDIRECT);
        c.scopes = vec!["read".into()];
        c
    };
    let a = state.oauth().register_client(client("A")).await.unwrap();
    let b = state.oauth().register_client(client("B")).await.unwrap();
    let secret = "introspector-secret-".repeat(2);
    let (introspector, _) = state
        .oauth()
        .put_client(INTROSPECTOR, client("introspector"), Some(&secret))
        .await
        .unwrap();
    let introspector = RegisteredClient {
        client: introspector,
        secret: Some(secret),
    };
    Fixture {
        server: common::Server { base, state },
        clock,
        a,
        b,
        introspector,
    }
}

fn basic(c: &RegisteredClient) -> String {
    let raw = format!("{}:{}", c.client.client_id, c.secret.as_deref().unwrap());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn post(
    f: &Fixture,
    path: &str,
    auth: Option<String>,
    pairs: &[(&str, &str)],
) -> (u16, Value, Response<String>) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    post_raw(f, path, auth, body).await
}

async fn post_raw(
    f: &Fixture,
    path: &str,
    auth: Option<String>,
    body: String,
) -> (u16, Value, Response<String>) {
    let mut req = Request::post(format!("{}{path}", f.server.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    let res = send(req.body(Full::new(Bytes::from(body))).unwrap()).await;
    let json = serde_json::from_str(res.body()).unwrap_or(Value::Null);
    (res.status().as_u16(), json, res)
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

async fn code(f: &Fixture, client: &RegisteredClient) -> String {
    let req = AuthorizationRequest {
        client_id: client.client.client_id.clone(),
        redirect_uri: REDIRECT.into(),
        scope: vec!["read".into()],
        code_challenge: pkce_challenge(VERIFIER),
        subject: "u-ada".into(),
        ..Default::default()
    };
    f.server.state.oauth().issue_code(&req).await.unwrap()
}

async fn exchange(
    f: &Fixture,
    client: &RegisteredClient,
    code: &str,
    verifier: &str,
) -> (u16, Value) {
    let (status, json, _) = post(
        f,
        "/token",
        Some(basic(client)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    (status, json)
}

async fn active(f: &Fixture, token: &str) -> bool {
    let (status, json, _) = post(
        f,
        "/introspect",
        Some(basic(&f.introspector)),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, 200);
    json["active"] == true
}

#[tokio::test]
async fn authorize_refuses_unknown_redirects_and_missing_pkce() {
    let f = fixture(|_| {}).await;
    let id = &f.a.client.client_id;
    let mut browser = Browser::new(&f.server.base);
    let url = |extra: &str| {
        format!(
            "{}/authorize?response_type=code&client_id={id}&state=s1{extra}",
            f.server.base
        )
    };
    // An unregistered redirect URI is shown an error page, never redirected to.
    let res = browser.get(&url("&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&code_challenge_method=S256&code_challenge=x")).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get(LOCATION).is_none());
    assert!(res.body().contains("not registered"));
    // Once the redirect URI is trusted, errors go back to the client with state and iss.
    let challenge = pkce_challenge(VERIFIER);
    for (extra, error) in [
        (String::new(), "invalid_request"),
        (
            format!("&code_challenge={challenge}&code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            format!("&code_challenge={challenge}&code_challenge_method=S256&scope=admin"),
            "invalid_scope",
        ),
    ] {
        let res = browser
            .get(&url(&format!(
                "&redirect_uri={}{extra}",
                urlencode(REDIRECT)
            )))
            .await;
        assert_eq!(res.status(), 303, "{extra}");
        let location = res.headers()[LOCATION].to_str().unwrap();
        assert!(location.starts_with(REDIRECT));
        assert!(location.contains(&format!("error={error}")), "{location}");
        assert!(
            location.contains("state=s1") && location.contains("iss="),
            "{location}"
        );
    }
    // Oversized or repeated parameters are a 400 page, not a 500.
    let res = browser
        .get(&url(&format!(
            "&redirect_uri={}&code_challenge={}",
            urlencode(REDIRECT),
            "x".repeat(5000)
        )))
        .await;
    assert_eq!(res.status(), 400);
    let res = browser.get(&url("&state=again")).await;
    assert_eq!(res.status(), 400, "a repeated parameter");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn pkce_must_match() {
    let f = fixture(|_| {}).await;
    let c = code(&f, &f.a).await;
    let (status, json, _) = post(
        f_ref(&f),
        "/token",
        Some(basic(&f.a)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_request")),
        "missing verifier"
    );
    let plain = pkce_challenge(VERIFIER);
    assert_eq!(
        exchange(&f, &f.a, &c, &plain).await.1["error"],
        "invalid_grant",
        "plain: the challenge as verifier"
    );
    let wrong = "a".repeat(43);
    assert_eq!(
        exchange(&f, &f.a, &c, &wrong).await.1["error"],
        "invalid_grant"
    );
    let (status, json) = exchange(&f, &f.a, &c, VERIFIER).await;
    assert_eq!(status, 200, "failed attempts did not burn the code: {json}");
}

fn f_ref(f: &Fixture) -> &Fixture {
    f
}

#[tokio::test]
async fn a_reused_code_revokes_its_grant_and_expired_codes_fail() {
    let f = fixture(|_| {}).await;
    let c = code(&f, &f.a).await;
    let (status, tokens) = exchange(&f, &f.a, &c, VERIFIER).await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap();
    assert!(active(&f, access).await);
    let (status, json) = exchange(&f, &f.a, &c, VERIFIER).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(!active(&f, access).await, "the reuse revoked the grant");

    let c = code(&f, &f.a).await;
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(
        exchange(&f, &f.a, &c, VERIFIER).await.1["error"],
        "invalid_grant",
        "expired"
    );

    let c = code(&f, &f.a).await;
    assert_eq!(
        exchange(&f, &f.b, &c, VERIFIER).await.1["error"],
        "invalid_grant",
        "another client's code"
    );
    let (status, json, _) = post(
        &f,
        "/token",
        Some(basic(&f.a)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "another redirect URI"
    );
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family() {
    let f = fixture(|s| s.oauth.refresh_grace = Duration::from_secs(2)).await;
    let c = code(&f, &f.a).await;
    let (_, tokens) = exchange(&f, &f.a, &c, VERIFIER).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: String| {
        let f = &f;
        async move {
            post(
                f,
                "/token",
                Some(basic(&f.a)),
                &[("grant_type", "refresh_token"), ("refresh_token", &t)],
            )
            .await
        }
    };
    let (status, second, _) = refresh(first.clone()).await;
    assert_eq!(status, 200);
    let newest = second["refresh_token"].as_str().unwrap().to_owned();
    f.clock.advance(Duration::from_secs(3));
    let (status, json, _) = refresh(first).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "reuse after the grace window"
    );
    assert!(!active(&f, &newest).await, "the whole family is revoked");
    assert!(!active(&f, second["access_token"].as_str().unwrap()).await);
}

#[tokio::test]
async fn revocation_checks_the_client_and_unknown_tokens_are_fine() {
    let f = fixture(|_| {}).await;
    let c = code(&f, &f.a).await;
    let (_, tokens) = exchange(&f, &f.a, &c, VERIFIER).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _, _) = post(&f, "/revoke", Some(basic(&f.b)), &[("token", access)]).await;
    assert_eq!(status, 200, "RFC 7009 answers 200, and revokes nothing");
    assert!(
        active(&f, access).await,
        "client B cannot revoke client A's token"
    );
    let (status, _, _) = post(
        &f,
        "/revoke",
        Some(basic(&f.a)),
        &[("token", &"z".repeat(43))],
    )
    .await;
    assert_eq!(status, 200, "an unknown token still gets 200");
    let (status, json, _) = post(&f, "/introspect", Some(basic(&f.a)), &[("token", "nope")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        json,
        serde_json::json!({ "active": false }),
        "inactive tokens say only that"
    );
    let (status, _, _) = post(
        &f,
        "/revoke",
        Some(basic(&f.a)),
        &[("token", access), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(!active(&f, access).await, "found whatever the hint says");
}

#[tokio::test]
async fn client_authentication_and_grant_types() {
    let f = fixture(|_| {}).await;
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:wrong", f.a.client.client_id))
    );
    let (status, json, res) = post(
        &f,
        "/token",
        Some(wrong),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(res.headers().get(WWW_AUTHENTICATE).is_some());
    let (status, json, _) = post(
        &f,
        "/token",
        Some(basic(&f.a)),
        &[("grant_type", "password")],
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, json, _) = post(
        &f,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
        ],
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let public = f
        .server
        .state
        .oauth()
        .register_client(NewClient::public("pub", REDIRECT))
        .await
        .unwrap();
    let (status, _, _) = post(
        &f,
        "/introspect",
        None,
        &[("token", "x"), ("client_id", &public.client.client_id)],
    )
    .await;
    assert_eq!(status, 401, "introspection needs a confidential client");
    let (status, json, res) = post(
        &f,
        "/token",
        Some(basic(&f.a)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn oversized_and_malformed_input_is_a_400() {
    let f = fixture(|s| s.registrations_per_hour = 3).await;
    let (status, json, _) = post_raw(
        &f,
        "/token",
        Some(basic(&f.a)),
        format!("grant_type=client_credentials&pad={}", "x".repeat(20_000)),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, json, _) = post_raw(
        &f,
        "/token",
        Some(basic(&f.a)),
        "grant_type=client_credentials&grant_type=refresh_token".into(),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_request")),
        "repeated parameter"
    );
    let register = |body: String| {
        let base = f.server.base.clone();
        async move {
            send(
                Request::post(format!("{base}/register"))
                    .header(CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
            .await
        }
    };
    let res = register("{not json".into()).await;
    assert_eq!(res.status(), 400);
    assert!(res.body().contains("invalid_client_metadata"));
    let res =
        register(serde_json::json!({ "redirect_uris": ["http://evil.example/cb"] }).to_string())
            .await;
    assert_eq!(res.status(), 400, "plain http off loopback");
    assert!(res.body().contains("invalid_redirect_uri"));
    let res = register("x".repeat(40_000)).await;
    assert_eq!(res.status(), 400);
    // Every attempt counts, malformed or not: the limit (3 per hour) is spent.
    let res = register(serde_json::json!({ "redirect_uris": [REDIRECT] }).to_string()).await;
    assert_eq!(
        res.status(),
        429,
        "registrations are rate-limited per IP: {}",
        res.body()
    );
    assert!(res.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn discovery_documents() {
    let f = fixture(|s| {
        s.resource = Some("https://api.example/mcp".into());
        s.serve_resource_metadata = true;
    })
    .await;
    let res = send(
        Request::get(format!(
            "{}/.well-known/oauth-authorization-server",
            f.server.base
        ))
        .body(Full::default())
        .unwrap(),
    )
    .await;
    let meta: Value = serde_json::from_str(res.body()).unwrap();
    assert_eq!(meta["issuer"], f.server.base);
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let res = send(
        Request::get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            f.server.base
        ))
        .body(Full::default())
        .unwrap(),
    )
    .await;
    let prm: Value = serde_json::from_str(res.body()).unwrap();
    assert_eq!(prm["resource"], "https://api.example/mcp");
    assert_eq!(
        prm["authorization_servers"],
        serde_json::json!([f.server.base])
    );
    let scopes = prm["scopes_supported"].as_array().unwrap();
    assert!(!scopes.is_empty());
    assert!(
        !scopes.iter().any(|s| s == "offline_access"),
        "offline_access is not a resource's scope: {prm}"
    );
}

#[tokio::test]
async fn resource_metadata_is_the_resource_servers_job_by_default() {
    let f = fixture(|s| s.resource = Some("https://api.example/mcp".into())).await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let res = send(
            Request::get(format!("{}{path}", f.server.base))
                .body(Full::default())
                .unwrap(),
        )
        .await;
        assert_eq!(res.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn sign_in_is_rate_limited() {
    let f = fixture(|s| s.logins_per_minute = 3).await;
    let mut browser = Browser::new(&f.server.base);
    let page = browser.get(&format!("{}/login", f.server.base)).await;
    let csrf = common::hidden(page.body(), "_csrf");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = browser
            .post_form(
                &format!("{}/login", f.server.base),
                &[
                    ("_csrf", &csrf),
                    ("username", "ada"),
                    ("password", "wrong"),
                    ("return_to", "/account"),
                ],
            )
            .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
}
