//! A small web app on authstore-axum: a login form with CSRF, a rate-limited login, a page of your sessions with "log out other devices", and a counter.
//!
//! ```text
//! cargo run -p authstore-axum --example webapp -- [--store URL] [--listen ADDR] [--dev]
//! ```
//!
//! The store is `memory://` unless `--store` names another (a `redis://` or
//! `postgres://` URL needs the matching feature of this crate). Log in as
//! `alice` / `correct horse battery staple`. Cookies are `__Host-`, `Secure`:
//! browsers accept them on `http://localhost` (a secure context) but not on
//! other plain-http hosts; `--dev` drops `Secure` for those.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authstore::Store;
use authstore::credentials::{Credentials, CredentialsConfig, LoginOutcome};
use authstore::ratelimit::{Limit, RateLimiter};
use authstore::session::{SessionManager, SessionUser};
use authstore_axum::ratelimit::RateLimitLayer;
use authstore_axum::{CsrfLayer, CsrfToken, CsrfTokens, RequestSession, SessionLayer, session_api};
use axum::Router;
use axum::extract::{Form, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde::Deserialize;

/// The demo user.
pub const DEMO_USER: &str = "alice";
/// The demo user's password.
pub const DEMO_PASSWORD: &str = "correct horse battery staple";
/// Login attempts allowed per client IP per minute.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 5;

#[derive(Clone)]
struct App {
    credentials: Credentials,
}

/// The whole app on `store`; `dev` drops `Secure` from the cookie.
pub async fn app(store: Arc<dyn Store>, dev: bool) -> authstore::Result<Router> {
    // Cheap argon2id parameters for a demo; use the defaults in production.
    let config = CredentialsConfig {
        memory_kib: 8 * 1024,
        iterations: 1,
        ..CredentialsConfig::default()
    };
    let credentials = Credentials::with_config(Arc::clone(&store), config, authstore::SystemClock)?;
    match credentials
        .register_user(DEMO_USER, "u-alice", DEMO_PASSWORD)
        .await
    {
        Ok(()) | Err(authstore::Error::AlreadyExists { .. }) => {}
        Err(e) => return Err(e),
    }
    let login_limit = RateLimiter::new(
        Arc::clone(&store),
        Limit::per(LOGIN_ATTEMPTS_PER_MINUTE, Duration::from_secs(60)),
    )
    .namespace("rl-login:")?;
    let mut sessions = SessionLayer::new(SessionManager::new(Arc::clone(&store)));
    if dev {
        sessions = sessions.dev_mode();
    }
    Ok(Router::new()
        .route("/", get(home))
        .route(
            "/login",
            post(login).route_layer(RateLimitLayer::new(login_limit)),
        )
        .route("/logout", post(logout))
        .route("/counter", post(count))
        .route("/sessions", get(list_sessions))
        .route("/sessions/logout-others", post(logout_others))
        .merge(session_api())
        .with_state(App { credentials })
        .layer(CsrfLayer::new().tokens(CsrfTokens::Session))
        .layer(sessions))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    ))
}

fn csrf_field(token: &CsrfToken) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        token.field(),
        escape(token.token())
    )
}

async fn home(
    session: RequestSession,
    csrf: CsrfToken,
) -> Result<Html<String>, authstore_axum::Error> {
    let field = csrf_field(&csrf);
    let Some(user) = session.user().await? else {
        return Ok(page(
            "Log in",
            &format!(
                r#"<form method="post" action="/login" id="login">{field}
                <label>User <input name="username" id="username"></label>
                <label>Password <input name="password" type="password" id="password"></label>
                <button type="submit" id="submit">Log in</button></form>"#
            ),
        ));
    };
    let count: u64 = session.get("count").await?.unwrap_or(0);
    Ok(page(
        &format!("Hello, {}", escape(&user.id)),
        &format!(
            r#"<p>Counter: <span id="count">{count}</span></p>
            <form method="post" action="/counter">{field}<button id="increment">+1</button></form>
            <p><a href="/sessions" id="sessions-link">Your sessions</a></p>
            <form method="post" action="/logout">{field}<button id="logout">Log out</button></form>"#
        ),
    ))
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(
    State(app): State<App>,
    session: RequestSession,
    Form(form): Form<LoginForm>,
) -> Result<Response, authstore_axum::Error> {
    match app
        .credentials
        .authenticate(&form.username, &form.password)
        .await?
    {
        LoginOutcome::Authenticated { user_id } => {
            let mut user = SessionUser::new(user_id);
            user.email = Some(form.username.clone());
            session.set_user(user).await?;
            Ok(Redirect::to("/").into_response())
        }
        LoginOutcome::InvalidCredentials => Ok((
            StatusCode::UNAUTHORIZED,
            page(
                "Log in failed",
                r#"<p id="error">Wrong user or password.</p><a href="/">Back</a>"#,
            ),
        )
            .into_response()),
        LoginOutcome::Disabled => Ok((
            StatusCode::FORBIDDEN,
            page(
                "Account disabled",
                r#"<p id="error">This account is disabled.</p><a href="/">Back</a>"#,
            ),
        )
            .into_response()),
        LoginOutcome::LockedOut { retry_after } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            page(
                "Locked out",
                &format!(
                    "<p>Too many failures; try again in {} s.</p>",
                    retry_after.as_secs().max(1)
                ),
            ),
        )
            .into_response()),
    }
}

async fn logout(session: RequestSession) -> Result<Redirect, authstore_axum::Error> {
    session.destroy().await?;
    Ok(Redirect::to("/"))
}

async fn count(session: RequestSession) -> Result<Redirect, authstore_axum::Error> {
    let n: u64 = session.get("count").await?.unwrap_or(0);
    session.insert("count", n + 1).await?;
    Ok(Redirect::to("/"))
}

async fn list_sessions(
    session: RequestSession,
    csrf: CsrfToken,
) -> Result<Response, authstore_axum::Error> {
    let Some(user) = session.user().await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let current = session.handle().await?;
    let mut rows = String::new();
    for info in session.manager().list_for_user(&user.id).await? {
        let this = Some(&info.handle) == current.as_ref();
        rows.push_str(&format!(
            r#"<li class="session{}">{} — {}</li>"#,
            if this { " current" } else { "" },
            escape(info.meta.user_agent.as_deref().unwrap_or("unknown device")),
            if this { "this device" } else { "other device" },
        ));
    }
    Ok(page(
        "Your sessions",
        &format!(
            r#"<ul id="sessions">{rows}</ul>
            <form method="post" action="/sessions/logout-others">{}<button id="logout-others">Log out other devices</button></form>
            <p><a href="/">Home</a></p>"#,
            csrf_field(&csrf)
        ),
    )
    .into_response())
}

async fn logout_others(session: RequestSession) -> Result<Redirect, authstore_axum::Error> {
    if let (Some(user), Some(current)) = (session.user().await?, session.handle().await?) {
        session.manager().revoke_all_but(&user.id, &current).await?;
    }
    Ok(Redirect::to("/sessions"))
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[allow(dead_code)] // also compiled into the browser test, which has its own main
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = arg("--store").unwrap_or_else(|| "memory://".into());
    let listen: SocketAddr = arg("--listen")
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()?;
    let dev = std::env::args().any(|a| a == "--dev");
    let store = authstore::open(&url).await?;
    let app = app(store, dev).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "webapp on http://{} (store {}); log in as {DEMO_USER} / {DEMO_PASSWORD}",
        listener.local_addr()?,
        authstore::redact_url(&url)
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
