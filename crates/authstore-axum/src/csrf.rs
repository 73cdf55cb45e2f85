//! [`CsrfLayer`]: Fetch-Metadata/Origin verification on unsafe methods, plus a synchronizer or signed double-submit token for forms (bound to the session, or to a cookie nonce for visitors without one), with a log-only mode; [`CsrfToken`] hands the token to templates.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use authstore::csrf::{
    KeyRing, OriginCheck, OriginVerdict, RequestParts, SESSION_TOKEN_KEY, SignedTokens,
    SynchronizerTokens, session_token,
};
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::header::{
    CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue, ORIGIN, SET_COOKIE, VARY,
};
use http::request::Parts;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::Error;
use crate::session::{CookieConfig, RequestSession};

/// `Sec-Fetch-Site`.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// How form posts prove they come from this site's own pages.
#[derive(Debug, Clone, Default)]
pub enum CsrfTokens {
    /// No token: the Origin/Fetch-Metadata check alone (the default; enough
    /// for browsers that send `Sec-Fetch-Site` or `Origin`).
    #[default]
    None,
    /// One token per session kept in the session record (ends with it).
    Session,
    /// Synchronizer tokens in the store, bound to the session, with a lifetime; one-time or reusable.
    Store(SynchronizerTokens),
    /// Stateless HMAC tokens bound to the session (signed double submit).
    Signed(SignedTokens),
    /// Stateless HMAC tokens that need no session: bound to the session
    /// when the request has one, otherwise to a random nonce in a cookie
    /// the layer sets (signed double submit). Issuing or checking a token
    /// never writes to the store, so anonymous forms (a sign-in page) cost
    /// nothing there.
    DoubleSubmit(DoubleSubmitTokens),
}

/// Signed double-submit tokens for [`CsrfTokens::DoubleSubmit`].
///
/// A request with a live session gets a token bound to the session's
/// handle, exactly like [`CsrfTokens::Signed`]. A request without one gets
/// a token bound to a random nonce kept in a cookie (default
/// `__Host-authstore-csrf`, `Secure`, `HttpOnly`, `SameSite=Lax`, a day
/// long); the layer sets the cookie on the response that issued the first
/// token. A form post is accepted when its token was signed by a key of the
/// ring for the same binding: the request's session if it has one, its
/// cookie's nonce otherwise. Another site can neither read the cookie nor
/// compute the signature, and the `__Host-` prefix keeps sibling
/// subdomains from planting a cookie of their own.
///
/// Issue the token after any change of the session in the same request
/// (signing in moves the session to a new id): a token bound to the
/// nonce does not verify once the request carries a session.
#[derive(Debug, Clone)]
pub struct DoubleSubmitTokens {
    tokens: SignedTokens,
    cookie: CookieConfig,
    cookie_name: String,
    max_age: Duration,
}

/// Shortest and longest nonce accepted from the cookie.
const NONCE_LEN: std::ops::RangeInclusive<usize> = 22..=128;

impl DoubleSubmitTokens {
    /// Tokens signed with `ring`'s newest key; the nonce cookie with the
    /// default attributes under the name `authstore-csrf`.
    pub fn new(ring: KeyRing) -> Self {
        let cookie = CookieConfig {
            name: "authstore-csrf".into(),
            ..CookieConfig::default()
        };
        Self {
            tokens: SignedTokens::new(ring),
            cookie_name: cookie.full_name(),
            cookie,
            max_age: Duration::from_secs(24 * 3600),
        }
    }

    /// The nonce cookie's attributes (its name prefix follows them).
    pub fn cookie(mut self, cookie: CookieConfig) -> Self {
        self.cookie_name = cookie.full_name();
        self.cookie = cookie;
        self
    }

    /// Development mode: the nonce cookie is not `Secure` and has no
    /// prefix, so it works over `http://localhost`.
    pub fn dev_mode(self) -> Self {
        let cookie = CookieConfig {
            secure: false,
            ..self.cookie.clone()
        };
        self.cookie(cookie)
    }

    /// How long the nonce cookie lives (default one day); a form older than
    /// that must be loaded again.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age.max(Duration::from_secs(1));
        self
    }

    /// The nonce cookie's full name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The nonce the request's cookie carries, if well-formed.
    fn nonce<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        read_cookie(headers, &self.cookie_name).filter(|n| {
            NONCE_LEN.contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }
}

fn session_binding(handle: &str) -> String {
    format!("session:{handle}")
}

fn nonce_binding(nonce: &str) -> String {
    format!("nonce:{nonce}")
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one).
fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v.trim_matches('"'))
        })
}

#[derive(Debug)]
struct Shared {
    origin: OriginCheck,
    tokens: CsrfTokens,
    log_only: bool,
    header: HeaderName,
    field: String,
    max_form_bytes: usize,
}

/// CSRF protection for unsafe methods (everything but GET, HEAD, OPTIONS, TRACE).
///
/// Every unsafe request is checked against Fetch Metadata (`Sec-Fetch-Site`)
/// or, without it, `Origin` against `Host`, with an allow-list of trusted
/// origins. With [`tokens`](Self::tokens) set, it must also carry the
/// token, in the `x-csrf-token` header or the `_csrf` field of an
/// `application/x-www-form-urlencoded` body. A refusal is `403` with a JSON
/// body `{"error":"csrf", "reason": …}`. Responses to unsafe requests get
/// `Vary: Origin, Sec-Fetch-Site`, since the verdict depends on them.
///
/// Token modes need [`SessionLayer`](crate::SessionLayer) outside this layer.
#[derive(Debug, Clone)]
pub struct CsrfLayer {
    shared: Arc<Shared>,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsrfLayer {
    /// Origin/Fetch-Metadata verification with an empty allow-list, no token, enforcing.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                origin: OriginCheck::new(),
                tokens: CsrfTokens::None,
                log_only: false,
                header: HeaderName::from_static("x-csrf-token"),
                field: "_csrf".into(),
                max_form_bytes: 64 * 1024,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        let shared =
            Arc::get_mut(&mut self.shared).expect("configure a CsrfLayer before cloning it");
        f(shared);
        self
    }

    /// Trusts unsafe requests from `origin` (`scheme://host[:port]`), e.g. a separate front end.
    pub fn allow_origin(self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        self.edit(|s| s.origin = std::mem::take(&mut s.origin).allow_origin(origin))
    }

    /// Also requires a token, as `mode` says.
    pub fn tokens(self, mode: CsrfTokens) -> Self {
        self.edit(|s| s.tokens = mode)
    }

    /// Logs what would be refused and lets it through (to roll out safely).
    pub fn log_only(self, on: bool) -> Self {
        self.edit(|s| s.log_only = on)
    }

    /// The header that carries the token (default `x-csrf-token`).
    pub fn header(self, name: HeaderName) -> Self {
        self.edit(|s| s.header = name)
    }

    /// The form field that carries the token (default `_csrf`).
    pub fn form_field(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.edit(|s| s.field = name)
    }

    /// Largest form body read to find the token (default 64 KiB; larger is `413`).
    pub fn max_form_bytes(self, bytes: usize) -> Self {
        self.edit(|s| s.max_form_bytes = bytes)
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`CsrfLayer`] wraps around a router or handler.
#[derive(Debug, Clone)]
pub struct CsrfService<S> {
    inner: S,
    shared: Arc<Shared>,
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

impl<S> Service<Request<Body>> for CsrfService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let slot = NewNonce::default();
        req.extensions_mut().insert(CsrfConfig(Arc::clone(&shared)));
        req.extensions_mut().insert(slot.clone());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if is_safe(req.method()) {
                let mut response = inner.call(req).await?;
                set_nonce_cookie(&shared, &slot, &mut response);
                return Ok(response);
            }
            let mut response = match verify(&shared, req).await {
                Ok((req, None)) => inner.call(req).await?,
                Ok((req, Some(reason))) if shared.log_only => {
                    tracing::warn!(reason, "CSRF check failed; let through (log-only mode)");
                    inner.call(req).await?
                }
                Ok((_, Some(reason))) => {
                    tracing::info!(reason, "CSRF check refused a request");
                    let body = serde_json::json!({ "error": "csrf", "reason": reason });
                    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
                }
                Err(response) => response,
            };
            set_nonce_cookie(&shared, &slot, &mut response);
            response
                .headers_mut()
                .append(VARY, HeaderValue::from_static("Origin, Sec-Fetch-Site"));
            Ok(response)
        })
    }
}

/// The nonce a [`CsrfToken`] drew for a request without a nonce cookie,
/// for the layer to set on the response.
#[derive(Debug, Clone, Default)]
struct NewNonce(Arc<std::sync::Mutex<Option<String>>>);

impl NewNonce {
    fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|n| n.clone())
    }
}

/// Sets the nonce cookie when a token bound to a new nonce was issued.
fn set_nonce_cookie(shared: &Shared, slot: &NewNonce, response: &mut Response) {
    let (CsrfTokens::DoubleSubmit(tokens), Some(nonce)) = (&shared.tokens, slot.get()) else {
        return;
    };
    let header = tokens
        .cookie
        .set_cookie(&tokens.cookie_name, Some(&nonce), tokens.max_age);
    response.headers_mut().append(SET_COOKIE, header);
}

/// Checks one unsafe request. Returns it (its body re-assembled if it was
/// read for the token) with the reason it fails, if it does; or the
/// response to send instead when the check itself cannot run.
async fn verify(
    shared: &Shared,
    req: Request<Body>,
) -> Result<(Request<Body>, Option<&'static str>), Response> {
    let headers = req.headers();
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let parts = RequestParts {
        method: req.method().as_str(),
        sec_fetch_site: text(&SEC_FETCH_SITE),
        origin: text(&ORIGIN),
        host: text(&HOST),
    };
    if let OriginVerdict::Deny(reason) | OriginVerdict::WouldDeny(reason) =
        shared.origin.check(&parts)
    {
        return Ok((req, Some(reason)));
    }
    if matches!(shared.tokens, CsrfTokens::None) {
        return Ok((req, None));
    }
    let (req, token) = presented_token(shared, req).await?;
    let Some(token) = token else {
        return Ok((req, Some("missing CSRF token")));
    };
    let Some(session) = req.extensions().get::<RequestSession>().cloned() else {
        return Err(missing_session_layer().into_response());
    };
    if let CsrfTokens::DoubleSubmit(tokens) = &shared.tokens {
        let handle = session
            .handle()
            .await
            .map_err(IntoResponse::into_response)?;
        let binding = match (handle, tokens.nonce(req.headers())) {
            (Some(handle), _) => session_binding(handle.as_str()),
            (None, Some(nonce)) => nonce_binding(nonce),
            (None, None) => return Ok((req, Some("missing CSRF cookie"))),
        };
        let valid = tokens.tokens.verify(&binding, &token);
        return Ok((req, (!valid).then_some("invalid CSRF token")));
    }
    let valid = token_is_valid(shared, &session, &token)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((req, (!valid).then_some("invalid CSRF token")))
}

/// The token from the header or, for a urlencoded form, its field (the
/// body is read, at most `max_form_bytes`, and put back).
async fn presented_token(
    shared: &Shared,
    req: Request<Body>,
) -> Result<(Request<Body>, Option<String>), Response> {
    if let Some(token) = req
        .headers()
        .get(&shared.header)
        .and_then(|v| v.to_str().ok())
    {
        let token = token.to_owned();
        return Ok((req, Some(token)));
    }
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((req, None));
    }
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, shared.max_form_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let error = Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "form_too_large",
                format!("form bodies are limited to {} bytes", shared.max_form_bytes),
            );
            return Err(error.into_response());
        }
    };
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| *k == *shared.field)
        .map(|(_, v)| v.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

async fn token_is_valid(
    shared: &Shared,
    session: &RequestSession,
    token: &str,
) -> Result<bool, Error> {
    Ok(match &shared.tokens {
        CsrfTokens::None => true,
        CsrfTokens::Session => {
            session
                .get::<String>(SESSION_TOKEN_KEY)
                .await?
                .is_some_and(|expected| {
                    authstore::secret::constant_time_eq(expected.as_bytes(), token.as_bytes())
                })
        }
        CsrfTokens::Store(tokens) => match session.handle().await? {
            Some(handle) => tokens.verify(handle.as_str(), token).await?,
            None => false,
        },
        CsrfTokens::Signed(tokens) => match session.handle().await? {
            Some(handle) => tokens.verify(handle.as_str(), token),
            None => false,
        },
        // Checked in `verify`, which has the cookie.
        CsrfTokens::DoubleSubmit(_) => false,
    })
}

/// The request's cookie nonce, or the one already drawn for this
/// response, or a new one (which the layer then sets as the cookie).
fn request_nonce(parts: &Parts, tokens: &DoubleSubmitTokens) -> Result<String, Error> {
    if let Some(nonce) = tokens.nonce(&parts.headers) {
        return Ok(nonce.to_owned());
    }
    let slot = parts
        .extensions
        .get::<NewNonce>()
        .cloned()
        .unwrap_or_default();
    let mut drawn = slot.0.lock().map_err(|_| {
        Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "csrf_state",
            "the CSRF nonce slot is poisoned",
        )
    })?;
    if let Some(nonce) = drawn.as_ref() {
        return Ok(nonce.clone());
    }
    let nonce = authstore::secret::random_token()?;
    *drawn = Some(nonce.clone());
    Ok(nonce)
}

fn missing_session_layer() -> Error {
    Error::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "missing_session_layer",
        "CSRF tokens need SessionLayer outside CsrfLayer",
    )
}

/// The layer's settings, in the request for [`CsrfToken`].
#[derive(Debug, Clone)]
struct CsrfConfig(Arc<Shared>);

/// The CSRF token for the request's session, for templates and API
/// clients: put it in a hidden form field named [`field`](Self::field) or
/// the header named [`header`](Self::header). Creates the session if there
/// is none, except in [`CsrfTokens::DoubleSubmit`] mode, which binds the
/// token to a cookie nonce instead and never writes to the store. Needs
/// [`CsrfLayer`] with a token mode, inside [`SessionLayer`](crate::SessionLayer).
///
/// Store, signed and double-submit tokens are bound to the session's id,
/// so logging in (which moves the session to a new id) requires a fresh
/// token; a session-mode token moves with the session data.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    token: String,
    field: String,
    header: HeaderName,
}

impl CsrfToken {
    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The form field the layer reads it from.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The header the layer reads it from.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(CsrfConfig(shared)) = parts.extensions.get::<CsrfConfig>().cloned() else {
            return Err(Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "missing_csrf_layer",
                "the CsrfToken extractor needs CsrfLayer around the route",
            ));
        };
        let session = RequestSession::from_request_parts(parts, state)
            .await
            .map_err(|_| missing_session_layer())?;
        let token = match &shared.tokens {
            CsrfTokens::None => {
                return Err(Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no_csrf_tokens",
                    "CsrfLayer has no token mode; configure CsrfLayer::tokens",
                ));
            }
            CsrfTokens::Session => session.with_stored(session_token).await??,
            CsrfTokens::Store(tokens) => {
                session.ensure().await?;
                let handle = session.handle().await?.ok_or_else(missing_session_layer)?;
                tokens.issue(handle.as_str()).await?
            }
            CsrfTokens::Signed(tokens) => {
                session.ensure().await?;
                let handle = session.handle().await?.ok_or_else(missing_session_layer)?;
                tokens.issue(handle.as_str())?
            }
            CsrfTokens::DoubleSubmit(tokens) => {
                let binding = match session.handle().await? {
                    Some(handle) => session_binding(handle.as_str()),
                    None => nonce_binding(&request_nonce(parts, tokens)?),
                };
                tokens.tokens.issue(&binding)?
            }
        };
        Ok(Self {
            token,
            field: shared.field.clone(),
            header: shared.header.clone(),
        })
    }
}
