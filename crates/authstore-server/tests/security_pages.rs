//! The pages' security fixes over HTTP: anonymous page loads store nothing (stateless sign-in CSRF, sessions only at sign-in) and are rate-limited per IP; wrong passwords are throttled per (user, client network) with doubling waits; remembered consent is bound to (client, scopes, resource) and never used for public clients; registered clients' errors are shown, not redirected; page headers, body limit, control characters and "unverified" client names.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use authstore::audit::AuditEvent;
use authstore::oauth::{ClientOrigin, NewClient, pkce_challenge};
use authstore::{Clock, FakeClock, MemoryStore, Store, StoreExt};
use authstore_axum::TrustedProxies;
use authstore_server::{AppState, Settings};
use bytes::Bytes;
use common::{PASSWORD, USER, consent_fields, hidden, send};
use http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, RETRY_AFTER, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{Method, Request, Response};
use http_body_util::Full;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CONFIDENTIAL_REDIRECT: &str = "https://app.example/callback";

struct Fixture {
    base: String,
    state: AppState,
    store: Arc<dyn Store>,
    clock: FakeClock,
}

/// The server on a fake clock, behind a "proxy" at 127.0.0.1 whose
/// `X-Forwarded-For` is believed, with the test user registered.
async fn start(tweak: impl FnOnce(&mut Settings)) -> Fixture {
    let clock = FakeClock::new();
    let store: Arc<dyn Store> = Arc::new(
        MemoryStore::builder()
            .clock(clock.clone())
            .sweep_interval(None)
            .build()
            .unwrap(),
    );
    start_on(store, clock, tweak).await
}

/// [`start`] on a given store (another instance of the same server).
async fn start_on(
    store: Arc<dyn Store>,
    clock: FakeClock,
    tweak: impl FnOnce(&mut Settings),
) -> Fixture {
    let (listener, base) = common::bind().await;
    let mut settings = common::settings(&base);
    settings.trusted_proxies = TrustedProxies::parse(["127.0.0.1/32"]).unwrap();
    tweak(&mut settings);
    let state = AppState::with_clock(Arc::clone(&store), settings, clock.clone()).unwrap();
    let registered = state
        .credentials()
        .register_user(USER, "u-ada", PASSWORD)
        .await;
    assert!(
        registered.is_ok() || matches!(registered, Err(authstore::Error::AlreadyExists { .. })),
        "{registered:?}"
    );
    common::serve(listener, &state);
    Fixture {
        base,
        state,
        store,
        clock,
    }
}

/// An operator-provisioned public client with a loopback redirect (any port).
async fn public_client(f: &Fixture) -> String {
    let mut new = NewClient::public("Loopback CLI", "http://127.0.0.1/callback");
    new.scopes = vec!["read".into(), "write".into()];
    let registered = f.state.oauth().register_client(new).await.unwrap();
    registered.client.client_id
}

/// An operator-provisioned confidential client.
async fn confidential_client(f: &Fixture) -> String {
    let mut new = NewClient::confidential("Web app", CONFIDENTIAL_REDIRECT);
    new.scopes = vec!["read".into(), "write".into()];
    let registered = f.state.oauth().register_client(new).await.unwrap();
    registered.client.client_id
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `/authorize?…` for `client` with a PKCE challenge.
fn authorize_url(base: &str, client: &str, redirect: &str, extra: &str) -> String {
    format!(
        "{base}/authorize?response_type=code&client_id={client}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s1{extra}",
        enc(redirect),
        pkce_challenge(VERIFIER),
    )
}

fn retry_after(res: &Response<String>) -> u64 {
    res.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A browser: every cookie, and the client address its proxy reports.
struct Browser {
    base: String,
    cookies: BTreeMap<String, String>,
    forwarded_for: String,
}

impl Browser {
    fn new(base: &str, forwarded_for: &str) -> Self {
        Self {
            base: base.to_owned(),
            cookies: BTreeMap::new(),
            forwarded_for: forwarded_for.to_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        jar.join("; ")
    }

    async fn get(&mut self, url: &str) -> Response<String> {
        self.go(Method::GET, url, None).await
    }

    async fn post_form(&mut self, url: &str, pairs: &[(&str, &str)]) -> Response<String> {
        let mut body = form_urlencoded::Serializer::new(String::new());
        body.extend_pairs(pairs);
        let body = body.finish();
        self.go(Method::POST, url, Some(body)).await
    }

    async fn go(&mut self, method: Method, url: &str, body: Option<String>) -> Response<String> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header("sec-fetch-site", "same-origin")
            .header("x-forwarded-for", &self.forwarded_for);
        if !self.cookies.is_empty() {
            req = req.header(COOKIE, self.cookie_header());
        }
        if body.is_some() {
            req = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ORIGIN, &self.base);
        }
        let body = Full::new(Bytes::from(body.unwrap_or_default()));
        let res = send(req.body(body).unwrap()).await;
        for set in res.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        res
    }

    /// Posts the sign-in form of `page` with `password`.
    async fn sign_in_from(&mut self, page: &Response<String>, password: &str) -> Response<String> {
        let csrf = hidden(page.body(), "_csrf");
        let return_to = hidden(page.body(), "return_to");
        let url = format!("{}/login", self.base);
        let fields = [
            ("_csrf", csrf.as_str()),
            ("return_to", return_to.as_str()),
            ("username", USER),
            ("password", password),
        ];
        self.post_form(&url, &fields).await
    }

    /// Loads `/login` and signs in with `password`.
    async fn sign_in(&mut self, password: &str) -> Response<String> {
        let page = self.get(&format!("{}/login", self.base)).await;
        assert_eq!(page.status(), 200, "{}", page.body());
        self.sign_in_from(&page, password).await
    }

    /// Posts the consent form of `page` with `decision`, and `remember` if asked.
    async fn decide(
        &mut self,
        page: &Response<String>,
        decision: &str,
        remember: bool,
    ) -> Response<String> {
        let body = page.body();
        let mut fields = consent_fields(body);
        fields.push(("decision".into(), decision.into()));
        if remember {
            fields.push(("remember".into(), "on".into()));
        }
        let url = format!("{}/authorize", self.base);
        self.post_form(&url, &refs(&fields)).await
    }
}

fn refs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The security events of `action` in the store.
async fn events(f: &Fixture, action: &str) -> Vec<AuditEvent> {
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(f.clock.now_millis());
    let until = now + Duration::from_secs(60);
    let all = f.state.audit_log().events();
    let all = all.in_time_range(SystemTime::UNIX_EPOCH, until).await;
    all.unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

/// Keys of the store's live entries that start with `prefix`.
async fn keys(store: &Arc<dyn Store>, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan(prefix, cursor.as_deref(), 500).await.unwrap();
        out.extend(page.entries.into_iter().map(|e| e.key));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

// --- Finding 5: anonymous requests create no sessions ---------------------

#[tokio::test]
async fn anonymous_page_loads_store_nothing_and_sign_in_creates_the_session() {
    let f = start(|s| s.page_requests_per_minute = 100_000).await;
    let public = public_client(&f).await;
    let confidential = confidential_client(&f).await;
    let before = f.store.stats().await.unwrap().entries;
    let valid = authorize_url(&f.base, &public, "http://127.0.0.1:5555/callback", "");
    let urls = vec![
        format!("{}/login", f.base),
        valid.clone(),
        format!("{}/authorize", f.base),
        format!("{}/authorize?client_id=nobody", f.base),
        format!("{}/authorize?client_id={public}&client_id=again", f.base),
        authorize_url(&f.base, &public, "https://evil.example/cb", ""),
        format!(
            "{}/authorize?client_id={confidential}&response_type=bogus",
            f.base
        ),
        authorize_url(
            &f.base,
            &confidential,
            CONFIDENTIAL_REDIRECT,
            "&scope=admin",
        ),
        format!("{}/account", f.base),
    ];
    let mut statuses = BTreeMap::<u16, usize>::new();
    for i in 0..40 {
        for url in &urls {
            // A fresh visitor each time (no cookies), as a flood would be.
            let mut visitor = Browser::new(&f.base, &format!("203.0.113.{}", i % 200));
            let res = visitor.get(url).await;
            *statuses.entry(res.status().as_u16()).or_default() += 1;
        }
        let mut visitor = Browser::new(&f.base, &format!("203.0.113.{}", i % 200));
        // A consent decision posted without a session.
        let url = format!("{}/authorize", f.base);
        let res = visitor
            .post_form(&url, &[("client_id", &public), ("decision", "approve")])
            .await;
        assert_ne!(res.status(), 500);
    }
    let total: usize = statuses.values().sum();
    assert!(total >= 200, "{total} requests");
    assert!(
        statuses.get(&200).is_some_and(|n| *n >= 80) && statuses.contains_key(&400),
        "sign-in pages and error pages were served: {statuses:?}"
    );
    assert_eq!(
        f.store.stats().await.unwrap().entries,
        before,
        "anonymous page loads stored nothing"
    );
    assert!(keys(&f.store, "session:").await.is_empty(), "no sessions");

    // The stateless sign-in form still works, and signing in creates the session.
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    let page = browser.get(&valid).await;
    assert!(page.body().contains("id=\"login\""), "{}", page.body());
    assert!(
        browser.cookies.keys().all(|k| k.contains("csrf")),
        "only the CSRF nonce cookie before sign-in: {:?}",
        browser.cookies
    );
    let res = browser.sign_in_from(&page, PASSWORD).await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let sessions = keys(&f.store, "session:").await;
    assert_eq!(sessions.len(), 1, "one session, made at sign-in");
    let next = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let consent = browser.get(&format!("{}{next}", f.base)).await;
    assert!(
        consent.body().contains("id=\"consent\""),
        "{}",
        consent.body()
    );
    let res = browser.decide(&consent, "approve", false).await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let location = res.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with("http://127.0.0.1:5555/callback?code="));
}

fn login_fields(token: &str) -> Vec<(String, String)> {
    [
        ("username", USER),
        ("password", PASSWORD),
        ("return_to", "/account"),
        ("_csrf", token),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

#[tokio::test]
async fn the_sign_in_form_needs_its_cookie_and_token() {
    let f = start(|_| {}).await;
    let login = format!("{}/login", f.base);
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    let page = browser.get(&login).await;
    let token = hidden(page.body(), "_csrf");
    let mut stranger = Browser::new(&f.base, "198.51.100.8");
    // Without the nonce cookie the token proves nothing.
    let fields = login_fields(&token);
    let res = stranger.post_form(&login, &refs(&fields)).await;
    assert_eq!(res.status(), 403, "{}", res.body());
    // Another visitor's token does not fit this browser's cookie.
    let other = stranger.get(&login).await;
    let fields = login_fields(&hidden(other.body(), "_csrf"));
    let res = browser.post_form(&login, &refs(&fields)).await;
    assert_eq!(res.status(), 403, "{}", res.body());
    assert!(keys(&f.store, "session:").await.is_empty());
    let fields = login_fields(&token);
    let res = browser.post_form(&login, &refs(&fields)).await;
    assert_eq!(res.status(), 303, "{}", res.body());
}

#[tokio::test]
async fn instances_sharing_a_form_secret_accept_each_others_sign_in_forms() {
    let env = |name: &str| {
        (name == "AUTHSTORE_FORM_SECRET").then(|| "a shared secret of at least 32 bytes".to_owned())
    };
    let flags = authstore_server::config::Overrides::default();
    let config = authstore_server::config::ServeConfig::resolve(&flags, None, &env).unwrap();
    let keys = config.settings.form_keys.clone();
    assert!(keys.is_some());
    let a = start(|s| s.form_keys = keys.clone()).await;
    let b = start_on(Arc::clone(&a.store), a.clock.clone(), |s| {
        s.form_keys = keys
    })
    .await;
    let c = start_on(Arc::clone(&a.store), a.clock.clone(), |_| {}).await;
    let mut browser = Browser::new(&a.base, "198.51.100.7");
    let page = browser.get(&format!("{}/login", a.base)).await;
    let fields = login_fields(&hidden(page.body(), "_csrf"));
    let res = browser
        .post_form(&format!("{}/login", c.base), &refs(&fields))
        .await;
    assert_eq!(res.status(), 403, "an instance with its own key refuses it");
    let res = browser
        .post_form(&format!("{}/login", b.base), &refs(&fields))
        .await;
    assert_eq!(res.status(), 303, "{}", res.body());

    let short = |name: &str| (name == "AUTHSTORE_FORM_SECRET").then(|| "short".to_owned());
    let err = authstore_server::config::ServeConfig::resolve(&flags, None, &short).unwrap_err();
    assert!(err.to_string().contains("AUTHSTORE_FORM_SECRET"), "{err}");
}

#[tokio::test]
async fn page_loads_are_rate_limited_per_client_ip() {
    let f = start(|s| s.page_requests_per_minute = 5).await;
    let login = format!("{}/login", f.base);
    let mut flood = Browser::new(&f.base, "203.0.113.7");
    for _ in 0..5 {
        assert_eq!(flood.get(&login).await.status(), 200);
    }
    for path in ["/login", "/authorize?client_id=x", "/account"] {
        let res = flood.get(&format!("{}{path}", f.base)).await;
        assert_eq!(res.status(), 429, "{path}");
        let wait = retry_after(&res);
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(res.body().contains("Too many requests"), "{}", res.body());
        assert_eq!(res.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    let mut other = Browser::new(&f.base, "198.51.100.7");
    assert_eq!(other.get(&login).await.status(), 200, "another client");
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(flood.get(&login).await.status(), 200, "a minute later");
}

// --- Finding 6: throttling per (user, client network) ----------------------

#[tokio::test]
async fn wrong_passwords_elsewhere_do_not_lock_the_user_out() {
    let f = start(|s| s.logins_per_minute = 1000).await;
    let mut attacker = Browser::new(&f.base, "203.0.113.7");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(attacker.sign_in("guess").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let res = attacker.sign_in(PASSWORD).await;
    assert_eq!(
        res.status(),
        429,
        "the guessing network waits, even with the right password"
    );
    assert_eq!(retry_after(&res), 180);
    let mut neighbour = Browser::new(&f.base, "203.0.113.99");
    assert_eq!(
        neighbour.sign_in(PASSWORD).await.status(),
        429,
        "the same /24"
    );

    // The user, on their own network, signs in at once.
    let mut user = Browser::new(&f.base, "198.51.100.23");
    let res = user.sign_in(PASSWORD).await;
    assert_eq!(res.status(), 303, "{}", res.body());
    // IPv6: a /64 is one network.
    let mut v6_attacker = Browser::new(&f.base, "2001:db8:1:2::5");
    for _ in 0..5 {
        v6_attacker.sign_in("guess").await;
    }
    let mut same_64 = Browser::new(&f.base, "2001:db8:1:2:ffff::9");
    assert_eq!(same_64.sign_in(PASSWORD).await.status(), 429);
    let mut v6_user = Browser::new(&f.base, "2001:db8:1:3::1");
    assert_eq!(v6_user.sign_in(PASSWORD).await.status(), 303);

    let failures = events(&f, "login.failure").await;
    assert_eq!(failures.len(), 10);
    assert!(failures.iter().all(|e| e.user.as_deref() == Some(USER)));
    assert!(failures.iter().any(
        |e| e.ip.as_deref() == Some("203.0.113.7") && e.metadata["network"] == "203.0.113.0/24"
    ));
    let throttled = events(&f, "login.throttled").await;
    assert!(throttled.len() >= 5, "{throttled:?}");
    assert!(
        throttled
            .iter()
            .any(|e| e.metadata["network"] == "2001:db8:1:2::/64")
    );
    let successes = events(&f, "login.success").await;
    assert_eq!(successes.len(), 2);
    assert!(
        successes
            .iter()
            .all(|e| e.resource.as_deref() == Some("u-ada"))
    );
}

#[tokio::test]
async fn each_failure_beyond_the_budget_doubles_the_wait() {
    let f = start(|s| s.logins_per_minute = 1000).await;
    let mut attacker = Browser::new(&f.base, "203.0.113.7");
    for _ in 0..5 {
        assert_eq!(attacker.sign_in("guess").await.status(), 401);
    }
    let mut waits = Vec::new();
    for _ in 0..4 {
        let res = attacker.sign_in("guess").await;
        assert_eq!(res.status(), 429);
        let wait = retry_after(&res);
        waits.push(wait);
        // Back the moment the wait is over, with another wrong guess.
        f.clock.advance(Duration::from_secs(wait));
        assert_eq!(attacker.sign_in("guess").await.status(), 401);
    }
    assert_eq!(waits, [180, 360, 720, 1440]);
    // After its wait, a quiet network is forgiven one failure per 3
    // minutes: 5 of its 9 here, so the next wrong guess is the one that
    // reaches the budget again.
    f.clock.advance(Duration::from_secs(2880 + 5 * 180));
    assert_eq!(attacker.sign_in("guess").await.status(), 401);
    let res = attacker.sign_in(PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert_eq!(retry_after(&res), 180);
    f.clock.advance(Duration::from_secs(180));
    assert_eq!(attacker.sign_in(PASSWORD).await.status(), 303);
}

// --- Finding 8: remembered consent --------------------------------------------

#[tokio::test]
async fn public_clients_are_never_approved_silently() {
    let f = start(|_| {}).await;
    let public = public_client(&f).await;
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    assert_eq!(browser.sign_in(PASSWORD).await.status(), 303);
    let redirect = "http://127.0.0.1:5555/callback";
    let page = browser
        .get(&authorize_url(&f.base, &public, redirect, "&scope=read"))
        .await;
    assert!(page.body().contains("id=\"consent\""), "{}", page.body());
    assert!(
        !page.body().contains("name=\"remember\""),
        "no remember box for a public client"
    );
    // Even a posted "remember" is not kept.
    let res = browser.decide(&page, "approve", true).await;
    assert_eq!(res.status(), 303);
    // Another loopback port, another PKCE challenge: asked again.
    let url = format!(
        "{}/authorize?response_type=code&client_id={public}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&scope=read",
        f.base,
        enc("http://127.0.0.1:6666/callback"),
        pkce_challenge(&"x".repeat(43)),
    );
    let again = browser.get(&url).await;
    let location = again.headers().get(LOCATION).cloned();
    assert_eq!(again.status(), 200, "no silent code: {location:?}");
    assert!(again.body().contains("id=\"consent\""));
    let granted = events(&f, "consent.granted").await;
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].user.as_deref(), Some("u-ada"));
    assert_eq!(granted[0].resource.as_deref(), Some(public.as_str()));
    assert_eq!(granted[0].metadata["how"], "asked");
}

#[tokio::test]
async fn a_remembered_consent_covers_only_its_scopes_and_resource() {
    let f = start(|_| {}).await;
    let client = confidential_client(&f).await;
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    assert_eq!(browser.sign_in(PASSWORD).await.status(), 303);
    let api = "&resource=https%3A%2F%2Fapi.example%2F";
    let url = |extra: &str| authorize_url(&f.base, &client, CONFIDENTIAL_REDIRECT, extra);
    let page = browser.get(&url(&format!("&scope=read{api}"))).await;
    assert!(page.body().contains("name=\"remember\""), "{}", page.body());
    let res = browser.decide(&page, "approve", true).await;
    assert_eq!(res.status(), 303);

    // The same client, scopes and resource: a code at once.
    let res = browser.get(&url(&format!("&scope=read{api}"))).await;
    assert_eq!(res.status(), 303, "remembered");
    assert!(res.headers()[LOCATION].to_str().unwrap().contains("code="));
    // Anything the user did not see is asked again.
    for extra in [
        "&scope=read".to_owned(),
        "&scope=read&resource=https%3A%2F%2Fother.example%2F".to_owned(),
        format!("&scope=read%20write{api}"),
    ] {
        let res = browser.get(&url(&extra)).await;
        assert_eq!(res.status(), 200, "{extra}");
        assert!(res.body().contains("id=\"consent\""), "{extra}");
    }
    // A consent remembered before consents were bound to a resource is ignored.
    let key = format!("oauth-consent:u-ada|{client}");
    let old = vec!["read", "write"];
    let put = f.store.put_json(&key, &old, authstore::PutOptions::new());
    put.await.unwrap();
    let page = browser.get(&url("&scope=read")).await;
    assert_eq!(page.status(), 200, "an old record does not approve");
    let res = browser.decide(&page, "deny", false).await;
    let location = res.headers()[LOCATION].to_str().unwrap();
    assert!(location.contains("error=access_denied"), "{location}");

    let granted = events(&f, "consent.granted").await;
    let mut hows: Vec<&str> = granted
        .iter()
        .map(|e| e.metadata["how"].as_str().unwrap())
        .collect();
    hows.sort_unstable();
    assert_eq!(hows, ["asked, remembered", "remembered"], "{granted:?}");
    assert!(
        granted
            .iter()
            .all(|e| e.metadata["target"] == "https://api.example/")
    );
    let denied = events(&f, "consent.denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].resource.as_deref(), Some(client.as_str()));
}

// --- Finding 3: no open redirector -------------------------------------------

#[tokio::test]
async fn errors_of_registered_clients_are_shown_not_redirected() {
    let f = start(|_| {}).await;
    let body = r#"{"client_name":"Phish","redirect_uris":["https://evil.example/phish"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"]}"#;
    let req = Request::post(format!("{}/register", f.base))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status(), 201, "{}", res.body());
    let registered: serde_json::Value = serde_json::from_str(res.body()).unwrap();
    let id = registered["client_id"].as_str().unwrap();
    let mut victim = Browser::new(&f.base, "198.51.100.7");
    for query in [
        format!("client_id={id}&response_type=bogus"),
        format!("client_id={id}&response_type=code"),
        format!("client_id={id}&response_type=code&code_challenge=x&code_challenge_method=plain"),
        format!(
            "client_id={id}&response_type=code&code_challenge=x&code_challenge_method=S256&scope=admin"
        ),
    ] {
        let res = victim.get(&format!("{}/authorize?{query}", f.base)).await;
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.headers().get(LOCATION).is_none(), "{query}");
        assert!(res.body().contains("id=\"error\""), "{}", res.body());
    }
    // The operator's own clients still get their errors back (RFC 6749 §4.1.2.1).
    let operator = confidential_client(&f).await;
    let url = format!(
        "{}/authorize?client_id={operator}&response_type=bogus&state=s9",
        f.base
    );
    let res = victim.get(&url).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with(CONFIDENTIAL_REDIRECT), "{location}");
    assert!(location.contains("error=unsupported_response_type"));
}

// --- Informational -------------------------------------------------------------

#[tokio::test]
async fn pages_carry_nosniff_and_a_strict_csp_whose_form_action_allows_the_redirect() {
    let f = start(|_| {}).await;
    let public = public_client(&f).await;
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    let login = browser.get(&format!("{}/login", f.base)).await;
    assert_eq!(login.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = login.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    let error = browser.get(&format!("{}/authorize", f.base)).await;
    assert_eq!(error.status(), 400);
    assert_eq!(error.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = error.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("base-uri 'none'"), "{csp}");

    browser.sign_in_from(&login, PASSWORD).await;
    let redirect = "http://127.0.0.1:5555/callback";
    let consent = browser
        .get(&authorize_url(&f.base, &public, redirect, ""))
        .await;
    // The consent form's answer redirects to the client; browsers check
    // that redirect against form-action too.
    let csp = consent.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.ends_with("form-action 'self' http://127.0.0.1:5555"),
        "{csp}"
    );
}

#[tokio::test]
async fn page_bodies_are_limited_to_64_kib() {
    let f = start(|_| {}).await;
    let login = format!("{}/login", f.base);
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    let page = browser.get(&login).await;
    let csrf = hidden(page.body(), "_csrf");
    let big = "x".repeat(100 * 1024);
    let fields = [
        ("_csrf", csrf.as_str()),
        ("username", USER),
        ("password", &big),
    ];
    let res = browser.post_form(&login, &fields).await;
    assert_eq!(res.status(), 413);
    let content_type = res.headers()[CONTENT_TYPE].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(res.body().contains("too large"), "{}", res.body());
    // Not a form, the token in a header: still limited.
    let req = Request::post(&login)
        .header("sec-fetch-site", "same-origin")
        .header(COOKIE, browser.cookie_header())
        .header("x-csrf-token", &csrf)
        .header(CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from(vec![b'a'; 1024 * 1024])))
        .unwrap();
    assert_eq!(send(req).await.status(), 413);
    // A form of ordinary size still works.
    let res = browser.sign_in_from(&page, PASSWORD).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_control_character_in_the_username_is_a_400() {
    let f = start(|_| {}).await;
    let login = format!("{}/login", f.base);
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    let page = browser.get(&login).await;
    let csrf = hidden(page.body(), "_csrf");
    for username in ["ada\u{0}", "a\nda", "ad\u{7f}a", "\u{85}ada"] {
        let fields = [
            ("_csrf", csrf.as_str()),
            ("username", username),
            ("password", "pw"),
        ];
        let res = browser.post_form(&login, &fields).await;
        assert_eq!(res.status(), 400, "{username:?}: {}", res.body());
        assert!(res.body().contains("id=\"login\""), "the form again");
    }
}

#[tokio::test]
async fn registered_clients_are_marked_unverified_with_their_redirect_host() {
    let f = start(|_| {}).await;
    let evil = "https://evil.example/phish";
    let mut new = NewClient::public("Totally Official Bank", evil);
    new.origin = ClientOrigin::Registered;
    let registered = f.state.oauth().register_client(new).await.unwrap();
    let registered = registered.client.client_id;
    let operator = public_client(&f).await;
    let host = "<code id=\"redirect-host\">evil.example</code>";
    let mut browser = Browser::new(&f.base, "198.51.100.7");
    let login = browser
        .get(&authorize_url(&f.base, &registered, evil, ""))
        .await;
    assert!(
        login.body().contains("id=\"unverified\""),
        "{}",
        login.body()
    );
    assert!(login.body().contains(host), "{}", login.body());
    let res = browser.sign_in_from(&login, PASSWORD).await;
    assert_eq!(res.status(), 303);
    let next = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let consent = browser.get(&format!("{}{next}", f.base)).await;
    assert!(consent.body().contains("id=\"consent\""));
    assert!(
        consent.body().contains("id=\"unverified\""),
        "{}",
        consent.body()
    );
    assert!(consent.body().contains(host), "{}", consent.body());
    // The operator's clients are not marked.
    let redirect = "http://127.0.0.1:5555/callback";
    let page = browser
        .get(&authorize_url(&f.base, &operator, redirect, ""))
        .await;
    assert!(page.body().contains("id=\"consent\""));
    assert!(!page.body().contains("id=\"unverified\""));
}
