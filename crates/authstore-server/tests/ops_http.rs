//! `/health` (200 on a working store, 503 on a failing one), `/metrics` (Prometheus series after some requests), and draining in-flight requests on shutdown.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use authstore::Store;
use authstore_server::AppState;
use authstore_server::serve::{Drain, app, serve_until};
use authstore_testkit::UnavailableStore;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt as _;

mod ops_support;

/// The whole application (health, metrics and the OAuth routes) on a metered `inner` store.
fn application(inner: Arc<dyn Store>) -> (AppState, Router) {
    let state = AppState::metered(inner, ops_support::fast_settings()).unwrap();
    let router = app(&state, authstore_server::router(state.clone()));
    (state, router)
}

async fn call(router: &Router, method: &str, uri: &str) -> (StatusCode, http::HeaderMap, String) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn health_is_200_with_latency_on_a_working_store() {
    let (_, router) = application(authstore::open("memory://").await.unwrap());
    let (status, headers, body) = call(&router, "GET", "/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["store"]["backend"], "memory");
    assert_eq!(json["store"]["ok"], true);
    assert!(
        json["store"]["latency_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0),
        "{body}"
    );
    assert!(json["store"].get("detail").is_none());
}

#[tokio::test]
async fn health_is_503_on_a_failing_store() {
    let (_, router) = application(Arc::new(UnavailableStore));
    let (status, _, body) = call(&router, "GET", "/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "unavailable");
    assert_eq!(json["store"]["ok"], false);
    assert!(json["store"]["detail"].is_string(), "{body}");
    let (_, _, metrics) = call(&router, "GET", "/metrics").await;
    assert!(
        metrics.contains(
            "authstore_http_requests_total{method=\"GET\",route=\"/health\",status=\"503\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("authstore_store_errors_total{op=\"health\",kind=\"unhealthy\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_has_the_expected_series_after_some_requests() {
    let (state, router) = application(authstore::open("memory://").await.unwrap());
    call(&router, "GET", "/health").await;
    call(&router, "GET", "/health").await;
    call(&router, "GET", "/no/such/page?code=secret-code").await;
    let (status, _, _) = call(&router, "GET", "/.well-known/oauth-authorization-server").await;
    assert_eq!(status, StatusCode::OK, "the OAuth routes are merged in");
    call(&router, "POST", "/token").await;
    state.metrics().grant_issued();
    state.metrics().grant_revoked();
    let (status, headers, text) = call(&router, "GET", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for series in [
        "authstore_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2",
        "authstore_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "authstore_http_requests_total{method=\"GET\",route=\"/.well-known/oauth-authorization-server\",status=\"200\"} 1",
        "authstore_http_requests_total{method=\"POST\",route=\"/token\",status=\"",
        "authstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"+Inf\"} 2",
        "authstore_http_request_duration_seconds_count{method=\"GET\",route=\"/health\"} 2",
        "authstore_http_request_duration_seconds_sum{method=\"GET\",route=\"/health\"} ",
        "authstore_http_requests_in_flight 1",
        "authstore_store_operation_duration_seconds_count{op=\"health\"} 2",
        "authstore_store_operation_duration_seconds_bucket{op=\"get\",le=\"0.0001\"} ",
        "# TYPE authstore_store_operation_duration_seconds histogram",
        "authstore_grants_issued_total 1",
        "authstore_grants_revoked_total 1",
        "authstore_build_info{version=\"",
    ] {
        assert!(text.contains(series), "missing {series:?} in:\n{text}");
    }
    assert!(
        !text.contains("secret-code") && !text.contains("/no/such/page"),
        "raw paths never become labels"
    );
    // Every sample line is `name{labels} value` or `name value` with a numeric value.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit_once(' ').map(|(_, v)| v).unwrap_or("");
        assert!(value.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_ones() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let slow = {
        let (entered, release) = (Arc::clone(&entered), Arc::clone(&release));
        get(move || async move {
            entered.notify_one();
            release.notified().await;
            "finished"
        })
    };
    let router = Router::new().route("/slow", slow);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_until(
        listener,
        router,
        async move {
            let _ = stop_rx.await;
        },
        Duration::from_secs(60),
    ));
    let client = tokio::task::spawn_blocking(move || ops_support::http(addr, "GET", "/slow"));
    entered.notified().await;
    stop_tx.send(()).unwrap();
    // The listener closes: new connections are refused while the slow request is still running.
    let refused = tokio::task::spawn_blocking(move || {
        (0..500).any(|_| {
            let refused = std::net::TcpStream::connect(addr).is_err();
            if !refused {
                std::thread::sleep(Duration::from_millis(10));
            }
            refused
        })
    });
    assert!(
        refused.await.unwrap(),
        "the listener kept accepting after shutdown began"
    );
    assert!(
        !server.is_finished(),
        "the server waits for the in-flight request"
    );
    release.notify_one();
    let (status, body) = client.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "finished"));
    let drain = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(drain, Drain::Complete);
}

#[tokio::test]
async fn a_drain_that_outlasts_its_timeout_gives_up() {
    let entered = Arc::new(Notify::new());
    let hang = {
        let entered = Arc::clone(&entered);
        get(move || async move {
            entered.notify_one();
            std::future::pending::<&'static str>().await
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let router = Router::new().route("/hang", hang);
    let server = tokio::spawn(serve_until(
        listener,
        router,
        async move { drop(stop_rx.await) },
        Duration::from_millis(100),
    ));
    let stream = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        stream
    })
    .await
    .unwrap();
    entered.notified().await;
    stop_tx.send(()).unwrap();
    let drain = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(drain, Drain::TimedOut);
    drop(stream);
}
