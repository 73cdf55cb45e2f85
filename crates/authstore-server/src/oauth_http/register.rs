//! `POST /register`: RFC 7591 dynamic client registration under a policy (open registration creates public clients with scopes from the registration set; an initial access token unlocks confidential ones), rate-limited per client IP, audited, with clients that expire unless used.

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::{
    AuthMethod, Client, ClientOrigin, GrantType, NewClient, OAuthError,
    id_token_signed_response_alg,
};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, USER_AGENT, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
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
    /// OpenID Connect Dynamic Client Registration §2.
    #[serde(default)]
    id_token_signed_response_alg: Option<serde_json::Value>,
}

/// Who is registering: anyone, or the holder of an initial access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Trusted,
}

/// A registration refused: the reply, and the outcome and reason for the audit log.
struct Refused {
    reply: Box<Response>,
    outcome: Outcome,
    reason: String,
}

impl Refused {
    fn metadata(description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            reply: Box::new(
                OAuthReply::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_client_metadata",
                    description.clone(),
                )
                .into_response(),
            ),
            outcome: Outcome::Denied,
            reason: description,
        }
    }

    /// 401 with an RFC 6750 challenge; `error` is `Some("invalid_token")`
    /// for a token that was presented and is wrong (§3.1: none for a
    /// request without one).
    fn unauthorized(error: Option<&str>, description: &str) -> Self {
        let mut reply =
            OAuthReply::new(StatusCode::UNAUTHORIZED, "invalid_token", description).into_response();
        let challenge = match error {
            Some(code) => format!("Bearer realm=\"authstore\", error=\"{code}\""),
            None => "Bearer realm=\"authstore\"".to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            reply.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        Self {
            reply: Box::new(reply),
            outcome: Outcome::Denied,
            reason: description.to_owned(),
        }
    }
}

impl From<OAuthError> for Refused {
    fn from(e: OAuthError) -> Self {
        let reason = e.description();
        let outcome = match e {
            OAuthError::Store(_) => Outcome::Failure,
            _ => Outcome::Denied,
        };
        Self {
            reply: Box::new(OAuthReply::from(e).into_response()),
            outcome,
            reason,
        }
    }
}

/// The caller, from the `Authorization` header: none is anonymous; a
/// configured initial access token as `Bearer` is trusted; anything else is
/// refused, since a client that sends a token expects it to count.
fn caller(parts: &Parts, state: &AppState) -> Result<Caller, Refused> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let tokens = &state.settings().registration_tokens;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        Some(token) if !tokens.is_empty() && tokens.accepts(token) => Ok(Caller::Trusted),
        Some(_) if tokens.is_empty() => Err(Refused::unauthorized(
            Some("invalid_token"),
            "this server has no initial access token; register without an Authorization header",
        )),
        Some(_) => Err(Refused::unauthorized(
            Some("invalid_token"),
            "the initial access token is not valid",
        )),
        None => Err(Refused::unauthorized(
            Some("invalid_token"),
            "the Authorization header must be \"Bearer <initial access token>\"",
        )),
    }
}

/// What open registration allows, in words, for refusals.
fn needs_token(state: &AppState, what: &str) -> String {
    if state.settings().registration_tokens.is_empty() {
        format!(
            "{what} is not available through open registration, which creates public clients (token_endpoint_auth_method \"none\", grant types authorization_code and refresh_token) only; the operator provisions confidential clients"
        )
    } else {
        format!(
            "{what} needs an initial access token (Authorization: Bearer); without one, registration creates public clients (token_endpoint_auth_method \"none\", grant types authorization_code and refresh_token) only"
        )
    }
}

/// The client the metadata describes, if the policy allows it for `caller`.
fn new_client(meta: Metadata, caller: Caller, state: &AppState) -> Result<NewClient, Refused> {
    let auth_method = match meta.token_endpoint_auth_method.as_deref() {
        None | Some("none") => AuthMethod::None,
        Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some(other) => {
            return Err(Refused::metadata(format!(
                "unsupported token_endpoint_auth_method {other:?} (supported: none, client_secret_basic, client_secret_post)"
            )));
        }
    };
    if auth_method != AuthMethod::None && caller == Caller::Anonymous {
        return Err(Refused::metadata(needs_token(
            state,
            &format!(
                "token_endpoint_auth_method {:?} (a confidential client)",
                auth_method.as_str()
            ),
        )));
    }
    let grant_types = match meta.grant_types {
        None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        Some(names) => names
            .iter()
            .map(|name| match name.as_str() {
                "authorization_code" => Ok(GrantType::AuthorizationCode),
                "refresh_token" => Ok(GrantType::RefreshToken),
                "client_credentials" => Ok(GrantType::ClientCredentials),
                other => Err(Refused::metadata(format!(
                    "unsupported grant type {other:?} (supported: authorization_code, refresh_token{})",
                    if caller == Caller::Trusted {
                        ", client_credentials"
                    } else {
                        ""
                    }
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if grant_types.contains(&GrantType::ClientCredentials) {
        if caller == Caller::Anonymous {
            return Err(Refused::metadata(needs_token(
                state,
                "the grant type client_credentials",
            )));
        }
        if auth_method == AuthMethod::None {
            return Err(Refused::metadata(
                "client_credentials needs a confidential client: set token_endpoint_auth_method to client_secret_basic or client_secret_post",
            ));
        }
    }
    let settings = state.settings();
    let allowed = settings
        .registration_scopes
        .as_ref()
        .unwrap_or(&settings.scopes_supported);
    let scopes: Vec<String> = match meta.scope {
        Some(scope) => scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => allowed.clone(),
    };
    let outside: Vec<&str> = scopes
        .iter()
        .filter(|s| !allowed.contains(s))
        .map(String::as_str)
        .collect();
    if !outside.is_empty() {
        return Err(Refused::metadata(format!(
            "scope {:?} is not available to registered clients (allowed: {:?})",
            outside.join(" "),
            allowed.join(" ")
        )));
    }
    let id_token_alg = match meta.id_token_signed_response_alg {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(alg)) => Some(id_token_signed_response_alg(&alg)?),
        Some(_) => {
            return Err(Refused::metadata(
                "id_token_signed_response_alg must be a string: \"RS256\", \"ES256\" or \"EdDSA\"",
            ));
        }
    };
    Ok(NewClient {
        name: meta.client_name.unwrap_or_else(|| "unnamed client".into()),
        redirect_uris: meta.redirect_uris,
        scopes,
        grant_types,
        auth_method,
        secret_ttl: settings.registered_secret_ttl,
        origin: ClientOrigin::Registered,
        id_token_alg,
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
    let ip = state.client_ip_key(&parts);
    match state.registrations().check(&ip, 1).await {
        Ok(decision) if !decision.allowed => {
            let mut response = OAuthReply::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many registrations from this address",
            )
            .into_response();
            let secs = decision.retry_after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
            return response;
        }
        Ok(_) => {}
        Err(e) => return OAuthReply::from(e).into_response(),
    }
    // Every attempt past the rate limit is audited, accepted or refused.
    let event = |outcome: Outcome| {
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        AuditEvent::new("oauth.register", outcome)
            .client(state.client_ip(&parts).map(|ip| ip.to_string()), user_agent)
    };
    let caller = caller(&parts, &state);
    match attempt(&state, caller, body).await {
        Ok(done) => {
            let c = &done.client;
            state
                .audit(
                    event(Outcome::Success)
                        .resource(c.client_id.clone())
                        .meta("initial_access_token", done.caller == Caller::Trusted)
                        .meta("token_endpoint_auth_method", c.auth_method.as_str())
                        .meta(
                            "grant_types",
                            c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                        )
                        .meta("scope", c.scopes.join(" ")),
                )
                .await;
            done.response
        }
        Err(refused) => {
            state
                .audit(event(refused.outcome).meta("reason", refused.reason))
                .await;
            *refused.reply
        }
    }
}

/// A registration that succeeded.
struct Registered {
    response: Response,
    client: Client,
    caller: Caller,
}

/// Everything after the rate limit: the caller, the metadata, the policy
/// and the registration.
async fn attempt(
    state: &AppState,
    caller: Result<Caller, Refused>,
    body: Body,
) -> Result<Registered, Refused> {
    let caller = caller?;
    if caller == Caller::Anonymous && state.settings().registration_requires_token {
        return Err(Refused::unauthorized(
            None,
            "registration needs an initial access token (Authorization: Bearer)",
        ));
    }
    let bytes = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(Refused::metadata(format!(
                "the body exceeds {MAX_BODY_BYTES} bytes"
            )));
        }
    };
    let meta: Metadata = serde_json::from_slice(&bytes)
        .map_err(|e| Refused::metadata(format!("malformed JSON: {e}")))?;
    let new = new_client(meta, caller, state)?;
    let registered = state
        .oauth()
        .register_client_with_ttl(new, state.settings().registered_client_ttl)
        .await?;
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
    if let Some(alg) = c.id_token_alg {
        body["id_token_signed_response_alg"] = json!(alg.as_str());
    }
    if let Some(secret) = &registered.secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(c.secret_expires_at.unwrap_or(0));
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(Registered {
        response,
        client: registered.client,
        caller,
    })
}
