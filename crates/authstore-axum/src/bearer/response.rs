//! Refusals as HTTP responses: [`BearerRejection`] carries a challenge and renders it with its status, `WWW-Authenticate`, `Retry-After`, a JSON body and `Cache-Control: no-store`; the future helpers let the layers answer without boxing.

use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::task::{Context, Poll};

use authstore::oauth::resource::{AccessToken, Challenge, Rejection, ResourceServer};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Extensions, HeaderValue, StatusCode};
use serde_json::json;
use tower::util::Either;
use tower::util::future::EitherResponseFuture;
use tower_service::Service;

use super::LOG_TARGET;

/// A refused request: the [`Challenge`] to answer with. Returned by the
/// [`BearerAuth`](super::BearerAuth) extractor and
/// [`BearerAuth::require`](super::BearerAuth::require); as a response it
/// has the challenge's status, its `WWW-Authenticate` header (when it has
/// one), `Retry-After` (503), the JSON body and `Cache-Control: no-store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerRejection {
    challenge: Challenge,
}

impl BearerRejection {
    /// A refusal answered with `challenge`.
    pub fn new(challenge: Challenge) -> Self {
        Self { challenge }
    }

    /// The refusal of `rejection` by `resource` (its RFC 6750 challenge).
    pub fn from_rejection(resource: &ResourceServer, rejection: &Rejection) -> Self {
        Self::new(resource.challenge(rejection))
    }

    /// `500 {"error":"server_error"}`: `user` needs [`BearerAuthLayer`](super::BearerAuthLayer)
    /// around the route and it is missing. Logged as an error.
    pub(crate) fn missing_layer(user: &'static str) -> Self {
        tracing::error!(
            target: LOG_TARGET,
            user,
            "no BearerAuthLayer around this route: {user} needs it to find the access token; answering 500"
        );
        Self::new(Challenge {
            status: 500,
            www_authenticate: String::new(),
            body: json!({ "error": "server_error" }),
            retry_after: None,
        })
    }

    /// The challenge answered.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The challenge answered, owned.
    pub fn into_challenge(self) -> Challenge {
        self.challenge
    }

    /// The HTTP status (401, 403, 500 or 503).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.challenge.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for BearerRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let error = self.challenge.body["error"].as_str().unwrap_or("refused");
        write!(
            f,
            "bearer authentication refused: {error} ({})",
            self.challenge.status
        )
    }
}

impl std::error::Error for BearerRejection {}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        challenge_response(&self.challenge)
    }
}

/// The response for `challenge`.
pub(crate) fn challenge_response(challenge: &Challenge) -> Response {
    let body = serde_json::to_vec(&challenge.body).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(challenge.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !challenge.www_authenticate.is_empty() {
        headers.insert(WWW_AUTHENTICATE, header_value(&challenge.www_authenticate));
    }
    if let Some(seconds) = challenge.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `text` as a header value, control characters (which no header may hold) dropped.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| {
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    })
}

/// The token and resource server [`BearerAuthLayer`](super::BearerAuthLayer)
/// stored in the request. Without a token but with the resource server
/// (the optional mode let an anonymous request through), the `401`
/// challenge for a missing token; with neither, the layer is missing:
/// `500`, logged as an error naming `user`.
pub(crate) fn authenticated<'a>(
    extensions: &'a Extensions,
    user: &'static str,
) -> Result<(&'a AccessToken, &'a ResourceServer), BearerRejection> {
    match (
        extensions.get::<AccessToken>(),
        extensions.get::<ResourceServer>(),
    ) {
        (Some(token), Some(resource)) => Ok((token, resource)),
        (None, Some(resource)) => Err(BearerRejection::from_rejection(
            resource,
            &Rejection::Missing,
        )),
        _ => Err(BearerRejection::missing_layer(user)),
    }
}

/// The future of a guard that either calls its inner service (`F`) or
/// answers at once.
pub(crate) type Answer<F, E> = EitherResponseFuture<F, Ready<Result<Response, E>>>;

/// Calls `inner` (which was polled ready) with `req`: no allocation.
pub(crate) fn forward<S, R>(inner: &mut S, req: R) -> Answer<S::Future, S::Error>
where
    S: Service<R, Response = Response>,
{
    Either::<&mut S, Respond<S::Error>>::Left(inner).call(req)
}

/// Answers `response` without calling the inner service.
pub(crate) fn respond<S, R>(response: Response, req: R) -> Answer<S::Future, S::Error>
where
    S: Service<R, Response = Response>,
{
    Either::<&mut S, Respond<S::Error>>::Right(Respond(Some(response), PhantomData)).call(req)
}

/// A service that answers one prepared response.
struct Respond<E>(Option<Response>, PhantomData<fn() -> E>);

impl<R, E> Service<R> for Respond<E> {
    type Response = Response;
    type Error = E;
    type Future = Ready<Result<Response, E>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: R) -> Self::Future {
        let response = self
            .0
            .take()
            .unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        ready(Ok(response))
    }
}
