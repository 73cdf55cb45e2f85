//! Runs many generated sequences against a backend with proptest, and reports the shrunk failing one as Rust source.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use authstore::{FakeClock, Store};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::check::check_sequence;
use super::ops::{INDEX_KEYS, KEYS, Profile, render, sequence};

/// The environment variable that overrides every backend's case count.
pub const CASES_ENV: &str = "AUTHSTORE_MODEL_CASES";

/// Longest generated sequence.
pub const MAX_OPS: usize = 40;

/// How many shrinking steps a failure may take before it is reported as it stands.
const MAX_SHRINK_ITERS: u32 = 10_000;

/// The number of cases to run: `AUTHSTORE_MODEL_CASES` when set, else `default`.
///
/// # Panics
/// When the variable is set but is not a positive number.
pub fn cases(default: u32) -> u32 {
    match std::env::var(CASES_ENV) {
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{CASES_ENV}={text:?} is not a positive number")),
        Err(_) => default,
    }
}

/// Runs [`cases`]`(default_cases)` generated op sequences, each on a
/// store freshly opened by `open(prefix, clock)` with its own
/// [`unique_prefix`](crate::unique_prefix) and [`FakeClock`], and checks each
/// against the model with [`check_sequence`].
///
/// `open` has the shape [`conformance_suite!`](crate::conformance_suite)
/// takes; background sweepers should be off, since a sequence counts what
/// `purge_expired` removes. Sequences for stores that judge expiry by their
/// server's clock never advance the clock (see the module docs).
///
/// Must run on tokio's multi-thread runtime
/// (`#[tokio::test(flavor = "multi_thread")]`): each case is driven to
/// completion inside [`tokio::task::block_in_place`].
///
/// # Panics
/// On the first divergence, after proptest has shrunk it: the message holds
/// the minimal sequence as Rust source, ready to paste into a regression
/// test, and what the store answered.
pub async fn run_model<F, Fut>(name: &str, default_cases: u32, open: F)
where
    F: Fn(String, FakeClock) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let cases = cases(default_cases);
    let handle = tokio::runtime::Handle::current();
    assert_eq!(
        handle.runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread,
        "run_model needs tokio's multi-thread runtime"
    );
    let probe = open(crate::unique_prefix(name), FakeClock::new()).await;
    let profile = Profile::of(probe.capabilities().expiry_clock);
    drop(probe);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: MAX_SHRINK_ITERS,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = sequence(profile, MAX_OPS);
    let started = Instant::now();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&strategy, |ops| {
            handle.block_on(async {
                let clock = FakeClock::new();
                let store = open(crate::unique_prefix(name), clock.clone()).await;
                check_sequence(&*store, &clock, &ops)
                    .await
                    .map_err(|d| TestCaseError::fail(d.to_string()))?;
                clean_up(&*store).await;
                Ok(())
            })
        })
    });
    match outcome {
        Ok(()) => eprintln!(
            "store model {name}: {cases} cases ({profile:?}) passed in {:.2?}",
            started.elapsed()
        ),
        Err(TestError::Fail(reason, ops)) => panic!(
            "store model {name}: a sequence diverged. Shrunk to {} ops; as a regression test \
             (with `use authstore_testkit::model::{{Mode, Op, check_sequence}};`):\n\n{}\n\
             check_sequence(&*store, &clock, &ops).await.unwrap();\n\n{reason}",
            ops.len(),
            render(&ops)
        ),
        Err(TestError::Abort(reason)) => panic!("store model {name}: aborted: {reason}"),
    }
}

/// Removes what a passed sequence left, so that a server's key space (which
/// `scan` and `purge_expired` walk) stays small however many cases run.
async fn clean_up(store: &dyn Store) {
    for key in KEYS {
        store.delete(key).await.expect("delete after a sequence");
    }
    for index_key in INDEX_KEYS {
        store
            .delete_index(index_key)
            .await
            .expect("delete_index after a sequence");
    }
}
