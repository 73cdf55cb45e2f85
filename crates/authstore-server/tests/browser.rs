//! The authorization code flow in headless Chromium with JavaScript disabled (driven by chromedriver): the sign-in and consent pages work as plain HTML forms, the redirect carries `code`, `state` and `iss`, the session cookie is stored with its flags, the code redeems at `/token` with the PKCE verifier, the account page's Remove access makes the token inactive at `/introspect`, and its Change password form takes a new password.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs
//! them and sets `AUTHSTORE_REQUIRE_BROWSER=1`, which turns a missing
//! browser into a failure). Without them, and without that variable, the
//! test prints why it skips.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstore::MemoryStore;
use authstore::credentials::LoginOutcome;
use authstore::oauth::{GrantType, NewClient};
use authstore_testkit::browser::{self, Driver, Scripts, eventually};
use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{PASSWORD, USER, send, start};
use fantoccini::{Client, Locator};
use http::Request;
use http_body_util::Full;

/// What the client's redirect target saw: the callback queries, and how
/// often a browser fetched the probe page's external script.
#[derive(Default)]
struct Seen {
    callbacks: Vec<String>,
    script_fetches: usize,
}

/// A page that tells whether scripts run in the browser that loads it: a
/// browser with scripting disabled never fetches `/probe.js` (HTML
/// "prepare the script element" stops first), leaves the paragraph as
/// served and renders the `<noscript>` content as elements.
const PROBE_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>client</title></head>
<body>
<p id="script">scripts did not run</p>
<noscript><p id="noscript">scripting is disabled</p></noscript>
<script src="/probe.js"></script>
</body></html>"#;

/// The client's side: `/callback` records its query; both pages are the probe.
async fn start_client_site() -> (u16, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = axum::Router::new()
        .route(
            "/callback",
            get(
                |State(seen): State<Arc<Mutex<Seen>>>, RawQuery(query): RawQuery| async move {
                    seen.lock()
                        .unwrap()
                        .callbacks
                        .push(query.unwrap_or_default());
                    Html(PROBE_PAGE)
                },
            ),
        )
        .route("/probe", get(|| async { Html(PROBE_PAGE) }))
        .route(
            "/probe.js",
            get(|State(seen): State<Arc<Mutex<Seen>>>| async move {
                seen.lock().unwrap().script_fetches += 1;
                (
                    [(http::header::CONTENT_TYPE, "text/javascript")],
                    "document.getElementById('script').textContent = 'scripts ran';",
                )
            }),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

/// Whether the page now shown ran its scripts: (the paragraph's text, whether `<noscript>` rendered).
async fn probe_result(browser: &Client) -> (String, bool) {
    let text = browser
        .find(Locator::Id("script"))
        .await
        .expect("the probe page")
        .text()
        .await
        .unwrap();
    let noscript = browser.find(Locator::Id("noscript")).await.is_ok();
    (text, noscript)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
fn s256(verifier: &str) -> String {
    let hex = authstore::secret::sha256_hex(verifier);
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn text_of(browser: &Client, id: &str) -> String {
    browser::text_by_id(browser, id)
        .await
        .unwrap_or_else(|e| panic!("#{id} on the page: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_without_javascript_signs_in_consents_and_the_code_redeems() {
    let Some(tools) = browser::tools_or_skip() else {
        return;
    };
    // `localhost` is a secure context for Chromium, so it keeps the
    // `Secure`, `__Host-` session cookie over plain http.
    let server = start(Arc::new(MemoryStore::builder().build().unwrap()), |s| {
        s.issuer = s.issuer.replace("127.0.0.1", "localhost");
        s.introspection.trusted = vec![INTROSPECTOR.into()];
    })
    .await;
    let mut introspector = NewClient::confidential("Resource server", "https://rs.example/cb");
    introspector.grant_types = vec![GrantType::ClientCredentials];
    server
        .state
        .oauth()
        .put_client(INTROSPECTOR, introspector, Some(INTROSPECTOR_SECRET))
        .await
        .unwrap();
    let issuer = server.state.settings().issuer.clone();
    assert!(issuer.starts_with("http://localhost:"), "{issuer}");

    let (client_port, seen) = start_client_site().await;
    let redirect_uri = format!("http://127.0.0.1:{client_port}/callback");
    let mut new = NewClient::public("Browser Test App", &redirect_uri);
    new.scopes = vec!["read".into()];
    let client_id = server
        .state
        .oauth()
        .register_client(new)
        .await
        .unwrap()
        .client
        .client_id;

    let driver = Driver::start(&tools).await;

    // The probe detects scripts: a browser with JavaScript on runs it...
    let control_profile = tempfile::tempdir().unwrap();
    let control = driver
        .browser(control_profile.path(), Scripts::Enabled)
        .await;
    control
        .goto(&format!("http://127.0.0.1:{client_port}/probe"))
        .await
        .unwrap();
    assert_eq!(
        probe_result(&control).await,
        ("scripts ran".to_owned(), false),
        "the probe sees scripts in a browser that runs them"
    );
    assert_eq!(seen.lock().unwrap().script_fetches, 1);
    control.close().await.unwrap();

    // ...and the browser under test runs none.
    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(profile.path(), Scripts::Disabled).await;
    b.goto(&format!("http://127.0.0.1:{client_port}/probe"))
        .await
        .unwrap();
    assert_eq!(
        probe_result(&b).await,
        ("scripts did not run".to_owned(), true),
        "JavaScript is disabled in the browser under test"
    );

    let verifier = authstore::secret::random_token().unwrap();
    let authorize_url = {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("code_challenge", &s256(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "xyz")
            .append_pair("scope", "read")
            .finish();
        format!("{issuer}/authorize?{query}")
    };
    b.goto(&authorize_url).await.unwrap();

    // The sign-in page, for this client.
    let form = b
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .expect("the sign-in page");
    assert_eq!(text_of(&b, "client-name").await, "Browser Test App");
    screenshots(&b, "sign-in").await;
    browser::submit_form(
        &form,
        &[("username", USER), ("password", PASSWORD)],
        "sign-in",
    )
    .await;

    // The consent page, back on /authorize with the same request.
    b.wait()
        .for_element(Locator::Id("consent"))
        .await
        .expect("signed in: the consent page");
    screenshots(&b, "consent").await;
    let url = b.current_url().await.unwrap();
    assert_eq!(url.path(), "/authorize", "{url}");
    assert_eq!(text_of(&b, "user").await, USER);
    assert_eq!(text_of(&b, "scopes").await, "read");
    assert_eq!(text_of(&b, "redirect").await, redirect_uri);

    // The session cookie as the browser stored it: HttpOnly, Secure, SameSite=Lax, Path=/.
    let cookie = browser::session_cookie(&b).await;
    assert_eq!(
        cookie.domain(),
        Some("localhost"),
        "a host-only cookie of the issuer's host"
    );

    b.find(Locator::Id("approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(
        "the browser lands on the client's redirect URI",
        Duration::from_secs(30),
        || async { !seen.lock().unwrap().callbacks.is_empty() },
    )
    .await;
    let callbacks = seen.lock().unwrap().callbacks.clone();
    assert_eq!(callbacks.len(), 1, "one redirect: {callbacks:?}");
    let query = &callbacks[0];
    assert_eq!(
        query_param(query, "state").as_deref(),
        Some("xyz"),
        "{query}"
    );
    assert_eq!(
        query_param(query, "iss").as_deref(),
        Some(issuer.as_str()),
        "RFC 9207 iss: {query}"
    );
    assert_eq!(query_param(query, "error"), None, "{query}");
    let code = query_param(query, "code").expect("a code");
    let landed = b.current_url().await.unwrap();
    assert_eq!(
        landed.as_str(),
        format!("{redirect_uri}?{query}"),
        "the browser shows the redirect"
    );
    // The whole flow ran with scripts off: the landing page ran none either.
    assert_eq!(
        probe_result(&b).await,
        ("scripts did not run".to_owned(), true)
    );
    assert_eq!(
        seen.lock().unwrap().script_fetches,
        1,
        "only the control browser ever fetched a script"
    );

    // The code redeems once, with the verifier, over plain HTTP.
    let exchange_with = |code: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("client_id", &client_id)
            .append_pair("code_verifier", &verifier)
            .finish();
        Request::post(format!("{}/token", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(body.into()))
            .unwrap()
    };
    let exchange = || exchange_with(&code);
    let res = send(exchange()).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let tokens: serde_json::Value = serde_json::from_str(res.body()).unwrap();
    let access = tokens["access_token"].as_str().expect("an access token");
    assert!(!access.is_empty());
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["scope"], "read", "{tokens}");
    assert!(tokens["expires_in"].as_u64().unwrap() > 0, "{tokens}");
    let again = send(exchange()).await;
    assert_eq!(again.status(), 400, "a code redeems once: {}", again.body());
    assert!(again.body().contains("invalid_grant"), "{}", again.body());

    // (The replay revoked that grant.) A second authorization by the
    // signed-in user gives the app a live token again…
    b.goto(&authorize_url).await.unwrap();
    b.wait()
        .for_element(Locator::Id("consent"))
        .await
        .expect("still signed in: the consent page");
    b.find(Locator::Id("approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the second redirect", Duration::from_secs(30), || async {
        seen.lock().unwrap().callbacks.len() == 2
    })
    .await;
    let second = seen.lock().unwrap().callbacks[1].clone();
    let code = query_param(&second, "code").expect("a second code");
    let res = send(exchange_with(&code)).await;
    assert_eq!(res.status(), 200, "{}", res.body());
    let tokens: serde_json::Value = serde_json::from_str(res.body()).unwrap();
    let access = tokens["access_token"].as_str().expect("an access token");

    // …the account page lists the app, and "Remove access" ends that token.
    assert_eq!(introspect(&server.base, access).await, Some(true));
    b.goto(&format!("{issuer}/account")).await.unwrap();
    b.wait()
        .for_element(Locator::Id("apps"))
        .await
        .expect("the account page lists the app");
    let app = text_of(&b, "apps").await;
    screenshots(&b, "account").await;
    assert!(app.contains("Browser Test App"), "{app}");
    b.find(Locator::Css("button.remove-app"))
        .await
        .expect("its Remove access button")
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Id("no-apps"))
        .await
        .expect("back on the account page, without the app");
    assert_eq!(
        introspect(&server.base, access).await,
        Some(false),
        "the access token is inactive at /introspect"
    );

    // …and "Change password" takes the new password.
    let form = b
        .find(Locator::Id("change-password"))
        .await
        .expect("the change-password form");
    let new_password = "a new and longer passphrase";
    browser::submit_form(
        &form,
        &[
            ("current-password", PASSWORD),
            ("new-password", new_password),
            ("confirm-password", new_password),
        ],
        "change-password-submit",
    )
    .await;
    b.wait()
        .for_element(Locator::Id("notice"))
        .await
        .expect("back on the account page: the password changed");
    let credentials = server.state.credentials();
    for (password, works) in [(PASSWORD, false), (new_password, true)] {
        let outcome = credentials
            .authenticate_from(USER, password, "test")
            .await
            .unwrap();
        assert_eq!(
            matches!(outcome, LoginOutcome::Authenticated { .. }),
            works,
            "{outcome:?}"
        );
    }
    b.goto(&format!(
        "{issuer}/authorize?response_type=code&client_id=no-such-app"
    ))
    .await
    .unwrap();
    b.wait()
        .for_element(Locator::Id("error"))
        .await
        .expect("the error page");
    screenshots(&b, "error").await;
    b.close().await.unwrap();
}

/// With `AUTHSTORE_SCREENSHOTS=DIR`, saves the page as it looks on a
/// desktop (1280×800) and on a phone (390×844): `DIR/NAME-desktop.png`,
/// `DIR/NAME-phone.png` (docs/server.md shows them).
async fn screenshots(b: &Client, name: &str) {
    let Some(dir) = std::env::var_os("AUTHSTORE_SCREENSHOTS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
        b.set_window_size(width, height).await.unwrap();
        let png = b.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}-{size}.png")), png).unwrap();
    }
    b.set_window_size(1280, 800).await.unwrap();
}

const INTROSPECTOR: &str = "browser-test-introspector";
const INTROSPECTOR_SECRET: &str = "an-introspector-secret-of-at-least-32-characters";

/// `active` of `token` at `/introspect`, asked by the trusted introspector.
async fn introspect(base: &str, token: &str) -> Option<bool> {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{INTROSPECTOR}:{INTROSPECTOR_SECRET}"));
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    let res = send(
        Request::post(format!("{base}/introspect"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {basic}"))
            .body(Full::new(body.into()))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.body());
    serde_json::from_str::<serde_json::Value>(res.body())
        .ok()?
        .get("active")?
        .as_bool()
}
