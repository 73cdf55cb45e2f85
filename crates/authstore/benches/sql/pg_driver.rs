//! The floor under PostgresStore's `get`: the same statement on bare tokio-postgres (one client per task, prepared once, no pool, no store), timed like the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::Barrier;
use tokio_postgres::types::Type;

use crate::common::{Loop, Rng, Tally, VALUE_LEN, measure_window, now_ms, store_key};

/// Task runs so far, so that each run draws its own keys.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// One connection per task with the statement prepared on it.
pub(crate) type Conns = Arc<[(tokio_postgres::Client, tokio_postgres::Statement)]>;

/// Opens `n` connections to `url` and prepares `sql` (the store's get:
/// `$1` the key, `$2` now in ms) on each.
pub(crate) async fn connect(url: &str, sql: &str, n: usize) -> Conns {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect tokio-postgres");
        tokio::spawn(async move {
            // Ends when the client is dropped.
            let _ = connection.await;
        });
        let statement = client
            .prepare_typed(sql, &[Type::TEXT, Type::INT8])
            .await
            .expect("prepare the get statement");
        conns.push((client, statement));
    }
    conns.into()
}

/// `l.tasks` tasks, task `i` on connection `i`, getting random store keys for `secs`.
pub(crate) async fn timed_driver(conns: &Conns, l: Loop, secs: f64) -> (Tally, Duration) {
    assert!(conns.len() >= l.tasks, "a connection per task");
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(l.tasks + 1));
    let mut handles = Vec::with_capacity(l.tasks);
    for task in 0..l.tasks {
        let conns = Arc::clone(conns);
        let (stop, barrier) = (Arc::clone(&stop), Arc::clone(&barrier));
        handles.push(tokio::spawn(async move {
            let (client, statement) = &conns[task];
            let mut rng = Rng::new(7 + task as u64 + 1000 * RUNS.fetch_add(1, Relaxed));
            let mut k = String::with_capacity(16);
            let mut t = Tally::default();
            barrier.wait().await;
            while !stop.load(Relaxed) {
                store_key(&mut k, rng.below(l.keys));
                let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
                let began = Instant::now();
                match client.query_opt(statement, &[&k, &now]).await {
                    Ok(Some(row)) => match row.try_get::<_, Option<&[u8]>>(0) {
                        Ok(Some(v)) if v.len() == VALUE_LEN => {}
                        Ok(v) => t.error(format!("{k}: value {:?} B", v.map(<[u8]>::len))),
                        Err(e) => t.error(e),
                    },
                    Ok(None) => t.misses += 1,
                    Err(e) => t.error(e),
                }
                t.push_latency(began);
            }
            t.end = Some(Instant::now());
            t
        }));
    }
    measure_window(&barrier, &stop, handles, secs).await
}
