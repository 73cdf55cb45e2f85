//! An MCP server (rmcp, Streamable HTTP at `/mcp`) that accepts the access tokens of `authstore serve`: checked in the shared store, by introspection or as JWTs, with a tool that needs a wider scope.
//!
//! Give the authorization server the scopes and a user in its config file
//! (`docs/server.md`): `scopes_supported = ["mcp:tools", "mcp:admin",
//! "offline_access"]`, `dev_cookies = true` for plain http, and a
//! `[[users]]` entry. Then run this server in one of three modes:
//!
//! ```text
//! # same-store: the authorization server's store; a revocation counts at once.
//! authstore serve --config as.toml --store sqlite://./auth.db
//! cargo run -p authstore-axum --features sqlite --example mcp_server -- //!     --issuer http://127.0.0.1:8080 --mode same-store --store sqlite://./auth.db
//! # introspection (RFC 7662), as a confidential client that as.toml lists:
//! #   [[clients]] name = "mcp", client_id = "mcp", secret_env = "MCP_SECRET"
//! #   [[resource_servers]] client_id = "mcp", resource = "http://127.0.0.1:3000/mcp"
//! cargo run -p authstore-axum --example mcp_server -- --issuer http://127.0.0.1:8080 \
//!     --mode introspection --client-id mcp --client-secret-env MCP_SECRET [--introspection-cache 60]
//! # jwt (RFC 9068; `[tokens] format = "jwt"` in as.toml): checked against the
//! # published keys without asking the server, so a revoked token lives until it expires.
//! cargo run -p authstore-axum --example mcp_server -- --issuer http://127.0.0.1:8080 --mode jwt
//! ```
//!
//! `/mcp` and `/hello` need a token for the resource (`--resource`, default
//! `http://<listen>/mcp`, `--listen` default `127.0.0.1:3000`) with the scope
//! `mcp:tools`. Without one the answer is `401` pointing to
//! `/.well-known/oauth-protected-resource/mcp`, from which MCP clients find
//! the authorization server, register and have the user sign in. `whoami`
//! tells who is calling; `admin_report` also needs `mcp:admin`, and a call
//! without it gets `403 insufficient_scope`, on which clients ask for the
//! wider scope (step-up). `/hello-open` needs no token. `scripts/mcp-interop`
//! runs the official MCP TypeScript SDK client against all three modes.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::OAuth;
use authstore::oauth::resource::{
    AccessToken, IntrospectionConfig, IntrospectionValidator, JwtConfig, JwtValidator,
    ResourceConfig, ResourceServer, SameStoreValidator,
};
use authstore_axum::{BearerAuthLayer, McpToolScopes, mcp_cors, protected_resource_metadata};
use axum::Router;
use axum::routing::get;
use http::request::Parts;
use rmcp::handler::server::tool::Extension;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;

/// The scope every request needs.
const TOOLS_SCOPE: &str = "mcp:tools";
/// The further scope of `admin_report`.
const ADMIN_SCOPE: &str = "mcp:admin";

const USAGE: &str = "usage: mcp_server --issuer URL [--listen ADDR] [--resource URL] \
[--mode same-store|introspection|jwt] [--store URL] [--client-id ID --client-secret-env VAR] \
[--introspection-cache SECONDS]";

/// The command line.
#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    resource: Option<String>,
    issuer: String,
    mode: String,
    store: String,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    introspection_cache: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        resource: None,
        issuer: String::new(),
        mode: "same-store".into(),
        store: "memory://".into(),
        client_id: None,
        client_secret_env: None,
        introspection_cache: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            return Err(USAGE.into());
        };
        match flag.as_str() {
            "--listen" => args.listen = value.parse().map_err(|e| format!("--listen: {e}"))?,
            "--resource" => args.resource = Some(value),
            "--issuer" => args.issuer = value.trim_end_matches('/').to_owned(),
            "--mode" => args.mode = value,
            "--store" => args.store = value,
            "--client-id" => args.client_id = Some(value),
            "--client-secret-env" => args.client_secret_env = Some(value),
            "--introspection-cache" => {
                let secs = value
                    .parse()
                    .map_err(|_| "--introspection-cache: whole seconds")?;
                args.introspection_cache = Duration::from_secs(secs);
            }
            _ => return Err(USAGE.into()),
        }
    }
    if args.issuer.is_empty() {
        return Err(format!("--issuer is required\n{USAGE}"));
    }
    Ok(args)
}

/// The MCP tools. Each reads the caller's token from the HTTP request that
/// carried the call: `BearerAuthLayer` stored it in the request's
/// extensions, and rmcp hands the tool that request's [`Parts`].
#[derive(Debug, Clone, Copy)]
struct Tools;

/// The access token of the request, as `BearerAuthLayer` stored it.
fn caller(parts: &Parts) -> Result<&AccessToken, ErrorData> {
    parts.extensions.get::<AccessToken>().ok_or_else(|| {
        ErrorData::internal_error("no access token: BearerAuthLayer is missing", None)
    })
}

#[tool_router]
impl Tools {
    #[tool(description = "Who is calling: the token's subject, client and scopes, as JSON")]
    async fn whoami(&self, Extension(parts): Extension<Parts>) -> Result<String, ErrorData> {
        let token = caller(&parts)?;
        Ok(json!({
            "subject": token.subject,
            "client_id": token.client_id,
            "scopes": token.scopes,
            "expires_at": token.expires_at,
        })
        .to_string())
    }

    #[tool(description = "A report for administrators; needs the mcp:admin scope")]
    async fn admin_report(&self, Extension(parts): Extension<Parts>) -> Result<String, ErrorData> {
        let token = caller(&parts)?;
        // McpToolScopes answered the HTTP request with 403 already unless the
        // token has the scope; checked again where the data is handed out.
        if !token.has_scope(ADMIN_SCOPE) {
            return Err(ErrorData::invalid_request(
                "admin_report needs mcp:admin",
                None,
            ));
        }
        Ok(json!({
            "report": "all systems nominal",
            "requested_by": token.subject,
            "scopes": token.scopes,
        })
        .to_string())
    }
}

#[tool_handler(instructions = "whoami tells who is calling; admin_report needs mcp:admin")]
impl ServerHandler for Tools {}

/// The resource server of `args.mode`, for `resource`.
async fn resource_server(args: &Args, resource: &str) -> Result<ResourceServer, String> {
    let config = ResourceConfig::new(resource, [args.issuer.as_str()])
        .scopes([TOOLS_SCOPE])
        .supported_scopes([ADMIN_SCOPE])
        .name("authstore MCP example");
    let server = match args.mode.as_str() {
        "same-store" => {
            let store = authstore::open(&args.store)
                .await
                .map_err(|e| format!("--store {}: {e}", authstore::redact_url(&args.store)))?;
            let oauth = OAuth::new(store).map_err(|e| e.to_string())?;
            ResourceServer::new(config, SameStoreValidator::new(oauth))
        }
        "introspection" => {
            let (Some(id), Some(var)) = (&args.client_id, &args.client_secret_env) else {
                return Err("introspection needs --client-id and --client-secret-env".into());
            };
            let secret = std::env::var(var).map_err(|_| format!("{var} is not set"))?;
            // authstore serve's RFC 7662 endpoint (its metadata's introspection_endpoint).
            let endpoint = format!("{}/introspect", args.issuer);
            let introspection = IntrospectionConfig::new(endpoint, id.as_str(), secret)
                .max_cache(args.introspection_cache);
            let validator =
                IntrospectionValidator::new(introspection).map_err(|e| e.to_string())?;
            ResourceServer::new(config, validator)
        }
        "jwt" => {
            // The JWK set's URL comes from the authorization server's metadata.
            let validator = JwtValidator::new(JwtConfig::new(args.issuer.as_str()))
                .map_err(|e| e.to_string())?;
            ResourceServer::new(config, validator)
        }
        other => return Err(format!("unknown --mode {other}\n{USAGE}")),
    };
    server.map_err(|e| e.to_string())
}

/// The routes: `/mcp` and `/hello` behind the bearer check (and `/mcp`'s
/// tool calls behind their scopes), `/hello-open` and the metadata without.
fn app(resource_server: &ResourceServer) -> Result<Router, String> {
    let resource = &resource_server.config().resource;
    let uri: Option<http::Uri> = resource.parse().ok();
    let authority = uri.and_then(|uri| Some(uri.authority()?.to_string()));
    let authority = authority.ok_or(format!("--resource {resource}: not an absolute URL"))?;
    // rmcp refuses requests whose Host is not listed (DNS rebinding).
    let config = StreamableHttpServerConfig::default().with_allowed_hosts([authority]);
    let mcp = StreamableHttpService::new(
        || Ok(Tools),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let protected = Router::new()
        .route_service("/mcp", mcp)
        .route("/hello", get(|| async { "hello" }))
        .layer(McpToolScopes::new().tool("admin_report", [ADMIN_SCOPE]))
        .layer(BearerAuthLayer::new(resource_server.clone()));
    Ok(Router::new()
        .merge(protected)
        .route("/hello-open", get(|| async { "hello" }))
        .layer(mcp_cors())
        .merge(protected_resource_metadata(resource_server)))
}

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let resource = args
        .resource
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/mcp"));
    let resource_server = resource_server(&args, &resource).await?;
    let router = app(&resource_server)?;
    println!(
        "listening on http://{addr} (resource {resource}, {} validation, issuer {})",
        args.mode, args.issuer
    );
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp_server: {e}");
            ExitCode::from(2)
        }
    }
}
