//! Server metrics: counters and histograms rendered in the Prometheus text format.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use http::{Method, StatusCode};

/// Upper bounds (seconds) of the HTTP request latency buckets.
pub(crate) const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's metrics. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    grants_issued: AtomicU64,
    grants_revoked: AtomicU64,
    in_flight: AtomicI64,
    /// Per (method, route): latency histogram and counts per status.
    routes: RwLock<HashMap<(Method, String), Arc<RouteSeries>>>,
}

#[derive(Debug)]
struct RouteSeries {
    latency: Histogram,
    statuses: Mutex<BTreeMap<u16, u64>>,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// A grant was issued (a code redeemed, or client credentials granted).
    pub fn grant_issued(&self) {
        self.inner.grants_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// A grant was revoked (by revocation, or reuse detection).
    pub fn grant_revoked(&self) {
        self.inner.grants_revoked.fetch_add(1, Ordering::Relaxed);
    }

    /// Grants issued so far.
    pub fn grants_issued(&self) -> u64 {
        self.inner.grants_issued.load(Ordering::Relaxed)
    }

    /// Grants revoked so far.
    pub fn grants_revoked(&self) -> u64 {
        self.inner.grants_revoked.load(Ordering::Relaxed)
    }

    /// Records one answered HTTP request. `route` is the matched route
    /// pattern (`/token`, `/users/{id}`), never the raw path, so the label
    /// set stays bounded.
    pub fn record_request(
        &self,
        method: &Method,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = bounded_method(method);
        let series = self.route_series(method, route);
        series.latency.observe(elapsed);
        *series
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status.as_u16())
            .or_default() += 1;
    }

    /// Requests answered so far on `route` with `status` (any method).
    pub fn requests(&self, route: &str, status: StatusCode) -> u64 {
        let routes = self
            .inner
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        routes
            .iter()
            .filter(|((_, r), _)| r == route)
            .map(|(_, s)| {
                let statuses = s.statuses.lock().unwrap_or_else(PoisonError::into_inner);
                statuses.get(&status.as_u16()).copied().unwrap_or(0)
            })
            .sum()
    }

    /// Requests being handled right now.
    pub fn in_flight(&self) -> i64 {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Marks a request in flight until the guard drops.
    pub(crate) fn start_request(&self) -> InFlightGuard {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightGuard {
            metrics: self.clone(),
        }
    }

    fn route_series(&self, method: Method, route: &str) -> Arc<RouteSeries> {
        let key = (method, route.to_owned());
        if let Some(found) = self
            .inner
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Arc::clone(found);
        }
        let mut routes = self
            .inner
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(routes.entry(key).or_insert_with(|| {
            Arc::new(RouteSeries {
                latency: Histogram::new(HTTP_BUCKETS),
                statuses: Mutex::default(),
            })
        }))
    }

    /// The HTTP and grant metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_into(&mut out);
        out
    }

    /// Appends the HTTP and grant metrics to `out` in the Prometheus text format.
    pub fn render_into(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP authstore_build_info The running authstore server version.\n\
             # TYPE authstore_build_info gauge\n\
             authstore_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        counter(
            out,
            "authstore_grants_issued_total",
            "OAuth grants issued.",
            self.grants_issued(),
        );
        counter(
            out,
            "authstore_grants_revoked_total",
            "OAuth grants revoked.",
            self.grants_revoked(),
        );
        let _ = writeln!(
            out,
            "# HELP authstore_http_requests_in_flight HTTP requests being handled.\n\
             # TYPE authstore_http_requests_in_flight gauge\n\
             authstore_http_requests_in_flight {}",
            self.in_flight()
        );
        let routes = self
            .inner
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut sorted: Vec<_> = routes.iter().collect();
        sorted.sort_by(|a, b| {
            (a.0.1.as_str(), a.0.0.as_str()).cmp(&(b.0.1.as_str(), b.0.0.as_str()))
        });
        out.push_str(
            "# HELP authstore_http_requests_total HTTP requests answered, by method, matched route and status.\n\
             # TYPE authstore_http_requests_total counter\n",
        );
        for ((method, route), series) in &sorted {
            let statuses = series
                .statuses
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (status, count) in statuses.iter() {
                let _ = writeln!(
                    out,
                    "authstore_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    method.as_str(),
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP authstore_http_request_duration_seconds Time to answer an HTTP request (until the response head).\n\
             # TYPE authstore_http_request_duration_seconds histogram\n",
        );
        for ((method, route), series) in &sorted {
            let labels = format!("method=\"{}\",route=\"{}\"", method.as_str(), escape(route));
            series
                .latency
                .render(out, "authstore_http_request_duration_seconds", &labels);
        }
    }
}

/// Decrements the in-flight gauge when dropped.
#[derive(Debug)]
pub(crate) struct InFlightGuard {
    metrics: Metrics,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.metrics.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Standard methods keep their name; anything else is `OTHER`, so a client cannot grow the label set.
fn bounded_method(method: &Method) -> Method {
    match *method {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS
        | Method::PATCH => method.clone(),
        _ => Method::from_bytes(b"OTHER").unwrap_or(Method::GET),
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// A label value escaped for the text format (`\`, `"` and newlines).
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A histogram with fixed buckets; observations are lock-free.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts; the last one is above every bound (`+Inf`).
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Writes `name_bucket`, `name_sum` and `name_count` lines with `labels` (without braces).
    pub(crate) fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {cumulative}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[0.01, 0.1]);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(1));
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn requests_are_counted_by_route_and_status() {
        let m = Metrics::new();
        m.record_request(
            &Method::GET,
            "/health",
            StatusCode::OK,
            Duration::from_millis(1),
        );
        m.record_request(
            &Method::GET,
            "/health",
            StatusCode::OK,
            Duration::from_millis(1),
        );
        m.record_request(
            &Method::from_bytes(b"BREW").unwrap(),
            "/health",
            StatusCode::OK,
            Duration::ZERO,
        );
        assert_eq!(m.requests("/health", StatusCode::OK), 3);
        let text = m.render();
        assert!(text.contains(
            "authstore_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "authstore_http_requests_total{method=\"OTHER\",route=\"/health\",status=\"200\"} 1"
        ));
        assert!(text.contains("authstore_grants_issued_total 0"));
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
