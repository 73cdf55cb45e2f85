//! RFC 8707 resource indicators end to end: known resources at every endpoint, several resources on one grant, narrowing at refresh and never widening (to another configured resource or a scope outside the grant), per-resource consent, audiences in introspection and JWTs, and a resource server refusing another resource's token.

mod common;

use std::sync::Arc;

use authstore::MemoryStore;
use authstore::oauth::resource::{
    InvalidToken, Rejection, ResourceConfig, ResourceServer, SameStoreValidator,
};
use authstore::oauth::{KnownResources, NewClient, pkce_challenge};
use base64::Engine as _;
use bytes::Bytes;
use common::{Browser, Server, hidden, send, start};
use http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{Request, Response};
use http_body_util::Full;
use serde_json::Value;

const API: &str = "https://api.example/mcp";
const FILES: &str = "https://files.example/";
const UNKNOWN: &str = "https://unknown.example/";
const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// `API` (scope `read`, the default) and `FILES` (scope `write`); a
/// trusted introspector `ops`; `jwt` for JWT access tokens.
async fn server(jwt: bool) -> Server {
    start(store(), |s| {
        s.oauth.resources = KnownResources::any()
            .with_resource(API, ["read"])
            .and_then(|k| k.with_resource(FILES, ["write"]))
            .and_then(|k| k.with_default(API))
            .unwrap();
        s.introspection.trusted = vec!["ops".into()];
        s.jwt_access_tokens = jwt;
    })
    .await
}

fn store() -> Arc<dyn authstore::Store> {
    Arc::new(MemoryStore::builder().build().unwrap())
}

/// A confidential client `id` (scopes `read`, `write`, `offline_access`): its id and secret.
async fn client(server: &Server, id: &str) -> (String, String) {
    let mut new = NewClient::confidential(id, REDIRECT);
    new.scopes = vec!["read".into(), "write".into(), "offline_access".into()];
    let secret = format!("{id}-secret-of-at-least-32-characters");
    let oauth = server.state.oauth();
    oauth.put_client(id, new, Some(&secret)).await.unwrap();
    (id.to_owned(), secret)
}

async fn client_credentials(server: &Server, app: (&str, &str), resource: &str) -> (u16, Value) {
    let pairs = [("grant_type", "client_credentials"), ("resource", resource)];
    post(server, "/token", app, &pairs).await
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn authorize_url(base: &str, client: &str, extra: &str) -> String {
    format!(
        "{base}/authorize?response_type=code&client_id={client}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s1{extra}",
        enc(REDIRECT),
        pkce_challenge(VERIFIER),
    )
}

/// A form POST to `path` authenticated with HTTP Basic; the status and JSON body.
async fn post(
    server: &Server,
    path: &str,
    (id, secret): (&str, &str),
    pairs: &[(&str, &str)],
) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let req = Request::post(format!("{}{path}", server.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, format!("Basic {basic}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res: Response<String> = send(req).await;
    let json = serde_json::from_str(res.body()).unwrap_or(Value::Null);
    (res.status().as_u16(), json)
}

fn code_of(location: &str) -> String {
    let query = location.split_once('?').expect("a query").1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned()
}

async fn exchange(
    server: &Server,
    app: (&str, &str),
    code: &str,
    resource: Option<&str>,
) -> (u16, Value) {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    pairs.extend(resource.map(|r| ("resource", r)));
    post(server, "/token", app, &pairs).await
}

async fn refresh(
    server: &Server,
    app: (&str, &str),
    rt: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    pairs.extend_from_slice(extra);
    post(server, "/token", app, &pairs).await
}

/// The `aud` introspection reports for `token` (by the trusted introspector).
async fn introspected_aud(server: &Server, ops: (&str, &str), token: &str) -> Value {
    let (status, seen) = post(server, "/introspect", ops, &[("token", token)]).await;
    assert_eq!(status, 200);
    assert_eq!(seen["active"], true, "{seen}");
    seen["aud"].clone()
}

/// The claims of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn assert_error(reply: &(u16, Value), code: &str) {
    assert_eq!(reply.0, 400, "{}", reply.1);
    assert_eq!(reply.1["error"], code, "{}", reply.1);
}

/// A signed-in browser's authorization: the redirect's Location.
async fn authorized(server: &Server, client: &str, extra: &str) -> String {
    Browser::new(&server.base)
        .authorize(&authorize_url(&server.base, client, extra))
        .await
}

#[tokio::test]
async fn an_unknown_resource_is_invalid_target_at_every_endpoint() {
    let server = server(false).await;
    let (id, secret) = client(&server, "app").await;
    let app = (id.as_str(), secret.as_str());

    // /authorize: an operator's client gets the error at its redirect URI.
    let location = authorized(&server, &id, &format!("&resource={}", enc(UNKNOWN))).await;
    assert!(location.contains("error=invalid_target"), "{location}");
    let location = authorized(
        &server,
        &id,
        &format!("&resource={}&resource={}", enc(API), enc(UNKNOWN)),
    )
    .await;
    assert!(location.contains("error=invalid_target"), "{location}");

    let location = authorized(&server, &id, "&scope=read%20offline_access").await;
    let code = code_of(&location);
    assert_error(
        &exchange(&server, app, &code, Some(UNKNOWN)).await,
        "invalid_target",
    );
    assert_error(
        &exchange(&server, app, &code, Some(FILES)).await,
        "invalid_target",
    );
    // The refusals left the code unused.
    let (status, tokens) = exchange(&server, app, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_error(
        &refresh(&server, app, rt, &[("resource", UNKNOWN)]).await,
        "invalid_target",
    );
    for resource in [UNKNOWN, "not-a-uri", "https://api.example/mcp#f"] {
        assert_error(
            &client_credentials(&server, app, resource).await,
            "invalid_target",
        );
    }
    // One token, one audience: a repeated resource at /token is refused.
    let twice = post(
        &server,
        "/token",
        app,
        &[
            ("grant_type", "client_credentials"),
            ("resource", API),
            ("resource", FILES),
        ],
    )
    .await;
    assert_error(&twice, "invalid_target");
    // A scope the named resource does not accept.
    let foreign = post(
        &server,
        "/token",
        app,
        &[
            ("grant_type", "client_credentials"),
            ("resource", FILES),
            ("scope", "read"),
        ],
    )
    .await;
    assert_error(&foreign, "invalid_scope");
}

#[tokio::test]
async fn several_resources_one_audience_per_token_and_refresh_narrows() {
    let server = server(true).await;
    let (id, secret) = client(&server, "app").await;
    let app = (id.as_str(), secret.as_str());
    let (ops_id, ops_secret) = client(&server, "ops").await;
    let ops = (ops_id.as_str(), ops_secret.as_str());

    // The consent page names both resources.
    let mut browser = Browser::new(&server.base);
    let extra = format!(
        "&scope=read%20write%20offline_access&resource={}&resource={}",
        enc(API),
        enc(FILES)
    );
    let location = browser
        .authorize(&authorize_url(&server.base, &id, &extra))
        .await;
    let code = code_of(&location);

    // None named from a grant for two: invalid_target, the code kept.
    assert_error(&exchange(&server, app, &code, None).await, "invalid_target");
    let (status, tokens) = exchange(&server, app, &code, Some(FILES)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        tokens["scope"], "write offline_access",
        "the scopes FILES accepts"
    );
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspected_aud(&server, ops, access).await, FILES);
    assert_eq!(claims(access)["aud"], FILES);

    // Widening is refused: a resource outside the grant, a scope outside it
    // or one the audience does not accept.
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let client_credentials_only = "https://files.example/other";
    assert_error(
        &refresh(&server, app, &rt, &[("resource", client_credentials_only)]).await,
        "invalid_target",
    );
    assert_error(&refresh(&server, app, &rt, &[]).await, "invalid_target");
    assert_error(
        &refresh(&server, app, &rt, &[("resource", API), ("scope", "write")]).await,
        "invalid_scope",
    );
    // Narrowing to the other resource of the grant works.
    let (status, next) = refresh(&server, app, &rt, &[("resource", API), ("scope", "read")]).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["scope"], "read");
    let access = next["access_token"].as_str().unwrap();
    assert_eq!(introspected_aud(&server, ops, access).await, API);
    assert_eq!(claims(access)["aud"], API);
    // A retry of that rotation for the other resource is refused.
    let retry = refresh(&server, app, &rt, &[("resource", FILES)]).await;
    assert_error(&retry, "invalid_grant");
    let (status, same) = refresh(&server, app, &rt, &[("resource", API), ("scope", "read")]).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(
        same["access_token"], next["access_token"],
        "the same response"
    );

    // Client credentials: the default resource, or the one named.
    let (status, cc) = post(
        &server,
        "/token",
        app,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "{cc}");
    let access = cc["access_token"].as_str().unwrap();
    assert_eq!(introspected_aud(&server, ops, access).await, API);
    assert_eq!(claims(access)["aud"], API);
    let (status, cc) = client_credentials(&server, app, FILES).await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(
        introspected_aud(&server, ops, cc["access_token"].as_str().unwrap()).await,
        FILES
    );
}

/// `API` (the default) and `FILES`, both accepting `read` and `write`, so
/// that a refresh from a grant for one to the other can only be refused by
/// the grant; a trusted introspector `ops`.
async fn twin_server() -> Server {
    start(store(), |s| {
        s.oauth.resources = KnownResources::any()
            .with_resource(API, ["read", "write"])
            .and_then(|k| k.with_resource(FILES, ["read", "write"]))
            .and_then(|k| k.with_default(API))
            .unwrap();
        s.introspection.trusted = vec!["ops".into()];
    })
    .await
}

/// Tokens of a grant for `API` alone with `scope` (a code exchanged).
async fn api_grant(server: &Server, app: (&str, &str), scope: &str) -> Value {
    let extra = format!("&scope={}&resource={}", enc(scope), enc(API));
    let location = authorized(server, app.0, &extra).await;
    let (status, tokens) = exchange(server, app, &code_of(&location), None).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], scope, "{tokens}");
    tokens
}

/// What the trusted introspector `ops` is told about `token`.
async fn introspect(server: &Server, ops: (&str, &str), token: &str) -> Value {
    let (status, seen) = post(server, "/introspect", ops, &[("token", token)]).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["active"], true, "{seen}");
    seen
}

#[track_caller]
fn assert_refusal(reply: &(u16, Value), code: &str, description: &str) {
    assert_error(reply, code);
    assert_eq!(reply.1["error_description"], description, "{}", reply.1);
}

#[tokio::test]
async fn a_refresh_for_a_configured_resource_outside_the_grant_is_invalid_target() {
    let server = twin_server().await;
    let (id, secret) = client(&server, "app").await;
    let app = (id.as_str(), secret.as_str());
    let (ops_id, ops_secret) = client(&server, "ops").await;
    let ops = (ops_id.as_str(), ops_secret.as_str());
    let tokens = api_grant(&server, app, "read offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();

    // FILES is configured and accepts `read`: this client gets a token for
    // it by client credentials, so only the grant can refuse it below.
    let (status, cc) = post(
        &server,
        "/token",
        app,
        &[
            ("grant_type", "client_credentials"),
            ("resource", FILES),
            ("scope", "read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{cc}");

    let not_granted = "the resource is not one the grant was approved for";
    for extra in [
        &[("resource", FILES)][..],
        &[("resource", FILES), ("scope", "read")],
    ] {
        assert_refusal(
            &refresh(&server, app, rt, extra).await,
            "invalid_target",
            not_granted,
        );
    }
    // The refusals rotated nothing: the token still refreshes for API.
    let (status, next) = refresh(&server, app, rt, &[("resource", API)]).await;
    assert_eq!(status, 200, "{next}");
    let seen = introspect(&server, ops, next["access_token"].as_str().unwrap()).await;
    assert_eq!(seen["aud"], API);
    assert_eq!(seen["scope"], "read offline_access");
}

#[tokio::test]
async fn a_refresh_asking_for_a_scope_outside_the_grant_is_invalid_scope() {
    let server = twin_server().await;
    let (id, secret) = client(&server, "app").await;
    let app = (id.as_str(), secret.as_str());
    let tokens = api_grant(&server, app, "read offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();

    // The client may have `write` and API accepts it: a new client
    // credentials token for API carries it. The grant does not.
    let (status, cc) = post(
        &server,
        "/token",
        app,
        &[
            ("grant_type", "client_credentials"),
            ("resource", API),
            ("scope", "write"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(cc["scope"], "write");

    let widen = "a refresh cannot widen the grant's scopes";
    for extra in [
        &[("scope", "write")][..],
        &[("scope", "read write")],
        &[("resource", API), ("scope", "write")],
        &[("resource", API), ("scope", "read write offline_access")],
    ] {
        assert_refusal(
            &refresh(&server, app, rt, extra).await,
            "invalid_scope",
            widen,
        );
    }
    let (status, next) = refresh(&server, app, rt, &[("scope", "read")]).await;
    assert_eq!(status, 200, "the refusals rotated nothing: {next}");
    assert_eq!(next["scope"], "read");
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_for_the_same_resource() {
    let server = twin_server().await;
    let (id, secret) = client(&server, "app").await;
    let app = (id.as_str(), secret.as_str());
    let (ops_id, ops_secret) = client(&server, "ops").await;
    let ops = (ops_id.as_str(), ops_secret.as_str());
    let tokens = api_grant(&server, app, "read write offline_access").await;
    let first = introspect(&server, ops, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(first["scope"], "read write offline_access");
    assert_eq!(first["aud"], API);

    let rt = tokens["refresh_token"].as_str().unwrap();
    let (status, next) = refresh(&server, app, rt, &[("resource", API), ("scope", "read")]).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["scope"], "read");
    let access = next["access_token"].as_str().unwrap();
    assert_ne!(access, tokens["access_token"].as_str().unwrap());
    let seen = introspect(&server, ops, access).await;
    assert_eq!(seen["scope"], "read", "only the narrower scope: {seen}");
    assert_eq!(seen["aud"], API);
    assert_eq!(seen["client_id"], id);
}

#[tokio::test]
async fn a_token_for_one_resource_is_refused_by_another() {
    let server = server(false).await;
    let (id, secret) = client(&server, "app").await;
    let app = (id.as_str(), secret.as_str());
    let location = authorized(
        &server,
        &id,
        &format!(
            "&scope=read%20write&resource={}&resource={}",
            enc(API),
            enc(FILES)
        ),
    )
    .await;
    let (status, tokens) = exchange(&server, app, &code_of(&location), Some(API)).await;
    assert_eq!(status, 200, "{tokens}");
    let for_api = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let (status, tokens) = client_credentials(&server, app, FILES).await;
    assert_eq!(status, 200, "{tokens}");
    let for_files = format!("Bearer {}", tokens["access_token"].as_str().unwrap());

    let resource_server = |resource: &str| {
        let config = ResourceConfig::new(resource, [server.base.clone()]);
        ResourceServer::new(
            config,
            SameStoreValidator::new(server.state.oauth().clone()),
        )
        .unwrap()
    };
    let files = resource_server(FILES);
    let api = resource_server(API);
    match files.authenticate(Some(&for_api)).await {
        Err(Rejection::Invalid(InvalidToken::WrongAudience)) => {}
        other => panic!("a token for the api accepted by the files server: {other:?}"),
    }
    match api.authenticate(Some(&for_files)).await {
        Err(Rejection::Invalid(InvalidToken::WrongAudience)) => {}
        other => panic!("a token for files accepted by the api server: {other:?}"),
    }
    let accepted = files.authenticate(Some(&for_files)).await.unwrap();
    assert_eq!(accepted.audience.as_deref(), Some(FILES));
    let accepted = api.authenticate(Some(&for_api)).await.unwrap();
    assert_eq!(accepted.audience.as_deref(), Some(API));
    assert_eq!(accepted.scopes, ["read"]);
}

#[tokio::test]
async fn remembered_consent_is_per_set_of_resources() {
    let server = server(false).await;
    let (id, _) = client(&server, "app").await;
    let mut browser = Browser::new(&server.base);
    // `read` is the api's scope, `write` the files server's.
    let url = |resources: &[&str]| {
        let scope = if resources == [FILES] {
            "write"
        } else {
            "read"
        };
        let extra: String = resources
            .iter()
            .map(|r| format!("&resource={}", enc(r)))
            .collect();
        authorize_url(&server.base, &id, &format!("&scope={scope}{extra}"))
    };
    // Sign in once through a first authorization, approved without remembering.
    let first = browser.authorize(&url(&[API])).await;
    assert!(first.contains("code="), "{first}");
    // Approve with "remember" for API, then for API + FILES.
    for resources in [&[API][..], &[API, FILES]] {
        let page = browser.get(&url(resources)).await;
        assert!(page.body().contains("id=\"consent\""), "{}", page.body());
        for r in resources {
            let shown = r.replace('/', "&#x2f;");
            assert!(page.body().contains(&shown), "the page shows {r}");
        }
        let res = browser.approve(page.body(), &[("remember", "on")]).await;
        assert_eq!(res.status(), 303, "{}", res.body());
    }
    // Each remembered set gives a code at once, in any order; others ask.
    for (resources, remembered) in [
        (&[API][..], true),
        (&[API, FILES], true),
        (&[FILES, API], true),
        (&[FILES], false),
        (&[], true), // none named: the default, API
    ] {
        let res = browser.get(&url(resources)).await;
        if remembered {
            assert_eq!(res.status(), 303, "{resources:?}: {}", res.body());
            assert!(res.headers()[LOCATION].to_str().unwrap().contains("code="));
        } else {
            assert!(res.body().contains("id=\"consent\""), "{resources:?}");
        }
    }
    // The account page lists both; revoking one keeps the other.
    let account = browser.get(&format!("{}/account", server.base)).await;
    assert_eq!(
        account.body().matches("class=\"revoke\"").count(),
        2,
        "{}",
        account.body()
    );
    let csrf = hidden(account.body(), "_csrf");
    let both = format!("{API} {FILES}");
    let res = browser
        .post_form(
            &format!("{}/account/consents/revoke", server.base),
            &[("_csrf", &csrf), ("client_id", &id), ("resources", &both)],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let res = browser.get(&url(&[API, FILES])).await;
    assert!(res.body().contains("id=\"consent\""), "revoked");
    let res = browser.get(&url(&[API])).await;
    assert_eq!(res.status(), 303, "still remembered");
}

#[tokio::test]
async fn protected_resource_metadata_for_each_resource() {
    let server = start(store(), |s| {
        s.oauth.resources = KnownResources::any()
            .with_resource(API, ["read", "offline_access"])
            .and_then(|k| k.with_resource(FILES, ["write"]))
            .and_then(|k| k.with_default(API))
            .unwrap();
        s.serve_resource_metadata = true;
    })
    .await;
    for (path, resource, scopes) in [
        (
            "/.well-known/oauth-protected-resource/mcp",
            API,
            serde_json::json!(["read"]),
        ),
        (
            "/.well-known/oauth-protected-resource",
            FILES,
            serde_json::json!(["write"]),
        ),
    ] {
        let res = send(
            Request::get(format!("{}{path}", server.base))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
        assert_eq!(res.status(), 200, "{path}");
        let doc: Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(doc["resource"], resource);
        assert_eq!(doc["scopes_supported"], scopes, "{doc}");
        assert_eq!(doc["authorization_servers"][0], server.base);
    }
}

#[test]
fn resources_in_the_config_file() {
    use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
    let no_env = |_: &str| None::<String>;
    let resolve = |text: &str| {
        let file = ConfigFile::parse(text, "test.toml").unwrap();
        ServeConfig::resolve(&Overrides::default(), Some(&file), &no_env).map(|c| c.settings)
    };
    let s = resolve(
        r#"
        [[resources]]
        id = "https://api.example/mcp"
        scopes = ["read"]
        [[resources]]
        id = "https://files.example/"
        scopes = ["write"]
        default = true
        [[resource_servers]]
        client_id = "files-rs"
        resource = "https://files.example/"
        "#,
    )
    .unwrap();
    assert_eq!(s.resource.as_deref(), Some(FILES), "the marked default");
    let known = &s.oauth.resources;
    assert_eq!(known.default_resource(), Some(FILES));
    assert!(known.get(API).unwrap().accepts("read"));
    assert!(!known.get(API).unwrap().accepts("write"));
    // Without a mark, the first; a top-level `resource` may name it.
    let first = resolve("[[resources]]\nid = \"https://api.example/mcp\"\nscopes = []\n[[resources]]\nid = \"https://files.example/\"\nscopes = []").unwrap();
    assert_eq!(first.oauth.resources.default_resource(), Some(API));
    let named = resolve("resource = \"https://files.example/\"\n[[resources]]\nid = \"https://api.example/mcp\"\nscopes = []\n[[resources]]\nid = \"https://files.example/\"\nscopes = []").unwrap();
    assert_eq!(named.oauth.resources.default_resource(), Some(FILES));
    // The single `resource` alone: one resource, every scope.
    let single = resolve("resource = \"https://api.example/mcp\"").unwrap();
    let state = authstore_server::AppState::new(store(), single).unwrap();
    let known = &state.oauth().config().resources;
    assert_eq!(known.default_resource(), Some(API));
    assert!(known.get(API).unwrap().accepts("anything"));

    for (bad, key) in [
        (
            "[[resources]]\nid = \"https://a.example/\"\nscopes = []\n[[resources]]\nid = \"https://a.example/\"\nscopes = []",
            "resources[1].id",
        ),
        (
            "[[resources]]\nid = \"http://a.example/\"\nscopes = []",
            "resources[0].id",
        ),
        (
            "[[resources]]\nid = \"https://a.example/#f\"\nscopes = []",
            "resources[0].id",
        ),
        (
            "[[resources]]\nid = \"a.example\"\nscopes = []",
            "resources[0].id",
        ),
        (
            "[[resources]]\nid = \"https://a.example/\"\nscopes = [\"a b\"]",
            "resources[0].scopes",
        ),
        (
            "[[resources]]\nid = \"https://a.example/\"\nscopes = []\ndefault = true\n[[resources]]\nid = \"https://b.example/\"\nscopes = []\ndefault = true",
            "default = true",
        ),
        (
            "resource = \"https://c.example/\"\n[[resources]]\nid = \"https://a.example/\"\nscopes = []",
            "resource",
        ),
        (
            "[[resources]]\nid = \"https://a.example/\"\nscopes = []\n[[resource_servers]]\nclient_id = \"rs\"\nresource = \"https://b.example/\"",
            "resource_servers.resource",
        ),
        (
            "resource = \"https://a.example/\"\n[[resource_servers]]\nclient_id = \"rs\"\nresource = \"https://b.example/\"",
            "resource_servers.resource",
        ),
        (
            "serve_resource_metadata = true\n[[resources]]\nid = \"https://a.example/x\"\nscopes = []\n[[resources]]\nid = \"https://b.example/x\"\nscopes = []",
            "serve_resource_metadata",
        ),
    ] {
        let e = resolve(bad).unwrap_err().to_string();
        assert!(e.contains(key), "{bad}: {e}");
    }
    // http:// on a loopback host is fine for development.
    resolve("[[resources]]\nid = \"http://127.0.0.1:9000/mcp\"\nscopes = []").unwrap();
}
