//! The HTTP edge of `authstore serve`: [`HttpLimits`] (header-read and request timeouts, connection and request limits), the layer enforcing the request limits, and the HTTP/1 connection server with graceful drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every in-flight request finished.
    Complete,
    /// The drain timeout passed first; the remaining connections were dropped.
    TimedOut,
    /// A second signal cut the drain short (only when `authstore serve` runs the server).
    Interrupted,
}

/// Limits of the HTTP edge; [`Default`] gives the safe defaults
/// (`[http]` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a client may take to send a request's line and headers.
    /// It also closes a keep-alive connection idle for this long.
    pub header_read_timeout: Duration,
    /// How long one request may take, from its headers to the response
    /// head: waiting for a request slot, reading the body and handling it.
    /// Past it the answer is `503` with `Retry-After`.
    pub request_timeout: Duration,
    /// Connections open at once. When all are taken the server stops
    /// accepting: new connections wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Requests handled at once. Beyond it a request waits for a slot,
    /// within its request timeout.
    pub max_concurrent_requests: usize,
}

impl HttpLimits {
    /// The default header-read timeout.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default request timeout.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default connection limit.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
    /// The default request concurrency.
    pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 512;
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_concurrent_requests: Self::DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

/// What the request-limit layer shares between routes.
#[derive(Debug, Clone)]
struct RequestLimit {
    slots: Arc<Semaphore>,
    timeout: Duration,
}

/// `router` with `limits.request_timeout` and
/// `limits.max_concurrent_requests` applied to every route (and the
/// fallback). Add it before the metrics layer, so that timed-out requests
/// are counted under their route.
pub fn limit_requests(router: Router, limits: &HttpLimits) -> Router {
    let limit = RequestLimit {
        slots: Arc::new(Semaphore::new(limits.max_concurrent_requests.max(1))),
        timeout: limits.request_timeout,
    };
    router.layer(axum::middleware::from_fn_with_state(limit, limit_request))
}

async fn limit_request(
    State(limit): State<RequestLimit>,
    request: Request,
    next: Next,
) -> Response {
    let route = authstore_axum::http_metrics::route_label(request.extensions()).to_owned();
    let handled = async {
        // The semaphore is never closed, so this waits for a slot.
        let _slot = limit.slots.acquire().await;
        next.run(request).await
    };
    match tokio::time::timeout(limit.timeout, handled).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                route,
                timeout_ms = limit.timeout.as_millis() as u64,
                "request timed out"
            );
            timed_out()
        }
    }
}

/// `503` with a JSON body in the OAuth error shape, `Retry-After: 1` and `Connection: close`.
fn timed_out() -> Response {
    let body = serde_json::json!({
        "error": "temporarily_unavailable",
        "error_description": "the request was not completed in time; try again",
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// How often at most the "connection limit reached" warning is logged.
const SATURATION_LOG_EVERY: Duration = Duration::from_secs(60);

/// Serves `app` over HTTP/1.1 on `listener` until `shutdown` completes,
/// within `limits` (header-read timeout, connection limit; the request
/// limits are [`limit_requests`]'s). Then it closes the listener (new
/// connections are refused), closes idle connections, lets in-flight
/// requests finish with `Connection: close` for at most `drain_timeout`,
/// and drops whatever is left. Handlers see the peer address as
/// `ConnectInfo<SocketAddr>`. Dropping the returned future drops every
/// connection at once.
///
/// # Errors
/// None today: accept errors are logged and retried.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
    limits: HttpLimits,
) -> io::Result<Drain> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut last_saturation_log: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if last_saturation_log.is_none_or(|at| at.elapsed() >= SATURATION_LOG_EVERY) {
                    last_saturation_log = Some(Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes"
                    );
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let connection = serve_one(builder.clone(), stream, peer, app.clone(), stop_rx.clone());
        connections.spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(drain_timeout, drained).await.is_ok() {
        Ok(Drain::Complete)
    } else {
        connections.abort_all();
        Ok(Drain::TimedOut)
    }
}

/// Serves one connection until it closes; when `stop` turns true, it
/// finishes the request in flight (with `Connection: close`) and closes.
async fn serve_one(
    builder: http1::Builder,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut app.clone(), request)
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = async { drop(stop.wait_for(|stop| *stop).await) } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            tracing::debug!(%peer, "closed a connection that sent no complete request headers in time");
        } else {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Errors of one connection attempt, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
