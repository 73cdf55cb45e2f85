//! [`mcp_cors`]: the CORS preset for browser-based MCP clients (such as MCP Inspector) calling a protected MCP server and its metadata.

use std::time::Duration;

use http::Method;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, WWW_AUTHENTICATE};
use tower_http::cors::{Any, CorsLayer};

/// `Mcp-Session-Id`: the MCP Streamable HTTP session.
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `Mcp-Protocol-Version`: the negotiated MCP protocol version.
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`: resuming an SSE stream.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// CORS for browser-based MCP clients, such as MCP Inspector, that run on
/// another origin than the server:
///
/// - any origin, without credentials (cookies are not sent; the bearer
///   token in `Authorization` is what authenticates);
/// - methods `GET`, `POST`, `DELETE` and `OPTIONS`;
/// - request headers `Authorization`, `Content-Type`, `Accept`,
///   `Mcp-Session-Id`, `Mcp-Protocol-Version` and `Last-Event-ID`, listed
///   one by one because a wildcard never covers `Authorization`;
/// - exposed response headers `WWW-Authenticate` and `Mcp-Session-Id`;
/// - preflight answers cached for an hour.
///
/// Exposing `WWW-Authenticate` is what makes authorization work from a
/// browser: a script may read only the response headers CORS exposes, and
/// the client learns where to get a token (`resource_metadata`), and which
/// scopes to ask for after a `403 insufficient_scope`, from that header of
/// the refusal. Without it the client sees a bare `401` it cannot act on.
/// `Mcp-Session-Id` is exposed so that the client can carry on its session.
///
/// Put this layer *outside* [`BearerAuthLayer`](super::BearerAuthLayer)
/// (a later `.layer` call in axum): a browser's preflight `OPTIONS` request
/// carries no token and must be answered before the token check, and the
/// layer's refusals need the CORS headers too so that the script can read
/// them. [`protected_resource_metadata`](super::protected_resource_metadata)
/// applies it already.
pub fn mcp_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            ACCEPT,
            MCP_SESSION_ID,
            MCP_PROTOCOL_VERSION,
            LAST_EVENT_ID,
        ])
        .expose_headers([WWW_AUTHENTICATE, MCP_SESSION_ID])
        .max_age(Duration::from_secs(3600))
}
