//! The whole conformance suite on SQLite, on a file and in memory.
#![cfg(feature = "sqlite")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use authstore::{FakeClock, SqliteStore, Store};

/// Each test gets its own database file; every store it opens is a separate
/// connection to that file, so cross-connection locking is exercised too.
mod file {
    use super::*;

    async fn open(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
        static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
        let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
        let path = dir.path().join(format!(
            "{}.db",
            authstore_testkit::scope_identifier(&prefix)
        ));
        let store = SqliteStore::builder()
            .path(path)
            .prefix(prefix)
            .clock(clock)
            .sweep_interval(None)
            .connect()
            .await
            .expect("open SQLite file");
        Arc::new(store)
    }

    authstore_testkit::conformance_suite!(open);

    authstore_testkit::modules_suite!(open);

    #[tokio::test]
    async fn capabilities_say_sqlite_and_durable() {
        let clock = FakeClock::at_millis(5_000);
        let store = open(authstore_testkit::unique_prefix("caps"), clock.clone()).await;
        authstore_testkit::conformance::assert_capabilities(&*store, &clock, "sqlite", true);
    }
}

/// Each test gets its own in-memory database; stores it opens with other
/// prefixes are views of that same database.
mod memory {
    use super::*;

    async fn open(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
        static DBS: OnceLock<Mutex<HashMap<String, SqliteStore>>> = OnceLock::new();
        let scope = authstore_testkit::test_scope(&prefix).to_owned();
        let existing = DBS
            .get_or_init(Default::default)
            .lock()
            .unwrap()
            .get(&scope)
            .cloned();
        let store = match existing {
            Some(db) => db.with_prefix(&prefix).expect("prefix"),
            None => {
                let db = SqliteStore::builder()
                    .in_memory()
                    .prefix(prefix)
                    .clock(clock)
                    .sweep_interval(None)
                    .connect()
                    .await
                    .expect("open SQLite in memory");
                DBS.get().unwrap().lock().unwrap().insert(scope, db.clone());
                db
            }
        };
        Arc::new(store)
    }

    authstore_testkit::conformance_suite!(open);

    authstore_testkit::modules_suite!(open);

    #[tokio::test]
    async fn capabilities_say_sqlite_and_not_durable() {
        let clock = FakeClock::at_millis(5_000);
        let store = open(authstore_testkit::unique_prefix("caps"), clock.clone()).await;
        authstore_testkit::conformance::assert_capabilities(&*store, &clock, "sqlite", false);
    }
}
