//! Runs the shared statements on PostgreSQL: a deadpool of tokio-postgres clients with cached prepared statements.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use deadpool_postgres::{Pool, PoolError};
use futures::TryStreamExt as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::BACKEND;
use crate::error::{Error, Result};
use crate::sql::{
    Cell, Dialect, Executor, Param, Q, Row, Tables, migrations, migrations_table, named_statements,
    statement,
};

/// Retries of a statement that failed with a serialization failure or deadlock.
const RETRIES: usize = 3;
/// Serializes concurrent migrations of every authstore schema in one database.
const MIGRATION_LOCK: i64 = 0x6175_7468_7374_6f72; // "authstor"

/// The PostgreSQL [`Executor`].
pub(crate) struct PgExecutor {
    pub(super) pool: Pool,
    pub(super) sql: Vec<String>,
    /// Each statement's parameter types, as first prepared.
    types: Vec<OnceLock<Vec<Type>>>,
    pub(super) tables: Tables,
    pub(super) schema: Option<String>,
    pub(super) command_timeout: Duration,
    pub(super) wait_timeout: Duration,
}

impl std::fmt::Debug for PgExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgExecutor")
            .field("entries", &self.tables.entries)
            .field("pool_size", &status.max_size)
            .field("pool_available", &status.available)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

impl PgExecutor {
    pub(super) fn new(
        pool: Pool,
        tables: Tables,
        schema: Option<String>,
        command_timeout: Duration,
        wait_timeout: Duration,
    ) -> Self {
        let sql = Q::ALL
            .iter()
            .map(|q| statement(Dialect::Postgres, &tables, *q))
            .collect();
        Self {
            pool,
            sql,
            types: Q::ALL.iter().map(|_| OnceLock::new()).collect(),
            tables,
            schema,
            command_timeout,
            wait_timeout,
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => Error::Timeout {
                backend: BACKEND,
                after: self.wait_timeout,
            },
            PoolError::Backend(e) => map_error(e),
            other => Error::backend(BACKEND, other),
        })
    }

    /// `work`, or [`Error::Timeout`] once the command timeout has passed.
    async fn within_timeout<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.command_timeout, work)
            .await
            .map_err(|_| Error::Timeout {
                backend: BACKEND,
                after: self.command_timeout,
            })?
    }

    /// The parameter types `q` is prepared with for `params`: those of its
    /// first run when they agree, so a call allocates none.
    fn types(&self, q: Q, params: &[Param]) -> Cow<'_, [Type]> {
        let of = |params: &[Param]| params.iter().map(pg_type).collect::<Vec<Type>>();
        let known = self.types[q as usize].get_or_init(|| of(params));
        if known.len() == params.len() && params.iter().zip(known).all(|(p, t)| pg_type(p) == *t) {
            Cow::Borrowed(known)
        } else {
            Cow::Owned(of(params))
        }
    }

    /// Runs `q` with retries of transient conflicts, within the command timeout.
    async fn run(&self, q: Q, params: &[Param]) -> Result<Vec<tokio_postgres::Row>> {
        let attempt = async {
            let types = self.types(q, params);
            let mut tries = 0;
            loop {
                let client = self.client().await?;
                let stmt = client
                    .prepare_typed_cached(&self.sql[q as usize], &types)
                    .await
                    .map_err(map_error)?;
                let rows = match client.query_raw(&stmt, params.iter()).await {
                    Ok(stream) => stream.try_collect().await,
                    Err(e) => Err(e),
                };
                match rows {
                    Err(e) if tries < RETRIES && is_transient(&e) => tries += 1,
                    other => return other.map_err(map_error),
                }
            }
        };
        self.within_timeout(attempt).await
    }
}

type TxRows = std::result::Result<Vec<Vec<tokio_postgres::Row>>, usize>;

impl PgExecutor {
    /// One try of [`Executor::transaction`]; a transient failure is retried by the caller.
    async fn try_transaction(
        &self,
        client: &mut deadpool_postgres::Object,
        statements: &[(Q, Vec<Param>)],
    ) -> std::result::Result<TxRows, tokio_postgres::Error> {
        let tx = client.transaction().await?;
        let mut out = Vec::with_capacity(statements.len());
        for (at, (q, params)) in statements.iter().enumerate() {
            let types = self.types(*q, params);
            let stmt = tx
                .prepare_typed_cached(&self.sql[*q as usize], &types)
                .await?;
            let rows: Vec<tokio_postgres::Row> = tx
                .query_raw(&stmt, params.iter())
                .await?
                .try_collect()
                .await?;
            if rows.is_empty() {
                tx.rollback().await?;
                return Ok(Err(at));
            }
            out.push(rows);
        }
        tx.commit().await?;
        Ok(Ok(out))
    }
}

#[async_trait]
impl Executor for PgExecutor {
    fn statements(&self) -> Vec<(&'static str, &str)> {
        named_statements(&self.sql)
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    async fn query(&self, q: Q, params: Vec<Param>) -> Result<Vec<Row>> {
        self.run(q, &params).await?.iter().map(decode_row).collect()
    }

    async fn transaction(
        &self,
        statements: Vec<(Q, Vec<Param>)>,
    ) -> Result<std::result::Result<Vec<Vec<Row>>, usize>> {
        let attempt = async {
            let mut tries = 0;
            loop {
                let mut client = self.client().await?;
                match self.try_transaction(&mut client, &statements).await {
                    Err(e) if tries < RETRIES && is_transient(&e) => tries += 1,
                    Err(e) => return Err(map_error(e)),
                    Ok(Err(at)) => return Ok(Err(at)),
                    Ok(Ok(rows)) => {
                        return rows
                            .iter()
                            .map(|rows| rows.iter().map(decode_row).collect())
                            .collect::<Result<Vec<Vec<Row>>>>()
                            .map(Ok);
                    }
                }
            }
        };
        self.within_timeout(attempt).await
    }

    async fn migrate(&self) -> Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(map_error)?;
        if let Some(schema) = &self.schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(map_error)?;
        }
        tx.batch_execute(&migrations_table(Dialect::Postgres, &self.tables))
            .await
            .map_err(map_error)?;
        let applied: Vec<i64> = tx
            .query(
                &format!("SELECT version FROM {}", self.tables.migrations),
                &[],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut ran = 0;
        for m in migrations(Dialect::Postgres, &self.tables) {
            if applied.contains(&m.version) {
                continue;
            }
            tx.batch_execute(&m.sql).await.map_err(map_error)?;
            tx.execute(
                &format!(
                    "INSERT INTO {} (version, name) VALUES ($1, $2)",
                    self.tables.migrations
                ),
                &[&m.version, &m.name],
            )
            .await
            .map_err(map_error)?;
            ran += 1;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(ran)
    }
}

fn is_transient(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

pub(super) fn map_error(e: tokio_postgres::Error) -> Error {
    match e.code() {
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => Error::PermissionDenied {
            backend: BACKEND,
            source: Box::new(e),
        },
        _ => Error::backend(BACKEND, e),
    }
}

/// The PostgreSQL type each parameter is prepared with.
fn pg_type(p: &Param) -> Type {
    match p {
        Param::Text(_) => Type::TEXT,
        Param::Int(_) | Param::OptInt(_) => Type::INT8,
        Param::Bytes(_) => Type::BYTEA,
        Param::Json(_) => Type::JSON,
        Param::Keys(_) => Type::TEXT_ARRAY,
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Text(s) => s.to_sql(ty, out),
            Param::Int(n) => n.to_sql(ty, out),
            Param::OptInt(n) => n.to_sql(ty, out),
            Param::Bytes(b) => b.as_deref().to_sql(ty, out),
            // The binary form of `json` is the text itself.
            Param::Json(Some(text)) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            Param::Json(None) => Ok(IsNull::Yes),
            Param::Keys(keys) if keys.is_empty() => Ok(IsNull::Yes),
            Param::Keys(keys) => keys.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::TEXT,
            Type::INT8,
            Type::BYTEA,
            Type::JSON,
            Type::TEXT_ARRAY,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

/// A `json` column read as its raw text.
struct RawJson<'a>(&'a [u8]);

impl<'a> FromSql<'a> for RawJson<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON
    }
}

fn decode_row(row: &tokio_postgres::Row) -> Result<Row> {
    let corrupt = |e: tokio_postgres::Error| Error::Corrupt {
        key: None,
        detail: "unexpected column type from PostgreSQL".into(),
        source: Some(Box::new(e)),
    };
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let cell = match *col.type_() {
                Type::BYTEA => row
                    .try_get::<_, Option<&[u8]>>(i)
                    .map(|v| v.map(|b| Cell::Bytes(b.to_vec()))),
                Type::JSON => row
                    .try_get::<_, Option<RawJson<'_>>>(i)
                    .map(|v| v.map(|j| Cell::Bytes(j.0.to_vec()))),
                Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|n| Cell::Int(n.into()))),
                Type::TEXT => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(Cell::Text)),
                Type::TEXT_ARRAY => row
                    .try_get::<_, Option<Vec<String>>>(i)
                    .map(|v| v.map(Cell::Keys)),
                _ => {
                    return Err(Error::corrupt(
                        None,
                        format!("unexpected column type {} from PostgreSQL", col.type_()),
                    ));
                }
            };
            cell.map(|c| c.unwrap_or(Cell::Null)).map_err(corrupt)
        })
        .collect()
}
