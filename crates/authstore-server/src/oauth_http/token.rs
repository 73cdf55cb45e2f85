//! The machine endpoints: `/token` (authorization_code, refresh_token, client_credentials), `/revoke` (RFC 7009) and `/introspect` (RFC 7662), with client authentication and RFC error bodies.

use std::collections::HashMap;
use std::time::Duration;

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::cimd::ResolveError;
use authstore::oauth::{Client, ClientCheck, ClientCredentials, OAuthError, RevokeOutcome};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;

use super::basic::{BasicHeader, basic_credentials};
use crate::machine::{LimitKind, TokenKind};
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
    /// Sent as `Retry-After` (whole seconds, at least 1).
    retry_after: Option<Duration>,
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
            retry_after: None,
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl From<OAuthError> for OAuthReply {
    fn from(e: OAuthError) -> Self {
        if e.is_busy() {
            // Not a warning per request: a flood would turn it into a log flood.
            tracing::debug!("the client secret hasher's queue is full: answered 503");
        } else if let OAuthError::Store(inner) = &e {
            tracing::error!(error = %inner, "store failed during an OAuth request");
        }
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            retry_after: e.retry_after(),
            ..Self::new(status, e.code(), e.description())
        }
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
        if let Some(after) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
        }
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
            // RFC 8707 §2 lets `resource` repeat; a token here has one audience.
            if key == "resource" {
                return Err(OAuthReply::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_target",
                    "a token is for one resource: name one",
                ));
            }
            return Err(OAuthReply::invalid_request(format!(
                "parameter {key} is repeated"
            )));
        }
    }
    Ok(FormParams(params))
}

/// The request's client, for audit events: IP and `User-Agent`.
fn audit_client(state: &AppState, parts: &Parts) -> (Option<String>, Option<String>) {
    let ip = state.client_ip(parts).map(|ip| ip.to_string());
    let agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect());
    (ip, agent)
}

/// `429 Too Many Requests` for a client refused by `kind`, audited once a minute per key.
async fn rate_limited(
    state: &AppState,
    parts: &Parts,
    kind: LimitKind,
    key: &str,
    client_id: &str,
    retry_after: Duration,
) -> OAuthReply {
    if state.machine_limits().first_refusal(kind, key).await {
        let (ip, agent) = audit_client(state, parts);
        state
            .audit(
                AuditEvent::new("oauth.client_rate_limited", Outcome::Denied)
                    .resource(client_id.chars().take(128).collect::<String>())
                    .client(ip, agent)
                    .meta("limit", kind.as_str())
                    .meta("retry_after_secs", retry_after.as_secs()),
            )
            .await;
    }
    let what = match kind {
        LimitKind::Ip => "too many requests from this address",
        LimitKind::ClientIdFromIp | LimitKind::ClientId => {
            "too many failed authentications of this client"
        }
    };
    OAuthReply {
        retry_after: Some(retry_after),
        ..OAuthReply::new(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            format!("{what}; retry after {} s", retry_after.as_secs().max(1)),
        )
    }
}

/// Client authentication: HTTP Basic (`client_secret_basic`), or
/// `client_id` + `client_secret` in the form (`client_secret_post`), or a
/// public client's bare `client_id`. Using both methods at once is refused,
/// and so is a method other than the client's own.
///
/// Cheapest first: a secret this process saw pass for the client skips
/// every limit (and, if verified recently, argon2id too); any other request
/// counts against the client IP's limit before the client is read. Then an
/// unknown client id, a wrong method or an expired secret is refused
/// without argon2id, and a secret that needs argon2id and never passed
/// before counts against the client id's limits. A full argon2id queue
/// answers 503 with `Retry-After`.
pub(crate) async fn authenticate(
    state: &AppState,
    parts: &Parts,
    form: &FormParams,
) -> Result<Client, OAuthReply> {
    let basic = basic_credentials(&parts.headers);
    let invalid_client = |basic_challenge: bool| OAuthReply {
        basic_challenge,
        ..OAuthReply::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    };
    let (client_id, secret, via_basic) = match basic {
        BasicHeader::Malformed => return Err(invalid_client(true)),
        BasicHeader::Credentials { client_id, secret } => {
            if form.get("client_secret").is_some() {
                return Err(OAuthReply::invalid_request(
                    "use one client authentication method",
                ));
            }
            (client_id, Some(secret), true)
        }
        BasicHeader::Absent => {
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
    let presented = match (&secret, via_basic) {
        (None, _) => ClientCredentials::None,
        (Some(s), true) => ClientCredentials::Basic(s),
        (Some(s), false) => ClientCredentials::Post(s),
    };
    let refused = |e: OAuthError| match e {
        OAuthError::InvalidClient => invalid_client(via_basic),
        e => e.into(),
    };
    // A secret this process saw pass for this client is exempt from the
    // limits; anything else counts against the address before the client
    // is even read from the store.
    let remembered = secret
        .as_deref()
        .is_some_and(|s| state.oauth().remembers_secret(&client_id, s));
    let ip = state.client_ip_key(parts);
    if !remembered && let Some(retry) = state.machine_limits().check_ip(&ip).await? {
        return Err(rate_limited(state, parts, LimitKind::Ip, &ip, &client_id, retry).await);
    }
    // A URL client id is resolved by its metadata document (cached, or
    // fetched now) before the client is read; a refused document is an
    // unknown client, with the reason.
    if let Some(resolver) = state.client_metadata()
        && authstore::oauth::cimd::is_document_url(&client_id)
        && let Err(e) = resolver.resolve(&client_id, &ip).await
    {
        return Err(match e {
            ResolveError::Refused(refusal) => OAuthReply {
                basic_challenge: via_basic,
                ..OAuthReply::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    refusal.to_string(),
                )
            },
            ResolveError::Busy { retry_after, .. } => OAuthReply {
                retry_after: Some(retry_after),
                ..OAuthReply::new(StatusCode::TOO_MANY_REQUESTS, e.code(), e.description())
            },
            e => {
                tracing::error!(error = %e, "store failed while resolving a client metadata document");
                OAuthReply::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.description())
            }
        });
    }
    let checked = state.oauth().check_client(&client_id, presented).await;
    match checked.map_err(refused)? {
        ClientCheck::Authenticated { client, .. } => Ok(client),
        ClientCheck::Verify(check) => {
            if !check.verified_before()
                && let Some((kind, retry)) =
                    state.machine_limits().check_client(&client_id, &ip).await?
            {
                let key = match kind {
                    LimitKind::ClientIdFromIp => format!("{client_id}|{ip}"),
                    _ => client_id.clone(),
                };
                return Err(rate_limited(state, parts, kind, &key, &client_id, retry).await);
            }
            check.verify().await.map_err(refused)
        }
    }
}

/// `POST /token`.
pub(crate) async fn token(State(state): State<AppState>, parts: Parts, body: Body) -> Response {
    match token_inner(&state, &parts, body).await {
        Ok(response) => response,
        Err(reply) => reply.into_response(),
    }
}

/// Records a reused code or refresh token (the grant was revoked).
async fn audit_reuse(state: &AppState, parts: &Parts, client: &Client, error: &OAuthError) {
    let Some(reused) = error.reused_credential() else {
        return;
    };
    let action = match reused {
        "code" => "oauth.code_reuse",
        _ => "oauth.refresh_reuse",
    };
    let (ip, agent) = audit_client(state, parts);
    state
        .audit(
            AuditEvent::new(action, Outcome::Denied)
                .resource(&client.client_id)
                .client(ip, agent)
                .meta("grant", "revoked"),
        )
        .await;
}

async fn token_inner(state: &AppState, parts: &Parts, body: Body) -> Result<Response, OAuthReply> {
    let form = read_form(&parts.headers, body).await?;
    let grant_type = form.required("grant_type")?;
    let oauth = state.oauth();
    // A code is read while the client authenticates (a read, no write), so
    // that its redemption then needs only the one commit.
    let code = form
        .get("code")
        .filter(|_| grant_type == "authorization_code");
    let (client, read) = tokio::join!(authenticate(state, parts, &form), async {
        match code {
            Some(code) => oauth.read_code(code).await.ok(),
            None => None,
        }
    });
    let client = client?;
    let tokens = match grant_type {
        "authorization_code" => {
            let code = form.required("code")?;
            let redirect_uri = form.required("redirect_uri")?;
            let verifier = form.required("code_verifier")?;
            let resource = form.get("resource");
            let tokens = match read {
                Some(read) => {
                    oauth
                        .exchange_code_read(&client, read, code, (redirect_uri, verifier), resource)
                        .await
                }
                None => {
                    oauth
                        .exchange_code_for(&client, code, redirect_uri, verifier, resource)
                        .await
                }
            };
            if let Err(e) = &tokens {
                if matches!(e, OAuthError::InvalidGrant(why) if why.revokes_grant()) {
                    state.metrics().grant_revoked();
                }
                audit_reuse(state, parts, &client, e).await;
            }
            let tokens = tokens?;
            state.metrics().grant_issued();
            tokens
        }
        "refresh_token" => {
            let refresh_token = form.required("refresh_token")?;
            let scope = form.scope();
            let tokens = oauth
                .refresh_for(
                    &client,
                    refresh_token,
                    scope.as_deref(),
                    form.get("resource"),
                )
                .await;
            if let Err(e) = &tokens {
                if matches!(e, OAuthError::InvalidGrant(why) if why.revokes_grant()) {
                    state.metrics().grant_revoked();
                }
                audit_reuse(state, parts, &client, e).await;
            }
            tokens?
        }
        "client_credentials" => {
            let scope = form.scope();
            let tokens = oauth
                .client_credentials_for(&client, scope.as_deref(), form.get("resource"))
                .await?;
            state.metrics().grant_issued();
            tokens
        }
        _ => return Err(OAuthError::UnsupportedGrantType.into()),
    };
    let mut response = Json(tokens).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// `POST /revoke` (RFC 7009): 200 for a revoked or unknown token, and for
/// another client's token, which stays untouched (§2.1: the server checks
/// that the token was issued to the client; §2.2: an invalid token is no
/// error).
pub(crate) async fn revoke(State(state): State<AppState>, parts: Parts, body: Body) -> Response {
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        let token = form.required("token")?;
        let client = authenticate(&state, &parts, &form).await?;
        let outcome = state.oauth().revoke(&client, token).await?;
        let event = match outcome {
            RevokeOutcome::Revoked => {
                state.metrics().grant_revoked();
                Some(AuditEvent::new("oauth.token_revoked", Outcome::Success))
            }
            RevokeOutcome::NotFound => None,
            RevokeOutcome::WrongClient => Some(
                AuditEvent::new("oauth.revoke_refused", Outcome::Denied)
                    .meta("reason", "the token was issued to another client"),
            ),
        };
        if let Some(event) = event {
            let (ip, agent) = audit_client(&state, &parts);
            let mut event = event.resource(&client.client_id).client(ip, agent);
            if let Some(hint) = form.get("token_type_hint") {
                event = event.meta("token_type_hint", hint.chars().take(32).collect::<String>());
            }
            state.audit(event).await;
        }
        Ok::<_, OAuthReply>(StatusCode::OK.into_response())
    };
    result.await.unwrap_or_else(OAuthReply::into_response)
}

/// `POST /introspect` (RFC 7662): the caller authenticates as a
/// confidential client, and learns about a token only as
/// [`IntrospectionPolicy`](crate::machine::IntrospectionPolicy) allows: a
/// resource server sees its own audience's access tokens, a trusted
/// introspector every token; everything else, and any token for a client
/// that is neither, is `{"active": false}` (§2.2). Active access tokens
/// have `token_type` `Bearer`; refresh tokens (trusted introspectors only)
/// have none.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    parts: Parts,
    body: Body,
) -> Response {
    let result = async {
        let form = read_form(&parts.headers, body).await?;
        let token = form.required("token")?;
        let client = authenticate(&state, &parts, &form).await?;
        if !client.is_confidential() {
            return Err(OAuthReply::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection needs a confidential client",
            ));
        }
        let settings = state.settings();
        let policy = &settings.introspection;
        let info = if policy.may_introspect(&client.client_id) {
            state.oauth().introspect(token).await?
        } else {
            tracing::debug!(
                client_id = %client.client_id,
                "introspection by a client that is neither a resource server nor trusted: inactive"
            );
            None
        };
        let body = match info {
            Some(info) => {
                let kind = if info.token_type == "refresh_token" {
                    TokenKind::Refresh
                } else {
                    TokenKind::Access
                };
                let visible = policy.may_see(
                    &client.client_id,
                    kind,
                    info.aud.as_deref(),
                    settings.resource.as_deref(),
                );
                let value = serde_json::to_value(info).ok().filter(|_| visible);
                match value {
                    Some(mut value) => {
                        value["iss"] = json!(settings.issuer);
                        match kind {
                            TokenKind::Access => value["token_type"] = json!("Bearer"),
                            TokenKind::Refresh => {
                                if let Some(map) = value.as_object_mut() {
                                    map.remove("token_type");
                                }
                            }
                        }
                        value
                    }
                    None => json!({ "active": false }),
                }
            }
            None => json!({ "active": false }),
        };
        let mut response = Json(body).into_response();
        no_store(response.headers_mut());
        Ok(response)
    };
    result.await.unwrap_or_else(OAuthReply::into_response)
}
