//! Guards: extractors that answer `401 Unauthorized` unless the request has a session, or a logged-in user.

use authstore::session::SessionUser;
use axum::extract::FromRequestParts;
use http::StatusCode;
use http::request::Parts;

use super::RequestSession;
use crate::error::Error;

/// The request's [`RequestSession`], which must exist; otherwise `401 no_session`.
#[derive(Debug, Clone)]
pub struct RequireSession(pub RequestSession);

/// The logged-in user of the request's session; otherwise `401 login_required`.
#[derive(Debug, Clone)]
pub struct RequireUser(pub SessionUser);

impl<S: Send + Sync> FromRequestParts<S> for RequireSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = RequestSession::from_request_parts(parts, state).await?;
        if session.exists().await? {
            Ok(Self(session))
        } else {
            Err(Error::new(
                StatusCode::UNAUTHORIZED,
                "no_session",
                "this request needs a session",
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequireUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = RequestSession::from_request_parts(parts, state).await?;
        match session.user().await? {
            Some(user) => Ok(Self(user)),
            None => Err(Error::new(
                StatusCode::UNAUTHORIZED,
                "login_required",
                "this request needs a logged-in user",
            )),
        }
    }
}
