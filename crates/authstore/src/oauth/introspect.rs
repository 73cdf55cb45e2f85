//! Reading and ending tokens: RFC 7662 introspection and RFC 7009 revocation of access and refresh tokens.

use serde::Serialize;

use super::token::{AccessRecord, Head, RefreshRecord, access_key, head_key, refresh_key};
use super::{Client, OAuth, OAuthError};
use crate::ext::StoreExt;
use crate::secret;

/// What introspection says of an active token (RFC 7662).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Always true (inactive tokens are `None`).
    pub active: bool,
    /// The client it was issued to.
    pub client_id: String,
    /// The user, for tokens of a user's grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Space-separated scopes.
    pub scope: String,
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// The resource (RFC 8707) the token is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The token (and, for a refresh token, its whole grant) is revoked.
    Revoked,
    /// No such live token (RFC 7009 still answers 200).
    NotFound,
    /// The token belongs to another client; nothing was revoked.
    WrongClient,
}

impl OAuth {
    /// What an active access token stands for, for a resource server sharing
    /// this store: one lookup by the token's hash; `None` for an unknown,
    /// expired or revoked token (or a refresh token). Revoking a grant
    /// deletes its access tokens, and a token written while its grant was
    /// being revoked is deleted before it is handed out, so the record alone
    /// is enough.
    ///
    /// # Errors
    /// Store errors.
    pub async fn access_token(
        &self,
        token: &str,
    ) -> Result<Option<super::resource::AccessToken>, OAuthError> {
        if !super::keys::is_token_shaped(token) && !super::jwt::is_jwt_shaped(token) {
            return Ok(None);
        }
        let key = access_key(token);
        let Some(found) = self.store.get_json::<AccessRecord>(&key).await? else {
            return Ok(None);
        };
        let r = found.value;
        if r.expires_at <= self.now() {
            return Ok(None);
        }
        Ok(Some(super::resource::AccessToken {
            subject: r.subject,
            client_id: r.client_id,
            scopes: r.scope,
            audience: r.resource,
            expires_at: r.expires_at / 1000,
            grant_id: r.grant_id,
        }))
    }

    /// What an active access or refresh token stands for; `None` for an
    /// unknown, expired or revoked one, or a refresh token already rotated.
    ///
    /// # Errors
    /// Store errors.
    pub async fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, OAuthError> {
        if !super::keys::is_token_shaped(token) && !super::jwt::is_jwt_shaped(token) {
            return Ok(None);
        }
        let hash = secret::sha256_hex(token);
        if let Some(found) = self
            .store
            .get_json::<AccessRecord>(&access_key(token))
            .await?
        {
            let r = found.value;
            if let Some(grant_id) = &r.grant_id
                && self.live_grant(grant_id).await?.is_none()
            {
                return Ok(None);
            }
            return Ok(Some(TokenInfo {
                active: true,
                client_id: r.client_id,
                sub: r.subject,
                scope: r.scope.join(" "),
                token_type: "access_token",
                exp: r.expires_at / 1000,
                iat: r.issued_at / 1000,
                aud: r.resource,
            }));
        }
        let Some(found) = self
            .store
            .get_json::<RefreshRecord>(&refresh_key(token))
            .await?
        else {
            return Ok(None);
        };
        let r = found.value;
        let head = self.store.get_json::<Head>(&head_key(&r.grant_id)).await?;
        if head.is_none_or(|h| h.value.head != hash) {
            return Ok(None);
        }
        let Some(grant) = self.live_grant(&r.grant_id).await? else {
            return Ok(None);
        };
        let exp = found
            .expires_at
            .map_or(0, |at| crate::clock::system_time_to_millis(at) / 1000);
        Ok(Some(TokenInfo {
            active: true,
            client_id: r.client_id,
            sub: grant.subject,
            scope: grant.scope.join(" "),
            token_type: "refresh_token",
            exp,
            iat: r.issued_at / 1000,
            // A refresh token serves each of its grant's resources: one
            // is its audience, several (or none) leave `aud` out.
            aud: match <[String; 1]>::try_from(grant.resources) {
                Ok([only]) => Some(only),
                Err(_) => None,
            },
        }))
    }

    /// RFC 7009 revocation by `client`: looks the token up as either type
    /// whatever the hint. An access token is deleted; a refresh token
    /// revokes its whole grant, access tokens included.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<RevokeOutcome, OAuthError> {
        if !super::keys::is_token_shaped(token) && !super::jwt::is_jwt_shaped(token) {
            return Ok(RevokeOutcome::NotFound);
        }
        if let Some(found) = self
            .store
            .get_json::<AccessRecord>(&access_key(token))
            .await?
        {
            if found.value.client_id != client.client_id {
                return Ok(RevokeOutcome::WrongClient);
            }
            self.store.delete(&access_key(token)).await?;
            return Ok(RevokeOutcome::Revoked);
        }
        if let Some(found) = self
            .store
            .get_json::<RefreshRecord>(&refresh_key(token))
            .await?
        {
            if found.value.client_id != client.client_id {
                return Ok(RevokeOutcome::WrongClient);
            }
            self.revoke_grant(&found.value.grant_id).await?;
            return Ok(RevokeOutcome::Revoked);
        }
        Ok(RevokeOutcome::NotFound)
    }
}
