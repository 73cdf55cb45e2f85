//! axum/tower integration for authstore: a lazy, versioned [`RequestSession`] with a hardened cookie, CSRF protection, rate limiting with standard headers, a ready-made session HTTP API, and bearer-token protection for APIs and MCP servers ([`BearerAuthLayer`], [`BearerAuth`], per-route and per-tool scopes, RFC 9728 metadata, CORS for browser clients).
//!
//! ```no_run
//! use authstore::session::SessionManager;
//! use authstore_axum::{RequestSession, SessionLayer};
//! use axum::{Router, routing::get};
//!
//! async fn counter(session: RequestSession) -> Result<String, authstore_axum::Error> {
//!     let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
//!     session.insert("n", n).await?;
//!     Ok(format!("visit {n}"))
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = authstore::open("memory://").await?;
//! let app: Router = Router::new()
//!     .route("/", get(counter))
//!     .layer(SessionLayer::new(SessionManager::new(store)));
//! # let _ = app; Ok(()) }
//! ```

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;
pub mod api;
pub mod bearer;
pub mod csrf;
mod error;
#[cfg(feature = "metrics")]
pub mod http_metrics;
pub mod ratelimit;
pub mod session;

pub use api::session_api;
pub use bearer::{
    BearerAuth, BearerAuthLayer, BearerRejection, McpToolScopes, RequireScopes, mcp_cors,
    protected_resource_metadata,
};
pub use csrf::{CsrfLayer, CsrfToken, CsrfTokens};
pub use error::Error;
pub use ratelimit::{ClientIp, ForwardedHeader, KeyExtractor, RateLimitLayer, TrustedProxies};
pub use session::{
    ConflictPolicy, CookieConfig, RequestSession, RequireSession, RequireUser, SameSite,
    SessionLayer,
};
