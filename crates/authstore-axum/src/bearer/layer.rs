//! [`BearerAuthLayer`]: validates the `Authorization: Bearer` token of every request with a resource server and stores what it stands for in the request, or answers with the RFC 6750 challenge.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use authstore::oauth::resource::{AccessToken, InvalidToken, Rejection, ResourceServer};
use axum::response::Response;
use http::Request;
use http::header::AUTHORIZATION;
use tower_layer::Layer;
use tower_service::Service;

use super::LOG_TARGET;
use super::response::challenge_response;

/// Checks the bearer access token of every request with a
/// [`ResourceServer`]: its validator, the audience (the resource's own
/// identifier) and the resource's required scopes.
///
/// An accepted request reaches the inner service with the
/// [`AccessToken`] and a clone of the [`ResourceServer`] in its
/// extensions, for the [`BearerAuth`](super::BearerAuth) extractor and the
/// [`RequireScopes`](super::RequireScopes) and
/// [`McpToolScopes`](super::McpToolScopes) guards. A refused request never
/// reaches it: the answer is the resource's challenge
/// ([`ResourceServer::challenge`]) with its status (401, 403 or 503),
/// `WWW-Authenticate` header, `Retry-After` (503), a JSON body and
/// `Cache-Control: no-store`. Refusals are logged at debug level (target
/// `authstore_axum::bearer`, with the reason and never the token); a
/// validator that cannot decide (503) at warn level.
///
/// Every request is checked, `OPTIONS` included: put the CORS layer
/// ([`mcp_cors`](super::mcp_cors)) outside this one, so that browsers'
/// preflight requests, which carry no token, are answered before it.
///
/// ```no_run
/// # use authstore::oauth::resource::ResourceServer;
/// # use authstore_axum::{BearerAuth, BearerAuthLayer};
/// # use axum::{Router, routing::get};
/// # fn app(api: ResourceServer) -> Router {
/// // Anonymous requests allowed; a token, when sent, must be valid.
/// Router::new()
///     .route("/feed", get(|auth: Option<BearerAuth>| async move {
///         match auth {
///             Some(auth) => format!("feed of {}", auth.client_id),
///             None => "public feed".to_owned(),
///         }
///     }))
///     .layer(BearerAuthLayer::new(api).optional())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BearerAuthLayer {
    resource: ResourceServer,
    optional: bool,
}

impl BearerAuthLayer {
    /// Every request needs a token that `resource` accepts.
    pub fn new(resource: ResourceServer) -> Self {
        Self {
            resource,
            optional: false,
        }
    }

    /// Optional authentication: a request without a bearer token (no
    /// `Authorization` header, or another scheme) goes through anonymously,
    /// with no [`AccessToken`] in its extensions, so that
    /// `Option<BearerAuth>` is `None` in the handler (and `BearerAuth`
    /// answers it with the `401` challenge). A request that presents a bearer
    /// token is checked as usual: a bad, expired or revoked token is still
    /// refused.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The resource server it checks tokens with.
    pub fn resource(&self) -> &ResourceServer {
        &self.resource
    }
}

impl<S> Layer<S> for BearerAuthLayer {
    type Service = BearerAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerAuthService {
            inner,
            resource: self.resource.clone(),
            optional: self.optional,
        }
    }
}

/// The service [`BearerAuthLayer`] wraps around a router or handler.
#[derive(Debug, Clone)]
pub struct BearerAuthService<S> {
    inner: S,
    resource: ResourceServer,
    optional: bool,
}

impl<S, B> Service<Request<B>> for BearerAuthService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let resource = self.resource.clone();
        let optional = self.optional;
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let verdict = match parts.headers.get(AUTHORIZATION).map(|v| v.to_str()) {
                None => Err(Rejection::Missing),
                Some(Ok(header)) => resource.authenticate(Some(header)).await,
                Some(Err(_)) => Err(Rejection::Invalid(InvalidToken::Malformed(
                    "the Authorization header is not visible ASCII",
                ))),
            };
            match verdict {
                Ok(token) => {
                    parts.extensions.insert(token);
                    parts.extensions.insert(resource);
                }
                Err(Rejection::Missing) if optional => {
                    parts.extensions.remove::<AccessToken>();
                    parts.extensions.insert(resource);
                }
                Err(rejection) => {
                    let challenge = resource.challenge(&rejection);
                    if matches!(rejection, Rejection::Unavailable(_)) {
                        tracing::warn!(
                            target: LOG_TARGET,
                            path = parts.uri.path(),
                            reason = %rejection,
                            "bearer token could not be checked; answering 503"
                        );
                    } else {
                        tracing::debug!(
                            target: LOG_TARGET,
                            path = parts.uri.path(),
                            status = challenge.status,
                            reason = %rejection,
                            "bearer token refused"
                        );
                    }
                    return Ok(challenge_response(&challenge));
                }
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}
