//! `/account` "Change password": the current password is checked and throttled like a sign-in, the new one must be confirmed and long enough, the other sessions are signed out, and the form needs its token.

mod common;

use std::sync::Arc;

use authstore::MemoryStore;
use authstore::credentials::LoginOutcome;
use common::{Browser, PASSWORD, Server, USER, hidden, start};
use http::header::{LOCATION, RETRY_AFTER};

const NEW: &str = "a new and longer passphrase";

async fn server() -> Server {
    start(Arc::new(MemoryStore::builder().build().unwrap()), |_| {}).await
}

/// Posts the change-password form from the account page `browser` is on.
async fn change(
    server: &Server,
    browser: &mut Browser,
    current: &str,
    new: &str,
    confirm: &str,
) -> http::Response<String> {
    let page = browser.get(&format!("{}/account", server.base)).await;
    assert_eq!(page.status(), 200, "{}", page.body());
    assert!(page.body().contains("id=\"change-password\""));
    let csrf = hidden(page.body(), "_csrf");
    browser
        .post_form(
            &format!("{}/account/password", server.base),
            &[
                ("_csrf", csrf.as_str()),
                ("current", current),
                ("new", new),
                ("confirm", confirm),
            ],
        )
        .await
}

async fn login(server: &Server, password: &str) -> LoginOutcome {
    server
        .state
        .credentials()
        .authenticate_from(USER, password, "test")
        .await
        .unwrap()
}

#[tokio::test]
async fn the_password_changes_and_the_other_sessions_end() {
    let server = server().await;
    let mut laptop = Browser::new(&server.base);
    let mut phone = Browser::new(&server.base);
    laptop.sign_in().await;
    phone.sign_in().await;

    let res = change(&server, &mut laptop, PASSWORD, NEW, NEW).await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let to = res.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(to, "/account?password=changed");
    let page = laptop.get(&format!("{}{to}", server.base)).await;
    assert_eq!(page.status(), 200, "this session stays");
    assert!(page.body().contains("id=\"notice\""), "{}", page.body());
    assert!(page.body().contains("Your password was changed"));
    let account = phone.get(&format!("{}/account", server.base)).await;
    assert_eq!(account.status(), 303, "the other session ended");

    assert_eq!(
        login(&server, PASSWORD).await,
        LoginOutcome::InvalidCredentials
    );
    assert!(matches!(
        login(&server, NEW).await,
        LoginOutcome::Authenticated { .. }
    ));
    let mut fresh = Browser::new(&server.base);
    assert_eq!(fresh.sign_in_as(USER, NEW).await.status(), 303);
}

#[tokio::test]
async fn wrong_short_or_unconfirmed_passwords_change_nothing() {
    let server = server().await;
    let mut browser = Browser::new(&server.base);
    browser.sign_in().await;
    for (current, new, confirm, status, says) in [
        (
            "wrong password",
            NEW,
            NEW,
            403,
            "The current password is wrong.",
        ),
        (
            PASSWORD,
            "short",
            "short",
            400,
            "The new password needs 8 to 1024 characters.",
        ),
        (
            PASSWORD,
            NEW,
            "something else",
            400,
            "The new passwords do not match.",
        ),
        ("", NEW, NEW, 400, "Enter your current password."),
    ] {
        let res = change(&server, &mut browser, current, new, confirm).await;
        assert_eq!(res.status(), status, "{says}: {}", res.body());
        assert!(res.body().contains("id=\"password-error\""), "{says}");
        assert!(res.body().contains(says), "{says}: {}", res.body());
        assert!(
            !res.body().contains(PASSWORD) && !res.body().contains(NEW),
            "no password echoed"
        );
    }
    assert!(matches!(
        login(&server, PASSWORD).await,
        LoginOutcome::Authenticated { .. }
    ));
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled_like_a_sign_in() {
    let server = server().await;
    let mut browser = Browser::new(&server.base);
    browser.sign_in().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let res = change(&server, &mut browser, "guess", NEW, NEW).await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            assert!(res.headers().contains_key(RETRY_AFTER));
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == 403),
        "{statuses:?}"
    );
    // Even the right password waits now, from this network.
    let res = change(&server, &mut browser, PASSWORD, NEW, NEW).await;
    assert_eq!(res.status(), 429);
    assert!(matches!(
        login(&server, PASSWORD).await,
        LoginOutcome::Authenticated { .. }
    ));
}

#[tokio::test]
async fn the_form_needs_its_token_and_a_session() {
    let server = server().await;
    let url = format!("{}/account/password", server.base);
    let fields = [("current", PASSWORD), ("new", NEW), ("confirm", NEW)];
    let mut browser = Browser::new(&server.base);
    browser.sign_in().await;
    let mut forged = vec![("_csrf", "forged")];
    forged.extend(fields);
    assert_eq!(browser.post_form(&url, &forged).await.status(), 403);
    let mut stranger = Browser::new(&server.base);
    let res = stranger.post_form(&url, &fields).await;
    assert_ne!(res.status(), 303, "{}", res.body());
    assert!(matches!(
        login(&server, PASSWORD).await,
        LoginOutcome::Authenticated { .. }
    ));
}
