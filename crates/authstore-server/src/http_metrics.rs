//! [`MetricsLayer`]: a tower layer counting requests by matched route and status, timing them, and writing the access log.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use authstore_axum::{ClientIp, TrustedProxies};
use axum::extract::{ConnectInfo, MatchedPath};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::metrics::Metrics;

/// The route label of requests no route matched (404s, probes of random paths).
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// Records every request into [`Metrics`] (`authstore_http_requests_total`,
/// `authstore_http_request_duration_seconds`, `authstore_http_requests_in_flight`)
/// and logs one access line per request (target `authstore_server::access`;
/// `/health` and `/metrics` at debug, the rest at info) with the client IP,
/// seen through the [trusted proxies](Self::trusted_proxies).
///
/// Add it with [`Router::layer`](axum::Router::layer), which wraps each route,
/// so the matched route pattern ([`MatchedPath`]) is known; only the pattern
/// is recorded or logged, never the raw path or query (which may carry codes
/// or tokens).
#[derive(Debug, Clone)]
pub(crate) struct MetricsLayer {
    metrics: Metrics,
    proxies: Arc<TrustedProxies>,
}

impl MetricsLayer {
    /// A layer recording into `metrics`, logging the TCP peer as the client.
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self {
            metrics,
            proxies: Arc::new(TrustedProxies::none()),
        }
    }

    /// Logs the client behind these proxies instead of the peer.
    pub(crate) fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Arc::new(proxies);
        self
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
            proxies: Arc::clone(&self.proxies),
        }
    }
}

/// The service [`MetricsLayer`] wraps around a route.
#[derive(Debug, Clone)]
pub(crate) struct MetricsService<S> {
    inner: S,
    metrics: Metrics,
    proxies: Arc<TrustedProxies>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for MetricsService<S>
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
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
        let method = request.method().clone();
        let client_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(String::new, |peer| {
                ClientIp::resolve(peer.0.ip(), request.headers(), &self.proxies).to_string()
            });
        let metrics = self.metrics.clone();
        let guard = metrics.start_request();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let elapsed = started.elapsed();
            drop(guard);
            if let Ok(response) = &result {
                let status = response.status();
                metrics.record_request(&method, &route, status, elapsed);
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
