//! Who may call the admin API: the holder of the admin token, or (with `admin_clients`) a client the operator created, with its own `admin`-scoped access token.

use authstore::oauth::ClientOrigin;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::state::AppState;

/// The scope that opens the admin API to an access token, when
/// `admin_clients` is on. Only a client the operator created can use it:
/// the token must be the client's own (`client_credentials`, no user), and
/// the client must still list the scope when the token is presented.
pub const ADMIN_SCOPE: &str = "admin";

/// Lets a request through only with `Authorization: Bearer <token>` where the
/// token's SHA-256 is the configured one (compared in constant time) or,
/// with `admin_clients`, the token is an `admin`-scoped access token of an
/// operator-created client ([`ADMIN_SCOPE`]).
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let token = match crate::oauth_http::bearer(request.headers()) {
        None => {
            return ApiError::Unauthorized("an admin bearer token is required").into_response();
        }
        Some(Err(())) => {
            return ApiError::Unauthorized("the admin token is not valid").into_response();
        }
        Some(Ok(token)) => token,
    };
    let settings = state.settings();
    if let Some(expected) = &settings.admin_token_sha256 {
        let digest = authstore::secret::sha256(token.as_bytes());
        if authstore::secret::constant_time_eq(&digest, expected) {
            return next.run(request).await;
        }
    }
    if settings.admin_clients {
        match admin_client(&state, token).await {
            Ok(true) => return next.run(request).await,
            Ok(false) => {}
            Err(e) => return e.into_response(),
        }
    }
    ApiError::Unauthorized("the admin token is not valid").into_response()
}

/// Whether `token` is a live access token with [`ADMIN_SCOPE`] that an
/// operator-created client, which still has the scope, got for itself.
async fn admin_client(state: &AppState, token: &str) -> Result<bool, ApiError> {
    let oauth = state.oauth();
    let Some(access) = oauth.access_token(token).await? else {
        return Ok(false);
    };
    if access.subject.is_some() || !access.has_scope(ADMIN_SCOPE) {
        return Ok(false);
    }
    let Some(client) = oauth.client(&access.client_id).await? else {
        return Ok(false);
    };
    Ok(client.origin == ClientOrigin::Operator && client.scopes.iter().any(|s| s == ADMIN_SCOPE))
}
