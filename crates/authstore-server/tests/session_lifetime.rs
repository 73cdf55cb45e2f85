//! `[sessions]`: the server ends a sign-in after the configured idle timeout and absolute lifetime.

mod common;

use std::time::Duration;

use common::{Browser, PASSWORD, USER, hidden, start_clocked};
use http::header::LOCATION;

/// Signs in from `/login` and lands on `/account`.
async fn sign_in(browser: &mut Browser, base: &str) {
    let page = browser
        .get(&format!("{base}/login?return_to=/account"))
        .await;
    assert_eq!(page.status(), 200, "{}", page.body());
    let csrf = hidden(page.body(), "_csrf");
    let res = browser
        .post_form(
            &format!("{base}/login"),
            &[
                ("_csrf", csrf.as_str()),
                ("return_to", "/account"),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "signed in: {}", res.body());
    assert_eq!(res.headers()[LOCATION], "/account");
}

/// Whether `/account` shows the account page (a live session) rather than
/// sending the browser to sign in.
async fn signed_in(browser: &mut Browser, base: &str) -> bool {
    let res = browser.get(&format!("{base}/account")).await;
    match res.status().as_u16() {
        200 => true,
        303 => {
            assert_eq!(res.headers()[LOCATION], "/login");
            false
        }
        other => panic!("/account answered {other}: {}", res.body()),
    }
}

#[tokio::test]
async fn a_session_ends_after_the_configured_idle_timeout() {
    let f = start_clocked(|s| {
        s.sessions.idle_timeout = Duration::from_secs(300);
        s.sessions.absolute_lifetime = Duration::from_secs(3600);
    })
    .await;
    let mut browser = Browser::new(&f.base);
    sign_in(&mut browser, &f.base).await;
    assert!(signed_in(&mut browser, &f.base).await);
    // Each visit within the idle timeout keeps the session going…
    for _ in 0..3 {
        f.clock.advance(Duration::from_secs(240));
        assert!(
            signed_in(&mut browser, &f.base).await,
            "used within 5 minutes"
        );
    }
    // …and five idle minutes end it, well before the default 30.
    f.clock.advance(Duration::from_secs(301));
    assert!(
        !signed_in(&mut browser, &f.base).await,
        "idle for 5 minutes"
    );
}

#[tokio::test]
async fn a_session_ends_at_the_configured_absolute_lifetime_however_much_it_is_used() {
    let f = start_clocked(|s| {
        s.sessions.idle_timeout = Duration::from_secs(300);
        s.sessions.absolute_lifetime = Duration::from_secs(900);
    })
    .await;
    let mut browser = Browser::new(&f.base);
    sign_in(&mut browser, &f.base).await;
    for minute in [2, 4, 6, 8, 10, 12, 14] {
        f.clock.advance(Duration::from_secs(120));
        assert!(
            signed_in(&mut browser, &f.base).await,
            "in use at minute {minute}"
        );
    }
    f.clock.advance(Duration::from_secs(61));
    assert!(
        !signed_in(&mut browser, &f.base).await,
        "15 minutes after the sign-in"
    );
}
