//! `/admin/v1/users`: list, show, create, disable, enable, set a password, delete.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;

use super::extract::{Body, Path};
use super::{ApiError, ApiErrorBody};
use crate::admin::users::{self as ops, Ended, UserDetail};
use crate::admin::views::UserView;
use crate::state::AppState;

/// A user to register.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// The login name (compared case-insensitively, without surrounding
    /// spaces; no control characters).
    #[schema(min_length = 1, max_length = 100)]
    username: String,
    /// The password (stored as argon2id).
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
    /// The stable id, the OAuth subject (default: random).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    user_id: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPassword")
            .field("end_sessions", &self.end_sessions)
            .finish_non_exhaustive()
    }
}

/// A password set by the operator.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPassword {
    /// The new password.
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
    /// Also end every session of the user.
    #[serde(default)]
    end_sessions: bool,
}

/// Every user, by login name.
#[utoipa::path(get, path = "/users", tag = "users",
    responses(
        (status = 200, description = "Every user", body = [UserView]),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(ops::list(&state).await?))
}

/// Registers a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Registered", body = UserView),
        (status = 400, description = "Malformed, or an empty name or password", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 409, description = "The username is taken", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Body(new): Body<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    if new.username.chars().count() > 100 {
        return Err(ApiError::Invalid(
            "a username has at most 100 characters".into(),
        ));
    }
    if new.password.chars().count() > 1024 {
        return Err(ApiError::Invalid(
            "a password has at most 1024 characters".into(),
        ));
    }
    let user = ops::create(&state, &new.username, &new.password, new.user_id.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user, with their sessions and live grants.
#[utoipa::path(get, path = "/users/{username}", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "The user", body = UserDetail),
        (status = 400, description = "Not a possible username", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such user", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    Ok(Json(ops::show(&state, &username).await?))
}

/// Deletes the user and every entry they own: sessions, grants with their
/// tokens, remembered consents, profile.
#[utoipa::path(delete, path = "/users/{username}", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "Deleted", body = Ended),
        (status = 400, description = "Not a possible username", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such user", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<Ended>, ApiError> {
    Ok(Json(ops::delete(&state, &username).await?))
}

/// Refuses the user's sign-in and ends their sessions and grants at once.
#[utoipa::path(post, path = "/users/{username}/disable", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "Disabled", body = Ended),
        (status = 400, description = "Not a possible username", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such user", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn disable(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<Ended>, ApiError> {
    Ok(Json(ops::disable(&state, &username).await?))
}

/// Lets a disabled user sign in again.
#[utoipa::path(post, path = "/users/{username}/enable", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    responses(
        (status = 200, description = "Enabled", body = UserView),
        (status = 400, description = "Not a possible username", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such user", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn enable(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(ops::enable(&state, &username).await?))
}

/// Sets the user's password without the current one.
#[utoipa::path(put, path = "/users/{username}/password", tag = "users",
    params(("username" = String, Path, description = "The login name")),
    request_body = NewPassword,
    responses(
        (status = 200, description = "Set", body = Ended),
        (status = 400, description = "Malformed, or an empty password", body = ApiErrorBody),
        (status = 401, description = "No valid admin token", body = ApiErrorBody),
        (status = 404, description = "No such user", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable", body = ApiErrorBody),
    ))]
pub(crate) async fn set_password(
    State(state): State<AppState>,
    Path(username): Path<String>,
    Body(new): Body<NewPassword>,
) -> Result<Json<Ended>, ApiError> {
    if new.password.chars().count() > 1024 {
        return Err(ApiError::Invalid(
            "a password has at most 1024 characters".into(),
        ));
    }
    let ended = ops::set_password(&state, &username, &new.password, new.end_sessions).await?;
    Ok(Json(ended))
}
