//! "Change password" on the account page: the current password checked and throttled like a sign-in, the new one confirmed, and the user's other sessions signed out.

use authstore::audit::{AuditEvent, Outcome};
use authstore::credentials::{LoginOutcome, client_network};
use authstore_axum::RequestSession;
use axum::extract::State;
use axum::extract::rejection::StringRejection;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use http::request::Parts;

use super::account::{account_page, user_form};
use super::{MAX_PASSWORD, client_of, set_retry_after};
use crate::state::AppState;

/// The shortest new password the page accepts (NIST SP 800-63B's minimum).
const MIN_NEW_PASSWORD: usize = 8;

/// `POST /account/password`: `current`, `new` and `confirm`.
pub(super) async fn change_password(
    State(state): State<AppState>,
    session: RequestSession,
    parts: Parts,
    body: Result<String, StringRejection>,
) -> Result<Response, authstore_axum::Error> {
    let (user, params) = match user_form(&state, &session, body).await? {
        Ok(form) => form,
        Err(response) => return Ok(response),
    };
    let field = |name: &str| params.get(name).map_or("", String::as_str);
    let (current, new) = (field("current"), field("new"));
    let refuse = |status: StatusCode, why: &'static str| (status, why);
    let problem = if current.is_empty() || current.len() > MAX_PASSWORD {
        Some(refuse(
            StatusCode::BAD_REQUEST,
            "Enter your current password.",
        ))
    } else if new.chars().count() < MIN_NEW_PASSWORD || new.len() > MAX_PASSWORD {
        Some(refuse(
            StatusCode::BAD_REQUEST,
            "The new password needs 8 to 1024 characters.",
        ))
    } else if new != field("confirm") {
        Some(refuse(
            StatusCode::BAD_REQUEST,
            "The new passwords do not match.",
        ))
    } else {
        None
    };
    if let Some((status, why)) = problem {
        return account_page(&state, &session, parts, status, None, Some(why)).await;
    }
    // The login name the user signed in with (kept with the session user),
    // else the one registered under the user's id.
    let username = match user.email.clone() {
        Some(name) => Some(name),
        None => state
            .credentials()
            .user_by_id(&user.id)
            .await?
            .map(|u| u.username),
    };
    let Some(username) = username else {
        let why = "This account has no password to change.";
        return account_page(
            &state,
            &session,
            parts,
            StatusCode::CONFLICT,
            None,
            Some(why),
        )
        .await;
    };
    let network = state
        .client_ip(&parts)
        .map_or_else(|| "unknown".to_owned(), |ip| client_network(ip.0));
    let outcome = state
        .credentials()
        .authenticate_from(&username, current, &network)
        .await?;
    let (ip, agent) = client_of(&state, &parts);
    match outcome {
        LoginOutcome::Authenticated { user_id } if user_id == user.id => {}
        LoginOutcome::LockedOut { retry_after } => {
            let why = "Too many wrong passwords. Wait and try again.";
            let mut response = account_page(
                &state,
                &session,
                parts,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(why),
            )
            .await?;
            set_retry_after(&mut response, retry_after);
            return Ok(response);
        }
        _ => {
            state
                .audit(
                    AuditEvent::new("password.change_refused", Outcome::Failure)
                        .user(&user.id)
                        .client(ip, agent),
                )
                .await;
            let why = "The current password is wrong.";
            return account_page(
                &state,
                &session,
                parts,
                StatusCode::FORBIDDEN,
                None,
                Some(why),
            )
            .await;
        }
    }
    state.credentials().set_password(&username, new).await?;
    let ended = match session.handle().await? {
        Some(current) => state.sessions().revoke_all_but(&user.id, &current).await?,
        None => 0,
    };
    state
        .audit(
            AuditEvent::new("password.changed", Outcome::Success)
                .user(&user.id)
                .client(ip, agent)
                .meta("sessions_ended", ended)
                .meta("by", "user"),
        )
        .await;
    let to = format!(
        "{}/account?password=changed",
        state.settings().issuer_path()
    );
    Ok(Redirect::to(&to).into_response())
}
