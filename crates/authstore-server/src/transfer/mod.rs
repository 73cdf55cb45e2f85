//! What `migrate`, `export` and `import` share: their options, summaries (text and JSON), failure lists and progress.

mod progress;

use std::path::Path;

use authstore::migrate::{self, MigrateOptions, MigrateReport};

use crate::command_prelude::Failure;
pub(crate) use progress::{Progress, counts};

/// `n thing` or `n things`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Counts and options as one line of text.
pub(crate) fn summary(what: &str, report: &MigrateReport) -> String {
    format!(
        "{what}: migrated {}, unchanged {}, skipped (expired) {}, failed {}; {} read in {:.2}s ({:.0} entries/s)",
        report.migrated,
        report.unchanged,
        report.expired,
        report.failed,
        report.scanned,
        report.elapsed.as_secs_f64(),
        progress::rate(report.scanned, report.elapsed),
    )
}

/// The report as JSON.
pub(crate) fn report_json(report: &MigrateReport) -> serde_json::Value {
    serde_json::json!({
        "scanned": report.scanned,
        "migrated": report.migrated,
        "unchanged": report.unchanged,
        "expired": report.expired,
        "failed": report.failed,
        "failures": report.failures.iter().map(|(k, why)| serde_json::json!({"key": k, "error": failure_reason(why)})).collect::<Vec<_>>(),
        "elapsed_secs": report.elapsed.as_secs_f64(),
        "entries_per_sec": progress::rate(report.scanned, report.elapsed),
    })
}

/// A failure's reason as shown to the operator: a conflict names the flag
/// that replaces the target's value.
fn failure_reason(why: &str) -> std::borrow::Cow<'_, str> {
    match why.strip_suffix(')') {
        Some(conflict) if why == migrate::CONFLICT => {
            format!("{conflict}; use --overwrite to replace it)").into()
        }
        _ => why.into(),
    }
}

/// Writes each failed key and its reason to stderr.
pub(crate) fn print_failures(report: &MigrateReport) {
    for (key, why) in &report.failures {
        eprintln!("failed: {key}: {}", failure_reason(why));
    }
    if report.failed > report.failures.len() as u64 {
        eprintln!(
            "… and {} more failures",
            report.failed - report.failures.len() as u64
        );
    }
}

/// The options of a run; exit status 2 for a zero batch size or concurrency.
pub(crate) fn options_of(
    batch_size: usize,
    concurrency: usize,
    prefix: Option<&str>,
) -> Result<MigrateOptions, Failure> {
    if batch_size == 0 || concurrency == 0 {
        return Err(Failure::config(
            "--batch-size and --concurrency must be at least 1",
        ));
    }
    Ok(MigrateOptions {
        prefix: prefix.unwrap_or_default().to_owned(),
        batch_size,
        concurrency,
        ..MigrateOptions::default()
    })
}

/// Whether `path` names a zstd-compressed file (`.zst`).
pub(crate) fn is_zstd(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "zst")
}

#[cfg(test)]
mod tests {
    use super::{failure_reason, migrate};

    #[test]
    fn a_conflict_names_the_flag_that_replaces_the_value() {
        assert_eq!(
            failure_reason(migrate::CONFLICT),
            "the target holds a different value under this key \
             (not overwritten; use --overwrite to replace it)"
        );
        assert_eq!(failure_reason("redis backend error"), "redis backend error");
    }
}
