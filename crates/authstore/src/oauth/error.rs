//! [`OAuthError`]: the RFC 6749 error codes, with the store's own errors kept apart.

use std::time::Duration;

use crate::error::Error;
use crate::password::{BUSY_RETRY_AFTER, HasherBusy};

/// Why a code or refresh token was refused ([`OAuthError::InvalidGrant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantProblem {
    /// The code is unknown, expired, or not shaped like a code.
    UnknownCode,
    /// The code was redeemed before; its grant is now revoked.
    CodeReused,
    /// The code was issued to another client.
    CodeOfAnotherClient,
    /// The `redirect_uri` differs from the authorization request's.
    RedirectMismatch,
    /// The PKCE verifier does not match the code's challenge.
    PkceMismatch,
    /// The grant was revoked before this request.
    Revoked,
    /// Concurrent redemptions of the code kept winning; nothing was issued.
    CodeContended,
    /// The refresh token is unknown, expired, or its grant revoked.
    UnknownRefreshToken,
    /// The refresh token was issued to another client.
    RefreshTokenOfAnotherClient,
    /// A rotated refresh token was used again after the grace window; its
    /// grant is now revoked.
    RefreshTokenReused,
    /// Concurrent refreshes of the token kept winning; nothing was issued.
    RefreshContended,
    /// A retry within the grace window whose rotation's response could not
    /// be recovered.
    AlreadyRotated,
    /// A retry within the grace window for another resource than the
    /// rotation granted.
    RotatedForAnotherResource,
    /// A retry within the grace window for other scopes than the rotation
    /// granted.
    RotatedForOtherScopes,
}

impl GrantProblem {
    /// The `error_description` sent to the client.
    pub fn description(self) -> &'static str {
        match self {
            Self::UnknownCode => "unknown or expired code",
            Self::CodeReused => "the code was already used; its grant is revoked",
            Self::CodeOfAnotherClient => "the code belongs to another client",
            Self::RedirectMismatch => "redirect_uri differs from the authorization request",
            Self::PkceMismatch => "the PKCE verifier does not match",
            Self::Revoked => "the grant was revoked",
            Self::CodeContended => "the code is being redeemed concurrently",
            Self::UnknownRefreshToken => "unknown, expired or revoked refresh token",
            Self::RefreshTokenOfAnotherClient => "the refresh token belongs to another client",
            Self::RefreshTokenReused => "refresh token reuse; the grant is revoked",
            Self::RefreshContended => "the refresh token is being used concurrently",
            Self::AlreadyRotated => "the refresh token was already rotated",
            Self::RotatedForAnotherResource => {
                "the refresh token was already rotated for another resource"
            }
            Self::RotatedForOtherScopes => "the refresh token was already rotated for other scopes",
        }
    }

    /// Whether this refusal revoked the grant (reuse detection of a code or
    /// a refresh token).
    pub fn revokes_grant(self) -> bool {
        matches!(self, Self::CodeReused | Self::RefreshTokenReused)
    }
}

impl std::fmt::Display for GrantProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

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
    #[error("invalid_grant: {}", .0.description())]
    InvalidGrant(GrantProblem),
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
            Self::InvalidGrant(GrantProblem::CodeReused) => Some("code"),
            Self::InvalidGrant(GrantProblem::RefreshTokenReused) => Some("refresh_token"),
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
            Self::InvalidGrant(problem) => problem.description().into(),
            other => {
                let text = other.to_string();
                text.split_once(": ")
                    .map_or(text.clone(), |(_, d)| d.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_grant_describes_its_problem() {
        let e = OAuthError::InvalidGrant(GrantProblem::CodeReused);
        assert_eq!(e.code(), "invalid_grant");
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.description(),
            "the code was already used; its grant is revoked"
        );
        assert_eq!(
            e.to_string(),
            "invalid_grant: the code was already used; its grant is revoked"
        );
        assert_eq!(e.reused_credential(), Some("code"));
        let e = OAuthError::InvalidGrant(GrantProblem::RefreshTokenReused);
        assert_eq!(e.reused_credential(), Some("refresh_token"));
        assert_eq!(
            OAuthError::InvalidGrant(GrantProblem::Revoked).reused_credential(),
            None
        );
    }

    #[test]
    fn an_internal_failure_is_a_server_error_with_a_generic_description() {
        let e = OAuthError::from(Error::internal("ring", "RS256 signing failed"));
        assert_eq!((e.status(), e.code()), (500, "server_error"));
        assert!(!e.is_busy());
        assert_eq!(
            e.description(),
            "the authorization server could not complete the request"
        );
        let outage = OAuthError::from(Error::backend("redis", "connection reset"));
        assert_eq!(
            (outage.status(), outage.code()),
            (503, "temporarily_unavailable")
        );
    }

    #[test]
    fn only_reuse_detection_revokes_the_grant() {
        assert!(GrantProblem::CodeReused.revokes_grant());
        assert!(GrantProblem::RefreshTokenReused.revokes_grant());
        assert!(!GrantProblem::Revoked.revokes_grant());
        assert!(!GrantProblem::UnknownRefreshToken.revokes_grant());
    }
}
