//! The in-memory store used the way a web app uses it: a session with a TTL,
//! a rate-limit counter, and a single-use token. Run: `cargo run --example quickstart`.

use std::time::Duration;

use authstore::{Error, GcraParams, PutOptions, StoreExt};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Session {
    user_id: String,
    cart_items: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The same line opens Redis or PostgreSQL once those backends are enabled.
    let store = authstore::open("memory://?max_entries=100000").await?;
    println!("opened a {} store", store.backend());

    // 1. Log in: create a session (never overwriting an existing id), listed
    //    under its user so we can find and revoke all of them later.
    let ttl = Duration::from_secs(30 * 60);
    let session = Session {
        user_id: "user-42".into(),
        cart_items: 0,
    };
    let opts = PutOptions::new()
        .ttl(ttl)
        .create_only()
        .index("user:user-42");
    let version = store.put_json("session:3f9a1c", &session, opts).await?;
    println!("session created, version {version}, expires in {ttl:?}");

    // 2. A request changes the session; the version check catches a
    //    concurrent writer instead of silently losing its update.
    let mut current = store
        .get_json::<Session>("session:3f9a1c")
        .await?
        .expect("just created");
    current.value.cart_items += 1;
    let opts = PutOptions::new()
        .ttl(ttl)
        .if_version(current.version)
        .index("user:user-42");
    let v2 = store
        .put_json("session:3f9a1c", &current.value, opts)
        .await?;
    let stale = PutOptions::new().ttl(ttl).if_version(current.version);
    match store
        .put_json("session:3f9a1c", &current.value, stale)
        .await
    {
        Err(Error::VersionConflict {
            expected, actual, ..
        }) => {
            println!(
                "saved as version {v2}; a stale writer (expected {expected}, found {actual}) was refused"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // 3. Rate limiting: 5 login attempts per minute per IP (GCRA), and a
    //    plain fixed-window counter for comparison.
    let limit = GcraParams::per_period(5, Duration::from_secs(60));
    for attempt in 1..=6 {
        let d = store.gcra("ratelimit:login:203.0.113.7", limit).await?;
        println!(
            "login attempt {attempt}: {} (remaining {}, retry after {:?})",
            if d.allowed { "allowed" } else { "limited" },
            d.remaining,
            d.retry_after
        );
    }
    let hits = store
        .incr("counter:api:user-42", 1, Some(Duration::from_secs(60)))
        .await?;
    println!(
        "api counter = {} (window resets in {:?})",
        hits.value,
        hits.ttl.unwrap_or_default()
    );

    // 4. A single-use token (password reset, OAuth code): take() hands it out once.
    store
        .put(
            "reset:9b2e",
            b"user-42",
            PutOptions::new().ttl(Duration::from_secs(900)),
        )
        .await?;
    let first = store.take("reset:9b2e").await?;
    let second = store.take("reset:9b2e").await?;
    println!(
        "reset token: first use {}, second use {}",
        if first.is_some() {
            "accepted"
        } else {
            "rejected"
        },
        if second.is_some() {
            "accepted"
        } else {
            "rejected"
        }
    );

    // 5. Log out everywhere: one call removes every session of the user.
    store
        .put(
            "session:77d0",
            b"{}",
            PutOptions::new().ttl(ttl).index("user:user-42"),
        )
        .await?;
    println!(
        "sessions of user-42: {:?}",
        store.list_index("user:user-42").await?
    );
    let revoked = store.delete_index("user:user-42").await?;
    println!("logged out everywhere: {revoked} sessions revoked");

    let stats = store.stats().await?;
    println!(
        "stats: {} entries, {} hits, {} misses, {} sets, {} deletes",
        stats.entries, stats.hits, stats.misses, stats.sets, stats.deletes
    );
    Ok(())
}
