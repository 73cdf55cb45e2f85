//! PostgresStore against a real server it can crash and restart: durability,
//! faults under load, races between two pools, migrations, the sweeper, and
//! what a person sees with psql. Each test starts its own private cluster
//! (restarting an external `DATABASE_URL` server is not ours to do).
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authstore::{Error, FakeClock, PostgresStore, PutOptions, Store};
use authstore_testkit::harness::postgres::PostgresServer;
use authstore_testkit::persistence;

fn server() -> PostgresServer {
    PostgresServer::start().expect("start a private PostgreSQL")
}

async fn store(url: &str, clock: &FakeClock) -> PostgresStore {
    PostgresStore::builder()
        .url(url)
        .clock(clock.clone())
        .pool_size(8)
        .connect_timeout(Duration::from_secs(1))
        .command_timeout(Duration::from_secs(30))
        .sweep_interval(None)
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_entries_survive_a_crash_and_restart() {
    let mut pg = server();
    let clock = FakeClock::new();
    let before = store(&pg.url(), &clock).await;
    let written = persistence::fill(&before, 10_000).await;
    drop(before);
    // Immediate shutdown: no checkpoint, so recovery replays the WAL.
    pg.crash_and_restart().expect("restart PostgreSQL");
    let after = store(&pg.url(), &clock).await;
    persistence::verify(&after, &written).await;
    assert_eq!(after.stats().await.unwrap().entries, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load_gives_typed_errors_recovers_fast_and_loses_no_ack() {
    let mut pg = server();
    let clock = FakeClock::new();
    let store = Arc::new(store(&pg.url(), &clock).await);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut acked, mut failed) = (Vec::new(), Vec::new());
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("load:{w}:{n}");
                    n += 1;
                    match store.put(&key, b"v", PutOptions::new().create_only()).await {
                        Ok(_) => acked.push(key),
                        Err(e) => {
                            failed.push(e);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                (acked, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| pg.crash_and_restart()).expect("restart PostgreSQL");
    let back = Instant::now();
    loop {
        match store.exists("t:probe").await {
            Ok(_) => break,
            Err(e) => eprintln!("{:?} after restart: {e}", back.elapsed()),
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "the pool did not recover within 2 s of the server being back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovered_after = back.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut failed) = (Vec::new(), Vec::new());
    for w in writers {
        let (a, f) = w.await.expect("a writer panicked");
        acked.extend(a);
        failed.extend(f);
    }
    assert!(!failed.is_empty(), "the restart was felt by the writers");
    for e in &failed {
        assert!(
            matches!(e, Error::Backend { .. } | Error::Timeout { .. }),
            "in-flight failures are backend errors or timeouts, got {e:?}"
        );
    }
    let mut lost = Vec::new();
    for key in &acked {
        if !store.exists(key).await.expect("exists") {
            lost.push(key);
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "restart under load: {} acked, {} failed in flight, recovered {recovered_after:?} after the server was back",
        acked.len(),
        failed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_one_database_race_correctly() {
    let pg = server();
    let clock = FakeClock::new();
    let a = store(&pg.url(), &clock).await;
    let b = store(&pg.url(), &clock).await;
    persistence::two_stores_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_even_when_opened_concurrently() {
    let pg = server();
    let url = format!(
        "{}?schema=auth&table_prefix=app_&sweep_interval_ms=0",
        pg.url()
    );
    let opens = futures::future::join_all((0..6).map(|_| PostgresStore::connect(&url))).await;
    let stores: Vec<_> = opens
        .into_iter()
        .map(|s| s.expect("concurrent open"))
        .collect();
    assert_eq!(stores[0].entries_table(), "auth.app_entries");
    assert_eq!(stores[0].migrate().await.unwrap(), 0, "already applied");
    let recorded = pg
        .psql("SELECT version || ':' || name FROM auth.app_schema_migrations")
        .unwrap();
    assert_eq!(recorded, "1:entries");
    // Another table prefix is another set of tables.
    let other = PostgresStore::connect(&format!("{}?schema=auth&table_prefix=other_", pg.url()))
        .await
        .unwrap();
    stores[0].put("t:k", b"1", PutOptions::new()).await.unwrap();
    assert!(other.get("t:k").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_readable_with_psql() {
    let pg = server();
    let clock = FakeClock::new();
    let s = store(&pg.url(), &clock).await;
    s.put(
        "session:1",
        br#"{"user": {"id": 42}, "b": 1, "a": 2}"#,
        PutOptions::new().index("user:42"),
    )
    .await
    .unwrap();
    s.put("blob:1", b"\x00\xffraw", PutOptions::new())
        .await
        .unwrap();
    s.incr("hits:1", 7, None).await.unwrap();
    let q = |sql: &str| pg.psql(sql).unwrap();
    assert_eq!(
        q("SELECT value_json->'user'->>'id' FROM authstore_entries WHERE key = 'session:1'"),
        "42"
    );
    assert_eq!(
        q("SELECT value_json::text FROM authstore_entries WHERE key = 'session:1'"),
        r#"{"user": {"id": 42}, "b": 1, "a": 2}"#,
        "JSON is kept verbatim"
    );
    assert_eq!(
        q("SELECT encode(value, 'hex') FROM authstore_entries WHERE key = 'blob:1'"),
        "00ff726177"
    );
    assert_eq!(
        q("SELECT counter FROM authstore_entries WHERE key = 'hits:1'"),
        "7"
    );
    assert_eq!(
        q("SELECT key FROM authstore_entries WHERE index_keys @> ARRAY['user:42']"),
        "session:1"
    );
    // The hot paths use the indexes.
    let plan = q(
        "SET enable_seqscan = off; EXPLAIN SELECT key FROM authstore_entries WHERE expires_at <= 5 LIMIT 10",
    );
    assert!(plan.contains("authstore_entries_expires_at"), "{plan}");
    let plan = q(
        "SET enable_seqscan = off; EXPLAIN SELECT key FROM authstore_entries WHERE index_keys @> ARRAY['user:42']",
    );
    assert!(plan.contains("authstore_entries_index_keys"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_deletes_expired_rows_in_batches() {
    let pg = server();
    let clock = FakeClock::new();
    let s = PostgresStore::builder()
        .url(&pg.url())
        .clock(clock.clone())
        .sweep_interval(Some(Duration::from_millis(50)))
        .sweep_batch(7)
        .connect()
        .await
        .unwrap();
    persistence::sweeper_removes_expired_rows(&s, &clock).await;
    assert_eq!(
        pg.psql("SELECT count(*) FROM authstore_entries").unwrap(),
        "10"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_by_url_and_health_and_unreachable_server() {
    let pg = server();
    let store = authstore::open(&pg.url())
        .await
        .expect("open postgres:// URL");
    let caps = store.capabilities();
    assert_eq!((caps.name, caps.durable), ("postgres", true));
    assert_eq!(store.capabilities().name, "postgres");
    let health = store.health().await;
    assert!(health.ok, "{health:?}");
    let port = authstore_testkit::harness::free_port().unwrap();
    let started = Instant::now();
    let err = PostgresStore::builder()
        .url(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Backend { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_follows_libpq_sslmode() {
    let pg = PostgresServer::builder()
        .tls(true)
        .start()
        .expect("start PostgreSQL with TLS");
    let ca = pg.ca_cert_path().expect("TLS files");
    let url = |query: &str| format!("{}?{query}", pg.url());
    let with_ca = |mode: &str| url(&format!("sslmode={mode}&sslrootcert={}", ca.display()));
    let connect = |url: String| async move {
        PostgresStore::builder()
            .url(&url)
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
    };
    let tls_sessions = || {
        pg.psql(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'authstore' AND s.ssl",
        )
        .unwrap()
    };
    // Encrypted and verified: the chain, and for verify-full the host name (127.0.0.1 is in the SAN).
    for mode in ["verify-ca", "verify-full"] {
        let store = connect(with_ca(mode)).await.expect(mode);
        store
            .put("t:k", b"over TLS", PutOptions::new())
            .await
            .unwrap();
        drop(store);
    }
    // `prefer` (the default) and `require` encrypt without checking the certificate, as libpq does.
    for query in ["", "sslmode=require"] {
        let store = connect(url(query)).await.expect(query);
        assert_eq!(
            &store.get("t:k").await.unwrap().unwrap().value[..],
            b"over TLS"
        );
        assert_ne!(
            tls_sessions(),
            "0",
            "the store's connections are encrypted ({query:?})"
        );
        drop(store);
    }
    // verify-full without the CA: the certificate is not trusted; a typed error, no fallback.
    let untrusted = connect(url("sslmode=verify-full")).await.unwrap_err();
    assert!(
        matches!(untrusted, Error::Backend { .. } | Error::Timeout { .. }),
        "{untrusted:?}"
    );
    assert!(
        format!("{:?}", untrusted).contains("Certificate"),
        "{untrusted:?}"
    );
    let plain = connect(url("sslmode=disable")).await.unwrap();
    assert_eq!(
        &plain.get("t:k").await.unwrap().unwrap().value[..],
        b"over TLS"
    );
}
