//! What clients see while the server's store is unreachable: every page and OAuth endpoint answers `503` with `Retry-After` (`temporarily_unavailable` on the OAuth endpoints, nothing of the store's error), and once the store is back the codes and tokens issued before the outage work as if nothing happened.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use authstore::oauth::{NewClient, pkce_challenge};
use authstore::{
    Capabilities, Counter, Entry, Error, GcraDecision, GcraParams, Health, MemoryStore, PutItem,
    PutOptions, Result, ScanPage, SharedClock, Store, StoreStats, VersionCheck,
};
use base64::Engine as _;
use common::{Browser, browser_send, hidden, send, start};
use http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{Method, Request, Response};
use http_body_util::Full;

/// A store that can be taken down and brought back: while down, every
/// operation fails as an unreachable Redis or PostgreSQL server does.
#[derive(Debug, Clone)]
struct Switch {
    inner: Arc<dyn Store>,
    down: Arc<AtomicBool>,
}

impl Switch {
    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::backend("switch", "connection refused by 10.9.8.7"))
        } else {
            Ok(())
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl Store for Switch {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn clock(&self) -> SharedClock {
        self.inner.clock()
    }
    fn prefix(&self) -> &str {
        self.inner.prefix()
    }
    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        self.check()?;
        self.inner.put(key, value, options).await
    }
    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        self.check()?;
        self.inner.put_many(items).await
    }
    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        self.check()?;
        self.inner.commit(checks, puts).await
    }
    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        self.check()?;
        self.inner.take(key).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool> {
        self.check()?;
        self.inner.exists(key).await
    }
    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        self.check()?;
        self.inner.touch(key, ttl).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Option<Duration>) -> Result<Counter> {
        self.check()?;
        self.inner.incr(key, delta, ttl).await
    }
    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        self.check()?;
        self.inner.gcra(key, params).await
    }
    fn get_inline(&self, key: &str) -> Option<Result<Option<Entry>>> {
        match self.check() {
            Ok(()) => self.inner.get_inline(key),
            Err(e) => Some(Err(e)),
        }
    }
    fn gcra_inline(&self, key: &str, params: GcraParams) -> Option<Result<GcraDecision>> {
        match self.check() {
            Ok(()) => self.inner.gcra_inline(key, params),
            Err(e) => Some(Err(e)),
        }
    }
    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        self.check()?;
        self.inner.list_index(index_key).await
    }
    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        self.check()?;
        self.inner.delete_index(index_key).await
    }
    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        self.check()?;
        self.inner.scan(prefix, cursor, limit).await
    }
    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        self.check()?;
        self.inner.purge_expired(limit).await
    }
    async fn stats(&self) -> Result<StoreStats> {
        self.check()?;
        self.inner.stats().await
    }
    async fn health(&self) -> Health {
        match self.check() {
            Ok(()) => self.inner.health().await,
            Err(e) => Health {
                ok: false,
                latency: Duration::ZERO,
                detail: Some(e.to_string()),
            },
        }
    }
}

const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const INTROSPECTOR_SECRET: &str = "introspector-secret-introspector-secret";

/// A form posted to a machine endpoint, with HTTP Basic credentials if given.
async fn post(url: &str, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response<String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req = req.header(AUTHORIZATION, format!("Basic {encoded}"));
    }
    send(req.body(Full::new(body.into())).unwrap()).await
}

fn json(res: &Response<String>) -> serde_json::Value {
    serde_json::from_str(res.body()).unwrap_or_else(|_| panic!("JSON: {}", res.body()))
}

/// The authorization URL of a fresh PKCE request; returns it with its verifier.
fn authorize_url(base: &str) -> (String, String) {
    let verifier = authstore::secret::random_token().unwrap();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "app")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "read")
        .append_pair("state", "st")
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    (format!("{base}/authorize?{query}"), verifier)
}

fn code_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let code = url.query_pairs().find(|(k, _)| k == "code");
    code.unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned()
}

/// A `503` that says when to try again and nothing of the store's error;
/// on an OAuth endpoint, `temporarily_unavailable`.
fn assert_unavailable(what: &str, res: &Response<String>, oauth: bool) {
    assert_eq!(res.status(), 503, "{what}: {}", res.body());
    let retry = res.headers().get(RETRY_AFTER).map(|v| v.to_str().unwrap());
    assert_eq!(retry, Some("1"), "{what}: Retry-After");
    assert!(
        !res.body().contains("10.9.8.7") && !res.body().contains("switch"),
        "{what} names the store's error: {}",
        res.body()
    );
    if oauth {
        assert_eq!(json(res)["error"], "temporarily_unavailable", "{what}");
    }
}

#[tokio::test]
async fn every_answer_during_a_store_outage_says_when_to_retry_and_nothing_is_lost() {
    let switch = Switch {
        inner: Arc::new(MemoryStore::builder().build().unwrap()),
        down: Arc::new(AtomicBool::new(false)),
    };
    let server = start(Arc::new(switch.clone()), |s| {
        s.introspection.trusted = vec!["introspector".into()];
    })
    .await;
    let oauth = server.state.oauth();
    let mut app = NewClient::public("App", REDIRECT);
    app.scopes = vec!["read".into()];
    oauth.put_client("app", app, None).await.unwrap();
    let introspector = NewClient::confidential("Introspector", "https://introspector.example/cb");
    let secret = Some(INTROSPECTOR_SECRET);
    oauth
        .put_client("introspector", introspector, secret)
        .await
        .unwrap();
    let base = server.base.clone();
    let intro = Some(("introspector", INTROSPECTOR_SECRET));

    // Before the outage: tokens, a second code not yet redeemed, a consent
    // page and an anonymous sign-in form.
    let mut browser = Browser::new(&base);
    let (url, verifier) = authorize_url(&base);
    let code = code_of(&browser.authorize(&url).await);
    let exchange = |code: String, verifier: String| {
        let token_url = format!("{base}/token");
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
                ("client_id", "app"),
            ];
            post(&token_url, &form, None).await
        }
    };
    let tokens = json(&exchange(code, verifier).await);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (url, second_verifier) = authorize_url(&base);
    let second_code = code_of(&browser.authorize(&url).await);
    let (url, _) = authorize_url(&base);
    let consent_page = browser.get(&url).await;
    assert!(consent_page.body().contains("id=\"consent\""));
    let mut visitor = Browser::new(&base);
    let login_page = visitor.get(&format!("{base}/login")).await;
    let login_form = [
        ("_csrf", hidden(login_page.body(), "_csrf")),
        ("return_to", "/account".to_owned()),
        ("username", common::USER.to_owned()),
        ("password", common::PASSWORD.to_owned()),
    ];

    switch.set_down(true);
    let res = browser.get(&url).await;
    assert_unavailable("GET /authorize", &res, false);
    let res = browser.approve(consent_page.body(), &[]).await;
    assert_unavailable("POST /authorize", &res, false);
    let pairs: Vec<(&str, &str)> = login_form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = visitor.post_form(&format!("{base}/login"), &pairs).await;
    assert_unavailable("POST /login", &res, false);
    let cookie = browser.cookie.as_deref();
    let res = browser_send(Method::GET, &format!("{base}/account"), &base, cookie, None).await;
    assert_unavailable("GET /account", &res, false);
    let token_url = format!("{base}/token");
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", "app"),
    ];
    let res = post(&token_url, &refresh_form, None).await;
    assert_unavailable("refresh", &res, true);
    let res = exchange(second_code.clone(), second_verifier.clone()).await;
    assert_unavailable("code exchange", &res, true);
    let res = post(&format!("{base}/introspect"), &[("token", &access)], intro).await;
    assert_unavailable("introspection", &res, true);
    let revoke_form = [("token", access.as_str()), ("client_id", "app")];
    let res = post(&format!("{base}/revoke"), &revoke_form, None).await;
    assert_unavailable("revocation", &res, true);
    let res = send(
        Request::post(format!("{base}/register"))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(
                r#"{"redirect_uris":["http://127.0.0.1/cb"]}"#.into(),
            ))
            .unwrap(),
    )
    .await;
    assert_unavailable("registration", &res, true);
    let res = send(
        Request::get(format!("{base}/userinfo"))
            .header(AUTHORIZATION, format!("Bearer {access}"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_unavailable("userinfo", &res, true);
    let res = send(
        Request::get(format!("{base}/jwks"))
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_unavailable("jwks", &res, true);

    // Back: what was issued before the outage still works, once.
    switch.set_down(false);
    let res = post(&format!("{base}/introspect"), &[("token", &access)], intro).await;
    assert_eq!(json(&res)["active"], true, "{}", res.body());
    let res = post(&token_url, &refresh_form, None).await;
    assert_eq!(
        res.status(),
        200,
        "the refresh token survived: {}",
        res.body()
    );
    let res = exchange(second_code.clone(), second_verifier.clone()).await;
    assert_eq!(res.status(), 200, "the code survived: {}", res.body());
    let res = exchange(second_code, second_verifier).await;
    assert_eq!(json(&res)["error"], "invalid_grant", "redeemed once only");
    let res = browser.approve(consent_page.body(), &[]).await;
    assert_eq!(res.status(), 303, "the consent page's form: {}", res.body());
    code_of(res.headers()[LOCATION].to_str().unwrap());
}
