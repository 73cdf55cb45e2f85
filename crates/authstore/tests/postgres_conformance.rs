//! The whole conformance suite on PostgreSQL: a private cluster (or `DATABASE_URL`), one schema per test.
#![cfg(feature = "postgres")]

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, PostgresStore, Store};
use authstore_testkit::harness::postgres::{PostgresServer, PostgresTarget};

/// One server and one fresh database for the whole test binary.
fn database_url() -> String {
    static DB: OnceLock<(PostgresTarget, String)> = OnceLock::new();
    DB.get_or_init(|| {
        let target = PostgresServer::builder()
            .fsync(false)
            .from_env_or_start()
            .expect("start PostgreSQL");
        let name = format!("authstore_test_conf_{}", std::process::id());
        let url = target.create_database(&name).expect("create database");
        (target, url)
    })
    .1
    .clone()
}

async fn open(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
    let store = PostgresStore::builder()
        .url(&database_url())
        .schema(authstore_testkit::scope_identifier(&prefix))
        .prefix(prefix)
        .clock(clock)
        .pool_size(8)
        .sweep_interval(None)
        .connect()
        .await
        .expect("connect to PostgreSQL");
    Arc::new(store)
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn capabilities_say_postgres_and_durable() {
    let clock = FakeClock::at_millis(5_000);
    let store = open(authstore_testkit::unique_prefix("caps"), clock.clone()).await;
    authstore_testkit::conformance::assert_capabilities(&*store, &clock, "postgres", true);
}

authstore_testkit::modules_suite!(open);
