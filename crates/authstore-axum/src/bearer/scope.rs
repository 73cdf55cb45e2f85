//! [`RequireScopes`]: a per-route guard (for `route_layer`) that answers `403 insufficient_scope` unless the request's token carries the route's scopes.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use super::LOG_TARGET;
use super::response::{Answer, BearerRejection, authenticated, forward, respond};

/// Requires scopes on the routes it wraps: use it with axum's
/// `route_layer` (on a `Router` or a `MethodRouter`), inside
/// [`BearerAuthLayer`](super::BearerAuthLayer), whose token it checks with
/// [`ResourceServer::require`](authstore::oauth::resource::ResourceServer::require).
///
/// A token without the scopes gets `403` with
/// `WWW-Authenticate: Bearer …, scope="…", error="insufficient_scope"`, naming
/// every scope the request needs (the resource's required ones, these, and
/// those the token already has), so that the client can ask for a token
/// with all of them (step-up authorization). Without `BearerAuthLayer`
/// outside it, the answer is `500 {"error":"server_error"}` with an error
/// in the log.
///
/// ```no_run
/// # use authstore::oauth::resource::ResourceServer;
/// # use authstore_axum::{BearerAuthLayer, RequireScopes};
/// # use axum::{Router, routing::{delete, get}};
/// # fn app(api: ResourceServer) -> Router {
/// Router::new()
///     .route("/projects", get(|| async { "[]" }))
///     .route(
///         "/projects/{id}",
///         delete(|| async { "deleted" }).route_layer(RequireScopes::new(["projects:delete"])),
///     )
///     .layer(BearerAuthLayer::new(api))
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireScopes {
    scopes: Arc<[String]>,
}

impl RequireScopes {
    /// Requires `scopes`, on top of the resource's required scopes.
    pub fn new<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The scopes it requires.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService {
            inner,
            scopes: Arc::clone(&self.scopes),
        }
    }
}

/// The service [`RequireScopes`] wraps around a route.
#[derive(Debug, Clone)]
pub struct RequireScopesService<S> {
    inner: S,
    scopes: Arc<[String]>,
}

impl<S, B> Service<Request<B>> for RequireScopesService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answer<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match self.check(&req) {
            Ok(()) => forward(&mut self.inner, req),
            Err(refused) => respond::<S, _>(refused.into_response(), req),
        }
    }
}

impl<S> RequireScopesService<S> {
    fn check<B>(&self, req: &Request<B>) -> Result<(), BearerRejection> {
        let (token, resource) = authenticated(req.extensions(), "RequireScopes")?;
        // The common case, without allocating: every scope is there.
        let required = &resource.config().required_scopes;
        if required
            .iter()
            .chain(self.scopes.iter())
            .all(|s| token.has_scope(s))
        {
            return Ok(());
        }
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        resource.require(token, &scopes).map_err(|rejection| {
            tracing::debug!(
                target: LOG_TARGET,
                path = req.uri().path(),
                reason = %rejection,
                "bearer token refused for this route"
            );
            BearerRejection::from_rejection(resource, &rejection)
        })
    }
}
