//! The example web app end to end in headless Chromium (driven by chromedriver): log in, check the cookie's flags, be refused without a CSRF token, and log out the other devices.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs
//! them and sets `AUTHSTORE_REQUIRE_BROWSER=1`, which turns a missing
//! browser into a failure). Without them, and without that variable, the
//! test prints why it skips.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/webapp.rs"]
mod webapp;

use std::net::SocketAddr;
use std::time::Duration;

use authstore_testkit::browser::{self, Driver, Scripts, eventually};
use fantoccini::{Client, Locator};
use serde_json::json;

/// How long a page may take to show the result of a click.
const PAGE_WAIT: Duration = Duration::from_secs(15);

async fn log_in(browser: &Client, base: &str) {
    browser.goto(base).await.unwrap();
    let form = browser
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .unwrap();
    browser::submit_form(
        &form,
        &[
            ("username", webapp::DEMO_USER),
            ("password", webapp::DEMO_PASSWORD),
        ],
        "submit",
    )
    .await;
    browser
        .wait()
        .for_element(Locator::Id("count"))
        .await
        .expect("logged in: the counter page");
}

/// The session rows of the sessions page, or `None` while it (re)loads.
async fn session_rows(browser: &Client) -> Option<Vec<String>> {
    let mut rows = Vec::new();
    for row in browser.find_all(Locator::Css("#sessions li")).await.ok()? {
        rows.push(row.text().await.ok()?);
    }
    Some(rows)
}

/// The counter on the home page, or `None` while it (re)loads.
async fn count(browser: &Client) -> Option<String> {
    browser::text_by_id(browser, "count").await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_is_refused_without_csrf_and_logs_out_other_devices() {
    let Some(tools) = browser::tools_or_skip() else {
        return;
    };
    let store = authstore::open("memory://").await.unwrap();
    let app = webapp::app(store, false).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let driver = Driver::start(&tools).await;
    let (profile_a, profile_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = driver.browser(profile_a.path(), Scripts::Enabled).await;
    let b = driver.browser(profile_b.path(), Scripts::Enabled).await;

    log_in(&a, &base).await;
    log_in(&b, &base).await;

    // The session cookie as the browser stored it: HttpOnly, Secure, SameSite=Lax, Path=/.
    browser::session_cookie(&a).await;
    let visible = a.execute("return document.cookie", vec![]).await.unwrap();
    assert_eq!(visible, json!(""), "scripts cannot read an HttpOnly cookie");

    // A same-origin POST without the token is refused; the page's form (with it) works.
    let status = a
        .execute_async(
            "const done = arguments[0];
             fetch('/counter', {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'x=1'})
               .then(r => r.json().then(j => done([r.status, j.error])));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, json!([403, "csrf"]));
    assert_eq!(count(&a).await.as_deref(), Some("0"));
    a.find(Locator::Id("increment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(
        "the form with its token is accepted: the counter reads 1",
        PAGE_WAIT,
        || async { count(&a).await.as_deref() == Some("1") },
    )
    .await;

    // Two devices are listed; "log out other devices" leaves one, and B is logged out.
    a.goto(&format!("{base}/sessions")).await.unwrap();
    let rows = session_rows(&a).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    a.find(Locator::Id("logout-others"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("one session left, this one", PAGE_WAIT, || async {
        session_rows(&a)
            .await
            .is_some_and(|rows| rows.len() == 1 && rows[0].contains("this device"))
    })
    .await;
    b.goto(&base).await.unwrap();
    b.wait()
        .for_element(Locator::Id("login"))
        .await
        .expect("device B is back at the login form");
    a.goto(&base).await.unwrap();
    assert_eq!(
        count(&a).await.as_deref(),
        Some("1"),
        "device A is still logged in"
    );

    a.close().await.unwrap();
    b.close().await.unwrap();
}
