//! [`protected_resource_metadata`]: a router serving the RFC 9728 Protected Resource Metadata document at the resource's path-aware well-known URL.

use authstore::oauth::resource::ResourceServer;
use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};

use super::cors::mcp_cors;

/// A router that answers `GET` (and `HEAD`) at
/// [`resource.metadata_path()`](ResourceServer::metadata_path) — for
/// `https://api.example.com/mcp`, `/.well-known/oauth-protected-resource/mcp`
/// — with [`resource.metadata()`](ResourceServer::metadata) as JSON and
/// `Cache-Control: public, max-age=3600`, and with [`mcp_cors`] applied so
/// that browser-based clients can read it (preflights included).
///
/// This is the document the `resource_metadata` of every `401` challenge
/// points to: clients read it before they have a token, so merge it
/// outside [`BearerAuthLayer`](super::BearerAuthLayer):
///
/// ```no_run
/// # use authstore::oauth::resource::ResourceServer;
/// # use authstore_axum::{BearerAuthLayer, protected_resource_metadata};
/// # use axum::{Router, routing::get};
/// # fn app(api: ResourceServer) -> Router {
/// Router::new()
///     .route("/mcp", get(|| async { "protected" }))
///     .layer(BearerAuthLayer::new(api.clone()))
///     .merge(protected_resource_metadata(&api))
/// # }
/// ```
///
/// The document is serialised once, here; build the router again if the
/// resource's configuration changes.
pub fn protected_resource_metadata<S>(resource: &ResourceServer) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let body = Bytes::from(serde_json::to_vec(&resource.metadata()).unwrap_or_default());
    let handler = move || {
        let body = body.clone();
        async move {
            (
                [
                    (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (
                        CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=3600"),
                    ),
                ],
                body,
            )
        }
    };
    Router::new()
        .route(resource.metadata_path(), get(handler))
        .layer(mcp_cors())
}
