//! The server's metrics: one Prometheus recorder per server that the HTTP layer, the metered store and the grant counters record into through the `metrics` facade.

use std::sync::Arc;
use std::time::Duration;

use authstore::Store;
use authstore::metered::{
    MeteredStore, STORE_BUCKETS, STORE_OPERATION_DURATION, SharedRecorder, with_recorder,
};
use authstore_axum::http_metrics::{HTTP_BUCKETS, HTTP_REQUEST_DURATION, HttpMetricsLayer};
use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const GRANTS_ISSUED: &str = "authstore_grants_issued_total";
const GRANTS_REVOKED: &str = "authstore_grants_revoked_total";
const BUILD_INFO: &str = "authstore_build_info";
const STORE_MAX_ENTRIES: &str = "authstore_store_max_entries";

/// How often [`Metrics::run_upkeep`] should run: it bounds the samples a
/// histogram holds between two scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The server's metrics. Cheap to clone; clones share the recorder.
///
/// Unlike a globally installed recorder, each server (and each test's
/// server) has its own, so two servers in one process never mix counts.
#[derive(Clone)]
pub struct Metrics {
    recorder: SharedRecorder,
    handle: PrometheusHandle,
    http: HttpMetricsLayer,
    grants_issued: Counter,
    grants_revoked: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh recorder with the build info and zeroed grant counters.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), HTTP_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(STORE_OPERATION_DURATION.into()),
                    STORE_BUCKETS,
                )
            })
            .expect("the bucket lists are non-empty constants")
            .build_recorder();
        let handle = recorder.handle();
        let recorder: SharedRecorder = Arc::new(recorder);
        let (grants_issued, grants_revoked) = with_recorder(Some(&recorder), || {
            metrics::describe_gauge!(BUILD_INFO, "The running authstore server version.");
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            metrics::describe_counter!(GRANTS_ISSUED, "OAuth grants issued.");
            metrics::describe_counter!(GRANTS_REVOKED, "OAuth grants revoked.");
            let issued = metrics::counter!(GRANTS_ISSUED);
            let revoked = metrics::counter!(GRANTS_REVOKED);
            issued.absolute(0);
            revoked.absolute(0);
            (issued, revoked)
        });
        Self {
            http: HttpMetricsLayer::with_recorder(Arc::clone(&recorder)),
            recorder,
            handle,
            grants_issued,
            grants_revoked,
        }
    }

    /// `store`, its operations recorded here.
    pub fn meter(&self, store: Arc<dyn Store>) -> MeteredStore {
        MeteredStore::with_recorder(store, Arc::clone(&self.recorder))
    }

    /// The layer that records HTTP requests here.
    pub fn http_layer(&self) -> HttpMetricsLayer {
        self.http.clone()
    }

    /// A grant was issued (a code redeemed, or client credentials granted).
    pub fn grant_issued(&self) {
        self.grants_issued.increment(1);
    }

    /// A grant was revoked (by revocation, or reuse detection).
    pub fn grant_revoked(&self) {
        self.grants_revoked.increment(1);
    }

    /// Reports the store's entry bound (`authstore_store_max_entries`).
    pub fn set_store_max_entries(&self, max_entries: u64) {
        let gauge: Gauge = with_recorder(Some(&self.recorder), || {
            metrics::describe_gauge!(
                STORE_MAX_ENTRIES,
                "Entries the store holds at most; beyond it entries are evicted."
            );
            metrics::gauge!(STORE_MAX_ENTRIES)
        });
        #[allow(clippy::cast_precision_loss)]
        gauge.set(max_entries as f64);
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> i64 {
        self.http.in_flight()
    }

    /// Every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains the histograms' recent samples into their buckets; run it
    /// every [`UPKEEP_INTERVAL`] so memory stays bounded when nobody scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Runs [`Metrics::run_upkeep`] every [`UPKEEP_INTERVAL`] until `stopped`.
pub(crate) fn spawn_upkeep(
    metrics: &Metrics,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let metrics = metrics.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let upkeep = async {
            loop {
                ticks.tick().await;
                metrics.run_upkeep();
            }
        };
        tokio::select! {
            () = upkeep => {}
            () = stopped => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_server_reports_its_version_and_zero_grants() {
        let metrics = Metrics::new();
        metrics.grant_issued();
        metrics.set_store_max_entries(1_000_000);
        let text = metrics.render();
        for series in [
            "authstore_grants_issued_total 1\n",
            "authstore_grants_revoked_total 0\n",
            "authstore_store_max_entries 1000000\n",
            "# HELP authstore_grants_revoked_total OAuth grants revoked.\n",
        ] {
            assert!(text.contains(series), "missing {series:?} in:\n{text}");
        }
        assert!(
            text.contains(&format!(
                "authstore_build_info{{version=\"{}\"}} 1\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
    }

    #[test]
    fn two_servers_in_one_process_keep_their_counts_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.grant_revoked();
        assert!(a.render().contains("authstore_grants_revoked_total 1\n"));
        assert!(b.render().contains("authstore_grants_revoked_total 0\n"));
    }
}
