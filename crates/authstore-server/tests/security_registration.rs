//! The registration policy over HTTP: open `/register` creates only public clients with scopes from the registration set, an initial access token unlocks confidential ones, every attempt is audited, registered clients expire unless used; loopback redirect URIs need an IP and a numeric port; a refresh replayed within the grace window returns the same tokens.

mod common;

use std::time::{Duration, SystemTime};

use authstore::PutOptions;
use authstore::audit::Outcome;
use authstore::oauth::{AuthorizationRequest, ClientOrigin, pkce_challenge};
use authstore_server::Settings;
use base64::Engine as _;
use bytes::Bytes;
use common::{Browser, send};
use http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{Request, Response};
use http_body_util::Full;
use serde_json::{Value, json};

/// The initial access token of the tests that configure one.
const TOKEN: &str = "initial-access-token-0123456789abcdefghij";
const LOOPBACK: &str = "http://127.0.0.1/callback";
const LOOPBACK_PORT: &str = "http://127.0.0.1:5555/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const DAY: Duration = Duration::from_secs(24 * 3600);

use common::Clocked as Fixture;

/// The server on a memory store driven by a fake clock.
async fn serve(tweak: impl FnOnce(&mut Settings)) -> Fixture {
    common::start_clocked(tweak).await
}

fn with_token(s: &mut Settings) {
    s.registration_tokens.add_token(TOKEN).unwrap();
}

/// `POST /register` with `body`, and `Authorization: <auth>` if given.
async fn register(f: &Fixture, body: Value, auth: Option<&str>) -> (u16, Value, Response<String>) {
    let mut req =
        Request::post(format!("{}/register", f.base)).header(CONTENT_TYPE, "application/json");
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth);
    }
    let res = send(req.body(Full::new(Bytes::from(body.to_string()))).unwrap()).await;
    let json = serde_json::from_str(res.body()).unwrap_or(Value::Null);
    (res.status().as_u16(), json, res)
}

/// `POST /token` with a form.
async fn token(f: &Fixture, pairs: &[(&str, &str)], auth: Option<String>) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut req = Request::post(format!("{}/token", f.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth);
    }
    let res = send(req.body(Full::new(Bytes::from(body))).unwrap()).await;
    (
        res.status().as_u16(),
        serde_json::from_str(res.body()).unwrap_or(Value::Null),
    )
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Every stored client record.
async fn stored_clients(f: &Fixture) -> usize {
    f.state
        .store()
        .scan("oauth-client:", None, 1000)
        .await
        .unwrap()
        .entries
        .len()
}

/// The registration events in the store, oldest first.
async fn register_events(f: &Fixture) -> Vec<authstore::audit::AuditEvent> {
    let to = SystemTime::now() + 1000 * DAY;
    f.state
        .audit_log()
        .events()
        .in_time_range(SystemTime::UNIX_EPOCH, to)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "oauth.register")
        .collect()
}

/// A code for `client_id` through the library (the pages are tested elsewhere).
async fn code(f: &Fixture, client_id: &str, scope: &[&str]) -> String {
    f.state
        .oauth()
        .issue_code(&AuthorizationRequest {
            client_id: client_id.into(),
            redirect_uri: LOOPBACK_PORT.into(),
            scope: scope.iter().map(|s| (*s).to_owned()).collect(),
            code_challenge: pkce_challenge(VERIFIER),
            subject: "u-ada".into(),
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Tokens of a public client: a code redeemed at `/token`.
async fn public_tokens(f: &Fixture, client_id: &str, scope: &[&str]) -> Value {
    let code = code(f, client_id, scope).await;
    let (status, json) = token(
        f,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", LOOPBACK_PORT),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "code exchange: {json}");
    json
}

async fn refresh(f: &Fixture, client_id: &str, refresh_token: &str) -> (u16, Value) {
    token(
        f,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
        None,
    )
    .await
}

/// Registers a public loopback client openly (naming the auth method, which
/// is also the default); returns its id.
async fn public_client(f: &Fixture, scope: &str) -> String {
    let (status, json, _) = register(
        f,
        json!({
            "client_name": "native app",
            "redirect_uris": [LOOPBACK],
            "scope": scope,
            "token_endpoint_auth_method": "none",
        }),
        None,
    )
    .await;
    assert_eq!(status, 201, "{json}");
    json["client_id"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_refused(status: u16, json: &Value, needle: &str) {
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{json}"
    );
    let description = json["error_description"].as_str().unwrap();
    assert!(
        description.contains(needle),
        "{description:?} names {needle:?}"
    );
}

/// The reproduction of the review: a machine client with made-up scopes,
/// registered by anyone, used to get `"scope":"admin superuser"` from
/// client credentials. Now refused, and nothing is written.
#[tokio::test]
async fn open_registration_of_a_machine_client_with_any_scope_is_refused() {
    let f = serve(|_| {}).await;
    let (status, json, _) = register(
        &f,
        json!({
            "grant_types": ["client_credentials"],
            "scope": "admin superuser",
            "redirect_uris": ["https://evil.example/cb"],
        }),
        None,
    )
    .await;
    assert_refused(status, &json, "client_credentials");
    assert!(json.get("client_secret").is_none());
    for (body, needle) in [
        (
            json!({ "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "client_secret_basic" }),
            "client_secret_basic",
        ),
        (
            json!({ "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "client_secret_post" }),
            "client_secret_post",
        ),
        (
            json!({ "redirect_uris": [LOOPBACK], "grant_types": ["authorization_code", "client_credentials"], "token_endpoint_auth_method": "client_secret_basic" }),
            "client_secret_basic",
        ),
        (
            json!({ "redirect_uris": [LOOPBACK], "grant_types": ["implicit"] }),
            "implicit",
        ),
        (
            json!({ "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "private_key_jwt" }),
            "private_key_jwt",
        ),
    ] {
        let (status, json, _) = register(&f, body, None).await;
        assert_refused(status, &json, needle);
        assert!(
            json["error_description"].as_str().unwrap().len() > needle.len() + 10,
            "a precise description: {json}"
        );
    }
    assert_eq!(stored_clients(&f).await, 0, "nothing was written");
    let (status, json) = token(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "admin superuser"),
        ],
        Some(basic("anything", &"s".repeat(43))),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

/// Open registration without an auth method makes a public client for
/// the code flow with refresh, with the registration scope set when no
/// scope is asked, and it works through sign-in, consent and `/token`.
#[tokio::test]
async fn open_registration_creates_a_public_client_that_works_end_to_end() {
    let f = serve(|s| s.registration_scopes = Some(vec!["read".into()])).await;
    let (status, reg, res) = register(
        &f,
        json!({ "client_name": "native app", "redirect_uris": [LOOPBACK] }),
        None,
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert_eq!(
        reg["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(reg["scope"], "read", "absent scope: the registration set");
    assert!(reg.get("client_secret").is_none(), "a public client: {reg}");
    let client_id = reg["client_id"].as_str().unwrap();
    let stored = f.state.oauth().client(client_id).await.unwrap().unwrap();
    assert_eq!(stored.origin, ClientOrigin::Registered);
    assert!(!stored.is_confidential());

    let challenge = pkce_challenge(VERIFIER);
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=read&state=s1&code_challenge={challenge}&code_challenge_method=S256",
        f.base,
        form_urlencoded::byte_serialize(LOOPBACK_PORT.as_bytes()).collect::<String>()
    );
    let location = Browser::new(&f.base).authorize(&url).await;
    assert!(location.starts_with(LOOPBACK_PORT), "{location}");
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let (status, tokens) = token(
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", LOOPBACK_PORT),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "read");
    let (status, refreshed) =
        refresh(&f, client_id, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    // A public client cannot use client credentials.
    let (status, json) = token(
        &f,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ],
        None,
    )
    .await;
    assert!(status == 400 || status == 401, "{status} {json}");
    assert!(json.get("access_token").is_none());
}

#[tokio::test]
async fn scopes_outside_the_registration_set_are_refused() {
    let f = serve(|s| s.registration_scopes = Some(vec!["read".into()])).await;
    for scope in ["read write", "admin", "read superuser"] {
        let (status, json, _) = register(
            &f,
            json!({ "redirect_uris": [LOOPBACK], "scope": scope }),
            None,
        )
        .await;
        assert_refused(status, &json, "not available to registered clients");
    }
    // The token unlocks confidential clients, not scopes.
    let f = serve(|s| {
        with_token(s);
        s.registration_scopes = Some(vec!["read".into()]);
    })
    .await;
    let (status, json, _) = register(
        &f,
        json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic", "scope": "write" }),
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_refused(status, &json, "\"write\"");
    assert_eq!(stored_clients(&f).await, 0);
    // The default set is the server's scopes_supported.
    let f = serve(|_| {}).await;
    assert_eq!(public_client(&f, "read write").await.len(), 43);
    let (status, json, _) = register(
        &f,
        json!({ "redirect_uris": [LOOPBACK], "scope": "openid" }),
        None,
    )
    .await;
    assert_refused(status, &json, "openid");
}

/// A client registered with `scope=read` under the registration set
/// {read, write} cannot step up to `write` with the same client_id: not at
/// `/authorize` (the user is shown `invalid_scope`, and the client, chosen
/// by whoever registered it, is not redirected to), nor at refresh.
/// Another registration asking for `write` gets it.
#[tokio::test]
async fn a_registered_client_cannot_ask_beyond_its_registered_scope() {
    let f = serve(|s| s.registration_scopes = Some(vec!["read".into(), "write".into()])).await;
    let reader = public_client(&f, "read").await;
    let writer = public_client(&f, "read write").await;
    let authorize = |client_id: &str, scope: &str| {
        let url = format!(
            "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s1&code_challenge={}&code_challenge_method=S256",
            f.base,
            form_urlencoded::byte_serialize(LOOPBACK_PORT.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
            pkce_challenge(VERIFIER)
        );
        send(Request::get(url).body(Full::default()).unwrap())
    };
    for scope in ["write", "read write"] {
        let res = authorize(&reader, scope).await;
        assert_eq!(res.status(), 400, "{scope}: {}", res.body());
        assert!(
            res.headers().get(LOCATION).is_none(),
            "{scope}: no redirect"
        );
        assert!(
            res.body().contains(
                "cannot be completed: scope write is not allowed for this client (invalid_scope)."
            ),
            "{scope}: {}",
            res.body()
        );
    }
    // Its own scope signs in; the client registered with `write` may ask for it.
    for (client_id, scope) in [
        (&reader, "read"),
        (&writer, "write"),
        (&writer, "read write"),
    ] {
        let res = authorize(client_id, scope).await;
        assert_eq!(res.status(), 200, "{scope}: {}", res.body());
        assert!(res.body().contains("id=\"login\""), "{}", res.body());
    }
    // Nor at refresh.
    let tokens = public_tokens(&f, &reader, &["read"]).await;
    let (status, json) = token(
        &f,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &reader),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", "read write"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_scope")),
        "{json}"
    );
    assert!(json.get("access_token").is_none());
}

/// Without a configured token, confidential registration is refused with a
/// pointer to operator provisioning, and any bearer is a wrong token.
#[tokio::test]
async fn confidential_registration_without_a_configured_token_is_refused() {
    let f = serve(|_| {}).await;
    let (status, json, _) = register(
        &f,
        json!({ "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic" }),
        None,
    )
    .await;
    assert_refused(status, &json, "operator");
    let (status, json, res) = register(
        &f,
        json!({ "redirect_uris": [LOOPBACK] }),
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_token")),
        "{json}"
    );
    assert!(
        res.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(stored_clients(&f).await, 0);
}

/// With an initial access token configured, its bearer registers a
/// confidential client for client credentials, which then gets tokens for
/// its registered scopes; a wrong or malformed token is 401.
#[tokio::test]
async fn the_initial_access_token_unlocks_confidential_registration() {
    let f = serve(with_token).await;
    let body = json!({
        "client_name": "backend job",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "read",
    });
    let (status, json, _) = register(&f, body.clone(), None).await;
    assert_refused(status, &json, "initial access token");
    for auth in [
        format!("Bearer {TOKEN}x"),
        "Bearer ".to_owned(),
        format!("Basic {TOKEN}"),
        TOKEN.to_owned(),
    ] {
        let (status, json, res) = register(&f, body.clone(), Some(&auth)).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (401, Some("invalid_token")),
            "{auth:?}: {json}"
        );
        assert_eq!(
            res.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"authstore\", error=\"invalid_token\""
        );
    }
    assert_eq!(stored_clients(&f).await, 0);
    let (status, reg, _) = register(&f, body, Some(&format!("bearer {TOKEN}"))).await;
    assert_eq!(status, 201, "{reg}");
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(reg["grant_types"], json!(["client_credentials"]));
    assert!(reg["client_secret_expires_at"].as_u64().unwrap() > 0);
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    let stored = f.state.oauth().client(id).await.unwrap().unwrap();
    assert_eq!(
        stored.origin,
        ClientOrigin::Registered,
        "registered either way"
    );
    let (status, json) = token(
        &f,
        &[("grant_type", "client_credentials"), ("scope", "read")],
        Some(basic(id, secret)),
    )
    .await;
    assert_eq!(
        (status, json["scope"].as_str()),
        (200, Some("read")),
        "{json}"
    );
    let (status, json) = token(
        &f,
        &[("grant_type", "client_credentials"), ("scope", "write")],
        Some(basic(id, secret)),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // The token may still register a public client.
    let (status, reg, _) = register(
        &f,
        json!({ "redirect_uris": [LOOPBACK] }),
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(
        (status, reg["token_endpoint_auth_method"].as_str()),
        (201, Some("none"))
    );
}

#[tokio::test]
async fn require_initial_access_token_closes_open_registration() {
    let f = serve(|s| {
        with_token(s);
        s.registration_requires_token = true;
    })
    .await;
    let (status, json, res) = register(&f, json!({ "redirect_uris": [LOOPBACK] }), None).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_token")),
        "{json}"
    );
    assert_eq!(
        res.headers()[WWW_AUTHENTICATE],
        "Bearer realm=\"authstore\""
    );
    assert_eq!(stored_clients(&f).await, 0);
    let (status, _, _) = register(
        &f,
        json!({ "redirect_uris": [LOOPBACK] }),
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(status, 201);
}

/// Every registration past the rate limit is a security event in the
/// store: accepted ones with the client id, refusals with the reason,
/// both with the client's IP.
#[tokio::test]
async fn registrations_are_audited() {
    let f = serve(with_token).await;
    // A millisecond apart, so the events' order is the requests'.
    let client_id = public_client(&f, "read").await;
    f.clock.advance(Duration::from_millis(1));
    register(
        &f,
        json!({ "grant_types": ["client_credentials"], "scope": "admin superuser" }),
        None,
    )
    .await;
    f.clock.advance(Duration::from_millis(1));
    register(
        &f,
        json!({ "redirect_uris": [LOOPBACK] }),
        Some("Bearer wrong"),
    )
    .await;
    let events = register_events(&f).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].outcome, Outcome::Success);
    assert_eq!(events[0].resource.as_deref(), Some(client_id.as_str()));
    assert_eq!(events[0].metadata["initial_access_token"], json!(false));
    for e in &events {
        assert_eq!(e.ip.as_deref(), Some("127.0.0.1"), "{e:?}");
    }
    assert_eq!(events[1].outcome, Outcome::Denied);
    assert!(
        events[1].metadata["reason"]
            .as_str()
            .unwrap()
            .contains("client_credentials"),
        "{:?}",
        events[1]
    );
    assert_eq!(events[2].outcome, Outcome::Denied);
    assert!(
        events[2].metadata["reason"]
            .as_str()
            .unwrap()
            .contains("initial access token"),
        "{:?}",
        events[2]
    );
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(TOKEN), "no token in the log");
}

/// The per-IP registration limit counts the client IP through trusted proxies.
#[tokio::test]
async fn the_registration_limit_is_per_client_ip_behind_a_trusted_proxy() {
    let f = serve(|s| {
        s.registrations_per_hour = 1;
        s.trusted_proxies = authstore_axum::TrustedProxies::parse(["127.0.0.1"]).unwrap();
    })
    .await;
    let from = |ip: &str| {
        let base = f.base.clone();
        let ip = ip.to_owned();
        async move {
            send(
                Request::post(format!("{base}/register"))
                    .header(CONTENT_TYPE, "application/json")
                    .header("x-forwarded-for", ip)
                    .body(Full::new(Bytes::from(
                        json!({ "redirect_uris": [LOOPBACK] }).to_string(),
                    )))
                    .unwrap(),
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(from("198.51.100.1").await, 201);
    assert_eq!(from("198.51.100.1").await, 429);
    assert_eq!(
        from("198.51.100.2").await,
        201,
        "another client behind the proxy"
    );
}

/// Registered clients expire `client_ttl` after registration unless used;
/// a refresh moves the expiry; `None` ("never") keeps them.
#[tokio::test]
async fn registered_clients_expire_unless_used() {
    let f = serve(|s| s.oauth.refresh_token_ttl = 400 * DAY).await;
    let unused = public_client(&f, "read").await;
    let used = public_client(&f, "read").await;
    let tokens = public_tokens(&f, &used, &["read"]).await;
    f.clock.advance(70 * DAY);
    let (status, tokens) = refresh(&f, &used, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    f.clock.advance(21 * DAY);
    let authorize = |client_id: String| {
        let base = f.base.clone();
        async move {
            let url = format!(
                "{base}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
                form_urlencoded::byte_serialize(LOOPBACK_PORT.as_bytes()).collect::<String>(),
                pkce_challenge(VERIFIER)
            );
            send(Request::get(url).body(Full::default()).unwrap()).await
        }
    };
    let res = authorize(unused.clone()).await;
    assert_eq!(res.status(), 400, "91 days unused: {}", res.body());
    assert!(res.body().contains("Unknown client"), "{}", res.body());
    assert!(f.state.oauth().client(&unused).await.unwrap().is_none());
    let (status, json) = refresh(&f, &used, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "used 21 days ago: {json}");
    f.clock.advance(91 * DAY);
    let (status, json) = refresh(&f, &used, json["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_client")),
        "{json}"
    );

    let f = serve(|s| s.registered_client_ttl = None).await;
    let kept = public_client(&f, "read").await;
    f.clock.advance(400 * DAY);
    assert!(f.state.oauth().client(&kept).await.unwrap().is_some());
}

/// `GET /authorize` for a public client and `redirect_uri`.
async fn authorize_page(f: &Fixture, client_id: &str, redirect_uri: &str) -> Response<String> {
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=x",
        f.base,
        form_urlencoded::byte_serialize(redirect_uri.as_bytes()).collect::<String>(),
        pkce_challenge(VERIFIER)
    );
    send(Request::get(url).body(Full::default()).unwrap()).await
}

#[track_caller]
fn assert_error_page(res: &Response<String>, what: &str) {
    assert_eq!(res.status(), 400, "{what}: {}", res.body());
    assert!(res.headers().get(LOCATION).is_none(), "{what}: no redirect");
    assert!(
        res.body().contains("not registered"),
        "{what}: {}",
        res.body()
    );
}

/// A loopback port is 1 to 5 ASCII digits: `http://127.0.0.1:+80/…` is not
/// a port variant of `http://127.0.0.1/…`, so `/authorize` shows the error
/// page and redirects nowhere; nor can it be registered.
#[tokio::test]
async fn a_loopback_port_is_digits_only() {
    let f = serve(|_| {}).await;
    let client_id = public_client(&f, "read").await;
    for bad in [
        "http://127.0.0.1:+80/callback",
        "http://127.0.0.1:+5555/callback",
        "http://127.0.0.1:080800/callback",
    ] {
        assert_error_page(&authorize_page(&f, &client_id, bad).await, bad);
    }
    let res = authorize_page(&f, &client_id, "http://127.0.0.1:80/callback").await;
    assert_eq!(res.status(), 200, "a numeric port varies: {}", res.body());
    let (status, json, _) = register(
        &f,
        json!({ "redirect_uris": ["http://127.0.0.1:+80/callback"] }),
        None,
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_redirect_uri")),
        "{json}"
    );
}

/// `localhost` is not loopback (RFC 8252 §8.3): it cannot be registered,
/// and a client stored earlier with a `localhost` redirect URI gets no port
/// leeway: only the exact URI matches.
#[tokio::test]
async fn localhost_is_not_a_loopback_address() {
    let f = serve(|_| {}).await;
    for uri in [
        "http://localhost/callback",
        "http://localhost:8080/callback",
    ] {
        let (status, json, _) = register(
            &f,
            json!({ "redirect_uris": [uri], "token_endpoint_auth_method": "none" }),
            None,
        )
        .await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some("invalid_redirect_uri")),
            "{uri}: {json}"
        );
    }
    assert_eq!(stored_clients(&f).await, 0);
    let legacy = json!({
        "client_id": "legacy-app",
        "name": "legacy app",
        "redirect_uris": ["http://localhost/cb"],
        "scopes": ["read"],
        "grant_types": ["authorization_code"],
        "auth_method": "none",
        "created_at": 1,
        "origin": "operator",
    });
    f.state
        .store()
        .put(
            "oauth-client:legacy-app",
            legacy.to_string().as_bytes(),
            PutOptions::new(),
        )
        .await
        .unwrap();
    let other_port = "http://localhost:3000/cb";
    assert_error_page(
        &authorize_page(&f, "legacy-app", other_port).await,
        other_port,
    );
    let res = authorize_page(&f, "legacy-app", "http://localhost/cb").await;
    assert_eq!(res.status(), 200, "the exact URI: {}", res.body());
}

/// A refresh token replayed within the grace window gets the same
/// response; the chain has one live refresh token and continues from it;
/// after the window the replay is reuse and revokes the grant.
#[tokio::test]
async fn a_refresh_replayed_within_the_grace_window_returns_the_same_tokens() {
    let f = serve(|s| s.oauth.refresh_grace = Duration::from_secs(10)).await;
    let client_id = public_client(&f, "read").await;
    let t0 = public_tokens(&f, &client_id, &["read"]).await;
    let t0_refresh = t0["refresh_token"].as_str().unwrap();
    let (status, first) = refresh(&f, &client_id, t0_refresh).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = refresh(&f, &client_id, t0_refresh).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first, "an immediate replay: the identical response");
    f.clock.advance(Duration::from_secs(4));
    let (status, later) = refresh(&f, &client_id, t0_refresh).await;
    assert_eq!(status, 200, "{later}");
    for field in ["access_token", "refresh_token", "scope", "token_type"] {
        assert_eq!(later[field], first[field], "{field}");
    }
    assert_eq!(
        later["expires_in"].as_u64().unwrap() + 4,
        first["expires_in"].as_u64().unwrap()
    );
    assert_ne!(first["refresh_token"], t0["refresh_token"]);
    // The successor is the one live refresh token: it refreshes.
    let (status, next) = refresh(&f, &client_id, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{next}");
    // The first token is now two rotations back: reuse revokes the grant.
    let (status, json) = refresh(&f, &client_id, t0_refresh).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, json) = refresh(&f, &client_id, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "grant revoked"
    );

    // Past the window a replay is reuse at once.
    let t0 = public_tokens(&f, &client_id, &["read"]).await;
    let t0_refresh = t0["refresh_token"].as_str().unwrap();
    let (_, first) = refresh(&f, &client_id, t0_refresh).await;
    f.clock.advance(Duration::from_secs(11));
    let (status, json) = refresh(&f, &client_id, t0_refresh).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&f, &client_id, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the successor died with the grant");
}

/// The `[registration]` policy keys: the token from an environment variable
/// and/or as a SHA-256 (either is accepted, and neither is kept in the clear),
/// the scope set, `client_ttl` and `require_initial_access_token`; mistakes
/// are configuration errors.
#[test]
fn the_registration_policy_comes_from_the_config_file() {
    use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
    let other = "another-initial-access-token-abcdefghijkl";
    let text = format!(
        r#"
        scopes_supported = ["read", "write", "admin"]
        [registration]
        scopes = ["read", "write"]
        client_ttl = "30d"
        initial_access_token_env = "REGISTRATION_TOKEN"
        initial_access_token_sha256 = "{}"
        require_initial_access_token = true
        "#,
        authstore::secret::sha256_hex(other)
    );
    let resolve = |text: &str, vars: &[(&str, &str)]| {
        let file = ConfigFile::parse(text, "test.toml")?;
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        ServeConfig::resolve(&Overrides::default(), Some(&file), &env).map(|c| c.settings)
    };
    let s = resolve(&text, &[("REGISTRATION_TOKEN", TOKEN)]).unwrap();
    assert_eq!(
        s.registration_scopes,
        Some(vec!["read".into(), "write".into()])
    );
    assert_eq!(s.registered_client_ttl, Some(30 * DAY));
    assert!(s.registration_requires_token);
    assert!(s.registration_tokens.accepts(TOKEN) && s.registration_tokens.accepts(other));
    assert!(!s.registration_tokens.accepts("initial-access-token"));
    let debug = format!("{s:?}");
    assert!(!debug.contains(TOKEN) && !debug.contains(&authstore::secret::sha256_hex(TOKEN)));

    let defaults = resolve("", &[]).unwrap();
    assert_eq!(defaults.registered_client_ttl, Some(90 * DAY));
    assert_eq!(defaults.registration_scopes, None);
    assert!(defaults.registration_tokens.is_empty() && !defaults.registration_requires_token);
    let never = resolve("[registration]\nclient_ttl = \"never\"", &[]).unwrap();
    assert_eq!(never.registered_client_ttl, None);

    for (text, vars, needle) in [
        (text.as_str(), &[][..], "REGISTRATION_TOKEN is not set"),
        (
            text.as_str(),
            &[("REGISTRATION_TOKEN", "short")][..],
            "at least 32 characters",
        ),
        (
            "[registration]\ninitial_access_token_sha256 = \"abc\"",
            &[][..],
            "64 hex digits",
        ),
        (
            "[registration]\nrequire_initial_access_token = true",
            &[][..],
            "needs initial_access_token_env or initial_access_token_sha256",
        ),
        (
            "[registration]\nscopes = [\"two words\"]",
            &[][..],
            "is not a scope",
        ),
    ] {
        let err = resolve(text, vars).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} names {needle:?}");
        assert!(!err.contains("short\""), "{err}");
    }
}
