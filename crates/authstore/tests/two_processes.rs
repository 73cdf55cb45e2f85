//! Two OS processes on one Redis and one PostgreSQL: rate limits stay exact
//! and a destroyed session is not resurrected. The second process is this
//! test binary re-run on its ignored `worker` test.
#![cfg(all(feature = "redis", feature = "postgres"))]

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use authstore::ratelimit::{Algorithm, Limit, RateLimiter};
use authstore::session::{SessionId, SessionManager, SessionMeta};
use authstore::{Error, Store};
use authstore_testkit::harness::postgres::PostgresServer;
use authstore_testkit::harness::redis::RedisServer;

const TASKS: usize = 50;
const ATTEMPTS: usize = 3;
const LIMIT: u32 = 100;

async fn open(url: &str) -> Arc<dyn Store> {
    authstore::open(url).await.expect("open store")
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// Waits until the wall-clock instant `at_ms`, so both processes start together.
async fn start_at(at_ms: u64) {
    tokio::time::sleep(Duration::from_millis(at_ms.saturating_sub(epoch_ms()))).await;
}

/// 50 tasks, 3 attempts each, against the shared limit from `at_ms` on;
/// returns how many were admitted.
async fn hammer(store: Arc<dyn Store>, key: &str, algorithm: Algorithm, at_ms: u64) -> usize {
    let limiter = RateLimiter::new(
        store,
        Limit::per(LIMIT, Duration::from_secs(3600)).algorithm(algorithm),
    );
    // Warm the connection up (a no-cost query), then start together with the other process.
    limiter.check("warm-up", 0).await.expect("warm-up");
    start_at(at_ms).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (limiter, key) = (limiter.clone(), key.to_owned());
            tokio::spawn(async move {
                let mut n = 0;
                for _ in 0..ATTEMPTS {
                    n += usize::from(limiter.check(&key, 1).await.expect("check").allowed);
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total
}

/// Runs the worker in a second process with `args` (KEY=VALUE pairs), returning its stdout.
fn second_process(args: &[(&str, String)]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "worker",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (k, v) in args {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the second process")
}

fn admitted_by(child: std::process::Child) -> usize {
    let out = child.wait_with_output().expect("second process");
    assert!(out.status.success(), "second process failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split("ADMITTED=").nth(1))
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no ADMITTED line in {text}"))
}

async fn exact_across_processes(url: &str) {
    for algorithm in [
        Algorithm::Gcra,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
    ] {
        let key = format!("two-proc-{algorithm:?}-{}", std::process::id());
        // Both processes start together, once the second has surely started.
        let at_ms = epoch_ms() + 2000;
        let child = second_process(&[
            ("AUTHSTORE_WORKER_START", at_ms.to_string()),
            ("AUTHSTORE_WORKER", "ratelimit".into()),
            ("AUTHSTORE_WORKER_URL", url.to_owned()),
            ("AUTHSTORE_WORKER_KEY", key.clone()),
            ("AUTHSTORE_WORKER_ALGO", format!("{algorithm:?}")),
        ]);
        let here = hammer(open(url).await, &key, algorithm, at_ms).await;
        let there = tokio::task::spawn_blocking(move || admitted_by(child))
            .await
            .unwrap();
        assert_eq!(
            here + there,
            LIMIT as usize,
            "{algorithm:?}: {here} + {there} admitted across two processes"
        );
        eprintln!(
            "{algorithm:?}: this process {here}, the other {there}, total {}",
            here + there
        );
    }
}

async fn no_resurrection_across_processes(url: &str) {
    let sessions = SessionManager::new(open(url).await);
    let s = sessions.create(None, SessionMeta::default()).await.unwrap();
    let mut in_flight = sessions.load(s.id()).await.unwrap().unwrap();
    let child = second_process(&[
        ("AUTHSTORE_WORKER", "destroy".into()),
        ("AUTHSTORE_WORKER_URL", url.to_owned()),
        ("AUTHSTORE_WORKER_KEY", s.id().expose().to_owned()),
    ]);
    assert_eq!(
        tokio::task::spawn_blocking(move || admitted_by(child))
            .await
            .unwrap(),
        1,
        "destroyed there"
    );
    in_flight.insert("late", true).unwrap();
    let err = sessions.save(&mut in_flight).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(
        sessions.load(s.id()).await.unwrap().is_none(),
        "not resurrected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_processes_exact_limits_and_no_resurrection() {
    let redis = RedisServer::from_env_or_start().expect("redis-server");
    exact_across_processes(&redis.url()).await;
    no_resurrection_across_processes(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_exact_limits_and_no_resurrection() {
    let pg = PostgresServer::builder()
        .fsync(false)
        .from_env_or_start()
        .expect("PostgreSQL");
    let url = pg
        .create_database(&format!("authstore_test_twoproc_{}", std::process::id()))
        .expect("database");
    exact_across_processes(&url).await;
    no_resurrection_across_processes(&url).await;
}

/// The second process. Run only by the tests above (ignored otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the second process of the two-process tests; they run it"]
async fn worker() {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
    };
    let store = open(&var("AUTHSTORE_WORKER_URL")).await;
    let n = match var("AUTHSTORE_WORKER").as_str() {
        "ratelimit" => {
            let algorithm = match var("AUTHSTORE_WORKER_ALGO").as_str() {
                "Gcra" => Algorithm::Gcra,
                "FixedWindow" => Algorithm::FixedWindow,
                _ => Algorithm::SlidingWindow,
            };
            let at_ms = var("AUTHSTORE_WORKER_START").parse().expect("start time");
            hammer(store, &var("AUTHSTORE_WORKER_KEY"), algorithm, at_ms).await
        }
        "destroy" => {
            let id = SessionId::parse(&var("AUTHSTORE_WORKER_KEY")).expect("session id");
            usize::from(
                SessionManager::new(store)
                    .destroy(&id)
                    .await
                    .expect("destroy"),
            )
        }
        other => panic!("unknown worker mode {other}"),
    };
    println!("ADMITTED={n}");
}
