//! [`HttpMetricsLayer`]: counts and times requests by method, matched route and status through the `metrics` facade (feature `metrics`).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`HTTP_REQUESTS`] `authstore_http_requests_total` | counter | `method`, `route`, `status` |
//! | [`HTTP_REQUEST_DURATION`] `authstore_http_request_duration_seconds` | histogram | `method`, `route` |
//! | [`HTTP_REQUESTS_IN_FLIGHT`] `authstore_http_requests_in_flight` | gauge | |
//!
//! `route` is the matched route pattern (`/users/{id}`), or
//! [`UNMATCHED_ROUTE`] when no route matched; never the raw path, which may
//! carry codes or tokens and would let any client grow the label set.
//! `method` is the method's name for the standard methods and `OTHER` for
//! the rest, for the same reason.
//!
//! ```
//! use authstore_axum::http_metrics::HttpMetricsLayer;
//! use axum::{Router, routing::get};
//!
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(|| async { "item" }))
//!     .layer(HttpMetricsLayer::new());
//! # let _ = app;
//! ```
//!
//! The series go to the recorder installed with
//! [`metrics::set_global_recorder`] (install it before building the layer),
//! or to the one given to [`HttpMetricsLayer::with_recorder`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use authstore::metered::{SharedRecorder, with_recorder};
use axum::extract::MatchedPath;
use http::{Method, Request, Response};
use metrics::Gauge;
use tower_layer::Layer;
use tower_service::Service;

/// HTTP requests answered, by method, matched route and status.
pub const HTTP_REQUESTS: &str = "authstore_http_requests_total";
/// Time to answer an HTTP request (until the response head), by method and matched route.
pub const HTTP_REQUEST_DURATION: &str = "authstore_http_request_duration_seconds";
/// HTTP requests being handled.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "authstore_http_requests_in_flight";
/// The `route` label of requests no route matched (404s, probes of random paths).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `route` label of a request: the pattern of the route that matched it
/// (`/users/{id}`), or [`UNMATCHED_ROUTE`]. Never the raw path.
pub fn route_label(extensions: &http::Extensions) -> &str {
    extensions
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}

/// Bucket bounds (seconds) that suit [`HTTP_REQUEST_DURATION`]: 1 ms to 10 s.
/// Give them to the exporter, e.g. `PrometheusBuilder::set_buckets_for_metric`.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Records every request it wraps (see the [module](self) for the series).
/// Add it with [`Router::layer`](axum::Router::layer), which wraps each
/// route and the fallback, so the matched route pattern is known. Clones
/// share the in-flight count.
#[derive(Clone)]
pub struct HttpMetricsLayer {
    shared: Arc<Shared>,
}

struct Shared {
    recorder: Option<SharedRecorder>,
    in_flight: AtomicI64,
    in_flight_gauge: Gauge,
}

impl std::fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsLayer")
            .field("in_flight", &self.in_flight())
            .field("own_recorder", &self.shared.recorder.is_some())
            .finish()
    }
}

impl Default for HttpMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetricsLayer {
    /// A layer recording into the global recorder (the one installed now).
    pub fn new() -> Self {
        Self::build(None)
    }

    /// A layer recording into `recorder` instead of the global one.
    pub fn with_recorder(recorder: SharedRecorder) -> Self {
        Self::build(Some(recorder))
    }

    fn build(recorder: Option<SharedRecorder>) -> Self {
        let in_flight_gauge = with_recorder(recorder.as_ref(), || {
            metrics::describe_counter!(
                HTTP_REQUESTS,
                "HTTP requests answered, by method, matched route and status."
            );
            metrics::describe_histogram!(
                HTTP_REQUEST_DURATION,
                "Time to answer an HTTP request (until the response head)."
            );
            metrics::describe_gauge!(HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being handled.");
            let gauge = metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT);
            gauge.set(0.0);
            gauge
        });
        Self {
            shared: Arc::new(Shared {
                recorder,
                in_flight: AtomicI64::new(0),
                in_flight_gauge,
            }),
        }
    }

    /// Requests this layer (and its clones) are handling right now.
    pub fn in_flight(&self) -> i64 {
        self.shared.in_flight.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`HttpMetricsLayer`] wraps around a route.
#[derive(Clone)]
pub struct HttpMetricsService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for HttpMetricsService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for HttpMetricsService<S>
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
        let method = bounded_method(request.method());
        let guard = InFlight::start(Arc::clone(&self.shared));
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let elapsed = started.elapsed().as_secs_f64();
            if let Ok(response) = &result {
                let status = response.status().as_u16().to_string();
                with_recorder(guard.shared.recorder.as_ref(), || {
                    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
                        .increment(1);
                    metrics::histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route)
                        .record(elapsed);
                });
            }
            drop(guard);
            result
        })
    }
}

/// Counts a request in flight until dropped (also when the request is cancelled).
struct InFlight {
    shared: Arc<Shared>,
}

impl InFlight {
    fn start(shared: Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        shared.in_flight_gauge.increment(1.0);
        Self { shared }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.shared.in_flight_gauge.decrement(1.0);
    }
}

/// Standard methods keep their name; anything else is `OTHER`, so a client
/// cannot grow the label set.
fn bounded_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}
