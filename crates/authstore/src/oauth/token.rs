//! Access and refresh tokens: issued under a grant, refresh tokens rotated by compare-and-set on the grant's head (one live chain; a retry within the grace window gets the same successor back; other reuse revokes the grant), RFC 7009 revocation and RFC 7662 introspection.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::code::{GrantRecord, check_scope};
use super::sealed::{self, Successor};
use super::{Client, GrantType, OAuth, OAuthError, grant_index};
use crate::clock::duration_to_millis;
use crate::ext::StoreExt;
use crate::secret;
use crate::types::PutOptions;

/// Lost compare-and-set races after which a refresh gives up.
const CAS_ATTEMPTS: usize = 1000;

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
/// the replaced token (see [`sealed`]), for retries within the grace window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Head {
    pub(super) head: String,
    #[serde(default)]
    previous: Option<String>,
    #[serde(default)]
    rotated_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    successor: Option<String>,
}

/// The scopes of a refresh: `requested` may narrow the grant's, never widen them.
fn refresh_scope(
    client: &Client,
    grant: &GrantRecord,
    requested: Option<&[String]>,
) -> Result<Vec<String>, OAuthError> {
    let scope = match requested {
        Some(requested) if requested.iter().any(|s| !grant.scope.contains(s)) => {
            return Err(OAuthError::InvalidScope(
                "a refresh cannot widen the grant's scopes".into(),
            ));
        }
        Some(requested) if !requested.is_empty() => requested.to_vec(),
        _ => grant.scope.clone(),
    };
    check_scope(client, &scope)?;
    Ok(scope)
}

/// Yields after the first lost rotation race; after more, sleeps a random
/// time of up to 2 ms per lost race (at most 20 ms), so that many
/// concurrent refreshes of one token take turns instead of all retrying at
/// once (each success is one compare-and-set on the head, which every other
/// contender then loses).
async fn back_off(attempt: usize) {
    if attempt == 0 {
        tokio::task::yield_now().await;
        return;
    }
    let cap = attempt.min(10) as u64 * 2000;
    let jitter = getrandom::u64().unwrap_or(attempt as u64) % cap;
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}

/// A refresh token presented for rotation, with what it was found to belong to.
struct Presented<'a> {
    token: &'a str,
    hash: &'a str,
    grant_id: &'a str,
    grant: &'a GrantRecord,
}

pub(super) fn access_key(hash: &str) -> String {
    format!("oauth-at:{hash}")
}

pub(super) fn refresh_key(hash: &str) -> String {
    format!("oauth-rt:{hash}")
}

pub(super) fn head_key(grant_id: &str) -> String {
    format!("oauth-rt-head:{grant_id}")
}

impl OAuth {
    /// Stores a new access token; returns it.
    async fn new_access_token(&self, record: &AccessRecord) -> Result<String, OAuthError> {
        let token = self.mint_access_token(record).await?;
        self.store_access_token(&token, record).await?;
        Ok(token)
    }

    /// Draws (or, for JWTs, signs) an access token for `record`, unstored.
    async fn mint_access_token(&self, record: &AccessRecord) -> Result<String, OAuthError> {
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
                    "jti": secret::random_token()?,
                });
                self.sign_jwt(&claims).await?
            }
            None => secret::random_token()?,
        })
    }

    /// Stores the record of an access token (by its hash).
    async fn store_access_token(
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
            .put_json(&access_key(&secret::sha256_hex(token)), record, options)
            .await?;
        Ok(())
    }

    /// Stores the record of a refresh token (by its hash).
    async fn store_refresh_token(
        &self,
        hash: &str,
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
            .put_json(&refresh_key(hash), &record, options)
            .await?;
        Ok(())
    }

    fn access_record(
        &self,
        grant_id: Option<&str>,
        client_id: &str,
        grant: Option<&GrantRecord>,
        scope: &[String],
    ) -> AccessRecord {
        let now = self.now();
        AccessRecord {
            grant_id: grant_id.map(str::to_owned),
            client_id: client_id.to_owned(),
            subject: grant.and_then(|g| g.subject.clone()),
            scope: scope.to_vec(),
            resource: grant.and_then(|g| g.resource.clone()),
            issued_at: now,
            expires_at: now + duration_to_millis(self.config.access_token_ttl),
        }
    }

    fn response(
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
        }
    }

    /// Refuses tokens written while a concurrent request revoked the grant.
    async fn confirm_grant(&self, grant_id: &str) -> Result<(), OAuthError> {
        if self.live_grant(grant_id).await?.is_none() {
            self.store.delete_index(&grant_index(grant_id)).await?;
            return Err(OAuthError::InvalidGrant("the grant was revoked"));
        }
        Ok(())
    }

    /// The first tokens of a grant, after its code was redeemed (`grant`
    /// was live when the redemption took effect).
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
        let record =
            self.access_record(Some(grant_id), &client.client_id, Some(grant), &grant.scope);
        // The writes are independent (each creates a fresh key), so they go
        // out together: one round trip on a pipelining backend, not three.
        let refresh = async {
            if !client.allows(GrantType::RefreshToken) {
                return Ok(None);
            }
            let token = secret::random_token()?;
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
                self.store_refresh_token(&hash, grant_id, &client.client_id),
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
        if self.live_grant(grant_id).await?.is_none() {
            self.store.delete_index(&grant_index(grant_id)).await?;
        }
        Ok(self.response(access, refresh, &grant.scope))
    }

    /// Exchanges a refresh token for new tokens, rotating it.
    ///
    /// The grant's head names its one live refresh token; rotation replaces
    /// it by compare-and-set, so concurrent refreshes never fork the chain.
    /// The successor's records are written just before that compare-and-set,
    /// so the successor works the moment the head names it; a refresh that
    /// loses the race deletes them again (nobody ever held them).
    ///
    /// The token the head replaced may be presented again within
    /// [`refresh_grace`](super::OAuthConfig::refresh_grace) of that rotation
    /// (a client retrying after a lost response, or a request that raced the
    /// rotating one): it gets the very response of that rotation back, the
    /// same access and refresh tokens (`expires_in` counts down), and
    /// nothing rotates. The response is kept in the head encrypted under a
    /// key derived from the replaced token, which is never stored (see
    /// `sealed`). A retry asking for other scopes than the rotation granted
    /// is refused with [`OAuthError::InvalidGrant`] and revokes nothing. Any
    /// other use of an old token is reuse and revokes the grant, whatever
    /// scope it asks for. `scope` may narrow the grant's scopes. Each
    /// rotation extends the grant's lifetime to
    /// [`refresh_token_ttl`](super::OAuthConfig::refresh_token_ttl), and a
    /// client registered with a lifetime (see
    /// [`register_client_with_ttl`](OAuth::register_client_with_ttl)) too.
    ///
    /// Of many concurrent refreshes of one token within the grace window,
    /// one rotates and every other gets its response: all return the same
    /// tokens. A refresh that loses the compare-and-set reads the head
    /// again (after a short random back-off from its second loss on).
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`], [`OAuthError::InvalidScope`],
    /// [`OAuthError::UnauthorizedClient`]; store errors.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&[String]>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows(GrantType::RefreshToken) {
            return Err(OAuthError::UnauthorizedClient("the client may not refresh"));
        }
        let unknown = OAuthError::InvalidGrant("unknown, expired or revoked refresh token");
        if !secret::is_token_shaped(refresh_token) {
            return Err(unknown);
        }
        let hash = secret::sha256_hex(refresh_token);
        let Some(record) = self
            .store
            .get_json::<RefreshRecord>(&refresh_key(&hash))
            .await?
        else {
            return Err(unknown);
        };
        let record = record.value;
        if record.client_id != client.client_id {
            return Err(OAuthError::InvalidGrant(
                "the refresh token belongs to another client",
            ));
        }
        let grant = self.live_grant(&record.grant_id).await?.ok_or(unknown)?;
        let presented = Presented {
            token: refresh_token,
            hash: &hash,
            grant_id: &record.grant_id,
            grant: &grant,
        };
        let grace = duration_to_millis(self.config.refresh_grace);
        for attempt in 0..CAS_ATTEMPTS {
            let Some(found) = self
                .store
                .get_json::<Head>(&head_key(&record.grant_id))
                .await?
            else {
                return Err(OAuthError::InvalidGrant(
                    "unknown, expired or revoked refresh token",
                ));
            };
            let now = self.now();
            let head = found.value;
            if head.head == hash {
                // Checked after reuse detection, so that a replayed token
                // revokes its grant whatever scope it asks for.
                let scope = refresh_scope(client, &grant, scope)?;
                match self
                    .rotate(client, &presented, &scope, found.version, now)
                    .await?
                {
                    Some(response) => return Ok(response),
                    None => back_off(attempt).await,
                }
            } else if head.previous.as_deref() == Some(hash.as_str())
                && grace > 0
                && now.saturating_sub(head.rotated_at) <= grace
            {
                return self.replay(client, &presented, &head, scope, now);
            } else {
                self.revoke_grant(&record.grant_id).await?;
                return Err(OAuthError::InvalidGrant(
                    "refresh token reuse; the grant is revoked",
                ));
            }
        }
        Err(OAuthError::InvalidGrant(
            "the refresh token is being used concurrently",
        ))
    }

    /// One rotation of the head (read at `version`) from the presented
    /// token to a new one; `None` when another request moved the head first.
    async fn rotate(
        &self,
        client: &Client,
        presented: &Presented<'_>,
        scope: &[String],
        version: u64,
        now: u64,
    ) -> Result<Option<TokenResponse>, OAuthError> {
        let grant_id = presented.grant_id;
        let token = secret::random_token()?;
        let next = secret::sha256_hex(&token);
        let access_record = self.access_record(
            Some(grant_id),
            &client.client_id,
            Some(presented.grant),
            scope,
        );
        let access = self.mint_access_token(&access_record).await?;
        let successor = if self.config.refresh_grace.is_zero() {
            None
        } else {
            let kept = Successor {
                access_token: access.clone(),
                refresh_token: token.clone(),
                scope: scope.to_vec(),
                expires_at: access_record.expires_at,
            };
            Some(sealed::seal(presented.token, grant_id, &next, &kept)?)
        };
        tokio::try_join!(
            self.store_refresh_token(&next, grant_id, &client.client_id),
            self.store_access_token(&access, &access_record),
        )?;
        let moved = Head {
            head: next.clone(),
            previous: Some(presented.hash.to_owned()),
            rotated_at: now,
            successor,
        };
        let options = PutOptions::new()
            .ttl(self.config.refresh_token_ttl)
            .if_version(version)
            .index(grant_index(grant_id));
        if let Err(e) = self
            .store
            .put_json(&head_key(grant_id), &moved, options)
            .await
        {
            // Nobody holds the successor: its records go again. Were a
            // delete to fail, the record stays unusable (a refresh token
            // that never was the head, an access token nobody has) until
            // it expires.
            let (refresh_entry, access_entry) =
                (refresh_key(&next), access_key(&secret::sha256_hex(&access)));
            let _ = tokio::join!(
                self.store.delete(&refresh_entry),
                self.store.delete(&access_entry),
            );
            return if e.is_condition_failed() {
                Ok(None)
            } else {
                Err(e.into())
            };
        }
        // The grant's lifetime extended from this refresh, and the
        // client's if it has one: independent writes, sent together.
        tokio::try_join!(
            async {
                self.store
                    .touch(&Self::grant_key(grant_id), self.grant_ttl())
                    .await
                    .map_err(OAuthError::from)
            },
            self.extend_client(client),
        )?;
        self.confirm_grant(grant_id).await?;
        Ok(Some(self.response(access, Some(token), scope)))
    }

    /// A retry of the rotation that replaced the presented token, within
    /// the grace window: that rotation's response again.
    fn replay(
        &self,
        client: &Client,
        presented: &Presented<'_>,
        head: &Head,
        requested: Option<&[String]>,
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let kept = head
            .successor
            .as_deref()
            .and_then(|s| sealed::open(presented.token, presented.grant_id, &head.head, s))
            .ok_or(OAuthError::InvalidGrant(
                "the refresh token was already rotated",
            ))?;
        let scope = refresh_scope(client, presented.grant, requested)?;
        let mut asked = scope;
        let mut granted = kept.scope.clone();
        asked.sort_unstable();
        granted.sort_unstable();
        if asked != granted {
            return Err(OAuthError::InvalidGrant(
                "the refresh token was already rotated for other scopes",
            ));
        }
        Ok(TokenResponse {
            access_token: kept.access_token,
            token_type: "Bearer",
            expires_in: kept.expires_at.saturating_sub(now) / 1000,
            refresh_token: Some(kept.refresh_token),
            scope: kept.scope.join(" "),
        })
    }

    /// Client credentials grant: an access token for the client itself.
    ///
    /// # Errors
    /// [`OAuthError::UnauthorizedClient`] unless the client is confidential
    /// and allowed the grant; [`OAuthError::InvalidScope`]; store errors.
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&[String]>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.is_confidential() || !client.allows(GrantType::ClientCredentials) {
            return Err(OAuthError::UnauthorizedClient(
                "the client may not use client_credentials",
            ));
        }
        let scope = match scope {
            Some(s) if !s.is_empty() => s.to_vec(),
            _ => client.scopes.clone(),
        };
        check_scope(client, &scope)?;
        let record = self.access_record(None, &client.client_id, None, &scope);
        let (access, ()) =
            tokio::try_join!(self.new_access_token(&record), self.extend_client(client))?;
        Ok(self.response(access, None, &scope))
    }

    /// How long a remembered consent lasts by default (90 days).
    pub fn default_consent_ttl() -> Duration {
        Duration::from_secs(90 * 24 * 3600)
    }
}
