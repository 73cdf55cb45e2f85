//! The admin API's errors: one JSON shape, a status per kind, and never an internal message.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use serde::Serialize;

use crate::admin::AdminError;

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiErrorBody {
    /// `unauthorized`, `not_found`, `invalid_request`, `conflict` or `temporarily_unavailable`.
    pub error: &'static str,
    /// What went wrong, for a person.
    pub error_description: String,
}

/// Why an admin API request failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No or a wrong bearer token (401).
    Unauthorized(&'static str),
    /// No such user, client, grant, session or path (404).
    NotFound(String),
    /// The request is malformed or breaks a rule (400).
    Invalid(String),
    /// It would replace something that exists (409).
    Conflict(String),
    /// The store failed; try again (503 with `Retry-After`).
    Unavailable,
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(what) => Self::NotFound(what),
            AdminError::Invalid(why) => Self::Invalid(why),
            AdminError::Conflict(why) => Self::Conflict(why),
            AdminError::Store(e) => {
                tracing::error!(error = %authstore::error_chain(&e), "admin API: the store failed");
                Self::Unavailable
            }
        }
    }
}

impl From<authstore::Error> for ApiError {
    fn from(e: authstore::Error) -> Self {
        AdminError::from(e).into()
    }
}

impl From<authstore::oauth::OAuthError> for ApiError {
    fn from(e: authstore::oauth::OAuthError) -> Self {
        AdminError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, description) = match self {
            Self::Unauthorized(why) => (StatusCode::UNAUTHORIZED, "unauthorized", why.to_owned()),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what),
            Self::Invalid(why) => (StatusCode::BAD_REQUEST, "invalid_request", why),
            Self::Conflict(why) => (StatusCode::CONFLICT, "conflict", why),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the store is unavailable; try again".to_owned(),
            ),
        };
        let mut response = (
            status,
            Json(ApiErrorBody {
                error,
                error_description: description,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"authstore-admin\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, http::HeaderValue::from_static("1"));
        }
        response
    }
}
