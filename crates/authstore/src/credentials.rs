//! Passwords: argon2id hashes in the store, a constant-time path for unknown users, and throttled failed logins with temporary lockout.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> authstore::Result<()> {
//! use authstore::credentials::{Credentials, LoginOutcome};
//! let creds = Credentials::new(authstore::open("memory://").await?);
//! creds.register_user("Alice@Example.com", "u-1", "correct horse battery").await?;
//! let outcome = creds.authenticate("alice@example.com", "correct horse battery").await?;
//! assert_eq!(outcome, LoginOutcome::Authenticated { user_id: "u-1".into() });
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditSink, NoAudit, Outcome, emit};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::error::{Error, Result};
use crate::ext::StoreExt;
use crate::password::SecretHasher;
use crate::store::Store;
use crate::types::{GcraParams, PutOptions};

/// argon2id cost and login throttling.
#[derive(Debug, Clone)]
pub struct CredentialsConfig {
    /// argon2id memory cost in KiB (default 19,456: OWASP's minimum, 19 MiB).
    pub memory_kib: u32,
    /// argon2id iterations (default 2).
    pub iterations: u32,
    /// argon2id lanes (default 1).
    pub parallelism: u32,
    /// Failed logins allowed per user in a burst before lockout (default 5).
    pub max_failures: u32,
    /// Time for one failure to be forgiven; a full lockout lasts `max_failures` × this (default 3 min).
    pub failure_forgiven_after: Duration,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_failures: 5,
            failure_forgiven_after: Duration::from_secs(180),
        }
    }
}

/// What a login attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password is right.
    Authenticated {
        /// The user's id.
        user_id: String,
    },
    /// Unknown user or wrong password (indistinguishable on purpose).
    InvalidCredentials,
    /// Too many failures: no password is checked until `retry_after` passes.
    LockedOut {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CredentialRecord {
    user_id: String,
    username: String,
    /// PHC string: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    hash: String,
    created_at: u64,
}

/// Users' password hashes on a [`Store`], under `credential:<normalized username>`.
#[derive(Clone)]
pub struct Credentials {
    store: Arc<dyn Store>,
    clock: SharedClock,
    config: CredentialsConfig,
    hasher: SecretHasher,
    audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Usernames compare case-insensitively and without surrounding spaces.
fn normalize(username: &str) -> String {
    username.trim().to_lowercase()
}

impl Credentials {
    /// Credentials on `store` with the default (OWASP) argon2id cost and the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_config(store, CredentialsConfig::default(), SystemClock)
            .expect("the default argon2 parameters are valid")
    }

    /// Credentials with `config`, judging lockouts by `clock`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for argon2 parameters out of range.
    pub fn with_config(
        store: Arc<dyn Store>,
        config: CredentialsConfig,
        clock: impl Clock,
    ) -> Result<Self> {
        let hasher = SecretHasher::new(config.memory_kib, config.iterations, config.parallelism)?;
        Ok(Self {
            store,
            clock: Arc::new(clock),
            config,
            hasher,
            audit: Arc::new(NoAudit),
        })
    }

    /// Sends `auth.register` and `auth.login` events (success, failure, lockout) to `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    async fn audit_login(&self, username: &str, outcome: Outcome) {
        emit(&*self.audit, || {
            AuditEvent::new("auth.login", outcome).user(normalize(username))
        })
        .await;
    }

    fn key(username: &str) -> String {
        format!("credential:{}", normalize(username))
    }

    fn throttle(&self) -> GcraParams {
        GcraParams {
            emission_interval: self.config.failure_forgiven_after,
            burst: self.config.max_failures.max(1),
            cost: 1,
        }
    }

    /// Registers `username` (create-only) for `user_id` with `password`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if the username is taken; [`Error::InvalidArgument`]
    /// for an empty username or password.
    pub async fn register_user(&self, username: &str, user_id: &str, password: &str) -> Result<()> {
        if normalize(username).is_empty() || password.is_empty() {
            return Err(Error::InvalidArgument(
                "username and password must not be empty",
            ));
        }
        let record = CredentialRecord {
            user_id: user_id.to_owned(),
            username: username.trim().to_owned(),
            hash: self.hasher.hash(password).await?,
            created_at: self.clock.now_millis(),
        };
        self.store
            .put_json(
                &Self::key(username),
                &record,
                PutOptions::new().create_only(),
            )
            .await?;
        emit(&*self.audit, || {
            AuditEvent::new("auth.register", Outcome::Success)
                .user(normalize(username))
                .resource(user_id)
        })
        .await;
        Ok(())
    }

    /// Checks a password. Unknown users cost one argon2id verification like
    /// known ones, so timing does not reveal who exists. Each failure spends
    /// one unit of the user's failure budget; with none left the user is
    /// locked out (no password is checked) until it recovers.
    ///
    /// # Errors
    /// Store errors; [`Error::Corrupt`] for an unreadable stored hash.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<LoginOutcome> {
        let throttle_key = format!("login-failures:{}", normalize(username));
        let state = self
            .store
            .gcra(&throttle_key, self.throttle().cost(0))
            .await?;
        if state.remaining == 0 {
            self.audit_login(username, Outcome::Denied).await;
            return Ok(LoginOutcome::LockedOut {
                retry_after: state.reset_after.saturating_sub(
                    self.config.failure_forgiven_after * (self.config.max_failures.max(1) - 1),
                ),
            });
        }
        let record = self
            .store
            .get_json::<CredentialRecord>(&Self::key(username))
            .await?;
        let (hash, user_id) = match record {
            Some(found) => (Some(found.value.hash), Some(found.value.user_id)),
            None => (None, None),
        };
        // Unknown users are checked against a dummy hash: the same cost.
        let ok = self.hasher.verify(hash.as_deref(), password).await?;
        match user_id {
            Some(user_id) if ok => {
                self.audit_login(username, Outcome::Success).await;
                Ok(LoginOutcome::Authenticated { user_id })
            }
            _ => {
                self.store.gcra(&throttle_key, self.throttle()).await?;
                self.audit_login(username, Outcome::Failure).await;
                Ok(LoginOutcome::InvalidCredentials)
            }
        }
    }

    /// Replaces the password after checking the current one.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] if `current` is wrong or the user is locked out;
    /// [`Error::VersionConflict`] if the record changed meanwhile.
    pub async fn change_password(&self, username: &str, current: &str, new: &str) -> Result<()> {
        if !matches!(
            self.authenticate(username, current).await?,
            LoginOutcome::Authenticated { .. }
        ) {
            return Err(Error::PermissionDenied {
                backend: "credentials",
                source: "the current password is wrong or the user is locked out".into(),
            });
        }
        let key = Self::key(username);
        let found = self
            .store
            .get_json::<CredentialRecord>(&key)
            .await?
            .ok_or_else(|| Error::NotFound { key: key.clone() })?;
        let mut record = found.value;
        record.hash = self.hasher.hash(new).await?;
        self.store
            .put_json(&key, &record, PutOptions::new().if_version(found.version))
            .await
            .map(drop)
    }
}
