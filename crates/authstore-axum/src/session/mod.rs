//! [`SessionLayer`]: reads the session id from the cookie (or a header), gives handlers a lazy [`RequestSession`], and saves and sets the cookie after them.

pub(crate) mod cookie;
mod guard;
mod handle;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use authstore::csrf::KeyRing;
use authstore::session::{SessionId, SessionManager, SessionMeta};
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::header::{HeaderName, HeaderValue, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, Request};
use tokio::sync::Mutex;
use tower_layer::Layer;
use tower_service::Service;

pub use cookie::{CookieConfig, SameSite};
pub use guard::{RequireSession, RequireUser};
pub use handle::RequestSession;
use handle::{CookieAction, Inner, State};

/// What to do when the session was saved by a concurrent request between
/// this request's load and its save (a version conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Reload the session and apply this request's changes (keys it set or
    /// removed) on top, up to 3 times (the default). Keys the other request
    /// changed and this one did not are kept.
    #[default]
    Merge,
    /// Replace the response with `409 Conflict`; nothing of this request is saved.
    Reject,
    /// Keep the response and drop this request's changes, with a warning in the log.
    Ignore,
}

/// Settings shared by every request through one layer.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) manager: SessionManager,
    cookie: CookieConfig,
    cookie_name: String,
    header: Option<HeaderName>,
    signing: Option<KeyRing>,
    auto_create: bool,
    on_conflict: ConflictPolicy,
}

/// The session layer. See the crate docs for an example.
///
/// Defaults: cookie `__Host-authstore` (`Secure`, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, `Max-Age` following the session's idle TTL),
/// unsigned (the id itself carries 256 random bits), no header, sessions
/// created on first write, conflicts merged.
#[derive(Debug, Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
    /// Sessions from `manager` with the default settings.
    pub fn new(manager: SessionManager) -> Self {
        let cookie = CookieConfig::default();
        Self {
            shared: Arc::new(Shared {
                manager,
                cookie_name: cookie.full_name(),
                cookie,
                header: None,
                signing: None,
                auto_create: false,
                on_conflict: ConflictPolicy::Merge,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        f(shared);
        shared.cookie_name = shared.cookie.full_name();
        self
    }

    /// Cookie attributes (the name prefix follows them).
    pub fn cookie(self, cookie: CookieConfig) -> Self {
        self.edit(|s| s.cookie = cookie)
    }

    /// Development mode: the cookie is not `Secure` and has no prefix, so
    /// it works over `http://localhost`. Logs a warning, since a session
    /// cookie sent over plain HTTP can be stolen on the network.
    pub fn dev_mode(self) -> Self {
        tracing::warn!(
            "authstore-axum: session cookies are NOT Secure (dev mode); never use this in production"
        );
        self.edit(|s| s.cookie.secure = false)
    }

    /// Signs the cookie with `ring` (newest key signs, any key verifies), so
    /// a cookie that was not issued by this server is refused before any
    /// store lookup.
    pub fn signed(self, ring: KeyRing) -> Self {
        self.edit(|s| s.signing = Some(ring))
    }

    /// Also accepts the session id in this request header (for non-browser
    /// clients), and returns the id in it whenever it is set.
    pub fn header(self, name: HeaderName) -> Self {
        self.edit(|s| s.header = Some(name))
    }

    /// Creates a session for every request that has none, instead of on
    /// its first write.
    pub fn auto_create(self, on: bool) -> Self {
        self.edit(|s| s.auto_create = on)
    }

    /// What to do on a version conflict at save.
    pub fn on_conflict(self, policy: ConflictPolicy) -> Self {
        self.edit(|s| s.on_conflict = policy)
    }

    /// The session manager.
    pub fn manager(&self) -> &SessionManager {
        &self.shared.manager
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`SessionLayer`] wraps around a router or handler.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let (presented, via_header) = presented_id(&shared, req.headers());
        let meta = SessionMeta {
            ip: req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            user_agent: req
                .headers()
                .get(USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(256).collect()),
            device: None,
        };
        let session = RequestSession {
            inner: Arc::new(Inner {
                shared,
                presented,
                via_header,
                meta,
                state: Mutex::new(State::default()),
            }),
        };
        req.extensions_mut().insert(session.clone());
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if session.inner.shared.auto_create
                && let Err(e) = session.ensure().await
            {
                return Ok(e.into_response());
            }
            let response = inner.call(req).await?;
            Ok(finish(&session, response).await)
        })
    }
}

/// The id the request presents: the header first (if configured), then the cookie.
fn presented_id(shared: &Shared, headers: &HeaderMap) -> (Option<SessionId>, bool) {
    let ring = shared.signing.as_ref();
    let parse = |value: &str| cookie::decode_id(ring, value).and_then(SessionId::parse);
    if let Some(name) = &shared.header
        && let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
    {
        return (parse(value), true);
    }
    let id = cookie::read_cookie(headers, &shared.cookie_name).and_then(parse);
    (id, false)
}

/// After the handler: saves a changed session (as the conflict policy
/// says) and writes the cookie or header.
async fn finish(session: &RequestSession, mut response: Response) -> Response {
    let inner = &session.inner;
    let shared = &inner.shared;
    let mut state = inner.state.lock().await;
    if state.session.as_ref().is_some_and(|s| s.is_changed()) {
        match save(shared, &mut state).await {
            Ok(()) => {}
            Err(reply) => return reply,
        }
    }
    if state.session.as_ref().is_some_and(|s| s.was_extended())
        && state.cookie == CookieAction::Keep
    {
        state.cookie = CookieAction::Set;
    }
    match state.cookie {
        CookieAction::Keep => {}
        CookieAction::Set => {
            if let Some(s) = &state.session
                && let Some(value) = cookie::encode_id(shared.signing.as_ref(), s.id().expose())
            {
                let max_age = cookie_max_age(shared, s);
                if !inner.via_header {
                    let header =
                        shared
                            .cookie
                            .set_cookie(&shared.cookie_name, Some(&value), max_age);
                    response.headers_mut().append(SET_COOKIE, header);
                }
                if let Some(name) = &shared.header
                    && let Ok(v) = HeaderValue::from_str(&value)
                {
                    response.headers_mut().insert(name.clone(), v);
                }
            }
        }
        CookieAction::Clear => {
            if !inner.via_header {
                let header = shared
                    .cookie
                    .set_cookie(&shared.cookie_name, None, Duration::ZERO);
                response.headers_mut().append(SET_COOKIE, header);
            }
        }
    }
    response
}

/// The cookie lives as long as the session would if idle from now.
fn cookie_max_age(shared: &Shared, s: &authstore::session::Session) -> Duration {
    let idle = shared.manager.config().idle_timeout;
    s.expires_at()
        .and_then(|at| at.duration_since(s.last_seen()).ok())
        .map_or(idle, |left| left.min(idle))
        .max(Duration::from_secs(1))
}

/// Saves the changed session; on failure returns the response to send instead.
async fn save(shared: &Shared, state: &mut State) -> Result<(), Response> {
    let session = state.session.as_mut().expect("checked by the caller");
    let first = shared.manager.save(session).await;
    let error = match first {
        Ok(()) => {
            state.changes.clear();
            if state.cookie == CookieAction::Keep {
                state.cookie = CookieAction::Set;
            }
            return Ok(());
        }
        Err(e) => e,
    };
    match error {
        authstore::Error::VersionConflict { .. } => match shared.on_conflict {
            ConflictPolicy::Merge => merge(shared, state).await,
            ConflictPolicy::Reject => Err(crate::Error::from(error).into_response()),
            ConflictPolicy::Ignore => {
                tracing::warn!(
                    "session changed by a concurrent request; this request's changes are dropped"
                );
                Ok(())
            }
        },
        authstore::Error::NotFound { .. } => {
            // Logged out (or expired) while this request ran: never bring it back.
            tracing::info!("session ended while the request ran; changes dropped");
            state.session = None;
            state.cookie = CookieAction::Clear;
            Ok(())
        }
        other => Err(crate::Error::from(other).into_response()),
    }
}

/// Reloads and replays this request's changes, up to 3 times.
async fn merge(shared: &Shared, state: &mut State) -> Result<(), Response> {
    let id = state
        .session
        .as_ref()
        .expect("merging a loaded session")
        .id()
        .clone();
    for _ in 0..3 {
        let fresh = shared.manager.load(&id).await;
        let mut fresh = match fresh {
            Ok(Some(s)) => s,
            Ok(None) => {
                state.session = None;
                state.cookie = CookieAction::Clear;
                return Ok(());
            }
            Err(e) => return Err(crate::Error::from(e).into_response()),
        };
        for (key, change) in &state.changes {
            let applied = match change {
                Some(value) => fresh.insert(key, value).map(|()| true),
                None => Ok(fresh.remove(key)),
            };
            if let Err(e) = applied {
                return Err(crate::Error::from(e).into_response());
            }
        }
        match shared.manager.save(&mut fresh).await {
            Ok(()) => {
                state.session = Some(fresh);
                state.changes.clear();
                return Ok(());
            }
            Err(authstore::Error::VersionConflict { .. }) => continue,
            Err(authstore::Error::NotFound { .. }) => {
                state.session = None;
                state.cookie = CookieAction::Clear;
                return Ok(());
            }
            Err(e) => return Err(crate::Error::from(e).into_response()),
        }
    }
    Err(crate::Error::new(
        http::StatusCode::CONFLICT,
        "session_conflict",
        "the session kept changing under concurrent requests",
    )
    .into_response())
}
