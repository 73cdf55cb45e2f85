//! `/admin/v1` grants, sessions, signing keys and the audit log: list a user's or a client's grants and revoke them, list and end a user's sessions, list and rotate the signing keys, read security events.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::{KeyProtection, SigningAlg, SigningKeyInfo};
use authstore::session::SessionHandle;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::clients::AlgName;
use super::extract::{Path, Query};
use super::{ApiError, ApiErrorBody};
use crate::admin::views::{GrantView, SessionView};
use crate::state::AppState;

/// Whose grants: exactly one of `user` and `client`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Whose {
    /// A user id (the OAuth subject).
    user: Option<String>,
    /// A client id.
    client: Option<String>,
}

/// Whose sessions, and which one.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionsOf {
    /// The user id.
    user: String,
    /// Only this session (as listed); without it, every session of the user.
    handle: Option<String>,
}

/// Which algorithm's key to rotate.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RotateWhich {
    /// Only this algorithm (default: every algorithm with a key, else the access tokens').
    alg: Option<AlgName>,
}

/// Which security events.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only the events of this user (a user id, or a login name for sign-in attempts).
    user: Option<String>,
    /// Only the events about this client id.
    client: Option<String>,
    /// Only actions starting with this.
    action: Option<String>,
    /// From this time, seconds since the epoch (default: all kept).
    #[param(minimum = 0)]
    since: Option<i64>,
    /// Until this time, seconds since the epoch (default: now).
    #[param(minimum = 0)]
    until: Option<i64>,
    /// At most this many, the newest (default 1000, at most 10000).
    limit: Option<usize>,
}

/// How many were revoked or ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Count {
    /// The number.
    count: u64,
}

/// A JWT signing key (never its key material).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct KeyView {
    /// The key id (`kid`).
    kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    alg: &'static str,
    /// Creation, seconds since the epoch.
    created_at: u64,
    /// `current`, `previous` or `retired`.
    status: &'static str,
    /// For a rotated-out key: published at `/jwks` until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    published_until: Option<u64>,
    /// How its private half is stored.
    private_key: &'static str,
    /// The key-encryption key's fingerprint, for an encrypted key.
    #[serde(skip_serializing_if = "Option::is_none")]
    kek_fingerprint: Option<String>,
}

impl From<&SigningKeyInfo> for KeyView {
    fn from(k: &SigningKeyInfo) -> Self {
        Self {
            kid: k.kid.clone(),
            alg: k.alg.as_str(),
            created_at: k.created_at,
            status: k.status.as_str(),
            published_until: k.published_until,
            private_key: k.protection.as_str(),
            kek_fingerprint: match &k.protection {
                KeyProtection::Encrypted { kek_fingerprint } => Some(kek_fingerprint.clone()),
                _ => None,
            },
        }
    }
}

/// A security event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventView {
    /// When, ms since the epoch.
    at: u64,
    /// What was done, e.g. `login.success`.
    action: String,
    /// `success`, `failure` or `denied`.
    outcome: &'static str,
    /// Who acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// What it was done to.
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    /// Anything else (never secrets).
    #[schema(value_type = Object)]
    metadata: serde_json::Map<String, serde_json::Value>,
}

impl From<AuditEvent> for EventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            at: e.at,
            action: e.action,
            outcome: match e.outcome {
                Outcome::Success => "success",
                Outcome::Failure => "failure",
                Outcome::Denied => "denied",
            },
            user: e.user,
            resource: e.resource,
            ip: e.ip,
            metadata: e.metadata.into_iter().collect(),
        }
    }
}

/// The live grants of a user or of a client.
#[utoipa::path(get, path = "/grants", tag = "access", params(Whose),
    responses(
        (status = 200, description = "Live grants, oldest first", body = [GrantView]),
        (status = 400, description = "Not exactly one of user and client", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn list_grants(
    State(state): State<AppState>,
    Query(whose): Query<Whose>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    let grants = match (whose.user, whose.client) {
        (Some(user), None) => state.oauth().user_grants(&user).await?,
        (None, Some(client)) => state.oauth().client_grants(&client).await?,
        _ => {
            return Err(ApiError::Invalid(
                "give exactly one of user and client".into(),
            ));
        }
    };
    Ok(Json(grants.iter().map(GrantView::from).collect()))
}

/// Revokes one grant with every token issued under it.
#[utoipa::path(delete, path = "/grants/{grant_id}", tag = "access",
    params(("grant_id" = String, Path, description = "The grant id")),
    responses(
        (status = 200, description = "Revoked", body = Count),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No live grant with this id", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn revoke_grant(
    State(state): State<AppState>,
    Path(grant_id): Path<String>,
) -> Result<Json<Count>, ApiError> {
    let valid = !grant_id.is_empty()
        && grant_id.len() <= 128
        && grant_id.bytes().all(|b| b.is_ascii_graphic());
    if valid && state.oauth().revoke_grant(&grant_id).await? {
        state.audit(revoked_event(&grant_id, 1)).await;
        return Ok(Json(Count { count: 1 }));
    }
    Err(ApiError::NotFound(format!("no live grant {grant_id:?}")))
}

fn revoked_event(what: &str, count: u64) -> AuditEvent {
    AuditEvent::new("grant.revoked", Outcome::Success)
        .resource(what)
        .meta("grants", count)
        .meta("by", "operator")
}

/// Revokes every grant of a user or of a client, with their tokens.
#[utoipa::path(post, path = "/grants/revoke", tag = "access", params(Whose),
    responses(
        (status = 200, description = "How many live grants were revoked", body = Count),
        (status = 400, description = "Not exactly one of user and client", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn revoke_grants(
    State(state): State<AppState>,
    Query(whose): Query<Whose>,
) -> Result<Json<Count>, ApiError> {
    let (what, count) = match (whose.user, whose.client) {
        (Some(user), None) => {
            let count = state.oauth().revoke_user_grants(&user).await?;
            (user, count)
        }
        (None, Some(client)) => {
            let count = state.oauth().revoke_client_grants(&client).await?;
            (client, count)
        }
        _ => {
            return Err(ApiError::Invalid(
                "give exactly one of user and client".into(),
            ));
        }
    };
    if count > 0 {
        state.audit(revoked_event(&what, count)).await;
    }
    Ok(Json(Count { count }))
}

/// A user's sign-in sessions.
#[utoipa::path(get, path = "/sessions", tag = "access",
    params(("user" = String, Query, description = "The user id")),
    responses(
        (status = 200, description = "The user's sessions", body = [SessionView]),
        (status = 400, description = "No user", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    Query(of): Query<SessionsOf>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.sessions().list_for_user(&of.user).await?;
    Ok(Json(sessions.iter().map(SessionView::from).collect()))
}

/// Ends one session of a user (`handle`) or all of them.
#[utoipa::path(delete, path = "/sessions", tag = "access", params(SessionsOf),
    responses(
        (status = 200, description = "How many sessions ended", body = Count),
        (status = 400, description = "No user, or a malformed handle", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "The user has no such session", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    Query(of): Query<SessionsOf>,
) -> Result<Json<Count>, ApiError> {
    let sessions = state.sessions();
    let count = match of.handle.as_deref() {
        None => sessions.revoke_all(&of.user).await?,
        Some(text) => {
            let handle = SessionHandle::parse(text).ok_or_else(|| {
                ApiError::Invalid("a session handle is 64 lowercase hex digits".into())
            })?;
            let owned = sessions
                .list_for_user(&of.user)
                .await?
                .iter()
                .any(|s| s.handle == handle);
            if !owned || !sessions.revoke(&handle).await? {
                return Err(ApiError::NotFound(format!(
                    "user {:?} has no session {text}",
                    of.user
                )));
            }
            1
        }
    };
    if count > 0 {
        state
            .audit(
                AuditEvent::new("session.revoked", Outcome::Success)
                    .user(&of.user)
                    .meta("sessions", count)
                    .meta("by", "operator"),
            )
            .await;
    }
    Ok(Json(Count { count }))
}

/// The JWT signing keys (never key material).
#[utoipa::path(get, path = "/keys", tag = "operations",
    responses(
        (status = 200, description = "Every signing key", body = [KeyView]),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = state.oauth().signing_keys().await?;
    Ok(Json(keys.iter().map(KeyView::from).collect()))
}

/// Makes a new signing key current; the previous one stays published
/// until the tokens it signed have expired.
#[utoipa::path(post, path = "/keys/rotate", tag = "operations", params(RotateWhich),
    responses(
        (status = 200, description = "Every signing key afterwards", body = [KeyView]),
        (status = 400, description = "A malformed algorithm", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn rotate_keys(
    State(state): State<AppState>,
    Query(which): Query<RotateWhich>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let oauth = state.oauth();
    let algs: Vec<SigningAlg> = match which.alg {
        Some(alg) => vec![alg.into()],
        None => {
            let in_use = oauth.signing_algs_in_use().await?;
            if in_use.is_empty() {
                vec![oauth.access_token_alg()]
            } else {
                in_use
            }
        }
    };
    for alg in algs {
        let kid = oauth.rotate_signing_key(alg).await?;
        state
            .audit(
                AuditEvent::new("keys.rotated", Outcome::Success)
                    .meta("alg", alg.as_str())
                    .meta("kid", kid.as_str())
                    .meta("reason", "operator"),
            )
            .await;
    }
    let keys = oauth.signing_keys().await?;
    Ok(Json(keys.iter().map(KeyView::from).collect()))
}

/// Security events kept in the store, oldest first.
#[utoipa::path(get, path = "/audit", tag = "operations", params(AuditQuery),
    responses(
        (status = 200, description = "The events, oldest first", body = [EventView]),
        (status = 400, description = "A malformed query, or since not before until", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    const MAX_SECS: u64 = 1 << 40;
    let at = |secs: i64| {
        u64::try_from(secs)
            .map(|s| UNIX_EPOCH + Duration::from_secs(s.min(MAX_SECS)))
            .map_err(|_| ApiError::Invalid("times are seconds since the epoch, at least 0".into()))
    };
    let from = query.since.map_or(Ok(UNIX_EPOCH), at)?;
    let to = query
        .until
        .map_or_else(|| Ok(SystemTime::now() + Duration::from_secs(1)), at)?;
    let query = crate::admin::audit::AuditQuery {
        user: query.user.as_deref(),
        client: query.client.as_deref(),
        action: query.action.as_deref(),
        from,
        to,
        limit: query.limit.unwrap_or(1000).min(10_000),
    };
    let events = crate::admin::audit::events(&state, &query).await?;
    let events: Vec<EventView> = events.into_iter().map(EventView::from).collect();
    Ok(Json(events))
}
