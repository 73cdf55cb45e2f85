//! API tokens: opaque 256-bit bearer tokens with a recognisable `ast_` prefix, stored only as SHA-256, carrying a principal, scopes, roles, metadata and an expiry.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authstore::tokens::{ApiTokens, NewToken};
//! let tokens = ApiTokens::new(authstore::open("memory://").await?);
//! let issued = tokens.issue(NewToken::for_principal("u1").scope("read")).await?;
//! assert!(issued.token.starts_with("ast_"));
//! let found = tokens.verify(&issued.token).await?.expect("valid");
//! assert_eq!(found.principal, "u1");
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditSink, NoAudit, Outcome, emit};
use crate::clock::{Clock, SharedClock, millis_to_system_time};
use crate::error::{Error, Result};
use crate::ext::StoreExt;
use crate::secret;
use crate::store::Store;
use crate::types::PutOptions;

/// The prefix of every token, so secret scanners can recognise leaked ones.
pub const TOKEN_PREFIX: &str = "ast_";

/// What a new token carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewToken {
    /// Who the token acts for.
    pub principal: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Roles granted.
    pub roles: Vec<String>,
    /// Free-form labels (name, created-by, …).
    pub metadata: BTreeMap<String, String>,
    /// Lifetime; `None` never expires.
    pub ttl: Option<Duration>,
}

impl NewToken {
    /// A token for `principal` with nothing else set.
    pub fn for_principal(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            ..Self::default()
        }
    }

    /// Adds a scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds a role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.roles.push(role.into());
        self
    }

    /// Adds a metadata label.
    pub fn meta(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(name.into(), value.into());
        self
    }

    /// Sets the lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// A token as stored and as [`ApiTokens::verify`] returns it (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The public handle: the SHA-256 of the token, hex.
    #[serde(skip)]
    pub handle: String,
    /// Who the token acts for.
    pub principal: String,
    /// Scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles granted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Free-form labels.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Creation time, ms since the epoch.
    pub created_at: u64,
    /// Expiry, ms since the epoch, if any.
    #[serde(default)]
    pub expires_at: Option<u64>,
}

impl TokenInfo {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// When it expires, if ever.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires_at.map(millis_to_system_time)
    }
}

/// A newly issued token: the secret (shown once) and its stored info.
#[derive(Clone)]
pub struct IssuedToken {
    /// The bearer secret, `ast_` + 43 base64url characters. Shown once; only its hash is kept.
    pub token: String,
    /// What was stored.
    pub info: TokenInfo,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"ast_<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// Issues, verifies, lists and revokes API tokens on a [`Store`].
#[derive(Debug, Clone)]
pub struct ApiTokens {
    store: Arc<dyn Store>,
    clock: SharedClock,
    audit: Arc<dyn AuditSink>,
}

fn key_of(handle: &str) -> String {
    format!("apitoken:{handle}")
}

fn principal_index(principal: &str) -> String {
    format!("apitoken-of:{principal}")
}

impl ApiTokens {
    /// Tokens on `store`, judging time by the store's [`clock`](Store::clock).
    pub fn new(store: Arc<dyn Store>) -> Self {
        let clock = store.clock();
        Self::with_clock(store, clock)
    }

    /// Tokens on `store`, judging time by `clock`.
    pub fn with_clock(store: Arc<dyn Store>, clock: impl Clock) -> Self {
        Self {
            store,
            clock: crate::clock::share(clock),
            audit: Arc::new(NoAudit),
        }
    }

    /// Sends `token.issue` and `token.revoke` events to `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Issues a token. Its hash is written create-only, listed under the principal.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for an empty or malformed principal; store errors.
    pub async fn issue(&self, new: NewToken) -> Result<IssuedToken> {
        let token = format!("{TOKEN_PREFIX}{}", secret::random_token()?);
        let handle = secret::sha256_hex(&token);
        let now = self.clock.now_millis();
        let info = TokenInfo {
            handle: handle.clone(),
            principal: new.principal,
            scopes: new.scopes,
            roles: new.roles,
            metadata: new.metadata,
            created_at: now,
            expires_at: new
                .ttl
                .map(|t| now.saturating_add(crate::clock::duration_to_millis(t))),
        };
        let mut options = PutOptions::new()
            .create_only()
            .index(principal_index(&info.principal));
        options.ttl = new.ttl;
        self.store
            .put_json(&key_of(&handle), &info, options)
            .await?;
        emit(&*self.audit, || {
            AuditEvent::new("token.issue", Outcome::Success)
                .user(&info.principal)
                .resource(&handle)
                .meta("scopes", info.scopes.clone())
        })
        .await;
        Ok(IssuedToken { token, info })
    }

    /// The info of a live token, or `None` for an unknown, revoked, expired
    /// or malformed one. The lookup is by hash, so timing reveals nothing
    /// about stored tokens.
    ///
    /// # Errors
    /// Store errors; [`Error::Serde`] for a corrupt record.
    pub async fn verify(&self, token: &str) -> Result<Option<TokenInfo>> {
        let Some(secret_part) = token.strip_prefix(TOKEN_PREFIX) else {
            return Ok(None);
        };
        if !secret::is_token_shaped(secret_part) {
            return Ok(None);
        }
        let handle = secret::sha256_hex(token);
        Ok(self
            .store
            .get_json::<TokenInfo>(&key_of(&handle))
            .await?
            .map(|found| TokenInfo {
                handle,
                ..found.value
            }))
    }

    /// The principal's live tokens, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list(&self, principal: &str) -> Result<Vec<TokenInfo>> {
        let mut out = Vec::new();
        for key in self.store.list_index(&principal_index(principal)).await? {
            let Some(handle) = key.strip_prefix("apitoken:") else {
                continue;
            };
            if let Some(found) = self.store.get_json::<TokenInfo>(&key).await? {
                out.push(TokenInfo {
                    handle: handle.to_owned(),
                    ..found.value
                });
            }
        }
        out.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.handle.cmp(&b.handle))
        });
        Ok(out)
    }

    /// Revokes the token with this handle. Returns whether it existed.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a handle that is not 64 hex digits; store errors.
    pub async fn revoke(&self, handle: &str) -> Result<bool> {
        if handle.len() != 64 || !handle.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidArgument("a token handle is 64 hex digits"));
        }
        let gone = self.store.delete(&key_of(handle)).await?;
        if gone {
            emit(&*self.audit, || {
                AuditEvent::new("token.revoke", Outcome::Success).resource(handle)
            })
            .await;
        }
        Ok(gone)
    }

    /// Revokes every token of the principal; returns how many.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_all(&self, principal: &str) -> Result<u64> {
        self.store.delete_index(&principal_index(principal)).await
    }
}
