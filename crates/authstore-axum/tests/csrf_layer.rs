//! CsrfLayer behaviour through tower's `oneshot`: Fetch Metadata and Origin, tokens in forms and headers for each mode, log-only, Vary, 403 bodies.

use std::sync::Arc;
use std::time::Duration;

use authstore::csrf::{KeyRing, SignedTokens, SynchronizerTokens};
use authstore::session::SessionManager;
use authstore::{MemoryStore, Store};
use authstore_axum::{CsrfLayer, CsrfToken, CsrfTokens, SessionLayer};
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
