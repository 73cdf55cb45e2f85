//! A user's and a client's live grants: listed with what they allow and when they were last used, and revoked all at once.

use super::code::GrantRecord;
use super::token::{Head, head_key};
use super::{OAuth, OAuthError};
use crate::ext::StoreExt;

/// The index of a user's grants.
pub(super) fn user_grants_index(subject: &str) -> String {
    format!("oauth-user-grants:{subject}")
}

/// The index of a client's grants.
pub(super) fn client_grants_index(client_id: &str) -> String {
    format!("oauth-client-grants:{client_id}")
}

/// A live grant, as [`OAuth::user_grants`] and [`OAuth::client_grants`] list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSummary {
    /// The grant's id (what [`OAuth::revoke_grant`] takes).
    pub grant_id: String,
    /// The client it was granted to.
    pub client_id: String,
    /// The user who approved it (`None` for a client's own grant).
    pub subject: Option<String>,
    /// The approved scopes.
    pub scope: Vec<String>,
    /// The resources (RFC 8707) its tokens may be for; empty: none named.
    pub resources: Vec<String>,
    /// When it was approved, ms since the Unix epoch.
    pub created_at: u64,
    /// When its refresh token was last used, else when it was approved,
    /// ms since the Unix epoch.
    pub last_used_at: u64,
}

impl OAuth {
    /// The live grants of `subject` (a user id), oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn user_grants(&self, subject: &str) -> Result<Vec<GrantSummary>, OAuthError> {
        self.grants_listed(&user_grants_index(subject)).await
    }

    /// The live grants of `client_id`, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn client_grants(&self, client_id: &str) -> Result<Vec<GrantSummary>, OAuthError> {
        self.grants_listed(&client_grants_index(client_id)).await
    }

    /// Revokes every grant of `subject` and everything issued under them
    /// (see [`revoke_grant`](Self::revoke_grant)); returns how many were live.
    ///
    /// # Errors
    /// Store errors; the grants revoked before the error stay revoked.
    pub async fn revoke_user_grants(&self, subject: &str) -> Result<u64, OAuthError> {
        self.revoke_listed(&user_grants_index(subject), |_| true)
            .await
    }

    /// Revokes every grant of `client_id` and everything issued under them;
    /// returns how many were live.
    ///
    /// # Errors
    /// Store errors; the grants revoked before the error stay revoked.
    pub async fn revoke_client_grants(&self, client_id: &str) -> Result<u64, OAuthError> {
        self.revoke_listed(&client_grants_index(client_id), |_| true)
            .await
    }

    /// Revokes the grants `subject` gave `client_id` ("remove this app"),
    /// and everything issued under them; returns how many were live.
    ///
    /// # Errors
    /// Store errors; the grants revoked before the error stay revoked.
    pub async fn revoke_user_client_grants(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<u64, OAuthError> {
        self.revoke_listed(&user_grants_index(subject), |g| g.client_id == client_id)
            .await
    }

    /// Removes everything the OAuth module keeps for `subject`: its
    /// grants, live or revoked, with every code and token issued under
    /// them, and its remembered consents. For deleting a user; to end a
    /// user's access and keep the revoked grants' record until they
    /// expire, use [`revoke_user_grants`](Self::revoke_user_grants).
    /// Returns how many grants were live.
    ///
    /// # Errors
    /// Store errors; what was removed before the error stays removed.
    pub async fn erase_user(&self, subject: &str) -> Result<u64, OAuthError> {
        let index = user_grants_index(subject);
        let mut live = 0;
        for key in self.store.list_index(&index).await? {
            let Some(grant_id) = super::keys::grant_id_of_key(&key) else {
                continue;
            };
            live += u64::from(self.revoke_grant(grant_id).await?);
            self.store.delete(&head_key(grant_id)).await?;
            self.store.delete(&key).await?;
        }
        self.store.delete_index(&index).await?;
        self.store
            .delete_index(&format!("oauth-consents:{subject}"))
            .await?;
        Ok(live)
    }

    /// The live grants listed under `index`, oldest first.
    async fn grants_listed(&self, index: &str) -> Result<Vec<GrantSummary>, OAuthError> {
        let mut out = Vec::new();
        for key in self.store.list_index(index).await? {
            let Some(grant_id) = super::keys::grant_id_of_key(&key) else {
                continue;
            };
            let Some(found) = self.store.get_json::<GrantRecord>(&key).await? else {
                continue;
            };
            let grant = found.value;
            if grant.revoked {
                continue;
            }
            let rotated_at = self
                .store
                .get_json::<Head>(&head_key(grant_id))
                .await?
                .map_or(0, |h| h.value.rotated_at);
            out.push(GrantSummary {
                grant_id: grant_id.to_owned(),
                last_used_at: rotated_at.max(grant.created_at),
                client_id: grant.client_id,
                subject: grant.subject,
                scope: grant.scope,
                resources: grant.resources,
                created_at: grant.created_at,
            });
        }
        out.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
        Ok(out)
    }

    /// Revokes the live grants under `index` that `pick` selects.
    async fn revoke_listed(
        &self,
        index: &str,
        pick: impl Fn(&GrantSummary) -> bool,
    ) -> Result<u64, OAuthError> {
        let mut revoked = 0;
        for grant in self.grants_listed(index).await? {
            if pick(&grant) && self.revoke_grant(&grant.grant_id).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}
