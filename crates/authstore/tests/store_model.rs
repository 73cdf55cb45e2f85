//! The model-checked Store contract: generated op sequences on every backend, compared with `authstore_testkit::model`.
//!
//! `AUTHSTORE_MODEL_CASES` overrides the number of sequences per backend.
//! Memory and SQLite always run; Redis and PostgreSQL with their features,
//! on private servers (or `REDIS_URL` / `DATABASE_URL`).

use std::sync::{Arc, OnceLock};

use authstore::{FakeClock, MemoryStore, Store};
use authstore_testkit::model::{Mode, Op, check_sequence, run_model};

/// Cases for the in-process backends.
const LOCAL_CASES: u32 = 256;

/// Cases for the backends behind a server, which take a round trip per op.
#[cfg(any(feature = "redis", feature = "postgres"))]
const SERVER_CASES: u32 = 32;

async fn open_memory(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
    static BASE: OnceLock<MemoryStore> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        MemoryStore::builder()
            .sweep_interval(None)
            .build()
            .expect("valid configuration")
    });
    Arc::new(
        base.with_prefix(&prefix)
            .expect("valid prefix")
            .with_clock(clock),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_follows_the_model() {
    run_model("model_memory", LOCAL_CASES, open_memory).await;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use authstore::SqliteStore;

    pub(super) async fn open_in_memory(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
        let store = SqliteStore::builder()
            .in_memory()
            .prefix(prefix)
            .clock(clock)
            .sweep_interval(None)
            .connect()
            .await
            .expect("open SQLite in memory");
        Arc::new(store)
    }

    /// One database file for every case; each case is its own connection and prefix.
    pub(super) async fn open_file(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
        static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
        let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"));
        let store = SqliteStore::builder()
            .path(dir.path().join("model.db"))
            .prefix(prefix)
            .clock(clock)
            .sweep_interval(None)
            .connect()
            .await
            .expect("open SQLite file");
        Arc::new(store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_in_memory_follows_the_model() {
        run_model("model_sqlite_memory", LOCAL_CASES, open_in_memory).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_file_follows_the_model() {
        run_model("model_sqlite_file", LOCAL_CASES, open_file).await;
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use authstore::RedisStore;
    use authstore_testkit::harness::redis::{RedisServer, RedisTarget};

    fn server_url() -> String {
        static SERVER: OnceLock<RedisTarget> = OnceLock::new();
        SERVER
            .get_or_init(|| RedisServer::from_env_or_start().expect("start redis-server"))
            .url()
    }

    pub(super) async fn open(prefix: String, _clock: FakeClock) -> Arc<dyn Store> {
        let store = RedisStore::builder()
            .url(&server_url())
            .prefix(prefix)
            .connect()
            .await
            .expect("connect to redis");
        Arc::new(store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_follows_the_model() {
        run_model("model_redis", SERVER_CASES, open).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use authstore::PostgresStore;
    use authstore_testkit::harness::postgres::{PostgresServer, PostgresTarget};

    /// One server, one fresh database and one schema for the whole test binary.
    fn database() -> &'static (PostgresTarget, String, String) {
        static DB: OnceLock<(PostgresTarget, String, String)> = OnceLock::new();
        DB.get_or_init(|| {
            let target = PostgresServer::builder()
                .fsync(false)
                .from_env_or_start()
                .expect("start PostgreSQL");
            let name = format!("authstore_test_model_{}", std::process::id());
            let url = target.create_database(&name).expect("create database");
            let schema =
                authstore_testkit::scope_identifier(&authstore_testkit::unique_prefix("model"));
            (target, url, schema)
        })
    }

    async fn open_in(schema: &str, prefix: String, clock: FakeClock) -> PostgresStore {
        PostgresStore::builder()
            .url(&database().1)
            .schema(schema)
            .prefix(prefix)
            .clock(clock)
            .pool_size(2)
            .sweep_interval(None)
            .connect()
            .await
            .expect("connect to PostgreSQL")
    }

    pub(super) async fn open(prefix: String, clock: FakeClock) -> Arc<dyn Store> {
        Arc::new(open_in(&database().2, prefix, clock).await)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_follows_the_model() {
        run_model("model_postgres", SERVER_CASES, open).await;
    }

    /// With statistics of a small table the planner rescanned the purge's
    /// `LIMIT … FOR UPDATE SKIP LOCKED` subquery once per candidate row (a
    /// nested-loop semi join), and each rescan skipped the rows already
    /// deleted and took the next ones: `purge_expired(2)` removed 3.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_expired_keeps_to_its_limit_on_a_small_analyzed_table() {
        let scope = authstore_testkit::unique_prefix("model_purge_plan");
        let schema = authstore_testkit::scope_identifier(&scope);
        let clock = FakeClock::new();
        let filler = open_in(&schema, format!("{scope}filler:"), clock.clone()).await;
        for key in ["f:1", "f:2", "f:3"] {
            filler
                .put(key, b"x", authstore::PutOptions::new())
                .await
                .unwrap();
            assert!(filler.delete(key).await.unwrap());
        }
        let analyze = format!("ANALYZE {}", filler.entries_table());
        authstore_testkit::harness::postgres::psql(&database().1, &analyze).expect("ANALYZE");
        let store = open_in(&schema, format!("{scope}model:"), clock.clone()).await;
        let ops = [
            Op::Put {
                key: "b:2",
                value: "x",
                ttl_ms: Some(1),
                mode: Mode::Upsert,
                index: &[],
            },
            Op::Put {
                key: "a:2",
                value: "x",
                ttl_ms: Some(2500),
                mode: Mode::Upsert,
                index: &[],
            },
            Op::Put {
                key: "a:10",
                value: "x",
                ttl_ms: None,
                mode: Mode::Upsert,
                index: &[],
            },
            Op::Touch {
                key: "a:10",
                ttl_ms: 1,
            },
            Op::Advance { ms: 3000 },
            Op::PurgeExpired { limit: 2 },
        ];
        if let Err(divergence) = check_sequence(&store, &clock, &ops).await {
            panic!("{divergence}");
        }
    }
}

/// Runs `ops` on a store freshly opened by `open`, and panics on a divergence.
async fn run_on<F, Fut>(open: F, ops: &[Op])
where
    F: Fn(String, FakeClock) -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    let clock = FakeClock::new();
    let store = open(
        authstore_testkit::unique_prefix("model_case"),
        clock.clone(),
    )
    .await;
    if let Err(divergence) = check_sequence(&*store, &clock, ops).await {
        panic!("{divergence}");
    }
}

/// Runs one fixed sequence (which must suit a server clock too) on every
/// backend compiled in.
async fn on_every_backend(ops: &[Op]) {
    run_on(open_memory, ops).await;
    #[cfg(feature = "sqlite")]
    {
        run_on(sqlite::open_in_memory, ops).await;
        run_on(sqlite::open_file, ops).await;
    }
    #[cfg(feature = "redis")]
    run_on(redis::open, ops).await;
    #[cfg(feature = "postgres")]
    run_on(postgres::open, ops).await;
}

/// The model's own sanity: a sequence touching every op passes on memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_op_passes_on_memory() {
    let ops = [
        Op::Put {
            key: "a:1",
            value: "7",
            ttl_ms: Some(500),
            mode: Mode::Upsert,
            index: &["user:1"],
        },
        Op::Incr {
            key: "a:1",
            delta: 1,
            ttl_ms: None,
        },
        Op::Put {
            key: "a:2",
            value: "x",
            ttl_ms: None,
            mode: Mode::CreateOnly,
            index: &["user:1"],
        },
        Op::Put {
            key: "a:2",
            value: "y",
            ttl_ms: None,
            mode: Mode::IfVersion(1),
            index: &[],
        },
        Op::Gcra {
            key: "b:1",
            interval_ms: 100,
            burst: 2,
            cost: 1,
        },
        Op::Touch {
            key: "a:1",
            ttl_ms: 1_000,
        },
        Op::ListIndex {
            index_key: "user:1",
        },
        Op::Scan {
            prefix: "a:",
            limit: 1,
        },
        Op::Advance { ms: 1_000 },
        Op::Get { key: "a:1" },
        Op::Exists { key: "b:1" },
        Op::PurgeExpired { limit: 100 },
        Op::Take { key: "a:2" },
        Op::Delete { key: "a:2" },
        Op::DeleteIndex {
            index_key: "user:1",
        },
    ];
    run_on(open_memory, &ops).await;
}

// Regressions: minimal sequences the model found, each run on every backend.

/// Redis answered `NotACounter` for `gcra` on an entry written by `put`
/// whose value is a decimal; the other backends read it as the GCRA state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcra_reads_a_decimal_entry_as_its_state() {
    let ops = [
        Op::Put {
            key: "a:2",
            value: "7",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &[],
        },
        Op::Gcra {
            key: "a:2",
            interval_ms: 60000,
            burst: 1,
            cost: 0,
        },
    ];
    on_every_backend(&ops).await;
}

/// Redis turned a put entry into a bare counter before `INCRBY` refused to
/// overflow, so the failed `incr` changed the entry (its version read 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_incr_leaves_a_put_entry_as_it_was() {
    let ops = [
        Op::Put {
            key: "b:2",
            value: "7",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &[],
        },
        Op::Incr {
            key: "b:2",
            delta: 9223372036854775807,
            ttl_ms: None,
        },
        Op::Get { key: "b:2" },
    ];
    on_every_backend(&ops).await;
}

/// Redis returned the sum through Lua's doubles: -3 + i64::MAX came back as i64::MIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incr_of_a_put_entry_answers_the_exact_sum() {
    let ops = [
        Op::Put {
            key: "b:2",
            value: "-3",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &[],
        },
        Op::Incr {
            key: "b:2",
            delta: 9223372036854775807,
            ttl_ms: None,
        },
    ];
    on_every_backend(&ops).await;
}

/// PostgreSQL failed with "bigint out of range" adding the cost to a
/// stored TAT at the top of `i64`; the step is a denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcra_on_a_counter_at_the_top_of_i64_is_a_denial() {
    let ops = [
        Op::Put {
            key: "a:2",
            value: "9223372036854775807",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &[],
        },
        Op::Gcra {
            key: "a:2",
            interval_ms: 60000,
            burst: 1,
            cost: 1,
        },
    ];
    on_every_backend(&ops).await;
}

/// Redis turned a put entry into a bare counter on `incr`, dropping its
/// index keys; the other backends keep them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incr_keeps_the_index_keys_of_a_put_entry() {
    let ops = [
        Op::Put {
            key: "a:1",
            value: "7",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &["user:1"],
        },
        Op::Incr {
            key: "a:1",
            delta: 1,
            ttl_ms: None,
        },
        Op::ListIndex {
            index_key: "user:1",
        },
    ];
    on_every_backend(&ops).await;
}

/// Redis forgot a put entry's version on `incr`, so the next put answered
/// version 1 again and a stale `IfVersion(1)` could overwrite it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_after_incr_keeps_raising_the_version() {
    let ops = [
        Op::Put {
            key: "a:1",
            value: "7",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &[],
        },
        Op::Incr {
            key: "a:1",
            delta: 1,
            ttl_ms: None,
        },
        Op::Put {
            key: "a:1",
            value: "x",
            ttl_ms: None,
            mode: Mode::Upsert,
            index: &[],
        },
        Op::Put {
            key: "a:1",
            value: "y",
            ttl_ms: None,
            mode: Mode::IfVersion(1),
            index: &[],
        },
    ];
    on_every_backend(&ops).await;
}
