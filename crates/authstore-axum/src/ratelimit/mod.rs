//! [`RateLimitLayer`]: checks every request against an [`authstore::ratelimit::RateLimiter`], answering `429` with `Retry-After` and the IETF `RateLimit` headers.
//!
//! ```no_run
//! use authstore::ratelimit::{Limit, RateLimiter};
//! use authstore_axum::{KeyExtractor, RateLimitLayer, TrustedProxies};
//! use axum::{Router, routing::{get, post}};
//! use std::{net::SocketAddr, time::Duration};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = authstore::open("memory://").await?;
//! let api = RateLimiter::new(store.clone(), Limit::per(100, Duration::from_secs(60)));
//! let login = RateLimiter::new(store, Limit::per(5, Duration::from_secs(60)));
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .route("/login", post(|| async { "ok" }))
//!     // `layer` on the router runs after routing, so per-route quotas see the route.
//!     .layer(
//!         RateLimitLayer::new(api)
//!             .route("/login", login)
//!             .key(KeyExtractor::ClientIp)
//!             .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"])?),
//!     );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! See `docs/modules/axum-ratelimit.md` for the keys, headers, trusted
//! proxies and how store failures show.

mod client_ip;
mod forwarded;
mod headers;
mod key;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use authstore::ratelimit::{FailurePolicy, RateLimiter};
use axum::extract::MatchedPath;
use axum::response::Response;
use http::Request;
use http::request::Parts;
use tower_layer::Layer;
use tower_service::Service;

pub use client_ip::{ClientIp, FORWARDED, ForwardedHeader, TrustedProxies, X_FORWARDED_FOR};
use headers::HeaderStyle;
pub use headers::{
    RATELIMIT, RATELIMIT_DEGRADED, RATELIMIT_POLICY, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING,
    X_RATELIMIT_RESET,
};
pub use key::{KeyExtractor, KeyFn};

/// A closure giving the cost of a request (default 1). Costs above the
/// limiter's primary limit are cut to it.
pub type CostFn = Arc<dyn Fn(&Parts) -> u32 + Send + Sync>;

/// A limiter with its failure policy, when known.
#[derive(Debug, Clone)]
struct Limited {
    limiter: RateLimiter,
    policy: Option<FailurePolicy>,
}

impl Limited {
    fn new(limiter: RateLimiter) -> Self {
        let policy = Some(limiter.failure_policy().clone());
        Self { limiter, policy }
    }
}

/// Settings shared by every request through one layer.
#[derive(Clone)]
struct Shared {
    default: Limited,
    routes: HashMap<String, Limited>,
    key: KeyExtractor,
    cost: Option<CostFn>,
    proxies: TrustedProxies,
    ipv6_prefix: Option<u8>,
    headers: HeaderStyle,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("default", &self.default)
            .field("routes", &self.routes)
            .field("key", &self.key)
            .field("cost", &self.cost.is_some())
            .field("proxies", &self.proxies)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .field("headers", &self.headers)
            .finish()
    }
}

/// The rate-limit layer. See the module docs for an example.
///
/// Defaults: keyed by client address (the TCP peer; no proxy trusted),
/// cost 1, policy name `default`, no legacy headers, IPv6 clients keyed by
/// full address.
///
/// A request that is refused gets `429` and never reaches the service;
/// every limited response, allowed or refused, carries `RateLimit-Policy`
/// and `RateLimit` (see [`RATELIMIT`]). When the limiter's store fails, its
/// [`FailurePolicy`] decides: a degraded decision adds
/// `RateLimit-Degraded` and a warning in the log; under
/// `FailurePolicy::Error` the reply is `503`
/// `{"error":"rate_limit_unavailable"}` and the error is logged.
#[derive(Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

impl RateLimitLayer {
    /// Every request checked against `limiter`, with the default settings.
    pub fn new(limiter: RateLimiter) -> Self {
        Self {
            shared: Arc::new(Shared {
                default: Limited::new(limiter),
                routes: HashMap::new(),
                key: KeyExtractor::ClientIp,
                cost: None,
                proxies: TrustedProxies::none(),
                ipv6_prefix: None,
                headers: HeaderStyle {
                    policy: headers::sf_string("default"),
                    legacy: false,
                },
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        f(Arc::make_mut(&mut self.shared));
        self
    }

    /// Requests whose route (axum's [`MatchedPath`], e.g. `/users/{id}`) is
    /// `path` are checked against `limiter` instead of the default one,
    /// under the key `route:<path>|<key>`.
    ///
    /// The route is only known after routing: add the layer with
    /// [`Router::layer`](axum::Router::layer) or
    /// [`Router::route_layer`](axum::Router::route_layer), not around the
    /// router as a whole (there every request gets the default limiter).
    pub fn route(self, path: impl Into<String>, limiter: RateLimiter) -> Self {
        let path = path.into();
        self.edit(|s| {
            s.routes.insert(path, Limited::new(limiter));
        })
    }

    /// Who requests are counted against (default [`KeyExtractor::ClientIp`]).
    pub fn key(self, key: KeyExtractor) -> Self {
        self.edit(|s| s.key = key)
    }

    /// Counts requests against the key `f` names; `None` lets a request
    /// through unlimited. See [`KeyFn`].
    pub fn key_fn<F>(self, f: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.key(KeyExtractor::custom(f))
    }

    /// The cost of each request (default 1); see [`CostFn`].
    pub fn cost_fn<F>(self, f: F) -> Self
    where
        F: Fn(&Parts) -> u32 + Send + Sync + 'static,
    {
        self.edit(|s| s.cost = Some(Arc::new(f)))
    }

    /// Believes `X-Forwarded-For` from these proxies (default: nobody). See [`ClientIp`].
    pub fn trusted_proxies(self, proxies: TrustedProxies) -> Self {
        self.edit(|s| s.proxies = proxies)
    }

    /// Counts IPv6 clients by their network of this prefix length (64 is
    /// usual: one subscriber holds a /64) rather than by full address.
    pub fn ipv6_prefix(self, len: u8) -> Self {
        self.edit(|s| s.ipv6_prefix = Some(len.min(128)))
    }

    /// The policy name in the `RateLimit` headers (default `default`);
    /// give stacked layers different names. Characters other than
    /// printable ASCII are dropped.
    pub fn policy_name(self, name: &str) -> Self {
        self.edit(|s| s.headers.policy = headers::sf_string(name))
    }

    /// Also sends `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
    /// `X-RateLimit-Reset` (seconds from now).
    pub fn legacy_headers(self, on: bool) -> Self {
        self.edit(|s| s.headers.legacy = on)
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around a router or handler.
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request<B>> for RateLimitService<S>
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

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let client = ClientIp::from_parts(&parts, &shared.proxies);
            match client {
                Some(ip) if parts.extensions.get::<ClientIp>().is_none() => {
                    parts.extensions.insert(ip);
                }
                Some(_) => {}
                None => warn_unknown_client(),
            }
            let route = parts
                .extensions
                .get::<MatchedPath>()
                .map(MatchedPath::as_str);
            let (limited, route) = match route.and_then(|r| shared.routes.get_key_value(r)) {
                Some((path, limited)) => (limited, Some(path.as_str())),
                None => (&shared.default, None),
            };
            let ip = key::ip_key(client, shared.ipv6_prefix);
            let Some(mut key) = shared.key.key(&parts, &ip).await else {
                return inner.call(Request::from_parts(parts, body)).await;
            };
            if let Some(path) = route {
                key = key::route_key(path, key);
            }
            let most = limited.limiter.limit().requests;
            let cost = shared.cost.as_ref().map_or(1, |f| f(&parts).min(most));
            let decision = match limited.limiter.check(&key, cost).await {
                Ok(decision) => decision,
                Err(e) => {
                    tracing::error!(%key, error = %e, "rate limit: store failed; refusing with 503");
                    return Ok(headers::unavailable());
                }
            };
            let degraded = headers::degraded_label(limited.policy.as_ref(), &decision);
            if decision.degraded {
                tracing::warn!(
                    %key,
                    policy = degraded,
                    allowed = decision.allowed,
                    "rate limit: store failed; the failure policy decided"
                );
            }
            let mut response = if decision.allowed {
                inner.call(Request::from_parts(parts, body)).await?
            } else {
                headers::too_many_requests(&decision)
            };
            shared
                .headers
                .apply(response.headers_mut(), &decision, degraded);
            Ok(response)
        })
    }
}

/// Logs once per process that requests come without `ConnectInfo`.
fn warn_unknown_client() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "rate limit: no ConnectInfo<SocketAddr> in the request, so every client shares the key \
             `ip:unknown`; serve with into_make_service_with_connect_info::<SocketAddr>()"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authstore::ratelimit::Limit;
    use std::time::Duration;

    #[test]
    fn failure_policy_is_read_from_the_limiter() {
        let store: Arc<dyn authstore::Store> = Arc::new(
            authstore::MemoryStore::builder()
                .sweep_interval(None)
                .build()
                .unwrap(),
        );
        let limiter = RateLimiter::new(store, Limit::per(1, Duration::from_secs(1)));
        for policy in [
            FailurePolicy::Error,
            FailurePolicy::Open,
            FailurePolicy::Closed,
            FailurePolicy::Local,
        ] {
            let limiter = limiter.clone().on_store_failure(policy.clone());
            let got = Limited::new(limiter).policy;
            assert_eq!(format!("{got:?}"), format!("{:?}", Some(policy)));
        }
        let layer = RateLimitLayer::new(limiter).cost_fn(|_| 2);
        assert!(format!("{layer:?}").contains("cost: true"));
    }
}
