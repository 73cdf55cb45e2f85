//! The security event log: an event recorded through `AppState::audit` lands in the store and on the `authstore::audit` tracing target, and `audit_retention` from the config file decides how long the store keeps it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use authstore::audit::{AuditEvent, Outcome};
use authstore::{FakeClock, MemoryStore, Store};
use authstore_server::AppState;
use authstore_server::config::{ConfigFile, Overrides, ServeConfig};

mod ops_support;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Held by every test that records events: `tracing` caches per call site
/// whether anyone listens, and a thread-local subscriber set while another
/// thread logs through the same call site can miss lines.
static RECORDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// The JSON log lines written so far.
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// Settings from a config file (cheap hashing plus `extra`), as `serve` resolves them.
fn settings_from(extra: &str) -> authstore_server::Settings {
    let text = format!("{extra}\n{}", ops_support::FAST_HASHING);
    let file = ConfigFile::parse(&text, "audit.toml").unwrap();
    ServeConfig::resolve(&Overrides::default(), Some(&file), &|_: &str| None)
        .unwrap()
        .settings
}

fn everything() -> (SystemTime, SystemTime) {
    (
        SystemTime::UNIX_EPOCH,
        SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 365 * 24 * 3600),
    )
}

#[tokio::test]
async fn an_audit_event_reaches_the_store_and_the_audit_log_target() {
    let _recording = RECORDING.lock().await;
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let capture = capture.clone();
            move || capture.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let clock = FakeClock::at_millis(1_700_000_000_000);
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::builder().clock(clock.clone()).build().unwrap());
    let state = AppState::with_clock(store, settings_from(""), clock.clone()).unwrap();
    state
        .audit(
            AuditEvent::new("client.register", Outcome::Success)
                .user("u-ada")
                .resource("client-1")
                .client(Some("198.51.100.7".into()), None)
                .meta("grant_types", "authorization_code"),
        )
        .await;
    state
        .audit(AuditEvent::new("login.lockout", Outcome::Denied).user("u-ada"))
        .await;

    let (from, to) = everything();
    let stored = state
        .audit_log()
        .events()
        .in_time_range(from, to)
        .await
        .unwrap();
    let actions: Vec<&str> = stored.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.len(), 2, "{stored:?}");
    assert!(actions.contains(&"client.register") && actions.contains(&"login.lockout"));
    let register = stored
        .iter()
        .find(|e| e.action == "client.register")
        .unwrap();
    assert_eq!(register.user.as_deref(), Some("u-ada"));
    assert_eq!(register.resource.as_deref(), Some("client-1"));
    assert_eq!(register.ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(
        register.at, 1_700_000_000_000,
        "timed by the injected clock"
    );
    let by_user = state
        .audit_log()
        .events()
        .by_user("u-ada", from, to)
        .await
        .unwrap();
    assert_eq!(by_user.len(), 2);

    let logged: Vec<serde_json::Value> = capture
        .lines()
        .into_iter()
        .filter(|line| line["target"] == "authstore::audit")
        .collect();
    let find = |action: &str| {
        logged
            .iter()
            .find(|line| line["fields"]["action"] == action)
            .unwrap_or_else(|| panic!("no audit line for {action}: {logged:?}"))
            .clone()
    };
    let line = find("client.register");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["outcome"], "success");
    assert_eq!(line["fields"]["user"], "u-ada");
    assert_eq!(line["fields"]["resource"], "client-1");
    assert_eq!(line["fields"]["ip"], "198.51.100.7");
    assert!(
        line["fields"]["metadata"]
            .as_str()
            .unwrap()
            .contains("authorization_code"),
        "{line}"
    );
    let line = find("login.lockout");
    assert_eq!(line["level"], "WARN", "refusals are logged at warn");
    assert_eq!(line["fields"]["outcome"], "denied");
}

#[tokio::test]
async fn audit_retention_from_the_config_file_decides_how_long_events_stay() {
    let _recording = RECORDING.lock().await;
    let settings = settings_from("audit_retention = \"2d\"");
    assert_eq!(settings.audit_retention, 2 * DAY);
    assert_eq!(
        settings_from("").audit_retention,
        90 * DAY,
        "the default is 90 days"
    );
    let clock = FakeClock::at_millis(1_700_000_000_000);
    let store: Arc<dyn Store> =
        Arc::new(MemoryStore::builder().clock(clock.clone()).build().unwrap());
    let state = AppState::with_clock(store, settings, clock.clone()).unwrap();
    state
        .audit(AuditEvent::new("token.revoke", Outcome::Success).user("u-ada"))
        .await;
    let (from, to) = everything();
    let count = || async {
        state
            .audit_log()
            .events()
            .in_time_range(from, to)
            .await
            .unwrap()
            .len()
    };
    clock.advance(2 * DAY - Duration::from_secs(1));
    assert_eq!(count().await, 1, "kept within the retention");
    clock.advance(Duration::from_secs(2));
    assert_eq!(count().await, 0, "gone after the retention");
}

#[test]
fn audit_retention_must_be_positive() {
    let file = ConfigFile::parse("audit_retention = \"0s\"", "audit.toml").unwrap();
    let error =
        ServeConfig::resolve(&Overrides::default(), Some(&file), &|_: &str| None).unwrap_err();
    assert!(error.0.contains("audit_retention"), "{error}");
}
