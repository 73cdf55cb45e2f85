//! `authstore cleanup`: purge expired entries and print how many.

use std::time::Instant;

use crate::command_prelude::*;

/// `authstore cleanup`.
#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Entries purged per call.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub batch_size: usize,
}

/// `authstore cleanup`: purges expired entries, `--batch-size` at a time, until none is left.
///
/// # Errors
/// Exit status 1 when the store fails.
pub(crate) async fn exec(args: CleanupArgs) -> Result<(), Failure> {
    if args.batch_size == 0 {
        return Err(Failure::config("--batch-size must be at least 1"));
    }
    let Opened { store, safe, .. } = open_args(&args.store).await?;
    let started = Instant::now();
    let purged = crate::store_cleanup::purge(store.as_ref(), args.batch_size, None)
        .await
        .map_err(|(purged, e)| {
            Failure::runtime(format!(
                "cleanup of {safe} stopped after {purged} entries: {}",
                error_chain(&e)
            ))
        })?;
    println!(
        "purged {purged} expired entries from {safe} in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
