//! Sessions, CSRF and rate limiting together on one store, as a web app uses them.
//! Run: `cargo run --example quickstart`. Change the URL to `redis://…`,
//! `postgres://…` or `sqlite://…` (with that cargo feature) and nothing else changes.

use std::time::Duration;

use authstore::Error;
use authstore::csrf::{self, OriginCheck, RequestParts};
use authstore::ratelimit::{Limit, RateLimiter};
use authstore::session::{SessionManager, SessionMeta, SessionUser};
use authstore::tokens::{ApiTokens, NewToken};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One store for every module.
    let store = authstore::open("memory://?max_entries=100000").await?;
    println!("opened a {} store", store.capabilities().name);

    let sessions = SessionManager::new(store.clone());
    let login_limit = RateLimiter::new(store.clone(), Limit::per(5, Duration::from_secs(60)));
    let origin = OriginCheck::new().allow_origin("https://app.example.com");

    // 1. A visitor arrives: an anonymous session, and a CSRF token for the login form.
    let meta = SessionMeta {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0".into()),
        device: Some("Firefox on Linux".into()),
    };
    let mut session = sessions.create(None, meta).await?;
    let form_token = csrf::session_token(&mut session)?;
    sessions.save(&mut session).await?;
    println!("session {:?} created; CSRF token issued", session.handle());

    // 2. The login POST: Fetch-Metadata check, CSRF token, rate limit, then log in.
    let post = RequestParts {
        method: "POST",
        sec_fetch_site: Some("same-origin"),
        origin: Some("https://app.example.com"),
        host: Some("app.example.com"),
    };
    assert!(origin.check(&post).proceeds(), "same-origin POST passes");
    let forged = RequestParts {
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://evil.example"),
        ..post
    };
    println!("cross-site POST: {:?}", origin.check(&forged));
    assert!(csrf::verify_session_token(&session, &form_token));
    let decision = login_limit.check("login:203.0.113.7", 1).await?;
    println!(
        "login attempt allowed: {} ({} left)",
        decision.allowed, decision.remaining
    );
    let old_handle = session.handle();
    sessions
        .login(&mut session, SessionUser::new("user-42"))
        .await?;
    println!(
        "logged in: the id changed ({:?} -> {:?})",
        old_handle,
        session.handle()
    );

    // 3. A request changes the session; a stale concurrent copy is refused, not lost.
    let mut a = sessions.load(session.id()).await?.expect("live");
    let mut b = a.clone();
    a.insert("cart", vec!["book"])?;
    sessions.save(&mut a).await?;
    b.insert("cart", vec!["pen"])?;
    match sessions.save(&mut b).await {
        Err(Error::VersionConflict { .. }) => println!(
            "stale writer refused; the cart is {:?}",
            a.get::<Vec<String>>("cart")?
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }

    // 4. Brute force: the sixth attempt in a minute is limited.
    for attempt in 2..=6 {
        let d = login_limit.check("login:203.0.113.7", 1).await?;
        println!(
            "login attempt {attempt}: {} (retry after {:?})",
            if d.allowed { "allowed" } else { "limited" },
            d.retry_after
        );
    }

    // 5. An API token for scripts: shown once, stored only as a hash.
    let tokens = ApiTokens::new(store.clone());
    let issued = tokens
        .issue(
            NewToken::for_principal("user-42")
                .scope("read")
                .ttl(Duration::from_secs(86_400)),
        )
        .await?;
    let who = tokens.verify(&issued.token).await?.expect("valid");
    println!(
        "API token for {} with scopes {:?}",
        who.principal, who.scopes
    );

    // 6. "Log out everywhere".
    let devices = sessions.list_for_user("user-42").await?;
    println!("{} session(s) for user-42; revoking all", devices.len());
    sessions.revoke_all("user-42").await?;
    assert!(sessions.load(session.id()).await?.is_none());
    println!("done");
    Ok(())
}
