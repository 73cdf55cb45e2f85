//! The crate's error: an [`authstore::Error`] that renders as a JSON HTTP response.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// An error of a layer or extractor, rendered as a JSON response with a
/// fitting status: `413` for a session over its size limit, `409` for a
/// lost concurrent update, `503` when the store is unreachable, `500`
/// otherwise. The detail of server-side failures is logged, not sent.
#[derive(Debug)]
pub struct Error {
    status: StatusCode,
    code: &'static str,
    message: String,
    source: Option<authstore::Error>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// An error with this status, machine-readable code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            source: None,
        }
    }

    /// The HTTP status it renders with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code (`"session_too_large"`, `"store_unavailable"`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The library error behind it, if any.
    pub fn store_error(&self) -> Option<&authstore::Error> {
        self.source.as_ref()
    }
}

impl From<authstore::Error> for Error {
    fn from(e: authstore::Error) -> Self {
        use authstore::Error as E;
        let (status, code, message) = match &e {
            E::ValueTooLarge { size, max } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "session_too_large",
                format!("the session would take {size} bytes; at most {max} are allowed"),
            ),
            E::VersionConflict { .. } => (
                StatusCode::CONFLICT,
                "session_conflict",
                "the session was changed by a concurrent request".to_owned(),
            ),
            E::Serde { .. } | E::InvalidArgument(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_session_data",
                e.to_string(),
            ),
            E::Timeout { .. } | E::Backend { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the session store is unavailable".to_owned(),
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error".to_owned(),
            ),
        };
        Self {
            status,
            code,
            message,
            source: Some(e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.source {
                Some(source) => {
                    tracing::error!(code = self.code, error = %authstore::error_chain(source), "request failed")
                }
                None => {
                    tracing::error!(code = self.code, message = %self.message, "request failed")
                }
            }
        }
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_failure_is_a_500_with_a_generic_message() {
        let e = Error::from(authstore::Error::internal(
            "argon2 hashing",
            "output length rejected",
        ));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "internal_error");
        assert_eq!(e.to_string(), "internal_error: internal error");
        assert!(e.store_error().is_some(), "the cause is kept for the log");
    }

    #[test]
    fn a_store_outage_is_a_503() {
        let e = Error::from(authstore::Error::backend("redis", "connection reset"));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "store_unavailable");
    }
}
