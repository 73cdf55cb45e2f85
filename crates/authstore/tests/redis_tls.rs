//! The whole conformance suite over TLS (`rediss://`, rustls) against a
//! private redis-server with a throwaway CA.
#![cfg(feature = "redis")]

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, RedisStore, Store};
use authstore_testkit::harness::redis_tls::RedisTlsServer;

fn server() -> &'static RedisTlsServer {
    static SERVER: OnceLock<RedisTlsServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisTlsServer::start().expect("start a TLS redis-server"))
}

fn ca() -> Vec<u8> {
    std::fs::read(server().ca_cert_path()).expect("read the test CA")
}

async fn open(prefix: String, _clock: FakeClock) -> Arc<dyn Store> {
    let store = RedisStore::builder()
        .url(&server().url())
        .tls_root_cert(ca())
        .prefix(prefix)
        .connect()
        .await
        .expect("connect over TLS");
    Arc::new(store)
}

authstore_testkit::conformance_suite!(open);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificates_and_plaintext_are_refused() {
    let url = server().url();
    assert!(url.starts_with("rediss://"), "{url}");
    // System roots do not include the throwaway CA.
    assert!(
        RedisStore::connect(&url).await.is_err(),
        "an untrusted certificate must fail"
    );
    let plain = url.replacen("rediss://", "redis://", 1);
    let attempt = RedisStore::builder()
        .url(&plain)
        .connect_timeout(std::time::Duration::from_millis(500))
        .connect()
        .await;
    assert!(attempt.is_err(), "plaintext must not reach a TLS port");
}
