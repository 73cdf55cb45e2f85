//! The backend conformance suite: one public async check per behaviour of the [`Store`] contract.
//!
//! Every check takes `&dyn Store` and the [`FakeClock`] the store was built
//! with, starts from an empty key space (its own prefix), and panics with a
//! message naming the broken rule. Backends whose expiry follows the server's
//! clock ([`ExpiryClock::Server`]) are handled by [`pass_time`], which then
//! waits real time, so TTL checks adapt instead of being skipped.
//!
//! Run them all with [`conformance_suite!`](crate::conformance_suite).
//! Warning: checks write and delete keys under the store's prefix.

mod basic;
mod commit;
mod concurrency;
mod counters;
mod indexes;
mod scan;
mod validation;

use std::future::Future;
use std::time::{Duration, SystemTime};

use authstore::{ExpiryClock, FakeClock, Store};

pub use basic::*;
pub use commit::*;
pub use concurrency::*;
pub use counters::*;
pub use indexes::*;
pub use scan::*;
pub use validation::*;

/// The TTL checks use: short, so that server-clock backends wait little.
pub const SHORT_TTL: Duration = Duration::from_millis(400);

/// How far a server-clock backend's remaining TTL may lag the ideal figure.
const SERVER_TTL_SLACK: Duration = Duration::from_millis(250);

/// Lets `by` pass for `store`: advances the fake clock, and for a backend
/// that judges expiry by its own clock also sleeps that long.
pub async fn pass_time(store: &dyn Store, clock: &FakeClock, by: Duration) {
    clock.advance(by);
    if store.capabilities().expiry_clock == ExpiryClock::Server {
        tokio::time::sleep(by).await;
    }
}

/// "Now" as the store judges it.
pub fn store_now(store: &dyn Store, clock: &FakeClock) -> SystemTime {
    match store.capabilities().expiry_clock {
        ExpiryClock::Injected => authstore::Clock::now(clock),
        ExpiryClock::Server => SystemTime::now(),
    }
}

/// Asserts what a backend's own tests know about it: its name and whether
/// it is durable; and, when its expiry follows the injected clock, that
/// [`Store::clock`] is `clock` (it moves when `clock` is advanced).
#[track_caller]
pub fn assert_capabilities(store: &dyn Store, clock: &FakeClock, name: &str, durable: bool) {
    let caps = store.capabilities();
    assert_eq!((caps.name, caps.durable), (name, durable), "{caps:?}");
    if caps.expiry_clock == ExpiryClock::Injected {
        let shared = store.clock();
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            authstore::Clock::now_millis(&shared),
            authstore::Clock::now_millis(clock),
            "{name}: Store::clock is the clock the store was built with"
        );
    }
}

/// Asserts that a reported remaining TTL is `expected`: exactly for
/// injected-clock backends, within a small slack below it for server clocks.
#[track_caller]
pub fn assert_ttl(store: &dyn Store, actual: Option<Duration>, expected: Duration, what: &str) {
    let actual =
        actual.unwrap_or_else(|| panic!("{what}: expected a TTL of {expected:?}, got none"));
    match store.capabilities().expiry_clock {
        ExpiryClock::Injected => assert_eq!(actual, expected, "{what}: remaining TTL"),
        ExpiryClock::Server => assert!(
            actual <= expected && actual + SERVER_TTL_SLACK >= expected,
            "{what}: remaining TTL {actual:?} not within {SERVER_TTL_SLACK:?} below {expected:?}"
        ),
    }
}

/// Asserts that an absolute expiry is `ttl` after the store's now.
#[track_caller]
pub fn assert_expires_in(
    store: &dyn Store,
    clock: &FakeClock,
    expires_at: Option<SystemTime>,
    ttl: Duration,
    what: &str,
) {
    let at = expires_at.unwrap_or_else(|| panic!("{what}: expected an expiry, got none"));
    let left = at
        .duration_since(store_now(store, clock))
        .unwrap_or(Duration::ZERO);
    assert_ttl(store, Some(left), ttl, what);
}

/// Runs `n` futures made by `make(i)` in parallel on several OS threads
/// (each also interleaving its share on one executor), and returns their
/// outputs in order. This gives real contention even for backends whose
/// futures never yield, like the memory store.
pub fn run_parallel<'a, F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut + Sync + 'a,
    Fut: Future<Output = T> + Send + 'a,
    T: Send + 'a,
{
    const THREADS: usize = 8;
    let handle = tokio::runtime::Handle::try_current().ok();
    let work = || {
        std::thread::scope(|scope| {
            let make = &make;
            let handle = &handle;
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    scope.spawn(move || {
                        let batch = futures::future::join_all(
                            (t..n)
                                .step_by(THREADS)
                                .map(|i| async move { (i, make(i).await) }),
                        );
                        match handle {
                            Some(h) => h.block_on(batch),
                            None => futures::executor::block_on(batch),
                        }
                    })
                })
                .collect();
            let mut all: Vec<(usize, T)> = threads
                .into_iter()
                .flat_map(|t| t.join().expect("a parallel worker panicked"))
                .collect();
            all.sort_by_key(|(i, _)| *i);
            all.into_iter().map(|(_, out)| out).collect()
        })
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
