//! Rate limiting with each algorithm, and the fail-open policy.
//! Run: `cargo run --example ratelimit`.

use authstore::ratelimit::{Algorithm, FailurePolicy, Limit, RateLimiter};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = authstore::open("memory://").await?;
    for algorithm in [
        Algorithm::Gcra,
        Algorithm::SlidingWindow,
        Algorithm::FixedWindow,
    ] {
        let limiter = RateLimiter::new(
            store.clone(),
            Limit::per(3, Duration::from_secs(10)).algorithm(algorithm),
        )
        .namespace(&format!("rl-{algorithm:?}:").to_lowercase())?
        .on_store_failure(FailurePolicy::Open)
        .cache_blocked_keys(10_000);
        let verdicts: Vec<String> = {
            let mut v = Vec::new();
            for _ in 0..5 {
                let d = limiter.check("ip:198.51.100.1", 1).await?;
                v.push(if d.allowed {
                    format!("ok({})", d.remaining)
                } else {
                    format!("wait {:?}", d.retry_after)
                });
            }
            v
        };
        println!("{algorithm:?}: {}", verdicts.join(", "));
    }
    Ok(())
}
