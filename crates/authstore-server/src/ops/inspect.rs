//! `authstore stats` (entries per namespace, size, hit rate), `authstore health` (exit 0 or 1 with the latency) and `authstore cleanup` (purge expired entries).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::cli::{CleanupArgs, Failure, HealthArgs, StatsArgs};

use authstore::Health;

use super::{open_args, open_url, resolve_args, warn_if_memory};
use crate::serve::log_safe_url;

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
pub async fn stats(args: StatsArgs) -> Result<(), Failure> {
    let (store, safe) = open_args(&args.store).await?;
    let started = Instant::now();
    let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 1000).await.map_err(|e| {
            Failure::runtime(format!(
                "cannot scan {safe}: {}",
                authstore::error_chain(&e)
            ))
        })?;
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
        Failure::runtime(format!(
            "cannot read stats of {safe}: {}",
            authstore::error_chain(&e)
        ))
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
            "backend": store.backend(),
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
    println!("store        {safe} ({})", store.backend());
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
        if store.backend() == "redis" {
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

/// `authstore health`: exit status 0 when the store answers, 1 otherwise; prints the latency.
///
/// # Errors
/// Exit status 1 when the store is down, 2 for a bad URL.
pub async fn health(args: HealthArgs) -> Result<(), Failure> {
    let (url, source) = resolve_args(&args.store)?;
    let started = Instant::now();
    // A store that cannot even be opened (refused, unknown host, bad
    // password) is down, and says so in the same format.
    let (safe, backend, health) = match open_url(&url).await {
        Ok((store, safe)) => {
            warn_if_memory(store.as_ref(), &safe, source);
            (safe, store.backend(), store.health().await)
        }
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

/// `authstore cleanup`: purges expired entries, `--batch-size` at a time, until none is left.
///
/// # Errors
/// Exit status 1 when the store fails.
pub async fn cleanup(args: CleanupArgs) -> Result<(), Failure> {
    if args.batch_size == 0 {
        return Err(Failure::config("--batch-size must be at least 1"));
    }
    let (store, safe) = open_args(&args.store).await?;
    let started = Instant::now();
    let mut purged = 0u64;
    loop {
        let removed = store.purge_expired(args.batch_size).await.map_err(|e| {
            Failure::runtime(format!(
                "cleanup of {safe} stopped after {purged} entries: {}",
                authstore::error_chain(&e)
            ))
        })?;
        purged += removed;
        if removed < args.batch_size as u64 {
            break;
        }
    }
    println!(
        "purged {purged} expired entries from {safe} in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
