//! [`AccessLogLayer`]: one access-log line per request, with the matched route, status, latency and client IP.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use authstore_axum::http_metrics::route_label;
use authstore_axum::{ClientIp, TrustedProxies};
use axum::extract::ConnectInfo;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

/// Logs one access line per request (target `authstore_server::access`;
/// `/health` and `/metrics` at debug, the rest at info) with the client IP,
/// seen through the [trusted proxies](Self::trusted_proxies).
///
/// Add it with [`Router::layer`](axum::Router::layer), which wraps each route,
/// so the matched route pattern ([`route_label`]) is known; only the pattern
/// is logged, never the raw path or query (which may carry codes or tokens).
#[derive(Debug, Clone)]
pub(crate) struct AccessLogLayer {
    proxies: Arc<TrustedProxies>,
}

impl AccessLogLayer {
    /// A layer logging the TCP peer as the client.
    pub(crate) fn new() -> Self {
        Self {
            proxies: Arc::new(TrustedProxies::none()),
        }
    }

    /// Logs the client behind these proxies instead of the peer.
    pub(crate) fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Arc::new(proxies);
        self
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLogService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLogService {
            inner,
            proxies: Arc::clone(&self.proxies),
        }
    }
}

/// The service [`AccessLogLayer`] wraps around a route.
#[derive(Debug, Clone)]
pub(crate) struct AccessLogService<S> {
    inner: S,
    proxies: Arc<TrustedProxies>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for AccessLogService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = route_label(request.extensions()).to_owned();
        let method = request.method().clone();
        let client_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(String::new, |peer| {
                ClientIp::resolve(peer.0.ip(), request.headers(), &self.proxies).to_string()
            });
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let elapsed = started.elapsed();
            if let Ok(response) = &result {
                let status = response.status();
                let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
                if matches!(route.as_str(), "/health" | "/metrics") {
                    tracing::debug!(target: "authstore_server::access", %method, route, status = status.as_u16(), latency_ms, client_ip, "request");
                } else {
                    tracing::info!(target: "authstore_server::access", %method, route, status = status.as_u16(), latency_ms, client_ip, "request");
                }
            }
            result
        })
    }
}
