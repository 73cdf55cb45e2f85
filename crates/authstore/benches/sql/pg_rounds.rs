//! The `get` case measured interleaved: pgbench, PostgresStore and the same statement on bare tokio-postgres take turns in rounds on one table that holds pgbench's and the store's keys, so drift during the run (CPU clock, caches, background work) falls on all alike.

use std::time::Instant;

use super::driver;
use super::{Limit, Pg, PgRow, Side, print_row};
use crate::common::{Cores, CpuSnap, Loop, Op, Tally, children, fmt_int, timed};

/// Rounds per side; `AUTHSTORE_BENCH_PG_ROUNDS` changes it.
const ROUNDS: usize = 5;
/// Seconds of one side's round when benchmarking.
const ROUND_SECS: u64 = 4;

/// Time-weighted sum of the cores of several rounds.
#[derive(Debug, Default)]
struct Weighted {
    cores: Cores,
    secs: f64,
}

impl Weighted {
    fn add(&mut self, c: Cores, secs: f64) {
        self.cores.server += c.server * secs;
        self.cores.client += c.client * secs;
        self.cores.other += c.other * secs;
        self.cores.switches += c.switches;
        self.secs += secs;
    }

    fn mean(&self) -> Cores {
        let s = self.secs.max(1e-9);
        Cores {
            server: self.cores.server / s,
            client: self.cores.client / s,
            other: self.cores.other / s,
            switches: self.cores.switches,
        }
    }
}

impl Pg {
    /// Empties the table and writes `keys` rows for each side, as the
    /// store writes them.
    fn reset_both(&self, keys: u64) {
        let t = &self.table;
        let exp = crate::common::now_ms() + crate::common::TTL.as_millis() as u64;
        let select = |side: Side| {
            format!(
                "SELECT {}, decode(repeat('76', 200), 'hex'), NULL::json, NULL::bigint, 1, {exp}, NULL::text[] \
                 FROM generate_series(0, {}) AS i",
                side.key_sql(),
                keys - 1
            )
        };
        self.psql(&format!(
            "TRUNCATE {t}; INSERT INTO {t} (key, value, value_json, counter, version, expires_at, index_keys) \
             {} UNION ALL {}",
            select(Side::Pgbench),
            select(Side::Store)
        ));
        self.psql(&format!("VACUUM ANALYZE {t}"));
        self.psql("CHECKPOINT");
    }

    /// `get` on every side, in turn: a warm-up of pgbench and the store,
    /// then rounds of pgbench, the store and the bare driver; each round's
    /// ratios are printed, and the rows sum every round of a side.
    pub(crate) async fn case_interleaved(&self) -> [PgRow; 3] {
        let op = Op::Get;
        let keys = self.sz.pg_keys(op);
        self.reset_both(keys);
        let rounds = std::env::var("AUTHSTORE_BENCH_PG_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(ROUNDS);
        let (pgbench_round, store_round) = match self.sz.pgbench_limit {
            Limit::Secs(_) => (Limit::Secs(ROUND_SECS), ROUND_SECS as f64),
            tiny => (tiny, self.sz.pg_secs),
        };
        let l = Loop {
            op,
            keys,
            tasks: self.clients,
        };
        let baseline = children(self.postmaster);
        let _ = self.run_pgbench(op, self.sz.pgbench_warm);
        self.settle(baseline);
        let _ = timed(&self.store, l, self.sz.pg_warm_secs).await;
        let conns = driver::connect(&self.url, &self.get_sql, self.clients).await;
        let _ = driver::timed_driver(&conns, l, self.sz.pg_warm_secs).await;
        println!(
            "get interleaved: {rounds} rounds of pgbench, PostgresStore, then its statement on bare tokio-postgres, {} each",
            match pgbench_round {
                Limit::Secs(s) => format!("{s} s"),
                Limit::Transactions(n) => format!("{n} transactions / {store_round} s"),
            }
        );
        let (mut pgbench_ops, mut pgbench_secs, mut pgbench_lat, mut pgbench_failed) =
            (0u64, 0f64, 0f64, 0u64);
        let mut pgbench_cpu = Weighted::default();
        let (mut store, mut store_secs) = (Tally::default(), 0f64);
        let mut store_cpu = Weighted::default();
        let (mut driver, mut driver_secs) = (Tally::default(), 0f64);
        let mut driver_cpu = Weighted::default();
        for round in 1..=rounds {
            let c0 = CpuSnap::now(self.postmaster);
            let began = Instant::now();
            let out = self.run_pgbench(op, pgbench_round);
            let wall = began.elapsed().as_secs_f64();
            self.settle(baseline);
            let secs = out.processed as f64 / out.tps;
            pgbench_cpu.add(CpuSnap::now(self.postmaster).since(&c0, Some(wall)), secs);
            pgbench_ops += out.processed;
            pgbench_secs += secs;
            pgbench_lat += out.lat_avg_ms * 1000.0 * out.processed as f64;
            pgbench_failed += out.failed;

            let c1 = CpuSnap::now(self.postmaster);
            let (t, elapsed) = timed(&self.store, l, store_round).await;
            let secs = elapsed.as_secs_f64();
            store_cpu.add(CpuSnap::now(self.postmaster).since(&c1, None), secs);
            let rate = t.ops as f64 / secs;
            store.merge(t);
            store_secs += secs;

            let c2 = CpuSnap::now(self.postmaster);
            let (t, elapsed) = driver::timed_driver(&conns, l, store_round).await;
            let secs = elapsed.as_secs_f64();
            driver_cpu.add(CpuSnap::now(self.postmaster).since(&c2, None), secs);
            let bare = t.ops as f64 / secs;
            driver.merge(t);
            driver_secs += secs;
            println!(
                "  round {round}: pgbench {} tps, PostgresStore {} ops/s, ratio {:.2}×; bare tokio-postgres {} ops/s, {:.2}×",
                fmt_int(out.tps),
                fmt_int(rate),
                rate / out.tps,
                fmt_int(bare),
                bare / out.tps
            );
        }
        let pgbench_row = PgRow {
            op,
            side: Side::Pgbench,
            clients: self.clients,
            rate: pgbench_ops as f64 / pgbench_secs,
            ops: pgbench_ops,
            secs: pgbench_secs,
            table_delta: 0,
            hit_rate: f64::NAN,
            lat_avg_us: pgbench_lat / pgbench_ops.max(1) as f64,
            p50_us: f64::NAN,
            p99_us: f64::NAN,
            cores: pgbench_cpu.mean(),
            errors: pgbench_failed,
            note: String::new(),
            tail: String::new(),
        };
        let store_row = self.get_row(Side::Store, store, store_secs, &store_cpu);
        let driver_row = self.get_row(Side::Driver, driver, driver_secs, &driver_cpu);
        print_row(&pgbench_row);
        print_row(&store_row);
        print_row(&driver_row);
        [pgbench_row, store_row, driver_row]
    }

    /// The row of a side timed in this process (the store or the bare driver).
    fn get_row(&self, side: Side, mut t: Tally, secs: f64, cpu: &Weighted) -> PgRow {
        let mut note = String::new();
        if t.misses > 0 {
            note = format!("CHECK FAILED: {} get misses", t.misses);
        }
        if t.errors > 0 {
            note = format!("{note} errors{}", t.error_suffix());
        }
        PgRow {
            op: Op::Get,
            side,
            clients: self.clients,
            rate: t.ops as f64 / secs,
            ops: t.ops,
            secs,
            table_delta: 0,
            hit_rate: (t.ops - t.misses) as f64 / t.ops.max(1) as f64,
            lat_avg_us: secs * 1e6 * self.clients as f64 / t.ops.max(1) as f64,
            p50_us: t.pct_us(0.50),
            p99_us: t.pct_us(0.99),
            cores: cpu.mean(),
            errors: t.errors,
            note,
            tail: t.tail(),
        }
    }
}
