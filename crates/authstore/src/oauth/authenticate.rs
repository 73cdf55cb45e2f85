//! Client authentication at the token, revocation and introspection endpoints: the secret against its argon2id hash, remembered per process once verified.

use super::client::now_secs;
use super::{Client, OAuth, OAuthError};

impl OAuth {
    /// Authenticates a client: a confidential client must present its
    /// unexpired secret, a public one none. An unknown client, or a known
    /// one with a wrong secret, costs one argon2id verification; the right
    /// secret costs one per [`OAuthConfig::secret_cache_ttl`](super::OAuthConfig::secret_cache_ttl)
    /// and stored hash, then a constant-time HMAC comparison.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`]; store errors.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let client = self.client(client_id).await?;
        let hash = client.as_ref().and_then(|c| c.secret_hash.clone());
        match (client, secret) {
            (Some(client), None) if client.secret_hash.is_none() => Ok(client),
            (client, Some(secret)) => {
                let now = self.now();
                let id = client.as_ref().map_or("", |c| c.client_id.as_str());
                let recalled = hash
                    .as_deref()
                    .is_some_and(|h| self.verified.recalls(id, h, secret, now));
                let matched = recalled || self.hasher.verify(hash.as_deref(), secret).await?;
                if let (true, false, Some(h)) = (matched, recalled, hash.as_deref()) {
                    self.verified.remember(id, h, secret, now);
                }
                let client = client
                    .filter(|_| matched)
                    .ok_or(OAuthError::InvalidClient)?;
                let expired = client
                    .secret_expires_at
                    .is_some_and(|at| at <= now_secs(self));
                if expired {
                    Err(OAuthError::InvalidClient)
                } else {
                    Ok(client)
                }
            }
            _ => Err(OAuthError::InvalidClient),
        }
    }
}
