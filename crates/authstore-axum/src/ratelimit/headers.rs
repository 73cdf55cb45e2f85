//! The rate-limit response headers (draft-ietf-httpapi-ratelimit-headers-09 and the legacy `X-RateLimit-*`) and the `429`/`503` replies.
//!
//! Following draft-ietf-httpapi-ratelimit-headers-09 (March 2025), both
//! fields are structured-field Lists whose members are a quoted policy name
//! with parameters:
//!
//! ```text
//! RateLimit-Policy: "default";q=100;w=60
//! RateLimit: "default";r=42;t=17
//! ```
//!
//! `q` is the quota (requests per window), `w` the window in seconds, `r`
//! the requests remaining and `t` the seconds until the quota is fully
//! available again (rounded up).

use std::time::Duration;

use authstore::ratelimit::{Decision, FailurePolicy};
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// `RateLimit-Policy`: the quota and window of the policy applied.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left of the quota, and when it resets.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Degraded`: the store failed and the limiter's failure policy
/// decided; the value is `fail-open`, `fail-closed` or `local`.
pub const RATELIMIT_DEGRADED: HeaderName = HeaderName::from_static("ratelimit-degraded");
/// Legacy `X-RateLimit-Limit` (requests per window).
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// Legacy `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// Legacy `X-RateLimit-Reset` (seconds from now, not a timestamp).
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Whole seconds, rounded up.
pub(super) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The seconds of a `Retry-After`: rounded up, at least 1.
pub(super) fn retry_secs(decision: &Decision) -> u64 {
    ceil_secs(decision.retry_after).max(1)
}

/// A policy name as a structured-field String: printable ASCII only, with
/// `"` and `\` escaped, quoted. Other characters are dropped.
pub(super) fn sf_string(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars().filter(|c| matches!(c, ' '..='~')) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// How the failure policy decided a degraded request, as the
/// `RateLimit-Degraded` value.
pub(super) fn degraded_label(policy: Option<&FailurePolicy>, decision: &Decision) -> &'static str {
    match policy {
        Some(FailurePolicy::Open) => "fail-open",
        Some(FailurePolicy::Closed) => "fail-closed",
        Some(FailurePolicy::Local) => "local",
        // Unknown policy: judge by the shape of the decision.
        _ if decision.allowed && decision.remaining == 0 && decision.reset_after.is_zero() => {
            "fail-open"
        }
        _ if !decision.allowed && decision.retry_after == decision.limit.period => "fail-closed",
        _ => "local",
    }
}

/// What the layer writes on every limited response.
#[derive(Debug, Clone)]
pub(super) struct HeaderStyle {
    /// The policy name, already a structured-field String.
    pub(super) policy: String,
    pub(super) legacy: bool,
}

impl HeaderStyle {
    /// Adds the headers of `decision` to `headers`. The draft's fields are
    /// appended (they are Lists, so stacked layers with different policy
    /// names each add their member); a fail-open decision has no counts,
    /// so it gets the policy but no `RateLimit`.
    pub(super) fn apply(&self, headers: &mut HeaderMap, decision: &Decision, degraded: &str) {
        let limit = decision.limit;
        let window = ceil_secs(limit.period).max(1);
        let reset = ceil_secs(decision.reset_after);
        let counted = !(decision.degraded && degraded == "fail-open");
        let mut add = |name: HeaderName, value: String, append: bool| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                if append {
                    headers.append(name, value);
                } else {
                    headers.insert(name, value);
                }
            }
        };
        add(
            RATELIMIT_POLICY,
            format!("{};q={};w={window}", self.policy, limit.requests),
            true,
        );
        if counted {
            add(
                RATELIMIT,
                format!("{};r={};t={reset}", self.policy, decision.remaining),
                true,
            );
        }
        if self.legacy {
            add(X_RATELIMIT_LIMIT, limit.requests.to_string(), false);
            if counted {
                add(X_RATELIMIT_REMAINING, decision.remaining.to_string(), false);
                add(X_RATELIMIT_RESET, reset.to_string(), false);
            }
        }
        if decision.degraded {
            add(RATELIMIT_DEGRADED, degraded.to_owned(), false);
        }
    }
}

/// `429 Too Many Requests` with `Retry-After` and
/// `{"error":"rate_limited","retry_after":<secs>}`.
pub(super) fn too_many_requests(decision: &Decision) -> Response {
    let secs = retry_secs(decision);
    let body = serde_json::json!({ "error": "rate_limited", "retry_after": secs });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// `503 Service Unavailable` with `{"error":"rate_limit_unavailable"}`.
pub(super) fn unavailable() -> Response {
    let body = serde_json::json!({ "error": "rate_limit_unavailable" });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use authstore::ratelimit::Limit;

    fn decision(allowed: bool, remaining: u32, reset_ms: u64, retry_ms: u64) -> Decision {
        Decision {
            allowed,
            remaining,
            reset_after: Duration::from_millis(reset_ms),
            retry_after: Duration::from_millis(retry_ms),
            limit: Limit::per(10, Duration::from_millis(60_500)),
            degraded: false,
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_secs(&decision(false, 0, 0, 0)), 1);
        assert_eq!(retry_secs(&decision(false, 0, 0, 4_200)), 5);
    }

    #[test]
    fn policy_names_are_sf_strings() {
        assert_eq!(sf_string("default"), "\"default\"");
        assert_eq!(sf_string("a\"b\\c\nd é"), "\"a\\\"b\\\\cd \"");
    }

    #[test]
    fn draft_and_legacy_headers() {
        let style = HeaderStyle {
            policy: sf_string("default"),
            legacy: true,
        };
        let mut headers = HeaderMap::new();
        style.apply(&mut headers, &decision(true, 7, 12_100, 0), "local");
        assert_eq!(headers[RATELIMIT_POLICY], "\"default\";q=10;w=61");
        assert_eq!(headers[RATELIMIT], "\"default\";r=7;t=13");
        assert_eq!(headers[X_RATELIMIT_LIMIT], "10");
        assert_eq!(headers[X_RATELIMIT_REMAINING], "7");
        assert_eq!(headers[X_RATELIMIT_RESET], "13");
        assert!(!headers.contains_key(RATELIMIT_DEGRADED));
    }

    #[test]
    fn fail_open_has_no_counts() {
        let style = HeaderStyle {
            policy: sf_string("default"),
            legacy: true,
        };
        let mut d = decision(true, 0, 0, 0);
        d.degraded = true;
        let label = degraded_label(None, &d);
        assert_eq!(label, "fail-open");
        let mut headers = HeaderMap::new();
        style.apply(&mut headers, &d, label);
        assert_eq!(headers[RATELIMIT_DEGRADED], "fail-open");
        assert!(headers.contains_key(RATELIMIT_POLICY));
        assert!(!headers.contains_key(RATELIMIT) && !headers.contains_key(X_RATELIMIT_REMAINING));
    }

    #[test]
    fn degraded_labels() {
        let closed = Decision {
            degraded: true,
            ..decision(false, 0, 60_500, 60_500)
        };
        assert_eq!(degraded_label(None, &closed), "fail-closed");
        let local = Decision {
            degraded: true,
            ..decision(true, 3, 6_000, 0)
        };
        assert_eq!(degraded_label(None, &local), "local");
        let open = Some(&FailurePolicy::Open);
        assert_eq!(degraded_label(open, &local), "fail-open");
    }
}
