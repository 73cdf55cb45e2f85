//! RedisStore against real redis-server processes: ACL, kill -9 and restart,
//! durability with AOF, timeouts, two independent stores, corrupt data, URLs.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authstore::{Error, OpenError, PutOptions, RedisStore, Store};
use authstore_testkit::conformance::run_parallel;
use authstore_testkit::harness::redis::RedisServer;

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_without_permission_gets_permission_denied() {
    let server = RedisServer::start().unwrap();
    let mut admin = raw(&server.url()).await;
    // May read and ping under authstore:, but not write or run scripts.
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "reader",
            "on",
            ">s3cret",
            "~authstore:*",
            "+get",
            "+pttl",
            "+ping",
            "+exists",
        ])
        .query_async(&mut admin)
        .await
        .unwrap();
    let url = format!("redis://reader:s3cret@127.0.0.1:{}", server.port());
    let store = RedisStore::connect(&url)
        .await
        .expect("the reader may log in");
    assert!(
        store.get("session:x").await.unwrap().is_none(),
        "reads are allowed"
    );
    let err = store
        .put("session:x", b"v", PutOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "got {err:?}");
    assert!(err.to_string().contains("permission denied"), "{err}");
    let err = store.delete("session:x").await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "got {err:?}");

    let bad = format!("redis://reader:wrong@127.0.0.1:{}", server.port());
    let err = RedisStore::connect(&bad).await.unwrap_err();
    assert!(
        !err.to_string().contains("wrong"),
        "no password in errors: {err}"
    );
    assert!(
        matches!(err, Error::Backend { .. } | Error::PermissionDenied { .. }),
        "got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_recovers_and_keeps_every_acknowledged_write() {
    let mut server = RedisServer::builder()
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .start()
        .unwrap();
    let timeout = Duration::from_millis(500);
    let store = RedisStore::builder()
        .url(&server.url())
        .command_timeout(timeout)
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (store, stop) = (store.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut failed, mut slowest) = (Vec::new(), 0u32, Duration::ZERO);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w:{w}:{i}");
                let started = Instant::now();
                match store.put(&key, b"v", PutOptions::new()).await {
                    Ok(_) => acked.push(key),
                    Err(Error::Backend { .. } | Error::Timeout { .. }) => {
                        failed += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(other) => panic!("untyped failure: {other:?}"),
                }
                slowest = slowest.max(started.elapsed());
                i += 1;
            }
            (acked, failed, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.restart().unwrap();
    let restarted = Instant::now();
    let recovered = loop {
        if store
            .put("probe:after", b"v", PutOptions::new())
            .await
            .is_ok()
        {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "no recovery after restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut failed, mut slowest) = (Vec::new(), 0, Duration::ZERO);
    for w in writers {
        let (a, f, s) = w.await.expect("no writer panicked");
        acked.extend(a);
        failed += f;
        slowest = slowest.max(s);
    }
    eprintln!(
        "kill -9 test: {} writes acknowledged, {failed} failed with typed errors, \
         slowest operation {slowest:?}, recovered {recovered:?} after restart",
        acked.len()
    );
    assert!(failed > 0, "the kill must have failed some operations");
    assert!(
        recovered < Duration::from_secs(2),
        "recovered after {recovered:?}"
    );
    assert!(
        slowest < timeout + Duration::from_millis(500),
        "an operation hung for {slowest:?}"
    );
    let mut missing = 0;
    for key in &acked {
        missing += usize::from(!store.exists(key).await.unwrap());
    }
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged writes lost",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_gives_a_typed_timeout() {
    let server = RedisServer::start().unwrap();
    let store = RedisStore::builder()
        .url(&server.url())
        .command_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let mut admin = raw(&server.url()).await;
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "1500", "ALL"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let started = Instant::now();
    let err = store.get("session:slow").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "got {err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    let h = store.health().await;
    assert!(!h.ok && h.detail.is_some(), "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_independent_stores_race_for_one_take() {
    let server = RedisServer::start().unwrap();
    let a = RedisStore::connect(&server.url()).await.unwrap();
    let b = RedisStore::connect(&server.url()).await.unwrap();
    for round in 0..3 {
        let key = format!("code:{round}");
        a.put(
            &key,
            b"grant",
            PutOptions::new().ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
        let stores = [&a, &b];
        let results = run_parallel(1000, |i| stores[i % 2].take(&key));
        let winners = results
            .into_iter()
            .filter(|r| matches!(r, Ok(Some(_))))
            .count();
        assert_eq!(winners, 1, "round {round}: one winner across both stores");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_entries_are_reported_not_unwrapped() {
    let server = RedisServer::start().unwrap();
    let store = RedisStore::connect(&server.url()).await.unwrap();
    let mut admin = raw(&server.url()).await;
    let _: () = redis::cmd("SET")
        .arg("authstore:bad:1")
        .arg(b"\x1fnot-a-version\x1f\x1fv")
        .query_async(&mut admin)
        .await
        .unwrap();
    let err = store.get("bad:1").await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "got {err:?}");
    let err = store
        .put("bad:1", b"x", PutOptions::new().update_only())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "got {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_configure_prefix_and_reject_nonsense() {
    let server = RedisServer::start().unwrap();
    let url = format!("{}/0?prefix=tenant%3Ab%3A&timeout_ms=750", server.url());
    let store = authstore::open(&url).await.unwrap();
    let caps = store.capabilities();
    assert_eq!(
        (caps.name, caps.durable, store.prefix()),
        ("redis", true, "tenant:b:")
    );
    store.put("k:1", b"v", PutOptions::new()).await.unwrap();
    let mut admin = raw(&server.url()).await;
    let exists: bool = redis::cmd("EXISTS")
        .arg("tenant:b:k:1")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(exists, "keys live under the prefix");
    let in_db3 = authstore::open(&format!("{}/3", server.url()))
        .await
        .unwrap();
    in_db3.put("k:db", b"v", PutOptions::new()).await.unwrap();
    let _: () = redis::cmd("SELECT")
        .arg(3)
        .query_async(&mut admin)
        .await
        .unwrap();
    let in3: bool = redis::cmd("EXISTS")
        .arg("authstore:k:db")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(in3, "the db index in the URL path selects the database");
    let err = authstore::open(&format!("{}?timeout_ms=soon", server.url()))
        .await
        .unwrap_err();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "got {err:?}");
    assert!(err.is_configuration());
    let err = authstore::open("redis+sentinel://127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(matches!(err, OpenError::InvalidUrl { .. }), "got {err:?}");
    let err = RedisStore::builder().connect().await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "got {err:?}");
}
