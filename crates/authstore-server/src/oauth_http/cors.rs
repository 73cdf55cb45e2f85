//! CORS for the endpoints a browser-based client calls (metadata, `/token`, `/register`, `/revoke`, `/jwks`, `/userinfo`): any origin, never credentials.

use std::time::Duration;

use http::Method;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, WWW_AUTHENTICATE};
use tower_http::cors::{Any, CorsLayer};

/// `MCP-Protocol-Version`, which MCP clients send with every request.
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// `Access-Control-Allow-Origin: *` without `Allow-Credentials` (these
/// endpoints authenticate by what the request carries, never by cookies);
/// preflights allow `GET`, `POST` and the headers `Authorization`,
/// `Content-Type`, `Accept` and `MCP-Protocol-Version`, cached for an
/// hour; `WWW-Authenticate` is exposed so that a script can read why a
/// bearer token was refused. Never on the pages or `/authorize`.
pub(super) fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE, ACCEPT, MCP_PROTOCOL_VERSION])
        .expose_headers([WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(3600))
}
