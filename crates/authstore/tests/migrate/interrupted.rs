//! Runs aborted part way and run again, from the start or from their last cursor.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use authstore::migrate::{MigrateOptions, migrate, verify};
use authstore::{ScanEntry, Store};

use crate::{
    N, Redis, assert_exact, assert_no_failures, memory_store, populate, scan_all, unique_prefix,
};

/// What a run's progress callback saw: `(scanned, cursor)` after each page.
type Progress = Vec<(u64, Option<String>)>;

/// Runs `migrate(from → to)` in a task and aborts it once progress has
/// seen at least `at` entries. The progress callback aborts its own task,
/// which stops at its next await: in the middle of the next page, with
/// that page's first writes in flight. Returns every `(scanned, cursor)`
/// progress reported.
async fn interrupted_migrate(from: Arc<dyn Store>, to: Arc<dyn Store>, at: u64) -> Progress {
    let seen = Arc::new(AtomicU64::new(0));
    let abort: Arc<OnceLock<tokio::task::AbortHandle>> = Arc::default();
    let progress: Arc<Mutex<Progress>> = Arc::default();
    let task = {
        let (seen, abort, progress) = (seen.clone(), abort.clone(), progress.clone());
        tokio::spawn(async move {
            let options = MigrateOptions::default();
            migrate(from.as_ref(), to.as_ref(), &options, |report| {
                progress
                    .lock()
                    .unwrap()
                    .push((report.scanned, report.cursor.clone()));
                if seen.fetch_max(report.scanned, Ordering::SeqCst) < at && report.scanned >= at {
                    // Set right after the spawn, long before this page.
                    loop {
                        if let Some(handle) = abort.get() {
                            handle.abort();
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
            })
            .await
        })
    };
    abort
        .set(task.abort_handle())
        .expect("the abort handle is set once");
    let outcome = task.await;
    assert!(
        outcome.as_ref().is_err_and(|e| e.is_cancelled()),
        "the run was not interrupted: {outcome:?}"
    );
    assert!(seen.load(Ordering::SeqCst) >= at);
    let progress = progress.lock().unwrap().clone();
    assert!(
        progress
            .last()
            .is_some_and(|(n, c)| *n >= at && c.is_some()),
        "{:?}",
        progress.last()
    );
    progress
}

/// Entries and index sets under a Redis prefix, raw: every entry once, and
/// one index set per index key the source uses, nothing else.
async fn assert_raw_layout(redis: &Redis, prefix: &str, source: &[ScanEntry]) {
    let raw = redis.raw_keys(prefix).await;
    let index_marker = format!("{prefix}\u{1e}").into_bytes();
    let (indexes, entries): (Vec<_>, Vec<_>) =
        raw.into_iter().partition(|k| k.starts_with(&index_marker));
    let expected_entries: BTreeSet<Vec<u8>> = source
        .iter()
        .map(|e| format!("{prefix}{}", e.key).into_bytes())
        .collect();
    assert_eq!(entries.len(), expected_entries.len(), "raw entry keys");
    assert!(
        entries.into_iter().collect::<BTreeSet<_>>() == expected_entries,
        "raw entry keys differ"
    );
    let expected_indexes: BTreeSet<Vec<u8>> = source
        .iter()
        .flat_map(|e| &e.index_keys)
        .map(|k| [&index_marker[..], k.as_bytes()].concat())
        .collect();
    assert!(
        indexes.into_iter().collect::<BTreeSet<_>>() == expected_indexes,
        "index sets differ"
    );
}

/// Test 2: a run aborted at 40% and run again, from the start or from its
/// last cursor, ends with exactly the source's entries in the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_then_rerun_from_start_or_resumed() {
    let started = Instant::now();
    let (prefix_a, prefix_b) = (unique_prefix("rerun"), unique_prefix("resume"));
    let redis = Redis::start();
    let source = memory_store().await;
    populate(source.as_ref(), 0).await;
    let source_entries = scan_all(source.as_ref(), "").await;
    let source_keys: BTreeSet<String> = source_entries.iter().map(|e| e.key.clone()).collect();
    assert_eq!(source_keys.len(), N);
    let at = N as u64 * 2 / 5;
    let options = MigrateOptions::default();

    // Aborted at 40%, then run again from the start.
    let target = redis.store(&prefix_a).await;
    interrupted_migrate(source.clone(), target.clone(), at).await;
    // One round trip on the store's own connection: the writes the aborted
    // run had already queued on it are done when it returns.
    target.exists("barrier:x").await.unwrap();
    let copied = redis.raw_entry_keys(&prefix_a).await.len() as u64;
    assert!(
        (at..at + 1000).contains(&copied),
        "{copied} entries copied before the abort"
    );
    let report = migrate(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("migrate again");
    assert_no_failures(&report, "re-run");
    assert_eq!(report.scanned, N as u64, "{report:?}");
    assert_eq!(
        report.migrated + report.unchanged + report.expired,
        report.scanned,
        "{report:?}"
    );
    assert_eq!(report.expired, 0, "{report:?}");
    assert_eq!(report.unchanged, copied, "{report:?}");
    let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("verify");
    assert_exact(&verified, "re-run");
    assert_eq!(verified.checked, N as u64);
    assert_raw_layout(&redis, &prefix_a, &source_entries).await;

    // Aborted at 40%, then resumed from the last cursor progress reported.
    let target = redis.store(&prefix_b).await;
    let progress = interrupted_migrate(source.clone(), target.clone(), at).await;
    let (done, cursor) = progress.last().cloned().expect("progress");
    let resumed = MigrateOptions {
        resume_from: cursor,
        ..MigrateOptions::default()
    };
    let report = migrate(source.as_ref(), target.as_ref(), &resumed, |_| {})
        .await
        .expect("resume");
    assert_no_failures(&report, "resumed run");
    assert_eq!(done + report.scanned, N as u64, "{report:?} after {done}");
    assert_eq!(
        report.migrated + report.unchanged + report.expired,
        report.scanned,
        "{report:?}"
    );
    // Only the writes in flight when the run was aborted can be there already.
    assert!(report.unchanged < 1000, "{report:?}");
    let verified = verify(source.as_ref(), target.as_ref(), &options, |_| {})
        .await
        .expect("verify");
    assert_exact(&verified, "resumed run");
    assert_eq!(verified.checked, N as u64);
    assert_raw_layout(&redis, &prefix_b, &source_entries).await;

    // A cursor the source did not produce is refused.
    let bogus = MigrateOptions {
        resume_from: Some("not a cursor".into()),
        ..MigrateOptions::default()
    };
    let err = migrate(source.as_ref(), target.as_ref(), &bogus, |_| {}).await;
    assert!(
        matches!(err, Err(authstore::Error::InvalidArgument(_))),
        "{err:?}"
    );
    eprintln!("interrupted runs: whole test {:?}", started.elapsed());
    redis.cleanup(&[&prefix_a, &prefix_b]).await;
}
