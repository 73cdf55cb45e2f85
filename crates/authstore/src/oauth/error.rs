//! [`OAuthError`]: the RFC 6749 error codes, with the store's own errors kept apart.

use std::time::Duration;

use crate::error::Error;
use crate::password::{BUSY_RETRY_AFTER, HasherBusy};

/// A request the OAuth rules refuse (with its RFC 6749 / 7009 / 7591 error
/// code), or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The request is malformed or misses a parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed (unknown client, wrong or expired secret, wrong method).
    #[error("invalid_client")]
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked, reused or bound to someone else.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The client may not use this grant type or redirect URI.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// The grant type is not supported.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A requested scope is unknown or not allowed for the client.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// A requested resource (RFC 8707) is unknown, malformed, or not one
    /// the grant was approved for.
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// Dynamic registration metadata is invalid (RFC 7591).
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// A redirect URI in registration metadata is invalid (RFC 7591).
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl OAuthError {
    /// The RFC error code (`"invalid_grant"`, …); `"server_error"` for store failures.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::Store(Error::Timeout { .. } | Error::Backend { .. }) => "temporarily_unavailable",
            Self::Store(_) => "server_error",
        }
    }

    /// The HTTP status for this error at the token endpoint.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::Store(Error::Timeout { .. } | Error::Backend { .. }) => 503,
            Self::Store(_) => 500,
            _ => 400,
        }
    }

    /// Whether the secret hasher's queue was full (HTTP 503, `temporarily_unavailable`).
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Store(e) if HasherBusy::is(e))
    }

    /// How long the client should wait before retrying, for errors that
    /// pass (a full secret hasher queue); `None` otherwise.
    pub fn retry_after(&self) -> Option<Duration> {
        self.is_busy().then_some(BUSY_RETRY_AFTER)
    }

    /// Which credential a refused grant reused, when the refusal is reuse
    /// detection that revoked the grant: `"code"` for an authorization code
    /// redeemed twice, `"refresh_token"` for a rotated refresh token used
    /// again after the grace window.
    pub fn reused_credential(&self) -> Option<&'static str> {
        match self {
            Self::InvalidGrant(why) if why.contains("already used") => Some("code"),
            Self::InvalidGrant(why) if why.contains("refresh token reuse") => Some("refresh_token"),
            _ => None,
        }
    }

    /// A description safe to show the client (no store internals).
    pub fn description(&self) -> String {
        match self {
            e if e.is_busy() => "the server is busy; try again shortly".into(),
            Self::Store(_) => "the authorization server could not complete the request".into(),
            Self::InvalidClient => "client authentication failed".into(),
            Self::UnsupportedGrantType => "this grant type is not supported".into(),
            other => {
                let text = other.to_string();
                text.split_once(": ")
                    .map_or(text.clone(), |(_, d)| d.to_owned())
            }
        }
    }
}
