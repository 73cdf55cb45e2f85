//! The session HTTP API as a ready-made router: the current session, its data, stats, and the user's other sessions.

use std::time::{SystemTime, UNIX_EPOCH};

use authstore::session::{Session as StoredSession, SessionHandle};
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use http::StatusCode;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::session::{RequestSession, RequireUser};

/// Largest JSON body the API reads (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The session API. Mount it inside [`SessionLayer`](crate::SessionLayer)
/// (and [`CsrfLayer`](crate::CsrfLayer) for browser clients):
///
/// | route | does |
/// |---|---|
/// | `POST /api/session` | creates a session (201), or returns the current one (200); an optional body `{"data": {…}}` is merged |
/// | `GET /api/session` | the current session (404 without one) |
/// | `PUT /api/session` | merges a JSON object into the data; a `null` value removes the key |
/// | `DELETE /api/session` | ends the session (204) and clears the cookie |
/// | `GET /api/session/stats` | active, created, expired and destroyed counts |
/// | `GET /api/sessions` | the logged-in user's sessions with their devices (401 without a login) |
/// | `DELETE /api/sessions/{handle}` | revokes one of them (404 if it is not the user's) |
/// | `DELETE /api/sessions?all_but_current=true` | revokes the others; without the flag, all of them |
///
/// Bodies are limited to [`MAX_BODY_BYTES`] (`413`), and malformed JSON is a
/// `400` with a JSON error, never a `500`. A session is shown by its public
/// handle, never its secret id. The user cannot be set through this API:
/// log users in from your own handler with [`RequestSession::set_user`].
pub fn session_api<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/api/session",
            get(show).post(create).put(update).delete(destroy),
        )
        .route("/api/session/stats", get(stats))
        .route("/api/sessions", get(list).delete(revoke_many))
        .route("/api/sessions/{handle}", delete(revoke_one))
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn view(s: &StoredSession) -> Value {
    json!({
        "handle": s.handle().as_str(),
        "user": s.user(),
        "data": s.data(),
        "created_at": millis(s.created_at()),
        "last_seen": millis(s.last_seen()),
        "expires_at": s.expires_at().map(millis),
    })
}

fn no_session() -> Error {
    Error::new(
        StatusCode::NOT_FOUND,
        "no_session",
        "this request has no session",
    )
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`]; `None` for an empty body.
async fn json_body(body: Body) -> Result<Option<Value>, Error> {
    let bytes: Bytes = http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| {
            Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
            )
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
}

fn object(value: Value, what: &str) -> Result<Map<String, Value>, Error> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("{what} must be a JSON object"),
        )),
    }
}

async fn merge(session: &RequestSession, data: Map<String, Value>) -> Result<(), Error> {
    for (key, value) in data {
        if value.is_null() {
            session.remove(&key).await?;
        } else {
            session.insert(&key, value).await?;
        }
    }
    Ok(())
}

async fn current(session: &RequestSession) -> Result<Value, Error> {
    session
        .inspect(|s| s.map(view))
        .await?
        .ok_or_else(no_session)
}

async fn create(session: RequestSession, body: Body) -> Result<Response, Error> {
    let data = match json_body(body).await? {
        Some(value) => match object(value, "the body")?.remove("data") {
            Some(data) => object(data, "`data`")?,
            None => Map::new(),
        },
        None => Map::new(),
    };
    let existed = session.exists().await?;
    session.ensure().await?;
    merge(&session, data).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(current(&session).await?)).into_response())
}

async fn show(session: RequestSession) -> Result<Json<Value>, Error> {
    Ok(Json(current(&session).await?))
}

async fn update(session: RequestSession, body: Body) -> Result<Json<Value>, Error> {
    if !session.exists().await? {
        return Err(no_session());
    }
    let data = json_body(body).await?.ok_or_else(|| {
        Error::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "a JSON object is required",
        )
    })?;
    merge(&session, object(data, "the body")?).await?;
    Ok(Json(current(&session).await?))
}

async fn destroy(session: RequestSession) -> Result<StatusCode, Error> {
    if session.destroy().await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_session())
    }
}

async fn stats(session: RequestSession) -> Result<Json<Value>, Error> {
    let s = session.manager().stats().await?;
    Ok(Json(json!({
        "active": s.active,
        "created": s.created,
        "expired": s.expired,
        "destroyed": s.destroyed,
    })))
}

async fn list(
    RequireUser(user): RequireUser,
    session: RequestSession,
) -> Result<Json<Value>, Error> {
    let current = session.handle().await?;
    let sessions = session.manager().list_for_user(&user.id).await?;
    let items: Vec<Value> = sessions
        .iter()
        .map(|info| {
            json!({
                "handle": info.handle.as_str(),
                "current": Some(&info.handle) == current.as_ref(),
                "created_at": millis(info.created_at),
                "last_seen": millis(info.last_seen),
                "expires_at": info.expires_at.map(millis),
                "ip": info.meta.ip,
                "user_agent": info.meta.user_agent,
                "device": info.meta.device,
            })
        })
        .collect();
    Ok(Json(json!({ "user": user.id, "sessions": items })))
}

async fn revoke_one(
    RequireUser(user): RequireUser,
    session: RequestSession,
    Path(handle): Path<String>,
) -> Result<StatusCode, Error> {
    let not_found = || {
        Error::new(
            StatusCode::NOT_FOUND,
            "unknown_session",
            "no such session of yours",
        )
    };
    let handle = SessionHandle::parse(&handle).ok_or_else(not_found)?;
    let manager = session.manager();
    let owned = manager
        .list_for_user(&user.id)
        .await?
        .iter()
        .any(|info| info.handle == handle);
    if !owned {
        return Err(not_found());
    }
    if session.handle().await?.as_ref() == Some(&handle) {
        session.destroy().await?;
    } else {
        manager.revoke(&handle).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct RevokeQuery {
    #[serde(default)]
    all_but_current: bool,
}

async fn revoke_many(
    RequireUser(user): RequireUser,
    session: RequestSession,
    Query(query): Query<RevokeQuery>,
) -> Result<Json<Value>, Error> {
    let manager = session.manager();
    let revoked = if query.all_but_current {
        let current = session.handle().await?.ok_or_else(no_session)?;
        manager.revoke_all_but(&user.id, &current).await?
    } else {
        let n = manager.revoke_all(&user.id).await?;
        // The current session was among them: clear its cookie too.
        session.destroy().await?;
        n
    };
    Ok(Json(json!({ "revoked": revoked })))
}
