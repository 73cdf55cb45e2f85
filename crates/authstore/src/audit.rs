//! The audit log: append-only events (who, what, outcome, from where, when) through one [`AuditSink`], kept in the store with a retention TTL and queryable by user and time.
//!
//! Modules take an `Arc<dyn AuditSink>`; the default [`NoAudit`] reports
//! itself disabled, and modules check [`AuditSink::enabled`] before building
//! an event, so auditing costs nothing when it is off.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SharedClock, millis_to_system_time, system_time_to_millis};
use crate::error::Result;
use crate::ext::StoreExt;
use crate::store::Store;
use crate::types::PutOptions;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed (bad password, unknown token, …).
    Failure,
    /// It was refused by policy (lockout, rate limit, CSRF).
    Denied,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When, in ms since the epoch (set by the sink from its clock if 0).
    pub at: u64,
    /// Who acted, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What was done, e.g. `session.login`.
    pub action: String,
    /// What it was done to, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Client IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Client `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Anything else (never secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl AuditEvent {
    /// An event for `action` with `outcome`; fill the rest with the builder methods.
    pub fn new(action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            at: 0,
            user: None,
            action: action.into(),
            resource: None,
            outcome,
            ip: None,
            user_agent: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the acting user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the resource.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Sets the client IP and user agent.
    pub fn client(mut self, ip: Option<String>, user_agent: Option<String>) -> Self {
        self.ip = ip;
        self.user_agent = user_agent;
        self
    }

    /// Adds a metadata field.
    pub fn meta(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.metadata.insert(name.into(), value.into());
        self
    }

    /// When it happened.
    pub fn time(&self) -> SystemTime {
        millis_to_system_time(self.at)
    }
}

/// Where modules send audit events.
#[async_trait]
pub trait AuditSink: Send + Sync + Debug + 'static {
    /// Whether events are recorded at all; callers skip building events when not.
    fn enabled(&self) -> bool {
        true
    }

    /// Appends one event.
    ///
    /// # Errors
    /// The sink's storage errors.
    async fn record(&self, event: AuditEvent) -> Result<()>;
}

/// The sink that records nothing (the default): `enabled()` is false.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

#[async_trait]
impl AuditSink for NoAudit {
    fn enabled(&self) -> bool {
        false
    }

    async fn record(&self, _event: AuditEvent) -> Result<()> {
        Ok(())
    }
}

/// Sends `build()` to `sink` if it is enabled; a failing sink never fails
/// the audited operation.
pub(crate) async fn emit(sink: &dyn AuditSink, build: impl FnOnce() -> AuditEvent) {
    if sink.enabled() {
        let _ = sink.record(build()).await;
    }
}

/// Audit events in a [`Store`], each under `audit:<ms>:<random>` (create-only,
/// never rewritten), with a retention TTL and listed under `audit-user:<user>`.
#[derive(Debug, Clone)]
pub struct StoreAudit {
    store: Arc<dyn Store>,
    clock: SharedClock,
    retention: Duration,
}

impl StoreAudit {
    /// Events on `store`, kept for `retention`, timed by the store's
    /// [`clock`](Store::clock).
    pub fn new(store: Arc<dyn Store>, retention: Duration) -> Self {
        let clock = store.clock();
        Self::with_clock(store, retention, clock)
    }

    /// Events timed by `clock`.
    pub fn with_clock(store: Arc<dyn Store>, retention: Duration, clock: impl Clock) -> Self {
        Self {
            store,
            clock: crate::clock::share(clock),
            retention,
        }
    }

    fn in_range(event: &AuditEvent, from: SystemTime, to: SystemTime) -> bool {
        (system_time_to_millis(from)..system_time_to_millis(to)).contains(&event.at)
    }

    /// The user's events in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn by_user(
        &self,
        user: &str,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::new();
        for key in self.store.list_index(&format!("audit-user:{user}")).await? {
            if let Some(found) = self.store.get_json::<AuditEvent>(&key).await?
                && Self::in_range(&found.value, from, to)
            {
                out.push(found.value);
            }
        }
        out.sort_by_key(|e| e.at);
        Ok(out)
    }

    /// Every event in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn in_time_range(&self, from: SystemTime, to: SystemTime) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.store.scan("audit:", cursor.as_deref(), 500).await?;
            for entry in page.entries {
                if let Ok(event) = serde_json::from_slice::<AuditEvent>(&entry.value)
                    && Self::in_range(&event, from, to)
                {
                    out.push(event);
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        out.sort_by_key(|e| e.at);
        Ok(out)
    }
}

#[async_trait]
impl AuditSink for StoreAudit {
    async fn record(&self, mut event: AuditEvent) -> Result<()> {
        if event.at == 0 {
            event.at = self.clock.now_millis();
        }
        let nonce = &crate::secret::sha256_hex(&crate::secret::random_token()?)[..16];
        let key = format!("audit:{:013}:{nonce}", event.at);
        let mut options = PutOptions::new().ttl(self.retention).create_only();
        if let Some(user) = &event.user {
            options = options.index(format!("audit-user:{user}"));
        }
        self.store.put_json(&key, &event, options).await.map(drop)
    }
}
