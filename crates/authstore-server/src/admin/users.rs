//! Users: list and show them (with their sessions and grants), disable and enable them, set a password, delete one with everything it owns.

use authstore::audit::{AuditEvent, Outcome};
use serde::Serialize;

use super::AdminError;
use super::views::{GrantView, SessionView, UserView};
use crate::pages::profile;
use crate::state::AppState;

/// A user with their sessions and live grants.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct UserDetail {
    /// The user.
    #[serde(flatten)]
    pub user: UserView,
    /// Their sign-in sessions.
    pub sessions: Vec<SessionView>,
    /// Their live grants.
    pub grants: Vec<GrantView>,
}

/// What ending a user's access ended.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Ended {
    /// The user afterwards.
    pub user: UserView,
    /// Sessions ended.
    pub sessions_ended: u64,
    /// Live grants revoked, with every token issued under them.
    pub grants_revoked: u64,
}

/// The user registered as `username`; a name no user can have is not found.
async fn find(
    state: &AppState,
    username: &str,
) -> Result<authstore::credentials::UserInfo, AdminError> {
    match state.credentials().user(username).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) | Err(authstore::Error::InvalidArgument(_)) => Err(not_found(username)),
        Err(e) => Err(e.into()),
    }
}

/// Maps "no such user" and "no user can have this name" to
/// [`AdminError::NotFound`].
fn or_not_found<T>(result: authstore::Result<T>, username: &str) -> Result<T, AdminError> {
    match result {
        Err(authstore::Error::NotFound { .. } | authstore::Error::InvalidArgument(_)) => {
            Err(not_found(username))
        }
        other => Ok(other?),
    }
}

fn not_found(username: &str) -> AdminError {
    AdminError::NotFound(format!("no user {:?}", username.trim()))
}

async fn audit(state: &AppState, action: &str, user: &UserView) {
    state
        .audit(
            AuditEvent::new(action, Outcome::Success)
                .user(&user.user_id)
                .resource(&user.username)
                .meta("by", "operator"),
        )
        .await;
}

/// Registers a user; `user_id` defaults to a random 256-bit id.
pub(crate) async fn create(
    state: &AppState,
    username: &str,
    password: &str,
    user_id: Option<&str>,
) -> Result<UserView, AdminError> {
    let user_id = match user_id {
        Some(id) if id.trim().is_empty() => {
            return Err(AdminError::Invalid("the user id must not be empty".into()));
        }
        Some(id) => id.to_owned(),
        None => authstore::secret::random_token()?,
    };
    match state
        .credentials()
        .register_user(username, &user_id, password)
        .await
    {
        Err(authstore::Error::AlreadyExists { .. }) => {
            return Err(AdminError::Conflict(format!(
                "user {:?} already exists",
                username.trim()
            )));
        }
        other => other?,
    }
    let user = state
        .credentials()
        .user(username)
        .await?
        .ok_or_else(|| not_found(username))?;
    let user = UserView::from(&user);
    audit(state, "user.created", &user).await;
    Ok(user)
}

/// Every user, by login name.
pub(crate) async fn list(state: &AppState) -> Result<Vec<UserView>, AdminError> {
    let users = state.credentials().users().await?;
    Ok(users.iter().map(UserView::from).collect())
}

/// One user, with their sessions and live grants.
pub(crate) async fn show(state: &AppState, username: &str) -> Result<UserDetail, AdminError> {
    let user = find(state, username).await?;
    let sessions = state.sessions().list_for_user(&user.user_id).await?;
    let grants = state.oauth().user_grants(&user.user_id).await?;
    Ok(UserDetail {
        user: UserView::from(&user),
        sessions: sessions.iter().map(SessionView::from).collect(),
        grants: grants.iter().map(GrantView::from).collect(),
    })
}

/// Disables the user and ends their access at once: every session, and
/// every grant with its tokens. Also ends what a sign-in finishing at the
/// same moment left, when run again.
pub(crate) async fn disable(state: &AppState, username: &str) -> Result<Ended, AdminError> {
    let user = UserView::from(&or_not_found(
        state.credentials().set_disabled(username, true).await,
        username,
    )?);
    let sessions_ended = state.sessions().revoke_all(&user.user_id).await?;
    let grants_revoked = state.oauth().revoke_user_grants(&user.user_id).await?;
    audit(state, "user.disabled", &user).await;
    Ok(Ended {
        user,
        sessions_ended,
        grants_revoked,
    })
}

/// Lets the user sign in again.
pub(crate) async fn enable(state: &AppState, username: &str) -> Result<UserView, AdminError> {
    let user = UserView::from(&or_not_found(
        state.credentials().set_disabled(username, false).await,
        username,
    )?);
    audit(state, "user.enabled", &user).await;
    Ok(user)
}

/// Sets the password without the current one. With `end_sessions`, the
/// user's sessions end too (a reset after a suspected compromise).
pub(crate) async fn set_password(
    state: &AppState,
    username: &str,
    password: &str,
    end_sessions: bool,
) -> Result<Ended, AdminError> {
    if password.is_empty() {
        return Err(AdminError::Invalid("the password must not be empty".into()));
    }
    let user = UserView::from(&find(state, username).await?);
    or_not_found(
        state.credentials().set_password(username, password).await,
        username,
    )?;
    let sessions_ended = if end_sessions {
        state.sessions().revoke_all(&user.user_id).await?
    } else {
        0
    };
    audit(state, "user.password_set", &user).await;
    Ok(Ended {
        user,
        sessions_ended,
        grants_revoked: 0,
    })
}

/// Deletes the user and every entry they own: first disabled (no new
/// sign-in), then their sessions, their grants live or revoked with every
/// token and code, their remembered consents, their profile, and last
/// their credential. Audit events stay for their retention period.
pub(crate) async fn delete(state: &AppState, username: &str) -> Result<Ended, AdminError> {
    let before = or_not_found(
        state.credentials().set_disabled(username, true).await,
        username,
    )?;
    let user_id = before.user_id.as_str();
    let sessions_ended = state.sessions().revoke_all(user_id).await?;
    let grants_revoked = state.oauth().erase_user(user_id).await?;
    profile::forget(&**state.store(), user_id).await?;
    let deleted = state
        .credentials()
        .delete_user(username)
        .await?
        .ok_or_else(|| not_found(username))?;
    let user = UserView::from(&deleted);
    audit(state, "user.deleted", &user).await;
    Ok(Ended {
        user,
        sessions_ended,
        grants_revoked,
    })
}
