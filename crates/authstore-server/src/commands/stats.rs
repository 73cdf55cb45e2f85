//! `authstore stats`: entries per namespace, size and hit rate of a store.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::command_prelude::*;

/// `authstore stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Store and config file.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Entries and bytes of one namespace (the key up to its first `:`).
#[derive(Debug, Default, Clone, Copy)]
struct Namespace {
    entries: u64,
    bytes: u64,
    expiring: u64,
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `authstore stats`: scans the store once and counts live entries per namespace.
///
/// # Errors
/// Exit status 1 when the store fails.
pub(crate) async fn exec(args: StatsArgs) -> Result<(), Failure> {
    let Opened { store, safe, .. } = open_args(&args.store).await?;
    let started = Instant::now();
    let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .scan("", cursor.as_deref(), 1000)
            .await
            .map_err(|e| Failure::runtime(format!("cannot scan {safe}: {}", error_chain(&e))))?;
        for entry in &page.entries {
            let name = entry.key.split_once(':').map_or("", |(ns, _)| ns);
            let slot = namespaces.entry(name.to_owned()).or_default();
            slot.entries += 1;
            slot.bytes += (entry.key.len() + entry.value.len()) as u64;
            slot.expiring += u64::from(entry.ttl.is_some());
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    let backend = store.stats().await.map_err(|e| {
        Failure::runtime(format!("cannot read stats of {safe}: {}", error_chain(&e)))
    })?;
    let lookups = backend.hits + backend.misses;
    let hit_rate = (lookups > 0).then(|| backend.hits as f64 / lookups as f64);
    let live: u64 = namespaces.values().map(|n| n.entries).sum();
    if args.json {
        let per_namespace: serde_json::Map<String, serde_json::Value> = namespaces
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    serde_json::json!({"entries": n.entries, "bytes": n.bytes, "with_ttl": n.expiring}),
                )
            })
            .collect();
        let out = serde_json::json!({
            "store": safe,
            "backend": store.capabilities().name,
            "live_entries": live,
            "backend_entries": backend.entries,
            "backend_bytes": backend.bytes,
            "hits": backend.hits,
            "misses": backend.misses,
            "hit_rate": hit_rate,
            "evictions": backend.evictions,
            "expirations": backend.expirations,
            "namespaces": per_namespace,
            "scan_secs": started.elapsed().as_secs_f64(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("store        {safe} ({})", store.capabilities().name);
    println!(
        "live entries {live} (scanned in {:.2}s)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "backend      {} entries stored{}{}",
        backend.entries,
        backend
            .bytes
            .map(|b| format!(", {} in use", human_bytes(b)))
            .unwrap_or_else(|| ", size unknown".into()),
        if store.capabilities().name == "redis" {
            " (the whole Redis database: every prefix, indexes included)"
        } else {
            " (expired entries not yet purged included)"
        }
    );
    match hit_rate {
        Some(rate) => println!(
            "hit rate     {:.1}% ({} hits, {} misses)",
            rate * 100.0,
            backend.hits,
            backend.misses
        ),
        None => println!(
            "hit rate     – (reads are counted per connection, and this one has made none; \
             a running server reports its own on /metrics)"
        ),
    }
    println!(
        "evicted      {}, expired {}",
        backend.evictions, backend.expirations
    );
    println!();
    println!(
        "{:<24} {:>12} {:>12} {:>12}",
        "namespace", "entries", "size", "with TTL"
    );
    for (name, n) in &namespaces {
        let shown = if name.is_empty() {
            "(none)"
        } else {
            name.as_str()
        };
        println!(
            "{shown:<24} {:>12} {:>12} {:>12}",
            n.entries,
            human_bytes(n.bytes),
            n.expiring
        );
    }
    Ok(())
}
