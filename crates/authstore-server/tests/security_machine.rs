//! The machine endpoints under attack, over HTTP: unknown client ids and wrong auth methods refused before argon2id, per-IP and per-client-id limits (429 + Retry-After) that spare a client whose secret was verified before, a bounded argon2id queue (503 + Retry-After), the introspection policy, revocation of another client's token, and the security events they leave in the store.

mod common;

use std::time::{Duration, SystemTime};

use authstore::FakeClock;
use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::{AuthMethod, AuthorizationRequest, NewClient, OAuthConfig, pkce_challenge};
use authstore_axum::TrustedProxies;
use authstore_server::machine::IntrospectionPolicy;
use authstore_server::{AppState, Settings};
use base64::Engine as _;
use bytes::Bytes;
use common::send;
use http::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http_body_util::Full;
use serde_json::{Value, json};

const REDIRECT: &str = "https://app.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const API: &str = "https://api.example";
const OTHER_API: &str = "https://other.example";

/// A server on a free loopback port, on a fake clock.
struct Server {
    base: String,
    state: AppState,
    clock: FakeClock,
}

async fn start(tweak: impl FnOnce(&mut Settings)) -> Server {
    let clock = FakeClock::new();
    let (listener, base) = common::bind().await;
    let mut settings = common::settings(&base);
    tweak(&mut settings);
    let state =
        AppState::with_clock(common::clocked_store(&clock), settings, clock.clone()).unwrap();
    common::serve(listener, &state);
    Server { base, state, clock }
}

/// A confidential client with a fixed id; its secret is `<id>` repeated to 40 characters.
async fn client(server: &Server, id: &str, method: AuthMethod) -> String {
    let secret: String = id.chars().cycle().take(40).collect();
    let mut new = NewClient::confidential(id, REDIRECT);
    new.auth_method = method;
    new.scopes = vec!["read".into()];
    server
        .state
        .oauth()
        .put_client(id, new, Some(&secret))
        .await
        .unwrap();
    secret
}

async fn public_client(server: &Server, id: &str) {
    let mut new = NewClient::public(id, REDIRECT);
    new.scopes = vec!["read".into()];
    server
        .state
        .oauth()
        .put_client(id, new, None)
        .await
        .unwrap();
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    Public(&'a str),
}

struct Reply {
    status: u16,
    json: Value,
    retry_after: Option<u64>,
}

async fn post_from(
    server: &Server,
    path: &str,
    auth: Auth<'_>,
    pairs: &[(&str, &str)],
    forwarded_for: Option<&str>,
) -> Reply {
    let mut pairs: Vec<(&str, &str)> = pairs.to_vec();
    let mut req = Request::post(format!("{}{path}", server.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    match auth {
        Auth::Basic(id, secret) => {
            let raw = format!("{id}:{secret}");
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            req = req.header(AUTHORIZATION, format!("Basic {encoded}"));
        }
        Auth::Post(id, secret) => {
            pairs.push(("client_id", id));
            pairs.push(("client_secret", secret));
        }
        Auth::Public(id) => pairs.push(("client_id", id)),
    }
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let res = send(req.body(Full::new(Bytes::from(body))).unwrap()).await;
    Reply {
        status: res.status().as_u16(),
        json: serde_json::from_str(res.body()).unwrap_or(Value::Null),
        retry_after: res
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().parse().unwrap()),
    }
}

async fn post(server: &Server, path: &str, auth: Auth<'_>, pairs: &[(&str, &str)]) -> Reply {
    post_from(server, path, auth, pairs, None).await
}

async fn client_credentials(server: &Server, auth: Auth<'_>) -> Reply {
    post(
        server,
        "/token",
        auth,
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn introspect(server: &Server, auth: Auth<'_>, token: &str) -> Value {
    let reply = post(server, "/introspect", auth, &[("token", token)]).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json
}

fn runs(server: &Server) -> u64 {
    server.state.oauth().secret_hasher().runs()
}

async fn events(server: &Server, action: &str) -> Vec<AuditEvent> {
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 365 * 24 * 3600);
    server
        .state
        .audit_log()
        .events()
        .in_time_range(SystemTime::UNIX_EPOCH, far)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// Tokens (access, refresh) for `client_id` through the code flow, for `resource`.
async fn code_tokens(
    server: &Server,
    auth: Auth<'_>,
    client_id: &str,
    resource: Option<&str>,
) -> (String, String) {
    let code = issue_code(server, client_id, resource).await;
    let reply = exchange(server, auth, &code).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    (
        reply.json["access_token"].as_str().unwrap().to_owned(),
        reply.json["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn issue_code(server: &Server, client_id: &str, resource: Option<&str>) -> String {
    let request = AuthorizationRequest {
        client_id: client_id.into(),
        redirect_uri: REDIRECT.into(),
        scope: vec!["read".into()],
        code_challenge: pkce_challenge(VERIFIER),
        resources: resource.map(str::to_owned).into_iter().collect(),
        subject: "u-ada".into(),
        ..Default::default()
    };
    server.state.oauth().issue_code(&request).await.unwrap()
}

async fn exchange(server: &Server, auth: Auth<'_>, code: &str) -> Reply {
    post(
        server,
        "/token",
        auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

#[track_caller]
fn assert_refused(reply: &Reply, status: u16, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.json);
    assert_eq!(reply.json["error"], error, "{}", reply.json);
}

#[track_caller]
fn assert_limited(reply: &Reply) {
    assert_refused(reply, 429, "temporarily_unavailable");
    assert!(
        reply.retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After in seconds: {:?}",
        reply.retry_after
    );
}

#[tokio::test]
async fn an_unknown_client_id_is_refused_without_running_argon2() {
    let server = start(|_| {}).await;
    let secret = client(&server, "known", AuthMethod::ClientSecretBasic).await;
    let before = runs(&server);
    for path in ["/token", "/revoke", "/introspect"] {
        let pairs = [("grant_type", "client_credentials"), ("token", "x")];
        for auth in [
            Auth::Basic("no-such-client", &secret),
            Auth::Post("no-such-client", &secret),
        ] {
            let reply = post(&server, path, auth, &pairs).await;
            assert_refused(&reply, 401, "invalid_client");
        }
    }
    assert_eq!(runs(&server), before, "no argon2id run for unknown ids");
    // The counter does count: a wrong secret for a known client costs one run.
    let reply = client_credentials(&server, Auth::Basic("known", "wrong-secret")).await;
    assert_refused(&reply, 401, "invalid_client");
    assert_eq!(runs(&server), before + 1);
}

#[tokio::test]
async fn the_client_auth_method_is_enforced_before_any_hashing() {
    let server = start(|_| {}).await;
    let basic = client(&server, "basic-client", AuthMethod::ClientSecretBasic).await;
    let form = client(&server, "post-client", AuthMethod::ClientSecretPost).await;
    public_client(&server, "public-client").await;
    let before = runs(&server);
    for auth in [
        Auth::Post("basic-client", &basic),
        Auth::Basic("post-client", &form),
        Auth::Public("basic-client"),
        Auth::Basic("public-client", &basic),
        Auth::Post("public-client", &basic),
    ] {
        let reply = client_credentials(&server, auth).await;
        assert_refused(&reply, 401, "invalid_client");
    }
    assert_eq!(runs(&server), before, "refused without argon2id");
    for auth in [
        Auth::Basic("basic-client", &basic),
        Auth::Post("post-client", &form),
    ] {
        let reply = client_credentials(&server, auth).await;
        assert_eq!(reply.status, 200, "{}", reply.json);
    }
}

#[tokio::test]
async fn too_many_requests_from_one_address_get_429_with_retry_after() {
    let server = start(|s| {
        s.machine_requests_per_minute = Some(3);
        s.trusted_proxies = TrustedProxies::parse(["127.0.0.1/32"]).unwrap();
    })
    .await;
    let secret = client(&server, "svc", AuthMethod::ClientSecretBasic).await;
    let flood = Some("203.0.113.7");
    for _ in 0..3 {
        let pairs = [("grant_type", "client_credentials")];
        let reply = post_from(&server, "/token", Auth::Basic("svc", "bad"), &pairs, flood).await;
        assert_refused(&reply, 401, "invalid_client");
    }
    let runs_before = runs(&server);
    for path in ["/token", "/revoke", "/introspect"] {
        let pairs = [("grant_type", "client_credentials"), ("token", "t")];
        let reply = post_from(&server, path, Auth::Basic("svc", "bad"), &pairs, flood).await;
        assert_limited(&reply);
        let reply = post_from(&server, path, Auth::Basic("nobody", "x"), &pairs, flood).await;
        assert_limited(&reply);
    }
    assert_eq!(runs(&server), runs_before, "refused before argon2id");
    // Another address is not limited, and neither is the client itself.
    let pairs = [("grant_type", "client_credentials")];
    let reply = post_from(
        &server,
        "/token",
        Auth::Basic("svc", &secret),
        &pairs,
        Some("198.51.100.2"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    // The budget comes back with time.
    server.clock.advance(Duration::from_secs(60));
    let reply = post_from(&server, "/token", Auth::Basic("svc", "bad"), &pairs, flood).await;
    assert_refused(&reply, 401, "invalid_client");

    let limited = events(&server, "oauth.client_rate_limited").await;
    assert_eq!(
        limited.len(),
        1,
        "audited once a minute per address: {limited:?}"
    );
    assert_eq!(limited[0].outcome, Outcome::Denied);
    assert_eq!(limited[0].metadata["limit"], json!("ip"));
    assert_eq!(limited[0].ip.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn a_flood_on_a_client_id_is_limited_but_spares_the_client_that_authenticated_before() {
    let server = start(|s| {
        s.machine_requests_per_minute = None;
        s.secret_checks_per_ip_per_minute = None;
        s.secret_checks_per_minute = Some(3);
    })
    .await;
    let secret = client(&server, "svc", AuthMethod::ClientSecretBasic).await;
    // The client's first authentication is one of the 3 checks.
    let reply = client_credentials(&server, Auth::Basic("svc", &secret)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    for _ in 0..2 {
        let reply = client_credentials(&server, Auth::Basic("svc", "wrong")).await;
        assert_refused(&reply, 401, "invalid_client");
    }
    let runs_before = runs(&server);
    let reply = client_credentials(&server, Auth::Basic("svc", "wrong")).await;
    assert_limited(&reply);
    assert!(
        reply.json["error_description"]
            .as_str()
            .unwrap()
            .contains("client")
    );
    assert_eq!(runs(&server), runs_before, "refused before argon2id");
    // The client's own secret is remembered: no limit, no argon2id.
    let reply = client_credentials(&server, Auth::Basic("svc", &secret)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(runs(&server), runs_before);

    // Past the memo's lifetime the secret needs argon2id again; the flood
    // has used up the client id's budget again, yet the secret that passed
    // before is still let through.
    server
        .clock
        .advance(OAuthConfig::default().secret_cache_ttl + Duration::from_secs(1));
    for _ in 0..3 {
        let reply = client_credentials(&server, Auth::Basic("svc", "wrong")).await;
        assert_refused(&reply, 401, "invalid_client");
    }
    assert_limited(&client_credentials(&server, Auth::Basic("svc", "wrong")).await);
    let before = runs(&server);
    let reply = client_credentials(&server, Auth::Basic("svc", &secret)).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(runs(&server), before + 1, "verified again with argon2id");
    assert_limited(&client_credentials(&server, Auth::Basic("svc", "wrong")).await);

    let limited = events(&server, "oauth.client_rate_limited").await;
    assert!(!limited.is_empty());
    assert!(
        limited
            .iter()
            .all(|e| e.metadata["limit"] == json!("client_id")
                && e.resource.as_deref() == Some("svc"))
    );
}

#[tokio::test]
async fn a_flood_from_one_address_spends_only_that_addresss_share_of_a_client_id() {
    let server = start(|s| {
        s.machine_requests_per_minute = None;
        s.secret_checks_per_ip_per_minute = Some(2);
        s.secret_checks_per_minute = Some(100);
        s.trusted_proxies = TrustedProxies::parse(["127.0.0.1/32"]).unwrap();
    })
    .await;
    let secret = client(&server, "svc", AuthMethod::ClientSecretBasic).await;
    let pairs = [("grant_type", "client_credentials")];
    let flood = Some("203.0.113.7");
    for _ in 0..2 {
        let reply = post_from(&server, "/token", Auth::Basic("svc", "bad"), &pairs, flood).await;
        assert_refused(&reply, 401, "invalid_client");
    }
    let before = runs(&server);
    for _ in 0..3 {
        let reply = post_from(&server, "/token", Auth::Basic("svc", "bad"), &pairs, flood).await;
        assert_limited(&reply);
    }
    assert_eq!(runs(&server), before, "refused before argon2id");
    // The client's first authentication ever, from its own address.
    let reply = post_from(
        &server,
        "/token",
        Auth::Basic("svc", &secret),
        &pairs,
        Some("198.51.100.2"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let limited = events(&server, "oauth.client_rate_limited").await;
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0].metadata["limit"], json!("client_id_ip"));
    assert_eq!(limited[0].resource.as_deref(), Some("svc"));
}

#[tokio::test]
async fn a_full_argon2_queue_answers_503_with_retry_after() {
    let server = start(|s| {
        s.oauth.secret_hash_max_waiting = 1;
    })
    .await;
    let secret = client(&server, "svc", AuthMethod::ClientSecretBasic).await;
    let hasher = server.state.oauth().secret_hasher().clone();
    let held = hasher.occupy().await.unwrap();
    let waiting = {
        let (base, secret) = (server.base.clone(), secret.clone());
        let server = Server {
            base,
            state: server.state.clone(),
            clock: server.clock.clone(),
        };
        tokio::spawn(async move { client_credentials(&server, Auth::Basic("svc", &secret)).await })
    };
    while hasher.waiting() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reply = client_credentials(&server, Auth::Basic("svc", "another-guess")).await;
    assert_refused(&reply, 503, "temporarily_unavailable");
    assert_eq!(reply.retry_after, Some(1));
    for path in ["/revoke", "/introspect"] {
        let reply = post(
            &server,
            path,
            Auth::Basic("svc", "guess"),
            &[("token", "t")],
        )
        .await;
        assert_refused(&reply, 503, "temporarily_unavailable");
    }
    drop(held);
    let reply = waiting.await.unwrap();
    assert_eq!(
        reply.status, 200,
        "the queued request went through: {}",
        reply.json
    );
}

/// A server with a resource server `api` (for [`API`]), a trusted
/// introspector `ops`, a confidential client `stranger` that is neither,
/// and the application client `app`; `resource` is the server's configured one.
async fn introspection_server(resource: Option<&str>) -> (Server, [String; 4]) {
    let server = start(|s| {
        s.resource = resource.map(str::to_owned);
        if let Some(default) = resource {
            // Both resources are known; `default` is for requests naming none.
            s.oauth.resources = authstore::oauth::KnownResources::any()
                .with_any_scope(API)
                .and_then(|k| k.with_any_scope(OTHER_API))
                .and_then(|k| k.with_default(default))
                .unwrap();
        }
        s.introspection = IntrospectionPolicy {
            resource_servers: [("api".to_owned(), vec![API.to_owned()])].into(),
            trusted: vec!["ops".into()],
        };
    })
    .await;
    let mut secrets = Vec::new();
    for id in ["api", "ops", "stranger", "app"] {
        secrets.push(client(&server, id, AuthMethod::ClientSecretBasic).await);
    }
    public_client(&server, "spa").await;
    (server, secrets.try_into().unwrap())
}

#[tokio::test]
async fn a_confidential_client_no_longer_learns_about_other_clients_tokens() {
    // A confidential client must not introspect another client's token
    // and learn its user, scope and client.
    let (server, [_, _, stranger, app]) = introspection_server(None).await;
    let (access, refresh) = code_tokens(&server, Auth::Basic("app", &app), "app", Some(API)).await;
    let machine = client_credentials(&server, Auth::Basic("app", &app))
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [&access, &refresh, &machine] {
        let seen = introspect(&server, Auth::Basic("stranger", &stranger), token).await;
        assert_eq!(seen, json!({"active": false}));
        // Not even its own client learns about it: it is no resource server.
        let seen = introspect(&server, Auth::Basic("app", &app), token).await;
        assert_eq!(seen, json!({"active": false}));
    }
}

#[tokio::test]
async fn introspection_follows_the_policy() {
    let (server, [api, ops, stranger, app]) = introspection_server(None).await;
    let app_auth = Auth::Basic("app", &app);
    let (own, refresh) = code_tokens(&server, app_auth, "app", Some(API)).await;
    let (other, _) = code_tokens(&server, app_auth, "app", Some(OTHER_API)).await;
    let (unbound, _) = code_tokens(&server, app_auth, "app", None).await;
    let machine = client_credentials(&server, app_auth).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let inactive = json!({"active": false});

    // A client that is neither a resource server nor trusted sees nothing.
    for token in [&own, &other, &unbound, &machine, &refresh] {
        assert_eq!(
            introspect(&server, Auth::Basic("stranger", &stranger), token).await,
            inactive
        );
    }
    // A public client cannot introspect at all.
    let reply = post(
        &server,
        "/introspect",
        Auth::Public("spa"),
        &[("token", &own)],
    )
    .await;
    assert_refused(&reply, 401, "invalid_client");

    // The resource server sees its own audience's access tokens only.
    let seen = introspect(&server, Auth::Basic("api", &api), &own).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["token_type"], "Bearer", "{seen}");
    assert_eq!(seen["aud"], API, "{seen}");
    assert_eq!(seen["client_id"], "app");
    assert_eq!(seen["sub"], "u-ada");
    assert_eq!(seen["iss"], server.base);
    for token in [&other, &unbound, &machine, &refresh] {
        assert_eq!(
            introspect(&server, Auth::Basic("api", &api), token).await,
            inactive
        );
    }

    // The trusted introspector sees every token.
    for token in [&own, &other, &unbound, &machine] {
        let seen = introspect(&server, Auth::Basic("ops", &ops), token).await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["token_type"], "Bearer", "{seen}");
    }
    let seen = introspect(&server, Auth::Basic("ops", &ops), &refresh).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert!(
        seen.get("token_type").is_none(),
        "a refresh token is no Bearer token: {seen}"
    );
}

#[tokio::test]
async fn tokens_without_a_resource_belong_to_the_configured_resource() {
    let (server, [api, _, _, app]) = introspection_server(Some(API)).await;
    let app_auth = Auth::Basic("app", &app);
    let (unbound, _) = code_tokens(&server, app_auth, "app", None).await;
    let machine = client_credentials(&server, app_auth).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (other, _) = code_tokens(&server, app_auth, "app", Some(OTHER_API)).await;
    for token in [&unbound, &machine] {
        let seen = introspect(&server, Auth::Basic("api", &api), token).await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["token_type"], "Bearer");
    }
    let seen = introspect(&server, Auth::Basic("api", &api), &other).await;
    assert_eq!(seen, json!({"active": false}));
}

#[tokio::test]
async fn revoking_another_clients_token_answers_200_and_revokes_nothing() {
    let (server, [_, ops, stranger, app]) = introspection_server(None).await;
    let (access, refresh) = code_tokens(&server, Auth::Basic("app", &app), "app", None).await;
    for token in [&access, &refresh] {
        let reply = post(
            &server,
            "/revoke",
            Auth::Basic("stranger", &stranger),
            &[("token", token)],
        )
        .await;
        assert_eq!(reply.status, 200, "RFC 7009: {}", reply.json);
        let seen = introspect(&server, Auth::Basic("ops", &ops), token).await;
        assert_eq!(seen["active"], true, "still active: {seen}");
    }
    let refused = events(&server, "oauth.revoke_refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].resource.as_deref(), Some("stranger"));
    assert_eq!(refused[0].outcome, Outcome::Denied);
    assert!(events(&server, "oauth.token_revoked").await.is_empty());

    // The owner revokes it.
    let reply = post(
        &server,
        "/revoke",
        Auth::Basic("app", &app),
        &[("token", &refresh), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = introspect(&server, Auth::Basic("ops", &ops), &access).await;
    assert_eq!(seen, json!({"active": false}), "the grant is revoked");
    let revoked = events(&server, "oauth.token_revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0].outcome, Outcome::Success);
    assert_eq!(revoked[0].resource.as_deref(), Some("app"));
    assert_eq!(
        revoked[0].metadata["token_type_hint"],
        json!("refresh_token")
    );
}

#[tokio::test]
async fn code_and_refresh_token_reuse_are_security_events() {
    let server = start(|s| {
        s.oauth.refresh_grace = Duration::ZERO;
    })
    .await;
    let app = client(&server, "app", AuthMethod::ClientSecretBasic).await;
    let auth = Auth::Basic("app", &app);

    let code = issue_code(&server, "app", None).await;
    assert_eq!(exchange(&server, auth, &code).await.status, 200);
    assert_refused(&exchange(&server, auth, &code).await, 400, "invalid_grant");
    let reuse = events(&server, "oauth.code_reuse").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_eq!(reuse[0].outcome, Outcome::Denied);
    assert_eq!(reuse[0].resource.as_deref(), Some("app"));
    assert!(reuse[0].ip.is_some());

    let (_, refresh) = code_tokens(&server, auth, "app", None).await;
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    assert_eq!(post(&server, "/token", auth, &pairs).await.status, 200);
    assert!(events(&server, "oauth.refresh_reuse").await.is_empty());
    assert_refused(
        &post(&server, "/token", auth, &pairs).await,
        400,
        "invalid_grant",
    );
    let reuse = events(&server, "oauth.refresh_reuse").await;
    assert_eq!(reuse.len(), 1, "{reuse:?}");
    assert_eq!(reuse[0].outcome, Outcome::Denied);
    assert_eq!(reuse[0].resource.as_deref(), Some("app"));
}

#[test]
fn the_machine_keys_of_the_config_file_map_onto_settings() {
    use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
    let no_env = |_: &str| None::<String>;
    let file = ConfigFile::parse(
        r#"
        [rate_limits]
        machine_requests_per_minute = 100
        secret_checks_per_minute = 30
        secret_checks_per_ip_per_minute = 5
        [hashing]
        max_waiting = 4
        [[resource_servers]]
        client_id = "api"
        resource = "https://api.example"
        [[resource_servers]]
        client_id = "api"
        resource = "https://api2.example"
        [introspection]
        trusted = ["ops"]
        "#,
        "test.toml",
    )
    .unwrap();
    let c = ServeConfig::resolve(&Overrides::default(), Some(&file), &no_env).unwrap();
    let s = &c.settings;
    assert_eq!(s.machine_requests_per_minute, Some(100));
    assert_eq!(s.secret_checks_per_minute, Some(30));
    assert_eq!(s.secret_checks_per_ip_per_minute, Some(5));
    assert_eq!(s.oauth.secret_hash_max_waiting, 4);
    assert_eq!(
        s.introspection.resource_servers["api"],
        ["https://api.example", "https://api2.example"]
    );
    assert_eq!(s.introspection.trusted, ["ops"]);

    let defaults = ServeConfig::resolve(&Overrides::default(), None, &no_env).unwrap();
    let d = &defaults.settings;
    assert_eq!(d.machine_requests_per_minute, Some(600));
    assert_eq!(d.secret_checks_per_minute, Some(60));
    assert_eq!(d.secret_checks_per_ip_per_minute, Some(10));
    assert_eq!(d.introspection, IntrospectionPolicy::default());

    for bad in [
        "[rate_limits]\nmachine_requests_per_minute = 0",
        "[rate_limits]\nsecret_checks_per_minute = 0",
        "[[resource_servers]]\nclient_id = \"api\"\nresource = \"not a url\"",
        "[[resource_servers]]\nclient_id = \"\"\nresource = \"https://api.example\"",
        "[introspection]\ntrusted = [\"\"]",
    ] {
        let file = ConfigFile::parse(bad, "bad.toml").unwrap();
        let e = ServeConfig::resolve(&Overrides::default(), Some(&file), &no_env).unwrap_err();
        assert!(!e.to_string().is_empty(), "{bad}");
    }
}
