//! The audit log: modules emit events to one sink; query them by user and time.
//! Run: `cargo run --example audit`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use authstore::audit::{AuditEvent, AuditSink, Outcome, StoreAudit};
use authstore::session::{SessionManager, SessionMeta, SessionUser};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = authstore::open("memory://").await?;
    let audit = Arc::new(StoreAudit::new(
        store.clone(),
        Duration::from_secs(90 * 86_400),
    ));
    let sessions = SessionManager::new(store).with_audit(audit.clone());
    let start = SystemTime::now();
    let mut s = sessions
        .create(
            None,
            SessionMeta {
                ip: Some("192.0.2.1".into()),
                ..SessionMeta::default()
            },
        )
        .await?;
    sessions.login(&mut s, SessionUser::new("u1")).await?;
    audit
        .record(
            AuditEvent::new("report.export", Outcome::Success)
                .user("u1")
                .resource("report:7"),
        )
        .await?;
    let end = SystemTime::now() + Duration::from_secs(1);
    for e in audit.by_user("u1", start, end).await? {
        println!(
            "{} {:?} {:?} from {:?}",
            e.action, e.outcome, e.resource, e.ip
        );
    }
    println!(
        "{} event(s) in all",
        audit.in_time_range(start, end).await?.len()
    );
    Ok(())
}
