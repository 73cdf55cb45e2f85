//! CSRF: a session-bound synchronizer token, a signed double-submit token, and the Origin check.
//! Run: `cargo run --example csrf`.

use authstore::csrf::{KeyRing, OriginCheck, RequestParts, SignedTokens, SynchronizerTokens};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = authstore::open("memory://").await?;
    let one_time = SynchronizerTokens::new(store, Duration::from_secs(600), true);
    let token = one_time.issue("session-handle-1").await?;
    println!(
        "first use: {}",
        one_time.verify("session-handle-1", &token).await?
    );
    println!(
        "replay:    {}",
        one_time.verify("session-handle-1", &token).await?
    );

    // In production the key comes from configuration, not a literal.
    let ring = KeyRing::new().with_key("2026-11", &[42; 32])?;
    let signed = SignedTokens::new(ring);
    let t = signed.issue("session-handle-1")?;
    println!(
        "signed token valid for its session: {}",
        signed.verify("session-handle-1", &t)
    );
    println!("and for another: {}", signed.verify("session-handle-2", &t));

    let check = OriginCheck::new().allow_origin("https://app.example.com");
    let cross = RequestParts {
        method: "POST",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://evil.example"),
        host: Some("app.example.com"),
    };
    println!("cross-site POST: {:?}", check.check(&cross));
    Ok(())
}
