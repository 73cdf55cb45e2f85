//! Checking a migration: every live source entry must be in the target with the same bytes, the same index keys and an expiry within the tolerance.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{KEPT_FAILURES, MigrateOptions, check_options};
use crate::error::Result;
use crate::store::Store;
use crate::types::ScanEntry;

/// One difference [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The target has no live entry under the key.
    Missing {
        /// The key.
        key: String,
    },
    /// The bytes differ.
    Value {
        /// The key.
        key: String,
    },
    /// The index keys differ.
    IndexKeys {
        /// The key.
        key: String,
        /// The source's, sorted.
        source: Vec<String>,
        /// The target's, sorted.
        target: Vec<String>,
    },
    /// The expiries differ by more than the tolerance, or only one side expires.
    Ttl {
        /// The key.
        key: String,
        /// The source's remaining TTL when read.
        source: Option<Duration>,
        /// The target's remaining TTL when read.
        target: Option<Duration>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { key } => write!(f, "{key}: missing in the target"),
            Self::Value { key } => write!(f, "{key}: the value differs"),
            Self::IndexKeys {
                key,
                source,
                target,
            } => write!(
                f,
                "{key}: index keys differ (source {source:?}, target {target:?})"
            ),
            Self::Ttl {
                key,
                source,
                target,
            } => write!(
                f,
                "{key}: TTL differs (source {source:?}, target {target:?})"
            ),
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Source entries compared.
    pub checked: u64,
    /// Compared entries that matched.
    pub matched: u64,
    /// Source entries too close to expiry to compare (a migration skips
    /// them): less than `min_ttl + ttl_tolerance` left.
    pub expiring: u64,
    /// Compared entries that did not match.
    pub mismatched: u64,
    /// The first mismatches (at most 100).
    pub mismatches: Vec<Mismatch>,
    /// Time the check took.
    pub elapsed: Duration,
}

impl VerifyReport {
    /// Whether every compared entry matched.
    pub fn is_exact(&self) -> bool {
        self.mismatched == 0
    }
}

/// What the target holds under a key, as far as the comparison needs.
struct Seen {
    digest: [u8; 32],
    expires: Option<Instant>,
    ttl: Option<Duration>,
    index_keys: Vec<String>,
}

fn sorted(keys: &[String]) -> Vec<String> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys
}

/// Reads the target's entries under the prefix, then every source entry,
/// and compares them: value byte for byte (by SHA-256), index keys, and
/// absolute expiry within `options.ttl_tolerance`. Entries only the target
/// has are not reported. Writes nothing. `progress` is called after each
/// source page with the report so far.
///
/// # Errors
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a zero
/// batch size; scan errors of either store.
pub async fn verify(
    from: &dyn Store,
    to: &dyn Store,
    options: &MigrateOptions,
    mut progress: impl FnMut(&VerifyReport),
) -> Result<VerifyReport> {
    check_options(options)?;
    let started = Instant::now();
    let mut target: HashMap<String, Seen> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = to
            .scan(&options.prefix, cursor.as_deref(), options.batch_size)
            .await?;
        let read_at = Instant::now();
        for entry in page.entries {
            target.insert(
                entry.key,
                Seen {
                    digest: Sha256::digest(&entry.value).into(),
                    expires: entry.ttl.map(|ttl| read_at + ttl),
                    ttl: entry.ttl,
                    index_keys: sorted(&entry.index_keys),
                },
            );
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }

    let mut report = VerifyReport::default();
    let too_close = options.min_ttl + options.ttl_tolerance;
    let mut cursor = None;
    loop {
        let page = from
            .scan(&options.prefix, cursor.as_deref(), options.batch_size)
            .await?;
        let read_at = Instant::now();
        for entry in &page.entries {
            if entry.ttl.is_some_and(|ttl| ttl < too_close) {
                report.expiring += 1;
                continue;
            }
            report.checked += 1;
            match compare(entry, read_at, target.get(&entry.key), options) {
                None => report.matched += 1,
                Some(mismatch) => {
                    report.mismatched += 1;
                    if report.mismatches.len() < KEPT_FAILURES {
                        report.mismatches.push(mismatch);
                    }
                }
            }
        }
        report.elapsed = started.elapsed();
        progress(&report);
        cursor = page.cursor;
        if cursor.is_none() {
            return Ok(report);
        }
    }
}

fn compare(
    entry: &ScanEntry,
    read_at: Instant,
    seen: Option<&Seen>,
    options: &MigrateOptions,
) -> Option<Mismatch> {
    let key = entry.key.clone();
    let Some(seen) = seen else {
        return Some(Mismatch::Missing { key });
    };
    if <[u8; 32]>::from(Sha256::digest(&entry.value)) != seen.digest {
        return Some(Mismatch::Value { key });
    }
    let index_keys = sorted(&entry.index_keys);
    if index_keys != seen.index_keys {
        return Some(Mismatch::IndexKeys {
            key,
            source: index_keys,
            target: seen.index_keys.clone(),
        });
    }
    let expires = entry.ttl.map(|ttl| read_at + ttl);
    let close = match (expires, seen.expires) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let gap = if a > b { a - b } else { b - a };
            gap <= options.ttl_tolerance
        }
        _ => false,
    };
    (!close).then_some(Mismatch::Ttl {
        key,
        source: entry.ttl,
        target: seen.ttl,
    })
}
