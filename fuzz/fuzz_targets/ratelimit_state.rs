//! The combined rate-limit state (one entry for several limits, `g<tat>;w<index>,<current>,<previous>`) as stored, under any limits and any time: a check, penalty or reward never panics; a stored state that is not one is reported as a corrupt entry; a decision is consistent (an allowed request waits for nothing, a refusal says how long); what a check writes back reads again.
//!
//! Input: a count of limits (1 to 3), each `requests` (u32 LE), `period` in
//! ms (u64 LE) and the algorithm (u8); the time in ms (u64 LE); the cost
//! (u32 LE); the operation (u8); then the stored state's bytes.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Unstructured;
use authstore::ratelimit::{Algorithm, Limit, RateLimiter};
use authstore::{Error, FakeClock, MemoryStore, PutOptions, Store};
use libfuzzer_sys::fuzz_target;

const NAMESPACE: &str = "rl:";
const KEY: &str = "ip:192.0.2.1";

struct Input {
    limits: Vec<Limit>,
    now: u64,
    cost: u32,
    op: u8,
    state: Vec<u8>,
}

fn input(data: &[u8]) -> arbitrary::Result<Input> {
    let mut u = Unstructured::new(data);
    let n = 1 + usize::from(u.arbitrary::<u8>()? % 3);
    let mut limits = Vec::with_capacity(n);
    for _ in 0..n {
        let requests: u32 = u.arbitrary()?;
        let period: u64 = u.arbitrary()?;
        let algorithm = match u.arbitrary::<u8>()? % 3 {
            0 => Algorithm::Gcra,
            1 => Algorithm::FixedWindow,
            _ => Algorithm::SlidingWindow,
        };
        limits.push(Limit {
            requests,
            period: Duration::from_millis(period),
            algorithm,
        });
    }
    Ok(Input {
        limits,
        now: u.arbitrary()?,
        cost: u.arbitrary()?,
        op: u.arbitrary()?,
        state: u.take_rest().to_vec(),
    })
}

async fn run(input: Input) {
    let clock = FakeClock::at_millis(input.now);
    let store: Arc<dyn Store> = Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .shards(1)
            .clock(clock.clone())
            .build()
            .expect("a memory store"),
    );
    let limiter = RateLimiter::with_clock(Arc::clone(&store), input.limits[0], clock.clone())
        .with_limits(input.limits.clone())
        .expect("at least one limit")
        .namespace(NAMESPACE)
        .expect("a valid namespace");
    let state_key = format!("{NAMESPACE}{KEY}#all");
    let stored = !input.state.is_empty();
    if stored {
        store
            .put(&state_key, &input.state, PutOptions::new())
            .await
            .expect("put");
    }
    let result = match input.op % 3 {
        0 => limiter.check(KEY, input.cost).await.map(Some),
        1 => limiter.penalty(KEY, input.cost).await.map(|()| None),
        _ => limiter.reward(KEY, input.cost).await.map(|()| None),
    };
    match result {
        Ok(Some(d)) => {
            assert!(
                input.limits.contains(&d.limit),
                "the deciding limit is one of them"
            );
            assert!(!d.degraded, "the store works");
            if d.allowed {
                assert_eq!(d.retry_after, Duration::ZERO, "{d:?}");
            }
        }
        Ok(None) => {}
        // A cost over a limit, or a limit a store cannot count (a GCRA
        // emission interval under 1 ms).
        Err(Error::InvalidArgument(_)) => return,
        Err(Error::Corrupt { .. }) => {
            assert!(stored, "only a stored state can be corrupt");
            return;
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
    // What was written back reads again, now and later.
    clock.advance(Duration::from_millis(u64::from(input.cost)));
    match limiter.check(KEY, 0).await {
        Ok(_) | Err(Error::InvalidArgument(_)) => {}
        Err(Error::Corrupt { .. }) => {
            let now = store.get(&state_key).await.expect("get");
            assert_eq!(
                now.map(|e| e.value.to_vec()),
                Some(input.state.clone()),
                "the limiter's own state reads back"
            );
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = input(data) else {
        return;
    };
    authstore_fuzz::block_on(run(input));
});
