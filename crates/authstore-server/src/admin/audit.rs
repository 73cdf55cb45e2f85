//! The security events an operator asks for: by user, client, action prefix and time, the newest N.

use std::time::SystemTime;

use authstore::audit::AuditEvent;

use super::AdminError;
use crate::state::AppState;

/// Which events.
#[derive(Debug, Clone)]
pub(crate) struct AuditQuery<'a> {
    /// The events of this user (as the event names them).
    pub user: Option<&'a str>,
    /// The events about this client: its id as the resource or as `metadata.client_id`.
    pub client: Option<&'a str>,
    /// Actions starting with this.
    pub action: Option<&'a str>,
    /// From this time (included).
    pub from: SystemTime,
    /// Until this time (excluded).
    pub to: SystemTime,
    /// At most this many, the newest.
    pub limit: usize,
}

fn about_client(event: &AuditEvent, client_id: &str) -> bool {
    event.resource.as_deref() == Some(client_id)
        || event
            .metadata
            .get("client_id")
            .and_then(|v| v.as_str())
            .is_some_and(|c| c == client_id)
}

/// The events `query` selects, oldest first.
pub(crate) async fn events(
    state: &AppState,
    query: &AuditQuery<'_>,
) -> Result<Vec<AuditEvent>, AdminError> {
    if query.from >= query.to {
        return Err(AdminError::Invalid("since must be before until".into()));
    }
    let log = state.audit_log().events();
    let events = match query.user {
        Some(user) => log.by_user(user, query.from, query.to).await?,
        None => log.in_time_range(query.from, query.to).await?,
    };
    let mut events: Vec<AuditEvent> = events
        .into_iter()
        .filter(|e| query.client.is_none_or(|c| about_client(e, c)))
        .filter(|e| query.action.is_none_or(|p| e.action.starts_with(p)))
        .collect();
    let skip = events.len().saturating_sub(query.limit);
    events.drain(..skip);
    Ok(events)
}
