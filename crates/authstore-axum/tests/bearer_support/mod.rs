//! Shared fixtures of the bearer-layer tests: an authorization server on a fake clock, the resource it issues tokens for, a router with every bearer layer, and request/response helpers.
#![allow(dead_code, unused_imports, unreachable_pub)]

pub use std::future::Future;
pub use std::pin::Pin;
pub use std::sync::Arc;
pub use std::time::Duration;

pub use authstore::oauth::resource::{
    AccessToken, ResourceConfig, ResourceServer, SameStoreValidator, TokenValidator,
    ValidationError,
};
pub use authstore::oauth::{
    AuthorizationRequest, Client, NewClient, OAuth, OAuthConfig, pkce_challenge,
};
pub use authstore::{FakeClock, MemoryStore, Store};
pub use authstore_axum::{
    BearerAuth, BearerAuthLayer, BearerRejection, McpToolScopes, RequireScopes, mcp_cors,
    protected_resource_metadata,
};
pub use axum::body::{Body, Bytes};
pub use axum::routing::{get, post};
pub use axum::{Json, Router};
pub use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE,
    ORIGIN, RETRY_AFTER, WWW_AUTHENTICATE,
};
pub use http::{Method, Request, Response, StatusCode};
pub use http_body_util::BodyExt;
pub use serde_json::{Value, json};
pub use tower::ServiceExt;

pub const RESOURCE: &str = "https://api.example.com/mcp";
pub const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
pub const ISSUER: &str = "https://auth.example.com";
pub const REDIRECT: &str = "http://127.0.0.1/cb";
pub const BROWSER: &str = "http://localhost:6274";
/// The 401 challenge for a request without a token.
pub const NO_TOKEN: &str = r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools""#;
/// The 403 challenge for a token without `mcp:admin` or without `mcp:tools`.
pub const NEEDS_TOOLS_AND_ADMIN: &str = r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools mcp:admin", error="insufficient_scope", error_description="this request needs the scopes: mcp:tools mcp:admin""#;

/// An authorization server (on a fake clock) and the resource it issues tokens for.
pub struct Env {
    pub oauth: OAuth,
    pub client: Client,
    pub api: ResourceServer,
    pub clock: FakeClock,
}

pub async fn env() -> Env {
    let clock = FakeClock::new();
    let store: Arc<dyn Store> = Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let config = OAuthConfig {
        access_token_ttl: Duration::from_secs(60),
        // Cheap argon2id: these tests use public clients, without secrets.
        secret_hash_memory_kib: 8,
        secret_hash_iterations: 1,
        ..OAuthConfig::default()
    };
    let oauth = OAuth::with_config(store, config, clock.clone()).unwrap();
    let client = oauth
        .register_client(NewClient {
            scopes: vec!["mcp:tools".into(), "mcp:admin".into()],
            ..NewClient::public("inspector", REDIRECT)
        })
        .await
        .unwrap()
        .client;
    let api = ResourceServer::new(
        ResourceConfig::new(RESOURCE, [ISSUER])
            .scopes(["mcp:tools"])
            .supported_scopes(["mcp:admin"]),
        SameStoreValidator::new(oauth.clone()),
    )
    .unwrap();
    Env {
        oauth,
        client,
        api,
        clock,
    }
}

impl Env {
    /// A user's access token for `resource` with `scopes` (code flow with PKCE).
    pub async fn token_for(&self, resource: &str, scopes: &[&str]) -> String {
        let verifier = authstore::secret::random_token().unwrap();
        let code = self
            .oauth
            .issue_code(&AuthorizationRequest {
                client_id: self.client.client_id.clone(),
                redirect_uri: REDIRECT.into(),
                scope: scopes.iter().map(|s| s.to_string()).collect(),
                code_challenge: pkce_challenge(&verifier),
                resources: vec![resource.into()],
                subject: "u-1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        self.oauth
            .exchange_code(&self.client, &code, REDIRECT, &verifier)
            .await
            .unwrap()
            .access_token
    }

    pub async fn token(&self, scopes: &[&str]) -> String {
        self.token_for(RESOURCE, scopes).await
    }

    pub fn app(&self) -> Router {
        router(&self.api, BearerAuthLayer::new(self.api.clone()))
    }
}

pub async fn me(auth: BearerAuth) -> Json<Value> {
    Json(json!({
        "subject": auth.subject,
        "client_id": auth.client_id,
        "scopes": auth.scopes,
        "audience": auth.audience,
        "grant_id": auth.grant_id,
    }))
}

pub async fn maybe(auth: Option<BearerAuth>) -> String {
    match auth {
        Some(auth) => format!("user {}", auth.subject.as_deref().unwrap_or("-")),
        None => "anonymous".into(),
    }
}

pub async fn step_up(auth: BearerAuth) -> Result<&'static str, BearerRejection> {
    auth.require(&["mcp:admin"])?;
    Ok("stepped up")
}

pub fn router(api: &ResourceServer, bearer: BearerAuthLayer) -> Router {
    let tools = McpToolScopes::new()
        .tool("admin_report", ["mcp:admin"])
        .max_body_bytes(4096);
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/step-up", get(step_up))
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireScopes::new(["mcp:admin"])),
        )
        .route(
            "/mcp",
            post(|body: Bytes| async move { body }).route_layer(tools),
        )
        .layer(bearer)
        .layer(mcp_cors())
        .merge(protected_resource_metadata(api))
}

pub async fn send(app: &Router, req: Request<Body>) -> Response<Body> {
    app.clone().oneshot(req).await.unwrap()
}

pub fn get_with(path: &str, token: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(token) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(Body::empty()).unwrap()
}

pub async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    send(app, req).await.status()
}

pub fn mcp_post(token: &str, body: impl Into<Body>) -> Request<Body> {
    post_to_mcp(Some(token), "application/json", body)
}

pub fn post_to_mcp(
    token: Option<&str>,
    content_type: &str,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut req = Request::post("/mcp").header(CONTENT_TYPE, content_type);
    if let Some(token) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(body.into()).unwrap()
}

/// A CORS preflight from the browser client, without a token.
pub fn preflight(path: &str, method: &str, headers: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri(path)
        .header(ORIGIN, BROWSER)
        .header(ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(Body::empty())
        .unwrap()
}

pub fn header(res: &Response<Body>, name: impl http::header::AsHeaderName) -> &str {
    res.headers().get(name).unwrap().to_str().unwrap()
}

pub async fn bytes(res: Response<Body>) -> Bytes {
    res.into_body().collect().await.unwrap().to_bytes()
}

pub async fn json_body(res: Response<Body>) -> Value {
    serde_json::from_slice(&bytes(res).await).unwrap()
}

pub fn invalid_token(description: &str) -> String {
    format!(
        r#"Bearer resource_metadata="{METADATA_URL}", scope="mcp:tools", error="invalid_token", error_description="{description}""#
    )
}

/// A refusal: status, the exact challenge, JSON, never cached.
pub fn assert_refused(res: &Response<Body>, status: StatusCode, www_authenticate: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(header(res, WWW_AUTHENTICATE), www_authenticate);
    assert_eq!(header(res, CONTENT_TYPE), "application/json");
    assert_eq!(header(res, CACHE_CONTROL), "no-store");
}

/// A JSON-RPC `tools/call` of `tool`.
pub fn tool_call(id: u64, tool: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": { "name": tool, "arguments": { "period": "2024-Q4" } },
    })
}
