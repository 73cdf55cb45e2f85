//! The operations endpoints: `GET /health` (store health and latency, JSON, 503 when down) and `GET /metrics` (Prometheus text), on the main address or on the admin address.

use std::sync::Arc;
use std::time::Duration;

use authstore::Store;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::metrics::Metrics;
use crate::state::AppState;

/// A health check slower than this reports the store down.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The Prometheus text exposition content type.
pub(crate) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the operations endpoints read.
#[derive(Debug, Clone)]
pub struct Ops {
    store: Arc<dyn Store>,
    metrics: Metrics,
}

impl Ops {
    /// Endpoints over `store`, rendering `metrics`.
    pub fn new(store: Arc<dyn Store>, metrics: Metrics) -> Self {
        Self { store, metrics }
    }

    /// Reports the store's entry bound (`authstore_store_max_entries`).
    pub fn with_max_entries(self, max_entries: Option<u64>) -> Self {
        if let Some(max_entries) = max_entries {
            self.metrics.set_store_max_entries(max_entries);
        }
        self
    }

    /// Endpoints over the state's store and metrics.
    pub fn from_state(state: &AppState) -> Self {
        Self::new(Arc::clone(state.store()), state.metrics().clone())
    }

    /// The router: `GET /health` and `GET /metrics`.
    pub fn router(self) -> Router {
        Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .with_state(self)
    }

    /// The router with `GET /health` only (the main address, when
    /// `/metrics` is on the admin address).
    pub fn health_router(self) -> Router {
        Router::new().route("/health", get(health)).with_state(self)
    }

    /// Every metric in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        self.metrics.render()
    }
}

/// The body of `GET /health`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HealthReport {
    /// `"ok"` or `"unavailable"`.
    pub status: &'static str,
    /// The server version.
    pub version: &'static str,
    /// The store's answer.
    pub store: StoreHealth,
}

/// The store part of [`HealthReport`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StoreHealth {
    /// The backend name.
    pub backend: &'static str,
    /// Whether it answered correctly.
    pub ok: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
    /// What went wrong, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Checks the store (at most [`HEALTH_TIMEOUT`]).
pub(crate) async fn check(store: &dyn Store) -> HealthReport {
    let (ok, latency, detail) = match tokio::time::timeout(HEALTH_TIMEOUT, store.health()).await {
        Ok(health) => (health.ok, health.latency, health.detail),
        Err(_) => (
            false,
            HEALTH_TIMEOUT,
            Some(format!("no answer within {HEALTH_TIMEOUT:?}")),
        ),
    };
    HealthReport {
        status: if ok { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        store: StoreHealth {
            backend: store.capabilities().name,
            ok,
            latency_ms: latency.as_secs_f64() * 1000.0,
            detail,
        },
    }
}

async fn health(State(ops): State<Ops>) -> Response {
    let report = check(&*ops.store).await;
    let status = if report.store.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !report.store.ok {
        tracing::warn!(
            backend = report.store.backend,
            detail = report.store.detail.as_deref().unwrap_or(""),
            "store unhealthy"
        );
    }
    let mut response = (status, axum::Json(report)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let mut response = ops.render_metrics().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
