//! The server's security event log: every event goes to the store (queryable, kept for a retention period) and to the `tracing` target `authstore::audit`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authstore::audit::{AuditEvent, AuditSink, Outcome, StoreAudit};
use authstore::{Clock, Store};

/// Security events: lockouts, code and refresh-token reuse, registrations,
/// consents, revocations. Written to the store under `audit:` (see
/// [`StoreAudit`]) and logged at `info` (`warn` for refusals) with the target
/// `authstore::audit`. A failing store write is logged and never fails the
/// request that caused the event.
#[derive(Debug, Clone)]
pub struct ServerAudit {
    store: StoreAudit,
}

impl ServerAudit {
    /// Events kept in `store` for `retention`, timed by `clock`.
    pub fn new(store: Arc<dyn Store>, retention: Duration, clock: impl Clock) -> Self {
        Self {
            store: StoreAudit::with_clock(store, retention, clock),
        }
    }

    /// The store side, for queries.
    pub fn events(&self) -> &StoreAudit {
        &self.store
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::Denied => "denied",
    }
}

#[async_trait]
impl AuditSink for ServerAudit {
    async fn record(&self, event: AuditEvent) -> authstore::Result<()> {
        let metadata = serde_json::to_string(&event.metadata).unwrap_or_default();
        let outcome = outcome_name(event.outcome);
        let (user, resource, ip) = (
            event.user.as_deref().unwrap_or(""),
            event.resource.as_deref().unwrap_or(""),
            event.ip.as_deref().unwrap_or(""),
        );
        if event.outcome == Outcome::Success {
            tracing::info!(target: "authstore::audit", action = %event.action, outcome, user, resource, ip, metadata, "audit");
        } else {
            tracing::warn!(target: "authstore::audit", action = %event.action, outcome, user, resource, ip, metadata, "audit");
        }
        let action = event.action.clone();
        if let Err(e) = self.store.record(event).await {
            tracing::error!(target: "authstore::audit", action = %action, error = %e, "could not store an audit event");
        }
        Ok(())
    }
}
