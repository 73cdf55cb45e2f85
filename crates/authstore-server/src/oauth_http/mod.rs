//! The OAuth 2.1 HTTP surface: discovery documents (RFC 8414, RFC 9728), the token, revocation, introspection and registration endpoints, the JWK set, and the pages.

mod register;
mod token;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

/// Every OAuth route and page, on `state`.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    if let Some(path) = resource_metadata_path(state.settings()) {
        router = router.route(&path, get(protected_resource));
    }
    router
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/token", post(token::token))
        .route("/revoke", post(token::revoke))
        .route("/introspect", post(token::introspect))
        .route("/register", post(register::register))
        .route("/jwks", get(jwks))
        .merge(crate::pages::router(&state))
        .with_state(state)
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
    Json(doc)
}

/// The path of the RFC 9728 metadata of the configured resource, when
/// `serve_resource_metadata` is on (`https://h/mcp` →
/// `/.well-known/oauth-protected-resource/mcp`).
fn resource_metadata_path(settings: &crate::state::Settings) -> Option<String> {
    if !settings.serve_resource_metadata {
        return None;
    }
    let url = authstore::oauth::resource::metadata_url(settings.resource.as_deref()?).ok()?;
    let start = url.find("/.well-known/")?;
    Some(url[start..].to_owned())
}

/// RFC 9728 protected resource metadata for the configured resource: its
/// authorization server is this one; `offline_access` is not advertised
/// (it concerns the authorization server, not the resource).
async fn protected_resource(State(state): State<AppState>) -> Response {
    let settings = state.settings();
    let Some(resource) = &settings.resource else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let scopes: Vec<&String> = settings
        .scopes_supported
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
