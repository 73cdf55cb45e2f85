//! Redeeming a code and rotating a refresh token of a tagged grant, each as one [`Store::commit`](crate::Store::commit): the compare-and-set, the check that the grant is unrevoked and the new token records in one atomic step.

use super::code::{CodeRecord, GrantRecord};
use super::keys::{access_key, grant_index, grant_key, grant_token, head_key, refresh_key};
use super::sealed::{self, Successor};
use super::token::{AccessRecord, Head, RefreshRecord, TokenResponse};
use super::{Client, GrantProblem, GrantType, OAuth, OAuthError};
use crate::error::Error;
use crate::secret;
use crate::types::{PutItem, PutOptions, VersionCheck};

/// A value serialised for a commit.
fn json<T: serde::Serialize>(key: &str, value: &T) -> Result<Vec<u8>, OAuthError> {
    serde_json::to_vec(value).map_err(|source| {
        Error::Serde {
            key: key.to_owned(),
            source,
        }
        .into()
    })
}

/// The key whose condition failed, for a commit's condition errors.
fn failed_key(error: &Error) -> Option<&str> {
    match error {
        Error::AlreadyExists { key }
        | Error::NotFound { key }
        | Error::VersionConflict { key, .. } => Some(key),
        _ => None,
    }
}

/// The records a code redemption or a rotation writes: the access token,
/// and the refresh token with the grant's new head.
struct Issued {
    access: String,
    access_record: AccessRecord,
    refresh: Option<(String, RefreshRecord)>,
}

impl OAuth {
    /// The puts of new records, each listed under the grant: the access
    /// token first (with its lifetime), then the refresh token and head
    /// (with a refresh token's).
    fn token_puts<'a>(
        &self,
        grant_id: &str,
        keys: &'a [String],
        values: &'a [Vec<u8>],
    ) -> Vec<PutItem<'a>> {
        keys.iter()
            .zip(values)
            .enumerate()
            .map(|(i, (key, value))| PutItem {
                key,
                value,
                options: PutOptions::new()
                    .ttl(if i == 0 {
                        self.config.access_token_ttl
                    } else {
                        self.config.refresh_token_ttl
                    })
                    .create_only()
                    .index(grant_index(grant_id)),
            })
            .collect()
    }

    /// Draws the tokens of a redemption or rotation under `view` (the grant
    /// as the access token sees it), unstored.
    async fn draw_tokens(
        &self,
        client: &Client,
        grant_id: &str,
        view: &GrantRecord,
        with_refresh: bool,
    ) -> Result<Issued, OAuthError> {
        let access_record = self.access_record(
            Some(grant_id),
            &client.client_id,
            Some(view),
            &view.scope,
            view.audience(),
        );
        let access = self.mint_access_token(&access_record).await?;
        let refresh = if with_refresh {
            let token = grant_token(grant_id)?;
            let record = RefreshRecord {
                grant_id: grant_id.to_owned(),
                client_id: client.client_id.clone(),
                issued_at: self.now(),
            };
            Some((token, record))
        } else {
            None
        };
        Ok(Issued {
            access,
            access_record,
            refresh,
        })
    }

    /// Redeems an unused code (read at `code.1`) of a tagged grant issued
    /// at `grant.1`: one commit marks it used, checks that the grant still
    /// has that version (it is not revoked) and writes the tokens. `None`
    /// when the code changed since it was read (a concurrent redemption):
    /// read it again.
    pub(super) async fn redeem_code(
        &self,
        client: &Client,
        (code_key, code_version): (&str, u64),
        record: &CodeRecord,
        (grant, grant_version): (&GrantRecord, u64),
        resource: Option<&str>,
    ) -> Result<Option<TokenResponse>, OAuthError> {
        let grant_id = &record.grant_id;
        let known = &self.config.resources;
        let audience = known.pick(&grant.resources, resource)?;
        let scope = known.token_scope(audience.as_deref(), &grant.scope, None)?;
        let view = grant.for_token(audience, scope);
        let issued = self
            .draw_tokens(
                client,
                grant_id,
                &view,
                client.allows(GrantType::RefreshToken),
            )
            .await?;
        let id_token = self
            .id_token_for(
                client,
                &view,
                &view.scope,
                &issued.access,
                view.nonce.as_deref(),
            )
            .await?;
        let used = record.tombstone();
        let mut keys = vec![access_key(&issued.access)];
        let mut values = vec![json(&keys[0], &issued.access_record)?];
        if let Some((token, refresh)) = &issued.refresh {
            let head = Head {
                head: secret::sha256_hex(token),
                previous: None,
                rotated_at: 0,
                successor: None,
            };
            keys.extend([refresh_key(token), head_key(grant_id)]);
            values.extend([json(&keys[1], refresh)?, json(&keys[2], &head)?]);
        }
        let tombstone = json(code_key, &used)?;
        let mut puts = vec![PutItem {
            key: code_key,
            value: &tombstone,
            options: PutOptions::new()
                .ttl(self.config.code_tombstone_ttl)
                .if_version(code_version),
        }];
        puts.extend(self.token_puts(grant_id, &keys, &values));
        let grant_key = grant_key(grant_id);
        let checks = [VersionCheck {
            key: &grant_key,
            version: grant_version,
        }];
        let (committed, extended) = tokio::join!(
            self.store.commit(&checks, &puts),
            self.extend_client(client)
        );
        match committed {
            Ok(_) => {}
            Err(e) if failed_key(&e) == Some(grant_key.as_str()) => {
                return Err(OAuthError::InvalidGrant(GrantProblem::Revoked));
            }
            Err(e) if e.is_condition_failed() && failed_key(&e) == Some(code_key) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        extended?;
        let mut response = self.response(
            issued.access,
            issued.refresh.map(|(token, _)| token),
            &view.scope,
        );
        response.id_token = id_token;
        Ok(Some(response))
    }

    /// One rotation of a tagged grant's head (read at `head_version`, the
    /// grant at `grant_version`) from the presented token to a new one, in
    /// one commit that also checks the grant is unrevoked; the grant's
    /// lifetime is extended alongside. `None` when another request moved
    /// the head first.
    pub(super) async fn rotate_committed(
        &self,
        client: &Client,
        presented: (&str, &str, &str),
        view: &GrantRecord,
        (head_version, grant_version): (u64, u64),
        now: u64,
    ) -> Result<Option<TokenResponse>, OAuthError> {
        let (token, hash, grant_id) = presented;
        let issued = self.draw_tokens(client, grant_id, view, true).await?;
        let id_token = self
            .id_token_for(client, view, &view.scope, &issued.access, None)
            .await?;
        let Some((next_token, refresh)) = &issued.refresh else {
            return Err(OAuthError::Store(Error::corrupt(
                None,
                "no refresh token drawn",
            )));
        };
        let next = secret::sha256_hex(next_token);
        let successor = if self.config.refresh_grace.is_zero() {
            None
        } else {
            let kept = Successor {
                access_token: issued.access.clone(),
                refresh_token: next_token.clone(),
                scope: view.scope.clone(),
                expires_at: issued.access_record.expires_at,
                resource: issued.access_record.resource.clone(),
                id_token: id_token.clone(),
            };
            Some(sealed::seal(token, grant_id, &next, &kept)?)
        };
        let moved = Head {
            head: next,
            previous: Some(hash.to_owned()),
            rotated_at: now,
            successor,
        };
        let keys = [access_key(&issued.access), refresh_key(next_token)];
        let values = [
            json(&keys[0], &issued.access_record)?,
            json(&keys[1], refresh)?,
        ];
        let head_key = head_key(grant_id);
        let head_value = json(&head_key, &moved)?;
        let mut puts = vec![PutItem {
            key: &head_key,
            value: &head_value,
            options: PutOptions::new()
                .ttl(self.config.refresh_token_ttl)
                .if_version(head_version)
                .index(grant_index(grant_id)),
        }];
        puts.extend(self.token_puts(grant_id, &keys, &values));
        let grant_key = grant_key(grant_id);
        let checks = [VersionCheck {
            key: &grant_key,
            version: grant_version,
        }];
        // The grant's lifetime runs from its last refresh; the touch goes
        // out with the commit (the presented token is already proven the
        // head), and keeps the version the commit checks.
        let (committed, touched, extended) = tokio::join!(
            self.store.commit(&checks, &puts),
            self.store.touch(&grant_key, self.grant_ttl()),
            self.extend_client(client)
        );
        match committed {
            Ok(_) => {}
            Err(e) if failed_key(&e) == Some(grant_key.as_str()) => {
                return Err(OAuthError::InvalidGrant(GrantProblem::Revoked));
            }
            Err(e) if e.is_condition_failed() && failed_key(&e) == Some(head_key.as_str()) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        touched?;
        extended?;
        let mut response = self.response(issued.access, Some(next_token.clone()), &view.scope);
        response.id_token = id_token;
        Ok(Some(response))
    }
}
