//! Remembered consent: what a user approved for a client and a set of resources (RFC 8707), so a later request for no more than that can skip the consent page.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{OAuth, OAuthError};
use crate::ext::StoreExt;
use crate::secret;
use crate::types::PutOptions;

impl OAuth {
    /// Remembers that `subject` approved `scopes` for `client_id`, for
    /// tokens meant for `resources` (RFC 8707; empty for none). Replaces
    /// the client's earlier remembered consent for the same set of
    /// resources; consents for other sets are kept.
    ///
    /// A server should not remember consents for public clients: anyone
    /// can send their client id with a redirect URI of their own choosing
    /// (any loopback port), so a remembered consent would let them take a
    /// code without the user seeing anything (RFC 9700 §4.1).
    ///
    /// # Errors
    /// Store errors.
    pub async fn remember_consent(
        &self,
        subject: &str,
        client_id: &str,
        scopes: &[String],
        resources: &[String],
        ttl: Duration,
    ) -> Result<(), OAuthError> {
        let resources = resource_set(resources);
        let record = ConsentRecord {
            version: CONSENT_VERSION,
            client_id: client_id.to_owned(),
            scopes: scopes.to_vec(),
            resources,
        };
        self.store
            .put_json(
                &consent_key(subject, client_id, &record.resources),
                &record,
                PutOptions::new()
                    .ttl(ttl)
                    .index(format!("oauth-consents:{subject}")),
            )
            .await?;
        Ok(())
    }

    /// The remembered consent stored under `key`, if it is of the current
    /// format (earlier ones, not bound to a set of resources, read as none).
    async fn consent_record(&self, key: &str) -> Result<Option<ConsentRecord>, OAuthError> {
        let Some(entry) = self.store.get(key).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<ConsentRecord>(&entry.value)
            .ok()
            .filter(|r| r.version == CONSENT_VERSION))
    }

    /// Whether `subject` has a remembered consent for `client_id` that
    /// covers `scopes` (each one approved) for exactly the set of
    /// `resources` (order and repeats aside; a consent given without a
    /// resource covers only requests without one).
    ///
    /// # Errors
    /// Store errors.
    pub async fn has_consent(
        &self,
        subject: &str,
        client_id: &str,
        scopes: &[String],
        resources: &[String],
    ) -> Result<bool, OAuthError> {
        let resources = resource_set(resources);
        let key = consent_key(subject, client_id, &resources);
        Ok(self.consent_record(&key).await?.is_some_and(|r| {
            r.client_id == client_id
                && r.resources == resources
                && scopes.iter().all(|s| r.scopes.contains(s))
        }))
    }

    /// The remembered consents of `subject`: one per client and set of
    /// resources.
    ///
    /// # Errors
    /// Store errors.
    pub async fn consents(&self, subject: &str) -> Result<Vec<RememberedConsent>, OAuthError> {
        let mut out = Vec::new();
        for key in self
            .store
            .list_index(&format!("oauth-consents:{subject}"))
            .await?
        {
            if let Some(record) = self.consent_record(&key).await? {
                out.push(RememberedConsent {
                    client_id: record.client_id,
                    scopes: record.scopes,
                    resources: record.resources,
                });
            }
        }
        Ok(out)
    }

    /// Forgets every remembered consent of `subject` for `client_id`,
    /// whatever its resources; the next authorization asks again. Returns
    /// whether there was one.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_consent(&self, subject: &str, client_id: &str) -> Result<bool, OAuthError> {
        let mut any = false;
        for consent in self.consents(subject).await? {
            if consent.client_id == client_id {
                any |= self
                    .revoke_consent_for(subject, client_id, &consent.resources)
                    .await?;
            }
        }
        Ok(any)
    }

    /// Forgets the remembered consent of `subject` for `client_id` and
    /// exactly the set of `resources`; others are kept.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_consent_for(
        &self,
        subject: &str,
        client_id: &str,
        resources: &[String],
    ) -> Result<bool, OAuthError> {
        let key = consent_key(subject, client_id, &resource_set(resources));
        Ok(self.store.delete(&key).await?)
    }
}

/// `resources` as a set: sorted, without repeats.
fn resource_set(resources: &[String]) -> Vec<String> {
    let mut set = resources.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

/// The key of a consent for the set of `resources` (see [`resource_set`]).
fn consent_key(subject: &str, client_id: &str, resources: &[String]) -> String {
    let set = secret::sha256_hex(&resources.join("\n"));
    format!("oauth-consent:{subject}|{client_id}|{set}")
}

/// The format of consent records bound to a set of resources (earlier
/// records never match).
const CONSENT_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConsentRecord {
    #[serde(rename = "v")]
    version: u32,
    client_id: String,
    scopes: Vec<String>,
    resources: Vec<String>,
}

/// A consent a user asked to remember, as [`OAuth::consents`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedConsent {
    /// The client.
    pub client_id: String,
    /// The approved scopes.
    pub scopes: Vec<String>,
    /// The resources the approval is for, sorted (empty: none).
    pub resources: Vec<String>,
}
