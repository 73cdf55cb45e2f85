//! The server `authstore serve` runs: open the store (a bounded one for `memory://`), meter it, provision, serve health, metrics and OAuth routes within the HTTP limits, optionally the admin endpoints on their own address, and shut down gracefully on SIGTERM/SIGINT.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::access_log::AccessLogLayer;
use crate::command_prelude::{Failure, InProcess, Opened, log_safe_url, open_store};
use crate::config::ServeConfig;
use crate::edge::{HttpLimits, limit_requests, serve_connections};
use crate::health::Ops;
use crate::provision::provision;
use crate::state::AppState;

/// The entry bound `serve` gives a `memory://` store whose URL names none.
pub const DEFAULT_MEMORY_MAX_ENTRIES: u64 = 1_000_000;

/// The whole application with the default [`HttpLimits`]: `/health` and
/// `/metrics`, merged with `oauth` (the OAuth routes and pages), every route
/// wrapped in the HTTP metrics and access-log layers.
pub fn app(state: &AppState, oauth: Router) -> Router {
    apps(
        state,
        Ops::from_state(state),
        oauth,
        &HttpLimits::default(),
        false,
    )
    .0
}

/// The routers `serve` runs: the main one (`/health`, `oauth`, and
/// `/metrics` unless `separate_admin`) and, with `separate_admin`, the admin
/// one (`/health`, `/metrics`, and the admin API when the state has an
/// admin token). Every route is limited by `limits`
/// ([`limit_requests`]) and wrapped in the state's HTTP metrics layer and the
/// access log, which names the client IP as seen through the state's trusted
/// proxies.
pub fn apps(
    state: &AppState,
    ops: Ops,
    oauth: Router,
    limits: &HttpLimits,
    separate_admin: bool,
) -> (Router, Option<Router>) {
    let access_log =
        AccessLogLayer::new().trusted_proxies(state.settings().trusted_proxies.clone());
    let metrics = state.metrics().http_layer();
    let edge = |router: Router| {
        limit_requests(router, limits)
            .layer(access_log.clone())
            .layer(metrics.clone())
    };
    if separate_admin {
        let main = edge(ops.clone().health_router().merge(oauth));
        let mut admin = ops.router();
        if state.settings().admin_api() {
            admin = admin.merge(crate::admin_http::router(state.clone()));
        }
        (main, Some(edge(admin)))
    } else {
        (edge(ops.router().merge(oauth)), None)
    }
}

pub use crate::edge::Drain;

/// Serves `app` on `listener` with the default [`HttpLimits`] until
/// `shutdown` completes; then stops accepting, lets in-flight requests
/// finish (at most `drain_timeout`), and returns. Handlers see the peer
/// address as `ConnectInfo<SocketAddr>`. See [`serve_connections`].
///
/// # Errors
/// I/O errors of the server.
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<Drain> {
    serve_connections(
        listener,
        app,
        shutdown,
        drain_timeout,
        HttpLimits::default(),
    )
    .await
}

/// SIGTERM and SIGINT handlers, installed when this is created (so a signal
/// arriving before the server runs is not lost, nor fatal).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// The handlers cannot be installed.
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = self;
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// The URL `serve` opens for `url`, and the memory store's entry bound.
///
/// A `memory://` URL that names no bound (`max_entries` or `max_bytes`)
/// gets `max_entries=`[`DEFAULT_MEMORY_MAX_ENTRIES`] and, unless it names
/// an eviction policy, `eviction=soonest-expiry`, so that the entries closest
/// to expiring go first and entries without a TTL (users, clients) last.
/// Other URLs, and URLs that do not parse (the store reports those), are
/// returned unchanged.
pub fn bounded_store_url(url: &str) -> (String, Option<u64>) {
    let is_memory = url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("memory:"));
    let Some(parsed) = is_memory.then(|| url::Url::parse(url).ok()).flatten() else {
        return (url.to_owned(), None);
    };
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    if let Some(max) = param("max_entries") {
        return (url.to_owned(), max.parse().ok());
    }
    if param("max_bytes").is_some() {
        return (url.to_owned(), None);
    }
    let mut extra = format!("max_entries={DEFAULT_MEMORY_MAX_ENTRIES}");
    if param("eviction").is_none() {
        extra.push_str("&eviction=soonest-expiry");
    }
    let joined = match url.split_once('#').map_or(url, |(before, _)| before) {
        base if !base.contains('?') => format!("{base}?{extra}"),
        base if base.ends_with('?') || base.ends_with('&') => format!("{base}{extra}"),
        base => format!("{base}&{extra}"),
    };
    (joined, Some(DEFAULT_MEMORY_MAX_ENTRIES))
}

/// The server, started and bound, not yet serving.
struct Started {
    state: AppState,
    app: Router,
    listener: TcpListener,
    admin: Option<(TcpListener, Router)>,
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {addr} ({what}): {e}")))
}

/// Bind → open store → meter it → [`AppState`] → provision → build the app.
/// Binding first fails fast on a taken port; connections wait in the backlog
/// until serving starts.
async fn start(config: ServeConfig) -> Result<Started, Failure> {
    let listener = bind(config.listen, "listen").await?;
    let admin_listener = match config.admin_listen {
        Some(addr) => Some(bind(addr, "admin_listen").await?),
        None => None,
    };
    let mut settings = config.settings;
    if config.issuer_defaulted {
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        settings.issuer = format!("http://{addr}");
    }
    let (store_url, max_entries) = bounded_store_url(&config.store);
    tracing::info!(
        store = %log_safe_url(&store_url),
        source = config.store_source.as_str(),
        "opening store"
    );
    let Opened {
        store: raw,
        in_process,
        ..
    } = open_store(&store_url, InProcess::Quiet).await?;
    if in_process {
        tracing::warn!(
            "the store {} keeps everything in this process: all users, clients and grants are lost on exit",
            log_safe_url(&store_url)
        );
    }
    // The memory backend's own entry bound (not every in-process store has one).
    if raw.capabilities().name == "memory" {
        match max_entries {
            Some(max_entries) => tracing::info!(
                max_entries,
                default = store_url != config.store,
                "memory store bounded: beyond max_entries, entries are evicted (set max_entries in the store URL to change it)"
            ),
            None => tracing::info!("memory store bounded by max_bytes"),
        }
    }
    // Off the async threads: building the state computes argon2 dummy hashes.
    let state = tokio::task::spawn_blocking(move || AppState::metered(raw, settings))
        .await
        .map_err(|e| Failure::runtime(format!("start-up failed: {e}")))?
        .map_err(|e| Failure::config(format!("invalid settings: {e}")))?;
    let report = provision(&state, &config.users, &config.clients).await?;
    if !report.users.is_empty() || !report.clients.is_empty() {
        tracing::info!(
            users = report.users.len(),
            clients = report.clients.len(),
            "provisioning done"
        );
    }
    let ops = Ops::from_state(&state).with_max_entries(max_entries);
    let (app, admin_app) = apps(
        &state,
        ops,
        crate::router(state.clone()),
        &config.http,
        admin_listener.is_some(),
    );
    Ok(Started {
        state,
        app,
        listener,
        admin: admin_listener.zip(admin_app),
    })
}

/// Runs the server: bind → open store → meter it → [`AppState`] → provision →
/// serve until SIGTERM/SIGINT → drain → close the store. A signal during
/// start-up stops it there, and the process exits cleanly; a second signal
/// during the drain drops the remaining connections at once.
///
/// # Errors
/// A [`Failure`] with exit status 2 for configuration problems, 1 for the rest.
pub async fn run(config: ServeConfig) -> Result<(), Failure> {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let mut signals = Signals::install()
        .map_err(|e| Failure::runtime(format!("cannot install signal handlers: {e}")))?;
    let shutdown_timeout = config.shutdown_timeout;
    let limits = config.http;
    let Started {
        state,
        app,
        listener,
        admin,
    } = tokio::select! {
        started = Box::pin(start(config)) => started?,
        signal = signals.recv() => {
            tracing::info!(signal, "signal during start-up; exiting");
            return Ok(());
        }
    };
    let backend = state.store().capabilities().name;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }
    };
    let key_rotation = crate::signing_keys::spawn_rotation(&state, stopped());
    let cleanup = crate::store_cleanup::spawn_cleanup(&state, stopped());
    let metrics_upkeep = crate::metrics::spawn_upkeep(state.metrics(), stopped());
    let admin = match admin {
        Some((admin_listener, admin_app)) => {
            let admin_addr = admin_listener
                .local_addr()
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let server = tokio::spawn(Box::pin(serve_connections(
                admin_listener,
                admin_app,
                stopped(),
                shutdown_timeout,
                limits,
            )));
            Some((admin_addr, server))
        }
        None => {
            tracing::warn!(
                "/metrics is served on the main listen address {addr}, to anyone who can reach it; set admin_listen (AUTHSTORE_ADMIN_LISTEN) to serve it on a private address"
            );
            None
        }
    };
    match &admin {
        Some((admin_addr, _)) => tracing::info!(
            %addr,
            admin = %admin_addr,
            admin_api = state.settings().admin_api(),
            issuer = %state.settings().issuer,
            backend,
            "listening"
        ),
        None => tracing::info!(%addr, issuer = %state.settings().issuer, backend, "listening"),
    }
    let mut server = Box::pin(serve_connections(
        listener,
        app,
        stopped(),
        shutdown_timeout,
        limits,
    ));
    let drain = tokio::select! {
        ended = &mut server => ended,
        signal = signals.recv() => {
            tracing::info!(
                signal,
                in_flight = state.metrics().in_flight(),
                "shutting down: no new connections, draining in-flight requests"
            );
            let _ = stop_tx.send(true);
            tokio::select! {
                ended = &mut server => ended,
                signal = signals.recv() => {
                    tracing::warn!(signal, "second signal: dropping the remaining connections now");
                    Ok(Drain::Interrupted)
                }
            }
        }
    }
    .map_err(|e| Failure::runtime(format!("server error: {e}")))?;
    if let Some((_, admin_server)) = admin {
        if drain == Drain::Interrupted {
            admin_server.abort();
        }
        let _ = admin_server.await;
    }
    match drain {
        Drain::Complete => tracing::info!("all in-flight requests finished"),
        Drain::TimedOut => tracing::warn!(
            timeout = ?shutdown_timeout,
            in_flight = state.metrics().in_flight(),
            "drain timed out; dropping the remaining connections"
        ),
        Drain::Interrupted => {}
    }
    // They stop on the shutdown signal; aborted for any other ending.
    for task in [key_rotation, cleanup, Some(metrics_upkeep)]
        .into_iter()
        .flatten()
    {
        task.abort();
        let _ = task.await;
    }
    // Drops the connections a timed-out or interrupted drain left.
    drop(server);
    drop(state);
    tracing::info!(backend, "store closed; bye");
    Ok(())
}
