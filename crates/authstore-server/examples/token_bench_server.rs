//! Benchmark server for `benches/peers/oauth-bench.sh`: the real OAuth router
//! (`authstore_server::router`) with two pre-registered clients, plus a
//! **bench-only** route that mints authorization codes without the pages.
//!
//! ```text
//! cargo run --release -p authstore-server --example token_bench_server -- \
//!     --listen 127.0.0.1:3000 --store memory://        # or redis://127.0.0.1:PORT
//! ```
//!
//! At start it registers:
//! - through `OAuth::put_client`, a confidential client with a random
//!   secret (`client_secret_basic`; its secret is stored as
//!   argon2id with the server's default cost, `OAuthConfig::default()`:
//!   19,456 KiB, 2 passes, 1 lane; a verified secret is remembered in the
//!   process for `secret_cache_ttl`, 10 min by default), and
//! - through `OAuth::register_client`, a public client
//!   (`token_endpoint_auth_method=none`, PKCE only),
//!
//! both for the code flow with refresh tokens, scopes `offline_access` and
//! `openid`, and the redirect URI `https://client.example/callback`. ID
//! tokens are signed with RS256 (`OAuthConfig::default().id_token_alg`).
//!
//! The bench-only routes (they exist in this example only, never in the library):
//! - `GET /bench/clients`: `key=value` lines with the clients' ids, the
//!   confidential client's secret and the redirect URI.
//! - `POST /bench/codes?n=N&client=confidential|public`: mints `N` fresh
//!   codes with `OAuth::issue_code` (what the consent page calls when a user
//!   approves), each with its own PKCE S256 verifier, for the subject `u-bench`
//!   and scope `offline_access`; answers one `code verifier` line per code.
//!   With `&openid=1`, the scope is `openid` with a random nonce and
//!   `auth_time` now, as after a sign-in with scope `openid` and a nonce: the
//!   code exchange then also issues an ID token.
//!
//! Codes live `--code-ttl-secs` (default 600, instead of the server's 60) so
//! that a batch minted before a timed run is still redeemable at its end.
//!
//! The confidential client (id `bench-confidential`) is a trusted
//! introspector, so that it may introspect its own tokens as before the
//! introspection policy existed. The machine endpoints' limits on client
//! authentication (per client IP and per client id) are off, and the
//! argon2id queue is unbounded, unless `--machine-requests-per-minute N`,
//! `--secret-checks-per-minute N`, `--secret-checks-per-ip-per-minute N` or
//! `--max-waiting N` set them: a
//! throughput benchmark sends far more requests from one address than the
//! defaults allow, and its first 64 concurrent authentications all queue
//! for argon2id. Everything else is the server's default configuration.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{AuthorizationRequest, NewClient, OAuthConfig, pkce_challenge};
use authstore_server::machine::IntrospectionPolicy;
use authstore_server::{AppState, Settings};
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use http::StatusCode;
use serde::Deserialize;

/// The allocator of the `authstore` binary (its `mimalloc` feature).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REDIRECT_URI: &str = "https://client.example/callback";
const SCOPE: &str = "offline_access";
const OPENID: &str = "openid";
const SUBJECT: &str = "u-bench";
/// Largest batch one `/bench/codes` call mints.
const MAX_BATCH: usize = 2_000_000;
/// Codes minted concurrently.
const MINT_TASKS: usize = 64;

/// The clients registered at start.
struct BenchClients {
    confidential_id: String,
    confidential_secret: String,
    public_id: String,
}

#[derive(Clone)]
struct BenchState {
    app: AppState,
    clients: Arc<BenchClients>,
}

/// BENCH ONLY: `GET /bench/clients`.
async fn bench_clients(State(bench): State<BenchState>) -> String {
    let c = &bench.clients;
    format!(
        "confidential_id={}\nconfidential_secret={}\npublic_id={}\nredirect_uri={REDIRECT_URI}\nscope={SCOPE}\n",
        c.confidential_id, c.confidential_secret, c.public_id
    )
}

#[derive(Deserialize)]
struct CodesQuery {
    n: usize,
    client: String,
    /// `1`: OpenID Connect codes (scope `openid`, a nonce, `auth_time`).
    openid: Option<u8>,
}

/// BENCH ONLY: `POST /bench/codes?n=N&client=confidential|public[&openid=1]`.
async fn bench_codes(
    State(bench): State<BenchState>,
    Query(query): Query<CodesQuery>,
) -> Result<String, (StatusCode, String)> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    if query.n == 0 || query.n > MAX_BATCH {
        return Err(bad(format!("n must be 1 to {MAX_BATCH}")));
    }
    let client_id = match query.client.as_str() {
        "confidential" => bench.clients.confidential_id.clone(),
        "public" => bench.clients.public_id.clone(),
        other => return Err(bad(format!("unknown client {other:?}"))),
    };
    let openid = query.openid == Some(1);
    let tasks = MINT_TASKS.min(query.n);
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let count = query.n / tasks + usize::from(t < query.n % tasks);
        let oauth = bench.app.oauth().clone();
        let client_id = client_id.clone();
        set.spawn(async move {
            let mut lines = String::with_capacity(count * 88);
            for _ in 0..count {
                let verifier = authstore::secret::random_token().map_err(|e| e.to_string())?;
                let mut request = AuthorizationRequest {
                    client_id: client_id.clone(),
                    redirect_uri: REDIRECT_URI.into(),
                    scope: vec![SCOPE.into()],
                    code_challenge: pkce_challenge(&verifier),
                    subject: SUBJECT.into(),
                    ..Default::default()
                };
                if openid {
                    request.scope = vec![OPENID.into()];
                    request.nonce =
                        Some(authstore::secret::random_token().map_err(|e| e.to_string())?);
                    request.auth_time = Some(unix_now());
                }
                let code = oauth
                    .issue_code(&request)
                    .await
                    .map_err(|e| e.to_string())?;
                lines.push_str(&code);
                lines.push(' ');
                lines.push_str(&verifier);
                lines.push('\n');
            }
            Ok::<_, String>(lines)
        });
    }
    let mut out = String::with_capacity(query.n * 88);
    while let Some(joined) = set.join_next().await {
        let lines = joined
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
        out.push_str(&lines);
    }
    Ok(out)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

struct Args {
    store: String,
    listen: String,
    code_ttl: Duration,
    machine_requests_per_minute: Option<u32>,
    secret_checks_per_minute: Option<u32>,
    secret_checks_per_ip_per_minute: Option<u32>,
    max_waiting: usize,
}

/// The confidential client's id.
const CONFIDENTIAL_ID: &str = "bench-confidential";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        store: "memory://".into(),
        listen: "127.0.0.1:3000".into(),
        code_ttl: Duration::from_secs(600),
        machine_requests_per_minute: None,
        secret_checks_per_minute: None,
        secret_checks_per_ip_per_minute: None,
        max_waiting: usize::MAX,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--store" => args.store = value()?,
            "--listen" => args.listen = value()?,
            "--code-ttl-secs" => {
                let secs = value()?
                    .parse::<u64>()
                    .map_err(|e| format!("--code-ttl-secs: {e}"))?;
                args.code_ttl = Duration::from_secs(secs.max(1));
            }
            "--machine-requests-per-minute"
            | "--secret-checks-per-minute"
            | "--secret-checks-per-ip-per-minute" => {
                let n = value()?
                    .parse::<u32>()
                    .map_err(|e| format!("{flag}: {e}"))?;
                let slot = match flag.as_str() {
                    "--machine-requests-per-minute" => &mut args.machine_requests_per_minute,
                    "--secret-checks-per-minute" => &mut args.secret_checks_per_minute,
                    _ => &mut args.secret_checks_per_ip_per_minute,
                };
                *slot = Some(n.max(1));
            }
            "--max-waiting" => {
                args.max_waiting = value()?
                    .parse::<usize>()
                    .map_err(|e| format!("--max-waiting: {e}"))?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: token_bench_server [--store URL] [--listen ADDR] [--code-ttl-secs N] \
                     [--machine-requests-per-minute N] [--secret-checks-per-minute N] [--secret-checks-per-ip-per-minute N] [--max-waiting N]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

async fn run(args: Args) -> Result<(), String> {
    let store = authstore::open(&args.store)
        .await
        .map_err(|e| format!("cannot open {}: {e}", authstore::redact_url(&args.store)))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let settings = Settings {
        issuer: format!("http://{}", args.listen),
        scopes_supported: vec![SCOPE.into(), OPENID.into()],
        oauth: OAuthConfig {
            code_ttl: args.code_ttl,
            secret_hash_max_waiting: args.max_waiting,
            ..OAuthConfig::default()
        },
        machine_requests_per_minute: args.machine_requests_per_minute,
        secret_checks_per_minute: args.secret_checks_per_minute,
        secret_checks_per_ip_per_minute: args.secret_checks_per_ip_per_minute,
        introspection: IntrospectionPolicy {
            trusted: vec![CONFIDENTIAL_ID.into()],
            ..IntrospectionPolicy::default()
        },
        ..Settings::default()
    };
    let app = AppState::new(store, settings).map_err(|e| e.to_string())?;
    let register = |mut new: NewClient| {
        new.scopes = vec![SCOPE.into(), OPENID.into()];
        let oauth = app.oauth().clone();
        async move { oauth.register_client(new).await.map_err(|e| e.to_string()) }
    };
    let confidential_secret = authstore::secret::random_token().map_err(|e| e.to_string())?;
    let mut new = NewClient::confidential("bench confidential", REDIRECT_URI);
    new.scopes = vec![SCOPE.into(), OPENID.into()];
    let (confidential, _) = app
        .oauth()
        .put_client(CONFIDENTIAL_ID, new, Some(&confidential_secret))
        .await
        .map_err(|e| e.to_string())?;
    let public = register(NewClient::public("bench public", REDIRECT_URI)).await?;
    let clients = Arc::new(BenchClients {
        confidential_id: confidential.client_id,
        confidential_secret,
        public_id: public.client.client_id,
    });
    let bench = BenchState {
        app: app.clone(),
        clients,
    };
    // BENCH ONLY: these two routes mint codes without sign-in and consent.
    // They exist in this example for the benchmark and nowhere else.
    let bench_routes = Router::new()
        .route("/bench/clients", get(bench_clients))
        .route("/bench/codes", post(bench_codes))
        .with_state(bench);
    let router = authstore_server::router(app).merge(bench_routes);
    eprintln!(
        "token_bench_server: listening on {} with store {} (code TTL {} s, argon2id {} KiB x {} passes, verified secret remembered {} s)",
        args.listen,
        authstore::redact_url(&args.store),
        args.code_ttl.as_secs(),
        OAuthConfig::default().secret_hash_memory_kib,
        OAuthConfig::default().secret_hash_iterations,
        OAuthConfig::default().secret_cache_ttl.as_secs(),
    );
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|e| e.to_string())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("token_bench_server: {e}");
            ExitCode::FAILURE
        }
    }
}
