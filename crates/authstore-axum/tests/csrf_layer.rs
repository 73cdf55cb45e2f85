//! CsrfLayer behaviour through tower's `oneshot`: Fetch Metadata and Origin, tokens in forms and headers for each mode (double-submit tokens without a session too), log-only, Vary, 403 bodies.

use std::sync::Arc;
use std::time::Duration;

use authstore::csrf::{KeyRing, SignedTokens, SynchronizerTokens};
use authstore::session::{SessionManager, SessionUser};
use authstore::{MemoryStore, Store};
use authstore_axum::csrf::DoubleSubmitTokens;
use authstore_axum::{CsrfLayer, CsrfToken, CsrfTokens, RequestSession, SessionLayer};
use axum::body::Body;
use axum::routing::{get, post};
use axum::{Form, Router};
use http::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(serde::Deserialize)]
struct Comment {
    text: String,
}

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::builder().sweep_interval(None).build().unwrap())
}

fn app(store: Arc<dyn Store>, csrf: CsrfLayer) -> Router {
    Router::new()
        .route(
            "/form",
            get(|t: CsrfToken| async move { t.token().to_owned() }),
        )
        .route(
            "/comment",
            post(|Form(c): Form<Comment>| async move { format!("posted {}", c.text) }),
        )
        .route("/api", post(|| async { "ok" }))
        .layer(csrf)
        .layer(SessionLayer::new(SessionManager::new(store)))
}

async fn text(res: Response<Body>) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

async fn call(app: &Router, req: Request<Body>) -> Response<Body> {
    app.clone().oneshot(req).await.unwrap()
}

fn post_req(path: &str) -> http::request::Builder {
    Request::post(path).header(HOST, "app.example")
}

/// GET /form: the token and the session cookie it was issued for.
async fn token(app: &Router) -> (String, String) {
    let res = call(app, Request::get("/form").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (text(res).await, cookie)
}

fn form(cookie: &str, body: String) -> Request<Body> {
    post_req("/comment")
        .header("sec-fetch-site", "same-origin")
        .header(COOKIE, cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn cross_site_unsafe_requests_are_refused_with_vary() {
    let app = app(store(), CsrfLayer::new());
    let res = call(
        &app,
        post_req("/api")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.headers()[VARY], "Origin, Sec-Fetch-Site");
    let json: serde_json::Value = serde_json::from_str(&text(res).await).unwrap();
    assert_eq!(json["error"], "csrf");
    assert!(json["reason"].as_str().unwrap().contains("Sec-Fetch-Site"));

    let same = post_req("/api")
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    let res = call(&app, same).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[VARY], "Origin, Sec-Fetch-Site");

    let safe = Request::get("/form")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty());
    let res = call(&app, safe.unwrap()).await;
    assert_eq!(
        res.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "no token mode: the extractor says so"
    );
    assert!(
        res.headers().get(VARY).is_none(),
        "safe methods are not checked"
    );
}

#[tokio::test]
async fn origin_is_compared_with_host_and_the_allow_list() {
    let app = app(
        store(),
        CsrfLayer::new().allow_origin("https://partner.example"),
    );
    let with_origin = |o: &str| {
        post_req("/api")
            .header(ORIGIN, o)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        call(&app, with_origin("https://evil.example"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, with_origin("https://app.example"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, with_origin("https://partner.example"))
            .await
            .status(),
        StatusCode::OK
    );
    let no_headers = post_req("/api").body(Body::empty()).unwrap();
    assert_eq!(
        call(&app, no_headers).await.status(),
        StatusCode::OK,
        "not a browser: nothing to check"
    );
}

#[tokio::test]
async fn log_only_lets_refusals_through() {
    let app = app(
        store(),
        CsrfLayer::new().log_only(true).tokens(CsrfTokens::Session),
    );
    let req = post_req("/api")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, req).await.status(), StatusCode::OK);
    let req = post_req("/api")
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, req).await.status(),
        StatusCode::OK,
        "a missing token too"
    );
}

#[tokio::test]
async fn session_tokens_protect_forms_and_the_body_still_reaches_the_handler() {
    let app = app(store(), CsrfLayer::new().tokens(CsrfTokens::Session));
    let (token, cookie) = token(&app).await;
    let res = call(&app, form(&cookie, format!("text=hello&_csrf={token}"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await, "posted hello");

    let res = call(&app, form(&cookie, "text=hello".into())).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(text(res).await.contains("missing CSRF token"));
    let res = call(&app, form(&cookie, "text=hello&_csrf=forged".into())).await;
    assert!(text(res).await.contains("invalid CSRF token"));

    let (other_token, _) = self::token(&app).await;
    let res = call(&app, form(&cookie, format!("text=x&_csrf={other_token}"))).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "another session's token"
    );

    let header = post_req("/api")
        .header("sec-fetch-site", "same-origin")
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&app, header).await.status(),
        StatusCode::OK,
        "header works too, and the token is reusable"
    );
}

#[tokio::test]
async fn one_time_store_tokens_are_accepted_once() {
    let store = store();
    let tokens = SynchronizerTokens::new(Arc::clone(&store), Duration::from_secs(600), true);
    let app = app(store, CsrfLayer::new().tokens(CsrfTokens::Store(tokens)));
    let (token, cookie) = token(&app).await;
    let body = format!("text=once&_csrf={token}");
    assert_eq!(
        call(&app, form(&cookie, body.clone())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, form(&cookie, body)).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn signed_tokens_are_bound_to_their_session() {
    let ring = KeyRing::new().with_key("k1", &[9; 32]).unwrap();
    let app = app(
        store(),
        CsrfLayer::new().tokens(CsrfTokens::Signed(SignedTokens::new(ring))),
    );
    let (token, cookie) = token(&app).await;
    assert_eq!(
        call(&app, form(&cookie, format!("text=a&_csrf={token}")))
            .await
            .status(),
        StatusCode::OK
    );
    let (_, other_cookie) = self::token(&app).await;
    let res = call(&app, form(&other_cookie, format!("text=a&_csrf={token}"))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn oversized_forms_get_413() {
    let app = app(
        store(),
        CsrfLayer::new()
            .tokens(CsrfTokens::Session)
            .max_form_bytes(1024),
    );
    let (_, cookie) = token(&app).await;
    let res = call(&app, form(&cookie, format!("text={}", "x".repeat(4096)))).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// The double-submit app: `/form` issues a token, `/comment` takes a
/// form, `/login` starts a signed-in session.
fn double_submit_app(store: Arc<dyn Store>, tokens: DoubleSubmitTokens) -> Router {
    Router::new()
        .route(
            "/form",
            get(|t: CsrfToken| async move { t.token().to_owned() }),
        )
        .route(
            "/comment",
            post(|Form(c): Form<Comment>| async move { format!("posted {}", c.text) }),
        )
        .route(
            "/login",
            get(|session: RequestSession| async move {
                session.set_user(SessionUser::new("u-1")).await.unwrap();
                "signed in"
            }),
        )
        .layer(CsrfLayer::new().tokens(CsrfTokens::DoubleSubmit(tokens)))
        .layer(SessionLayer::new(SessionManager::new(store)))
}

fn ring() -> KeyRing {
    KeyRing::new().with_key("k1", &[5; 32]).unwrap()
}

/// `name=value` of the `Set-Cookie` headers of `res` whose name is `name`.
fn set_cookie(res: &Response<Body>, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn double_submit_tokens_need_no_session_and_write_nothing() {
    let store = store();
    let app = double_submit_app(Arc::clone(&store), DoubleSubmitTokens::new(ring()));
    let res = call(&app, Request::get("/form").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let raw = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        raw.starts_with("__Host-authstore-csrf=")
            && raw.contains("Secure")
            && raw.contains("HttpOnly")
            && raw.contains("SameSite=Lax")
            && raw.contains("Path=/"),
        "{raw}"
    );
    assert_eq!(
        res.headers().get_all(SET_COOKIE).iter().count(),
        1,
        "no session cookie"
    );
    let cookie = set_cookie(&res, "__Host-authstore-csrf").unwrap();
    let token = text(res).await;
    assert_eq!(store.stats().await.unwrap().entries, 0, "nothing stored");

    // The same cookie gets tokens for the same nonce, and no new cookie.
    let again = call(
        &app,
        Request::get("/form")
            .header(COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(again.headers().get(SET_COOKIE).is_none());
    let second = text(again).await;

    for t in [&token, &second] {
        let res = call(&app, form(&cookie, format!("text=hi&_csrf={t}"))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(text(res).await, "posted hi");
    }
    assert_eq!(
        store.stats().await.unwrap().entries,
        0,
        "still nothing stored"
    );

    // Without the cookie, with another visitor's cookie, or forged: refused.
    let res = call(
        &app,
        post_req("/comment")
            .header("sec-fetch-site", "same-origin")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("text=x&_csrf={token}")))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(text(res).await.contains("missing CSRF cookie"));
    let other = call(&app, Request::get("/form").body(Body::empty()).unwrap()).await;
    let other_cookie = set_cookie(&other, "__Host-authstore-csrf").unwrap();
    assert_ne!(other_cookie, cookie);
    let res = call(&app, form(&other_cookie, format!("text=x&_csrf={token}"))).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "another visitor's nonce"
    );
    let res = call(&app, form(&cookie, "text=x&_csrf=k1.forged.AAAA".into())).await;
    assert!(text(res).await.contains("invalid CSRF token"));
    // A token signed by another key is refused.
    let foreign = double_submit_app(
        self::store(),
        DoubleSubmitTokens::new(KeyRing::new().with_key("k1", &[6; 32]).unwrap()),
    );
    let res = call(&foreign, form(&cookie, format!("text=x&_csrf={token}"))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "another key");
}

#[tokio::test]
async fn double_submit_tokens_bind_to_the_session_once_there_is_one() {
    let store = store();
    let app = double_submit_app(Arc::clone(&store), DoubleSubmitTokens::new(ring()));
    let res = call(&app, Request::get("/form").body(Body::empty()).unwrap()).await;
    let nonce_cookie = set_cookie(&res, "__Host-authstore-csrf").unwrap();
    let anonymous_token = text(res).await;

    let res = call(
        &app,
        Request::get("/login")
            .header(COOKIE, &nonce_cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let session_cookie = set_cookie(&res, "__Host-authstore").unwrap();
    let both = format!("{nonce_cookie}; {session_cookie}");
    let res = call(
        &app,
        Request::get("/form")
            .header(COOKIE, &session_cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        res.headers().get(SET_COOKIE).is_none(),
        "no nonce cookie needed"
    );
    let session_token = text(res).await;

    let res = call(
        &app,
        form(&session_cookie, format!("text=s&_csrf={session_token}")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "bound to the session");
    let res = call(&app, form(&both, format!("text=s&_csrf={anonymous_token}"))).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a nonce-bound token does not serve a signed-in session"
    );
    let res = call(
        &app,
        form(&nonce_cookie, format!("text=s&_csrf={session_token}")),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a session's token without the session"
    );
}

#[tokio::test]
async fn double_submit_dev_mode_drops_the_prefix_and_secure() {
    let app = double_submit_app(store(), DoubleSubmitTokens::new(ring()).dev_mode());
    let res = call(&app, Request::get("/form").body(Body::empty()).unwrap()).await;
    let raw = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        raw.starts_with("authstore-csrf=") && !raw.contains("Secure"),
        "{raw}"
    );
    let cookie = set_cookie(&res, "authstore-csrf").unwrap();
    let token = text(res).await;
    let res = call(&app, form(&cookie, format!("text=d&_csrf={token}"))).await;
    assert_eq!(res.status(), StatusCode::OK);
}
