//! The machine endpoints: `/token` (authorization_code, refresh_token, client_credentials), `/revoke` (RFC 7009) and `/introspect` (RFC 7662), with client authentication and RFC error bodies.

use std::collections::HashMap;

use authstore::oauth::{Client, OAuthError, RevokeOutcome};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;

use crate::state::AppState;

/// Largest form body the machine endpoints read.
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;
/// Longest single parameter value accepted.
pub(crate) const MAX_PARAM_BYTES: usize = 4096;

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub(crate) struct OAuthReply {
    status: StatusCode,
    code: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthReply {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl From<OAuthError> for OAuthReply {
    fn from(e: OAuthError) -> Self {
        if let OAuthError::Store(inner) = &e {
            tracing::error!(error = %inner, "store failed during an OAuth request");
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, e.code(), e.description())
    }
}

impl From<authstore::Error> for OAuthReply {
    fn from(e: authstore::Error) -> Self {
        OAuthError::Store(e).into()
    }
}

impl IntoResponse for OAuthReply {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        no_store(response.headers_mut());
        if self.status == StatusCode::UNAUTHORIZED && self.basic_challenge {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"authstore\""),
            );
        }
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A parsed `application/x-www-form-urlencoded` body: each parameter at most once.
pub(crate) struct FormParams(HashMap<String, String>);

impl FormParams {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, OAuthReply> {
        self.get(name)
            .ok_or_else(|| OAuthReply::invalid_request(format!("missing parameter {name}")))
    }

    fn scope(&self) -> Option<Vec<String>> {
        self.get("scope").map(|s| {
            s.split(' ')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }
}

/// Parses a form body of at most [`MAX_FORM_BYTES`], refusing repeated or oversized parameters.
pub(crate) async fn read_form(headers: &HeaderMap, body: Body) -> Result<FormParams, OAuthReply> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthReply::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = http_body_util::Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|_| {
            OAuthReply::invalid_request(format!("the body exceeds {MAX_FORM_BYTES} bytes"))
        })?
        .to_bytes();
    let mut params = HashMap::new();
    for (key, value) in form_urlencoded::parse(&bytes) {
        if value.len() > MAX_PARAM_BYTES {
            return Err(OAuthReply::invalid_request(format!(
                "parameter {key} is too long"
            )));
        }
        if params.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(OAuthReply::invalid_request(format!(
                "parameter {key} is repeated"
            )));
        }
    }
    Ok(FormParams(params))
}

/// Client authentication: HTTP Basic (`client_secret_basic`), or
/// `client_id` + `client_secret` in the form (`client_secret_post`), or a
/// public client's bare `client_id`. Using both methods at once is refused.
pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<Client, OAuthReply> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let invalid_client = |basic_challenge: bool| OAuthReply {
        basic_challenge,
        ..OAuthReply::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    };
    let (client_id, secret, via_basic) = match basic {
        Some(encoded) => {
            if form.get("client_secret").is_some() {
                return Err(OAuthReply::invalid_request(
                    "use one client authentication method",
                ));
            }
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| invalid_client(true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded.
            let unescape = |s: &str| -> String {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (unescape(id), Some(unescape(secret)), true)
        }
        None => {
            let id = form.get("client_id").ok_or_else(|| invalid_client(false))?;
            (
                id.to_owned(),
                form.get("client_secret").map(str::to_owned),
                false,
            )
        }
    };
    if let Some(id) = form.get("client_id")
        && id != client_id
    {
        return Err(OAuthReply::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    match state
        .oauth()
        .authenticate_client(&client_id, secret.as_deref())
        .await
    {
        Ok(client) => Ok(client),
        Err(OAuthError::InvalidClient) => Err(invalid_client(via_basic)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /token`.
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match token_inner(&state, &headers, body).await {
        Ok(response) => response,
        Err(reply) => reply.into_response(),
    }
}

async fn token_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, OAuthReply> {
    let form = read_form(headers, body).await?;
    let grant_type = form.required("grant_type")?;
    let client = authenticate(state, headers, &form).await?;
    let oauth = state.oauth();
    let tokens = match grant_type {
        "authorization_code" => {
            let code = form.required("code")?;
            let redirect_uri = form.required("redirect_uri")?;
            let verifier = form.required("code_verifier")?;
            let tokens = oauth
                .exchange_code(&client, code, redirect_uri, verifier)
                .await;
            if matches!(&tokens, Err(OAuthError::InvalidGrant(why)) if why.contains("revoked")) {
                state.metrics().grant_revoked();
            }
            let tokens = tokens?;
            state.metrics().grant_issued();
            tokens
        }
        "refresh_token" => {
            let refresh_token = form.required("refresh_token")?;
            let scope = form.scope();
            let tokens = oauth
                .refresh(&client, refresh_token, scope.as_deref())
                .await;
            if matches!(&tokens, Err(OAuthError::InvalidGrant(why)) if why.contains("revoked")) {
                state.metrics().grant_revoked();
            }
            tokens?
        }
        "client_credentials" => {
            let scope = form.scope();
            let tokens = oauth.client_credentials(&client, scope.as_deref()).await?;
            state.metrics().grant_issued();
            tokens
        }
        _ => return Err(OAuthError::UnsupportedGrantType.into()),
    };
    let mut response = Json(tokens).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// `POST /revoke` (RFC 7009): 200 for a revoked or unknown token.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let form = read_form(&headers, body).await?;
        let token = form.required("token")?;
        let client = authenticate(&state, &headers, &form).await?;
        match state.oauth().revoke(&client, token).await? {
            RevokeOutcome::Revoked => {
                state.metrics().grant_revoked();
                Ok(StatusCode::OK.into_response())
            }
            RevokeOutcome::NotFound => Ok(StatusCode::OK.into_response()),
            RevokeOutcome::WrongClient => Err(OAuthReply::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "the token was not issued to this client",
            )),
        }
    };
    result.await.unwrap_or_else(OAuthReply::into_response)
}

/// `POST /introspect` (RFC 7662): the caller authenticates as a
/// confidential client; an inactive token is only `{"active": false}`.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let form = read_form(&headers, body).await?;
        let token = form.required("token")?;
        let client = authenticate(&state, &headers, &form).await?;
        if !client.is_confidential() {
            return Err(OAuthReply::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection needs a confidential client",
            ));
        }
        let body = match state.oauth().introspect(token).await? {
            Some(info) => {
                let mut value =
                    serde_json::to_value(info).unwrap_or_else(|_| json!({ "active": false }));
                value["iss"] = json!(state.settings().issuer);
                value
            }
            None => json!({ "active": false }),
        };
        let mut response = Json(body).into_response();
        no_store(response.headers_mut());
        Ok(response)
    };
    result.await.unwrap_or_else(OAuthReply::into_response)
}
