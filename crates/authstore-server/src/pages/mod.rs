//! The server-rendered pages (no JavaScript): sign-in, consent and the account page, with stateless CSRF tokens before sign-in (no session until a user signs in), throttled logins and rate-limited page loads.

mod account;
mod authorize;
mod oidc;
mod password;
pub(crate) mod profile;

use authstore::audit::{AuditEvent, Outcome};
use authstore::credentials::{LoginOutcome, client_network};
use authstore::csrf::KeyRing;
use authstore::oauth::{Client, ClientOrigin};
use authstore::session::SessionUser;
use authstore_axum::csrf::DoubleSubmitTokens;
use authstore_axum::{CsrfLayer, CsrfToken, CsrfTokens, RequestSession, SessionLayer};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::StringRejection;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::header::{CONTENT_LENGTH, RETRY_AFTER, USER_AGENT};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;

use crate::state::AppState;

use authorize::parse_params;

/// Largest request body a page accepts (a form is a few hundred bytes).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Longest username and password a sign-in form may carry.
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

/// Renders a page of `state`'s pages (see [`crate::branding::Pages::render_to`]).
pub(crate) fn render_to(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
    form_target: Option<&str>,
) -> Response {
    state
        .pages()
        .render_to(status, template, context, form_target)
}

/// [`render_to`] for pages whose forms post only to this server.
pub(crate) fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
) -> Response {
    render_to(state, status, template, context, None)
}

/// Where a redirect URI sends the browser, for people to read: its host
/// and port, or its scheme for a private-use scheme.
pub(crate) fn redirect_host(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => format!("{}:", url.scheme()),
        },
        Err(_) => uri.to_owned(),
    }
}

pub(crate) fn error_page(state: &AppState, status: StatusCode, message: &str) -> Response {
    render(
        state,
        status,
        "error.html",
        minijinja::context! { message => message },
    )
}

/// The sign-in form, optionally for an authorization request of `client`
/// (whose redirect the form's answer may lead to).
pub(crate) struct LoginForm<'a> {
    pub(crate) return_to: &'a str,
    pub(crate) client: Option<(&'a Client, &'a str)>,
    pub(crate) error: Option<&'a str>,
    pub(crate) username: &'a str,
}

pub(crate) fn login_page(
    state: &AppState,
    status: StatusCode,
    csrf: &CsrfToken,
    form: &LoginForm<'_>,
) -> Response {
    let (client_name, unverified, redirect) = match form.client {
        Some((client, redirect_uri)) => (
            Some(client.name.as_str()),
            client.origin != ClientOrigin::Operator,
            Some(redirect_uri),
        ),
        None => (None, false, None),
    };
    render_to(
        state,
        status,
        "login.html",
        minijinja::context! {
            csrf => csrf.token(),
            return_to => form.return_to,
            client_name => client_name,
            unverified => unverified,
            redirect_host => redirect.map(redirect_host),
            error => form.error,
            username => form.username,
        },
        redirect,
    )
}

/// The request's CSRF token, made only when a form needs one (it never
/// touches the store; for a visitor without a session it sets the nonce
/// cookie).
pub(crate) async fn csrf_token(
    parts: &mut Parts,
    state: &AppState,
) -> Result<CsrfToken, authstore_axum::Error> {
    CsrfToken::from_request_parts(parts, state).await
}

/// The pages, with their session and CSRF layers, a body limit and a
/// per-IP limit on page loads.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let mut sessions = SessionLayer::new(state.sessions().clone());
    let ring = state.settings().form_keys.clone().unwrap_or_else(|| {
        let key = authstore::secret::random_bytes().expect("the system random source works");
        KeyRing::new()
            .with_key("p1", &key)
            .expect("32 random bytes make a key")
    });
    let mut tokens = DoubleSubmitTokens::new(ring);
    if state.settings().dev_cookies {
        sessions = sessions.dev_mode();
        tokens = tokens.dev_mode();
    }
    Router::new()
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::decide),
        )
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account::account))
        .route("/account/consents/revoke", post(account::revoke_consent))
        .route("/account/apps/revoke", post(account::revoke_app))
        .route("/account/sessions/revoke", post(account::revoke_sessions))
        .route("/account/password", post(password::change_password))
        .layer(
            CsrfLayer::new()
                .tokens(CsrfTokens::DoubleSubmit(tokens))
                .max_form_bytes(MAX_BODY),
        )
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            page_guard,
        ))
}

/// In front of every page: page loads are limited per client IP (`429`
/// page with `Retry-After`), and bodies to [`MAX_BODY`] (`413` page).
async fn page_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET || parts.method == Method::HEAD {
        let key = state.client_ip_key(&parts);
        match state.page_requests().check(&key, 1).await {
            Ok(decision) if !decision.allowed => {
                let mut response = error_page(
                    &state,
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests from your network. Wait a minute and try again.",
                );
                set_retry_after(&mut response, decision.retry_after);
                return response;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "page rate limit unavailable; request let through")
            }
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large(&state);
    }
    let bytes = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return too_large(&state),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("The form is too large (at most {} KiB).", MAX_BODY / 1024),
    )
}

fn set_retry_after(response: &mut Response, wait: std::time::Duration) {
    let secs = wait.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        response.headers_mut().insert(RETRY_AFTER, v);
    }
}

/// The page that says why a page body could not be read.
pub(crate) fn unreadable_body(state: &AppState, rejection: &StringRejection) -> Response {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(state)
    } else {
        error_page(state, status, "The form could not be read.")
    }
}

/// Where a login may send the browser afterwards: only this server's
/// authorize endpoint or account page (under the issuer's path, `base`),
/// and only as a valid `Location`: visible ASCII (no control characters,
/// spaces or other text, which a `Location` header cannot carry).
fn safe_return_to(base: &str, return_to: &str) -> String {
    match return_to.strip_prefix(base) {
        Some(rest)
            if (rest.starts_with("/authorize?") || rest == "/account")
                && return_to.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            return_to.to_owned()
        }
        _ => format!("{base}/account"),
    }
}

/// The session entry holding when its user signed in (unix seconds), for
/// OpenID Connect `auth_time` and `max_age`.
pub(crate) const AUTH_TIME: &str = "auth_time";

async fn login_form(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<Response, authstore_axum::Error> {
    let csrf = csrf_token(&mut parts, &state).await?;
    let account = format!("{}/account", state.settings().issuer_path());
    let form = LoginForm {
        return_to: &account,
        client: None,
        error: None,
        username: "",
    };
    Ok(login_page(&state, StatusCode::OK, &csrf, &form))
}

/// The request's client, as security events record it.
pub(crate) fn client_of(state: &AppState, parts: &Parts) -> (Option<String>, Option<String>) {
    let ip = state.client_ip(parts).map(|ip| ip.to_string());
    let agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    (ip, agent)
}

/// `POST /login`: rate-limited per client IP and per (username, client
/// network); passwords are throttled per (username, client network), so
/// failures elsewhere never lock the user out of their own network.
async fn login(
    State(state): State<AppState>,
    session: RequestSession,
    mut parts: Parts,
    body: Result<String, StringRejection>,
) -> Result<Response, authstore_axum::Error> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return Ok(unreadable_body(&state, &rejection)),
    };
    let params = match parse_params(&body) {
        Ok(p) => p,
        Err(message) => return Ok(error_page(&state, StatusCode::BAD_REQUEST, &message)),
    };
    let field = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let (username, password) = (field("username"), field("password"));
    let base = state.settings().issuer_path();
    let return_to = safe_return_to(base, field("return_to"));
    // The authorization request this sign-in continues, for the page.
    let pending = match return_to
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix("/authorize?"))
        .map(parse_params)
    {
        Some(Ok(query)) => authorize::check(&state, query, &state.client_ip_key(&parts))
            .await
            .ok(),
        _ => None,
    };
    let client = pending.as_ref().map(|r| (r.client(), r.redirect_uri()));
    let ip_key = state.client_ip_key(&parts);
    let network = state
        .client_ip(&parts)
        .map_or_else(|| "unknown".to_owned(), |ip| client_network(ip.0));
    let (ip, agent) = client_of(&state, &parts);
    let normalized = username.trim().to_lowercase();
    let event = |action: &str, outcome: Outcome| {
        AuditEvent::new(action, outcome)
            .user(normalized.chars().take(MAX_USERNAME).collect::<String>())
            .client(ip.clone(), agent.clone())
            .meta("network", network.as_str())
    };
    if username.chars().any(char::is_control) || username.len() > MAX_USERNAME {
        let csrf = csrf_token(&mut parts, &state).await?;
        let form = LoginForm {
            return_to: &return_to,
            client,
            error: Some("The username is not valid."),
            username: "",
        };
        return Ok(login_page(&state, StatusCode::BAD_REQUEST, &csrf, &form));
    }
    let user_key = format!(
        "user:{}",
        authstore::secret::sha256_hex(&format!("{normalized}\0{network}"))
    );
    for (limiter, key) in [
        (state.login_by_ip(), ip_key.as_str()),
        (state.login_by_user(), user_key.as_str()),
    ] {
        let decision = limiter.check(key, 1).await?;
        if !decision.allowed {
            state
                .audit(event("login.throttled", Outcome::Denied).meta("by", "rate_limit"))
                .await;
            let csrf = csrf_token(&mut parts, &state).await?;
            let form = LoginForm {
                return_to: &return_to,
                client,
                error: Some("Too many sign-in attempts. Wait a minute and try again."),
                username,
            };
            let mut response = login_page(&state, StatusCode::TOO_MANY_REQUESTS, &csrf, &form);
            set_retry_after(&mut response, decision.retry_after);
            return Ok(response);
        }
    }
    let outcome =
        if username.trim().is_empty() || password.is_empty() || password.len() > MAX_PASSWORD {
            LoginOutcome::InvalidCredentials
        } else {
            state
                .credentials()
                .authenticate_from(username, password, &network)
                .await?
        };
    match outcome {
        LoginOutcome::Authenticated { user_id } => {
            let mut user = SessionUser::new(user_id.clone());
            user.email = Some(username.trim().to_owned());
            // Stored with the user by the sign-in's one write.
            let now = state.clock().now_millis() / 1000;
            session.insert(AUTH_TIME, now).await?;
            session.set_user(user).await?;
            if state.settings().openid {
                let profile = profile::Profile::of_login(username);
                if let Err(e) = profile::remember(&**state.store(), &user_id, &profile).await {
                    tracing::warn!(error = %e, "could not record the user's profile");
                }
            }
            state
                .audit(event("login.success", Outcome::Success).resource(user_id))
                .await;
            Ok(Redirect::to(&return_to).into_response())
        }
        LoginOutcome::InvalidCredentials => {
            state.audit(event("login.failure", Outcome::Failure)).await;
            let csrf = csrf_token(&mut parts, &state).await?;
            let form = LoginForm {
                return_to: &return_to,
                client,
                error: Some("Wrong username or password."),
                username,
            };
            Ok(login_page(&state, StatusCode::UNAUTHORIZED, &csrf, &form))
        }
        LoginOutcome::LockedOut { retry_after } => {
            state
                .audit(
                    event("login.throttled", Outcome::Denied)
                        .meta("by", "password_failures")
                        .meta("retry_after_secs", retry_after.as_secs().max(1)),
                )
                .await;
            let message = format!(
                "Too many failed attempts. Try again in {} seconds.",
                retry_after.as_secs().max(1)
            );
            let csrf = csrf_token(&mut parts, &state).await?;
            let form = LoginForm {
                return_to: &return_to,
                client,
                error: Some(&message),
                username,
            };
            let mut response = login_page(&state, StatusCode::TOO_MANY_REQUESTS, &csrf, &form);
            set_retry_after(&mut response, retry_after);
            Ok(response)
        }
        LoginOutcome::Disabled => {
            state.audit(event("login.disabled", Outcome::Denied)).await;
            let csrf = csrf_token(&mut parts, &state).await?;
            let form = LoginForm {
                return_to: &return_to,
                client,
                error: Some("This account is disabled. Ask the administrator to enable it."),
                username,
            };
            Ok(login_page(&state, StatusCode::FORBIDDEN, &csrf, &form))
        }
    }
}

/// An OAuth-module error as a page error.
pub(crate) fn oauth_error(e: authstore::oauth::OAuthError) -> authstore_axum::Error {
    match e {
        authstore::oauth::OAuthError::Store(e) => e.into(),
        other => {
            authstore_axum::Error::new(StatusCode::BAD_REQUEST, other.code(), other.description())
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    session: RequestSession,
) -> Result<Redirect, authstore_axum::Error> {
    session.destroy().await?;
    Ok(Redirect::to(&format!(
        "{}/login",
        state.settings().issuer_path()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_that_is_no_valid_location_goes_to_the_account_page() {
        assert_eq!(safe_return_to("/t", "/t/authorize?a=1"), "/t/authorize?a=1");
        assert_eq!(safe_return_to("/t", "/t/authorize?x\ny"), "/t/account");
        assert_eq!(safe_return_to("", "/authorize?x\u{7f}"), "/account");
        assert_eq!(safe_return_to("", "//evil.example/authorize?"), "/account");
        assert_eq!(safe_return_to("", "/authorize?x%0\u{fffd}y"), "/account");
        assert_eq!(safe_return_to("", "/authorize?a b"), "/account");
    }
}
