//! The example web app end to end in headless Chromium (driven by chromedriver): log in, check the cookie's flags, be refused without a CSRF token, and log out the other devices.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs
//! them and sets `AUTHSTORE_REQUIRE_BROWSER=1`, which turns a missing
//! browser into a failure). Without them, and without that variable, the
//! test prints why it skips.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../examples/webapp.rs"]
mod webapp;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The browser and its driver, from `CHROMIUM`/`CHROMEDRIVER` or Debian's paths.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let pick = |var: &str, default: &str| {
        let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
        path.exists().then_some(path)
    };
    Some((
        pick("CHROMIUM", "/usr/bin/chromium")?,
        pick("CHROMEDRIVER", "/usr/bin/chromedriver")?,
    ))
}

/// Kills the driver when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(chromedriver: &PathBuf) -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    // Waiting for a process to listen, not for a TTL.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (driver, port)
}

/// A fresh headless browser with its own profile (a separate "device").
async fn browser(driver_port: u16, chromium: &PathBuf, profile: &tempfile::TempDir) -> Client {
    let args = json!([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        format!("--user-data-dir={}", profile.path().display()),
    ]);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a browser session")
}

async fn log_in(browser: &Client, base: &str) {
    browser.goto(base).await.unwrap();
    let form = browser
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .unwrap();
    form.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(webapp::DEMO_USER)
        .await
        .unwrap();
    form.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(webapp::DEMO_PASSWORD)
        .await
        .unwrap();
    form.find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("count"))
        .await
        .expect("logged in: the counter page");
}

/// Polls `check` until it holds (a page navigating after a click), for at most 15 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    browser
        .find(Locator::Id("count"))
        .await
        .ok()?
        .text()
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_is_refused_without_csrf_and_logs_out_other_devices() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        assert!(
            std::env::var_os("AUTHSTORE_REQUIRE_BROWSER").is_none(),
            "AUTHSTORE_REQUIRE_BROWSER is set but chromium/chromedriver are missing"
        );
        eprintln!(
            "SKIP browser test: /usr/bin/chromium or /usr/bin/chromedriver is missing (apt-get install chromium chromium-driver; scripts/test does)"
        );
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
    let (_driver, driver_port) = start_driver(&chromedriver).await;
    let (profile_a, profile_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = browser(driver_port, &chromium, &profile_a).await;
    let b = browser(driver_port, &chromium, &profile_b).await;

    log_in(&a, &base).await;
    log_in(&b, &base).await;

    // The session cookie as the browser stored it.
    let cookie = a
        .get_named_cookie("__Host-authstore")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly");
    assert_eq!(cookie.secure(), Some(true), "Secure");
    assert_eq!(
        format!("{:?}", cookie.same_site()),
        "Some(Lax)",
        "SameSite=Lax"
    );
    assert_eq!(cookie.path(), Some("/"));
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
    eventually("one session left, this one", || async {
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
