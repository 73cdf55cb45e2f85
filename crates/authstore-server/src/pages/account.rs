//! `/account`: the apps a user gave access to (removing one ends its tokens at once), where the user is signed in (other sessions can be ended), the consents they asked to be remembered, and the change-password form.

use std::collections::BTreeMap;

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::ClientOrigin;
use authstore::session::{SessionHandle, SessionUser};
use authstore_axum::RequestSession;
use axum::extract::State;
use axum::extract::rejection::StringRejection;
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use http::request::Parts;

use super::authorize::parse_params;
use super::{client_of, csrf_token, oauth_error, render, unreadable_body};
use crate::state::AppState;

/// The account page: the apps with access, the remembered consents, sign-out.
pub(super) async fn account(
    State(state): State<AppState>,
    session: RequestSession,
    parts: Parts,
) -> Result<Response, authstore_axum::Error> {
    let changed = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "password=changed"));
    let notice =
        changed.then_some("Your password was changed, and your other sessions were signed out.");
    account_page(&state, &session, parts, StatusCode::OK, notice, None).await
}

/// The account page with `status`, a `notice` at the top and a
/// `password_error` by the change-password form.
pub(super) async fn account_page(
    state: &AppState,
    session: &RequestSession,
    mut parts: Parts,
    status: StatusCode,
    notice: Option<&str>,
    password_error: Option<&str>,
) -> Result<Response, authstore_axum::Error> {
    let Some(user) = session.user().await? else {
        return Ok(sign_in(state));
    };
    let mut consents = Vec::new();
    for consent in state
        .oauth()
        .consents(&user.id)
        .await
        .map_err(oauth_error)?
    {
        let Ok(Some(client)) = state.oauth().client(&consent.client_id).await else {
            continue;
        };
        consents.push(minijinja::context! {
            client_id => consent.client_id,
            name => client.name,
            unverified => client.origin != ClientOrigin::Operator,
            scopes => consent.scopes.join(" "),
            resources => consent.resources,
        });
    }
    let apps = apps_of(state, &user.id).await?;
    let current = session.handle().await?;
    let sessions: Vec<minijinja::Value> = state
        .sessions()
        .list_for_user(&user.id)
        .await?
        .into_iter()
        .map(|info| {
            minijinja::context! {
                handle => info.handle.as_str(),
                current => current.as_ref() == Some(&info.handle),
                device => info.meta.device.or(info.meta.user_agent).unwrap_or_else(|| "Unknown device".into()),
                ip => info.meta.ip,
                signed_in => httpdate::fmt_http_date(info.created_at),
                last_seen => httpdate::fmt_http_date(info.last_seen),
            }
        })
        .collect();
    let csrf = csrf_token(&mut parts, state).await?;
    Ok(render(
        state,
        status,
        "account.html",
        minijinja::context! {
            user => user.email.clone().unwrap_or(user.id.clone()),
            apps => apps,
            sessions => sessions,
            consents => consents,
            notice => notice,
            password_error => password_error,
            csrf => csrf.token(),
        },
    ))
}

/// The user's live grants, one row per app: what it may do, since when,
/// and when it last refreshed its access.
async fn apps_of(
    state: &AppState,
    user_id: &str,
) -> Result<Vec<minijinja::Value>, authstore_axum::Error> {
    let grants = state
        .oauth()
        .user_grants(user_id)
        .await
        .map_err(oauth_error)?;
    let mut by_client: BTreeMap<String, AppRow> = BTreeMap::new();
    for grant in grants {
        let row = by_client.entry(grant.client_id.clone()).or_default();
        for scope in grant.scope {
            if !row.scopes.contains(&scope) {
                row.scopes.push(scope);
            }
        }
        for resource in grant.resources {
            if !row.resources.contains(&resource) {
                row.resources.push(resource);
            }
        }
        row.created_at = if row.created_at == 0 {
            grant.created_at
        } else {
            row.created_at.min(grant.created_at)
        };
        row.last_used_at = row.last_used_at.max(grant.last_used_at);
    }
    let mut apps = Vec::with_capacity(by_client.len());
    for (client_id, row) in by_client {
        // A client deleted since is no app to show; its grants are dead.
        let Ok(Some(client)) = state.oauth().client(&client_id).await else {
            continue;
        };
        apps.push(minijinja::context! {
            client_id => client_id,
            name => client.name,
            unverified => client.origin != ClientOrigin::Operator,
            scopes => row.scopes.join(" "),
            resources => row.resources,
            created => http_date(row.created_at),
            last_used => http_date(row.last_used_at),
        });
    }
    Ok(apps)
}

/// One app's grants on the account page, merged.
#[derive(Default)]
struct AppRow {
    scopes: Vec<String>,
    resources: Vec<String>,
    created_at: u64,
    last_used_at: u64,
}

/// `ms` since the Unix epoch as an HTTP date (`Fri, 04 Dec 2026 05:00:00 GMT`).
fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// "Remove this app": revokes every grant the user gave the client (its
/// access and refresh tokens stop working at once) and forgets the
/// remembered consent, so the app must ask again.
pub(super) async fn revoke_app(
    State(state): State<AppState>,
    session: RequestSession,
    parts: Parts,
    body: Result<String, StringRejection>,
) -> Result<Response, authstore_axum::Error> {
    let (user, params) = match user_form(&state, &session, body).await? {
        Ok(form) => form,
        Err(response) => return Ok(response),
    };
    if let Some(client_id) = params.get("client_id") {
        let oauth = state.oauth();
        let revoked = oauth
            .revoke_user_client_grants(&user.id, client_id)
            .await
            .map_err(oauth_error)?;
        let forgot = oauth
            .revoke_consent(&user.id, client_id)
            .await
            .map_err(oauth_error)?;
        if revoked > 0 || forgot {
            let (ip, agent) = client_of(&state, &parts);
            state
                .audit(
                    AuditEvent::new("grant.revoked", Outcome::Success)
                        .user(&user.id)
                        .resource(client_id)
                        .client(ip, agent)
                        .meta("grants", revoked)
                        .meta("by", "user"),
                )
                .await;
        }
    }
    Ok(back_to_account(&state))
}

/// Forgets one remembered consent (or all of a client's); tokens already
/// issued stay valid.
pub(super) async fn revoke_consent(
    State(state): State<AppState>,
    session: RequestSession,
    parts: Parts,
    body: Result<String, StringRejection>,
) -> Result<Response, authstore_axum::Error> {
    let (user, params) = match user_form(&state, &session, body).await? {
        Ok(form) => form,
        Err(response) => return Ok(response),
    };
    if let Some(client_id) = params.get("client_id") {
        // `resources` (space-separated) names one consent of the client;
        // without it, every consent of the client goes.
        let resources: Option<Vec<String>> = params.get("resources").map(|r| {
            r.split(' ')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        });
        let removed = match &resources {
            Some(resources) => {
                state
                    .oauth()
                    .revoke_consent_for(&user.id, client_id, resources)
                    .await
            }
            None => state.oauth().revoke_consent(&user.id, client_id).await,
        }
        .map_err(oauth_error)?;
        if removed {
            let (ip, agent) = client_of(&state, &parts);
            state
                .audit(
                    AuditEvent::new("consent.revoked", Outcome::Success)
                        .user(&user.id)
                        .resource(client_id)
                        .client(ip, agent),
                )
                .await;
        }
    }
    Ok(back_to_account(&state))
}

/// "Sign out" of one of the user's other sessions (`handle`), or of every
/// other one (`others`); the current session stays.
pub(super) async fn revoke_sessions(
    State(state): State<AppState>,
    session: RequestSession,
    parts: Parts,
    body: Result<String, StringRejection>,
) -> Result<Response, authstore_axum::Error> {
    let (user, params) = match user_form(&state, &session, body).await? {
        Ok(form) => form,
        Err(response) => return Ok(response),
    };
    let Some(current) = session.handle().await? else {
        return Ok(sign_in(&state));
    };
    let sessions = state.sessions();
    let ended = if params.contains_key("others") {
        sessions.revoke_all_but(&user.id, &current).await?
    } else if let Some(handle) = params
        .get("handle")
        .and_then(|h| SessionHandle::parse(h))
        .filter(|h| *h != current)
    {
        // Only a session of this user: a handle is no proof of ownership.
        let owned = sessions
            .list_for_user(&user.id)
            .await?
            .iter()
            .any(|info| info.handle == handle);
        u64::from(owned && sessions.revoke(&handle).await?)
    } else {
        0
    };
    if ended > 0 {
        let (ip, agent) = client_of(&state, &parts);
        state
            .audit(
                AuditEvent::new("session.revoked", Outcome::Success)
                    .user(&user.id)
                    .client(ip, agent)
                    .meta("sessions", ended)
                    .meta("by", "user"),
            )
            .await;
    }
    Ok(back_to_account(&state))
}

/// The fields of a signed-in user's form post, or the answer that ends the
/// request: the sign-in page's address, or an unreadable body's error.
pub(super) async fn user_form(
    state: &AppState,
    session: &RequestSession,
    body: Result<String, StringRejection>,
) -> Result<Result<(SessionUser, BTreeMap<String, String>), Response>, authstore_axum::Error> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return Ok(Err(unreadable_body(state, &rejection))),
    };
    let Some(user) = session.user().await? else {
        return Ok(Err(sign_in(state)));
    };
    Ok(Ok((user, parse_params(&body).unwrap_or_default())))
}

pub(super) fn sign_in(state: &AppState) -> Response {
    Redirect::to(&format!("{}/login", state.settings().issuer_path())).into_response()
}

fn back_to_account(state: &AppState) -> Response {
    Redirect::to(&format!("{}/account", state.settings().issuer_path())).into_response()
}
