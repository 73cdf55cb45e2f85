//! Clients: list and show them (with their live grants), change their metadata, rotate a secret, delete one with its grants.

use std::time::Duration;

use authstore::audit::{AuditEvent, Outcome};
use authstore::oauth::ClientChanges;
use serde::Serialize;

use super::AdminError;
use super::views::{ClientView, GrantView};
use crate::state::AppState;

/// A client with its live grants.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ClientDetail {
    /// The client.
    #[serde(flatten)]
    pub client: ClientView,
    /// Its live grants.
    pub grants: Vec<GrantView>,
}

/// A client and its secret, shown once (at registration or rotation).
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct WithSecret {
    /// The client.
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret (a confidential client's), in the clear this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for WithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithSecret")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// What deleting a client removed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Deleted {
    /// The client as it was.
    #[serde(flatten)]
    pub client: ClientView,
    /// Live grants revoked, with every token issued under them.
    pub grants_revoked: u64,
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::NotFound(format!("no client {client_id:?}"))
}

async fn audit(state: &AppState, action: &str, client_id: &str) {
    state
        .audit(
            AuditEvent::new(action, Outcome::Success)
                .resource(client_id)
                .meta("by", "operator"),
        )
        .await;
}

/// Registers a client created by the operator.
pub(crate) async fn create(
    state: &AppState,
    new: authstore::oauth::NewClient,
) -> Result<WithSecret, AdminError> {
    let registered = state.oauth().register_client(new).await?;
    audit(state, "client.created", &registered.client.client_id).await;
    Ok(WithSecret {
        client: ClientView::from(&registered.client),
        client_secret: registered.secret,
    })
}

/// Every stored client, by name.
pub(crate) async fn list(state: &AppState) -> Result<Vec<ClientView>, AdminError> {
    let clients = state.oauth().clients().await?;
    Ok(clients.iter().map(ClientView::from).collect())
}

/// One client, with its live grants.
pub(crate) async fn show(state: &AppState, client_id: &str) -> Result<ClientDetail, AdminError> {
    let client = state
        .oauth()
        .client(client_id)
        .await?
        .ok_or_else(|| not_found(client_id))?;
    let grants = state.oauth().client_grants(&client.client_id).await?;
    Ok(ClientDetail {
        client: ClientView::from(&client),
        grants: grants.iter().map(GrantView::from).collect(),
    })
}

/// Changes what `changes` names; the rest stays.
pub(crate) async fn update(
    state: &AppState,
    client_id: &str,
    changes: &ClientChanges,
) -> Result<ClientView, AdminError> {
    let client = state
        .oauth()
        .update_client(client_id, changes)
        .await?
        .ok_or_else(|| not_found(client_id))?;
    audit(state, "client.updated", client_id).await;
    Ok(ClientView::from(&client))
}

/// Gives a confidential client a new secret; the old one stops working.
pub(crate) async fn rotate_secret(
    state: &AppState,
    client_id: &str,
    secret_ttl: Option<Duration>,
) -> Result<WithSecret, AdminError> {
    let rotated = state
        .oauth()
        .rotate_client_secret(client_id, secret_ttl)
        .await?
        .ok_or_else(|| not_found(client_id))?;
    audit(state, "client.secret_rotated", client_id).await;
    Ok(WithSecret {
        client: ClientView::from(&rotated.client),
        client_secret: rotated.secret,
    })
}

/// Deletes a client after revoking its grants, so that no token issued to
/// it keeps working.
pub(crate) async fn delete(state: &AppState, client_id: &str) -> Result<Deleted, AdminError> {
    let client = state
        .oauth()
        .client(client_id)
        .await?
        .filter(|c| c.origin != authstore::oauth::ClientOrigin::MetadataDocument)
        .ok_or_else(|| not_found(client_id))?;
    let grants_revoked = state.oauth().revoke_client_grants(client_id).await?;
    state.oauth().delete_client(client_id).await?;
    audit(state, "client.deleted", client_id).await;
    Ok(Deleted {
        client: ClientView::from(&client),
        grants_revoked,
    })
}
