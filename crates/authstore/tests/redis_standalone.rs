//! The whole conformance suite against a real, private redis-server (or `REDIS_URL`).
#![cfg(feature = "redis")]

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, RedisStore, Store};
use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

/// One server for the whole test binary; every test uses its own key prefix.
fn server_url() -> String {
    static SERVER: OnceLock<RedisTarget> = OnceLock::new();
    SERVER
        .get_or_init(|| RedisServer::from_env_or_start().expect("start redis-server"))
        .url()
}

async fn open(prefix: String, _clock: FakeClock) -> Arc<dyn Store> {
    let store = RedisStore::builder()
        .url(&server_url())
        .prefix(prefix)
        .connect()
        .await
        .expect("connect to redis");
    Arc::new(store)
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn capabilities_say_redis_and_durable() {
    let clock = FakeClock::new();
    let store = open(authstore_testkit::unique_prefix("caps"), clock.clone()).await;
    authstore_testkit::conformance::assert_capabilities(&*store, &clock, "redis", true);
}

authstore_testkit::modules_suite!(open);
