//! `authstore health`: whether the store answers (exit status 0 or 1), and the latency.

use std::time::Instant;

use authstore::Health;

use crate::command_prelude::*;

/// `authstore health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `authstore health`: exit status 0 when the store answers, 1 otherwise; prints the latency.
///
/// # Errors
/// Exit status 1 when the store is down, 2 for a bad URL.
pub(crate) async fn exec(args: HealthArgs) -> Result<(), Failure> {
    let (url, source, _) = resolve_store(&args.store)?;
    let started = Instant::now();
    // A store that cannot even be opened (refused, unknown host, bad
    // password) is down, and says so in the same format.
    let (safe, backend, health) = match open_store(&url, InProcess::Sees(source)).await {
        Ok(Opened { store, safe, .. }) => (safe, store.capabilities().name, store.health().await),
        Err(failure) if failure.code == 1 => {
            let safe = log_safe_url(&url);
            let backend = url.split_once(':').map_or("unknown", |(scheme, _)| scheme);
            let health = Health {
                ok: false,
                latency: started.elapsed(),
                detail: Some(failure.message),
            };
            (safe, backend, health)
        }
        Err(failure) => return Err(failure),
    };
    let latency_ms = health.latency.as_secs_f64() * 1000.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "store": safe,
                "backend": backend,
                "ok": health.ok,
                "latency_ms": latency_ms,
                "detail": health.detail,
            })
        );
    } else if health.ok {
        println!("ok {safe} ({backend}) {latency_ms:.2} ms");
    } else {
        println!(
            "down {safe} ({backend}) {latency_ms:.2} ms: {}",
            health.detail.as_deref().unwrap_or("no detail")
        );
    }
    if health.ok {
        Ok(())
    } else {
        Err(Failure::runtime(format!("store {safe} is not healthy")))
    }
}
