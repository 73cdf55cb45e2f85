//! Operator actions on stored clients: list them, change their metadata, rotate a confidential client's secret.

use std::time::Duration;

use super::client::{Client, NewClient, RegisteredClient, now_secs};
use super::client_registry::validate_new;
use super::jwt::SigningAlg;
use super::{GrantType, OAuth, OAuthError};
use crate::ext::{StoreExt, Versioned};
use crate::secret;
use crate::types::PutOptions;

/// Entries read per scan page when listing clients.
const PAGE: usize = 500;

/// Lost compare-and-set races after which an update gives up.
const UPDATE_ATTEMPTS: u32 = 8;

/// Changes to a stored client; a `None` field stays as it is. The result
/// follows the registration rules (RFC 7591) like a new client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChanges {
    /// Display name.
    pub name: Option<String>,
    /// Every redirect URI (replaces the list).
    pub redirect_uris: Option<Vec<String>>,
    /// Every scope it may request (replaces the list).
    pub scopes: Option<Vec<String>>,
    /// Every grant type (replaces the list).
    pub grant_types: Option<Vec<GrantType>>,
    /// The algorithm of its ID tokens; `Some(None)`: the server's default.
    pub id_token_alg: Option<Option<SigningAlg>>,
}

impl ClientChanges {
    fn apply(&self, client: &mut Client) {
        if let Some(name) = &self.name {
            name.trim().clone_into(&mut client.name);
        }
        if let Some(uris) = &self.redirect_uris {
            client.redirect_uris.clone_from(uris);
        }
        if let Some(scopes) = &self.scopes {
            client.scopes.clone_from(scopes);
        }
        if let Some(grants) = &self.grant_types {
            client.grant_types.clone_from(grants);
        }
        if let Some(alg) = self.id_token_alg {
            client.id_token_alg = alg;
        }
    }
}

/// The registration rules, applied to a stored client's metadata.
fn validate(client: &Client) -> Result<(), OAuthError> {
    validate_new(&NewClient {
        name: client.name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        scopes: client.scopes.clone(),
        grant_types: client.grant_types.clone(),
        auth_method: client.auth_method,
        secret_ttl: None,
        origin: client.origin,
        id_token_alg: client.id_token_alg,
    })
}

/// Options that keep what is left of a stored entry's lifetime at
/// `now_ms`, written only over the version that was read.
fn keep_lifetime(found: &Versioned<Client>, now_ms: u64) -> PutOptions {
    let options = PutOptions::new().if_version(found.version);
    match found.expires_at {
        Some(at) => {
            let left = crate::clock::system_time_to_millis(at).saturating_sub(now_ms);
            options.ttl(Duration::from_millis(left.max(1)))
        }
        None => options,
    }
}

impl OAuth {
    /// One page of stored clients in key order (`limit` at most, at least
    /// one) and the cursor of the next page, `None` after the last.
    /// Clients of metadata documents are not stored as clients and are not
    /// listed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn clients_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Client>, Option<String>), OAuthError> {
        let page = self
            .store
            .scan("oauth-client:", cursor, limit.clamp(1, PAGE))
            .await?;
        let now = now_secs(self);
        let clients = page
            .entries
            .iter()
            .filter_map(|e| {
                let client = serde_json::from_slice::<Client>(&e.value).ok()?;
                Some(Client {
                    expires_at: e.ttl.map(|ttl| now + ttl.as_secs()),
                    ..client
                })
            })
            .collect();
        Ok((clients, page.cursor))
    }

    /// Every stored client, by name and then id.
    ///
    /// # Errors
    /// Store errors.
    pub async fn clients(&self) -> Result<Vec<Client>, OAuthError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (clients, next) = self.clients_page(cursor.as_deref(), PAGE).await?;
            all.extend(clients);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        all.sort_by(|a, b| (&a.name, &a.client_id).cmp(&(&b.name, &b.client_id)));
        Ok(all)
    }

    /// Applies `changes` to a stored client with a version check (its
    /// secret, origin and remaining lifetime kept); `None` if there is no
    /// such client. Grants already issued keep the scopes they have.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClientMetadata`] or
    /// [`OAuthError::InvalidRedirectUri`] if the result breaks the
    /// registration rules; store errors.
    pub async fn update_client(
        &self,
        client_id: &str,
        changes: &ClientChanges,
    ) -> Result<Option<Client>, OAuthError> {
        self.rewrite_client(client_id, |client| {
            changes.apply(client);
            validate(client)
        })
        .await
    }

    /// Gives a confidential client a new 256-bit secret (stored as
    /// argon2id, valid for `secret_ttl` or without expiry) and returns it
    /// in the clear, once. The old secret stops working at once. `None` if
    /// there is no such client.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClientMetadata`] for a public client; store errors.
    pub async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_ttl: Option<Duration>,
    ) -> Result<Option<RegisteredClient>, OAuthError> {
        let secret = secret::random_token()?;
        let hash = self.hasher.hash(&secret).await?;
        let now = now_secs(self);
        let client = self
            .rewrite_client(client_id, |client| {
                if !client.is_confidential() {
                    return Err(OAuthError::InvalidClientMetadata(
                        "a public client has no secret".into(),
                    ));
                }
                client.secret_hash = Some(hash.clone());
                client.secret_expires_at = secret_ttl.map(|ttl| now + ttl.as_secs().max(1));
                Ok(())
            })
            .await?;
        Ok(client.map(|client| RegisteredClient {
            client,
            secret: Some(secret),
        }))
    }

    /// Reads the client, applies `change` and writes it back over the
    /// version read, retried on a concurrent write. Any remembered secret
    /// check of the client is forgotten.
    async fn rewrite_client(
        &self,
        client_id: &str,
        mut change: impl FnMut(&mut Client) -> Result<(), OAuthError>,
    ) -> Result<Option<Client>, OAuthError> {
        if !super::client::is_scope_token(client_id) || client_id.len() > 128 {
            return Ok(None);
        }
        let key = Self::client_key(client_id);
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(found) = self.store.get_json::<Client>(&key).await? else {
                return Ok(None);
            };
            let mut client = found.value.clone();
            change(&mut client)?;
            match self
                .store
                .put_json(&key, &client, keep_lifetime(&found, self.now()))
                .await
            {
                Ok(_) => {
                    self.verified.forget(client_id);
                    return Ok(Some(client));
                }
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OAuthError::Store(crate::error::Error::Contended {
            key,
            attempts: UPDATE_ATTEMPTS,
        }))
    }
}
