//! The session HTTP API through tower's `oneshot`: create, read, merge, destroy, stats, per-user listing and revocation, and input validation.

use std::sync::Arc;

use authstore::session::{SessionManager, SessionUser};
use authstore::{MemoryStore, Store};
use authstore_axum::{RequestSession, SessionLayer, session_api};
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app() -> Router {
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::builder().sweep_interval(None).build().unwrap());
    Router::new()
        .merge(session_api())
        .route(
            "/login",
            post(|session: RequestSession| async move {
                session.set_user(SessionUser::new("alice")).await?;
                Ok::<_, authstore_axum::Error>("in")
            }),
        )
        .layer(SessionLayer::new(SessionManager::new(store)))
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> Response<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(USER_AGENT, "test-agent/1.0");
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    if !body.is_empty() {
        req = req.header(CONTENT_TYPE, "application/json");
    }
    app.clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap()
}

async fn json(res: Response<Body>) -> Value {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn cookie(res: &Response<Body>) -> String {
    res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn create_read_merge_destroy() {
    let app = app();
    let res = call(&app, "GET", "/api/session", None, "").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(res).await["error"], "no_session");

    let res = call(
        &app,
        "POST",
        "/api/session",
        None,
        r#"{"data":{"theme":"dark","n":1}}"#,
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let c = cookie(&res);
    let body = json(res).await;
    assert_eq!(body["data"], json!({"theme": "dark", "n": 1}));
    assert!(body["handle"].as_str().unwrap().len() >= 43);
    assert!(
        !c.contains(body["handle"].as_str().unwrap()),
        "the handle is not the secret id"
    );

    let res = call(&app, "POST", "/api/session", Some(&c), "").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "an existing session is returned"
    );

    let res = call(
        &app,
        "PUT",
        "/api/session",
        Some(&c),
        r#"{"n":2,"theme":null,"lang":"fr"}"#,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["data"], json!({"n": 2, "lang": "fr"}));
    let res = call(&app, "GET", "/api/session", Some(&c), "").await;
    assert_eq!(
        json(res).await["data"],
        json!({"n": 2, "lang": "fr"}),
        "merged and saved"
    );

    let res = call(&app, "GET", "/api/session/stats", Some(&c), "").await;
    let stats = json(res).await;
    assert_eq!(
        (stats["active"].clone(), stats["created"].clone()),
        (json!(1), json!(1))
    );

    let res = call(&app, "DELETE", "/api/session", Some(&c), "").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let res = call(&app, "GET", "/api/session", Some(&c), "").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_a_json_400_or_413() {
    let app = app();
    let c = cookie(&call(&app, "POST", "/api/session", None, "").await);
    for (body, code) in [
        ("{not json", "invalid_json"),
        ("[1,2]", "invalid_body"),
        (r#"{"data": 5}"#, "invalid_body"),
    ] {
        let res = call(&app, "POST", "/api/session", Some(&c), body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(json(res).await["error"], code, "{body}");
    }
    let res = call(&app, "PUT", "/api/session", Some(&c), "").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let huge = format!(r#"{{"x":"{}"}}"#, "y".repeat(100 * 1024));
    let res = call(&app, "PUT", "/api/session", Some(&c), &huge).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(res).await["error"], "body_too_large");
}

#[tokio::test]
async fn users_list_and_revoke_their_sessions() {
    let app = app();
    let res = call(&app, "GET", "/api/sessions", None, "").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let mut devices = Vec::new();
    for _ in 0..3 {
        devices.push(cookie(&call(&app, "POST", "/login", None, "").await));
    }
    let res = call(&app, "GET", "/api/sessions", Some(&devices[0]), "").await;
    let listed = json(res).await;
    let sessions = listed["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(sessions[0]["user_agent"], "test-agent/1.0");

    // Revoke one other device by handle.
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = call(
        &app,
        "DELETE",
        &format!("/api/sessions/{other}"),
        Some(&devices[0]),
        "",
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = call(
        &app,
        "DELETE",
        &format!("/api/sessions/{other}"),
        Some(&devices[0]),
        "",
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "already gone");
    let res = call(
        &app,
        "DELETE",
        "/api/sessions/not-a-handle",
        Some(&devices[0]),
        "",
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Log out the other devices.
    let res = call(
        &app,
        "DELETE",
        "/api/sessions?all_but_current=true",
        Some(&devices[0]),
        "",
    )
    .await;
    assert_eq!(json(res).await["revoked"], 1);
    for (i, device) in devices.iter().enumerate() {
        let alive = call(&app, "GET", "/api/session", Some(device), "")
            .await
            .status()
            == StatusCode::OK;
        assert_eq!(alive, i == 0, "device {i}");
    }

    // Revoke all: the current one too.
    let res = call(&app, "DELETE", "/api/sessions", Some(&devices[0]), "").await;
    assert_eq!(json(res).await["revoked"], 1);
    assert_eq!(
        call(&app, "GET", "/api/session", Some(&devices[0]), "")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_users_session_cannot_be_revoked() {
    let app = app();
    let alice = cookie(&call(&app, "POST", "/login", None, "").await);
    let anon = cookie(&call(&app, "POST", "/api/session", None, "").await);
    let anon_handle =
        json(call(&app, "GET", "/api/session", Some(&anon), "").await).await["handle"]
            .as_str()
            .unwrap()
            .to_owned();
    let res = call(
        &app,
        "DELETE",
        &format!("/api/sessions/{anon_handle}"),
        Some(&alice),
        "",
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        call(&app, "GET", "/api/session", Some(&anon), "")
            .await
            .status(),
        StatusCode::OK
    );
}
