//! `cargo bench -p authstore --features redis --bench redis`: RedisStore
//! against `redis-benchmark` on the same private redis-server, in one run.
//!
//! One run:
//! 1. starts one private `redis-server` (`--save "" --appendonly no`, through
//!    the testkit harness) and preloads 100,000 raw `key:%012d` strings (for
//!    `redis-benchmark -r 100000`) and 100,000 store entries
//!    `session:%012d` (200-byte values, TTL 3600 s) under the prefix `bench:`;
//! 2. runs `redis-benchmark -c 50 -P 1` and `-P 16` (`-t get,set,incr`, plus
//!    an `EVALSHA` compare-and-set script as the reference for scripted
//!    writes), parsing ops/s from `--csv`;
//! 3. runs RedisStore with 50 tasks sharing one store (one multiplexed
//!    connection): get, put (upsert, TTL), incr (TTL), take (pre-put
//!    single-use keys, refill untimed), put with `IfVersion` (CAS) and gcra;
//! 4. runs `redis-benchmark -c 1` and the same store operations from 1 task;
//! 5. reads `INFO stats commandstats` around every case and prints, per store
//!    operation, which Redis commands ran per call and how many socket read
//!    events the server processed per call (1.00 at 1 task = one round trip).
//!
//! `AUTHSTORE_BENCH_RT=multi|current` picks the tokio runtime: `multi`
//! (default) is multi-thread with 2 workers, `current` is current-thread.
//! In 4 + 3 alternating runs `multi` was faster for the client-bound cases
//! (get +30%, take +25%: one worker decodes replies while the other runs
//! tasks, so requests go out while replies come in) and equal within noise
//! for the script-bound ones. `AUTHSTORE_BENCH_OPS=get,put,incr,take,cas,gcra`
//! limits the store cases, `AUTHSTORE_BENCH_RB=0` skips redis-benchmark (for
//! profiling). Under `cargo test --benches` every case runs once on tiny sizes.
//! See `docs/BENCHMARKS.md` ("Redis backend") for the figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use authstore::{GcraParams, PutOptions, RedisStore, Store};
use authstore_testkit::harness::redis::RedisServer;
use redis::aio::MultiplexedConnection;
use tokio::sync::Barrier;

/// Concurrency of the c50 cases (redis-benchmark `-c 50`, 50 store tasks).
const TASKS: usize = 50;
/// Bytes per value, everywhere.
const VALUE_LEN: usize = 200;
/// TTL of every store write.
const TTL: Duration = Duration::from_secs(3600);
/// Store key prefix.
const PREFIX: &str = "bench:";
/// The compare-and-set script of `docs/BENCHMARKS.md` / perf reference §3.
const CAS_LUA: &str = "local v=redis.call('GET',KEYS[1]) if (not v) or v==ARGV[1] then \
     redis.call('SET',KEYS[1],ARGV[2],'EX',3600) return 1 else return 0 end";

/// Sizes of one run; tiny under `cargo test --benches`.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    keys: u64,
    secs: f64,
    c1_secs: f64,
    warm_secs: f64,
    take_per_task: u64,
    /// redis-benchmark `-n`: c50 P1 simple, P16 simple, P1 EVALSHA, P16 EVALSHA, c1 simple, c1 EVALSHA.
    rb: [u64; 6],
}

const BENCH: Sizes = Sizes {
    keys: 100_000,
    secs: 3.0,
    c1_secs: 1.5,
    warm_secs: 0.3,
    take_per_task: 1_500,
    rb: [300_000, 1_200_000, 150_000, 225_000, 50_000, 36_000],
};

const TEST: Sizes = Sizes {
    keys: 2_000,
    secs: 0.05,
    c1_secs: 0.05,
    warm_secs: 0.01,
    take_per_task: 10,
    rb: [2_000; 6],
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let benchmarking = has("--bench") && !has("--test");
    if has("--list") {
        return;
    }
    let sizes = if benchmarking { BENCH } else { TEST };
    let missing: Vec<&str> = ["redis-server", "redis-benchmark"]
        .into_iter()
        .filter(|p| authstore_testkit::harness::find_program(p).is_none())
        .collect();
    if !missing.is_empty() {
        assert!(!benchmarking, "{missing:?} not found on PATH");
        println!("skipping the redis bench: {missing:?} not on PATH");
        return;
    }
    let rt_kind = std::env::var("AUTHSTORE_BENCH_RT").unwrap_or_else(|_| "multi".into());
    let rt = match rt_kind.as_str() {
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        other => panic!("AUTHSTORE_BENCH_RT={other}: expected current or multi"),
    }
    .expect("tokio runtime");
    if !benchmarking {
        println!("test mode (no --bench): tiny sizes, figures below are not measurements");
    }
    let wall = Instant::now();
    rt.block_on(run(sizes, &rt_kind));
    println!(
        "\ntotal bench wall time {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------- the run

async fn run(sz: Sizes, rt_kind: &str) {
    let server = RedisServer::start().expect("start redis-server");
    let port = server.port();
    let server_pid = server.pid().expect("redis-server pid");
    println!(
        "redis-server {} (pid {server_pid}), runtime {rt_kind}, {TASKS} tasks, {} keys, {VALUE_LEN} B values",
        server.url(),
        sz.keys
    );
    let client = redis::Client::open(server.url()).expect("client");
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");
    let store = RedisStore::builder()
        .url(&server.url())
        .prefix(PREFIX)
        .connect()
        .await
        .expect("connect RedisStore");
    let shared = Arc::new(Shared {
        store: Arc::new(store),
        value: vec![b'v'; VALUE_LEN],
        versions: (0..sz.keys).map(|_| AtomicU64::new(0)).collect(),
        keys: sz.keys,
        stop: AtomicBool::new(false),
    });

    // 1. preload
    let t0 = Instant::now();
    preload_raw(&mut admin, sz.keys).await;
    fill(&shared, Kind::Session, TASKS, sz.keys / TASKS as u64).await;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(CAS_LUA)
        .query_async(&mut admin)
        .await
        .expect("SCRIPT LOAD");
    println!(
        "preloaded {} raw keys + {} store entries in {:.1} s",
        sz.keys,
        sz.keys,
        t0.elapsed().as_secs_f64()
    );
    let probe = Probe { port, server_pid };

    // 2. redis-benchmark at c50
    let mut rb: Vec<RbRow> = Vec::new();
    let mut stats: Vec<(String, Delta, u64)> = Vec::new();
    // `-t set` overwrites key:* with random payloads, so every EVALSHA run
    // first re-sets them to the preload value (`redis_benchmark` does it):
    // cas.lua then always finds its expected value and does GET + SET EX.
    let val = "x".repeat(VALUE_LEN);
    let eval: Vec<&str> = vec!["EVALSHA", &sha, "1", "key:__rand_int__", &val, &val];
    let simple = ["-t", "get,set,incr"];
    let with_rb = std::env::var("AUTHSTORE_BENCH_RB").as_deref() != Ok("0");
    for (c, p, n, cmd) in [
        (50, 1, sz.rb[0], &simple[..]),
        (50, 1, sz.rb[2], &eval[..]),
        (50, 16, sz.rb[1], &simple[..]),
        (50, 16, sz.rb[3], &eval[..]),
    ]
    .into_iter()
    .filter(|_| with_rb)
    {
        let (rows, d) = probe
            .redis_benchmark(&mut admin, c, p, n, sz.keys, cmd)
            .await;
        let requests = n * rows.len() as u64;
        stats.push((
            format!("redis-benchmark c{c} P{p} {}", rows_name(&rows)),
            d,
            requests,
        ));
        rb.extend(rows);
    }

    // 3. RedisStore at c50
    let mut store_rows: Vec<StoreRow> = Vec::new();
    let ops = selected_ops();
    for &op in &ops {
        let row = probe.store_case(&shared, &mut admin, op, TASKS, sz).await;
        store_rows.push(row);
    }

    // 4. redis-benchmark and RedisStore at c1
    for (n, cmd) in [(sz.rb[4], &simple[..]), (sz.rb[5], &eval[..])]
        .into_iter()
        .filter(|_| with_rb)
    {
        let (rows, d) = probe
            .redis_benchmark(&mut admin, 1, 1, n, sz.keys, cmd)
            .await;
        let requests = n * rows.len() as u64;
        stats.push((
            format!("redis-benchmark c1 P1 {}", rows_name(&rows)),
            d,
            requests,
        ));
        rb.extend(rows);
    }
    for &op in &ops {
        let row = probe.store_case(&shared, &mut admin, op, 1, sz).await;
        store_rows.push(row);
    }

    report(&rb, &store_rows, &stats);
    drop(server);
}

fn rows_name(rows: &[RbRow]) -> String {
    rows.iter()
        .map(|r| r.test.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

// ------------------------------------------------------------- workload

/// Store operations measured, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Put,
    Incr,
    Take,
    Cas,
    Gcra,
}

/// `AUTHSTORE_BENCH_OPS=get,take,…` (names of [`Op::key`]); all when unset.
fn selected_ops() -> Vec<Op> {
    let only = std::env::var("AUTHSTORE_BENCH_OPS").unwrap_or_default();
    Op::ALL
        .into_iter()
        .filter(|op| only.is_empty() || only.split(',').any(|o| o == op.key()))
        .collect()
}

impl Op {
    fn key(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::Incr => "incr",
            Op::Take => "take",
            Op::Cas => "cas",
            Op::Gcra => "gcra",
        }
    }

    const ALL: [Op; 6] = [Op::Get, Op::Put, Op::Incr, Op::Take, Op::Cas, Op::Gcra];

    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::Incr => "incr",
            Op::Take => "take",
            Op::Cas => "put IfVersion (CAS)",
            Op::Gcra => "gcra",
        }
    }
}

/// Key families, each its own keyspace of `keys` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Session,
    Token,
}

/// State shared by all tasks of a run.
#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    value: Vec<u8>,
    /// Current version of `session:<id>`; every put/CAS task owns the ids
    /// `task + tasks * j`, so versions are tracked without races.
    versions: Vec<AtomicU64>,
    keys: u64,
    stop: AtomicBool,
}

/// What one task saw.
#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    /// get/take returned `None`, or gcra denied.
    misses: u64,
    errors: u64,
    first_error: Option<String>,
    lat_ns: Vec<u32>,
    end: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.misses += other.misses;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.lat_ns.extend(other.lat_ns);
        self.end = self.end.max(other.end);
    }

    fn error(&mut self, e: authstore::Error) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }
}

/// xorshift64*: no RNG crate, good enough for picking keys.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n
    }
}

fn key(buf: &mut String, family: &str, id: u64) {
    buf.clear();
    let _ = write!(buf, "{family}:{id:012}");
}

/// Puts `per_task` entries per task (ids `task + tasks * j`), untimed.
async fn fill(sh: &Arc<Shared>, kind: Kind, tasks: usize, per_task: u64) {
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let sh = Arc::clone(sh);
            tokio::spawn(async move {
                let mut k = String::new();
                for j in 0..per_task {
                    let id = task as u64 + tasks as u64 * j;
                    let family = if kind == Kind::Session {
                        "session"
                    } else {
                        "tok"
                    };
                    key(&mut k, family, id);
                    let v = sh
                        .store
                        .put(&k, &sh.value, PutOptions::new().ttl(TTL))
                        .await
                        .expect("fill put");
                    if kind == Kind::Session {
                        sh.versions[id as usize].store(v, Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("fill task");
    }
}

/// One task of a timed case: loops `op` over random keys until `stop`.
async fn worker(sh: Arc<Shared>, op: Op, task: usize, tasks: usize, start: Arc<Barrier>) -> Tally {
    let mut rng = Rng::new(1 + task as u64 + 1000 * op as u64);
    let owned = sh.keys / tasks as u64;
    let gcra = GcraParams::per_period(100, Duration::from_secs(60));
    let mut k = String::with_capacity(32);
    let mut t = Tally::default();
    start.wait().await;
    while !sh.stop.load(Relaxed) {
        let began = Instant::now();
        match op {
            Op::Get => {
                key(&mut k, "session", rng.below(sh.keys));
                match sh.store.get(&k).await {
                    Ok(Some(_)) => {}
                    Ok(None) => t.misses += 1,
                    Err(e) => t.error(e),
                }
            }
            Op::Put | Op::Cas => {
                let id = task as u64 + tasks as u64 * rng.below(owned);
                key(&mut k, "session", id);
                let version = &sh.versions[id as usize];
                let mut options = PutOptions::new().ttl(TTL);
                if op == Op::Cas {
                    options = options.if_version(version.load(Relaxed));
                }
                match sh.store.put(&k, &sh.value, options).await {
                    Ok(v) => version.store(v, Relaxed),
                    Err(e) => t.error(e),
                }
            }
            Op::Incr => {
                key(&mut k, "ctr", rng.below(sh.keys));
                if let Err(e) = sh.store.incr(&k, 1, Some(TTL)).await {
                    t.error(e);
                }
            }
            Op::Gcra => {
                key(&mut k, "gcra", rng.below(sh.keys));
                match sh.store.gcra(&k, gcra).await {
                    Ok(d) if d.allowed => {}
                    Ok(_) => t.misses += 1,
                    Err(e) => t.error(e),
                }
            }
            Op::Take => unreachable!("take has its own worker"),
        }
        t.lat_ns
            .push(u32::try_from(began.elapsed().as_nanos()).unwrap_or(u32::MAX));
        t.ops += 1;
    }
    t.end = Some(Instant::now());
    t
}

/// One task of a take phase: takes its pre-put ids in random order, until
/// they run out or `stop`.
async fn take_worker(sh: Arc<Shared>, mut ids: Vec<u64>, start: Arc<Barrier>) -> Tally {
    let mut rng = Rng::new(ids.first().copied().unwrap_or(0) + 7);
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut k = String::with_capacity(32);
    let mut t = Tally::default();
    start.wait().await;
    for id in ids {
        if sh.stop.load(Relaxed) {
            break;
        }
        key(&mut k, "tok", id);
        let began = Instant::now();
        match sh.store.take(&k).await {
            Ok(Some(_)) => {}
            Ok(None) => t.misses += 1,
            Err(e) => t.error(e),
        }
        t.lat_ns
            .push(u32::try_from(began.elapsed().as_nanos()).unwrap_or(u32::MAX));
        t.ops += 1;
    }
    t.end = Some(Instant::now());
    t
}

/// Runs `tasks` workers of `op` for `secs`; returns the merged tally and
/// the wall time from the start barrier to the last task's end.
async fn timed(sh: &Arc<Shared>, op: Op, tasks: usize, secs: f64) -> (Tally, Duration) {
    sh.stop.store(false, Relaxed);
    let barrier = Arc::new(Barrier::new(tasks + 1));
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            tokio::spawn(worker(
                Arc::clone(sh),
                op,
                task,
                tasks,
                Arc::clone(&barrier),
            ))
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    sh.stop.store(true, Relaxed);
    let mut all = Tally::default();
    for h in handles {
        all.merge(h.await.expect("worker"));
    }
    let elapsed = all.end.map_or(Duration::ZERO, |e| e - start);
    (all, elapsed)
}

/// One take phase on keys filled beforehand (untimed).
async fn take_phase(sh: &Arc<Shared>, tasks: usize, per_task: u64) -> (Tally, Duration) {
    let barrier = Arc::new(Barrier::new(tasks + 1));
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let ids = (0..per_task)
                .map(|j| task as u64 + tasks as u64 * j)
                .collect();
            tokio::spawn(take_worker(Arc::clone(sh), ids, Arc::clone(&barrier)))
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Tally::default();
    for h in handles {
        all.merge(h.await.expect("take worker"));
    }
    let elapsed = all.end.map_or(Duration::ZERO, |e| e - start);
    (all, elapsed)
}

// ------------------------------------------------------ measuring a case

/// Where to look: the server's port and pid.
#[derive(Debug)]
struct Probe {
    port: u16,
    server_pid: u32,
}

/// One redis-benchmark CSV row.
#[derive(Debug, Clone)]
struct RbRow {
    test: String,
    clients: usize,
    pipeline: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One RedisStore case.
#[derive(Debug)]
struct StoreRow {
    op: Op,
    tasks: usize,
    ops: u64,
    secs: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    misses: u64,
    errors: u64,
    first_error: Option<String>,
    delta: Delta,
}

impl Probe {
    /// Runs redis-benchmark with `cmd` (either `-t …` or a custom command).
    async fn redis_benchmark(
        &self,
        admin: &mut MultiplexedConnection,
        c: usize,
        p: usize,
        n: u64,
        keys: u64,
        cmd: &[&str],
    ) -> (Vec<RbRow>, Delta) {
        let mut args: Vec<String> = format!(
            "-h 127.0.0.1 -p {} -c {c} -n {n} -P {p} -r {keys} -d {VALUE_LEN} --csv",
            self.port
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect();
        args.extend(cmd.iter().map(|s| (*s).to_owned()));
        if cmd.first() == Some(&"EVALSHA") {
            preload_raw(admin, keys).await;
        }
        let before = self.snapshot(admin).await;
        let output = tokio::task::spawn_blocking(move || {
            Command::new("redis-benchmark").args(&args).output()
        })
        .await
        .expect("spawn_blocking")
        .expect("run redis-benchmark");
        let after = self.snapshot(admin).await;
        assert!(
            output.status.success(),
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let rows: Vec<RbRow> = text
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split("\",\"").map(|s| s.trim_matches('"')).collect();
                let rps: f64 = f.get(1)?.parse().ok()?;
                let test = f[0].split_whitespace().next()?.to_owned();
                Some(RbRow {
                    test,
                    clients: c,
                    pipeline: p,
                    rps,
                    p50_ms: f.get(4)?.parse().ok()?,
                    p99_ms: f.get(6)?.parse().ok()?,
                })
            })
            .collect();
        assert!(
            !rows.is_empty(),
            "no CSV rows from redis-benchmark:\n{text}"
        );
        let delta = after.minus(&before, rows.iter().map(|r| n as f64 / r.rps).sum());
        for r in &rows {
            println!(
                "redis-benchmark -c {c} -P {p} -n {n} {:<8} {:>10.0} ops/s  p50 {:.3} ms  p99 {:.3} ms  ({:.1} s)",
                r.test,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                n as f64 / r.rps
            );
        }
        println!("    {}", delta.cpu_line());
        (rows, delta)
    }

    /// Runs one RedisStore case with `tasks` tasks (warm-up excluded).
    async fn store_case(
        &self,
        sh: &Arc<Shared>,
        admin: &mut MultiplexedConnection,
        op: Op,
        tasks: usize,
        sz: Sizes,
    ) -> StoreRow {
        let secs = if tasks == 1 { sz.c1_secs } else { sz.secs };
        let (tally, elapsed, delta) = if op == Op::Take {
            // Rounds: fill (untimed, 50 tasks), then take (timed, `tasks` tasks).
            let per_round = if tasks == 1 {
                // enough for `secs` at ~30k takes/s
                ((secs * 30_000.0) as u64).max(sz.take_per_task)
            } else {
                sz.take_per_task * tasks as u64
            };
            let mut all = Tally::default();
            let mut elapsed = Duration::ZERO;
            let mut delta = Delta::default();
            sh.stop.store(false, Relaxed);
            while elapsed.as_secs_f64() < secs {
                fill(sh, Kind::Token, TASKS, per_round.div_ceil(TASKS as u64)).await;
                let before = self.snapshot(admin).await;
                let (t, e) = if tasks == 1 {
                    // One task, stopped after `secs`.
                    let stopper = {
                        let sh = Arc::clone(sh);
                        let left = Duration::from_secs_f64(secs) - elapsed;
                        tokio::spawn(async move {
                            tokio::time::sleep(left).await;
                            sh.stop.store(true, Relaxed);
                        })
                    };
                    let r = take_phase(sh, 1, per_round).await;
                    stopper.abort();
                    r
                } else {
                    take_phase(sh, tasks, per_round / tasks as u64).await
                };
                let after = self.snapshot(admin).await;
                delta.add(&after.minus(&before, e.as_secs_f64()));
                all.merge(t);
                elapsed += e;
                if sh.stop.load(Relaxed) {
                    break;
                }
            }
            // Keys a stopped c1 phase left are overwritten by the next fill.
            sh.stop.store(false, Relaxed);
            (all, elapsed, delta)
        } else {
            let _ = timed(sh, op, tasks, sz.warm_secs).await;
            let before = self.snapshot(admin).await;
            let (t, e) = timed(sh, op, tasks, secs).await;
            let after = self.snapshot(admin).await;
            (t, e, after.minus(&before, e.as_secs_f64()))
        };
        let mut lat = tally.lat_ns;
        lat.sort_unstable();
        let pct = |q: f64| -> f64 {
            lat.get(((lat.len() as f64 - 1.0) * q) as usize)
                .map_or(0.0, |&ns| f64::from(ns) / 1000.0)
        };
        let row = StoreRow {
            op,
            tasks,
            ops: tally.ops,
            secs: elapsed.as_secs_f64(),
            rps: tally.ops as f64 / elapsed.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            misses: tally.misses,
            errors: tally.errors,
            first_error: tally.first_error,
            delta,
        };
        println!(
            "RedisStore c{tasks} {:<20} {:>10.0} ops/s  p50 {:.3} ms  p99 {:.3} ms  ({} ops in {:.2} s, misses {}, errors {}{})",
            op.name(),
            row.rps,
            row.p50_us / 1000.0,
            row.p99_us / 1000.0,
            row.ops,
            row.secs,
            row.misses,
            row.errors,
            row.first_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        println!("    {}", row.delta.cpu_line());
        row
    }

    /// `INFO stats commandstats` plus CPU times, right now.
    async fn snapshot(&self, admin: &mut MultiplexedConnection) -> Snapshot {
        let text: String = redis::cmd("INFO")
            .arg("stats")
            .arg("commandstats")
            .query_async(admin)
            .await
            .expect("INFO");
        let mut s = Snapshot {
            info_reply_len: text.len(),
            ..Snapshot::default()
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("cmdstat_") {
                let Some((name, fields)) = rest.split_once(':') else {
                    continue;
                };
                let calls = fields
                    .split(',')
                    .find_map(|f| f.strip_prefix("calls="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                s.calls.insert(name.to_uppercase(), calls);
            } else if let Some((name, v)) = line.trim_end().split_once(':') {
                let v = v.parse().unwrap_or(0);
                match name {
                    "total_reads_processed" => s.reads = v,
                    "total_writes_processed" => s.writes = v,
                    "total_net_input_bytes" => s.net_in = v,
                    "total_net_output_bytes" => s.net_out = v,
                    _ => {}
                }
            }
        }
        s.server_ticks = proc_ticks(&format!("/proc/{}/stat", self.server_pid), false);
        s.self_ticks = proc_ticks("/proc/self/stat", false);
        s.children_ticks = proc_ticks("/proc/self/stat", true);
        s.busy_ticks = system_busy_ticks();
        s
    }
}

/// utime+stime (or cutime+cstime) of a `/proc/<pid>/stat`, in clock ticks.
fn proc_ticks(path: &str, children: bool) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3; utime 14, stime 15, cutime 16, cstime 17.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let base = if children { 13 } else { 11 };
    f.get(base).copied().unwrap_or(0) + f.get(base + 1).copied().unwrap_or(0)
}

/// Busy (non-idle, non-iowait) ticks of all CPUs from `/proc/stat`.
fn system_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = text.lines().next().unwrap_or_default();
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    f.iter().take(8).sum::<u64>() - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
}

/// Server counters and CPU times at one moment.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    calls: BTreeMap<String, u64>,
    reads: u64,
    writes: u64,
    net_in: u64,
    net_out: u64,
    info_reply_len: usize,
    server_ticks: u64,
    self_ticks: u64,
    children_ticks: u64,
    busy_ticks: u64,
}

/// What happened on the server (and the CPUs) during one case.
#[derive(Debug, Default, Clone)]
struct Delta {
    calls: BTreeMap<String, u64>,
    reads: u64,
    writes: u64,
    net_in: u64,
    net_out: u64,
    secs: f64,
    server_ticks: u64,
    client_ticks: u64,
    busy_ticks: u64,
}

/// The `INFO stats commandstats` request as sent, in bytes.
const INFO_REQUEST_LEN: u64 =
    b"*3\r\n$4\r\nINFO\r\n$5\r\nstats\r\n$12\r\ncommandstats\r\n".len() as u64;

impl Snapshot {
    /// `self - before`, without the two INFO calls themselves: the first
    /// one's reply write and the second one's request read fall inside.
    fn minus(&self, before: &Snapshot, secs: f64) -> Delta {
        let calls = self
            .calls
            .iter()
            .filter(|(name, _)| name.as_str() != "INFO")
            .map(|(name, &n)| {
                (
                    name.clone(),
                    n - before.calls.get(name).copied().unwrap_or(0),
                )
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        let reply = before.info_reply_len as u64;
        let reply_bytes = reply + 5 + reply.to_string().len() as u64;
        Delta {
            calls,
            reads: (self.reads - before.reads).saturating_sub(1),
            writes: (self.writes - before.writes).saturating_sub(1),
            net_in: (self.net_in - before.net_in).saturating_sub(INFO_REQUEST_LEN),
            net_out: (self.net_out - before.net_out).saturating_sub(reply_bytes),
            secs,
            server_ticks: self.server_ticks - before.server_ticks,
            client_ticks: (self.self_ticks + self.children_ticks)
                - (before.self_ticks + before.children_ticks),
            busy_ticks: self.busy_ticks - before.busy_ticks,
        }
    }
}

impl Delta {
    fn add(&mut self, o: &Delta) {
        for (name, n) in &o.calls {
            *self.calls.entry(name.clone()).or_default() += n;
        }
        self.reads += o.reads;
        self.writes += o.writes;
        self.net_in += o.net_in;
        self.net_out += o.net_out;
        self.secs += o.secs;
        self.server_ticks += o.server_ticks;
        self.client_ticks += o.client_ticks;
        self.busy_ticks += o.busy_ticks;
    }

    /// CPU cores used by redis-server, by the client (this process or
    /// redis-benchmark), and by everything else.
    fn cores(&self) -> (f64, f64, f64) {
        let per = |ticks: u64| ticks as f64 / 100.0 / self.secs.max(1e-9);
        let server = per(self.server_ticks);
        let client = per(self.client_ticks);
        (server, client, per(self.busy_ticks) - server - client)
    }

    fn cpu_line(&self) -> String {
        let (s, c, o) = self.cores();
        format!("cpu cores: redis-server {s:.2}, client {c:.2}, other {o:+.2}")
    }

    /// `"GET 1.00 + PTTL 1.00"`: calls of each command per `ops`.
    fn commands_per(&self, ops: f64) -> String {
        let mut v: Vec<(&String, &u64)> = self.calls.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.iter()
            .filter(|(_, n)| **n as f64 / ops >= 0.005)
            .map(|(name, n)| format!("{name} {:.2}", **n as f64 / ops))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

// ------------------------------------------------------------- preload

/// `SET key:%012d <200 B>` for every id, 1,000 per pipeline.
async fn preload_raw(admin: &mut MultiplexedConnection, keys: u64) {
    let value = [b'x'; VALUE_LEN];
    let mut id = 0;
    while id < keys {
        let mut pipe = redis::pipe();
        for i in id..(id + 1000).min(keys) {
            pipe.set(format!("key:{i:012}"), &value[..]).ignore();
        }
        let () = pipe.query_async(admin).await.expect("preload raw keys");
        id += 1000;
    }
}

// --------------------------------------------------------------- report

fn report(rb: &[RbRow], store: &[StoreRow], rb_stats: &[(String, Delta, u64)]) {
    let find = |test: &str, c: usize, p: usize| {
        rb.iter()
            .find(|r| r.test == test && r.clients == c && r.pipeline == p)
            .map_or(f64::NAN, |r| r.rps)
    };
    let find_p50 = |test: &str| {
        rb.iter()
            .find(|r| r.test == test && r.clients == 1)
            .map_or(f64::NAN, |r| r.p50_ms * 1000.0)
    };
    let row = |op: Op, tasks: usize| store.iter().find(|r| r.op == op && r.tasks == tasks);
    // (store op, baseline command, note)
    let pairs: [(Op, &str, &str); 8] = [
        (Op::Get, "GET", ""),
        (Op::Put, "SET", "put is an EVALSHA (versioned write)"),
        (Op::Put, "EVALSHA", "cas.lua: GET + SET EX"),
        (
            Op::Incr,
            "INCR",
            "incr = MULTI SET NX PX, INCRBY, PTTL EXEC",
        ),
        (
            Op::Take,
            "GET",
            "no redis-benchmark MULTI; take = MULTI PTTL GETDEL EXEC",
        ),
        (Op::Cas, "EVALSHA", "cas.lua: GET + SET EX"),
        (Op::Gcra, "EVALSHA", "cas.lua as the script reference"),
        (Op::Gcra, "GET", "single-command reference"),
    ];

    println!("\n## Throughput, 50 concurrent clients / tasks (ops/s)\n");
    println!(
        "| op | redis-benchmark baseline | P1 ops/s | P16 ops/s | RedisStore c50 ops/s | vs P1 | vs P16 | note |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    for (op, base, note) in pairs {
        let Some(s) = row(op, TASKS) else { continue };
        let (p1, p16) = (find(base, 50, 1), find(base, 50, 16));
        println!(
            "| {} | {base} | {} | {} | {} | {:.2}× | {:.2}× | {note} |",
            op.name(),
            fmt_int(p1),
            fmt_int(p16),
            fmt_int(s.rps),
            s.rps / p1,
            s.rps / p16
        );
    }

    println!("\n## Latency, 1 client / task, one request at a time\n");
    println!(
        "| op | RedisStore c1 ops/s | p50 µs | p99 µs | baseline | redis-benchmark -c 1 ops/s | p50 µs | ops/s ratio | server reads / op |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for (op, base) in [
        (Op::Get, "GET"),
        (Op::Put, "SET"),
        (Op::Put, "EVALSHA"),
        (Op::Incr, "INCR"),
        (Op::Take, "GET"),
        (Op::Cas, "EVALSHA"),
        (Op::Gcra, "EVALSHA"),
    ] {
        let Some(s) = row(op, 1) else { continue };
        let b = find(base, 1, 1);
        println!(
            "| {} | {} | {:.0} | {:.0} | {base} | {} | {:.0} | {:.2}× | {:.3} |",
            op.name(),
            fmt_int(s.rps),
            s.p50_us,
            s.p99_us,
            fmt_int(b),
            find_p50(base),
            s.rps / b,
            s.delta.reads as f64 / s.ops as f64
        );
    }

    println!("\n## Commands per store operation (INFO commandstats deltas)\n");
    println!(
        "| case | ops | commands per op | server read events per op | write events per op | bytes in / op | bytes out / op | cpu redis-server / client / other |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---|");
    for s in store {
        let ops = s.ops as f64;
        let (sv, cl, ot) = s.delta.cores();
        println!(
            "| RedisStore c{} {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.0} | {sv:.2} / {cl:.2} / {ot:+.2} |",
            s.tasks,
            s.op.name(),
            s.ops,
            s.delta.commands_per(ops),
            s.delta.reads as f64 / ops,
            s.delta.writes as f64 / ops,
            s.delta.net_in as f64 / ops,
            s.delta.net_out as f64 / ops,
        );
    }
    for (name, d, requests) in rb_stats {
        let cmds = *requests;
        let (sv, cl, ot) = d.cores();
        println!(
            "| {name} | {cmds} | {} | {:.3} | {:.3} | {:.0} | {:.0} | {sv:.2} / {cl:.2} / {ot:+.2} |",
            d.commands_per(cmds as f64),
            d.reads as f64 / cmds as f64,
            d.writes as f64 / cmds as f64,
            d.net_in as f64 / cmds as f64,
            d.net_out as f64 / cmds as f64,
        );
    }
    println!(
        "(redis-benchmark rows: per request sent, i.e. per GET/SET/INCR or per EVALSHA; commands a script runs are counted too)"
    );

    println!("\n## Targets\n");
    for (op, base) in [(Op::Get, "GET"), (Op::Put, "SET"), (Op::Incr, "INCR")] {
        let Some(s) = row(op, TASKS) else { continue };
        for (p, goal) in [(1, 0.90), (16, 0.50)] {
            let ratio = s.rps / find(base, 50, p);
            println!(
                "{:<5} ≥ {:.0}% of {base} -P {p:<2}: {:.2}×  {}",
                op.name(),
                goal * 100.0,
                ratio,
                verdict(ratio, goal)
            );
        }
    }
    for op in [Op::Get, Op::Put, Op::Incr, Op::Take, Op::Cas, Op::Gcra] {
        let Some(s) = row(op, 1) else { continue };
        let reads = s.delta.reads as f64 / s.ops as f64;
        println!(
            "{:<20} one round trip: {reads:.3} server read events per op at c1 → {}",
            op.name(),
            if (0.95..=1.05).contains(&reads) {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    let failures: Vec<String> = store
        .iter()
        .filter(|s| s.errors > 0 || (s.misses > 0 && s.op != Op::Gcra))
        .map(|s| {
            format!(
                "c{} {}: {} misses, {} errors",
                s.tasks,
                s.op.name(),
                s.misses,
                s.errors
            )
        })
        .collect();
    if failures.is_empty() {
        println!("checks: every get/take hit, every put/CAS/incr/gcra succeeded");
    } else {
        println!("CHECK FAILED: {}", failures.join("; "));
    }
}

fn verdict(ratio: f64, goal: f64) -> String {
    if ratio >= goal {
        "met".into()
    } else {
        format!("MISSED by {:.0}%", (1.0 - ratio / goal) * 100.0)
    }
}

/// `1234567.8` → `"1,234,568"`.
fn fmt_int(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
