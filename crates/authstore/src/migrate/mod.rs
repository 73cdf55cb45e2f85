//! Moving entries between stores: [`migrate`] copies every live entry (value, remaining TTL, index keys) from one store to another, idempotently and without writing to the source, and [`verify`] checks the copy entry by entry.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use authstore::migrate::{MigrateOptions, migrate, verify};
//! use authstore::{PutOptions, Store};
//! let (from, to) = (authstore::open("memory://").await?, authstore::open("memory://").await?);
//! from.put("session:1", b"{}", PutOptions::new().ttl(Duration::from_secs(600))).await?;
//! let options = MigrateOptions::default();
//! let report = migrate(from.as_ref(), to.as_ref(), &options, |_| {}).await?;
//! assert_eq!((report.migrated, report.failed), (1, 0));
//! assert!(verify(from.as_ref(), to.as_ref(), &options, |_| {}).await?.is_exact());
//! # Ok(()) }
//! ```
//!
//! **How an entry is copied.** The source is read page by page with
//! [`Store::scan`] (never written). Each entry is written to the target
//! with `CreateOnly`, its index keys, and the TTL it has left at that
//! moment (the scan's remaining TTL less the time since the page was
//! read), so an entry with 10 minutes left at the source has 10 minutes
//! at the target. An entry with less than
//! [`min_ttl`](MigrateOptions::min_ttl) left is not written: it is
//! counted as expired.
//!
//! **Idempotent.** An entry the target already holds is not overwritten:
//! it is read back and counted `unchanged` when its value is the same, or
//! reported as a conflict (a failure) when it differs, unless
//! [`overwrite`](MigrateOptions::overwrite) is set. So a run that was
//! interrupted can be run again, from the start or from the last cursor it
//! reported, and ends with the same target as one uninterrupted run:
//! nothing is written twice, and nothing expired or deleted at the source
//! comes back.
//!
//! Writes of a page go out [`concurrency`](MigrateOptions::concurrency) at
//! a time, which a pipelining backend (Redis) turns into few round trips.

mod file;
mod verify;

use std::time::{Duration, Instant};

use futures::StreamExt as _;

pub use file::{FORMAT_VERSION, ImportOptions, export, import};
pub use verify::{Mismatch, VerifyReport, verify};

use crate::error::{Error, Result};
use crate::store::Store;
use crate::types::{PutItem, PutOptions, ScanEntry};

/// What [`migrate`] and [`verify`] do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Only keys starting with this (e.g. `session:`); empty for all.
    pub prefix: String,
    /// Entries read per scan page (default 1,000).
    pub batch_size: usize,
    /// Writes in flight at once (default 16): each page is split into this
    /// many [`Store::put_many`] batches.
    pub concurrency: usize,
    /// Count what would be copied, write nothing.
    pub dry_run: bool,
    /// Replace entries the target holds with a different value, instead
    /// of reporting them as conflicts.
    pub overwrite: bool,
    /// Continue a scan from the cursor an earlier run reported.
    pub resume_from: Option<String>,
    /// Entries with less than this left are skipped as expired (default 1 s).
    pub min_ttl: Duration,
    /// How far the target's expiry may be from the source's before
    /// [`verify`] reports it (default 2 s).
    pub ttl_tolerance: Duration,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            batch_size: 1000,
            concurrency: 16,
            dry_run: false,
            overwrite: false,
            resume_from: None,
            min_ttl: Duration::from_secs(1),
            ttl_tolerance: Duration::from_secs(2),
        }
    }
}

/// Counts so far, passed to the progress callback after each page and returned at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Entries read from the source.
    pub scanned: u64,
    /// Entries written to the target (or, in a dry run, that would be).
    pub migrated: u64,
    /// Entries the target already held with the same value.
    pub unchanged: u64,
    /// Entries skipped because they expired (or were about to) before they could be written.
    pub expired: u64,
    /// Entries that could not be written (see [`failures`](Self::failures)).
    pub failed: u64,
    /// The first failures (at most 100): key and reason.
    pub failures: Vec<(String, String)>,
    /// The cursor after the last completed page: pass it as
    /// [`resume_from`](MigrateOptions::resume_from) to continue. `None` once done.
    pub cursor: Option<String>,
    /// Time since the start.
    pub elapsed: Duration,
}

impl MigrateReport {
    fn count(&mut self, key: String, outcome: Outcome) {
        match outcome {
            Outcome::Migrated => self.migrated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Failed(why) => {
                self.failed += 1;
                if self.failures.len() < KEPT_FAILURES {
                    self.failures.push((key, why));
                }
            }
        }
    }
}

/// At most this many failures are kept with their reasons.
const KEPT_FAILURES: usize = 100;

/// What happened to one entry.
enum Outcome {
    Migrated,
    Unchanged,
    Expired,
    Failed(String),
}

fn check_options(options: &MigrateOptions) -> Result<()> {
    if options.batch_size == 0 || options.concurrency == 0 {
        return Err(Error::InvalidArgument(
            "batch size and concurrency must be at least 1",
        ));
    }
    Ok(())
}

/// Copies the live entries of `from` whose key starts with
/// `options.prefix` into `to` (see the [module docs](self)), calling
/// `progress` after every page. Returns the counts; entries that failed are
/// counted and listed, not an error.
///
/// # Errors
/// [`Error::InvalidArgument`] for a zero batch size or concurrency, or a
/// cursor `from` did not produce; errors of `from.scan` (a page that
/// cannot be read stops the run, and the report it would have returned is lost:
/// re-run it, from the last cursor `progress` saw).
pub async fn migrate(
    from: &dyn Store,
    to: &dyn Store,
    options: &MigrateOptions,
    mut progress: impl FnMut(&MigrateReport),
) -> Result<MigrateReport> {
    check_options(options)?;
    let started = Instant::now();
    let mut report = MigrateReport {
        cursor: options.resume_from.clone(),
        ..MigrateReport::default()
    };
    let scan = |cursor: Option<String>| async move {
        match cursor {
            Some(c) => Some(
                from.scan(&options.prefix, Some(&c), options.batch_size)
                    .await,
            ),
            None => None,
        }
    };
    let mut page = from
        .scan(
            &options.prefix,
            report.cursor.as_deref(),
            options.batch_size,
        )
        .await?;
    loop {
        // The next page is read while this one is written.
        report.scanned += page.entries.len() as u64;
        let cursor = page.cursor.take();
        let (next, ()) = futures::join!(
            scan(cursor.clone()),
            copy_batch(to, std::mem::take(&mut page.entries), options, &mut report)
        );
        report.cursor = cursor;
        report.elapsed = started.elapsed();
        progress(&report);
        match next {
            None => return Ok(report),
            Some(next) => page = next?,
        }
    }
}

/// Most entries one `put_many` carries.
const MAX_CHUNK: usize = 100;

/// Copies `entries`, read from their source just now: split into up to
/// `options.concurrency` chunks (of at most [`MAX_CHUNK`]), each written
/// with one [`Store::put_many`], the chunks concurrently. A backend that
/// batches (Redis) then runs one script per chunk; the others still have
/// `concurrency` writes in flight.
async fn copy_batch(
    to: &dyn Store,
    entries: Vec<ScanEntry>,
    options: &MigrateOptions,
    report: &mut MigrateReport,
) {
    let read_at = Instant::now();
    let chunk = entries
        .len()
        .div_ceil(options.concurrency)
        .clamp(1, MAX_CHUNK);
    let mut chunks = Vec::with_capacity(entries.len().div_ceil(chunk));
    let mut rest = entries;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        chunks.push(std::mem::replace(&mut rest, tail));
    }
    let outcomes: Vec<Vec<(String, Outcome)>> = futures::stream::iter(chunks)
        .map(|chunk| copy_chunk(to, chunk, read_at, options))
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    for (key, outcome) in outcomes.into_iter().flatten() {
        report.count(key, outcome);
    }
}

async fn copy_chunk(
    to: &dyn Store,
    entries: Vec<ScanEntry>,
    read_at: Instant,
    options: &MigrateOptions,
) -> Vec<(String, Outcome)> {
    let mut outcomes: Vec<Option<Outcome>> = entries.iter().map(|_| None).collect();
    let mut items = Vec::with_capacity(entries.len());
    let mut sent = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Ok(ttl) = remaining_ttl(entry, read_at, options.min_ttl) else {
            outcomes[i] = Some(Outcome::Expired);
            continue;
        };
        if options.dry_run {
            outcomes[i] = Some(predict(to, entry, options).await);
            continue;
        }
        let mut put = PutOptions::new();
        put.ttl = ttl;
        put.index_keys.clone_from(&entry.index_keys);
        if !options.overwrite {
            put = put.create_only();
        }
        items.push(PutItem {
            key: &entry.key,
            value: &entry.value,
            options: put,
        });
        sent.push(i);
    }
    if !items.is_empty() {
        match to.put_many(&items).await {
            Ok(results) => {
                for (i, result) in sent.into_iter().zip(results) {
                    outcomes[i] = Some(settle(to, &entries[i], result).await);
                }
            }
            Err(e) => {
                let why = crate::error_chain(&e);
                for i in sent {
                    outcomes[i] = Some(Outcome::Failed(why.clone()));
                }
            }
        }
    }
    entries
        .into_iter()
        .zip(outcomes)
        .map(|(entry, outcome)| {
            let outcome = outcome.unwrap_or_else(|| Outcome::Failed("not written".into()));
            (entry.key, outcome)
        })
        .collect()
}

/// What a real run would do with `entry` (for a dry run).
async fn predict(to: &dyn Store, entry: &ScanEntry, options: &MigrateOptions) -> Outcome {
    match to.get(&entry.key).await {
        Ok(None) => Outcome::Migrated,
        Ok(Some(_)) if options.overwrite => Outcome::Migrated,
        Ok(Some(found)) if found.value == entry.value => Outcome::Unchanged,
        Ok(Some(_)) => Outcome::Failed(CONFLICT.into()),
        Err(e) => Outcome::Failed(crate::error_chain(&e)),
    }
}

/// The outcome of one write: an entry the target already held is read
/// back and counted unchanged when it is the same.
async fn settle(to: &dyn Store, entry: &ScanEntry, written: Result<u64>) -> Outcome {
    match written {
        Ok(_) => Outcome::Migrated,
        Err(Error::AlreadyExists { .. }) => match to.get(&entry.key).await {
            Ok(Some(found)) if found.value == entry.value => Outcome::Unchanged,
            // Gone again between the two calls: the target's own expiry.
            Ok(None) => Outcome::Expired,
            Ok(Some(_)) => Outcome::Failed(CONFLICT.into()),
            Err(e) => Outcome::Failed(crate::error_chain(&e)),
        },
        Err(e) => Outcome::Failed(crate::error_chain(&e)),
    }
}

/// The TTL `entry` has left now, or `None` (never expires); `Err` when it
/// has less than `min_ttl` left.
fn remaining_ttl(
    entry: &ScanEntry,
    read_at: Instant,
    min_ttl: Duration,
) -> std::result::Result<Option<Duration>, ()> {
    match entry.ttl {
        None => Ok(None),
        Some(ttl) => ttl
            .checked_sub(read_at.elapsed())
            .filter(|left| *left >= min_ttl.max(Duration::from_millis(1)))
            .map(Some)
            .ok_or(()),
    }
}

/// The reason [`MigrateReport::failures`] gives for an entry the target
/// holds with another value: it is not overwritten unless
/// [`MigrateOptions::overwrite`] is set.
pub const CONFLICT: &str = "the target holds a different value under this key (not overwritten)";
