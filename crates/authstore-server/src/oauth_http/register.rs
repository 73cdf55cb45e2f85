//! `POST /register`: RFC 7591 dynamic client registration, rate-limited per client IP, with an expiring secret for confidential clients.

use authstore::oauth::{AuthMethod, ClientOrigin, GrantType, NewClient};
use authstore_axum::{ClientIp, TrustedProxies};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;

use super::token::OAuthReply;
use crate::state::AppState;

/// Largest registration document read.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The RFC 7591 metadata authstore understands; other fields are ignored.
#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

fn metadata_error(description: impl Into<String>) -> OAuthReply {
    OAuthReply::new(
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
        description,
    )
}

fn new_client(meta: Metadata, state: &AppState) -> Result<NewClient, OAuthReply> {
    let auth_method = match meta.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some("none") => AuthMethod::None,
        Some(other) => {
            return Err(metadata_error(format!(
                "unsupported token_endpoint_auth_method {other:?}"
            )));
        }
    };
    let grant_types = match meta.grant_types {
        None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        Some(names) => names
            .iter()
            .map(|name| match name.as_str() {
                "authorization_code" => Ok(GrantType::AuthorizationCode),
                "refresh_token" => Ok(GrantType::RefreshToken),
                "client_credentials" => Ok(GrantType::ClientCredentials),
                other => Err(metadata_error(format!("unsupported grant type {other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let scopes = match meta.scope {
        Some(scope) => scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => state.settings().scopes_supported.clone(),
    };
    Ok(NewClient {
        name: meta.client_name.unwrap_or_else(|| "unnamed client".into()),
        redirect_uris: meta.redirect_uris,
        scopes,
        grant_types,
        auth_method,
        secret_ttl: state.settings().registered_secret_ttl,
        origin: ClientOrigin::Registered,
    })
}

/// `POST /register`.
pub(crate) async fn register(State(state): State<AppState>, parts: Parts, body: Body) -> Response {
    if !state.settings().registration {
        return OAuthReply::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "dynamic registration is disabled",
        )
        .into_response();
    }
    let ip = ClientIp::from_parts(&parts, &TrustedProxies::none())
        .map_or_else(|| "ip:unknown".to_owned(), |ip| ip.key(Some(64)));
    match state.registrations().check(&ip, 1).await {
        Ok(decision) if !decision.allowed => {
            let mut response = OAuthReply::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many registrations from this address",
            )
            .into_response();
            let secs = decision.retry_after.as_secs().max(1).to_string();
            if let Ok(v) = http::HeaderValue::from_str(&secs) {
                response.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
            return response;
        }
        Ok(_) => {}
        Err(e) => return OAuthReply::from(e).into_response(),
    }
    let bytes = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return metadata_error(format!("the body exceeds {MAX_BODY_BYTES} bytes"))
                .into_response();
        }
    };
    let meta: Metadata = match serde_json::from_slice(&bytes) {
        Ok(meta) => meta,
        Err(e) => return metadata_error(format!("malformed JSON: {e}")).into_response(),
    };
    let new = match new_client(meta, &state) {
        Ok(new) => new,
        Err(reply) => return reply.into_response(),
    };
    let registered = match state.oauth().register_client(new).await {
        Ok(r) => r,
        Err(e) => return OAuthReply::from(e).into_response(),
    };
    let c = &registered.client;
    let mut body = json!({
        "client_id": c.client_id,
        "client_id_issued_at": c.created_at,
        "client_name": c.name,
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": ["code"],
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "scope": c.scopes.join(" "),
    });
    if let Some(secret) = &registered.secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(c.secret_expires_at.unwrap_or(0));
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}
