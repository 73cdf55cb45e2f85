//! Access and refresh token records and their store keys, the first tokens of a grant after its code is redeemed, and the client credentials grant.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::code::{GrantRecord, check_scope};
use super::{Client, GrantType, OAuth, OAuthError, grant_index};
use crate::clock::duration_to_millis;
use crate::ext::StoreExt;
use crate::secret;
use crate::types::PutOptions;

/// A token endpoint response (RFC 6749 §5.1). Tokens never appear in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The OpenID Connect ID token, when the grant's scope has `openid`
    /// and [`OAuthConfig::openid`](super::OAuthConfig::openid) is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct AccessRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) grant_id: Option<String>,
    pub(super) client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) subject: Option<String>,
    pub(super) scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) resource: Option<String>,
    pub(super) issued_at: u64,
    pub(super) expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RefreshRecord {
    pub(super) grant_id: String,
    pub(super) client_id: String,
    pub(super) issued_at: u64,
}

/// The grant's refresh chain: the one live refresh token (by hash), the one
/// it replaced, and the response of that rotation sealed for the holder of
/// the replaced token (see [`sealed`](super::sealed)), for retries within
/// the grace window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Head {
    pub(super) head: String,
    #[serde(default)]
    pub(super) previous: Option<String>,
    #[serde(default)]
    pub(super) rotated_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) successor: Option<String>,
}

pub(super) use super::keys::{access_key, head_key, refresh_key};

impl OAuth {
    /// Stores a new access token; returns it.
    async fn new_access_token(&self, record: &AccessRecord) -> Result<String, OAuthError> {
        let token = self.mint_access_token(record).await?;
        self.store_access_token(&token, record).await?;
        Ok(token)
    }

    /// Draws (or, for JWTs, signs) an access token for `record`, unstored.
    pub(super) async fn mint_access_token(
        &self,
        record: &AccessRecord,
    ) -> Result<String, OAuthError> {
        Ok(match &self.config.jwt_issuer {
            Some(issuer) => {
                // RFC 9068 §2.2: a client's own token has the client as subject.
                let claims = serde_json::json!({
                    "iss": issuer,
                    "sub": record.subject.as_deref().unwrap_or(&record.client_id),
                    "aud": record.resource.as_deref().unwrap_or(issuer),
                    "client_id": record.client_id,
                    "scope": record.scope.join(" "),
                    "iat": record.issued_at / 1000,
                    "exp": record.expires_at / 1000,
                    "jti": match &record.grant_id {
                        Some(grant_id) => super::keys::grant_token(grant_id)?,
                        None => secret::random_token()?,
                    },
                });
                self.sign_jwt(self.config.access_token_alg, "at+jwt", &claims)
                    .await?
            }
            None => match &record.grant_id {
                Some(grant_id) => super::keys::grant_token(grant_id)?,
                None => secret::random_token()?,
            },
        })
    }

    /// Stores the record of an access token (by its hash).
    pub(super) async fn store_access_token(
        &self,
        token: &str,
        record: &AccessRecord,
    ) -> Result<(), OAuthError> {
        let mut options = PutOptions::new()
            .ttl(self.config.access_token_ttl)
            .create_only();
        if let Some(grant_id) = &record.grant_id {
            options = options.index(grant_index(grant_id));
        }
        self.store
            .put_json(&access_key(token), record, options)
            .await?;
        Ok(())
    }

    /// Stores the record of a refresh token (by its hash).
    pub(super) async fn store_refresh_token(
        &self,
        token: &str,
        grant_id: &str,
        client_id: &str,
    ) -> Result<(), OAuthError> {
        let record = RefreshRecord {
            grant_id: grant_id.to_owned(),
            client_id: client_id.to_owned(),
            issued_at: self.now(),
        };
        let options = PutOptions::new()
            .ttl(self.config.refresh_token_ttl)
            .create_only()
            .index(grant_index(grant_id));
        self.store
            .put_json(&refresh_key(token), &record, options)
            .await?;
        Ok(())
    }

    pub(super) fn access_record(
        &self,
        grant_id: Option<&str>,
        client_id: &str,
        grant: Option<&GrantRecord>,
        scope: &[String],
        resource: Option<&str>,
    ) -> AccessRecord {
        let now = self.now();
        AccessRecord {
            grant_id: grant_id.map(str::to_owned),
            client_id: client_id.to_owned(),
            subject: grant.and_then(|g| g.subject.clone()),
            scope: scope.to_vec(),
            resource: resource.map(str::to_owned),
            issued_at: now,
            expires_at: now + duration_to_millis(self.config.access_token_ttl),
        }
    }

    pub(super) fn response(
        &self,
        access_token: String,
        refresh_token: Option<String>,
        scope: &[String],
    ) -> TokenResponse {
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl.as_secs(),
            refresh_token,
            scope: scope.join(" "),
            id_token: None,
        }
    }

    /// The first tokens of a grant, after its code was redeemed (`grant`
    /// was live when the redemption took effect), as the access token sees
    /// it ([`GrantRecord::for_token`]: its one audience and scopes).
    ///
    /// Not refused when a concurrent reuse revoked the grant meanwhile (see
    /// [`exchange_code`](OAuth::exchange_code)): the tokens are then dead
    /// on arrival, and whatever was written after the revocation swept the
    /// grant's index is swept again.
    pub(crate) async fn tokens_for_grant(
        &self,
        client: &Client,
        grant_id: &str,
        grant: &GrantRecord,
    ) -> Result<TokenResponse, OAuthError> {
        let record = self.access_record(
            Some(grant_id),
            &client.client_id,
            Some(grant),
            &grant.scope,
            grant.audience(),
        );
        // The writes are independent (each creates a fresh key), so they go
        // out together: one round trip on a pipelining backend, not three.
        let refresh = async {
            if !client.allows(GrantType::RefreshToken) {
                return Ok(None);
            }
            let token = super::keys::grant_token(grant_id)?;
            let hash = secret::sha256_hex(&token);
            let head = Head {
                head: hash.clone(),
                previous: None,
                rotated_at: 0,
                successor: None,
            };
            let options = PutOptions::new()
                .ttl(self.config.refresh_token_ttl)
                .create_only()
                .index(grant_index(grant_id));
            tokio::try_join!(
                self.store_refresh_token(&token, grant_id, &client.client_id),
                async {
                    self.store
                        .put_json(&head_key(grant_id), &head, options)
                        .await
                        .map_err(OAuthError::from)
                },
            )?;
            Ok::<_, OAuthError>(Some(token))
        };
        let (access, refresh, ()) = tokio::try_join!(
            self.new_access_token(&record),
            refresh,
            self.extend_client(client)
        )?;
        let id_token = self
            .id_token_for(client, grant, &grant.scope, &access, grant.nonce.as_deref())
            .await?;
        if self.live_grant(grant_id).await?.is_none() {
            self.store.delete_index(&grant_index(grant_id)).await?;
        }
        let mut response = self.response(access, refresh, &grant.scope);
        response.id_token = id_token;
        Ok(response)
    }

    /// Client credentials grant: an access token for the client itself,
    /// for the default resource (see
    /// [`KnownResources::default_resource`](super::KnownResources::default_resource)),
    /// if any.
    ///
    /// # Errors
    /// [`OAuthError::UnauthorizedClient`] unless the client is confidential
    /// and allowed the grant; [`OAuthError::InvalidScope`]; store errors.
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&[String]>,
    ) -> Result<TokenResponse, OAuthError> {
        self.client_credentials_for(client, scope, None).await
    }

    /// [`client_credentials`](Self::client_credentials) for `resource`
    /// (RFC 8707), the token's audience: a known resource (see
    /// [`OAuthConfig::resources`](super::OAuthConfig::resources)); none
    /// named, the default one. Requested scopes must be accepted by it;
    /// none requested, the token carries the client's scopes it accepts.
    ///
    /// # Errors
    /// As [`client_credentials`](Self::client_credentials), and
    /// [`OAuthError::InvalidTarget`] for an unknown resource.
    pub async fn client_credentials_for(
        &self,
        client: &Client,
        scope: Option<&[String]>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.is_confidential() || !client.allows(GrantType::ClientCredentials) {
            return Err(OAuthError::UnauthorizedClient(
                "the client may not use client_credentials",
            ));
        }
        let known = &self.config.resources;
        let audience = match resource {
            Some(r) => {
                known.check(r)?;
                Some(r)
            }
            None => known.default_resource(),
        };
        let requested = scope.filter(|s| !s.is_empty());
        if let Some(requested) = requested {
            check_scope(client, requested)?;
        }
        let scope = known.token_scope(audience, &client.scopes, requested)?;
        let record = self.access_record(None, &client.client_id, None, &scope, audience);
        let (access, ()) =
            tokio::try_join!(self.new_access_token(&record), self.extend_client(client))?;
        Ok(self.response(access, None, &scope))
    }

    /// How long a remembered consent lasts by default (90 days).
    pub fn default_consent_ttl() -> Duration {
        Duration::from_secs(90 * 24 * 3600)
    }
}
