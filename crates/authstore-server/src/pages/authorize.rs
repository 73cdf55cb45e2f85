//! `/authorize`: validates the request (errors before the redirect URI is trusted are shown, later ones redirected), then signs in, asks for consent (or uses a remembered one) and redirects with `code`, `state` and `iss` (RFC 9207).

use std::collections::BTreeMap;

use authstore::oauth::{AuthorizationRequest, Client, OAuthError};
use authstore_axum::{CsrfToken, Session};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;

use super::{error_page, login_page, render};
use crate::state::AppState;

/// Longest accepted parameter value.
const MAX_PARAM: usize = 2048;

/// The parameters of an authorization request that are carried through login and consent.
const CARRIED: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// A checked authorization request.
#[derive(Debug)]
pub(super) struct Checked {
    client: Client,
    redirect_uri: String,
    scope: Vec<String>,
    state: Option<String>,
    code_challenge: String,
    resource: Option<String>,
    params: BTreeMap<String, String>,
}

/// Why a request cannot proceed: shown to the user (the redirect URI is not
/// trusted yet) or sent back to the client.
pub(super) enum Refusal {
    Show(StatusCode, String),
    Redirect(Response),
}

/// Parses `key=value&…`, refusing repeated or oversized parameters (RFC 6749 §3.1).
pub(crate) fn parse_params(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if value.len() > MAX_PARAM || key.len() > 64 {
            return Err(format!("parameter {key:.64} is too long"));
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

/// Checks an authorization request in RFC 6749 §4.1.2.1's order.
pub(super) async fn check(
    state: &AppState,
    params: BTreeMap<String, String>,
) -> Result<Checked, Refusal> {
    let show = |status: StatusCode, message: &str| Refusal::Show(status, message.to_owned());
    let client_id = params
        .get("client_id")
        .ok_or_else(|| show(StatusCode::BAD_REQUEST, "The request has no client_id."))?;
    let client = match state.oauth().client(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(show(StatusCode::BAD_REQUEST, "Unknown client.")),
        Err(e) => {
            tracing::error!(error = %e, "store failed while loading a client");
            return Err(show(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server cannot reach its store; try again.",
            ));
        }
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if client.accepts_redirect(uri) => uri.clone(),
        Some(_) => {
            return Err(show(
                StatusCode::BAD_REQUEST,
                "The redirect URI is not registered for this client.",
            ));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(show(
                StatusCode::BAD_REQUEST,
                "The request has no redirect_uri.",
            ));
        }
    };
    let client_state = params.get("state").cloned();
    let fail = |code: &str, description: &str| {
        error_redirect(
            state,
            &redirect_uri,
            code,
            description,
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
    let resource = params.get("resource").cloned();
    if let Some(r) = &resource {
        let absolute = r.starts_with("https://") || r.starts_with("http://");
        if !absolute || r.contains('#') {
            return Err(fail(
                "invalid_target",
                "resource must be an absolute URI without a fragment",
            ));
        }
        if let Some(configured) = &state.settings().resource
            && configured != r
        {
            return Err(fail("invalid_target", "unknown resource"));
        }
    }
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
        resource,
        params: carried,
    })
}

/// Issues the code and redirects back to the client.
async fn approve(state: &AppState, req: &Checked, subject: &str) -> Response {
    let request = AuthorizationRequest {
        client_id: req.client.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.clone(),
        code_challenge: req.code_challenge.clone(),
        resource: req.resource.clone(),
        subject: subject.to_owned(),
    };
    match state.oauth().issue_code(&request).await {
        Ok(code) => {
            let mut params = vec![
                ("code", code.as_str()),
                ("iss", state.settings().issuer.as_str()),
            ];
            if let Some(s) = &req.state {
                params.push(("state", s));
            }
            redirect_to(&req.redirect_uri, &params)
        }
        Err(e @ OAuthError::Store(_)) => {
            tracing::error!(error = %e, "store failed while issuing a code");
            let code = e.code();
            match error_redirect(
                state,
                &req.redirect_uri,
                code,
                "try again later",
                req.state.as_deref(),
            ) {
                Refusal::Redirect(r) => r,
                Refusal::Show(status, message) => error_page(status, &message),
            }
        }
        Err(e) => match error_redirect(
            state,
            &req.redirect_uri,
            e.code(),
            &e.description(),
            req.state.as_deref(),
        ) {
            Refusal::Redirect(r) => r,
            Refusal::Show(status, message) => error_page(status, &message),
        },
    }
}

fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Show(status, message) => error_page(status, &message),
        Refusal::Redirect(response) => response,
    }
}

/// `GET /authorize`.
pub(super) async fn authorize(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    RawQuery(query): RawQuery,
) -> Result<Response, authstore_axum::Error> {
    let raw = query.unwrap_or_default();
    let params = match parse_params(&raw) {
        Ok(p) => p,
        Err(message) => return Ok(error_page(StatusCode::BAD_REQUEST, &message)),
    };
    let req = match check(&state, params).await {
        Ok(req) => req,
        Err(refusal) => return Ok(refused(refusal)),
    };
    let Some(user) = session.user().await? else {
        let return_to = format!("/authorize?{raw}");
        return Ok(login_page(
            StatusCode::OK,
            &csrf,
            &return_to,
            Some(&req.client.name),
            None,
            "",
        ));
    };
    match state
        .oauth()
        .has_consent(&user.id, &req.client.client_id, &req.scope)
        .await
    {
        Ok(true) => return Ok(approve(&state, &req, &user.id).await),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not read remembered consent; asking again"),
    }
    let params: Vec<(String, String)> = req.params.clone().into_iter().collect();
    Ok(render(
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            client_name => req.client.name,
            user => user.email.clone().unwrap_or(user.id.clone()),
            scopes => req.scope,
            resource => req.resource,
            redirect_uri => req.redirect_uri,
            params => params,
            csrf => csrf.token(),
        },
    ))
}

/// `POST /authorize`: the consent form's decision.
pub(super) async fn decide(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    body: String,
) -> Result<Response, authstore_axum::Error> {
    let mut params = match parse_params(&body) {
        Ok(p) => p,
        Err(message) => return Ok(error_page(StatusCode::BAD_REQUEST, &message)),
    };
    params.remove("_csrf");
    let decision = params.remove("decision");
    let remember = params.remove("remember").is_some_and(|v| v == "on");
    let req = match check(&state, params).await {
        Ok(req) => req,
        Err(refusal) => return Ok(refused(refusal)),
    };
    let Some(user) = session.user().await? else {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&req.params)
            .finish();
        let return_to = format!("/authorize?{query}");
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            &csrf,
            &return_to,
            Some(&req.client.name),
            Some("Sign in again to continue."),
            "",
        ));
    };
    if decision.as_deref() != Some("approve") {
        return Ok(refused(error_redirect(
            &state,
            &req.redirect_uri,
            "access_denied",
            "the user denied the request",
            req.state.as_deref(),
        )));
    }
    if remember {
        let ttl = state.settings().consent_ttl;
        if let Err(e) = state
            .oauth()
            .remember_consent(&user.id, &req.client.client_id, &req.scope, ttl)
            .await
        {
            tracing::warn!(error = %e, "could not remember consent");
        }
    }
    Ok(approve(&state, &req, &user.id).await)
}
