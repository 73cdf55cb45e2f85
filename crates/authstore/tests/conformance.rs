//! The whole conformance suite against MemoryStore: every prefix is a view of one shared engine.

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, MemoryStore, Store};

/// One engine for the whole test binary, as a server would be.
fn shared() -> &'static MemoryStore {
    static BASE: OnceLock<MemoryStore> = OnceLock::new();
    BASE.get_or_init(|| {
        MemoryStore::builder()
            .sweep_interval(None)
            .build()
            .expect("valid configuration")
    })
}

async fn open(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
    let store = shared().with_prefix(&prefix).expect("valid prefix");
    Arc::new(store.with_clock(clock))
}

authstore_testkit::conformance_suite!(open);

#[tokio::test]
async fn capabilities_say_memory_and_not_durable() {
    let clock = FakeClock::at_millis(5_000);
    let store = open(authstore_testkit::unique_prefix("caps"), clock.clone()).await;
    authstore_testkit::conformance::assert_capabilities(&*store, &clock, "memory", false);
}

authstore_testkit::modules_suite!(open);
