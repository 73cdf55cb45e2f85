//! Grants and authorization codes: a code is bound to its client, redirect URI, PKCE challenge (S256), scope, resources and subject, redeemed once by compare-and-set, and kept as a tombstone whose second redemption revokes the grant.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::code_key;
use super::{Client, GrantProblem, GrantType, OAuth, OAuthError, TokenResponse, grant_index};
use crate::ext::{StoreExt, Versioned};
use crate::secret;
use crate::types::PutOptions;

/// Lost compare-and-set races after which a redemption gives up.
const CAS_ATTEMPTS: usize = 64;

/// An approved authorization request, ready to become a code. Build it
/// with `..Default::default()` for the fields you do not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI the request named (must be one of the client's).
    pub redirect_uri: String,
    /// Granted scopes (a subset of the client's).
    pub scope: Vec<String>,
    /// The PKCE S256 challenge: base64url(SHA-256(verifier)), 43 characters.
    pub code_challenge: String,
    /// The RFC 8707 resources the tokens are for (each token has one of
    /// them as its audience). Empty: the default resource of
    /// [`OAuthConfig::resources`](super::OAuthConfig::resources), if any.
    pub resources: Vec<String>,
    /// The user who approved it.
    pub subject: String,
    /// The OpenID Connect `nonce` of the request, echoed in the ID token.
    pub nonce: Option<String>,
    /// When the user last authenticated, unix seconds (the ID token's `auth_time`).
    pub auth_time: Option<u64>,
}

/// The PKCE S256 challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE verifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A grant: what a user approved for a client. Its artefacts are listed under its index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GrantRecord {
    pub(crate) client_id: String,
    pub(crate) subject: Option<String>,
    pub(crate) scope: Vec<String>,
    /// The resources (RFC 8707) approved; each token is for one of them.
    /// A record written with a single `resource` reads as a list of it.
    #[serde(
        default,
        alias = "resource",
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub(crate) resources: Vec<String>,
    pub(crate) created_at: u64,
    #[serde(default)]
    pub(crate) revoked: bool,
    /// The OpenID Connect `nonce` of the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
    /// When the user authenticated, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth_time: Option<u64>,
}

impl GrantRecord {
    /// The grant as one token issued under it sees it: one audience (or
    /// none) and the scopes that token carries.
    pub(crate) fn for_token(&self, audience: Option<String>, scope: Vec<String>) -> Self {
        Self {
            resources: audience.into_iter().collect(),
            scope,
            ..self.clone()
        }
    }

    /// The audience of a token built from [`for_token`](Self::for_token).
    pub(crate) fn audience(&self) -> Option<&str> {
        self.resources.first().map(String::as_str)
    }
}

/// A list of strings, or one string, or null (the earlier `resource`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CodeRecord {
    pub(super) grant_id: String,
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) code_challenge: String,
    #[serde(default)]
    pub(super) used: bool,
    /// The grant as the code was issued, and its version then: its fields
    /// never change but `revoked`, which a revocation writes with a new
    /// version, so a redemption reads only the code and checks the grant's
    /// version in the commit that redeems it. Absent from a tombstone and
    /// from codes issued before redemption was one commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) grant: Option<GrantRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) grant_version: Option<u64>,
}

/// A code as [`OAuth::read_code`] found it, for
/// [`OAuth::exchange_code_read`].
pub struct CodeRead {
    key: String,
    found: Option<Versioned<CodeRecord>>,
}

impl std::fmt::Debug for CodeRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeRead")
            .field("found", &self.found.is_some())
            .finish_non_exhaustive()
    }
}

impl CodeRecord {
    /// The record a redeemed code keeps: marked used, without the grant's copy.
    pub(super) fn tombstone(&self) -> Self {
        Self {
            grant_id: self.grant_id.clone(),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            code_challenge: self.code_challenge.clone(),
            used: true,
            grant: None,
            grant_version: None,
        }
    }
}

impl OAuth {
    /// How long a grant record lives after its creation or its last
    /// refresh: as long as anything issued under it can (a refresh token,
    /// an access token, the code's tombstone).
    pub(crate) fn grant_ttl(&self) -> Duration {
        self.config
            .refresh_token_ttl
            .max(self.config.code_tombstone_ttl)
            .max(self.config.access_token_ttl)
    }

    pub(crate) fn grant_key(grant_id: &str) -> String {
        super::keys::grant_key(grant_id)
    }

    /// The grant, if it exists and is not revoked.
    pub(crate) async fn live_grant(
        &self,
        grant_id: &str,
    ) -> Result<Option<GrantRecord>, OAuthError> {
        let found = self
            .store
            .get_json::<GrantRecord>(&Self::grant_key(grant_id))
            .await?;
        Ok(found.map(|f| f.value).filter(|g| !g.revoked))
    }

    /// Revokes a grant and everything issued under it: marks it revoked
    /// (so tokens written by a request still in flight are refused too),
    /// then deletes its tokens and refresh head. Its code is not deleted: a
    /// redeemed code's tombstone stays to catch reuse, and an unredeemed one
    /// can no longer be redeemed because the grant is not live. Returns
    /// whether it was live.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<bool, OAuthError> {
        let key = Self::grant_key(grant_id);
        let mut was_live = false;
        for _ in 0..CAS_ATTEMPTS {
            let Some(found) = self.store.get_json::<GrantRecord>(&key).await? else {
                break;
            };
            if found.value.revoked {
                break;
            }
            let mut grant = found.value;
            grant.revoked = true;
            let ttl = found
                .expires_at
                .and_then(|at| {
                    at.duration_since(crate::clock::millis_to_system_time(self.now()))
                        .ok()
                })
                .unwrap_or(self.config.refresh_token_ttl)
                .max(Duration::from_secs(1));
            // Still listed under its user and its client, so that erasing
            // either finds the revoked grant too.
            let mut options = PutOptions::new()
                .ttl(ttl)
                .if_version(found.version)
                .index(super::grants::client_grants_index(&grant.client_id));
            if let Some(subject) = &grant.subject {
                options = options.index(super::grants::user_grants_index(subject));
            }
            match self.store.put_json(&key, &grant, options).await {
                Ok(_) => {
                    was_live = true;
                    break;
                }
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.store.delete_index(&grant_index(grant_id)).await?;
        Ok(was_live)
    }

    /// Issues an authorization code for an approved request: checks the
    /// client, redirect URI, scopes and challenge, creates the grant and
    /// stores the code (only its SHA-256) for [`OAuthConfig::code_ttl`](super::OAuthConfig::code_ttl).
    ///
    /// The request's resources (RFC 8707) are checked against
    /// [`OAuthConfig::resources`](super::OAuthConfig::resources) (none
    /// named: its default, if any), and each scope must be accepted by at
    /// least one of them.
    ///
    /// # Errors
    /// [`OAuthError::InvalidRequest`], [`OAuthError::UnauthorizedClient`],
    /// [`OAuthError::InvalidScope`], [`OAuthError::InvalidTarget`]; store errors.
    pub async fn issue_code(&self, req: &AuthorizationRequest) -> Result<String, OAuthError> {
        let client = self
            .client(&req.client_id)
            .await?
            .ok_or_else(|| OAuthError::InvalidRequest("unknown client_id".into()))?;
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::UnauthorizedClient(
                "the client may not use the code flow",
            ));
        }
        if !client.accepts_redirect(&req.redirect_uri) {
            return Err(OAuthError::InvalidRequest(
                "redirect_uri is not registered".into(),
            ));
        }
        if req.code_challenge.len() != 43 || URL_SAFE_NO_PAD.decode(&req.code_challenge).is_err() {
            return Err(OAuthError::InvalidRequest(
                "code_challenge must be an S256 challenge".into(),
            ));
        }
        check_scope(&client, &req.scope)?;
        let resources = self.config.resources.for_request(&req.resources)?;
        self.config
            .resources
            .check_grant_scope(&resources, &req.scope)?;
        if req.subject.is_empty() || req.subject.len() > 256 {
            return Err(OAuthError::InvalidRequest("bad subject".into()));
        }
        if let Some(nonce) = &req.nonce {
            super::check_nonce(nonce)?;
        }
        let now = self.now();
        let grant_id = super::keys::new_grant_id()?;
        let grant = GrantRecord {
            client_id: client.client_id.clone(),
            subject: Some(req.subject.clone()),
            scope: req.scope.clone(),
            resources,
            created_at: now,
            revoked: false,
            nonce: req.nonce.clone(),
            auth_time: req.auth_time,
        };
        // Listed under its user and its client, so that either's grants
        // can be listed and revoked at once.
        let grant_version = self
            .store
            .put_json(
                &Self::grant_key(&grant_id),
                &grant,
                PutOptions::new()
                    .ttl(self.grant_ttl())
                    .create_only()
                    .index(super::grants::user_grants_index(&req.subject))
                    .index(super::grants::client_grants_index(&client.client_id)),
            )
            .await?;
        let code = super::keys::grant_token(&grant_id)?;
        let record = CodeRecord {
            grant_id,
            client_id: client.client_id,
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            used: false,
            grant: Some(grant),
            grant_version: Some(grant_version),
        };
        self.store
            .put_json(
                &code_key(&code),
                &record,
                PutOptions::new().ttl(self.config.code_ttl).create_only(),
            )
            .await?;
        Ok(code)
    }

    /// Redeems a code for tokens. The checks (client, redirect URI, PKCE
    /// verifier, a live grant) come first and do not consume the code; then
    /// the code is marked used by compare-and-set, so of concurrent
    /// redemptions exactly one wins. A code already used is reuse: the grant
    /// and every token issued under it are revoked. Every redemption that
    /// loses the compare-and-set reads the code again, finds it used, and so
    /// revokes the grant too.
    ///
    /// The winner of the compare-and-set always gets its tokens, even when a
    /// concurrent reuse revokes the grant while they are written: that is
    /// the outcome of the same requests one after the other (redeemed, then
    /// reused, so revoked). Such tokens are inactive at once, because
    /// introspection and refresh check the grant.
    ///
    /// The access token is for the grant's only resource, if it has one;
    /// use [`exchange_code_for`](Self::exchange_code_for) to pick one of a
    /// grant for several.
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`] (unknown, expired, reused, or bound to
    /// another client, redirect URI or verifier),
    /// [`OAuthError::InvalidTarget`] (the grant is for several resources);
    /// store errors.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.exchange_code_for(client, code, redirect_uri, verifier, None)
            .await
    }

    /// [`exchange_code`](Self::exchange_code) with the token request's
    /// `resource` (RFC 8707 §2.2): the access token's audience, which must
    /// be one of the grant's resources. Without one, the grant's only
    /// resource; a grant for several needs one named. The token carries the
    /// grant's scopes that its resource accepts. A refused resource leaves
    /// the code unused.
    ///
    /// # Errors
    /// As [`exchange_code`](Self::exchange_code), and
    /// [`OAuthError::InvalidTarget`] for a resource that is not one of the
    /// grant's.
    pub async fn exchange_code_for(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        self.exchange(client, code, (redirect_uri, verifier), resource, None)
            .await
    }

    /// Reads a code ahead of its redemption: one store read, nothing
    /// written. A token endpoint runs it while it authenticates the client,
    /// then passes it to [`exchange_code_read`](Self::exchange_code_read),
    /// which then needs only the redemption's own write.
    ///
    /// # Errors
    /// Store errors.
    pub async fn read_code(&self, code: &str) -> Result<CodeRead, OAuthError> {
        if !super::keys::is_token_shaped(code) {
            return Ok(CodeRead {
                key: String::new(),
                found: None,
            });
        }
        let key = code_key(code);
        let found = self.store.get_json::<CodeRecord>(&key).await?;
        Ok(CodeRead { key, found })
    }

    /// [`exchange_code_for`](Self::exchange_code_for) starting from the
    /// code as [`read_code`](Self::read_code) found it (a read of another
    /// code is ignored). The outcome is the same as reading it now: a code
    /// that changed since is read again.
    ///
    /// # Errors
    /// As [`exchange_code_for`](Self::exchange_code_for).
    pub async fn exchange_code_read(
        &self,
        client: &Client,
        read: CodeRead,
        code: &str,
        (redirect_uri, verifier): (&str, &str),
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        self.exchange(client, code, (redirect_uri, verifier), resource, Some(read))
            .await
    }

    async fn exchange(
        &self,
        client: &Client,
        code: &str,
        (redirect_uri, verifier): (&str, &str),
        resource: Option<&str>,
        read: Option<CodeRead>,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::UnauthorizedClient(
                "the client may not use the code flow",
            ));
        }
        if !super::keys::is_token_shaped(code) {
            return Err(OAuthError::InvalidGrant(GrantProblem::UnknownCode));
        }
        let key = code_key(code);
        let mut ahead = read.filter(|r| r.key == key).map(|r| r.found);
        for _ in 0..CAS_ATTEMPTS {
            let found = match ahead.take() {
                Some(found) => found,
                None => self.store.get_json::<CodeRecord>(&key).await?,
            };
            let Some(found) = found else {
                return Err(OAuthError::InvalidGrant(GrantProblem::UnknownCode));
            };
            let record = found.value;
            if record.used {
                self.revoke_grant(&record.grant_id).await?;
                return Err(OAuthError::InvalidGrant(GrantProblem::CodeReused));
            }
            if record.client_id != client.client_id {
                return Err(OAuthError::InvalidGrant(GrantProblem::CodeOfAnotherClient));
            }
            if record.redirect_uri != redirect_uri {
                return Err(OAuthError::InvalidGrant(GrantProblem::RedirectMismatch));
            }
            if !is_verifier(verifier)
                || !secret::constant_time_eq(
                    pkce_challenge(verifier).as_bytes(),
                    record.code_challenge.as_bytes(),
                )
            {
                return Err(OAuthError::InvalidGrant(GrantProblem::PkceMismatch));
            }
            if let (Some(grant), Some(grant_version)) = (&record.grant, record.grant_version)
                && super::keys::is_tagged(&record.grant_id)
            {
                let redeemed = self
                    .redeem_code(
                        client,
                        (&key, found.version),
                        &record,
                        (grant, grant_version),
                        resource,
                    )
                    .await?;
                match redeemed {
                    Some(response) => return Ok(response),
                    None => continue,
                }
            }
            // Read after the code: if the code is still unused at the
            // compare-and-set, the redemption took effect at this read.
            let Some(grant) = self.live_grant(&record.grant_id).await? else {
                return Err(OAuthError::InvalidGrant(GrantProblem::Revoked));
            };
            let audience = self.config.resources.pick(&grant.resources, resource)?;
            let scope =
                self.config
                    .resources
                    .token_scope(audience.as_deref(), &grant.scope, None)?;
            let grant = grant.for_token(audience, scope);
            let used = record.tombstone();
            let options = PutOptions::new()
                .ttl(self.config.code_tombstone_ttl)
                .if_version(found.version);
            match self.store.put_json(&key, &used, options).await {
                Ok(_) => return self.tokens_for_grant(client, &used.grant_id, &grant).await,
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OAuthError::InvalidGrant(GrantProblem::CodeContended))
    }
}

/// Every requested scope must be one the client may request.
pub(crate) fn check_scope(client: &Client, scope: &[String]) -> Result<(), OAuthError> {
    match scope.iter().find(|s| !client.scopes.contains(s)) {
        Some(s) => Err(OAuthError::InvalidScope(format!(
            "{s:?} is not allowed for this client"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_verifier(verifier));
        assert!(!is_verifier("short"));
        assert!(!is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&format!("{}!", "a".repeat(43))));
    }
}
