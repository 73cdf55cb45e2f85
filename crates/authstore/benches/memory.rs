//! `cargo bench -p authstore --bench memory`: the in-memory backend against
//! moka and bare DashMap, on the auth-state workload of the reference
//! measurements (40-byte `session:<hex>` keys, 200-byte values, 10k hot keys).
//!
//! One run does three things:
//! 1. criterion groups `get`, `put`, `incr`, `take`, each with
//!    `memory|moka|dashmap` × `1t|2t` (2 OS threads sharing one store, the
//!    work split in halves; one iteration = 10,000 operations);
//! 2. a summary table of ops/s (median of 3 fixed-size runs per case) with
//!    the ratios the performance targets are stated in;
//! 3. resident memory per entry for 1,000,000 entries, one child process per
//!    implementation (`AUTHSTORE_RSS=memory|moka|dashmap`).
//!
//! Set `AUTHSTORE_BENCH_SUMMARY=0` to skip 2 and 3 (e.g. with a criterion
//! filter). Under `cargo test --benches` every part runs once on small sizes.
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
    let workload = Workload::new();

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
    // Small sizes under `cargo test --benches`: check the code paths, not speed.
    let (ops, reps, rss_entries) = if benchmarking {
        (400_000, 3, 1_000_000)
    } else {
        (2 * BATCH, 1, 20_000)
    };
    let results = summary(&workload, ops, reps);
    print_summary(&results, ops, reps);
    print_rss(rss_entries);
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
        w.prepare(&b, op);
        for threads in THREADS {
            let id = BenchmarkId::new(name, format!("{threads}t"));
            group.bench_function(id, |bench| {
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

fn summary(w: &Workload, ops: u64, reps: usize) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for op in Op::ALL {
        for imp in IMPLS {
            for threads in THREADS {
                let ops_per_sec = match imp {
                    "memory" => summary_case(w, op, threads, ops, reps, Memory::new()),
                    "moka" => summary_case(w, op, threads, ops, reps, Moka::new()),
                    _ => summary_case(w, op, threads, ops, reps, Dash::new()),
                };
                out.push(CaseResult {
                    op,
                    imp,
                    threads,
                    ops_per_sec,
                });
            }
        }
    }
    out
}

/// Median ops/s of `reps` runs of `ops` operations on a fresh instance, after a
/// warm-up run; checks each run's result for correctness.
fn summary_case<B: Backend>(
    w: &Workload,
    op: Op,
    threads: usize,
    ops: u64,
    reps: usize,
    b: B,
) -> f64 {
    w.prepare(&b, op);
    let warm = (ops / 4).div_ceil(BATCH) * BATCH;
    let mut done = 0;
    let mut rates = Vec::with_capacity(reps);
    for run in 0..=reps {
        let n = if run == 0 { warm } else { ops };
        let (elapsed, checksum) = w.run(&b, op, threads, n);
        done += n;
        match op {
            Op::Get => {
                let hit_rate = checksum as f64 / n as f64;
                assert!((0.85..0.95).contains(&hit_rate), "get hit rate {hit_rate}");
            }
            Op::Put | Op::Take => assert_eq!(checksum, n, "{} count", op.name()),
            Op::Incr => assert_eq!(checksum, n),
        }
        if run > 0 {
            rates.push(n as f64 / elapsed.as_secs_f64());
        }
    }
    if op == Op::Incr {
        let total: i64 = w.counters.iter().map(|k| b.counter(k)).sum();
        assert_eq!(total as u64, done, "no increment lost");
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
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
        format!("MISSED by {:.0}%", (1.0 - ratio / goal) * 100.0)
    }
}

fn print_summary(results: &[CaseResult], ops: u64, reps: usize) {
    println!();
    println!(
        "summary: ops/s, median of {reps} runs of {ops} ops each (after a warm-up run), \
         {HOT} hot keys, 2t = 2 OS threads sharing the store"
    );
    println!(
        "{:<5} {:>3} {:>12} {:>12} {:>12} {:>12} {:>15}",
        "op", "thr", "memory", "moka", "dashmap", "memory/moka", "memory/dashmap"
    );
    for op in Op::ALL {
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
        (Op::Incr, "moka", 10.0),
        (Op::Incr, "dashmap", 0.5),
    ];
    for (op, other, goal) in targets {
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
