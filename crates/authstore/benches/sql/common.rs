//! What the PostgreSQL and SQLite halves share: the timed store loop, key
//! formats, tallies, CPU accounting from `/proc` and number formatting.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use authstore::{PutOptions, Store};
use tokio::sync::Barrier;

/// Bytes per value, everywhere (`b'v'` × 200: not JSON, not a number, so
/// it goes to the `value` bytea/BLOB column).
pub(crate) const VALUE_LEN: usize = 200;
/// TTL of every write.
pub(crate) const TTL: Duration = Duration::from_secs(3600);
/// The value byte; `76` in hex, as the SQL preload writes it.
pub(crate) const VALUE_BYTE: u8 = b'v';

/// Store operations measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    Take,
    Incr,
    Put,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Take => "take",
            Op::Incr => "incr",
            Op::Put => "put",
        }
    }
}

/// `AUTHSTORE_BENCH_OPS=pg,sqlite,get,take,incr,put`: whether `op` of
/// `part` (`pg` or `sqlite`) runs. Parts and operations filter separately;
/// naming none of either kind selects all of that kind.
pub(crate) fn selected(part: &str, op: Op) -> bool {
    let list = std::env::var("AUTHSTORE_BENCH_OPS").unwrap_or_default();
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    let any_of = |set: &[&str]| names.iter().any(|n| set.contains(n));
    let parts = ["pg", "sqlite"];
    let ops = ["get", "take", "incr", "put"];
    (!any_of(&parts) || names.contains(&part)) && (!any_of(&ops) || names.contains(&op.name()))
}

/// A store key: `s:` and the id as 7 digits, 9 bytes like the pgbench keys
/// (`100000000 + id`).
pub(crate) fn store_key(buf: &mut String, id: u64) {
    buf.clear();
    let _ = write!(buf, "s:{id:07}");
}

/// xorshift64*: no RNG crate, good enough for picking keys.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n
    }
}

/// What the tasks of one timed phase saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) ops: u64,
    /// get/take returned `None`.
    pub(crate) misses: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) lat_ns: Vec<u32>,
    pub(crate) end: Option<Instant>,
}

impl Tally {
    pub(crate) fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.misses += other.misses;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.lat_ns.extend(other.lat_ns);
        self.end = self.end.max(other.end);
    }

    pub(crate) fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    /// Latency quantile `q` in µs.
    pub(crate) fn pct_us(&mut self, q: f64) -> f64 {
        self.lat_ns.sort_unstable();
        self.lat_ns
            .get(((self.lat_ns.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |&ns| f64::from(ns) / 1000.0)
    }

    /// `"max X ms, N ops ≥ 1 ms"`: the tail beyond p99.
    pub(crate) fn tail(&self) -> String {
        let max = self.lat_ns.iter().max().copied().unwrap_or(0);
        let slow = self.lat_ns.iter().filter(|&&ns| ns >= 1_000_000).count();
        format!("max {:.1} ms, {slow} ops ≥ 1 ms", f64::from(max) / 1e6)
    }

    pub(crate) fn push_latency(&mut self, began: Instant) {
        self.lat_ns
            .push(u32::try_from(began.elapsed().as_nanos()).unwrap_or(u32::MAX));
        self.ops += 1;
    }

    pub(crate) fn error_suffix(&self) -> String {
        self.first_error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    }
}

/// One timed loop of store operations over uniformly random ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loop {
    pub(crate) op: Op,
    /// Ids are drawn from `0..keys`.
    pub(crate) keys: u64,
    pub(crate) tasks: usize,
}

/// Runs `l.tasks` tasks of `l.op` on `store` for `secs`; returns the merged
/// tally and the wall time from the start barrier to the last task's end.
pub(crate) async fn timed(store: &Arc<dyn Store>, l: Loop, secs: f64) -> (Tally, Duration) {
    // A new key sequence every run: a measured take must not replay the
    // keys its warm-up already took.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(l.tasks + 1));
    let handles: Vec<_> = (0..l.tasks)
        .map(|task| {
            let (store, stop, barrier) =
                (Arc::clone(store), Arc::clone(&stop), Arc::clone(&barrier));
            tokio::spawn(async move {
                let mut rng = Rng::new(1 + task as u64 + 1000 * l.op as u64 + 1_000_000 * run);
                let value = vec![VALUE_BYTE; VALUE_LEN];
                let mut k = String::with_capacity(16);
                let mut t = Tally::default();
                barrier.wait().await;
                while !stop.load(Relaxed) {
                    store_key(&mut k, rng.below(l.keys));
                    let began = Instant::now();
                    match l.op {
                        Op::Get | Op::Take => {
                            let r = if l.op == Op::Get {
                                store.get(&k).await
                            } else {
                                store.take(&k).await
                            };
                            match r {
                                Ok(Some(e)) if e.value.len() == VALUE_LEN => {}
                                Ok(Some(e)) => t.error(format!("{k}: {} B value", e.value.len())),
                                Ok(None) => t.misses += 1,
                                Err(e) => t.error(e),
                            }
                        }
                        Op::Incr => {
                            if let Err(e) = store.incr(&k, 1, Some(TTL)).await {
                                t.error(e);
                            }
                        }
                        Op::Put => {
                            if let Err(e) = store.put(&k, &value, PutOptions::new().ttl(TTL)).await
                            {
                                t.error(e);
                            }
                        }
                    }
                    t.push_latency(began);
                }
                t.end = Some(Instant::now());
                t
            })
        })
        .collect();
    measure_window(&barrier, &stop, handles, secs).await
}

/// Releases the tasks waiting on `barrier`, lets them run for `secs`,
/// raises `stop` and sums their tallies; the time is from release to the
/// last task's end.
pub(crate) async fn measure_window(
    barrier: &Barrier,
    stop: &AtomicBool,
    handles: Vec<tokio::task::JoinHandle<Tally>>,
    secs: f64,
) -> (Tally, Duration) {
    barrier.wait().await;
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Relaxed);
    let mut all = Tally::default();
    for h in handles {
        all.merge(h.await.expect("worker task"));
    }
    let elapsed = all.end.map_or(Duration::ZERO, |e| e - start);
    (all, elapsed)
}

/// Puts ids `0..keys` (200 B, TTL) from `tasks` tasks, untimed.
pub(crate) async fn fill(store: &Arc<dyn Store>, keys: u64, tasks: usize) {
    let handles: Vec<_> = (0..tasks as u64)
        .map(|task| {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                let value = vec![VALUE_BYTE; VALUE_LEN];
                let mut k = String::new();
                let mut id = task;
                while id < keys {
                    store_key(&mut k, id);
                    store
                        .put(&k, &value, PutOptions::new().ttl(TTL))
                        .await
                        .expect("fill put");
                    id += tasks as u64;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("fill task");
    }
}

/// Takes ids `0..keys`, each task its own ids (`id ≡ task mod tasks`) in
/// random order, timed from the start barrier to the last task's end.
pub(crate) async fn take_all(store: &Arc<dyn Store>, keys: u64, tasks: usize) -> (Tally, Duration) {
    let barrier = Arc::new(Barrier::new(tasks + 1));
    let handles: Vec<_> = (0..tasks as u64)
        .map(|task| {
            let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
            tokio::spawn(async move {
                let mut ids: Vec<u64> = (task..keys).step_by(tasks).collect();
                let mut rng = Rng::new(task + 7);
                for i in (1..ids.len()).rev() {
                    ids.swap(i, rng.below(i as u64 + 1) as usize);
                }
                let mut k = String::with_capacity(16);
                let mut t = Tally::default();
                barrier.wait().await;
                for id in ids {
                    store_key(&mut k, id);
                    let began = Instant::now();
                    match store.take(&k).await {
                        Ok(Some(e)) if e.value.len() == VALUE_LEN => {}
                        Ok(Some(e)) => t.error(format!("{k}: {} B value", e.value.len())),
                        Ok(None) => t.misses += 1,
                        Err(e) => t.error(e),
                    }
                    t.push_latency(began);
                }
                t.end = Some(Instant::now());
                t
            })
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Tally::default();
    for h in handles {
        all.merge(h.await.expect("take task"));
    }
    let elapsed = all.end.map_or(Duration::ZERO, |e| e - start);
    (all, elapsed)
}

// ------------------------------------------------------------------- CPU

/// Fields of `/proc/<pid>/stat` after the `(comm)`: state is [0], ppid [1],
/// utime [11], stime [12], cutime [13], cstime [14].
fn stat_fields(path: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect()
}

fn field(f: &[u64], i: usize) -> u64 {
    f.get(i).copied().unwrap_or(0)
}

/// CPU ticks of a server's process tree: the postmaster (with its reaped
/// children) plus its live children. 0 for `None`.
///
/// Not exact while children exit: one reaped between reading the
/// postmaster and scanning `/proc` is missed, so snapshot only when no
/// connection is coming or going (see [`children`]).
fn tree_ticks(root: Option<u32>) -> u64 {
    let Some(root) = root else { return 0 };
    let own = stat_fields(&format!("/proc/{root}/stat"));
    let mut ticks = (11..15).map(|i| field(&own, i)).sum::<u64>();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let f = stat_fields(&format!("/proc/{pid}/stat"));
        if field(&f, 1) == u64::from(root) {
            ticks += field(&f, 11) + field(&f, 12);
        }
    }
    ticks
}

/// How many live children `root` has.
pub(crate) fn children(root: Option<u32>) -> usize {
    let Some(root) = root else { return 0 };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| field(&stat_fields(&format!("/proc/{pid}/stat")), 1) == u64::from(root))
        .count()
}

/// Busy (non-idle, non-iowait) ticks of all CPUs and context switches
/// since boot, from `/proc/stat`.
fn machine() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = text.lines().next().unwrap_or_default();
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ctxt = text
        .lines()
        .find_map(|l| l.strip_prefix("ctxt "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (
        f.iter().take(8).sum::<u64>() - field(&f, 3) - field(&f, 4),
        ctxt,
    )
}

/// CPU ticks at one moment: the server tree, this process and its reaped
/// children (pgbench), and the whole machine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSnap {
    server: u64,
    client: u64,
    busy: u64,
    ctxt: u64,
    at: Instant,
}

impl CpuSnap {
    pub(crate) fn now(server_root: Option<u32>) -> Self {
        let own = stat_fields("/proc/self/stat");
        let (busy, ctxt) = machine();
        CpuSnap {
            server: tree_ticks(server_root),
            client: (11..15).map(|i| field(&own, i)).sum(),
            busy,
            ctxt,
            at: Instant::now(),
        }
    }

    /// Cores used since `before`, over `secs` (the run the snapshots
    /// bracket; `None`: the time between them).
    pub(crate) fn since(&self, before: &CpuSnap, secs: Option<f64>) -> Cores {
        let secs = secs
            .unwrap_or_else(|| (self.at - before.at).as_secs_f64())
            .max(1e-9);
        let per = |t: u64| t as f64 / 100.0 / secs;
        let server = per(self.server - before.server);
        let client = per(self.client - before.client);
        Cores {
            server,
            client,
            other: per(self.busy - before.busy) - server - client,
            switches: self.ctxt - before.ctxt,
        }
    }
}

/// CPU cores used during one case.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cores {
    pub(crate) server: f64,
    pub(crate) client: f64,
    pub(crate) other: f64,
    /// Context switches of the whole machine.
    pub(crate) switches: u64,
}

impl Cores {
    pub(crate) fn line(&self, server: &str) -> String {
        format!(
            "cpu cores: {server} {:.2}, client {:.2}, other {:+.2}",
            self.server, self.client, self.other
        )
    }
}

// ------------------------------------------------------------ formatting

/// `"met"` or `"MISSED by X%"` for `ratio` against `goal`.
pub(crate) fn verdict(ratio: f64, goal: f64) -> String {
    if !ratio.is_finite() {
        "–".into()
    } else if ratio >= goal {
        "met".into()
    } else {
        format!("MISSED by {:.0}%", (1.0 - ratio / goal) * 100.0)
    }
}

/// `1234567.8` → `"1,234,568"`.
pub(crate) fn fmt_int(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{x:.0}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
