//! `authstore serve`: open the store, meter it, provision, serve health, metrics and OAuth routes, and shut down gracefully on SIGTERM/SIGINT.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::cli::Failure;
use crate::config::ServeConfig;
use crate::health::Ops;
use crate::http_metrics::MetricsLayer;
use crate::metered::{MeteredStore, StoreMetrics};
use crate::provision::provision;
use crate::state::AppState;

/// The whole application: `/health` and `/metrics`, merged with `oauth` (the
/// OAuth routes and pages), every route wrapped in [`MetricsLayer`].
pub fn app(state: &AppState, store_metrics: Option<StoreMetrics>, oauth: Router) -> Router {
    Ops::from_state(state, store_metrics)
        .router()
        .merge(oauth)
        .layer(MetricsLayer::new(state.metrics().clone()))
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every in-flight request finished.
    Complete,
    /// The drain timeout passed first; the remaining connections were dropped.
    TimedOut,
    /// A second signal cut the drain short (only from [`run`]).
    Interrupted,
}

/// Serves `app` on `listener` until `shutdown` completes; then stops
/// accepting, lets in-flight requests finish (at most `drain_timeout`), and
/// returns. Handlers see the peer address as `ConnectInfo<SocketAddr>`.
///
/// # Errors
/// I/O errors of the server.
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<Drain> {
    let (started_tx, mut started_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = started_tx.send(true);
    };
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .into_future();
    let deadline = async move {
        if started_rx.wait_for(|started| *started).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        result = server => result.map(|()| Drain::Complete),
        () = deadline => Ok(Drain::TimedOut),
    }
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

/// `url` safe to log: the password in the user part and the values of
/// query parameters that look secret (`password`, `secret`, `token`, …) become `***`.
pub fn log_safe_url(url: &str) -> String {
    let redacted = authstore::redact_url(url);
    let Some((base, query)) = redacted.split_once('?') else {
        return redacted;
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_param(key) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "credential"]
        .iter()
        .any(|s| key.contains(s))
}

/// Maps an error of [`authstore::open`] to an exit status: 2 for a bad URL, 1 otherwise.
pub(crate) fn open_failure(url: &str, error: &authstore::Error) -> Failure {
    let message = format!("cannot open store {url}: {}", error_chain(error));
    match error {
        authstore::Error::InvalidUrl { .. }
        | authstore::Error::UnknownScheme { .. }
        | authstore::Error::FeatureDisabled { .. } => Failure::config(message),
        _ => Failure::runtime(message),
    }
}

/// An error and its sources, joined by `: `.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The server, started and bound, not yet serving.
struct Started {
    state: AppState,
    app: Router,
    listener: TcpListener,
}

/// Bind → open store → meter it → [`AppState`] → provision → build the app.
/// Binding first fails fast on a taken port; connections wait in the backlog
/// until serving starts.
async fn start(config: ServeConfig) -> Result<Started, Failure> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", config.listen)))?;
    let mut settings = config.settings;
    if config.issuer_defaulted {
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        settings.issuer = format!("http://{addr}");
    }
    let url = log_safe_url(&config.store);
    tracing::info!(store = %url, source = config.store_source.as_str(), "opening store");
    let raw = authstore::open(&config.store)
        .await
        .map_err(|e| open_failure(&url, &e))?;
    if raw.backend() == "memory" {
        tracing::warn!(
            "the memory:// store keeps everything in this process: all users, clients and grants are lost on exit"
        );
    }
    let metered = MeteredStore::new(raw);
    let store_metrics = metered.metrics().clone();
    // Off the async threads: building the state computes argon2 dummy hashes.
    let state = tokio::task::spawn_blocking(move || AppState::new(Arc::new(metered), settings))
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
    let app = app(&state, Some(store_metrics), crate::router(state.clone()));
    Ok(Started {
        state,
        app,
        listener,
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
    let Started {
        state,
        app,
        listener,
    } = tokio::select! {
        started = start(config) => started?,
        signal = signals.recv() => {
            tracing::info!(signal, "signal during start-up; exiting");
            return Ok(());
        }
    };
    let backend = state.store().backend();
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    tracing::info!(%addr, issuer = %state.settings().issuer, backend, "listening");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = serve_until(
        listener,
        app,
        async move {
            let _ = stop_rx.await;
        },
        shutdown_timeout,
    );
    tokio::pin!(server);
    let drain = tokio::select! {
        ended = &mut server => ended,
        signal = signals.recv() => {
            tracing::info!(
                signal,
                in_flight = state.metrics().in_flight(),
                "shutting down: no new connections, draining in-flight requests"
            );
            let _ = stop_tx.send(());
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
    match drain {
        Drain::Complete => tracing::info!("all in-flight requests finished"),
        Drain::TimedOut => tracing::warn!(
            timeout = ?shutdown_timeout,
            in_flight = state.metrics().in_flight(),
            "drain timed out; dropping the remaining connections"
        ),
        Drain::Interrupted => {}
    }
    drop(state);
    tracing::info!(backend, "store closed; bye");
    Ok(())
}
