//! The OAuth 2.1 HTTP surface: discovery documents (RFC 8414, RFC 9728, OpenID Connect Discovery), the token, revocation, introspection, registration and userinfo endpoints, the JWK set, and the pages, all under the issuer's path.

mod basic;
mod cors;
mod oidc;
mod register;
mod token;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use serde_json::json;

use crate::state::AppState;

pub(crate) use oidc::bearer;

/// Every OAuth route and page, on `state`.
///
/// The endpoints live under the issuer's path (`/tenant/token` for issuer
/// `https://as.example/tenant`); the metadata documents are served at
/// their path-inserted well-known URLs (RFC 8414 §3.1,
/// `/.well-known/oauth-authorization-server/tenant`) and, for OpenID
/// Connect, at the issuer-appended one too
/// (`/tenant/.well-known/openid-configuration`). The metadata documents
/// and the endpoints browsers call get CORS (see the `cors` module); the pages,
/// `/authorize` and `/introspect` never do.
pub fn router(state: AppState) -> Router<()> {
    let settings = state.settings();
    let base = settings.issuer_path().to_owned();
    let mut documents = Router::new().route(
        &format!("/.well-known/oauth-authorization-server{base}"),
        get(metadata),
    );
    let mut browser = Router::new()
        .route("/token", post(token::token))
        .route("/revoke", post(token::revoke))
        .route("/register", post(register::register))
        .route("/jwks", get(jwks));
    if settings.openid {
        documents = documents.route(
            &format!("/.well-known/openid-configuration{base}"),
            get(oidc::openid_configuration),
        );
        if !base.is_empty() {
            documents = documents.route(
                &format!("{base}/.well-known/openid-configuration"),
                get(oidc::openid_configuration),
            );
        }
        browser = browser.route("/userinfo", get(oidc::userinfo).post(oidc::userinfo));
    }
    for (path, resource) in resource_metadata_paths(settings) {
        documents = documents.route(
            &path,
            get(move |State(state): State<AppState>| protected_resource(state, resource.clone())),
        );
    }
    let endpoints = Router::new()
        .route("/introspect", post(token::introspect))
        .merge(browser.layer(cors::layer()))
        .merge(crate::pages::router(&state));
    let endpoints = if base.is_empty() {
        endpoints
    } else {
        Router::new().nest(&base, endpoints)
    };
    documents
        .layer(cors::layer())
        .merge(endpoints)
        .layer(axum::middleware::map_response(retry_after_when_unavailable))
        .with_state(state)
}

/// Every `503` of these routes (the store is unreachable, or a queue is
/// full) tells the client when to try again: `Retry-After: 1` unless the
/// answer already names a wait.
async fn retry_after_when_unavailable(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(RETRY_AFTER)
            .or_insert(HeaderValue::from_static("1"));
    }
    response
}

/// RFC 8414 authorization server metadata; `issuer` is the configured issuer.
async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    let settings = state.settings();
    let issuer = &settings.issuer;
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": settings.scopes_supported,
        "authorization_response_iss_parameter_supported": true,
    });
    if settings.registration {
        doc["registration_endpoint"] = json!(format!("{issuer}/register"));
    }
    if state.client_metadata().is_some() {
        doc["client_id_metadata_document_supported"] = json!(true);
    }
    if settings.openid {
        doc["userinfo_endpoint"] = json!(format!("{issuer}/userinfo"));
    }
    Json(doc)
}

/// The paths of the RFC 9728 metadata of the configured resources, when
/// `serve_resource_metadata` is on (`https://h/mcp` →
/// `/.well-known/oauth-protected-resource/mcp`), with their resource; of
/// two resources with one path (on different hosts), the first.
fn resource_metadata_paths(settings: &crate::settings::Settings) -> Vec<(String, String)> {
    if !settings.serve_resource_metadata {
        return Vec::new();
    }
    let mut paths: Vec<(String, String)> = Vec::new();
    for resource in crate::resources::served(settings) {
        if let Some(path) = crate::resources::metadata_path(&resource)
            && !paths.iter().any(|(p, _)| *p == path)
        {
            paths.push((path, resource));
        }
    }
    paths
}

/// RFC 9728 protected resource metadata for a configured resource: its
/// authorization server is this one, its scopes those of its
/// `[[resources]]` entry (or every advertised one); `offline_access` is
/// not advertised (it concerns the authorization server, not the resource).
async fn protected_resource(state: AppState, resource: String) -> Response {
    let settings = state.settings();
    let own = state
        .oauth()
        .config()
        .resources
        .get(&resource)
        .and_then(|r| r.scopes());
    let scopes: Vec<&String> = own
        .unwrap_or(&settings.scopes_supported)
        .iter()
        .filter(|s| *s != "offline_access")
        .collect();
    Json(json!({
        "resource": resource,
        "authorization_servers": [settings.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

/// The JWK set: the Ed25519 keys that sign JWT access tokens (empty until
/// the first one is issued, and always with opaque tokens).
async fn jwks(State(state): State<AppState>) -> Response {
    match state.oauth().jwks().await {
        Ok(set) => Json(set).into_response(),
        Err(e) => token::OAuthReply::from(e).into_response(),
    }
}
