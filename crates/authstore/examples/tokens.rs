//! API tokens: issue, verify, list, revoke.
//! Run: `cargo run --example tokens`.

use authstore::tokens::{ApiTokens, NewToken};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tokens = ApiTokens::new(authstore::open("memory://").await?);
    let ci = tokens
        .issue(
            NewToken::for_principal("u1")
                .scope("deploy")
                .meta("name", "CI")
                .ttl(Duration::from_secs(30 * 86_400)),
        )
        .await?;
    tokens
        .issue(
            NewToken::for_principal("u1")
                .scope("read")
                .meta("name", "laptop"),
        )
        .await?;
    println!(
        "issued {:?} (the secret is shown once, to the user)",
        ci.info.handle
    );
    let info = tokens.verify(&ci.token).await?.expect("valid");
    println!(
        "verified: principal {}, may deploy: {}",
        info.principal,
        info.has_scope("deploy")
    );
    for t in tokens.list("u1").await? {
        println!("u1 has {:?} ({:?})", t.metadata.get("name"), t.scopes);
    }
    tokens.revoke(&ci.info.handle).await?;
    println!(
        "after revocation: {:?}",
        tokens.verify(&ci.token).await?.map(|t| t.principal)
    );
    println!("revoked the rest: {}", tokens.revoke_all("u1").await?);
    Ok(())
}
