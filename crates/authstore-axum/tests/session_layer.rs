//! SessionLayer behaviour through tower's `oneshot`: lazy load, save only on change, cookie attributes, regeneration, logout, guards, conflicts.

use std::sync::Arc;
use std::time::Duration;

use authstore::csrf::KeyRing;
use authstore::session::{SessionConfig, SessionManager, SessionUser};
use authstore::{FakeClock, MemoryStore, Store};
use authstore_axum::{ConflictPolicy, RequestSession, RequireUser, SessionLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::Barrier;
use tower::ServiceExt;

struct App {
    store: Arc<dyn Store>,
    clock: FakeClock,
    manager: SessionManager,
}

impl App {
    fn new() -> Self {
        Self::with_config(SessionConfig::default())
    }

    fn with_config(config: SessionConfig) -> Self {
        let clock = FakeClock::new();
        let store: Arc<dyn Store> = Arc::new(
            MemoryStore::builder()
                .clock(clock.clone())
                .sweep_interval(None)
                .build()
                .unwrap(),
        );
        let manager = SessionManager::with_config(Arc::clone(&store), config, clock.clone());
        Self {
            store,
            clock,
            manager,
        }
    }

    fn layer(&self) -> SessionLayer {
        SessionLayer::new(self.manager.clone())
    }

    fn router(&self, layer: SessionLayer) -> Router {
        Router::new()
            .route("/get", get(read_n))
            .route("/inc", post(increment))
            .route("/login", post(login))
            .route("/logout", post(logout))
            .route("/me", get(me))
            .route("/big", post(big))
            .layer(layer)
    }
}

async fn read_n(session: RequestSession) -> Result<String, authstore_axum::Error> {
    Ok(format!("{:?}", session.get::<u64>("n").await?))
}

async fn increment(session: RequestSession) -> Result<String, authstore_axum::Error> {
    let n = session.get::<u64>("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

async fn login(session: RequestSession) -> Result<&'static str, authstore_axum::Error> {
    session.set_user(SessionUser::new("u1")).await?;
    Ok("in")
}

async fn logout(session: RequestSession) -> Result<String, authstore_axum::Error> {
    Ok(session.destroy().await?.to_string())
}

async fn me(RequireUser(user): RequireUser) -> String {
    user.id
}

async fn big(session: RequestSession) -> Result<&'static str, authstore_axum::Error> {
    session.insert("blob", "x".repeat(2 * 1024 * 1024)).await?;
    Ok("stored")
}

async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>) -> Response<Body> {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body(res: Response<Body>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn set_cookie(res: &Response<Body>) -> Option<String> {
    res.headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// `name=value` of a Set-Cookie header, to send back.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn no_session_is_created_until_something_is_written() {
    let app = App::new();
    let router = app.router(app.layer());
    let res = send(&router, "GET", "/get", None).await;
    assert!(set_cookie(&res).is_none(), "reading sets no cookie");
    assert_eq!(body(res).await, "None");
    assert_eq!(app.manager.stats().await.unwrap().active, 0);

    let res = send(&router, "POST", "/inc", None).await;
    let cookie = set_cookie(&res).expect("the first write sets the cookie");
    assert!(cookie.starts_with("__Host-authstore="));
    for attribute in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=1800",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "host-only");
    let res = send(&router, "GET", "/get", Some(&pair(&cookie))).await;
    assert!(
        set_cookie(&res).is_none(),
        "an unchanged session is not re-sent"
    );
    assert_eq!(body(res).await, "Some(1)");
}

#[tokio::test]
async fn an_unchanged_session_is_not_written() {
    let app = App::new();
    let router = app.router(app.layer());
    let cookie = pair(&set_cookie(&send(&router, "POST", "/inc", None).await).unwrap());
    let key = app.store.scan("session:", None, 10).await.unwrap().entries[0]
        .key
        .clone();
    let version = app.store.get(&key).await.unwrap().unwrap().version;
    for _ in 0..3 {
        send(&router, "GET", "/get", Some(&cookie)).await;
    }
    assert_eq!(app.store.get(&key).await.unwrap().unwrap().version, version);
    send(&router, "POST", "/inc", Some(&cookie)).await;
    assert!(app.store.get(&key).await.unwrap().unwrap().version > version);
}

#[tokio::test]
async fn login_moves_the_session_to_a_new_id() {
    let app = App::new();
    let router = app.router(app.layer());
    let before = pair(&set_cookie(&send(&router, "POST", "/inc", None).await).unwrap());
    let res = send(&router, "POST", "/login", Some(&before)).await;
    let after = pair(&set_cookie(&res).expect("login re-issues the cookie"));
    assert_ne!(before, after, "fixation defence: a new id");
    assert_eq!(
        body(send(&router, "GET", "/get", Some(&after)).await).await,
        "Some(1)"
    );
    assert_eq!(
        body(send(&router, "GET", "/me", Some(&after)).await).await,
        "u1"
    );
    let old = send(&router, "GET", "/me", Some(&before)).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED, "the old id is dead");
    assert!(
        set_cookie(&old).unwrap().contains("Max-Age=0"),
        "and its cookie is cleared"
    );
}

#[tokio::test]
async fn guards_answer_401() {
    let app = App::new();
    let router = app.router(app.layer());
    let res = send(&router, "GET", "/me", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let json: serde_json::Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(json["error"], "login_required");
    let anonymous = pair(&set_cookie(&send(&router, "POST", "/inc", None).await).unwrap());
    let res = send(&router, "GET", "/me", Some(&anonymous)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a session is not a login"
    );
}

#[tokio::test]
async fn logout_clears_the_cookie_and_the_session_stays_gone() {
    let app = App::new();
    let router = app.router(app.layer());
    let cookie = pair(&set_cookie(&send(&router, "POST", "/login", None).await).unwrap());
    let res = send(&router, "POST", "/logout", Some(&cookie)).await;
    assert!(set_cookie(&res).unwrap().contains("Max-Age=0"));
    assert_eq!(body(res).await, "true");
    assert_eq!(
        send(&router, "GET", "/me", Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_logout_during_a_request_is_not_undone_by_its_save() {
    let app = App::new();
    let barrier = Arc::new(Barrier::new(2));
    let b = Arc::clone(&barrier);
    let slow = Router::new()
        .route(
            "/slow",
            post(move |session: RequestSession| async move {
                session.get::<u64>("n").await?; // loaded before the logout
                b.wait().await;
                b.wait().await;
                session.insert("n", 99u64).await?;
                Ok::<_, authstore_axum::Error>("saved?")
            }),
        )
        .layer(app.layer());
    let router = app.router(app.layer());
    let cookie = pair(&set_cookie(&send(&router, "POST", "/login", None).await).unwrap());
    let in_flight = tokio::spawn({
        let (slow, cookie) = (slow.clone(), cookie.clone());
        async move { send(&slow, "POST", "/slow", Some(&cookie)).await }
    });
    barrier.wait().await;
    send(&router, "POST", "/logout", Some(&cookie)).await;
    barrier.wait().await;
    let res = in_flight.await.unwrap();
    assert!(
        set_cookie(&res).unwrap().contains("Max-Age=0"),
        "its cookie is cleared"
    );
    assert_eq!(
        app.manager.stats().await.unwrap().active,
        0,
        "not resurrected"
    );
}

/// Two requests load the same session; the second to save conflicts.
async fn race(policy: ConflictPolicy) -> (StatusCode, serde_json::Value) {
    let app = App::new();
    let layer = app.layer().on_conflict(policy);
    let barrier = Arc::new(Barrier::new(2));
    let b = Arc::clone(&barrier);
    let slow = Router::new()
        .route(
            "/slow",
            post(move |session: RequestSession| async move {
                session.get::<u64>("n").await?;
                b.wait().await; // loaded
                b.wait().await; // the other request saved
                session.insert("slow", true).await?;
                Ok::<_, authstore_axum::Error>("slow")
            }),
        )
        .layer(layer.clone());
    let router = app.router(layer);
    let cookie = pair(&set_cookie(&send(&router, "POST", "/inc", None).await).unwrap());
    let in_flight = tokio::spawn({
        let cookie = cookie.clone();
        async move { send(&slow, "POST", "/slow", Some(&cookie)).await }
    });
    barrier.wait().await;
    send(&router, "POST", "/inc", Some(&cookie)).await; // n = 2, saved first
    barrier.wait().await;
    let status = in_flight.await.unwrap().status();
    let id = authstore::session::SessionId::parse(cookie.split_once('=').unwrap().1).unwrap();
    let stored = app.manager.load(&id).await.unwrap().unwrap();
    (status, serde_json::to_value(stored.data()).unwrap())
}

#[tokio::test]
async fn conflicts_merge_by_default() {
    let (status, data) = race(ConflictPolicy::Merge).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        data,
        serde_json::json!({"n": 2, "slow": true}),
        "both writes kept"
    );
}

#[tokio::test]
async fn conflicts_can_be_rejected_or_ignored() {
    let (status, data) = race(ConflictPolicy::Reject).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(data, serde_json::json!({"n": 2}));
    let (status, data) = race(ConflictPolicy::Ignore).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        data,
        serde_json::json!({"n": 2}),
        "the late write is dropped"
    );
}

#[tokio::test]
async fn the_idle_touch_is_throttled_and_refreshes_the_cookie() {
    let app = App::new();
    let router = app.router(app.layer());
    let cookie = pair(&set_cookie(&send(&router, "POST", "/inc", None).await).unwrap());
    app.clock.advance(Duration::from_secs(10 * 60));
    let res = send(&router, "GET", "/get", Some(&cookie)).await;
    assert!(
        set_cookie(&res).is_none(),
        "20 of 30 minutes left: no touch"
    );
    app.clock.advance(Duration::from_secs(10 * 60));
    let res = send(&router, "GET", "/get", Some(&cookie)).await;
    let refreshed = set_cookie(&res).expect("10 of 30 minutes left: touched");
    assert_eq!(pair(&refreshed), cookie, "same id");
    assert!(refreshed.contains("Max-Age="));
    app.clock.advance(Duration::from_secs(25 * 60));
    assert_eq!(
        body(send(&router, "GET", "/get", Some(&cookie)).await).await,
        "Some(1)",
        "the touch extended it"
    );
}

#[tokio::test]
async fn oversized_sessions_get_413() {
    let app = App::new();
    let router = app.router(app.layer());
    let res = send(&router, "POST", "/big", None).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: serde_json::Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(json["error"], "session_too_large");
}

#[tokio::test]
async fn signed_cookies_refuse_forged_ids() {
    let app = App::new();
    let ring = KeyRing::new().with_key("k1", &[5; 32]).unwrap();
    let router = app.router(app.layer().signed(ring));
    let cookie = pair(&set_cookie(&send(&router, "POST", "/inc", None).await).unwrap());
    assert!(cookie.contains(".k1."), "signed: {cookie}");
    assert_eq!(
        body(send(&router, "GET", "/get", Some(&cookie)).await).await,
        "Some(1)"
    );
    let (name, value) = cookie.split_once('=').unwrap();
    let bare = format!("{name}={}", value.split('.').next().unwrap());
    assert_eq!(
        body(send(&router, "GET", "/get", Some(&bare)).await).await,
        "None",
        "the raw id alone is refused"
    );
}

#[tokio::test]
async fn non_browser_clients_can_use_a_header() {
    let app = App::new();
    let header = HeaderName::from_static("x-session-id");
    let router = app.router(app.layer().header(header.clone()));
    let res = send(&router, "POST", "/inc", None).await;
    let id = res
        .headers()
        .get(&header)
        .expect("the id is returned")
        .to_str()
        .unwrap()
        .to_owned();
    let req = Request::get("/get")
        .header(&header, &id)
        .body(Body::empty())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    assert!(set_cookie(&res).is_none(), "a header client gets no cookie");
    assert_eq!(body(res).await, "Some(1)");
}

#[tokio::test]
async fn auto_create_and_dev_mode() {
    let app = App::new();
    let router = app.router(app.layer().auto_create(true).dev_mode());
    let res = send(&router, "GET", "/get", None).await;
    let cookie = set_cookie(&res).expect("auto-created");
    assert!(cookie.starts_with("authstore="), "no prefix in dev mode");
    assert!(!cookie.contains("Secure"));
    assert_eq!(app.manager.stats().await.unwrap().active, 1);
}
