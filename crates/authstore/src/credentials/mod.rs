//! Passwords: argon2id hashes in the store, a constant-time path for unknown users, and failed logins throttled per user and client network with progressive delays.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authstore::credentials::{Credentials, LoginOutcome};
//! let creds = Credentials::new(authstore::open("memory://").await?);
//! creds.register_user("Alice@Example.com", "u-1", "correct horse battery").await?;
//! let network = authstore::credentials::client_network("203.0.113.9".parse().unwrap());
//! let outcome = creds
//!     .authenticate_from("alice@example.com", "correct horse battery", &network)
//!     .await?;
//! assert_eq!(outcome, LoginOutcome::Authenticated { user_id: "u-1".into() });
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditSink, NoAudit, Outcome, emit};
use crate::clock::{Clock, SharedClock};
use crate::error::{Error, Result};
use crate::ext::StoreExt;
use crate::password::SecretHasher;
use crate::secret;
use crate::store::Store;
use crate::types::PutOptions;

mod admin;

pub use admin::UserInfo;

/// The network every caller of [`Credentials::authenticate`] shares.
pub const ANY_NETWORK: &str = "*";

/// Default longest wait between failed attempts (see [`Credentials::max_delay`]).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(3600);

/// Lost compare-and-set races after which a login attempt gives up.
const CAS_ATTEMPTS: usize = 32;

/// argon2id cost and login throttling.
#[derive(Debug, Clone)]
pub struct CredentialsConfig {
    /// argon2id memory cost in KiB (default 19,456: OWASP's minimum, 19 MiB).
    pub memory_kib: u32,
    /// argon2id iterations (default 2).
    pub iterations: u32,
    /// argon2id lanes (default 1).
    pub parallelism: u32,
    /// Failed logins allowed per user and client network before that
    /// network has to wait between attempts (default 5).
    pub max_failures: u32,
    /// The first wait once the failures reach `max_failures`; each further
    /// failure doubles it (up to [`Credentials::max_delay`]). After a wait
    /// ends, one failure is forgiven per this period (default 3 min).
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
    /// Too many recent failures for this user from this client network
    /// (see [`Credentials::authenticate_from`]): no password is checked
    /// until `retry_after` passes.
    LockedOut {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// The password is right but an operator disabled the user (see
    /// [`Credentials::set_disabled`]): no sign-in until enabled again.
    Disabled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CredentialRecord {
    user_id: String,
    username: String,
    /// PHC string: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    hash: String,
    created_at: u64,
    /// When an operator disabled the user (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disabled_at: Option<u64>,
}

/// Recent failures of one user from one client network.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct ThrottleRecord {
    /// Failures not yet forgiven at `since`.
    failures: u32,
    /// When forgiveness starts counting: the last failure, or the end of
    /// the wait it caused (ms since the epoch).
    since: u64,
    /// No password is checked before this time (ms since the epoch).
    blocked_until: u64,
}

/// The throttling network of a client address: its IPv4 /24 or IPv6 /64
/// (`203.0.113.0/24`, `2001:db8:1:2::/64`), the block one household,
/// office or mobile connection usually holds. IPv4-mapped IPv6 addresses
/// count as IPv4.
///
/// ```
/// use authstore::credentials::client_network;
/// assert_eq!(client_network("203.0.113.9".parse().unwrap()), "203.0.113.0/24");
/// assert_eq!(client_network("2001:db8:1:2:3::9".parse().unwrap()), "2001:db8:1:2::/64");
/// ```
pub fn client_network(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

/// Users' password hashes on a [`Store`], under `credential:<normalized username>`.
#[derive(Clone)]
pub struct Credentials {
    store: Arc<dyn Store>,
    clock: SharedClock,
    config: CredentialsConfig,
    max_delay: Duration,
    hasher: SecretHasher,
    audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("store", &self.store)
            .field("config", &self.config)
            .field("max_delay", &self.max_delay)
            .finish_non_exhaustive()
    }
}

/// Usernames compare case-insensitively and without surrounding spaces.
fn normalize(username: &str) -> String {
    username.trim().to_lowercase()
}

impl Credentials {
    /// Credentials on `store` with the default (OWASP) argon2id cost,
    /// judging lockouts by the store's [`clock`](Store::clock).
    pub fn new(store: Arc<dyn Store>) -> Self {
        let clock = store.clock();
        Self::with_config(store, CredentialsConfig::default(), clock)
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
            clock: crate::clock::share(clock),
            config,
            max_delay: DEFAULT_MAX_DELAY,
            hasher,
            audit: Arc::new(NoAudit),
        })
    }

    /// The longest wait a client network is given between failed attempts
    /// (default [`DEFAULT_MAX_DELAY`], at least the first wait).
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Sends `auth.register` and `auth.login` events (success, failure, lockout) to `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    async fn audit_login(&self, username: &str, network: &str, outcome: Outcome) {
        emit(&*self.audit, || {
            AuditEvent::new("auth.login", outcome)
                .user(normalize(username))
                .meta("network", network)
        })
        .await;
    }

    fn key(username: &str) -> String {
        format!("credential:{}", normalize(username))
    }

    /// The throttle entry of (username, network); both hashed, so neither
    /// length nor characters of either can make an invalid key.
    fn throttle_key(username: &str, network: &str) -> String {
        let id = secret::sha256_hex(&format!("{}\0{network}", normalize(username)));
        format!("login-throttle:{id}")
    }

    fn forgiven_ms(&self) -> u64 {
        duration_ms(self.config.failure_forgiven_after).max(1)
    }

    /// The wait after the `failures`-th failure: none below the budget,
    /// then the first delay, doubled for each failure beyond it.
    fn delay_after(&self, failures: u32) -> u64 {
        let budget = self.config.max_failures.max(1);
        if failures < budget {
            return 0;
        }
        let doublings = (failures - budget).min(32);
        let first = duration_ms(self.config.failure_forgiven_after);
        let max = duration_ms(self.max_delay).max(first);
        first.saturating_mul(1u64 << doublings).min(max)
    }

    /// Failures of `record` still unforgiven at `now`.
    fn unforgiven(&self, record: &ThrottleRecord, now: u64) -> u32 {
        let forgiven = now.saturating_sub(record.since) / self.forgiven_ms();
        record
            .failures
            .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX))
    }

    /// One atomic step: refuses the attempt while the (username, network)
    /// pair must wait, or else counts it as a failure in advance (undone
    /// by a success), so concurrent guesses cannot all pass the check
    /// before any of them is counted. Returns the wait left, if any.
    async fn claim_attempt(&self, key: &str) -> Result<Option<Duration>> {
        for _ in 0..CAS_ATTEMPTS {
            let found = self.store.get_json::<ThrottleRecord>(key).await?;
            let now = self.clock.now_millis();
            let (before, version) = match &found {
                Some(f) => (f.value, Some(f.version)),
                None => (ThrottleRecord::default(), None),
            };
            if now < before.blocked_until {
                return Ok(Some(Duration::from_millis(before.blocked_until - now)));
            }
            let failures = self.unforgiven(&before, now).saturating_add(1);
            let delay = self.delay_after(failures);
            let record = ThrottleRecord {
                failures,
                since: now + delay,
                blocked_until: if delay > 0 { now + delay } else { 0 },
            };
            let ttl = delay.saturating_add(u64::from(failures).saturating_mul(self.forgiven_ms()));
            let options = PutOptions::new().ttl(Duration::from_millis(ttl.max(1)));
            let options = match version {
                Some(v) => options.if_version(v),
                None => options.create_only(),
            };
            match self.store.put_json(key, &record, options).await {
                Ok(_) => return Ok(None),
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e),
            }
        }
        // Many attempts for the same pair at the same moment: this one
        // waits, like any attempt over the budget.
        Ok(Some(Duration::from_secs(1)))
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
        if !is_valid_user_id(user_id) {
            return Err(Error::InvalidArgument(
                "a user id must be 1 to 200 bytes without control characters",
            ));
        }
        crate::key::validate_key(&Self::key(username)).map_err(|_| {
            Error::InvalidArgument(
                "usernames must not contain control characters or exceed 500 bytes",
            )
        })?;
        let record = CredentialRecord {
            user_id: user_id.to_owned(),
            username: username.trim().to_owned(),
            hash: self.hasher.hash(password).await?,
            created_at: self.clock.now_millis(),
            disabled_at: None,
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

    /// Checks a password with every caller in one throttling network
    /// ([`ANY_NETWORK`]): failures from anywhere delay everyone's logins as
    /// that user, so a stranger who knows a username can keep its owner
    /// waiting. Kept for callers that do not know the client's address;
    /// servers should call [`authenticate_from`](Self::authenticate_from).
    ///
    /// # Errors
    /// As [`authenticate_from`](Self::authenticate_from).
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<LoginOutcome> {
        self.authenticate_from(username, password, ANY_NETWORK)
            .await
    }

    /// Checks a password sent from client network `network` (see
    /// [`client_network`]). Unknown users cost one argon2id verification
    /// like known ones, so timing does not reveal who exists.
    ///
    /// Failures are counted per (username, network): after `max_failures`
    /// of them that network waits `failure_forgiven_after` before its next
    /// attempt, and each further failure doubles the wait (up to
    /// [`max_delay`](Self::max_delay)); while it waits no password is
    /// checked and the answer is [`LoginOutcome::LockedOut`]. Once a wait
    /// is over, one failure is forgiven per `failure_forgiven_after`, and a
    /// success clears the network's count. Other networks are not slowed,
    /// so the right password from the user's own network keeps working
    /// while a guesser elsewhere waits longer and longer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a username with control characters or
    /// too long to store; store errors; [`Error::Corrupt`] for an
    /// unreadable stored hash.
    pub async fn authenticate_from(
        &self,
        username: &str,
        password: &str,
        network: &str,
    ) -> Result<LoginOutcome> {
        if crate::key::validate_key(&Self::key(username)).is_err() {
            return Err(Error::InvalidArgument(
                "usernames must not contain control characters or exceed 500 bytes",
            ));
        }
        let throttle_key = Self::throttle_key(username, network);
        if let Some(retry_after) = self.claim_attempt(&throttle_key).await? {
            self.audit_login(username, network, Outcome::Denied).await;
            return Ok(LoginOutcome::LockedOut { retry_after });
        }
        let record = self
            .store
            .get_json::<CredentialRecord>(&Self::key(username))
            .await?;
        let (hash, user_id, disabled) = match record {
            Some(found) => (
                Some(found.value.hash),
                Some(found.value.user_id),
                found.value.disabled_at.is_some(),
            ),
            None => (None, None, false),
        };
        // Unknown users are checked against a dummy hash: the same cost.
        let ok = self.hasher.verify(hash.as_deref(), password).await?;
        match user_id {
            Some(user_id) if ok => {
                // The attempt was counted as a failure in advance: a
                // success clears this network's count.
                self.store.delete(&throttle_key).await?;
                if disabled {
                    self.audit_login(username, network, Outcome::Denied).await;
                    return Ok(LoginOutcome::Disabled);
                }
                self.audit_login(username, network, Outcome::Success).await;
                Ok(LoginOutcome::Authenticated { user_id })
            }
            _ => {
                self.audit_login(username, network, Outcome::Failure).await;
                Ok(LoginOutcome::InvalidCredentials)
            }
        }
    }

    /// Replaces the password after checking the current one (throttled as
    /// [`authenticate`](Self::authenticate)).
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] if `current` is wrong, or the user is
    /// locked out or disabled;
    /// [`Error::NotFound`] if the user was deleted meanwhile.
    pub async fn change_password(&self, username: &str, current: &str, new: &str) -> Result<()> {
        self.change_password_from(username, current, new, ANY_NETWORK)
            .await
    }

    /// [`change_password`](Self::change_password) for a caller in client
    /// network `network`, throttled as
    /// [`authenticate_from`](Self::authenticate_from).
    ///
    /// # Errors
    /// As [`change_password`](Self::change_password), and
    /// [`Error::InvalidArgument`] for an empty new password.
    pub async fn change_password_from(
        &self,
        username: &str,
        current: &str,
        new: &str,
        network: &str,
    ) -> Result<()> {
        if new.is_empty() {
            return Err(Error::InvalidArgument("the password must not be empty"));
        }
        if !matches!(
            self.authenticate_from(username, current, network).await?,
            LoginOutcome::Authenticated { .. }
        ) {
            return Err(Error::PermissionDenied {
                backend: "credentials",
                source: "the current password is wrong, or the user is locked out or disabled"
                    .into(),
            });
        }
        let hash = self.hasher.hash(new).await?;
        self.update(username, |record| {
            record.hash.clone_from(&hash);
            true
        })
        .await?;
        emit(&*self.audit, || {
            AuditEvent::new("auth.password_changed", Outcome::Success).user(normalize(username))
        })
        .await;
        Ok(())
    }
}

/// Whether `user_id` can name a user everywhere it is stored (session,
/// grant and audit index keys): 1 to 200 bytes, no control characters.
pub fn is_valid_user_id(user_id: &str) -> bool {
    !user_id.is_empty() && user_id.len() <= 200 && !user_id.chars().any(char::is_control)
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FakeClock, MemoryStore};

    async fn creds(clock: &FakeClock) -> Credentials {
        let store = MemoryStore::builder()
            .clock(clock.clone())
            .sweep_interval(None)
            .build()
            .unwrap();
        let config = CredentialsConfig {
            memory_kib: 64,
            iterations: 1,
            max_failures: 3,
            failure_forgiven_after: Duration::from_secs(10),
            ..CredentialsConfig::default()
        };
        let creds = Credentials::with_config(Arc::new(store), config, clock.clone())
            .unwrap()
            .max_delay(Duration::from_secs(35));
        creds.register_user("ada", "u-1", "right").await.unwrap();
        creds
    }

    fn wait(outcome: LoginOutcome) -> u64 {
        match outcome {
            LoginOutcome::LockedOut { retry_after } => retry_after.as_secs(),
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn networks_are_a_v4_slash_24_or_a_v6_slash_64() {
        let net = |ip: &str| client_network(ip.parse().unwrap());
        assert_eq!(net("198.51.100.200"), "198.51.100.0/24");
        assert_eq!(net("::ffff:198.51.100.7"), "198.51.100.0/24");
        assert_eq!(net("2001:db8:a:b:c:d:e:f"), "2001:db8:a:b::/64");
        assert_eq!(net("::1"), "::/64");
    }

    #[tokio::test]
    async fn failures_from_one_network_never_slow_another() {
        let clock = FakeClock::new();
        let creds = creds(&clock).await;
        for _ in 0..3 {
            let outcome = creds.authenticate_from("ada", "wrong", "a").await.unwrap();
            assert_eq!(outcome, LoginOutcome::InvalidCredentials);
        }
        let outcome = creds.authenticate_from("ADA ", "right", "a").await.unwrap();
        assert_eq!(wait(outcome), 10, "the guessing network waits");
        let outcome = creds.authenticate_from("ada", "right", "b").await.unwrap();
        assert_eq!(
            outcome,
            LoginOutcome::Authenticated {
                user_id: "u-1".into()
            }
        );
        // Doubling, capped at max_delay.
        let mut waits = vec![10];
        for _ in 0..4 {
            // Back the moment the wait ends: nothing is forgiven.
            clock.advance(Duration::from_secs(*waits.last().unwrap()));
            let outcome = creds.authenticate_from("ada", "wrong", "a").await.unwrap();
            assert_eq!(outcome, LoginOutcome::InvalidCredentials);
            waits.push(wait(
                creds.authenticate_from("ada", "x", "a").await.unwrap(),
            ));
        }
        assert_eq!(waits, [10, 20, 35, 35, 35]);
        // A success clears the network's count.
        clock.advance(Duration::from_secs(35));
        assert!(matches!(
            creds.authenticate_from("ada", "right", "a").await.unwrap(),
            LoginOutcome::Authenticated { .. }
        ));
        let outcome = creds.authenticate_from("ada", "wrong", "a").await.unwrap();
        assert_eq!(outcome, LoginOutcome::InvalidCredentials);
    }

    #[tokio::test]
    async fn authenticate_shares_one_network_and_control_characters_are_refused() {
        let clock = FakeClock::new();
        let creds = creds(&clock).await;
        for _ in 0..3 {
            creds.authenticate("ada", "wrong").await.unwrap();
        }
        assert_eq!(wait(creds.authenticate("ada", "right").await.unwrap()), 10);
        let outcome = creds.authenticate_from("ada", "right", ANY_NETWORK);
        assert_eq!(wait(outcome.await.unwrap()), 10, "the same bucket");
        let err = creds
            .authenticate_from("a\nda", "x", "a")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let long = "a".repeat(600);
        let err = creds.authenticate_from(&long, "x", "a").await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }

    /// A user id with a control character, or none, or one too long,
    /// could never be listed under its sessions or grants: refused at
    /// registration (the admin API's fuzzer registered one).
    #[tokio::test]
    async fn user_ids_no_index_key_can_hold_are_refused() {
        let clock = FakeClock::new();
        let creds = creds(&clock).await;
        let long = "u".repeat(201);
        for bad in ["", "u\u{14}", "u\u{80}x", "line\nbreak", long.as_str()] {
            let err = creds.register_user("eve", bad, "pw").await.unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err:?}");
        }
        let err = creds
            .register_user("e\u{7}ve", "u-e", "pw")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        creds.register_user("eve", "u-\u{e9}", "pw").await.unwrap();
    }

    #[tokio::test]
    async fn concurrent_guesses_get_only_the_budget() {
        let clock = FakeClock::new();
        let creds = creds(&clock).await;
        let guesses = (0..12).map(|_| creds.authenticate_from("ada", "wrong", "a"));
        let outcomes: Vec<LoginOutcome> = futures::future::join_all(guesses)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let checked = outcomes
            .iter()
            .filter(|o| **o == LoginOutcome::InvalidCredentials)
            .count();
        assert_eq!(checked, 3, "{outcomes:?}");
    }
}
