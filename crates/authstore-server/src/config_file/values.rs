//! Checks and conversions of single config values: positive durations, counts of at least one, signing algorithms, URLs, the issuer's path, loopback hosts, trusted proxies and the forwarding header.

use std::time::Duration;

use crate::config_error::{ConfigError, bad};
use crate::duration::ConfigDuration;

/// A `[tokens]` signing algorithm; `key` names it in errors.
pub(super) fn signing_alg(
    key: &str,
    text: Option<&String>,
) -> Result<Option<authstore::oauth::SigningAlg>, ConfigError> {
    text.map(|t| t.parse().map_err(|e| ConfigError(format!("{key}: {e}"))))
        .transpose()
}

/// Trusted proxies from CIDR blocks or addresses; `key` names the source in errors.
pub(crate) fn trusted_proxies(
    key: &str,
    texts: &[String],
) -> Result<authstore_axum::TrustedProxies, ConfigError> {
    let texts = texts.iter().map(|t| t.trim()).filter(|t| !t.is_empty());
    authstore_axum::TrustedProxies::parse(texts).map_err(|bad| {
        ConfigError(format!(
            "{key}: {bad:?} is not a CIDR block (10.0.0.0/8, 2001:db8::/32) or an IP address"
        ))
    })
}

/// `x-forwarded-for` or `forwarded`; `key` names the source in errors.
pub(crate) fn forwarded_header(
    key: &str,
    text: &str,
) -> Result<authstore_axum::ForwardedHeader, ConfigError> {
    text.parse().map_err(|_| {
        ConfigError(format!(
            "{key} must be \"x-forwarded-for\" or \"forwarded\""
        ))
    })
}

/// Overwrites `field` with `value`, if there is one.
pub(super) fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// A duration that must not be zero; `key` names it in errors.
pub(super) fn positive(
    key: &str,
    value: Option<ConfigDuration>,
) -> Result<Option<Duration>, ConfigError> {
    match value {
        Some(d) if d.0.is_zero() => bad(format!("{key} must be greater than zero")),
        other => Ok(other.map(|d| d.0)),
    }
}

/// A count that must not be zero; `key` names it in errors.
pub(super) fn at_least_one(key: &str, value: Option<u32>) -> Result<Option<u32>, ConfigError> {
    match value {
        Some(0) => bad(format!("{key} must be at least 1")),
        other => Ok(other),
    }
}

/// A rate limit's count per period: at least 1, and at most one request
/// per millisecond of the period (`per_period_ms`), the finest rate the
/// limiter keeps; `key` names it in errors.
pub(super) fn rate(
    key: &str,
    value: Option<u32>,
    per_period_ms: u32,
) -> Result<Option<u32>, ConfigError> {
    match at_least_one(key, value)? {
        Some(n) if n > per_period_ms => bad(format!(
            "{key} must be at most {per_period_ms} (one request per millisecond)"
        )),
        other => Ok(other),
    }
}

/// An absolute `http(s)://host…` URL without query or fragment.
pub(super) fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return bad(format!(
            "{key} {url:?} must start with https:// (or http:// for development)"
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return bad(format!("{key} {url:?} has no host"));
    }
    if url.contains('#')
        || url.contains('?')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return bad(format!(
            "{key} {url:?} must not have a query, fragment or spaces"
        ));
    }
    Ok(())
}

/// The issuer's path, under which every endpoint is served, must be plain
/// segments of unreserved characters (`/tenant`, `/auth/v1`).
pub(super) fn check_issuer_path(issuer: &str) -> Result<(), ConfigError> {
    let path = crate::urls::issuer_path(issuer);
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    };
    if path.is_empty() || path.split('/').skip(1).all(plain) {
        Ok(())
    } else {
        bad(format!(
            "issuer {issuer:?}: its path must be segments of letters, digits, '-', '.', '_' and '~'"
        ))
    }
}
