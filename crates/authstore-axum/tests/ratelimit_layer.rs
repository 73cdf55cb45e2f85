//! RateLimitLayer behaviour through tower's `oneshot`: exact admissions then 429, headers, client addresses behind proxies, user/token/route/custom keys, per-route quotas, store failures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authstore::ratelimit::{FailurePolicy, Limit, RateLimiter};
use authstore::session::{SessionManager, SessionUser};
use authstore::{FakeClock, MemoryStore, Store};
use authstore_axum::{ClientIp, KeyExtractor, RateLimitLayer, RequestSession, SessionLayer};
use authstore_testkit::UnavailableStore;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::routing::{get, post};
use http::header::{AUTHORIZATION, COOKIE, RETRY_AFTER, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const MINUTE: Duration = Duration::from_secs(60);

struct Env {
    clock: FakeClock,
    store: Arc<dyn Store>,
}

impl Env {
    fn new() -> Self {
        let clock = FakeClock::new();
        let store: Arc<dyn Store> = Arc::new(
            MemoryStore::builder()
                .clock(clock.clone())
                .sweep_interval(None)
                .build()
                .unwrap(),
        );
        Self { clock, store }
    }

    /// `n` requests per minute (GCRA) on the test store.
    fn limiter(&self, n: u32) -> RateLimiter {
        RateLimiter::with_clock(
            Arc::clone(&self.store),
            Limit::per(n, MINUTE),
            self.clock.clone(),
        )
    }

    /// `n` per minute on a store that is always down.
    fn failing(&self, n: u32, policy: FailurePolicy) -> RateLimiter {
        RateLimiter::with_clock(
            Arc::new(UnavailableStore),
            Limit::per(n, MINUTE),
            self.clock.clone(),
        )
        .on_store_failure(policy)
    }
}

/// `/` and `/other` answer with the client address the layer resolved.
fn app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/", get(echo_ip))
        .route("/other", get(echo_ip))
        .layer(layer)
}

async fn echo_ip(ip: ClientIp) -> String {
    ip.to_string()
}

fn request(method: &str, uri: &str, peer: &str) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let addr: SocketAddr = format!("{peer}:40000")
        .parse()
        .or_else(|_| format!("[{peer}]:40000").parse())
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

fn get_from(peer: &str) -> Request<Body> {
    request("GET", "/", peer)
}

fn with_header(mut req: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    req.headers_mut().append(name, value.parse().unwrap());
    req
}

async fn send(app: &Router, req: Request<Body>) -> Response {
    app.clone().oneshot(req).await.unwrap()
}

async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    send(app, req).await.status()
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn body(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn json_body(response: Response) -> Value {
    serde_json::from_str(&body(response).await).unwrap()
}

#[tokio::test]
async fn admits_exactly_the_limit_then_429_with_headers() {
    let env = Env::new();
    let app = app(RateLimitLayer::new(env.limiter(3)));
    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let response = send(&app, get_from("203.0.113.9")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "ratelimit-policy").unwrap(),
            "\"default\";q=3;w=60"
        );
        let expected = format!("\"default\";r={remaining};t={reset}");
        assert_eq!(header(&response, "ratelimit").unwrap(), expected);
        assert_eq!(header(&response, "x-ratelimit-limit"), None);
        assert_eq!(header(&response, "ratelimit-degraded"), None);
        assert_eq!(body(response).await, "203.0.113.9");
    }
    let refused = send(&app, get_from("203.0.113.9")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after").unwrap(), "20");
    assert_eq!(
        header(&refused, "ratelimit").unwrap(),
        "\"default\";r=0;t=60"
    );
    assert_eq!(
        header(&refused, "ratelimit-policy").unwrap(),
        "\"default\";q=3;w=60"
    );
    assert_eq!(
        json_body(refused).await,
        json!({"error": "rate_limited", "retry_after": 20})
    );
    // Another client has its own budget; a refusal consumed nothing.
    assert_eq!(status(&app, get_from("203.0.113.10")).await, StatusCode::OK);
    env.clock.advance(Duration::from_millis(19_500));
    let still = send(&app, get_from("203.0.113.9")).await;
    assert_eq!(header(&still, RETRY_AFTER.as_str()).unwrap(), "1");
    env.clock.advance(Duration::from_millis(500));
    let again = send(&app, get_from("203.0.113.9")).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(header(&again, "ratelimit").unwrap(), "\"default\";r=0;t=60");
    assert_eq!(
        status(&app, get_from("203.0.113.9")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let env = Env::new();
    let proxies = authstore_axum::TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
    let app = app(RateLimitLayer::new(env.limiter(1)).trusted_proxies(proxies));
    let xff = "x-forwarded-for";

    // Behind the proxy: the right-most untrusted entry is the client.
    let first = with_header(get_from("10.0.0.1"), xff, "198.51.100.7, 10.0.0.5");
    let response = send(&app, first).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "198.51.100.7");
    // Same client through another proxy, with a forged left-most entry: refused.
    let forged = with_header(get_from("10.0.0.2"), xff, "1.2.3.4, 198.51.100.7");
    assert_eq!(status(&app, forged).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own budget.
    let other = with_header(get_from("10.0.0.1"), xff, "198.51.100.8");
    assert_eq!(status(&app, other).await, StatusCode::OK);
    // A malformed entry stops the walk at the proxy that wrote it.
    let bad = with_header(get_from("10.0.0.9"), xff, "198.51.100.9, not-an-ip");
    let response = send(&app, bad).await;
    assert_eq!(body(response).await, "10.0.0.9");

    // An untrusted peer cannot choose its key with the header.
    let direct = with_header(get_from("203.0.113.9"), xff, "198.51.100.50");
    let response = send(&app, direct).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "203.0.113.9");
    let spoof = with_header(get_from("203.0.113.9"), xff, "198.51.100.51");
    assert_eq!(status(&app, spoof).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn user_key_follows_the_session_not_the_address() {
    let env = Env::new();
    async fn login(session: RequestSession) -> Result<&'static str, authstore_axum::Error> {
        session.set_user(SessionUser::new("u1")).await?;
        Ok("in")
    }
    let manager = SessionManager::new(Arc::clone(&env.store));
    let app = Router::new()
        .route("/", get(echo_ip))
        .route("/login", post(login))
        .layer(RateLimitLayer::new(env.limiter(2)).key(KeyExtractor::User))
        .layer(SessionLayer::new(manager).dev_mode());

    // Not logged in: counted by address (1 of ip:203.0.113.9's 2).
    let response = send(&app, request("POST", "/login", "203.0.113.9")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = header(&response, SET_COOKIE.as_str()).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let as_user = |peer: &str| with_header(get_from(peer), COOKIE.as_str(), &cookie);

    let first = send(&app, as_user("203.0.113.9")).await;
    assert_eq!(header(&first, "ratelimit").unwrap(), "\"default\";r=1;t=30");
    assert_eq!(status(&app, as_user("198.51.100.1")).await, StatusCode::OK);
    // The user's budget is spent, from any address.
    assert_eq!(
        status(&app, as_user("198.51.100.2")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The address's own budget still has one request.
    assert_eq!(status(&app, get_from("203.0.113.9")).await, StatusCode::OK);
    assert_eq!(
        status(&app, get_from("203.0.113.9")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn token_key_is_a_digest_of_the_bearer_token() {
    let env = Env::new();
    let app = app(RateLimitLayer::new(env.limiter(2)).key(KeyExtractor::ApiToken));
    let bearer = |peer: &str, token: &str| {
        with_header(
            get_from(peer),
            AUTHORIZATION.as_str(),
            &format!("Bearer {token}"),
        )
    };
    assert_eq!(
        status(&app, bearer("203.0.113.1", "t1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, bearer("203.0.113.2", "t1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, bearer("203.0.113.3", "t1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, bearer("203.0.113.3", "t2")).await,
        StatusCode::OK
    );
    // Without a token: the address's budget, untouched by the token's.
    assert_eq!(status(&app, get_from("203.0.113.1")).await, StatusCode::OK);

    let digest = authstore::secret::sha256_hex("t1");
    assert!(
        env.store
            .exists(&format!("rl:token:{digest}"))
            .await
            .unwrap()
    );
    assert!(!env.store.exists("rl:token:t1").await.unwrap());
    assert!(env.store.exists("rl:ip:203.0.113.1").await.unwrap());
}

#[tokio::test]
async fn per_route_quotas_by_matched_path() {
    let env = Env::new();
    let layer = RateLimitLayer::new(env.limiter(10))
        .route("/login", env.limiter(2))
        .route("/items/{id}", env.limiter(3));
    let app = Router::new()
        .route("/login", post(|| async { "ok" }))
        .route("/items/{id}", get(|| async { "item" }))
        .route("/", get(|| async { "home" }))
        .layer(layer);
    let peer = "203.0.113.9";
    for _ in 0..2 {
        let response = send(&app, request("POST", "/login", peer)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "ratelimit-policy").unwrap(),
            "\"default\";q=2;w=60"
        );
    }
    let refused = send(&app, request("POST", "/login", peer)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after").unwrap(), "30");
    // The route pattern is the key: /items/1 and /items/2 share 3.
    for uri in ["/items/1", "/items/2", "/items/1"] {
        assert_eq!(
            status(&app, request("GET", uri, peer)).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        status(&app, request("GET", "/items/3", peer)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The default limit was not touched by either route.
    let home = send(&app, request("GET", "/", peer)).await;
    assert_eq!(
        header(&home, "ratelimit-policy").unwrap(),
        "\"default\";q=10;w=60"
    );
    assert_eq!(header(&home, "ratelimit").unwrap(), "\"default\";r=9;t=6");
    assert!(
        env.store
            .exists("rl:route:/login|ip:203.0.113.9")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn route_layer_limits_one_route_and_key_by_route() {
    let env = Env::new();
    let app = Router::new()
        .route("/login", post(|| async { "ok" }))
        .route("/search", get(|| async { "found" }))
        .route_layer(RateLimitLayer::new(env.limiter(1)).key(KeyExtractor::Route))
        .route("/free", get(|| async { "free" }));
    let peer = "203.0.113.9";
    assert_eq!(
        status(&app, request("POST", "/login", peer)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, request("POST", "/login", peer)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Each route has its own budget per client.
    assert_eq!(
        status(&app, request("GET", "/search", peer)).await,
        StatusCode::OK
    );
    // Routes added after route_layer are not limited.
    for _ in 0..3 {
        let free = send(&app, request("GET", "/free", peer)).await;
        assert_eq!(free.status(), StatusCode::OK);
        assert_eq!(header(&free, "ratelimit"), None);
    }
    assert!(
        env.store
            .exists("rl:route:/login|ip:203.0.113.9")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn stacked_layers_each_add_their_policy() {
    let env = Env::new();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .route_layer(RateLimitLayer::new(env.limiter(5)).policy_name("route"))
        .layer(
            RateLimitLayer::new(env.limiter(100).namespace("global:").unwrap())
                .policy_name("global"),
        );
    let response = send(&app, get_from("203.0.113.9")).await;
    let all = |name: &str| -> Vec<String> {
        let values = response.headers().get_all(name).iter();
        values.map(|v| v.to_str().unwrap().to_owned()).collect()
    };
    assert_eq!(
        all("ratelimit-policy"),
        ["\"route\";q=5;w=60", "\"global\";q=100;w=60"]
    );
    assert_eq!(
        all("ratelimit"),
        ["\"route\";r=4;t=12", "\"global\";r=99;t=1"]
    );
}

#[tokio::test]
async fn store_failures_are_visible() {
    let env = Env::new();
    let open = app(RateLimitLayer::new(env.failing(2, FailurePolicy::Open)).legacy_headers(true));
    let response = send(&open, get_from("203.0.113.9")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "ratelimit-degraded").unwrap(),
        "fail-open"
    );
    assert_eq!(
        header(&response, "ratelimit-policy").unwrap(),
        "\"default\";q=2;w=60"
    );
    // No counts are known, so none are claimed.
    assert_eq!(header(&response, "ratelimit"), None);
    assert_eq!(header(&response, "x-ratelimit-remaining"), None);

    let closed = app(RateLimitLayer::new(env.failing(2, FailurePolicy::Closed)));
    let response = send(&closed, get_from("203.0.113.9")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&response, "ratelimit-degraded").unwrap(),
        "fail-closed"
    );
    assert_eq!(header(&response, "retry-after").unwrap(), "60");

    let local = app(RateLimitLayer::new(env.failing(2, FailurePolicy::Local)));
    for remaining in [1, 0] {
        let response = send(&local, get_from("203.0.113.9")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-degraded").unwrap(), "local");
        let expected = format!("\"default\";r={remaining};t={}", 30 * (2 - remaining));
        assert_eq!(header(&response, "ratelimit").unwrap(), expected);
    }
    let response = send(&local, get_from("203.0.113.9")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "ratelimit-degraded").unwrap(), "local");

    let error = app(RateLimitLayer::new(env.failing(2, FailurePolicy::Error)));
    let response = send(&error, get_from("203.0.113.9")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&response, "ratelimit-degraded"), None);
    assert_eq!(
        json_body(response).await,
        json!({"error": "rate_limit_unavailable"})
    );
}

#[tokio::test]
async fn legacy_headers_only_when_asked() {
    let env = Env::new();
    let with = app(RateLimitLayer::new(env.limiter(4)).legacy_headers(true));
    let response = send(&with, get_from("203.0.113.9")).await;
    assert_eq!(header(&response, "x-ratelimit-limit").unwrap(), "4");
    assert_eq!(header(&response, "x-ratelimit-remaining").unwrap(), "3");
    assert_eq!(header(&response, "x-ratelimit-reset").unwrap(), "15");
    assert_eq!(
        header(&response, "ratelimit").unwrap(),
        "\"default\";r=3;t=15"
    );

    let without = app(RateLimitLayer::new(env.limiter(4)).legacy_headers(false));
    let response = send(&without, get_from("203.0.113.8")).await;
    assert_eq!(response.status(), StatusCode::OK);
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert_eq!(header(&response, name), None, "{name}");
    }
}

#[tokio::test]
async fn custom_key_and_cost() {
    let env = Env::new();
    let layer = RateLimitLayer::new(env.limiter(4))
        .key_fn(|parts| {
            let tenant = parts.headers.get("x-tenant")?.to_str().ok()?;
            Some(format!("tenant:{tenant}"))
        })
        .cost_fn(|parts| {
            if parts.method == http::Method::POST {
                2
            } else {
                1
            }
        });
    let app = Router::new()
        .route("/", get(|| async { "read" }).post(|| async { "write" }))
        .layer(layer);
    let tenant = |method: &str, name: &str| {
        with_header(request(method, "/", "203.0.113.9"), "x-tenant", name)
    };
    let first = send(&app, tenant("POST", "acme")).await;
    assert_eq!(header(&first, "ratelimit").unwrap(), "\"default\";r=2;t=30");
    assert_eq!(status(&app, tenant("GET", "acme")).await, StatusCode::OK);
    assert_eq!(
        status(&app, tenant("POST", "acme")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&app, tenant("GET", "acme")).await, StatusCode::OK);
    assert_eq!(status(&app, tenant("GET", "other")).await, StatusCode::OK);
    // No tenant: not limited at all.
    for _ in 0..6 {
        let response = send(&app, request("POST", "/", "203.0.113.9")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit"), None);
    }
    assert!(env.store.exists("rl:tenant:acme").await.unwrap());
}

#[tokio::test]
async fn ipv6_networks_and_unknown_clients() {
    let env = Env::new();
    let app = app(RateLimitLayer::new(env.limiter(1)).ipv6_prefix(64));
    assert_eq!(
        status(&app, get_from("2001:db8:1:2::1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, get_from("2001:db8:1:2::ffff")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, get_from("2001:db8:1:3::1")).await,
        StatusCode::OK
    );
    assert!(env.store.exists("rl:ip:2001:db8:1:2::/64").await.unwrap());

    // Without ConnectInfo every request shares one key (and ClientIp is unknown).
    let plain = Router::new()
        .route(
            "/",
            get(|ip: Option<ClientIp>| async move { format!("{ip:?}") }),
        )
        .layer(RateLimitLayer::new(env.limiter(1)));
    let bare = || Request::get("/").body(Body::empty()).unwrap();
    let response = send(&plain, bare()).await;
    assert_eq!(body(response).await, "None");
    assert_eq!(status(&plain, bare()).await, StatusCode::TOO_MANY_REQUESTS);
    assert!(env.store.exists("rl:ip:unknown").await.unwrap());
}
