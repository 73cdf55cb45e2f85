//! Passwords: register, log in, lockout after repeated failures.
//! Run: `cargo run --release --example credentials` (argon2id is slow in debug builds).

use authstore::credentials::{Credentials, CredentialsConfig, LoginOutcome};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = authstore::open("memory://").await?;
    let config = CredentialsConfig {
        max_failures: 3,
        ..CredentialsConfig::default()
    };
    let creds = Credentials::with_config(store, config, authstore::SystemClock)?;
    creds
        .register_user("ada@example.com", "u-1", "correct horse battery staple")
        .await?;
    let ok = creds
        .authenticate("Ada@Example.com", "correct horse battery staple")
        .await?;
    println!("right password: {ok:?}");
    for attempt in 1..=4 {
        let outcome = creds.authenticate("ada@example.com", "guess").await?;
        println!("wrong password #{attempt}: {outcome:?}");
        if matches!(outcome, LoginOutcome::LockedOut { .. }) {
            break;
        }
    }
    let unknown = creds.authenticate("nobody@example.com", "x").await?;
    println!("unknown user (same answer, same cost): {unknown:?}");
    Ok(())
}
