//! Headless Chromium for end-to-end tests, driven over WebDriver by chromedriver (feature `browser`).
//!
//! A test finds the tools with [`tools_or_skip`], starts one [`Driver`],
//! opens one browser per simulated device with [`Driver::browser`], and
//! waits for pages with [`eventually`]:
//!
//! ```no_run
//! # async fn demo() {
//! use authstore_testkit::browser::{self, Driver, Scripts};
//!
//! let Some(tools) = browser::tools_or_skip() else { return };
//! let driver = Driver::start(&tools).await;
//! let profile = tempfile::tempdir().unwrap();
//! let client = driver.browser(profile.path(), Scripts::Enabled).await;
//! client.goto("http://localhost:8080/").await.unwrap();
//! client.close().await.unwrap();
//! # }
//! ```
//!
//! The tools are Debian's `chromium` and `chromium-driver`, or the paths in
//! `CHROMIUM` and `CHROMEDRIVER`. Without them a test skips and says why,
//! unless `AUTHSTORE_REQUIRE_BROWSER` is set: then a missing browser fails
//! the test.

use std::future::Future;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The variable that turns a missing browser into a test failure.
pub const REQUIRE_VAR: &str = "AUTHSTORE_REQUIRE_BROWSER";

/// The name of authstore's session cookie, `__Host-authstore`.
pub const SESSION_COOKIE: &str = "__Host-authstore";

/// The browser and its driver.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The Chromium binary.
    pub chromium: PathBuf,
    /// The chromedriver binary.
    pub chromedriver: PathBuf,
}

/// The browser and its driver, from `CHROMIUM`/`CHROMEDRIVER` or Debian's
/// paths (`/usr/bin/chromium`, `/usr/bin/chromedriver`); `None` if either is missing.
pub fn tools() -> Option<Tools> {
    let pick = |var: &str, default: &str| {
        let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
        path.exists().then_some(path)
    };
    Some(Tools {
        chromium: pick("CHROMIUM", "/usr/bin/chromium")?,
        chromedriver: pick("CHROMEDRIVER", "/usr/bin/chromedriver")?,
    })
}

/// [`tools`], or `None` after printing why the test skips.
///
/// # Panics
///
/// If the tools are missing and [`REQUIRE_VAR`] is set.
pub fn tools_or_skip() -> Option<Tools> {
    let found = tools();
    if found.is_none() {
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set but chromium/chromedriver are missing"
        );
        eprintln!(
            "SKIP browser test: /usr/bin/chromium or /usr/bin/chromedriver is missing (apt-get install chromium chromium-driver; scripts/test does)"
        );
    }
    found
}

/// Whether a browser runs the scripts of the pages it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    /// JavaScript runs, as in an ordinary browser.
    Enabled,
    /// JavaScript is blocked on every page through the content-settings policy.
    Disabled,
}

/// A running chromedriver on a free loopback port; killed when dropped,
/// however the test ends.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
    chromium: PathBuf,
}

impl Driver {
    /// Starts chromedriver and waits (at most 20 s) until it listens.
    ///
    /// # Panics
    ///
    /// If chromedriver does not start or does not listen in time.
    pub async fn start(tools: &Tools) -> Self {
        let port = free_port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            port,
            chromium: tools.chromium.clone(),
        };
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
        driver
    }

    /// A fresh headless browser with its own profile in `profile` (a
    /// separate "device"), running or blocking scripts as `scripts` says.
    ///
    /// # Panics
    ///
    /// If the driver does not open a browser session.
    pub async fn browser(&self, profile: &Path, scripts: Scripts) -> Client {
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
            format!("--user-data-dir={}", profile.display()),
        ]);
        let mut options = json!({ "binary": self.chromium, "args": args });
        if scripts == Scripts::Disabled {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it holds (a page navigating after a click), for at most `within`.
///
/// # Panics
///
/// If `check` still fails after `within`; the message names `what`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The [`SESSION_COOKIE`] as `browser` stored it, after asserting the flags
/// authstore always sets on it: `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`.
///
/// # Panics
///
/// If the browser has no such cookie or a flag differs.
pub async fn session_cookie(browser: &Client) -> Cookie<'static> {
    let cookie = browser
        .get_named_cookie(SESSION_COOKIE)
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly");
    assert_eq!(cookie.secure(), Some(true), "Secure");
    assert_eq!(
        format!("{:?}", cookie.same_site()),
        "Some(Lax)",
        "SameSite=Lax"
    );
    assert_eq!(cookie.path(), Some("/"), "Path=/");
    cookie
}

/// The text of the element with id `id` on the page shown, or the error
/// (no such element, or the page is still loading).
pub async fn text_by_id(browser: &Client, id: &str) -> Result<String, CmdError> {
    browser.find(Locator::Id(id)).await?.text().await
}

/// Types each `(id, value)` of `fields` into the field with that id inside
/// `form`, then clicks the element with id `submit`.
///
/// # Panics
///
/// If a field or the button is missing, or the browser refuses the input.
pub async fn submit_form(form: &Element, fields: &[(&str, &str)], submit: &str) {
    for (id, value) in fields {
        form.find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("field #{id} in the form: {e}"))
            .send_keys(value)
            .await
            .unwrap();
    }
    form.find(Locator::Id(submit))
        .await
        .unwrap_or_else(|e| panic!("button #{submit} in the form: {e}"))
        .click()
        .await
        .unwrap();
}
