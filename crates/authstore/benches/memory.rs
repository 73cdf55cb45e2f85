//! `cargo bench -p authstore --bench memory`: the in-memory backend against
//! moka and bare DashMap, on the auth-state workload of the reference
//! measurements (40-byte `session:<hex>` keys, 200-byte values, 10k hot keys).
//!
//! One run does three things:
//! 1. criterion groups `get`, `get1m`, `put`, `incr`, `take`, each with
//!    `memory|moka|dashmap` × `1t|2t` (2 OS threads sharing one store, the
//!    work split in halves; one iteration = 10,000 operations);
//! 2. a summary table of ops/s (median of 3 fixed-size runs per case) with
//!    the ratios the performance targets are stated in;
//! 3. resident memory per entry for 1,000,000 entries, one child process per
//!    implementation (`AUTHSTORE_RSS=memory|moka|dashmap`).
//!
//! Set `AUTHSTORE_BENCH_SUMMARY=0` to skip 2 and 3 (e.g. with a criterion
//! filter), `AUTHSTORE_BENCH_OPS=get,incr,parts,rss` to limit 2 and 3 to those
//! parts (`parts` = what the building blocks of one call cost alone). Under
//! `cargo test --benches` every part runs once on small sizes.
//! See `docs/BENCHMARKS.md` for what each case does and the figures.

#[path = "memory/backends.rs"]
mod backends;
#[path = "memory/rss.rs"]
mod rss;
#[path = "memory/workload.rs"]
mod workload;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};

use backends::{Backend, Dash, Memory, Moka};
use workload::{BATCH, HOT, Op, Workload};

/// Implementations in table order.
const IMPLS: [&str; 3] = ["memory", "moka", "dashmap"];
/// Thread counts measured.
const THREADS: [usize; 2] = [1, 2];
/// Payload of one entry: 40-byte key + 200-byte value.
const PAYLOAD: f64 = (rss::KEY_LEN + workload::VALUE_LEN) as f64;

fn main() {
    if let Ok(which) = std::env::var(rss::ENV) {
        rss::child(&which);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let benchmarking = has("--bench") && !has("--test");
    // Small sizes under `cargo test --benches`: check the code paths, not speed.
    let (ops, reps, entries) = if benchmarking {
        (400_000, 3, 1_000_000)
    } else {
        (2 * BATCH, 1, 20_000)
    };
    let workload = Workload::new(entries);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    for op in Op::ALL {
        criterion_group(&mut c, &workload, op);
    }
    c.final_summary();

    if has("--list") || std::env::var("AUTHSTORE_BENCH_SUMMARY").as_deref() == Ok("0") {
        return;
    }
    if !benchmarking {
        println!("test mode (no --bench): small sizes, figures below are not measurements");
    }
    let results = summary(&workload, ops, reps);
    print_summary(&results, ops, reps, entries);
    if selected("parts") {
        print_parts(&workload);
    }
    if selected("rss") {
        print_rss(entries as u64);
    }
}

/// Whether `AUTHSTORE_BENCH_OPS` (comma-separated, empty = all) selects `part`.
fn selected(part: &str) -> bool {
    let only = std::env::var("AUTHSTORE_BENCH_OPS").unwrap_or_default();
    only.is_empty() || only.split(',').any(|o| o == part)
}

// ------------------------------------------------------------------ criterion

fn criterion_group(c: &mut Criterion, w: &Workload, op: Op) {
    let mut group = c.benchmark_group(op.name());
    group.throughput(Throughput::Elements(BATCH));
    fn cases<B: Backend>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        w: &Workload,
        op: Op,
        name: &str,
        b: B,
    ) {
        // Filled on first use only, so a criterion filter skips the set-up too.
        let prepared = std::cell::Cell::new(false);
        for threads in THREADS {
            let id = BenchmarkId::new(name, format!("{threads}t"));
            group.bench_function(id, |bench| {
                if !prepared.replace(true) {
                    w.prepare(&b, op);
                }
                bench.iter_custom(|iters| w.run(&b, op, threads, iters * BATCH).0)
            });
        }
    }
    cases(&mut group, w, op, "memory", Memory::new());
    cases(&mut group, w, op, "moka", Moka::new());
    cases(&mut group, w, op, "dashmap", Dash::new());
    group.finish();
}

// -------------------------------------------------------------------- summary

/// Ops/s of one (operation, implementation, threads) case.
#[derive(Debug, Clone, Copy)]
struct CaseResult {
    op: Op,
    imp: &'static str,
    threads: usize,
    ops_per_sec: f64,
}

/// One instance of each implementation, so the summary can interleave them.
enum Impl {
    Memory(Memory),
    Moka(Moka),
    Dash(Dash),
}

impl Impl {
    fn new(name: &str) -> Self {
        match name {
            "memory" => Impl::Memory(Memory::new()),
            "moka" => Impl::Moka(Moka::new()),
            _ => Impl::Dash(Dash::new()),
        }
    }

    fn prepare(&self, w: &Workload, op: Op) {
        match self {
            Impl::Memory(b) => w.prepare(b, op),
            Impl::Moka(b) => w.prepare(b, op),
            Impl::Dash(b) => w.prepare(b, op),
        }
    }

    fn run(&self, w: &Workload, op: Op, threads: usize, ops: u64) -> (Duration, u64) {
        match self {
            Impl::Memory(b) => w.run(b, op, threads, ops),
            Impl::Moka(b) => w.run(b, op, threads, ops),
            Impl::Dash(b) => w.run(b, op, threads, ops),
        }
    }

    fn counter_sum(&self, w: &Workload) -> i64 {
        let sum = |b: &dyn Fn(&str) -> i64| w.counters.iter().map(|k| b(k)).sum();
        match self {
            Impl::Memory(b) => sum(&|k| b.counter(k)),
            Impl::Moka(b) => sum(&|k| b.counter(k)),
            Impl::Dash(b) => sum(&|k| b.counter(k)),
        }
    }
}

/// For each operation: one fresh instance per implementation; per thread
/// count a warm-up run each, then `reps` rounds that run the three
/// implementations in turn (so slow drift of the machine hits all three
/// alike); the median of each. Every run's result is checked.
fn summary(w: &Workload, ops: u64, reps: usize) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for op in Op::ALL {
        if !selected(op.name()) {
            continue;
        }
        let impls = IMPLS.map(|name| {
            let b = Impl::new(name);
            b.prepare(w, op);
            (name, b)
        });
        let mut done = [0u64; 3];
        for threads in THREADS {
            let mut rates = [const { Vec::new() }; 3];
            let warm = (ops / 4).div_ceil(BATCH) * BATCH;
            for run in 0..=reps {
                let n = if run == 0 { warm } else { ops };
                for (i, (_, b)) in impls.iter().enumerate() {
                    let (elapsed, checksum) = b.run(w, op, threads, n);
                    check(op, n, checksum);
                    done[i] += n;
                    if run > 0 {
                        rates[i].push(n as f64 / elapsed.as_secs_f64());
                    }
                }
            }
            for (i, (imp, _)) in impls.iter().enumerate() {
                rates[i].sort_by(f64::total_cmp);
                out.push(CaseResult {
                    op,
                    imp,
                    threads,
                    ops_per_sec: rates[i][rates[i].len() / 2],
                });
            }
        }
        if op == Op::Incr {
            for (i, (imp, b)) in impls.iter().enumerate() {
                assert_eq!(b.counter_sum(w) as u64, done[i], "{imp} lost increments");
            }
        }
    }
    out
}

/// Checks one run's checksum (see [`Workload::run`]).
fn check(op: Op, n: u64, checksum: u64) {
    match op {
        Op::Get | Op::Get1M => {
            let hit_rate = checksum as f64 / n as f64;
            assert!((0.85..0.95).contains(&hit_rate), "get hit rate {hit_rate}");
        }
        Op::Put | Op::Incr | Op::Take => assert_eq!(checksum, n, "{} count", op.name()),
    }
}

fn rate(results: &[CaseResult], op: Op, imp: &str, threads: usize) -> f64 {
    results
        .iter()
        .find(|r| r.op == op && r.imp == imp && r.threads == threads)
        .map_or(f64::NAN, |r| r.ops_per_sec)
}

/// `ratio ≥ goal` as "met" or "MISSED by X%".
fn verdict(ratio: f64, goal: f64) -> String {
    if ratio >= goal {
        "met".to_owned()
    } else {
        format!("MISSED by {:.1}%", (1.0 - ratio / goal) * 100.0)
    }
}

fn print_summary(results: &[CaseResult], ops: u64, reps: usize, entries: usize) {
    println!();
    println!(
        "summary: ops/s, median of {reps} runs of {ops} ops each (after a warm-up run); \
         {HOT} hot keys (get1m: {entries} entries); 2t = 2 OS threads sharing the store"
    );
    println!(
        "{:<5} {:>3} {:>12} {:>12} {:>12} {:>12} {:>15}",
        "op", "thr", "memory", "moka", "dashmap", "memory/moka", "memory/dashmap"
    );
    let ran = |op: Op| results.iter().any(|r| r.op == op);
    for op in Op::ALL.into_iter().filter(|&op| ran(op)) {
        for threads in THREADS {
            let [m, k, d] = IMPLS.map(|imp| rate(results, op, imp, threads));
            println!(
                "{:<5} {:>2}t {m:>12.0} {k:>12.0} {d:>12.0} {:>11.2}x {:>14.2}x",
                op.name(),
                threads,
                m / k,
                m / d
            );
        }
    }
    println!();
    let targets = [
        (Op::Get, "moka", 3.0),
        (Op::Get, "dashmap", 0.8),
        (Op::Get1M, "moka", 3.0),
        (Op::Get1M, "dashmap", 0.8),
        (Op::Incr, "moka", 10.0),
        (Op::Incr, "dashmap", 0.5),
    ];
    for (op, other, goal) in targets.into_iter().filter(|&(op, ..)| ran(op)) {
        let cells: Vec<String> = THREADS
            .iter()
            .map(|&t| {
                let ratio = rate(results, op, "memory", t) / rate(results, op, other, t);
                format!("{t}t {ratio:.2}x {}", verdict(ratio, goal))
            })
            .collect();
        println!(
            "target {} memory/{other} >= {goal}x: {}",
            op.name(),
            cells.join(", ")
        );
    }
}

fn print_rss(entries: u64) {
    let results = rss::IMPLS.map(|imp| (imp, rss::measure(imp, entries)));
    println!();
    println!(
        "RSS per entry: {entries} entries, {} B key + {} B value = {PAYLOAD} B payload, \
         one fresh process each; insert = 1 thread, fresh keys, into an empty store",
        rss::KEY_LEN,
        workload::VALUE_LEN
    );
    let line: Vec<String> = results
        .iter()
        .map(|(imp, r)| format!("{imp}={:.1}", r.bytes_per_entry))
        .collect();
    println!("rss_per_entry {}", line.join(" "));
    let line: Vec<String> = results
        .iter()
        .map(|(imp, r)| format!("{imp}={:.1}", r.bytes_per_entry - PAYLOAD))
        .collect();
    println!("rss_overhead_per_entry {}", line.join(" "));
    let line: Vec<String> = results
        .iter()
        .map(|(imp, r)| format!("{imp}={:.0}", r.inserts_per_sec))
        .collect();
    println!(
        "insert_fresh_ops_per_sec n={} {}",
        results[0].1.n,
        line.join(" ")
    );
    let overhead = results[0].1.bytes_per_entry - PAYLOAD;
    let status = if overhead <= 100.0 {
        "met".to_owned()
    } else {
        format!(
            "MISSED by {:.1} B ({:.0}% above)",
            overhead - 100.0,
            overhead - 100.0
        )
    };
    println!("target memory overhead <= 100 B/entry: {overhead:.1} B {status}");
}

/// Nanoseconds per call of `f`, median of 3 runs of `n` calls.
fn ns_per_call(n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let started = std::time::Instant::now();
            for i in 0..n {
                f(i);
            }
            started.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[1]
}

/// What the building blocks of one MemoryStore call cost on their own
/// (1 thread), to read the gap to the bare map against.
fn print_parts(w: &Workload) {
    use futures::FutureExt;
    use std::hint::black_box;
    let n = 1_000_000;
    let key = |i: u64| w.sessions[(i as usize) % HOT].as_str();
    let loop_only = ns_per_call(n, |i| {
        black_box(key(i));
    });
    let validate = ns_per_call(n, |i| {
        black_box(authstore::backend::validate_key(black_box(key(i))).is_ok());
    });
    let clock = ns_per_call(n, |_| {
        black_box(authstore::Clock::now_millis(&authstore::SystemClock));
    });
    let boxed_future = ns_per_call(n, |i| {
        // As `#[async_trait]` does: a boxed `dyn Future`, here ready at once.
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> =
            black_box(Box::pin(async move { black_box(i) }));
        black_box(fut.now_or_never());
    });
    let copy = ns_per_call(n, |_| {
        black_box(bytes::Bytes::copy_from_slice(black_box(&w.value)));
    });
    println!();
    println!(
        "parts (ns per call, 1 thread, median of 3 x {n}; the key loop itself {loop_only:.1} ns \
         is included in each): validate_key(40 B key)={validate:.1} \
         SystemClock::now_millis={clock:.1} boxed_ready_future+now_or_never={boxed_future:.1} \
         Bytes::copy_from_slice(200 B)+drop={copy:.1}"
    );
}
