//! [`McpToolScopes`]: per-tool scopes on an MCP Streamable HTTP endpoint, read from the JSON-RPC `tools/call` requests of each POST, answered with `403 insufficient_scope` so that MCP clients step up.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::util::Either;
use tower::util::future::EitherResponseFuture;
use tower_layer::Layer;
use tower_service::Service;

use super::LOG_TARGET;
use super::mcp_jsonrpc::called_tools;
use super::response::{BearerRejection, authenticated};
use crate::error::Error;

/// Default [`McpToolScopes::max_body_bytes`]: 1 MiB.
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Scopes per MCP tool, for a Streamable HTTP endpoint inside
/// [`BearerAuthLayer`](super::BearerAuthLayer).
///
/// Each `POST` with a JSON body (`Content-Type: application/json` or
/// `…+json`) is read, up to [`max_body_bytes`](Self::max_body_bytes)
/// (default 1 MiB; a larger body gets `413`), as one JSON-RPC message or a
/// batch. Every `tools/call` request whose `params.name` is a configured
/// tool needs that tool's scopes: the token's scopes are checked with
/// [`ResourceServer::require`](authstore::oauth::resource::ResourceServer::require)
/// against all of them at once, and when some are missing the whole request
/// gets `403` with
/// `WWW-Authenticate: Bearer …, scope="…", error="insufficient_scope"`, the
/// answer on which MCP clients ask the user for a token with more scopes
/// (step-up authorization) and retry. Otherwise the body goes on to the MCP
/// server byte for byte.
///
/// Other requests (`GET` streams, `DELETE`, bodies of another type) pass
/// untouched and unread; the MCP transport accepts only JSON posts (an
/// rmcp server answers others with `415`), so no tool call goes around
/// the check. A JSON body that cannot be read as JSON-RPC gets a JSON-RPC
/// error (`400`, code `-32700` or `-32600`) instead of passing unchecked,
/// and so does one that names a key twice (`method`, `params` or the tool
/// `name`), which two JSON readers could understand differently.
///
/// ```no_run
/// # use authstore::oauth::resource::ResourceServer;
/// # use authstore_axum::{BearerAuthLayer, McpToolScopes, mcp_cors};
/// # use axum::Router;
/// # fn app(api: ResourceServer, mcp: Router) -> Router {
/// Router::new()
///     .nest_service("/mcp", mcp) // the MCP server (rmcp's StreamableHttpService, for example)
///     .layer(McpToolScopes::new().tool("admin_report", ["mcp:admin"]))
///     .layer(BearerAuthLayer::new(api))
///     .layer(mcp_cors())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct McpToolScopes {
    config: Arc<Config>,
}

#[derive(Debug, Clone)]
struct Config {
    tools: HashMap<String, Vec<String>>,
    max_body_bytes: usize,
}

impl Default for McpToolScopes {
    fn default() -> Self {
        Self::new()
    }
}

impl McpToolScopes {
    /// No tool guarded yet; bodies up to 1 MiB.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                tools: HashMap::new(),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            }),
        }
    }

    /// Calling tool `name` needs `scopes` (on top of the resource's required
    /// scopes); replaces what was set for `name` before.
    pub fn tool<I, S>(mut self, name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes.into_iter().map(Into::into).collect();
        Arc::make_mut(&mut self.config)
            .tools
            .insert(name.into(), scopes);
        self
    }

    /// The largest JSON body read (default 1 MiB); a larger one gets `413`.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body_bytes = bytes;
        self
    }

    /// The scopes calling tool `name` needs, if it is guarded.
    pub fn scopes_for(&self, name: &str) -> Option<&[String]> {
        self.config.tools.get(name).map(Vec::as_slice)
    }
}

impl<S> Layer<S> for McpToolScopes {
    type Service = McpToolScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpToolScopesService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`McpToolScopes`] wraps around an MCP endpoint.
#[derive(Debug, Clone)]
pub struct McpToolScopesService<S> {
    inner: S,
    config: Arc<Config>,
}

/// The future of a checked request: boxed, as reading the body is.
type Checked<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S> Service<Request<Body>> for McpToolScopesService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EitherResponseFuture<S::Future, Checked<S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inspect =
            req.method() == Method::POST && is_json(req.headers()) && !self.config.tools.is_empty();
        if !inspect {
            return Either::<&mut S, Inspect<S>>::Left(&mut self.inner).call(req);
        }
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Either::<&mut S, Inspect<S>>::Right(Inspect {
            inner: Some(inner),
            config: Arc::clone(&self.config),
        })
        .call(req)
    }
}

/// The slow path: reads the body, checks the tool calls, then calls `inner`.
struct Inspect<S> {
    inner: Option<S>,
    config: Arc<Config>,
}

impl<S> Service<Request<Body>> for Inspect<S>
where
    S: Service<Request<Body>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Checked<S::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // `inner` was polled ready by the layer's service.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // Built for one call; a second one finds no service and answers 500.
        let inner = self.inner.take();
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let Some(mut inner) = inner else {
                return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            };
            match check(&config, req).await {
                Ok(req) => inner.call(req).await,
                Err(refused) => Ok(refused),
            }
        })
    }
}

/// Whether the request's `Content-Type` is JSON (`application/json` or `…+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case("+json"))
}

/// Reads the body and checks the scopes of the tools it calls; the request
/// with its body put back, or the response that refuses it.
async fn check(config: &Config, req: Request<Body>) -> Result<Request<Body>, Response> {
    let max = config.max_body_bytes;
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large(max));
    }
    let bytes: Bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large(max)),
        Err(_) => {
            let error = Error::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            );
            return Err(error.into_response());
        }
    };
    {
        let called = called_tools(&bytes).map_err(|e| jsonrpc_error(&e))?;
        let mut needed: Vec<&str> = Vec::new();
        for name in &called {
            for scope in config.tools.get(name.as_ref()).into_iter().flatten() {
                if !needed.contains(&scope.as_str()) {
                    needed.push(scope);
                }
            }
        }
        if !needed.is_empty() {
            let (token, resource) = authenticated(&parts.extensions, "McpToolScopes")
                .map_err(IntoResponse::into_response)?;
            if let Err(rejection) = resource.require(token, &needed) {
                tracing::debug!(
                    target: LOG_TARGET,
                    path = parts.uri.path(),
                    reason = %rejection,
                    "MCP tool call refused"
                );
                return Err(BearerRejection::from_rejection(resource, &rejection).into_response());
            }
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn too_large(max: usize) -> Response {
    Error::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        format!("MCP request bodies are limited to {max} bytes"),
    )
    .into_response()
}

/// `400` with a JSON-RPC error: `-32700` for a body that is not JSON,
/// `-32600` for JSON that is not a JSON-RPC message or batch.
fn jsonrpc_error(e: &serde_json::Error) -> Response {
    let (code, message) = match e.classify() {
        serde_json::error::Category::Data => (-32600, "Invalid Request"),
        _ => (-32700, "Parse error"),
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
