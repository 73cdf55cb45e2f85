//! Refresh token rotation: compare-and-set on the grant's head (one live chain), the same response again for a retry within the grace window, and revocation of the grant on any other reuse.

use std::time::Duration;

use super::code::{GrantRecord, check_scope};
use super::sealed::{self, Successor};
use super::token::{Head, RefreshRecord, TokenResponse, access_key, head_key, refresh_key};
use super::{Client, GrantProblem, GrantType, OAuth, OAuthError, grant_index};
use crate::clock::duration_to_millis;
use crate::ext::StoreExt;
use crate::secret;
use crate::types::PutOptions;

/// Lost compare-and-set races after which a refresh gives up.
const CAS_ATTEMPTS: usize = 1000;

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

impl OAuth {
    /// The audience and scopes of a token from a refresh: `resource` picks
    /// one of the grant's resources and `requested` may narrow its scopes,
    /// never widen either; each scope must be accepted by the audience.
    fn refresh_view(
        &self,
        client: &Client,
        grant: &GrantRecord,
        resource: Option<&str>,
        requested: Option<&[String]>,
    ) -> Result<(Option<String>, Vec<String>), OAuthError> {
        let known = &self.config.resources;
        let audience = known.pick(&grant.resources, resource)?;
        let scope = refresh_scope(client, grant, requested)?;
        let explicit = requested.is_some_and(|r| !r.is_empty());
        let scope = known.token_scope(
            audience.as_deref(),
            &scope,
            explicit.then_some(scope.as_slice()),
        )?;
        Ok((audience, scope))
    }

    /// Refuses tokens written while a concurrent request revoked the grant.
    async fn confirm_grant(&self, grant_id: &str) -> Result<(), OAuthError> {
        if self.live_grant(grant_id).await?.is_none() {
            self.store.delete_index(&grant_index(grant_id)).await?;
            return Err(OAuthError::InvalidGrant(GrantProblem::Revoked));
        }
        Ok(())
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
    /// The access token is for the grant's only resource, if it has one;
    /// use [`refresh_for`](Self::refresh_for) to pick one of a grant for
    /// several.
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`], [`OAuthError::InvalidScope`],
    /// [`OAuthError::InvalidTarget`] (the grant is for several resources),
    /// [`OAuthError::UnauthorizedClient`]; store errors.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&[String]>,
    ) -> Result<TokenResponse, OAuthError> {
        self.refresh_for(client, refresh_token, scope, None).await
    }

    /// [`refresh`](Self::refresh) with the request's `resource` (RFC 8707
    /// §2.2): the new access token's audience, one of the grant's
    /// resources (the grant keeps all of them: a later refresh may name
    /// another). Without one, the grant's only resource; a grant for
    /// several needs one named. `scope` may narrow the grant's scopes, and
    /// each must be accepted by the audience; none named, the token
    /// carries the grant's scopes that its audience accepts. A retry
    /// within the grace window asking for another resource than the
    /// rotation granted is refused like one asking for other scopes.
    ///
    /// # Errors
    /// As [`refresh`](Self::refresh); [`OAuthError::InvalidTarget`] for a
    /// resource that is not one of the grant's.
    pub async fn refresh_for(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&[String]>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows(GrantType::RefreshToken) {
            return Err(OAuthError::UnauthorizedClient("the client may not refresh"));
        }
        let unknown = OAuthError::InvalidGrant(GrantProblem::UnknownRefreshToken);
        if !super::keys::is_token_shaped(refresh_token) {
            return Err(unknown);
        }
        if let Some(grant_id) = super::keys::token_grant(refresh_token) {
            return self
                .refresh_tagged(client, refresh_token, grant_id, scope, resource)
                .await;
        }
        let hash = secret::sha256_hex(refresh_token);
        let Some(record) = self
            .store
            .get_json::<RefreshRecord>(&refresh_key(refresh_token))
            .await?
        else {
            return Err(unknown);
        };
        let record = record.value;
        if record.client_id != client.client_id {
            return Err(OAuthError::InvalidGrant(
                GrantProblem::RefreshTokenOfAnotherClient,
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
                return Err(OAuthError::InvalidGrant(GrantProblem::UnknownRefreshToken));
            };
            let now = self.now();
            let head = found.value;
            if head.head == hash {
                // Checked after reuse detection, so that a replayed token
                // revokes its grant whatever scope it asks for.
                let (audience, scope) = self.refresh_view(client, &grant, resource, scope)?;
                match self
                    .rotate(
                        client,
                        &presented,
                        (&scope, audience.as_deref()),
                        found.version,
                        now,
                    )
                    .await?
                {
                    Some(response) => return Ok(response),
                    None => back_off(attempt).await,
                }
            } else if head.previous.as_deref() == Some(hash.as_str())
                && grace > 0
                && now.saturating_sub(head.rotated_at) <= grace
            {
                return self.replay(client, &presented, &head, (scope, resource), now);
            } else {
                self.revoke_grant(&record.grant_id).await?;
                return Err(OAuthError::InvalidGrant(GrantProblem::RefreshTokenReused));
            }
        }
        Err(OAuthError::InvalidGrant(GrantProblem::RefreshContended))
    }

    /// [`refresh_for`](Self::refresh_for) of a token of a tagged grant: the
    /// token's record, the grant's head and the grant are read together
    /// (their keys share the grant's hash tag), and a rotation is one
    /// commit that also checks the grant is unrevoked.
    async fn refresh_tagged(
        &self,
        client: &Client,
        refresh_token: &str,
        grant_id: &str,
        scope: Option<&[String]>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let unknown = || OAuthError::InvalidGrant(GrantProblem::UnknownRefreshToken);
        let hash = secret::sha256_hex(refresh_token);
        let grace = duration_to_millis(self.config.refresh_grace);
        let (record_key, head_key, grant_key) = (
            refresh_key(refresh_token),
            head_key(grant_id),
            Self::grant_key(grant_id),
        );
        for attempt in 0..CAS_ATTEMPTS {
            let (record, head, grant) = tokio::try_join!(
                self.store.get_json::<RefreshRecord>(&record_key),
                self.store.get_json::<Head>(&head_key),
                self.store.get_json::<GrantRecord>(&grant_key),
            )?;
            let Some(record) = record.map(|r| r.value) else {
                return Err(unknown());
            };
            if record.grant_id != grant_id {
                return Err(unknown());
            }
            if record.client_id != client.client_id {
                return Err(OAuthError::InvalidGrant(
                    GrantProblem::RefreshTokenOfAnotherClient,
                ));
            }
            let (Some(grant), Some(head)) = (grant.filter(|g| !g.value.revoked), head) else {
                return Err(unknown());
            };
            let presented = Presented {
                token: refresh_token,
                hash: &hash,
                grant_id,
                grant: &grant.value,
            };
            let now = self.now();
            if head.value.head == hash {
                let (audience, scope) = self.refresh_view(client, &grant.value, resource, scope)?;
                let view = grant.value.for_token(audience, scope);
                let rotated = self
                    .rotate_committed(
                        client,
                        (refresh_token, &hash, grant_id),
                        &view,
                        (head.version, grant.version),
                        now,
                    )
                    .await?;
                match rotated {
                    Some(response) => return Ok(response),
                    None => back_off(attempt).await,
                }
            } else if head.value.previous.as_deref() == Some(hash.as_str())
                && grace > 0
                && now.saturating_sub(head.value.rotated_at) <= grace
            {
                return self.replay(client, &presented, &head.value, (scope, resource), now);
            } else {
                self.revoke_grant(grant_id).await?;
                return Err(OAuthError::InvalidGrant(GrantProblem::RefreshTokenReused));
            }
        }
        Err(OAuthError::InvalidGrant(GrantProblem::RefreshContended))
    }

    /// One rotation of the head (read at `version`) from the presented
    /// token to a new one; `None` when another request moved the head first.
    async fn rotate(
        &self,
        client: &Client,
        presented: &Presented<'_>,
        (scope, audience): (&[String], Option<&str>),
        version: u64,
        now: u64,
    ) -> Result<Option<TokenResponse>, OAuthError> {
        let grant_id = presented.grant_id;
        let token = super::keys::grant_token(grant_id)?;
        let next = secret::sha256_hex(&token);
        let access_record = self.access_record(
            Some(grant_id),
            &client.client_id,
            Some(presented.grant),
            scope,
            audience,
        );
        let access = self.mint_access_token(&access_record).await?;
        let id_token = self
            .id_token_for(client, presented.grant, scope, &access, None)
            .await?;
        let successor = if self.config.refresh_grace.is_zero() {
            None
        } else {
            let kept = Successor {
                access_token: access.clone(),
                refresh_token: token.clone(),
                scope: scope.to_vec(),
                expires_at: access_record.expires_at,
                resource: access_record.resource.clone(),
                id_token: id_token.clone(),
            };
            Some(sealed::seal(presented.token, grant_id, &next, &kept)?)
        };
        tokio::try_join!(
            self.store_refresh_token(&token, grant_id, &client.client_id),
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
            let (refresh_entry, access_entry) = (refresh_key(&token), access_key(&access));
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
        let mut response = self.response(access, Some(token), scope);
        response.id_token = id_token;
        Ok(Some(response))
    }

    /// A retry of the rotation that replaced the presented token, within
    /// the grace window: that rotation's response again.
    fn replay(
        &self,
        client: &Client,
        presented: &Presented<'_>,
        head: &Head,
        (requested, resource): (Option<&[String]>, Option<&str>),
        now: u64,
    ) -> Result<TokenResponse, OAuthError> {
        let kept = head
            .successor
            .as_deref()
            .and_then(|s| sealed::open(presented.token, presented.grant_id, &head.head, s))
            .ok_or(OAuthError::InvalidGrant(GrantProblem::AlreadyRotated))?;
        let (audience, scope) = self.refresh_view(client, presented.grant, resource, requested)?;
        if audience != kept.resource {
            return Err(OAuthError::InvalidGrant(
                GrantProblem::RotatedForAnotherResource,
            ));
        }
        let mut asked = scope;
        let mut granted = kept.scope.clone();
        asked.sort_unstable();
        granted.sort_unstable();
        if asked != granted {
            return Err(OAuthError::InvalidGrant(
                GrantProblem::RotatedForOtherScopes,
            ));
        }
        Ok(TokenResponse {
            access_token: kept.access_token,
            token_type: "Bearer",
            expires_in: kept.expires_at.saturating_sub(now) / 1000,
            refresh_token: Some(kept.refresh_token),
            scope: kept.scope.join(" "),
            id_token: kept.id_token,
        })
    }
}
