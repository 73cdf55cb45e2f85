//! `cargo bench -p authstore --bench modules`: the auth modules on the
//! in-memory store, next to `governor` in the same run.
//!
//! - **ratelimit**: `RateLimiter::check(key, 1)` (GCRA on `MemoryStore`)
//!   against governor's keyed limiter (`DefaultKeyedRateLimiter<String>`,
//!   `check_key`), with the same quota (one per ms, burst 100,000: every
//!   check is admitted and both do the full update; authstore's time
//!   resolution is 1 ms),
//!   over the same stream of 10,000 keys, on 1 and 2 threads. The store's
//!   futures are ready on first poll, so they are driven with
//!   `now_or_never` (no runtime in the loop), as the memory bench does.
//!   A third row times the store's step alone (`gcra_inline` on the
//!   already namespaced key), so the limiter's own share is the difference.
//! - **session**: `SessionManager::load` + `save` of one of 10,000 sessions
//!   with a small data map, on 1 thread.
//!
//! Each figure is the median of 5 runs. Under `cargo test --benches` every
//! case runs once on tiny sizes.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::ratelimit::{Limit, RateLimiter};
use authstore::session::{SessionId, SessionManager, SessionMeta};
use authstore::{GcraParams, MemoryStore, Store};
use futures::FutureExt;
use governor::{DefaultKeyedRateLimiter, Quota};

const KEYS: usize = 10_000;
const BURST: u32 = 100_000;

fn keys() -> Vec<String> {
    (0..KEYS)
        .map(|i| format!("ip:10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))
        .collect()
}

/// A fixed pseudo-random walk over the keys (no RNG in the timed loop).
fn stream(ops: usize) -> Vec<usize> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..ops)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % KEYS as u64) as usize
        })
        .collect()
}

fn store() -> Arc<dyn Store> {
    Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .build()
            .expect("memory store"),
    )
}

/// ops/s of `threads` threads splitting `order` and calling `op` on each key index.
fn run(threads: usize, order: &[usize], op: &(dyn Fn(usize) + Sync)) -> f64 {
    let chunk = order.len() / threads;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let part = &order[t * chunk..(t + 1) * chunk];
            s.spawn(move || {
                for &i in part {
                    op(i);
                }
            });
        }
    });
    (chunk * threads) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let (ops, rounds) = if test_mode {
        (2_000, 1)
    } else {
        (2_000_000, 5)
    };
    // `-- ratelimit` or `-- session` runs one part only (for profiling).
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let keys = keys();
    let order = stream(ops);
    println!("# auth modules on MemoryStore vs governor ({ops} ops per run, median of {rounds})\n");
    println!("| case | threads | ops/s | vs governor |\n|---|---:|---:|---:|");

    for threads in [1, 2].into_iter().filter(|_| wanted("ratelimit")) {
        let limiter = RateLimiter::new(
            store(),
            Limit::per(BURST, Duration::from_millis(u64::from(BURST))),
        );
        let ours = median(
            (0..rounds)
                .map(|_| {
                    run(threads, &order, &|i| {
                        let d = limiter
                            .check(&keys[i], 1)
                            .now_or_never()
                            .expect("ready")
                            .expect("check");
                        assert!(d.allowed);
                    })
                })
                .collect(),
        );
        // The store's step alone (the namespaced key joined beforehand):
        // what the limiter adds on top of it is the difference.
        let step_store = store();
        let joined: Vec<String> = keys.iter().map(|k| format!("rl:{k}")).collect();
        let params = GcraParams::per_period(BURST, Duration::from_millis(u64::from(BURST)));
        let step = median(
            (0..rounds)
                .map(|_| {
                    run(threads, &order, &|i| {
                        let d = step_store
                            .gcra_inline(&joined[i], params)
                            .expect("answered in place")
                            .expect("gcra");
                        assert!(d.allowed);
                    })
                })
                .collect(),
        );
        let quota = Quota::with_period(Duration::from_millis(1))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(BURST).expect("non-zero"));
        let governor: DefaultKeyedRateLimiter<String> = DefaultKeyedRateLimiter::keyed(quota);
        let theirs = median(
            (0..rounds)
                .map(|_| {
                    run(threads, &order, &|i| {
                        assert!(governor.check_key(&keys[i]).is_ok());
                    })
                })
                .collect(),
        );
        println!("| governor keyed check_key | {threads} | {theirs:.0} | 1.00× |");
        let verdict = if ours >= theirs {
            "met".to_owned()
        } else {
            format!("MISSED by {:.0}%", (1.0 - ours / theirs) * 100.0)
        };
        println!(
            "| authstore RateLimiter::check (GCRA) | {threads} | {ours:.0} | {:.2}× ({verdict}) |",
            ours / theirs
        );
        println!(
            "| MemoryStore::gcra_inline alone (key joined beforehand) | {threads} | {step:.0} | {:.2}× |",
            step / theirs
        );
    }

    if !wanted("session") {
        return;
    }
    let sessions = SessionManager::new(store());
    let ids: Vec<SessionId> = (0..if test_mode { 100 } else { KEYS })
        .map(|i| {
            let mut s = sessions
                .create(None, SessionMeta::default())
                .now_or_never()
                .expect("ready")
                .expect("create");
            s.insert("user", i).expect("insert");
            s.insert("cart", vec![1, 2, 3]).expect("insert");
            sessions
                .save(&mut s)
                .now_or_never()
                .expect("ready")
                .expect("save");
            s.id().clone()
        })
        .collect();
    let session_ops: Vec<usize> = order.iter().take(ops / 4).map(|i| i % ids.len()).collect();
    let loads = median(
        (0..rounds)
            .map(|_| {
                run(1, &session_ops, &|i| {
                    let mut s = sessions
                        .load(&ids[i])
                        .now_or_never()
                        .expect("ready")
                        .expect("load")
                        .expect("live");
                    s.insert("seen", true).expect("insert");
                    sessions
                        .save(&mut s)
                        .now_or_never()
                        .expect("ready")
                        .expect("save");
                })
            })
            .collect(),
    );
    println!("| SessionManager load + save | 1 | {loads:.0} | |");
}
