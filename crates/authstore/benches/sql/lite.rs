//! SqliteStore (a WAL file and `in_memory()`) at 8 tasks and 1 task, and a
//! raw rusqlite loop running the same statements as the floor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::{SqliteStore, Store};
use rusqlite::{Connection, Statement, params};

use crate::Sizes;
use crate::common::{
    CpuSnap, Loop, Op, Rng, TTL, Tally, VALUE_BYTE, VALUE_LEN, fill, fmt_int, now_ms, selected,
    store_key, take_all, timed,
};

/// Who ran a SQLite case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// SqliteStore from this many tasks.
    Store(usize),
    /// rusqlite, one thread, statements prepared once.
    Raw,
}

/// One SQLite case.
#[derive(Debug)]
pub(crate) struct LiteRow {
    pub(crate) db: &'static str,
    pub(crate) op: Op,
    pub(crate) who: Who,
    pub(crate) rate: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// CPU cores this process used.
    pub(crate) cores: f64,
    pub(crate) failed: bool,
}

/// The statements both sides run, from `SqliteStore::statements()`.
#[derive(Debug, Clone)]
struct Sql {
    get: String,
    take: String,
    incr: String,
    put: String,
}

/// Runs every SQLite case: file, then memory.
pub(crate) async fn run(sz: Sizes) -> Vec<LiteRow> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    let mut schema: Vec<String> = Vec::new();
    for db in ["file", "memory"] {
        let builder = SqliteStore::builder().sweep_interval(None);
        let path = dir.path().join("bench.db");
        let lite = match db {
            "file" => builder.path(&path),
            _ => builder.in_memory(),
        }
        .connect()
        .await
        .expect("open SqliteStore");
        let find = |name: &str| {
            lite.statements()
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.to_owned())
                .unwrap_or_else(|| panic!("no {name:?} statement"))
        };
        let sql = Sql {
            get: find("get"),
            take: find("take"),
            incr: find("incr"),
            put: find("put_upsert"),
        };
        if db == "file" {
            let conn = Connection::open(&path).expect("open bench.db");
            let mut st = conn
                .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
                .expect("schema");
            schema = st
                .query_map([], |r| r.get(0))
                .expect("schema")
                .collect::<rusqlite::Result<_>>()
                .expect("schema");
        }
        let main: Arc<dyn Store> = Arc::new(lite.clone());
        let counters: Arc<dyn Store> = Arc::new(lite.with_prefix("c/").expect("prefix"));
        let tokens: Arc<dyn Store> = Arc::new(lite.with_prefix("t/").expect("prefix"));
        let t0 = Instant::now();
        fill(&main, sz.lite_keys, 8).await;
        println!(
            "\nSqliteStore {db}: preloaded {} entries through put in {:.1} s",
            sz.lite_keys,
            t0.elapsed().as_secs_f64()
        );
        for tasks in [8, 1] {
            for op in [Op::Get, Op::Put, Op::Incr, Op::Take] {
                if !selected("sqlite", op) {
                    continue;
                }
                let store = match op {
                    Op::Incr => &counters,
                    Op::Take => &tokens,
                    _ => &main,
                };
                rows.push(store_case(db, store, op, tasks, sz).await);
            }
        }
        let raw_path = (db == "file").then(|| dir.path().join("raw.db"));
        let (schema, sql) = (schema.clone(), sql.clone());
        let raw = tokio::task::spawn_blocking(move || raw_cases(db, raw_path, &schema, &sql, sz))
            .await
            .expect("raw cases");
        rows.extend(raw);
    }
    rows
}

async fn store_case(
    db: &'static str,
    store: &Arc<dyn Store>,
    op: Op,
    tasks: usize,
    sz: Sizes,
) -> LiteRow {
    let (mut t, secs, cores) = if op == Op::Take {
        // Rounds: fill (untimed, 8 tasks), then take every key (timed).
        let mut all = Tally::default();
        let mut elapsed = Duration::ZERO;
        let mut busy = 0.0;
        while elapsed.as_secs_f64() < sz.lite_secs {
            fill(store, sz.lite_take_round, 8).await;
            let c0 = CpuSnap::now(None);
            let (t, e) = take_all(store, sz.lite_take_round, tasks).await;
            busy += CpuSnap::now(None).since(&c0, None).client * e.as_secs_f64();
            all.merge(t);
            elapsed += e;
        }
        let secs = elapsed.as_secs_f64();
        (all, secs, busy / secs)
    } else {
        let keys = if op == Op::Incr {
            sz.lite_ctr_keys
        } else {
            sz.lite_keys
        };
        let l = Loop { op, keys, tasks };
        let _ = timed(store, l, sz.lite_warm_secs).await;
        let c0 = CpuSnap::now(None);
        let (t, e) = timed(store, l, sz.lite_secs).await;
        (
            t,
            e.as_secs_f64(),
            CpuSnap::now(None).since(&c0, None).client,
        )
    };
    let row = LiteRow {
        db,
        op,
        who: Who::Store(tasks),
        rate: t.ops as f64 / secs,
        p50_us: t.pct_us(0.5),
        p99_us: t.pct_us(0.99),
        cores,
        failed: t.errors > 0 || t.misses > 0,
    };
    let detail = format!("{}{}", t.tail(), t.error_suffix());
    print_row(&row, t.ops, secs, t.misses, t.errors, &detail);
    row
}

fn print_row(r: &LiteRow, ops: u64, secs: f64, misses: u64, errors: u64, detail: &str) {
    let who = match r.who {
        Who::Store(n) => format!("SqliteStore {} c{n}", r.db),
        Who::Raw => format!("rusqlite    {} 1t", r.db),
    };
    println!(
        "{who:<22} {:<4} {:>9} ops/s  p50 {:.1} µs  p99 {:.1} µs  cpu {:.2} cores  ({ops} ops in {secs:.2} s, misses {misses}, errors {errors}; {detail})",
        r.op.name(),
        fmt_int(r.rate),
        r.p50_us,
        r.p99_us,
        r.cores
    );
}

// ------------------------------------------------------------- raw rusqlite

/// The floor: the same statements on one rusqlite connection from one
/// thread, prepared once, no async and no store.
fn raw_cases(
    db: &'static str,
    path: Option<PathBuf>,
    schema: &[String],
    sql: &Sql,
    sz: Sizes,
) -> Vec<LiteRow> {
    let conn = open_raw(path.as_deref(), schema);
    let value = vec![VALUE_BYTE; VALUE_LEN];
    let mut put = conn.prepare(&sql.put).expect("prepare put");
    let mut k = String::with_capacity(16);
    conn.execute_batch("BEGIN").expect("begin");
    for id in 0..sz.lite_keys {
        store_key(&mut k, id);
        raw_put(&mut put, &k, &value).expect("preload");
    }
    conn.execute_batch("COMMIT").expect("commit");
    let mut rows = Vec::new();
    for op in [Op::Get, Op::Put, Op::Incr, Op::Take] {
        if !selected("sqlite", op) {
            continue;
        }
        let c0 = CpuSnap::now(None);
        let (mut t, secs) = match op {
            Op::Get => {
                let mut st = conn.prepare(&sql.get).expect("prepare get");
                raw_loop(sz, sz.lite_keys, "", |k| raw_entry(&mut st, k))
            }
            Op::Put => raw_loop(sz, sz.lite_keys, "", |k| {
                raw_put(&mut put, k, &value).map(|_| true)
            }),
            Op::Incr => {
                let mut st = conn.prepare(&sql.incr).expect("prepare incr");
                raw_loop(sz, sz.lite_ctr_keys, "c/", |k| {
                    let now = now_ms() as i64;
                    let exp = now + TTL.as_millis() as i64;
                    let mut rows = st.query(params![k, now, 1i64, exp, i64::MAX - 1, i64::MIN])?;
                    let row = rows.next()?.expect("incr returns a row");
                    let (_counter, _exp): (i64, i64) = (row.get(0)?, row.get(1)?);
                    finish(rows)?;
                    Ok(true)
                })
            }
            Op::Take => {
                let mut st = conn.prepare(&sql.take).expect("prepare take");
                let mut all = Tally::default();
                let mut elapsed = Duration::ZERO;
                let mut rng = Rng::new(99);
                let n = sz.lite_take_round;
                while elapsed.as_secs_f64() < sz.lite_secs {
                    conn.execute_batch("BEGIN").expect("begin");
                    for id in 0..n {
                        store_key(&mut k, id);
                        k.insert_str(0, "t/");
                        raw_put(&mut put, &k, &value).expect("fill");
                    }
                    conn.execute_batch("COMMIT").expect("commit");
                    let mut ids: Vec<u64> = (0..n).collect();
                    for i in (1..ids.len()).rev() {
                        ids.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    let start = Instant::now();
                    for id in ids {
                        store_key(&mut k, id);
                        k.insert_str(0, "t/");
                        let began = Instant::now();
                        match raw_entry(&mut st, &k) {
                            Ok(true) => {}
                            Ok(false) => all.misses += 1,
                            Err(e) => all.error(e),
                        }
                        all.push_latency(began);
                    }
                    elapsed += start.elapsed();
                }
                (all, elapsed.as_secs_f64())
            }
        };
        // Every write ran to SQLITE_DONE, so SQLite's WAL auto-checkpoint kept
        // up (it runs only then) and the WAL restarted: at most ~1000 frames.
        if path.is_some() && op != Op::Get {
            let frames: i64 = conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .expect("wal_checkpoint");
            assert!(
                frames < 2000,
                "raw {}: WAL grew to {frames} frames",
                op.name()
            );
        }
        assert!(
            conn.is_autocommit(),
            "raw {}: transaction left open",
            op.name()
        );
        let row = LiteRow {
            db,
            op,
            who: Who::Raw,
            rate: t.ops as f64 / secs,
            p50_us: t.pct_us(0.5),
            p99_us: t.pct_us(0.99),
            cores: CpuSnap::now(None).since(&c0, None).client,
            failed: t.errors > 0 || t.misses > 0,
        };
        let detail = format!("{}{}", t.tail(), t.error_suffix());
        print_row(&row, t.ops, secs, t.misses, t.errors, &detail);
        rows.push(row);
    }
    rows
}

/// A connection set up as SqliteStore sets up its own, with the store's schema.
fn open_raw(path: Option<&Path>, schema: &[String]) -> Connection {
    let conn = match path {
        Some(p) => Connection::open(p),
        None => Connection::open_in_memory(),
    }
    .expect("open raw connection");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy");
    if path.is_some() {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .expect("WAL");
        assert!(mode.eq_ignore_ascii_case("wal"));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL")
        .expect("synchronous");
    for s in schema {
        conn.execute_batch(s).expect("schema");
    }
    conn
}

/// One upsert (`put_upsert`: key, now, value, json, counter, expires_at, index keys).
fn raw_put(st: &mut Statement<'_>, key: &str, value: &[u8]) -> rusqlite::Result<i64> {
    let now = now_ms() as i64;
    let exp = now + TTL.as_millis() as i64;
    let none_text: Option<&str> = None;
    let none_int: Option<i64> = None;
    let mut rows = st.query(params![
        key, now, value, none_text, none_int, exp, none_text
    ])?;
    let version = rows.next()?.expect("put returns the version").get(0)?;
    finish(rows)?;
    Ok(version)
}

/// Steps `rows` to the end, as the store's driver does. A write statement
/// with RETURNING that is reset after its first row still commits, but
/// SQLite runs the WAL auto-checkpoint only when a statement reaches
/// SQLITE_DONE: stopping early lets the WAL grow without bound (and skips
/// the checkpoint fsyncs the store pays).
fn finish(mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<()> {
    while rows.next()?.is_some() {}
    Ok(())
}

/// Runs get or take (`$1 key, $2 now`) and reads the entry as the store
/// does: the value copied out, version and expiry read. `Ok(hit)`.
fn raw_entry(st: &mut Statement<'_>, key: &str) -> rusqlite::Result<bool> {
    let mut rows = st.query(params![key, now_ms() as i64])?;
    let Some(row) = rows.next()? else {
        return Ok(false);
    };
    let value = row.get_ref(0)?.as_blob()?.to_vec();
    let (_json, _counter) = (row.get_ref(1)?, row.get_ref(2)?);
    let (_version, _exp): (i64, i64) = (row.get(3)?, row.get(4)?);
    finish(rows)?;
    Ok(value.len() == VALUE_LEN)
}

/// Runs `op` over random ids of `0..keys` (keyed `{prefix}s:%07d`) for
/// `sz.lite_warm_secs` untimed, then for `sz.lite_secs`.
fn raw_loop(
    sz: Sizes,
    keys: u64,
    prefix: &str,
    mut op: impl FnMut(&str) -> rusqlite::Result<bool>,
) -> (Tally, f64) {
    let mut rng = Rng::new(5);
    let mut k = String::with_capacity(16);
    let mut pass = |secs: f64| {
        let mut t = Tally::default();
        let start = Instant::now();
        while t.ops % 256 != 0 || start.elapsed().as_secs_f64() < secs {
            store_key(&mut k, rng.below(keys));
            k.insert_str(0, prefix);
            let began = Instant::now();
            match op(&k) {
                Ok(true) => {}
                Ok(false) => t.misses += 1,
                Err(e) => t.error(e),
            }
            t.push_latency(began);
        }
        (t, start.elapsed().as_secs_f64())
    };
    let _ = pass(sz.lite_warm_secs);
    pass(sz.lite_secs)
}
