//! `/authorize`: validates the request (errors before the redirect URI is trusted are shown; later ones are redirected only for operator-provisioned clients), then signs in, asks for consent (or uses a remembered one, never for public clients) and redirects with `code`, `state` and `iss` (RFC 9207).

use std::collections::BTreeMap;

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::cimd::{ResolveError, is_document_url};
use authstore::oauth::{AuthorizationRequest, Client, ClientOrigin, OAuthError};
use authstore::session::SessionUser;
use authstore_axum::RequestSession;
use axum::extract::rejection::StringRejection;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use http::request::Parts;

use super::{
    LoginForm, client_of, csrf_token, error_page, login_page, redirect_host, render_to,
    unreadable_body,
};
use crate::state::AppState;

/// Longest accepted parameter value.
const MAX_PARAM: usize = 2048;

/// The parameters of an authorization request that are carried through login and consent.
const CARRIED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
];

/// A checked authorization request.
#[derive(Debug)]
pub(super) struct Checked {
    client: Client,
    redirect_uri: String,
    scope: Vec<String>,
    state: Option<String>,
    code_challenge: String,
    /// The resources (RFC 8707) of the request, its default if it named none.
    resources: Vec<String>,
    /// OpenID Connect `nonce`, `prompt` and `max_age`.
    oidc: super::oidc::OidcParams,
    params: BTreeMap<String, String>,
}

impl Checked {
    /// The client.
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// The redirect URI, checked against the client's.
    pub(super) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}

/// Why a request cannot proceed: shown to the user (the redirect URI is not
/// trusted yet, or the client is not the operator's) or sent back to the client.
pub(super) enum Refusal {
    Show(StatusCode, String),
    Redirect(Response),
}

/// Parses `key=value&…`, refusing repeated or oversized parameters (RFC 6749 §3.1).
/// Only `resource` may repeat (RFC 8707 §2): its values are kept
/// space-separated (a resource indicator has no spaces), at most
/// [`MAX_RESOURCES`](authstore::oauth::MAX_RESOURCES) of them.
pub(crate) fn parse_params(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let max = if key == "resource" {
            MAX_PARAM * authstore::oauth::MAX_RESOURCES
        } else {
            MAX_PARAM
        };
        if value.len() > max || key.len() > 64 {
            return Err(format!("parameter {key:.64} is too long"));
        }
        if key == "resource"
            && let Some(earlier) = params.get_mut("resource")
        {
            if earlier.len() + value.len() >= max {
                return Err("parameter resource is too long".into());
            }
            earlier.push(' ');
            earlier.push_str(&value);
            continue;
        }
        if params
            .insert(key.into_owned(), value.into_owned())
            .is_some()
        {
            return Err("a parameter is repeated".into());
        }
    }
    Ok(params)
}

/// The client's redirect URI with `params` appended to its query.
pub(crate) fn redirect_to(uri: &str, params: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{uri}{separator}{}", query.finish())).into_response()
}

/// An error for the client: redirected to it only when the operator
/// provisioned it. A dynamically registered client's redirect URI was
/// chosen by whoever registered it, so redirecting there without any
/// interaction would make this server an open redirector (RFC 9700
/// §4.11.2): the user sees the error page instead.
fn refuse(
    state: &AppState,
    client: &Client,
    uri: &str,
    (status, code, description): (StatusCode, &str, &str),
    client_state: Option<&str>,
) -> Refusal {
    if client.origin == ClientOrigin::Operator {
        return error_redirect(state, uri, code, description, client_state);
    }
    Refusal::Show(
        status,
        format!("The application's request cannot be completed: {description} ({code})."),
    )
}

fn error_redirect(
    state: &AppState,
    uri: &str,
    code: &str,
    description: &str,
    client_state: Option<&str>,
) -> Refusal {
    let mut params = vec![
        ("error", code),
        ("error_description", description),
        ("iss", state.settings().issuer.as_str()),
    ];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    Refusal::Redirect(redirect_to(uri, &params))
}

/// The redirect URI of a request by `client` naming `named`: that one if
/// the client accepts it; none named, the client's only one. Otherwise the
/// description of the `invalid_request` error, which is shown, never
/// redirected (RFC 6749 §4.1.2.1).
fn redirect_uri_of(client: &Client, named: Option<&str>) -> Result<String, &'static str> {
    match named {
        Some(uri) if client.accepts_redirect(uri) => Ok(uri.to_owned()),
        Some(_) => Err("the redirect URI is not registered for this client"),
        None if client.redirect_uris.len() == 1 => Ok(client.redirect_uris[0].clone()),
        None => Err("the request has no redirect_uri"),
    }
}

/// The client of `client_id`. A metadata document fetched for this
/// request is cached only when its client accepts the request's redirect
/// URI: a request refused for its redirect URI leaves nothing cached.
async fn lookup_client(
    state: &AppState,
    client_id: &str,
    redirect_uri: Option<&str>,
    requester: &str,
) -> Result<Option<Client>, ResolveError> {
    match state.client_metadata() {
        Some(resolver) if is_document_url(client_id) => {
            let named = redirect_uri.map(str::to_owned);
            let accept = move |client: &Client| redirect_uri_of(client, named.as_deref()).is_ok();
            resolver
                .resolve_accepting(client_id, requester, accept)
                .await
                .map(Some)
        }
        _ => state.lookup_client(client_id, requester).await,
    }
}

/// Checks an authorization request in RFC 6749 §4.1.2.1's order.
/// `requester` is the client IP's rate-limit key: a URL `client_id` whose
/// metadata document is not cached yet is fetched on its account.
pub(super) async fn check(
    state: &AppState,
    params: BTreeMap<String, String>,
    requester: &str,
) -> Result<Checked, Refusal> {
    let show = |status: StatusCode, message: &str| Refusal::Show(status, message.to_owned());
    let client_id = params
        .get("client_id")
        .ok_or_else(|| show(StatusCode::BAD_REQUEST, "The request has no client_id."))?;
    let named_redirect = params.get("redirect_uri").map(String::as_str);
    let client = match lookup_client(state, client_id, named_redirect, requester).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(show(StatusCode::BAD_REQUEST, "Unknown client.")),
        Err(e @ (ResolveError::Refused(_) | ResolveError::Busy { .. })) => {
            let status = match e {
                ResolveError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err(Refusal::Show(
                status,
                format!(
                    "The application's request cannot be completed: {} ({}).",
                    e.description(),
                    e.code()
                ),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "store failed while loading a client");
            return Err(show(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server cannot reach its store; try again.",
            ));
        }
    };
    let redirect_uri = redirect_uri_of(&client, named_redirect).map_err(|description| {
        Refusal::Show(
            StatusCode::BAD_REQUEST,
            format!(
                "The application's request cannot be completed: {description} (invalid_request)."
            ),
        )
    })?;
    let client_state = params.get("state").cloned();
    let fail = |code: &str, description: &str| {
        refuse(
            state,
            &client,
            &redirect_uri,
            (StatusCode::BAD_REQUEST, code, description),
            client_state.as_deref(),
        )
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let Some(code_challenge) = params.get("code_challenge").cloned() else {
        return Err(fail(
            "invalid_request",
            "PKCE is required: send code_challenge with S256",
        ));
    };
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    let scope: Vec<String> = match params.get("scope") {
        Some(s) => s
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        None => client.scopes.clone(),
    };
    if let Some(bad) = scope.iter().find(|s| !client.scopes.contains(s)) {
        return Err(fail(
            "invalid_scope",
            &format!("scope {bad} is not allowed for this client"),
        ));
    }
    // RFC 8707: each resource known; none named, the default one. Without
    // a `scope`, the client's scopes the resources accept.
    let known = &state.oauth().config().resources;
    let requested: Vec<String> = params
        .get("resource")
        .map(|r| r.split(' ').map(str::to_owned).collect())
        .unwrap_or_default();
    let resources = known
        .for_request(&requested)
        .map_err(|e| fail(e.code(), &e.description()))?;
    let scope = if params.contains_key("scope") {
        scope
    } else {
        let fits = |s: &String| match resources.as_slice() {
            [] => known.accepts(None, s),
            some => some.iter().any(|r| known.accepts(Some(r), s)),
        };
        scope.into_iter().filter(fits).collect()
    };
    known
        .check_grant_scope(&resources, &scope)
        .map_err(|e| fail(e.code(), &e.description()))?;
    let oidc = match super::oidc::OidcParams::parse(&params) {
        Ok(oidc) => oidc,
        Err(description) => return Err(fail("invalid_request", description)),
    };
    let mut carried: BTreeMap<String, String> = params
        .into_iter()
        .filter(|(k, _)| CARRIED.contains(&k.as_str()) || k == "resource")
        .collect();
    carried.insert("redirect_uri".into(), redirect_uri.clone());
    Ok(Checked {
        client,
        redirect_uri,
        scope,
        state: client_state,
        code_challenge,
        resources,
        oidc,
        params: carried,
    })
}

/// Issues the code and redirects back to the client. `auth_time`: when
/// the user signed in (unix seconds), if known.
async fn approve(
    state: &AppState,
    req: &Checked,
    subject: &str,
    auth_time: Option<u64>,
) -> Response {
    let request = AuthorizationRequest {
        nonce: req.oidc.nonce.clone(),
        auth_time,
        client_id: req.client.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.clone(),
        code_challenge: req.code_challenge.clone(),
        resources: req.resources.clone(),
        subject: subject.to_owned(),
    };
    let failure = match state.oauth().issue_code(&request).await {
        Ok(code) => {
            let mut params = vec![
                ("code", code.as_str()),
                ("iss", state.settings().issuer.as_str()),
            ];
            if let Some(s) = &req.state {
                params.push(("state", s));
            }
            return redirect_to(&req.redirect_uri, &params);
        }
        Err(e @ OAuthError::Store(_)) => {
            tracing::error!(error = %e, "store failed while issuing a code");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                e.code(),
                "try again later".to_owned(),
            )
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.code(), e.description()),
    };
    let (status, code, description) = failure;
    refused(
        state,
        refuse(
            state,
            &req.client,
            &req.redirect_uri,
            (status, code, &description),
            req.state.as_deref(),
        ),
    )
}

/// Records a consent decision as a security event.
async fn audit_consent(
    state: &AppState,
    parts: &Parts,
    user: &SessionUser,
    req: &Checked,
    (action, outcome): (&str, Outcome),
    how: &str,
) {
    let (ip, agent) = client_of(state, parts);
    let mut event = AuditEvent::new(action, outcome)
        .user(&user.id)
        .resource(&req.client.client_id)
        .client(ip, agent)
        .meta("scope", req.scope.join(" "))
        .meta("how", how);
    if !req.resources.is_empty() {
        event = event.meta("target", req.resources.join(" "));
    }
    state.audit(event).await;
}

fn refused(state: &AppState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Show(status, message) => error_page(state, status, &message),
        Refusal::Redirect(response) => response,
    }
}

/// `GET /authorize`.
pub(super) async fn authorize(
    State(state): State<AppState>,
    session: RequestSession,
    mut parts: Parts,
    RawQuery(query): RawQuery,
) -> Result<Response, authstore_axum::Error> {
    let raw = query.unwrap_or_default();
    let params = match parse_params(&raw) {
        Ok(p) => p,
        Err(message) => return Ok(error_page(&state, StatusCode::BAD_REQUEST, &message)),
    };
    let after_login = super::oidc::after_login(state.settings().issuer_path(), &params);
    let req = match check(&state, params, &state.client_ip_key(&parts)).await {
        Ok(req) => req,
        Err(refusal) => return Ok(refused(&state, refusal)),
    };
    let user = session.user().await?;
    let auth_time = session.get::<u64>(super::AUTH_TIME).await?;
    let now = state.clock().now_millis() / 1000;
    let sign_in = req.oidc.needs_sign_in(user.is_some(), auth_time, now);
    if sign_in && req.oidc.prompt.none {
        return Ok(refused(
            &state,
            prompt_none_refusal(&state, &req, "login_required"),
        ));
    }
    let (Some(user), false) = (user, sign_in) else {
        let return_to = after_login;
        let csrf = csrf_token(&mut parts, &state).await?;
        let form = LoginForm {
            return_to: &return_to,
            client: Some((&req.client, &req.redirect_uri)),
            error: None,
            username: "",
        };
        return Ok(login_page(&state, StatusCode::OK, &csrf, &form));
    };
    // A public client's id is no proof of who is asking: its requests
    // always show the consent page.
    if req.client.is_confidential() && !req.oidc.prompt.consent {
        match state
            .oauth()
            .has_consent(&user.id, &req.client.client_id, &req.scope, &req.resources)
            .await
        {
            Ok(true) => {
                audit_consent(
                    &state,
                    &parts,
                    &user,
                    &req,
                    ("consent.granted", Outcome::Success),
                    "remembered",
                )
                .await;
                return Ok(approve(&state, &req, &user.id, auth_time).await);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not read remembered consent; asking again");
            }
        }
    }
    if req.oidc.prompt.none {
        return Ok(refused(
            &state,
            prompt_none_refusal(&state, &req, "consent_required"),
        ));
    }
    let csrf = csrf_token(&mut parts, &state).await?;
    let params: Vec<(String, String)> = req.params.clone().into_iter().collect();
    Ok(render_to(
        &state,
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            client_name => req.client.name,
            unverified => req.client.origin != ClientOrigin::Operator,
            document_host => (req.client.origin == ClientOrigin::MetadataDocument)
                .then(|| redirect_host(&req.client.client_id)),
            redirect_host => redirect_host(&req.redirect_uri),
            can_remember => req.client.is_confidential(),
            user => user.email.clone().unwrap_or(user.id.clone()),
            scopes => req.scope,
            resources => req.resources,
            redirect_uri => req.redirect_uri,
            params => params,
            csrf => csrf.token(),
        },
        Some(&req.redirect_uri),
    ))
}

/// `POST /authorize`: the consent form's decision.
pub(super) async fn decide(
    State(state): State<AppState>,
    session: RequestSession,
    mut parts: Parts,
    body: Result<String, StringRejection>,
) -> Result<Response, authstore_axum::Error> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return Ok(unreadable_body(&state, &rejection)),
    };
    let mut params = match parse_params(&body) {
        Ok(p) => p,
        Err(message) => return Ok(error_page(&state, StatusCode::BAD_REQUEST, &message)),
    };
    params.remove("_csrf");
    let decision = params.remove("decision");
    let remember = params.remove("remember").is_some_and(|v| v == "on");
    let req = match check(&state, params, &state.client_ip_key(&parts)).await {
        Ok(req) => req,
        Err(refusal) => return Ok(refused(&state, refusal)),
    };
    let Some(user) = session.user().await? else {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&req.params)
            .finish();
        let return_to = format!("{}/authorize?{query}", state.settings().issuer_path());
        let csrf = csrf_token(&mut parts, &state).await?;
        let form = LoginForm {
            return_to: &return_to,
            client: Some((&req.client, &req.redirect_uri)),
            error: Some("Sign in again to continue."),
            username: "",
        };
        return Ok(login_page(&state, StatusCode::UNAUTHORIZED, &csrf, &form));
    };
    if decision.as_deref() != Some("approve") {
        audit_consent(
            &state,
            &parts,
            &user,
            &req,
            ("consent.denied", Outcome::Denied),
            "asked",
        )
        .await;
        // The user saw the client and its redirect host and chose to go
        // back there: the denial is redirected for every client.
        return Ok(refused(
            &state,
            error_redirect(
                &state,
                &req.redirect_uri,
                "access_denied",
                "the user denied the request",
                req.state.as_deref(),
            ),
        ));
    }
    // Public clients are never remembered (see `authorize`).
    let remembered = remember && req.client.is_confidential();
    if remembered {
        let ttl = state.settings().consent_ttl;
        if let Err(e) = state
            .oauth()
            .remember_consent(
                &user.id,
                &req.client.client_id,
                &req.scope,
                &req.resources,
                ttl,
            )
            .await
        {
            tracing::warn!(error = %e, "could not remember consent");
        }
    }
    audit_consent(
        &state,
        &parts,
        &user,
        &req,
        ("consent.granted", Outcome::Success),
        if remembered {
            "asked, remembered"
        } else {
            "asked"
        },
    )
    .await;
    let auth_time = session.get::<u64>(super::AUTH_TIME).await?;
    Ok(approve(&state, &req, &user.id, auth_time).await)
}

/// The error of a `prompt=none` request that cannot complete without the
/// user (`login_required`, `consent_required`), as any other refusal.
fn prompt_none_refusal(state: &AppState, req: &Checked, code: &str) -> Refusal {
    let description = match code {
        "login_required" => "the user must sign in",
        _ => "the user must approve the request",
    };
    refuse(
        state,
        &req.client,
        &req.redirect_uri,
        (StatusCode::BAD_REQUEST, code, description),
        req.state.as_deref(),
    )
}
