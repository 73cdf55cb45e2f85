//! `cargo bench -p authstore --features postgres,sqlite --bench sql`:
//! PostgresStore against `pgbench` running the store's own SQL, on one
//! private PostgreSQL, in one run; then SqliteStore.
//!
//! One run:
//! 1. starts a private PostgreSQL (testkit harness, fsync on,
//!    `shared_buffers=512MB`, `max_connections=50`, `max_wal_size=8GB`,
//!    `checkpoint_timeout=30min` so no checkpoint falls inside a case) and
//!    connects `PostgresStore` (pool of 8, no sweeper), held as `Arc<dyn Store>`;
//! 2. writes one pgbench script per statement — get, take, incr — whose SQL
//!    is the text `PostgresStore::statements()` returns, with `$n` spelled as
//!    pgbench variables (checked by turning them back). Keys are pgbench's
//!    `\set k random(..)` numbers (`100000000 + id`, 9 bytes); the store's
//!    keys are `s:%07d` (also 9 bytes): valid store keys need a `:`, which
//!    pgbench cannot print. Constants (`now`, expiry, delta, bounds) are `-D`;
//! 3. get: one table holding both sides' keys (200,000 rows), a warm-up
//!    of each, then 5 rounds (`AUTHSTORE_BENCH_PG_ROUNDS`) of pgbench for
//!    4 s, the store for 4 s, and the store's get statement on bare
//!    tokio-postgres for 4 s (one connection per task, prepared once, no
//!    pool: the driver's floor), each round's ratios printed;
//!    take and incr: per statement, resets the table (TRUNCATE, an `INSERT .. SELECT
//!    generate_series` writing rows exactly as the store writes them — checked
//!    against a row the store wrote — VACUUM ANALYZE, CHECKPOINT), warms up,
//!    runs `pgbench -M prepared -n -c 8 -j 2 -T 10`; resets again with store
//!    keys, warms up, runs 8 store tasks for 10 s. get: 100,000 entries;
//!    take: 1,000,000 entries, random keys, hit rates reported (rows deleted
//!    / operations); incr: 1,000 counters, checked by `sum(counter)`;
//! 4. SqliteStore on a WAL file and `in_memory()`: get, put, incr, take at 8
//!    tasks and 1 task, and the same statements from one thread on a raw
//!    rusqlite connection, prepared once, as the floor;
//! 5. prints the tables: PostgresStore ops/s against pgbench tps (target
//!    ≥ 85%: `met` / `MISSED by X%`), CPU per operation, SQLite ops/s.
//!
//! `AUTHSTORE_BENCH_OPS=get,take,incr,put,pg,sqlite` limits the cases;
//! `AUTHSTORE_BENCH_PGBENCH=0` skips pgbench; `AUTHSTORE_BENCH_PG_CLIENTS=N`
//! changes the 8 (pgbench `-c`, store tasks and pool size);
//! `AUTHSTORE_BENCH_PGBENCH_J=N` changes pgbench `-j 2`;
//! `AUTHSTORE_BENCH_RT=current` uses a current-thread runtime instead of the
//! default multi-thread one with 2 workers; `AUTHSTORE_BENCH_PG_STATEMENTS=1`
//! loads pg_stat_statements and prints what the server ran in every case
//! (calls, rows, mean execution time). CPU figures come from `/proc`: the
//! postmaster's process tree, this process plus pgbench, the machine.
//! Under `cargo test --benches` every case runs once on tiny sizes. See
//! `docs/BENCHMARKS.md` ("PostgreSQL and SQLite backends") for the figures.

#[path = "sql/common.rs"]
mod common;
#[path = "sql/lite.rs"]
mod lite;
#[path = "sql/pg.rs"]
mod pg;

use std::time::Instant;

use common::{Op, fmt_int, selected, verdict};
use lite::{LiteRow, Who};
use pg::{Limit, Pg, PgRow, Side};

/// The target: PostgresStore ≥ 85% of pgbench's tps.
const TARGET: f64 = 0.85;

/// Sizes of one run; tiny under `cargo test --benches`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pg_get_keys: u64,
    pg_take_keys: u64,
    pg_ctr_keys: u64,
    pg_secs: f64,
    pg_warm_secs: f64,
    pgbench_limit: Limit,
    pgbench_warm: Limit,
    lite_keys: u64,
    lite_ctr_keys: u64,
    lite_take_round: u64,
    lite_secs: f64,
    lite_warm_secs: f64,
}

impl Sizes {
    fn pg_keys(&self, op: Op) -> u64 {
        match op {
            Op::Take => self.pg_take_keys,
            Op::Incr => self.pg_ctr_keys,
            Op::Get | Op::Put => self.pg_get_keys,
        }
    }
}

const BENCH: Sizes = Sizes {
    pg_get_keys: 100_000,
    pg_take_keys: 1_000_000,
    pg_ctr_keys: 1_000,
    pg_secs: 10.0,
    pg_warm_secs: 2.0,
    pgbench_limit: Limit::Secs(10),
    pgbench_warm: Limit::Secs(2),
    lite_keys: 100_000,
    lite_ctr_keys: 1_000,
    lite_take_round: 20_000,
    lite_secs: 3.0,
    lite_warm_secs: 0.5,
};

const TEST: Sizes = Sizes {
    pg_get_keys: 1_000,
    pg_take_keys: 2_000,
    pg_ctr_keys: 100,
    pg_secs: 0.1,
    pg_warm_secs: 0.02,
    pgbench_limit: Limit::Transactions(20),
    pgbench_warm: Limit::Transactions(5),
    lite_keys: 500,
    lite_ctr_keys: 50,
    lite_take_round: 100,
    lite_secs: 0.05,
    lite_warm_secs: 0.01,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let benchmarking = has("--bench") && !has("--test");
    if has("--list") {
        return;
    }
    let sz = if benchmarking { BENCH } else { TEST };
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
    println!(
        "runtime {rt_kind}, {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let wall = Instant::now();
    let pg_ops: Vec<Op> = [Op::Get, Op::Take, Op::Incr]
        .into_iter()
        .filter(|&op| selected("pg", op))
        .collect();
    let pg_rows = if !pg_ops.is_empty() {
        match pg::find_pgbench() {
            Some(pgbench) => rt.block_on(run_pg(sz, pgbench, &pg_ops)),
            None => {
                assert!(!benchmarking, "pgbench not found");
                println!("skipping PostgreSQL: pgbench not found");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let lite_wanted = [Op::Get, Op::Put, Op::Incr, Op::Take]
        .into_iter()
        .any(|op| selected("sqlite", op));
    let lite_rows = if lite_wanted {
        rt.block_on(lite::run(sz))
    } else {
        Vec::new()
    };
    report(&pg_rows, &lite_rows);
    println!(
        "\ntotal bench wall time {:.1} s",
        wall.elapsed().as_secs_f64()
    );
}

async fn run_pg(sz: Sizes, pgbench: std::path::PathBuf, ops: &[Op]) -> Vec<PgRow> {
    let pg = Pg::start(sz, pgbench).await;
    let mut rows = Vec::new();
    for &op in ops {
        println!();
        // get reads only, so both sides can share one table and take turns.
        let interleave =
            op == Op::Get && std::env::var("AUTHSTORE_BENCH_PGBENCH").as_deref() != Ok("0");
        if interleave {
            rows.extend(pg.case_interleaved().await);
        } else {
            rows.extend(pg.case(op).await);
        }
    }
    rows
}

/// Each store row with the pgbench row of the same statement.
fn pairs(pg: &[PgRow]) -> impl Iterator<Item = (&PgRow, &PgRow)> {
    pg.iter().filter(|s| s.side == Side::Store).filter_map(|s| {
        pg.iter()
            .find(|b| b.side == Side::Pgbench && b.op == s.op)
            .map(|b| (b, s))
    })
}

fn report(pg: &[PgRow], lite: &[LiteRow]) {
    if !pg.is_empty() {
        let clients = pg[0].clients;
        println!(
            "\n## PostgresStore vs pgbench, {clients} clients / tasks (fsync on, prepared statements)\n"
        );
        println!(
            "| statement | pgbench -c {clients} tps | PostgresStore c{clients} ops/s | ratio | ≥ {:.0}% of pgbench | take hit rate pgbench / store |",
            TARGET * 100.0
        );
        println!("|---|---:|---:|---:|---|---|");
        for (b, s) in pairs(pg) {
            let ratio = s.rate / b.rate;
            let hits = if s.op == Op::Take {
                format!("{:.1}% / {:.1}%", b.hit_rate * 100.0, s.hit_rate * 100.0)
            } else {
                String::new()
            };
            println!(
                "| {} | {} | {} | {ratio:.2}× | {} | {hits} |",
                s.op.name(),
                fmt_int(b.rate),
                fmt_int(s.rate),
                verdict(ratio, TARGET)
            );
        }
        println!(
            "\n## CPU per operation (cores from /proc; µs = cores / rate; context switches of the whole machine)\n"
        );
        println!(
            "| case | rate | latency avg µs | postgres cores | client cores | other cores | server µs/op | client µs/op | context switches/op |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in pg {
            let who = r.side.name();
            println!(
                "| {who} {} | {} | {:.0} | {:.2} | {:.2} | {:+.2} | {:.1} | {:.1} | {:.2} |",
                r.op.name(),
                fmt_int(r.rate),
                r.lat_avg_us,
                r.cores.server,
                r.cores.client,
                r.cores.other,
                r.server_us(),
                r.client_us(),
                r.switches_per_op()
            );
        }
        let failed: Vec<String> = pg
            .iter()
            .filter(|r| r.errors > 0 || !r.note.is_empty())
            .map(|r| {
                format!(
                    "{:?} {}: {} errors {}",
                    r.side,
                    r.op.name(),
                    r.errors,
                    r.note
                )
            })
            .collect();
        if failed.is_empty() {
            println!(
                "checks: every get hit; take hits = rows deleted; incr count = sum(counter) growth; no errors"
            );
        } else {
            println!("CHECK FAILED: {}", failed.join("; "));
        }
    }
    if !lite.is_empty() {
        println!("\n## SqliteStore (ops/s; raw = rusqlite, one thread, prepared once)\n");
        println!(
            "| op | file c8 | file c1 | file raw | c1 / raw | memory c8 | memory c1 | memory raw | c1 / raw |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let find = |db: &str, op: Op, who: Who| {
            lite.iter()
                .find(|r| r.db == db && r.op == op && r.who == who)
                .map_or(f64::NAN, |r| r.rate)
        };
        for op in [Op::Get, Op::Put, Op::Incr, Op::Take] {
            let mut line = format!("| {} |", op.name());
            for db in ["file", "memory"] {
                let (c8, c1, raw) = (
                    find(db, op, Who::Store(8)),
                    find(db, op, Who::Store(1)),
                    find(db, op, Who::Raw),
                );
                line += &format!(
                    " {} | {} | {} | {:.2}× |",
                    fmt_int(c8),
                    fmt_int(c1),
                    fmt_int(raw),
                    c1 / raw
                );
            }
            println!("{line}");
        }
        println!("\n| case | p50 µs | p99 µs | cpu cores |");
        println!("|---|---:|---:|---:|");
        for r in lite {
            let who = match r.who {
                Who::Store(n) => format!("SqliteStore {} c{n}", r.db),
                Who::Raw => format!("rusqlite {}", r.db),
            };
            println!(
                "| {who} {} | {:.1} | {:.1} | {:.2} |",
                r.op.name(),
                r.p50_us,
                r.p99_us,
                r.cores
            );
        }
        let failed: Vec<String> = lite
            .iter()
            .filter(|r| r.failed)
            .map(|r| format!("{} {:?} {}", r.db, r.who, r.op.name()))
            .collect();
        if failed.is_empty() {
            println!("checks: every SQLite get/take hit, no errors");
        } else {
            println!("CHECK FAILED (misses or errors): {}", failed.join("; "));
        }
    }
    if !pg.is_empty() {
        println!("\n## Targets\n");
        for (b, s) in pairs(pg) {
            let ratio = s.rate / b.rate;
            println!(
                "{:<5} ≥ {:.0}% of pgbench: {ratio:.2}×  {}",
                s.op.name(),
                TARGET * 100.0,
                verdict(ratio, TARGET)
            );
            if let Some(d) = pg.iter().find(|d| d.side == Side::Driver && d.op == s.op) {
                println!(
                    "{:<5} the same statement on bare tokio-postgres: {:.2}× of pgbench; PostgresStore {:.2}× of it",
                    s.op.name(),
                    d.rate / b.rate,
                    s.rate / d.rate
                );
            }
        }
    }
}
