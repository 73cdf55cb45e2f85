//! Progress of a long command: an indicatif bar (count, rate, ETA) when stderr is a terminal, otherwise a plain line every few seconds.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use authstore::migrate::MigrateReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often plain progress lines are written.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Reports progress of `what` (e.g. "migrate") to stderr.
#[derive(Debug)]
pub(crate) struct Progress {
    what: &'static str,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    /// A bar on a terminal, plain lines otherwise. `total` is the expected
    /// entry count when known (the bar then shows an ETA).
    pub(crate) fn new(what: &'static str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {pos}/{len} entries, {per_sec}, ETA {eta} {msg}"
            } else {
                "{prefix} {spinner} {pos} entries, {per_sec} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what);
            bar
        });
        Self {
            what,
            bar,
            last_line: Instant::now(),
        }
    }

    /// Shows `done` entries processed after `elapsed`; `detail` says how they fared.
    pub(crate) fn update(&mut self, done: u64, elapsed: Duration, detail: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(detail());
            }
            None if self.last_line.elapsed() >= LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!(
                    "{}: {done} entries in {:.1}s ({:.0}/s): {}",
                    self.what,
                    elapsed.as_secs_f64(),
                    rate(done, elapsed),
                    detail()
                );
            }
            None => {}
        }
    }

    /// Removes the bar (the summary follows on its own lines).
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// How the entries of a migration, export or import fared, and where to resume.
pub(crate) fn counts(report: &MigrateReport) -> String {
    format!(
        "migrated {}, unchanged {}, expired {}, failed {}{}",
        report.migrated,
        report.unchanged,
        report.expired,
        report.failed,
        report
            .cursor
            .as_deref()
            .map(|c| format!(", cursor {c}"))
            .unwrap_or_default()
    )
}

/// Entries per second.
pub(crate) fn rate(done: u64, elapsed: Duration) -> f64 {
    done as f64 / elapsed.as_secs_f64().max(1e-9)
}
