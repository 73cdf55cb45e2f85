//! OpenID Connect endpoints: `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0) and `/userinfo` (bearer tokens with the `openid` scope; RFC 6750 challenges).

use authstore::oauth::{OPENID_SCOPE, SigningAlg};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use crate::pages::profile;
use crate::state::AppState;

/// The claims an ID token or `/userinfo` may carry.
const CLAIMS_SUPPORTED: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "preferred_username",
    "email",
    "email_verified",
];

/// The algorithms ID tokens can be signed with, the OpenID Connect default first.
const ID_TOKEN_ALGS: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

/// OpenID Provider metadata: the RFC 8414 document plus the OpenID
/// Connect members (`userinfo_endpoint`, `subject_types_supported`,
/// `id_token_signing_alg_values_supported`, `claims_supported`, …).
///
/// `id_token_signing_alg_values_supported` lists every algorithm a client
/// may register as its `id_token_signed_response_alg`, `RS256` (the
/// default) first.
pub(super) async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    let Json(mut doc) = super::metadata(State(state.clone())).await;
    let issuer = &state.settings().issuer;
    let extra = json!({
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ID_TOKEN_ALGS,
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
        doc.extend(extra);
    }
    Json(doc)
}

/// A refused `/userinfo` request: `401` or `403` with an RFC 6750 §3 challenge.
fn challenge(status: StatusCode, error: Option<(&str, &str)>) -> Response {
    let (header, body) = match error {
        None => ("Bearer".to_owned(), json!({ "error": "invalid_request" })),
        Some((code, description)) => {
            let mut header =
                format!("Bearer error=\"{code}\", error_description=\"{description}\"");
            if code == "insufficient_scope" {
                header.push_str(&format!(", scope=\"{OPENID_SCOPE}\""));
            }
            (
                header,
                json!({ "error": code, "error_description": description }),
            )
        }
    };
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The bearer token of `Authorization` (RFC 6750 §2.1; the scheme in any case).
/// `None` without the header, `Err` for one that is not a bearer token.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(AUTHORIZATION)?;
    let parsed = value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
            .then_some(token)
    });
    Some(parsed.ok_or(()))
}

/// `GET`/`POST /userinfo`: `sub`, plus `preferred_username` with the
/// `profile` scope and `email` (unverified) with the `email` scope, when the
/// user's login name is an address.
pub(super) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = match bearer(&headers) {
        None => return challenge(StatusCode::UNAUTHORIZED, None),
        Some(Err(())) => {
            return challenge(
                StatusCode::BAD_REQUEST,
                Some(("invalid_request", "malformed Authorization header")),
            );
        }
        Some(Ok(token)) => token,
    };
    let invalid = || {
        challenge(
            StatusCode::UNAUTHORIZED,
            Some((
                "invalid_token",
                "the access token is unknown, expired or revoked",
            )),
        )
    };
    let access = match state.oauth().access_token(token).await {
        Ok(Some(access)) => access,
        Ok(None) => return invalid(),
        Err(e) => return super::token::OAuthReply::from(e).into_response(),
    };
    let Some(subject) = access.subject.as_deref() else {
        return invalid();
    };
    if !access.scopes.iter().any(|s| s == OPENID_SCOPE) {
        return challenge(
            StatusCode::FORBIDDEN,
            Some((
                "insufficient_scope",
                "the access token lacks the openid scope",
            )),
        );
    }
    let mut claims = json!({ "sub": subject });
    let has = |scope: &str| access.scopes.iter().any(|s| s == scope);
    if has("profile") || has("email") {
        match profile::load(&**state.store(), subject).await {
            Ok(Some(p)) => {
                if has("profile") {
                    claims["preferred_username"] = json!(p.preferred_username);
                }
                if has("email")
                    && let Some(email) = p.email()
                {
                    claims["email"] = json!(email);
                    claims["email_verified"] = json!(false);
                }
            }
            Ok(None) => {}
            Err(e) => return super::token::OAuthReply::from(e).into_response(),
        }
    }
    let mut response = Json(claims).into_response();
    no_store(&mut response);
    response
}
