//! Runs the shared statements on SQLite: one rusqlite connection, used from tokio's blocking pool.

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::BACKEND;
use crate::error::{Error, Result};
use crate::sql::{
    Cell, Dialect, Executor, Param, Q, Row, Tables, migrations, migrations_table, named_statements,
    statement,
};

/// The SQLite [`Executor`]. SQLite runs one writer at a time anyway, so one
/// connection behind a mutex loses little and keeps `sqlite::memory:` a
/// single database.
pub(crate) struct SqliteExecutor {
    conn: Arc<Mutex<Connection>>,
    /// In-memory databases never touch a disk, so statements run on the
    /// calling task (microseconds) instead of a hand-off to the blocking pool.
    inline: bool,
    sql: Arc<Vec<String>>,
    pub(super) tables: Tables,
}

impl std::fmt::Debug for SqliteExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteExecutor")
            .field("entries", &self.tables.entries)
            .finish_non_exhaustive()
    }
}

impl SqliteExecutor {
    pub(super) fn new(conn: Connection, tables: Tables, inline: bool) -> Self {
        let sql = Q::ALL
            .iter()
            .map(|q| statement(Dialect::Sqlite, &tables, *q))
            .collect();
        Self {
            conn: Arc::new(Mutex::new(conn)),
            inline,
            sql: Arc::new(sql),
            tables,
        }
    }

    /// Runs `job` on the connection: inline for an in-memory database, else
    /// in tokio's blocking pool (a file statement may wait for the disk).
    async fn with_conn<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection, &[String]) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if self.inline {
            // The statement never awaits, so spend tokio's cooperative budget:
            // a loop of calls then yields now and then instead of starving
            // the runtime's other tasks (timers included).
            tokio::task::consume_budget().await;
            return job(&mut self.conn.lock(), &self.sql);
        }
        let conn = Arc::clone(&self.conn);
        let sql = Arc::clone(&self.sql);
        tokio::task::spawn_blocking(move || job(&mut conn.lock(), &sql))
            .await
            .map_err(|e| Error::backend(BACKEND, e))?
    }
}

#[async_trait]
impl Executor for SqliteExecutor {
    fn statements(&self) -> Vec<(&'static str, &str)> {
        named_statements(&self.sql)
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn query(&self, q: Q, params: Vec<Param>) -> Result<Vec<Row>> {
        self.with_conn(move |conn, sql| run(conn, &sql[q as usize], &params))
            .await
    }

    async fn transaction(
        &self,
        statements: Vec<(Q, Vec<Param>)>,
    ) -> Result<std::result::Result<Vec<Vec<Row>>, usize>> {
        self.with_conn(move |conn, sql| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let mut out = Vec::with_capacity(statements.len());
            for (at, (q, params)) in statements.iter().enumerate() {
                let rows = run(&tx, &sql[*q as usize], params)?;
                if rows.is_empty() {
                    // Dropping the transaction rolls it back.
                    return Ok(Err(at));
                }
                out.push(rows);
            }
            tx.commit().map_err(map_error)?;
            Ok(Ok(out))
        })
        .await
    }

    async fn migrate(&self) -> Result<usize> {
        let tables = self.tables.clone();
        self.with_conn(move |conn, _| {
            // IMMEDIATE takes the write lock first, so concurrent openers of
            // one file apply each migration exactly once.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_error)?;
            tx.execute_batch(&migrations_table(Dialect::Sqlite, &tables))
                .map_err(map_error)?;
            let applied: Vec<i64> = {
                let mut stmt = tx
                    .prepare(&format!("SELECT version FROM {}", tables.migrations))
                    .map_err(map_error)?;
                let versions = stmt.query_map([], |r| r.get(0)).map_err(map_error)?;
                versions
                    .collect::<rusqlite::Result<_>>()
                    .map_err(map_error)?
            };
            let mut ran = 0;
            for m in migrations(Dialect::Sqlite, &tables) {
                if applied.contains(&m.version) {
                    continue;
                }
                tx.execute_batch(&m.sql).map_err(map_error)?;
                tx.execute(
                    &format!(
                        "INSERT INTO {} (version, name) VALUES (?1, ?2)",
                        tables.migrations
                    ),
                    rusqlite::params![m.version, m.name],
                )
                .map_err(map_error)?;
                ran += 1;
            }
            tx.commit().map_err(map_error)?;
            Ok(ran)
        })
        .await
    }
}

/// Runs one statement on `conn` and decodes its rows.
fn run(conn: &Connection, sql: &str, params: &[Param]) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    let kinds: Vec<Kind> = stmt.column_names().map(Kind::of).collect();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(map_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_error)? {
        let mut cells = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            cells.push(decode(row.get_ref(i).map_err(map_error)?, *kind)?);
        }
        out.push(cells);
    }
    Ok(out)
}

/// How to read a column: by name, as the schema stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    /// JSON text standing for bytes.
    Json,
    /// A JSON array of index keys.
    IndexKeys,
}

impl Kind {
    fn of(name: &str) -> Self {
        match name {
            "value_json" => Self::Json,
            "index_keys" => Self::IndexKeys,
            _ => Self::Plain,
        }
    }
}

fn decode(value: ValueRef<'_>, kind: Kind) -> Result<Cell> {
    Ok(match (value, kind) {
        (ValueRef::Null, _) => Cell::Null,
        (ValueRef::Integer(n), _) => Cell::Int(n),
        (ValueRef::Text(t), Kind::IndexKeys) => {
            Cell::Keys(serde_json::from_slice(t).map_err(|e| Error::Corrupt {
                key: None,
                detail: "index_keys is not a JSON array of strings".into(),
                source: Some(Box::new(e)),
            })?)
        }
        (ValueRef::Text(t), Kind::Json) | (ValueRef::Blob(t), _) => Cell::Bytes(t.to_vec()),
        (ValueRef::Text(t), Kind::Plain) => Cell::Text(
            String::from_utf8(t.to_vec())
                .map_err(|_| Error::corrupt(None, "text column is not UTF-8"))?,
        ),
        (ValueRef::Real(_), _) => {
            return Err(Error::corrupt(None, "unexpected REAL value in SQLite"));
        }
    })
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            Param::OptInt(n) => ToSqlOutput::Owned(n.map_or(Value::Null, Value::Integer)),
            Param::Bytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Param::Json(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Bytes(None) | Param::Json(None) => ToSqlOutput::Owned(Value::Null),
            Param::Keys(keys) if keys.is_empty() => ToSqlOutput::Owned(Value::Null),
            Param::Keys(keys) => ToSqlOutput::Owned(Value::Text(
                serde_json::to_string(keys)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
            )),
        })
    }
}

pub(super) fn map_error(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Error::Timeout {
                backend: BACKEND,
                after: super::BUSY_TIMEOUT,
            }
        }
        Some(rusqlite::ErrorCode::PermissionDenied | rusqlite::ErrorCode::ReadOnly) => {
            Error::PermissionDenied {
                backend: BACKEND,
                source: Box::new(e),
            }
        }
        _ => Error::backend(BACKEND, e),
    }
}
