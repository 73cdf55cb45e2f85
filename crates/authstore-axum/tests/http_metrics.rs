//! `HttpMetricsLayer`: requests counted by method, matched route and status, timed into a histogram, and counted in flight, read back from a Prometheus recorder.
#![cfg(feature = "metrics")]

use std::sync::Arc;

use authstore_axum::http_metrics::{HTTP_BUCKETS, HTTP_REQUEST_DURATION, HttpMetricsLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt as _;

fn recorder() -> (HttpMetricsLayer, PrometheusHandle) {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), HTTP_BUCKETS)
        .expect("valid buckets")
        .build_recorder();
    let handle = recorder.handle();
    (HttpMetricsLayer::with_recorder(Arc::new(recorder)), handle)
}

async fn call(app: &Router, method: &str, uri: &str) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_method_and_status() {
    let (layer, handle) = recorder();
    let app = Router::new()
        .route(
            "/items/{id}",
            get(|| async { "item" }).post(|| async { StatusCode::CREATED }),
        )
        .layer(layer.clone());
    assert_eq!(call(&app, "GET", "/items/1").await, StatusCode::OK);
    assert_eq!(
        call(&app, "GET", "/items/2?code=secret-code").await,
        StatusCode::OK
    );
    assert_eq!(call(&app, "POST", "/items/3").await, StatusCode::CREATED);
    assert_eq!(
        call(&app, "BREW", "/items/4").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(&app, "GET", "/no/such/page").await,
        StatusCode::NOT_FOUND
    );

    let text = handle.render();
    for series in [
        "# TYPE authstore_http_requests_total counter",
        "authstore_http_requests_total{method=\"GET\",route=\"/items/{id}\",status=\"200\"} 2\n",
        "authstore_http_requests_total{method=\"POST\",route=\"/items/{id}\",status=\"201\"} 1\n",
        "authstore_http_requests_total{method=\"OTHER\",route=\"/items/{id}\",status=\"405\"} 1\n",
        "authstore_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n",
        "# TYPE authstore_http_request_duration_seconds histogram",
        "authstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/items/{id}\",le=\"+Inf\"} 2\n",
        "authstore_http_request_duration_seconds_count{method=\"GET\",route=\"/items/{id}\"} 2\n",
        "authstore_http_request_duration_seconds_bucket{method=\"GET\",route=\"/items/{id}\",le=\"0.001\"} ",
        "authstore_http_requests_in_flight 0\n",
    ] {
        assert!(text.contains(series), "missing {series:?} in:\n{text}");
    }
    assert!(
        !text.contains("secret-code") && !text.contains("/items/1") && !text.contains("/no/such"),
        "raw paths never become labels:\n{text}"
    );
    assert_eq!(layer.in_flight(), 0);
}

#[tokio::test]
async fn a_request_is_in_flight_until_answered_or_cancelled() {
    let (layer, handle) = recorder();
    let release = Arc::new(Notify::new());
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let app = Router::new()
        .route(
            "/slow",
            get({
                let release = Arc::clone(&release);
                move || async move {
                    if let Some(tx) = entered.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                    release.notified().await;
                    "done"
                }
            }),
        )
        .layer(layer.clone());
    let pending = tokio::spawn({
        let app = app.clone();
        async move { call(&app, "GET", "/slow").await }
    });
    entered_rx.await.unwrap();
    assert_eq!(layer.in_flight(), 1);
    assert!(
        handle
            .render()
            .contains("authstore_http_requests_in_flight 1\n"),
        "{}",
        handle.render()
    );
    pending.abort();
    let _ = pending.await;
    assert_eq!(layer.in_flight(), 0, "a cancelled request leaves the count");
    let text = handle.render();
    assert!(
        text.contains("authstore_http_requests_in_flight 0\n"),
        "{text}"
    );
    assert!(
        !text.contains("route=\"/slow\""),
        "a cancelled request has no status to count:\n{text}"
    );
}
