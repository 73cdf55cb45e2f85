//! PostgresStore against `pgbench` running the store's own statements, on
//! one private PostgreSQL.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore::{PostgresStore, PutOptions, Store};
use authstore_testkit::harness::postgres::PostgresServer;

use crate::Sizes;
use crate::common::{
    Cores, CpuSnap, Loop, Op, TTL, VALUE_BYTE, VALUE_LEN, children, fmt_int, now_ms, timed,
};

#[path = "pg_driver.rs"]
mod driver;
#[path = "pg_rounds.rs"]
mod rounds;

/// pgbench keys are `PGBENCH_KEY_BASE + id` (9 digits, as long as `s:%07d`).
const PGBENCH_KEY_BASE: u64 = 100_000_000;
/// Client environment that would redirect pgbench away from the private server.
const PG_ENV: [&str; 9] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGOPTIONS",
    "PGSSLMODE",
];

// The preload writes the value as `repeat('76', 200)` in hex.
const _: () = assert!(VALUE_BYTE == 0x76 && VALUE_LEN == 200);

/// Which side ran a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Pgbench,
    Store,
    /// The store's get statement on bare tokio-postgres (the driver's floor).
    Driver,
}

/// How the rows of a reset are keyed: for pgbench (`100000000 + id`) or the store (`s:%07d`).
impl Side {
    /// The side's name in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Pgbench => "pgbench",
            Side::Store => "PostgresStore",
            Side::Driver => "tokio-postgres",
        }
    }

    fn key_sql(self) -> &'static str {
        match self {
            Side::Pgbench => "(100000000 + i)::text",
            Side::Store | Side::Driver => "'s:' || lpad(i::text, 7, '0')",
        }
    }
}

/// One measured case, either side.
#[derive(Debug)]
pub(crate) struct PgRow {
    pub(crate) op: Op,
    pub(crate) side: Side,
    pub(crate) clients: usize,
    pub(crate) rate: f64,
    pub(crate) ops: u64,
    pub(crate) secs: f64,
    /// Rows the case deleted (take) or increments it added (incr), counted in the table.
    pub(crate) table_delta: i64,
    /// take: share of operations that found a live row.
    pub(crate) hit_rate: f64,
    pub(crate) lat_avg_us: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) cores: Cores,
    pub(crate) errors: u64,
    pub(crate) note: String,
    /// Store side: max latency and ops ≥ 1 ms.
    pub(crate) tail: String,
}

/// pgbench's summary of one run.
#[derive(Debug)]
struct PgbenchOut {
    tps: f64,
    processed: u64,
    failed: u64,
    lat_avg_ms: f64,
}

/// The PostgreSQL half: the server, the store and the pgbench scripts.
#[derive(Debug)]
pub(crate) struct Pg {
    server: PostgresServer,
    pgbench: PathBuf,
    postmaster: Option<u32>,
    store: Arc<dyn Store>,
    table: String,
    scripts: tempfile::TempDir,
    sz: Sizes,
    clients: usize,
    jobs: usize,
    /// `AUTHSTORE_BENCH_PG_STATEMENTS=1`: print pg_stat_statements per case.
    statements_stats: bool,
    /// The server's URL, for the bare driver's connections.
    url: String,
    /// The store's get statement, which the bare driver runs too.
    get_sql: String,
}

/// The newest `/usr/lib/postgresql/N/bin/pgbench`, else `pgbench` on PATH.
pub(crate) fn find_pgbench() -> Option<PathBuf> {
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.split('.').map(|n| n.parse().unwrap_or(0)).collect();
            (version, e.path().join("bin/pgbench"))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versioned.sort();
    versioned
        .pop()
        .map(|(_, p)| p)
        .or_else(|| authstore_testkit::harness::find_program("pgbench"))
}

/// `sql` with `$n` replaced by `:names[n-1]`, for a pgbench script.
pub(crate) fn pgbench_sql(sql: &str, names: &[&str]) -> String {
    assert!(
        !sql.contains(':'),
        "pgbench would read a ':' in the statement as a variable: {sql}"
    );
    let mut out = String::with_capacity(sql.len() + 32);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let n: usize = digits.parse().expect("a number after $");
        out.push(':');
        out.push_str(names.get(n - 1).expect("a name for every parameter"));
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    // The script must be the statement exactly, up to parameter spelling.
    let mut back = out.clone();
    for (i, name) in names.iter().enumerate().rev() {
        back = back.replace(&format!(":{name}"), &format!("${}", i + 1));
    }
    assert_eq!(
        back, sql,
        "pgbench script differs from the store's statement"
    );
    out
}

impl Pg {
    /// Starts the server, connects the store and writes the pgbench scripts.
    pub(crate) async fn start(sz: Sizes, pgbench: PathBuf) -> Pg {
        let t0 = Instant::now();
        let statements_stats = std::env::var("AUTHSTORE_BENCH_PG_STATEMENTS").as_deref() == Ok("1");
        let mut builder = PostgresServer::builder();
        if statements_stats {
            builder = builder.setting("shared_preload_libraries", "'pg_stat_statements'");
        }
        let server = builder
            .setting("shared_buffers", "512MB")
            .setting("max_connections", "50")
            // No checkpoint inside a case: each case starts right after its own CHECKPOINT.
            .setting("max_wal_size", "8GB")
            .setting("checkpoint_timeout", "30min")
            .start()
            .expect("start PostgreSQL");
        if statements_stats {
            server
                .psql("CREATE EXTENSION pg_stat_statements")
                .expect("pg_stat_statements");
        }
        let version = server.psql("SHOW server_version").expect("psql");
        let settings = server
            .psql(
                "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) \
                 FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', \
                 'shared_buffers', 'max_wal_size', 'wal_level', 'max_connections')",
            )
            .expect("psql settings");
        let postmaster = std::fs::read_to_string(server.dir().join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
        let clients = env_usize("AUTHSTORE_BENCH_PG_CLIENTS", 8);
        let jobs = env_usize("AUTHSTORE_BENCH_PGBENCH_J", 2);
        let url = format!("{}?sslmode=disable", server.url());
        let pg = PostgresStore::builder()
            .url(&url)
            .pool_size(clients)
            .sweep_interval(None)
            .connect()
            .await
            .expect("connect PostgresStore");
        let table = pg.entries_table().to_owned();
        let statements: Vec<(String, String)> = pg
            .statements()
            .into_iter()
            .map(|(n, s)| (n.to_owned(), s.to_owned()))
            .collect();
        let sql = |name: &str| {
            statements
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.clone())
                .unwrap_or_else(|| panic!("no {name:?} statement"))
        };
        let scripts = tempfile::tempdir().expect("tempdir");
        for (op, names) in [
            (Op::Get, &["k", "now"][..]),
            (Op::Take, &["k", "now"][..]),
            (Op::Incr, &["k", "now", "delta", "exp", "vmax", "vmin"][..]),
        ] {
            let keys = sz.pg_keys(op);
            let script = format!(
                "\\set k random({}, {})\n{};\n",
                PGBENCH_KEY_BASE,
                PGBENCH_KEY_BASE + keys - 1,
                pgbench_sql(&sql(op.name()), names)
            );
            std::fs::write(scripts.path().join(format!("{}.sql", op.name())), script)
                .expect("write script");
        }
        println!(
            "PostgreSQL {version} on 127.0.0.1:{} (postmaster pid {}), {settings}; started in {:.1} s",
            server.port(),
            postmaster.map_or("?".into(), |p: u32| p.to_string()),
            t0.elapsed().as_secs_f64()
        );
        println!(
            "pgbench {}: -M prepared -n -c {clients} -j {jobs}; store: pool_size {clients}, {clients} tasks",
            pgbench.display()
        );
        for op in [Op::Get, Op::Take, Op::Incr] {
            let text = std::fs::read_to_string(scripts.path().join(format!("{}.sql", op.name())))
                .expect("read script");
            println!("  {}.sql: {}", op.name(), text.trim().replace('\n', " | "));
        }
        let me = Pg {
            server,
            pgbench,
            postmaster,
            store: Arc::new(pg),
            table,
            scripts,
            sz,
            clients,
            jobs,
            statements_stats,
            get_sql: sql(Op::Get.name()),
            url,
        };
        me.check_row_format().await;
        me
    }

    fn psql(&self, sql: &str) -> String {
        self.server
            .psql(sql)
            .unwrap_or_else(|e| panic!("psql {sql}: {e}"))
    }

    fn psql_i64(&self, sql: &str) -> i64 {
        let out = self.psql(sql);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{sql}: not a number: {out:?}"))
    }

    /// Empties the table and writes `keys` rows for `op` keyed for `side`,
    /// exactly as the store writes them, then VACUUM ANALYZE and CHECKPOINT.
    fn reset(&self, op: Op, side: Side, keys: u64) {
        let t = &self.table;
        let exp = now_ms() + TTL.as_millis() as u64;
        let (value, counter) = match op {
            Op::Incr => ("NULL::bytea", "0"),
            _ => ("decode(repeat('76', 200), 'hex')", "NULL::bigint"),
        };
        self.psql(&format!(
            "TRUNCATE {t}; INSERT INTO {t} (key, value, value_json, counter, version, expires_at, index_keys) \
             SELECT {}, {value}, NULL, {counter}, 1, {exp}, NULL FROM generate_series(0, {}) AS i",
            side.key_sql(),
            keys - 1
        ));
        self.psql(&format!("VACUUM ANALYZE {t}"));
        self.psql("CHECKPOINT");
    }

    /// Rows preloaded by SQL look exactly like rows the store writes, and the
    /// store reads them back.
    async fn check_row_format(&self) {
        self.reset(Op::Get, Side::Store, 2);
        let value = vec![VALUE_BYTE; VALUE_LEN];
        self.store
            .put("x:format", &value, PutOptions::new().ttl(TTL))
            .await
            .expect("put");
        let rows = self.psql(&format!(
            "SELECT value, value_json, counter, version, index_keys, expires_at / 60000 FROM {} \
             WHERE key IN ('x:format', 's:0000000')",
            self.table
        ));
        let lines: Vec<&str> = rows.lines().collect();
        assert!(
            lines.len() == 2 && lines[0] == lines[1],
            "preloaded row differs from a stored one:\n{rows}"
        );
        let e = self
            .store
            .get("s:0000000")
            .await
            .expect("get")
            .expect("preloaded entry");
        assert_eq!((&e.value[..], e.version), (&value[..], 1));
        self.reset(Op::Incr, Side::Store, 1);
        let c = self
            .store
            .incr("s:0000000", 1, Some(TTL))
            .await
            .expect("incr");
        assert_eq!(c.value, 1);
        assert!(c.ttl.is_some_and(|t| t > Duration::from_secs(3000)));
        println!("preload format checked: SQL-preloaded rows equal rows written by PostgresStore");
    }

    /// `count(*)` (take) or `sum(counter)` (incr) of the table.
    fn table_measure(&self, op: Op) -> i64 {
        match op {
            Op::Take => self.psql_i64(&format!("SELECT count(*) FROM {}", self.table)),
            Op::Incr => self.psql_i64(&format!(
                "SELECT coalesce(sum(counter), 0) FROM {}",
                self.table
            )),
            _ => 0,
        }
    }

    /// With `AUTHSTORE_BENCH_PG_STATEMENTS=1`: clears pg_stat_statements.
    fn statements_reset(&self) {
        if self.statements_stats {
            self.psql("SELECT pg_stat_statements_reset()");
        }
    }

    /// With `AUTHSTORE_BENCH_PG_STATEMENTS=1`: what the server ran since the
    /// reset, per statement (calls, rows, mean execution time).
    fn statements_print(&self) {
        if !self.statements_stats {
            return;
        }
        let text = self.psql(
            "SELECT calls || ' calls, ' || rows || ' rows, mean ' || round((mean_exec_time * 1000)::numeric, 1) \
             || ' µs, plan ' || plans || ': ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) \
             FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC LIMIT 4",
        );
        for line in text.lines() {
            println!("    pg_stat_statements: {line}");
        }
    }

    /// Waits (up to 5 s) until the postmaster has no more than `baseline`
    /// children, then 100 ms for it to reap the last ones.
    fn settle(&self, baseline: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while children(self.postmaster) > baseline && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    fn run_pgbench(&self, op: Op, limit: Limit) -> PgbenchOut {
        let now = now_ms();
        let mut cmd = Command::new(&self.pgbench);
        for var in PG_ENV {
            cmd.env_remove(var);
        }
        let (clients, jobs) = (self.clients.to_string(), self.jobs.to_string());
        let port = self.server.port().to_string();
        cmd.args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-n"]);
        cmd.args(["-M", "prepared", "-c", &clients, "-j", &jobs]);
        match limit {
            Limit::Secs(s) => cmd.args(["-T", &s.to_string()]),
            Limit::Transactions(n) => cmd.args(["-t", &n.to_string()]),
        };
        for (name, value) in [
            ("now", now.to_string()),
            ("exp", (now + TTL.as_millis() as u64).to_string()),
            ("delta", "1".into()),
            ("vmax", (i64::MAX - 1).to_string()),
            ("vmin", i64::MIN.to_string()),
        ] {
            cmd.arg("-D").arg(format!("{name}={value}"));
        }
        cmd.arg("-f")
            .arg(self.scripts.path().join(format!("{}.sql", op.name())));
        cmd.arg("postgres");
        let out = cmd.output().expect("run pgbench");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "pgbench failed ({}):\n{text}{err}",
            out.status
        );
        // `processed: 160/160` with -t, `processed: 160` with -T.
        let value = |prefix: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.split('/').next()?.parse().ok())
        };
        let parsed = PgbenchOut {
            tps: value("tps = ").unwrap_or_else(|| panic!("no tps in pgbench output:\n{text}")),
            processed: value("number of transactions actually processed:").unwrap_or(0.0) as u64,
            failed: value("number of failed transactions:").unwrap_or(0.0) as u64,
            lat_avg_ms: value("latency average =").unwrap_or(f64::NAN),
        };
        assert!(
            text.contains("(without initial connection time)"),
            "unexpected pgbench output:\n{text}"
        );
        parsed
    }

    /// Runs `op` on both sides: pgbench, then the store, each on a freshly
    /// reset table after a CHECKPOINT and a warm-up.
    pub(crate) async fn case(&self, op: Op) -> [PgRow; 2] {
        let keys = self.sz.pg_keys(op);
        let with_pgbench = std::env::var("AUTHSTORE_BENCH_PGBENCH").as_deref() != Ok("0");

        // pgbench
        let pgbench_row = if with_pgbench {
            self.reset(op, Side::Pgbench, keys);
            let baseline = children(self.postmaster);
            let _ = self.run_pgbench(op, self.sz.pgbench_warm);
            self.settle(baseline);
            let m0 = self.table_measure(op);
            self.statements_reset();
            let c0 = CpuSnap::now(self.postmaster);
            let began = Instant::now();
            let out = self.run_pgbench(op, self.sz.pgbench_limit);
            let wall = began.elapsed().as_secs_f64();
            // pgbench's backends exit as it ends: snapshot once they are reaped.
            self.settle(baseline);
            let cores = CpuSnap::now(self.postmaster).since(&c0, Some(wall));
            let m1 = self.table_measure(op);
            let delta = if op == Op::Take { m0 - m1 } else { m1 - m0 };
            let secs = out.processed as f64 / out.tps;
            let row = PgRow {
                op,
                side: Side::Pgbench,
                clients: self.clients,
                rate: out.tps,
                ops: out.processed,
                secs,
                table_delta: delta,
                hit_rate: delta as f64 / out.processed as f64,
                lat_avg_us: out.lat_avg_ms * 1000.0,
                p50_us: f64::NAN,
                p99_us: f64::NAN,
                cores,
                errors: out.failed,
                note: String::new(),
                tail: String::new(),
            };
            print_row(&row);
            self.statements_print();
            Some(row)
        } else {
            None
        };

        // the store
        self.reset(op, Side::Store, keys);
        let l = Loop {
            op,
            keys,
            tasks: self.clients,
        };
        let _ = timed(&self.store, l, self.sz.pg_warm_secs).await;
        let m0 = self.table_measure(op);
        self.statements_reset();
        let c0 = CpuSnap::now(self.postmaster);
        let (mut t, elapsed) = timed(&self.store, l, self.sz.pg_secs).await;
        let cores = CpuSnap::now(self.postmaster).since(&c0, None);
        let m1 = self.table_measure(op);
        let delta = if op == Op::Take { m0 - m1 } else { m1 - m0 };
        let secs = elapsed.as_secs_f64();
        let mut note = String::new();
        match op {
            Op::Take if delta != (t.ops - t.misses) as i64 => {
                note = format!(
                    "CHECK FAILED: {delta} rows deleted, {} hits",
                    t.ops - t.misses
                );
            }
            Op::Incr if delta != t.ops as i64 => {
                note = format!("CHECK FAILED: counters grew by {delta}, {} incrs", t.ops);
            }
            Op::Get if t.misses > 0 => note = format!("CHECK FAILED: {} get misses", t.misses),
            _ => {}
        }
        if t.errors > 0 {
            note = format!("{note} errors{}", t.error_suffix());
        }
        let store_row = PgRow {
            op,
            side: Side::Store,
            clients: self.clients,
            rate: t.ops as f64 / secs,
            ops: t.ops,
            secs,
            table_delta: delta,
            hit_rate: (t.ops - t.misses) as f64 / t.ops as f64,
            lat_avg_us: secs * 1e6 * self.clients as f64 / t.ops as f64,
            p50_us: t.pct_us(0.50),
            p99_us: t.pct_us(0.99),
            cores,
            errors: t.errors,
            note,
            tail: t.tail(),
        };
        print_row(&store_row);
        self.statements_print();
        let pgbench_row = pgbench_row.unwrap_or_else(|| PgRow {
            side: Side::Pgbench,
            clients: self.clients,
            ..PgRow::empty(op)
        });
        [pgbench_row, store_row]
    }
}

impl PgRow {
    fn empty(op: Op) -> PgRow {
        PgRow {
            op,
            side: Side::Store,
            clients: 0,
            rate: f64::NAN,
            ops: 0,
            secs: 0.0,
            table_delta: 0,
            hit_rate: f64::NAN,
            lat_avg_us: f64::NAN,
            p50_us: f64::NAN,
            p99_us: f64::NAN,
            cores: Cores::default(),
            errors: 0,
            note: String::new(),
            tail: String::new(),
        }
    }

    /// Client CPU µs per operation.
    pub(crate) fn client_us(&self) -> f64 {
        self.cores.client * 1e6 / self.rate
    }

    /// Context switches of the whole machine per operation.
    pub(crate) fn switches_per_op(&self) -> f64 {
        self.cores.switches as f64 / self.ops as f64
    }

    /// Server CPU µs per operation.
    pub(crate) fn server_us(&self) -> f64 {
        self.cores.server * 1e6 / self.rate
    }
}

fn print_row(r: &PgRow) {
    let who = r.side.name();
    let unit = match r.side {
        Side::Pgbench => "tps  ",
        Side::Store | Side::Driver => "ops/s",
    };
    let hits = if r.op == Op::Take {
        format!(", hit rate {:.1}%", r.hit_rate * 100.0)
    } else {
        String::new()
    };
    let pct = if r.p50_us.is_nan() {
        String::new()
    } else {
        format!(
            "  p50 {:.0} µs  p99 {:.0} µs  {}",
            r.p50_us, r.p99_us, r.tail
        )
    };
    println!(
        "{who:<13} c{} {:<4} {:>9} {unit}  lat avg {:.0} µs{pct}  ({} ops in {:.2} s, table Δ {}{hits}, errors {}) {}",
        r.clients,
        r.op.name(),
        fmt_int(r.rate),
        r.lat_avg_us,
        r.ops,
        r.secs,
        r.table_delta,
        r.errors,
        r.note
    );
    println!(
        "    {}; per op: server {:.1} µs, client {:.1} µs, {:.2} context switches (machine)",
        r.cores.line("postgres"),
        r.server_us(),
        r.client_us(),
        r.switches_per_op()
    );
}

/// How long a pgbench run lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    Secs(u64),
    Transactions(u64),
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
