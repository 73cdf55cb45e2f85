//! Bearer-token protection for APIs and MCP servers: [`BearerAuthLayer`] checks every request's access token against a [`ResourceServer`](authstore::oauth::resource::ResourceServer), [`BearerAuth`] hands it to handlers, [`RequireScopes`] and [`McpToolScopes`] ask for more scopes, and [`protected_resource_metadata`] with [`mcp_cors`] lets clients discover the authorization server.
//!
//! Protect an axum API in about ten lines:
//!
//! ```no_run
//! use authstore::oauth::OAuth;
//! use authstore::oauth::resource::{ResourceConfig, ResourceServer, SameStoreValidator};
//! use authstore_axum::{BearerAuth, BearerAuthLayer, RequireScopes, mcp_cors, protected_resource_metadata};
//! use axum::{Router, routing::{get, post}};
//!
//! async fn me(auth: BearerAuth) -> String {
//!     format!("hello {}", auth.subject.as_deref().unwrap_or(&auth.client_id))
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The authorization server's store, shared: a revoked token is refused at once.
//! let oauth = OAuth::new(authstore::open("memory://").await?)?;
//! let api = ResourceServer::new(
//!     ResourceConfig::new("https://api.example.com/v1", ["https://auth.example.com"]).scopes(["api"]),
//!     SameStoreValidator::new(oauth),
//! )?;
//! let app = Router::new()
//!     .route("/v1/me", get(me))
//!     .route("/v1/reports", post(|| async { "queued" }).route_layer(RequireScopes::new(["api:write"])))
//!     .layer(BearerAuthLayer::new(api.clone()))
//!     .layer(mcp_cors()) // outside the bearer check: CORS preflights carry no token
//!     .merge(protected_resource_metadata(&api)); // public, with its own CORS
//! axum::serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?, app).await?;
//! # Ok(()) }
//! ```
//!
//! A request without a token gets `401` with
//! `WWW-Authenticate: Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1", scope="api"`;
//! the client fetches that document (served by
//! [`protected_resource_metadata`]), finds the authorization server, gets a
//! token for the resource and retries. A bad, expired, revoked or
//! other-resource token gets `401` with `error="invalid_token"`; a token
//! without a route's scopes gets `403` with `error="insufficient_scope"`
//! and the scopes to ask for; a validator that cannot decide gets `503`
//! with `Retry-After` (never an acceptance).
//!
//! # Layer order
//!
//! In axum the last `.layer` call is the outermost. Put, from the outside in:
//! 1. [`mcp_cors`] (or your own `CorsLayer`), so that preflight `OPTIONS`
//!    requests are answered before any token check and every refusal gets
//!    the CORS headers a browser needs to read it;
//! 2. [`BearerAuthLayer`], which validates the token;
//! 3. [`McpToolScopes`] or [`RequireScopes`] (with `route_layer`), which
//!    read the token the bearer layer stored.
//!
//! Serve [`protected_resource_metadata`] outside the bearer layer (merge it
//! after the `.layer` calls, as above): clients fetch it before they have a
//! token.
//!
//! # Anonymous access
//!
//! [`BearerAuthLayer::optional`] lets requests without a bearer token
//! through; handlers then take `Option<BearerAuth>`, which is `None` for
//! them. A token that is presented must still be valid.

mod cors;
mod extract;
mod layer;
mod mcp;
mod mcp_jsonrpc;
mod metadata;
mod response;
mod scope;

pub use cors::mcp_cors;
pub use extract::BearerAuth;
pub use layer::{BearerAuthLayer, BearerAuthService};
pub use mcp::{McpToolScopes, McpToolScopesService};
pub use metadata::protected_resource_metadata;
pub use response::BearerRejection;
pub use scope::{RequireScopes, RequireScopesService};

/// The `tracing` target of every log line of this module.
const LOG_TARGET: &str = "authstore_axum::bearer";
