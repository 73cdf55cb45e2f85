//! Client registration and lookup in the store: RFC 7591 rules, secrets drawn and stored as argon2id, configured clients created or replaced by compare-and-set, and lifetimes that use extends.

use std::time::Duration;

use super::client::{
    AuthMethod, Client, GrantType, NewClient, RegisteredClient, Upserted, is_scope_token, now_secs,
};
use super::redirect_uri::validate_redirect_uri;
use super::{OAuth, OAuthError};
use crate::ext::StoreExt;
use crate::secret;
use crate::types::PutOptions;

/// The registration rules (RFC 7591) every new or replaced client follows.
pub(super) fn validate_new(new: &NewClient) -> Result<(), OAuthError> {
    let meta = |why: &str| Err(OAuthError::InvalidClientMetadata(why.into()));
    if new.name.trim().is_empty() || new.name.len() > 200 {
        return meta("client_name must be 1 to 200 bytes");
    }
    if new.grant_types.is_empty() {
        return meta("at least one grant type is required");
    }
    let public = new.auth_method == AuthMethod::None;
    if public && new.grant_types.contains(&GrantType::ClientCredentials) {
        return meta("client_credentials needs a confidential client");
    }
    if new.grant_types.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
        return meta("authorization_code needs at least one redirect URI");
    }
    if new.redirect_uris.len() > 20 || new.scopes.len() > 100 {
        return meta("at most 20 redirect URIs and 100 scopes");
    }
    for uri in &new.redirect_uris {
        validate_redirect_uri(uri)?;
    }
    if let Some(bad) = new.scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(OAuthError::InvalidClientMetadata(format!(
            "bad scope {bad:?}"
        )));
    }
    Ok(())
}

impl OAuth {
    pub(super) fn client_key(client_id: &str) -> String {
        format!("oauth-client:{client_id}")
    }

    /// Registers a client (RFC 7591 rules): validates its redirect URIs and
    /// grant types, draws a 256-bit client id and, for a confidential
    /// client, a 256-bit secret stored as argon2id. The client lives until
    /// it is deleted; see [`register_client_with_ttl`](Self::register_client_with_ttl)
    /// for one that expires when unused.
    ///
    /// # Errors
    /// [`OAuthError::InvalidRedirectUri`], [`OAuthError::InvalidClientMetadata`]; store errors.
    pub async fn register_client(&self, new: NewClient) -> Result<RegisteredClient, OAuthError> {
        self.register_client_with_ttl(new, None).await
    }

    /// Registers a client like [`register_client`](Self::register_client)
    /// whose record expires `lifetime` after its registration (`None` or
    /// zero: never). Use extends it: each successful code exchange, refresh
    /// or client credentials grant of the client moves its expiry to
    /// `lifetime` from then, at most once per quarter of `lifetime` (so a
    /// busy client costs one extra write per quarter, not one per request).
    /// An unused client disappears from the store with its record; its
    /// grants stay until they expire but can no longer be refreshed. The
    /// secret's own expiry ([`NewClient::secret_ttl`]) is not extended.
    ///
    /// # Errors
    /// As [`register_client`](Self::register_client).
    pub async fn register_client_with_ttl(
        &self,
        new: NewClient,
        lifetime: Option<Duration>,
    ) -> Result<RegisteredClient, OAuthError> {
        validate_new(&new)?;
        let lifetime = lifetime
            .filter(|d| !d.is_zero())
            .map(|d| d.max(Duration::from_secs(1)));
        let public = new.auth_method == AuthMethod::None;
        let secret = if public {
            None
        } else {
            Some(secret::random_token()?)
        };
        let secret_hash = match &secret {
            Some(s) => Some(self.hasher.hash(s).await?),
            None => None,
        };
        let now = now_secs(self);
        let client = Client {
            client_id: secret::random_token()?,
            name: new.name.trim().to_owned(),
            secret_hash,
            redirect_uris: new.redirect_uris,
            scopes: new.scopes,
            grant_types: new.grant_types,
            auth_method: new.auth_method,
            created_at: now,
            secret_expires_at: new
                .secret_ttl
                .filter(|_| !public)
                .map(|ttl| now + ttl.as_secs().max(1)),
            origin: new.origin,
            lifetime_secs: lifetime.map(|d| d.as_secs()),
            id_token_alg: new.id_token_alg,
            expires_at: lifetime.map(|d| now + d.as_secs()),
        };
        let mut options = PutOptions::new().create_only();
        if let Some(lifetime) = lifetime {
            options = options.ttl(lifetime);
        }
        self.store
            .put_json(&Self::client_key(&client.client_id), &client, options)
            .await?;
        Ok(RegisteredClient { client, secret })
    }

    /// Moves the expiry of a client registered with a lifetime to
    /// `lifetime` from now, once a quarter of it has passed since the last
    /// move (judged by [`Client::expires_at`] as read). A no-op for clients
    /// without a lifetime. Never re-creates a deleted or expired client.
    ///
    /// # Errors
    /// Store errors.
    pub(super) async fn extend_client(&self, client: &Client) -> Result<(), OAuthError> {
        let Some(lifetime) = client.lifetime_secs.filter(|l| *l > 0) else {
            return Ok(());
        };
        let now = now_secs(self);
        let remaining = client.expires_at.map_or(0, |at| at.saturating_sub(now));
        if remaining > lifetime - lifetime / 4 {
            return Ok(());
        }
        self.store
            .touch(
                &Self::client_key(&client.client_id),
                Duration::from_secs(lifetime),
            )
            .await?;
        Ok(())
    }

    /// Creates or replaces the client under a given `client_id` with a
    /// given secret, for clients declared in configuration. Validated like
    /// [`register_client`](Self::register_client); the secret of a
    /// confidential client must be at least 32 characters and is stored as
    /// argon2id. An existing client whose metadata is the same and whose
    /// stored hash verifies `secret` is left untouched, so applying the same
    /// configuration again writes nothing. A replacement keeps `created_at`
    /// and is written with the version check.
    ///
    /// # Errors
    /// [`OAuthError::InvalidClientMetadata`], [`OAuthError::InvalidRedirectUri`]; store errors.
    pub async fn put_client(
        &self,
        client_id: &str,
        new: NewClient,
        secret: Option<&str>,
    ) -> Result<(Client, Upserted), OAuthError> {
        validate_new(&new)?;
        if !is_scope_token(client_id) || client_id.len() > 128 {
            return Err(OAuthError::InvalidClientMetadata(
                "client_id must be 1 to 128 printable characters".into(),
            ));
        }
        let public = new.auth_method == AuthMethod::None;
        match (public, secret) {
            (true, Some(_)) => {
                return Err(OAuthError::InvalidClientMetadata(
                    "a public client has no secret".into(),
                ));
            }
            (false, None) => {
                return Err(OAuthError::InvalidClientMetadata(
                    "a confidential client needs a secret".into(),
                ));
            }
            (false, Some(s)) if s.chars().count() < 32 => {
                return Err(OAuthError::InvalidClientMetadata(
                    "a client secret needs at least 32 characters".into(),
                ));
            }
            _ => {}
        }
        let key = Self::client_key(client_id);
        for _ in 0..4 {
            let existing = self.store.get_json::<Client>(&key).await?;
            let kept_hash = match (&existing, secret) {
                (Some(found), Some(s))
                    if self
                        .hasher
                        .verify(found.value.secret_hash.as_deref(), s)
                        .await? =>
                {
                    found.value.secret_hash.clone()
                }
                _ => None,
            };
            let secret_hash = match (kept_hash.clone(), secret) {
                (Some(hash), _) => Some(hash),
                (None, Some(s)) => Some(self.hasher.hash(s).await?),
                (None, None) => None,
            };
            let client = Client {
                client_id: client_id.to_owned(),
                name: new.name.trim().to_owned(),
                secret_hash,
                redirect_uris: new.redirect_uris.clone(),
                scopes: new.scopes.clone(),
                grant_types: new.grant_types.clone(),
                auth_method: new.auth_method,
                created_at: existing
                    .as_ref()
                    .map_or_else(|| now_secs(self), |f| f.value.created_at),
                secret_expires_at: None,
                origin: new.origin,
                lifetime_secs: None,
                id_token_alg: new.id_token_alg,
                expires_at: None,
            };
            let (options, outcome) = match &existing {
                Some(found) if found.value == client => return Ok((client, Upserted::Unchanged)),
                Some(found) => (
                    PutOptions::new().if_version(found.version),
                    Upserted::Updated,
                ),
                None => (PutOptions::new().create_only(), Upserted::Created),
            };
            match self.store.put_json(&key, &client, options).await {
                Ok(_) => return Ok((client, outcome)),
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OAuthError::Store(crate::error::Error::Contended {
            key,
            attempts: 4,
        }))
    }

    /// The client with this id, if registered. For a URL `client_id`, the
    /// client of its metadata document once resolved and while cached
    /// (see [`cimd`](super::cimd)), else a client stored under that id.
    ///
    /// # Errors
    /// Store errors.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, OAuthError> {
        if super::cimd::is_document_url(client_id)
            && client_id.len() <= super::cimd::MAX_URL_BYTES
            && let Some(client) = self.cached_document_client(client_id).await?
        {
            return Ok(Some(client));
        }
        if !is_scope_token(client_id) || client_id.len() > 128 {
            return Ok(None);
        }
        Ok(self
            .store
            .get_json::<Client>(&Self::client_key(client_id))
            .await?
            .map(|found| Client {
                expires_at: found
                    .expires_at
                    .map(|at| crate::clock::system_time_to_millis(at) / 1000),
                ..found.value
            }))
    }

    /// Deletes a client. Its grants stay until they expire or are revoked.
    ///
    /// # Errors
    /// Store errors.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, OAuthError> {
        self.verified.forget(client_id);
        Ok(self.store.delete(&Self::client_key(client_id)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client registered with a lifetime is gone once it passed unused;
    /// each code exchange, refresh or client credentials grant extends it
    /// (at most once per quarter of it); one without a lifetime stays.
    #[tokio::test]
    async fn registered_clients_expire_unless_used() {
        use crate::oauth::{AuthorizationRequest, OAuthConfig, pkce_challenge};
        let day = Duration::from_secs(24 * 3600);
        let clock = crate::FakeClock::new();
        let store = std::sync::Arc::new(
            crate::MemoryStore::builder()
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        let config = OAuthConfig {
            secret_hash_memory_kib: 1024,
            secret_hash_iterations: 1,
            refresh_token_ttl: 400 * day,
            ..OAuthConfig::default()
        };
        let oauth = OAuth::with_config(store, config, clock.clone()).unwrap();
        let register = |ttl: Option<Duration>| {
            let oauth = oauth.clone();
            async move {
                oauth
                    .register_client_with_ttl(NewClient::public("app", "http://127.0.0.1/cb"), ttl)
                    .await
                    .unwrap()
                    .client
            }
        };
        let idle = register(Some(90 * day)).await;
        let busy = register(Some(90 * day)).await;
        let forever = register(None).await;
        assert_eq!(idle.lifetime_secs, Some(90 * 24 * 3600));
        assert_eq!(
            oauth
                .client(&idle.client_id)
                .await
                .unwrap()
                .unwrap()
                .expires_at,
            Some(now_secs(&oauth) + 90 * 24 * 3600),
            "the stored record expires with the lifetime"
        );
        clock.advance(10 * day);
        let verifier = "v".repeat(43);
        let code = oauth
            .issue_code(&AuthorizationRequest {
                client_id: busy.client_id.clone(),
                redirect_uri: "http://127.0.0.1:9/cb".into(),
                scope: vec![],
                code_challenge: pkce_challenge(&verifier),
                subject: "u-1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let fresh = oauth.client(&busy.client_id).await.unwrap().unwrap();
        let tokens = oauth
            .exchange_code(&fresh, &code, "http://127.0.0.1:9/cb", &verifier)
            .await
            .unwrap();
        let at = |c: &Client| c.expires_at.unwrap();
        let read = oauth.client(&busy.client_id).await.unwrap().unwrap();
        assert_eq!(
            at(&read),
            at(&fresh),
            "not extended within the first quarter"
        );
        clock.advance(60 * day);
        let read = oauth.client(&busy.client_id).await.unwrap().unwrap();
        let refreshed = oauth
            .refresh(&read, tokens.refresh_token.as_deref().unwrap(), None)
            .await
            .unwrap();
        assert!(refreshed.refresh_token.is_some());
        let extended = oauth.client(&busy.client_id).await.unwrap().unwrap();
        assert_eq!(
            at(&extended),
            now_secs(&oauth) + 90 * 24 * 3600,
            "a refresh 70 days in extends the client to 90 days from now"
        );
        clock.advance(21 * day);
        assert!(
            oauth.client(&idle.client_id).await.unwrap().is_none(),
            "idle: gone after 91 days"
        );
        assert!(
            oauth.client(&busy.client_id).await.unwrap().is_some(),
            "used: still there"
        );
        assert!(oauth.client(&forever.client_id).await.unwrap().is_some());
        clock.advance(70 * day);
        assert!(
            oauth.client(&busy.client_id).await.unwrap().is_none(),
            "unused since: gone"
        );
        assert!(oauth.client(&forever.client_id).await.unwrap().is_some());
    }
}
