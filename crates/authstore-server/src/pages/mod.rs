//! The server-rendered pages (no JavaScript): sign-in, consent and the account page, behind the session cookie and CSRF protection, with rate-limited logins.

mod authorize;

use std::sync::OnceLock;

use authstore::credentials::LoginOutcome;
use authstore::session::SessionUser;
use authstore_axum::{ClientIp, CsrfLayer, CsrfToken, CsrfTokens, Session, SessionLayer};
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, RETRY_AFTER, X_FRAME_OPTIONS,
};
use http::{HeaderValue, StatusCode};
use minijinja::Environment;

use crate::state::AppState;

use authorize::parse_params;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("consent.html", include_str!("templates/consent.html")),
            ("error.html", include_str!("templates/error.html")),
            ("account.html", include_str!("templates/account.html")),
        ] {
            env.add_template(name, source)
                .expect("the built-in templates parse");
        }
        env
    })
}

/// Renders a page with the headers every page carries: no caching, no
/// framing, no scripts, no referrer.
pub(crate) fn render(status: StatusCode, template: &str, context: minijinja::Value) -> Response {
    let html = templates()
        .get_template(template)
        .and_then(|t| t.render(context));
    let mut response = match html {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    response
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        "error.html",
        minijinja::context! { message => message },
    )
}

pub(crate) fn login_page(
    status: StatusCode,
    csrf: &CsrfToken,
    return_to: &str,
    client_name: Option<&str>,
    error: Option<&str>,
    username: &str,
) -> Response {
    render(
        status,
        "login.html",
        minijinja::context! {
            csrf => csrf.token(),
            return_to => return_to,
            client_name => client_name,
            error => error,
            username => username,
        },
    )
}

/// The pages, with their session and CSRF layers.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let mut sessions = SessionLayer::new(state.sessions().clone());
    if state.settings().dev_cookies {
        sessions = sessions.dev_mode();
    }
    Router::new()
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::decide),
        )
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/consents/revoke", post(revoke_consent))
        .layer(CsrfLayer::new().tokens(CsrfTokens::Session))
        .layer(sessions)
}

/// Where a login may send the browser afterwards: only this server's authorize endpoint or account page.
fn safe_return_to(return_to: &str) -> &str {
    if return_to.starts_with("/authorize?") || return_to == "/account" {
        return_to
    } else {
        "/account"
    }
}

async fn login_form(csrf: CsrfToken) -> Response {
    login_page(StatusCode::OK, &csrf, "/account", None, None, "")
}

/// `POST /login`: rate-limited per client IP and per username.
async fn login(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    client: Option<ClientIp>,
    body: String,
) -> Result<Response, authstore_axum::Error> {
    let params = match parse_params(&body) {
        Ok(p) => p,
        Err(message) => return Ok(error_page(StatusCode::BAD_REQUEST, &message)),
    };
    let field = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let (username, password) = (field("username"), field("password"));
    let return_to = safe_return_to(field("return_to")).to_owned();
    let ip = client.map_or_else(|| "ip:unknown".to_owned(), |ip| ip.key(Some(64)));
    let user_key = format!(
        "user:{}",
        authstore::secret::sha256_hex(&username.trim().to_lowercase())
    );
    for (limiter, key) in [
        (state.login_by_ip(), ip.as_str()),
        (state.login_by_user(), user_key.as_str()),
    ] {
        let decision = limiter.check(key, 1).await?;
        if !decision.allowed {
            let mut response = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &csrf,
                &return_to,
                None,
                Some("Too many sign-in attempts. Wait a minute and try again."),
                username,
            );
            let secs = decision.retry_after.as_secs().max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(RETRY_AFTER, v);
            }
            return Ok(response);
        }
    }
    let outcome = if username.is_empty()
        || password.is_empty()
        || username.len() > 256
        || password.len() > 1024
    {
        LoginOutcome::InvalidCredentials
    } else {
        state.credentials().authenticate(username, password).await?
    };
    match outcome {
        LoginOutcome::Authenticated { user_id } => {
            let mut user = SessionUser::new(user_id);
            user.email = Some(username.trim().to_owned());
            session.set_user(user).await?;
            Ok(Redirect::to(&return_to).into_response())
        }
        LoginOutcome::InvalidCredentials => Ok(login_page(
            StatusCode::UNAUTHORIZED,
            &csrf,
            &return_to,
            None,
            Some("Wrong username or password."),
            username,
        )),
        LoginOutcome::LockedOut { retry_after } => {
            let message = format!(
                "Too many failed attempts. Try again in {} seconds.",
                retry_after.as_secs().max(1)
            );
            Ok(login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &csrf,
                &return_to,
                None,
                Some(&message),
                username,
            ))
        }
    }
}

/// An OAuth-module error as a page error.
fn oauth_error(e: authstore::oauth::OAuthError) -> authstore_axum::Error {
    match e {
        authstore::oauth::OAuthError::Store(e) => e.into(),
        other => {
            authstore_axum::Error::new(StatusCode::BAD_REQUEST, other.code(), other.description())
        }
    }
}

async fn logout(session: Session) -> Result<Redirect, authstore_axum::Error> {
    session.destroy().await?;
    Ok(Redirect::to("/login"))
}

/// The user's remembered consents, each revocable.
async fn account(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
) -> Result<Response, authstore_axum::Error> {
    let Some(user) = session.user().await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let prefix = format!("oauth-consent:{}|", user.id);
    let mut consents = Vec::new();
    for key in state
        .store()
        .list_index(&format!("oauth-consents:{}", user.id))
        .await?
    {
        let Some(client_id) = key.strip_prefix(&prefix) else {
            continue;
        };
        let Ok(Some(client)) = state.oauth().client(client_id).await else {
            continue;
        };
        let scopes = match state.store().get(&key).await? {
            Some(entry) => serde_json::from_slice::<Vec<String>>(&entry.value)
                .unwrap_or_default()
                .join(" "),
            None => continue,
        };
        consents.push(
            minijinja::context! { client_id => client_id, name => client.name, scopes => scopes },
        );
    }
    Ok(render(
        StatusCode::OK,
        "account.html",
        minijinja::context! {
            user => user.email.clone().unwrap_or(user.id.clone()),
            consents => consents,
            csrf => csrf.token(),
        },
    ))
}

async fn revoke_consent(
    State(state): State<AppState>,
    session: Session,
    body: String,
) -> Result<Response, authstore_axum::Error> {
    let Some(user) = session.user().await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let params = parse_params(&body).unwrap_or_default();
    if let Some(client_id) = params.get("client_id") {
        state
            .oauth()
            .revoke_consent(&user.id, client_id)
            .await
            .map_err(oauth_error)?;
    }
    Ok(Redirect::to("/account").into_response())
}
