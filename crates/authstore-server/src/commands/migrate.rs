//! `authstore migrate`: copy every live entry from one store to another (TTLs and indexes kept; idempotent), optionally verified.

use std::sync::{Arc, Mutex};

use authstore::migrate::{self, VerifyReport};

use crate::command_prelude::*;
use crate::transfer::{Progress, counts, options_of, plural, print_failures, report_json, summary};

/// `authstore migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The store to read (never written). Also from AUTHSTORE_MIGRATE_FROM, which keeps a password out of `ps`.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHSTORE_MIGRATE_FROM",
        hide_env_values = true
    )]
    pub from: String,
    /// The store to write. Also from AUTHSTORE_MIGRATE_TO.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHSTORE_MIGRATE_TO",
        hide_env_values = true
    )]
    pub to: String,
    /// Entries read per page.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub batch_size: usize,
    /// Batches of writes in flight at once (each page is split into this many).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Only keys that start with this (one namespace, e.g. `session:`).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Count what would be copied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Afterwards compare every entry (value, index keys, TTL) and fail on any difference.
    #[arg(long, conflicts_with = "dry_run")]
    pub verify: bool,
    /// Continue from the cursor an interrupted run printed.
    #[arg(long, value_name = "CURSOR")]
    pub resume_from: Option<String>,
    /// Replace entries the target holds with a different value (default: report them).
    #[arg(long)]
    pub overwrite: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The part of a store URL that names one store's entries: scheme, user,
/// host, port (the default filled in: `url` knows none for
/// `redis`/`postgres`), path, and only the query parameters that choose
/// which entries (`prefix`, `schema`, `table_prefix`), sorted; timeouts,
/// pool sizes, TLS options and passwords do not make another store.
/// `postgresql` is spelt `postgres`.
fn store_identity(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            let mut pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| matches!(k.as_ref(), "prefix" | "schema" | "table_prefix"))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            pairs.sort();
            parsed.set_query(None);
            let host = parsed.host_str().unwrap_or("").to_ascii_lowercase();
            let scheme = match parsed.scheme() {
                "postgresql" => "postgres",
                other => other,
            };
            let port = parsed.port().or(match scheme {
                "redis" | "rediss" => Some(6379),
                "postgres" => Some(5432),
                _ => None,
            });
            format!(
                "{scheme}://{}@{host}:{port:?}{}?{pairs:?}",
                parsed.username(),
                parsed.path()
            )
        }
        Err(_) => url.trim().to_owned(),
    }
}

/// `authstore migrate --from URL --to URL`.
///
/// # Errors
/// Exit status 2 for bad options or the same store on both sides; 1 when
/// a store fails, an entry could not be copied or `--verify` finds a difference.
pub(crate) async fn exec(args: MigrateArgs) -> Result<(), Failure> {
    let mut options = options_of(args.batch_size, args.concurrency, args.prefix.as_deref())?;
    options.dry_run = args.dry_run;
    options.overwrite = args.overwrite;
    options.resume_from = args.resume_from.clone();
    if store_identity(&args.from) == store_identity(&args.to) {
        return Err(Failure::config(format!(
            "--from and --to name the same store ({}): refusing to migrate a store onto itself",
            log_safe_url(&args.from)
        )));
    }
    let Opened {
        store: from,
        safe: from_safe,
        ..
    } = open_store(&args.from, InProcess::MigrateSource).await?;
    let Opened {
        store: to,
        safe: to_safe,
        ..
    } = open_store(&args.to, InProcess::Sees("--to")).await?;
    let total = from.stats().await.ok().map(|s| s.entries);
    eprintln!(
        "migrate: {from_safe} -> {to_safe}{}{}",
        if options.prefix.is_empty() {
            String::new()
        } else {
            format!(", prefix {:?}", options.prefix)
        },
        if options.dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    let mut bar = Progress::new("migrate", total);
    let last_cursor: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = Arc::clone(&last_cursor);
    let run = migrate::migrate(from.as_ref(), to.as_ref(), &options, |report| {
        bar.update(report.scanned, report.elapsed, || counts(report));
        if let Ok(mut cursor) = seen.lock() {
            cursor.clone_from(&report.cursor);
        }
    });
    let report = tokio::select! {
        result = run => result.map_err(|e| {
            let message = format!("migrate stopped: {}", error_chain(&e));
            match e {
                // The options were checked above: this is a --resume-from
                // cursor the source did not produce, a bad option.
                authstore::Error::InvalidArgument(_) => Failure::config(message),
                _ => Failure::runtime(message),
            }
        })?,
        _ = tokio::signal::ctrl_c() => {
            let cursor = last_cursor.lock().ok().and_then(|c| c.clone());
            return Err(Failure::runtime(match cursor {
                Some(c) => format!("interrupted; continue with --resume-from {c} (or re-run: copying is idempotent)"),
                None => "interrupted before the first page completed; re-run the command".into(),
            }));
        }
    };
    bar.finish();
    let verified = if args.verify && !options.dry_run {
        let mut bar = Progress::new("verify", Some(report.scanned));
        let checked = migrate::verify(from.as_ref(), to.as_ref(), &options, |v| {
            bar.update(v.checked + v.expiring, v.elapsed, || {
                format!("identical {}, differ {}", v.matched, v.mismatched)
            });
        })
        .await
        .map_err(|e| Failure::runtime(format!("verify stopped: {}", error_chain(&e))))?;
        bar.finish();
        Some(checked)
    } else {
        None
    };
    if args.json {
        let mut out = report_json(&report);
        out["dry_run"] = options.dry_run.into();
        if let Some(v) = &verified {
            out["verify"] = verify_json(v);
        }
        println!("{out}");
    } else {
        println!(
            "{}",
            summary(
                if options.dry_run {
                    "dry run"
                } else {
                    "migrate"
                },
                &report
            )
        );
        if let Some(v) = &verified {
            println!("{}", verify_line(v));
        }
    }
    print_failures(&report);
    if let Some(v) = &verified {
        for mismatch in &v.mismatches {
            eprintln!("mismatch: {mismatch}");
        }
    }
    if report.failed > 0 {
        return Err(Failure::runtime(format!(
            "{} not migrated",
            plural(report.failed, "entry was", "entries were")
        )));
    }
    if verified.as_ref().is_some_and(|v| !v.is_exact()) {
        return Err(Failure::runtime("verification found differences"));
    }
    Ok(())
}

fn verify_line(v: &VerifyReport) -> String {
    format!(
        "verify: {} checked, {} identical, {} differ, {} about to expire (not compared); {:.2}s",
        v.checked,
        v.matched,
        v.mismatched,
        v.expiring,
        v.elapsed.as_secs_f64()
    )
}

fn verify_json(v: &VerifyReport) -> serde_json::Value {
    serde_json::json!({
        "checked": v.checked,
        "matched": v.matched,
        "mismatched": v.mismatched,
        "expiring": v.expiring,
        "mismatches": v.mismatches.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "elapsed_secs": v.elapsed.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::store_identity;

    #[test]
    fn the_same_store_is_recognised_whatever_the_spelling() {
        let same = [
            ("redis://:pw@127.0.0.1:6379/0", "redis://:other@127.0.0.1/0"),
            (
                "redis://h/0?prefix=a&timeout_ms=5",
                "redis://H/0?timeout_ms=5&prefix=a",
            ),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
            (
                "postgresql://u:a@db/auth?password=x",
                "postgres://u@db:5432/auth?password=y",
            ),
        ];
        for (a, b) in same {
            assert_eq!(store_identity(a), store_identity(b), "{a} vs {b}");
        }
        let different = [
            ("redis://h/0?prefix=a", "redis://h/0?prefix=b"),
            ("redis://h/0", "redis://h/1"),
            ("postgres://u@h/db", "postgres://v@h/db"),
            ("sqlite:///tmp/x.db", "sqlite:///tmp/y.db"),
        ];
        for (a, b) in different {
            assert_ne!(store_identity(a), store_identity(b), "{a} vs {b}");
        }
    }
}
