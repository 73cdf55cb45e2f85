//! Every [`Store`] method for the SQL backends, written once over an [`Executor`](super::Executor).
//!
//! Each method is one statement. Where a statement reports only "no row"
//! (a failed condition), a read of the row afterwards classifies the
//! failure; if that read finds the condition would now hold, the row
//! changed in between and the statement is simply run again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::codec::{
    self, Cell, Param, decode_cursor, decode_entry, decode_expiry, decode_value, encode_cursor,
    millis_param, prefix_upper_bound,
};
use super::{Driver, OpCounts, Q, Shared, SqlStore};
use crate::clock::SharedClock;
use crate::clock::duration_to_millis;
use crate::error::{Error, Result};
use crate::key::{validate_commit, validate_key, validate_prefix, validate_put, validate_ttl};
use crate::store::Store;
use crate::types::{
    Capabilities, Counter, Entry, ExpiryClock, GcraDecision, GcraParams, Health, PutItem, PutMode,
    PutOptions, ScanEntry, ScanPage, StoreStats, VersionCheck,
};

/// How often a statement is re-run when the row keeps changing under it.
const ATTEMPTS: usize = 8;

impl<D: Driver> SqlStore<D> {
    fn now(&self) -> u64 {
        self.shared.clock.now_millis()
    }

    fn full_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }

    fn strip<'a>(&self, full: &'a str) -> Result<&'a str> {
        full.strip_prefix(&*self.prefix)
            .ok_or_else(|| Error::corrupt(Some(full), "key outside this store's prefix"))
    }

    /// `$low, $high` bounding the keys of this store that start with `extra`.
    fn range(&self, extra: &str) -> (Param, Param) {
        let low = self.full_key(extra);
        let high = prefix_upper_bound(&low);
        (Param::Text(low), Param::Text(high))
    }

    fn key_now(&self, key: &str, now: u64) -> Vec<Param> {
        vec![
            Param::Text(self.full_key(key)),
            Param::Int(millis_param(now)),
        ]
    }

    fn count(&self, counter: impl Fn(&OpCounts) -> &std::sync::atomic::AtomicU64, n: u64) {
        OpCounts::add(counter(&self.shared.counts), n);
    }

    fn gave_up(&self, key: &str) -> Error {
        Error::backend(
            D::NAME,
            format!("{key:?} kept changing; gave up after {ATTEMPTS} attempts"),
        )
    }

    /// The live row's `(version, counter)`, if any.
    async fn probe(&self, key: &str, now: u64) -> Result<Option<(i64, Cell)>> {
        let rows = self
            .executor()
            .query(Q::Probe, self.key_now(key, now))
            .await?;
        Ok(rows.into_iter().next().map(|mut row| {
            let counter = row.pop().unwrap_or(Cell::Null);
            (row.first().and_then(Cell::int).unwrap_or(0), counter)
        }))
    }

    /// The statement and parameters of a put.
    fn put_statement(
        &self,
        key: &str,
        value: &[u8],
        options: &PutOptions,
        now: u64,
    ) -> (Q, Vec<Param>) {
        let expires_at = options
            .ttl
            .map(|ttl| millis_param(now.saturating_add(duration_to_millis(ttl))));
        let mut params = self.key_now(key, now);
        params.extend(codec::encode_value(value));
        params.push(Param::OptInt(expires_at));
        params.push(Param::Keys(options.index_keys.clone()));
        let q = match options.mode {
            PutMode::Upsert => Q::PutUpsert,
            PutMode::CreateOnly => Q::PutCreate,
            PutMode::UpdateOnly => Q::PutUpdate,
            PutMode::IfVersion(v) => {
                params.push(Param::Int(i64::try_from(v).unwrap_or(i64::MAX)));
                Q::PutIfVersion
            }
        };
        (q, params)
    }

    /// Why a write in `mode` found no row: the error to return, or `None`
    /// when the condition holds again (the row changed in between: retry).
    async fn failed_condition(&self, key: &str, mode: PutMode, now: u64) -> Result<Option<Error>> {
        let key = key.to_owned();
        Ok(Some(match mode {
            PutMode::Upsert => return Err(Error::corrupt(Some(&key), "upsert returned no row")),
            PutMode::CreateOnly => Error::AlreadyExists { key },
            PutMode::UpdateOnly => Error::NotFound { key },
            PutMode::IfVersion(expected) => match self.probe(&key, now).await? {
                None => Error::NotFound { key },
                Some((actual, _)) if u64::try_from(actual).ok() != Some(expected) => {
                    Error::VersionConflict {
                        key,
                        expected,
                        actual: u64::try_from(actual).unwrap_or(0),
                    }
                }
                Some(_) => return Ok(None),
            },
        }))
    }

    /// Runs `q` with `$1 key, $2 now`.
    async fn key_statement(&self, q: Q, key: &str) -> Result<Vec<super::Row>> {
        self.executor()
            .query(q, self.key_now(key, self.now()))
            .await
    }

    /// Runs `q` (`$1 key, $2 now`), which returns at most one entry row.
    async fn entry_statement(&self, q: Q, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        let rows = self.key_statement(q, key).await?;
        rows.into_iter()
            .next()
            .map(|mut row| decode_entry(key, &mut row, 0))
            .transpose()
    }
}

#[async_trait]
impl<D: Driver> Store for SqlStore<D> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: D::NAME,
            expiry_clock: ExpiryClock::Injected,
            durable: self.durable,
        }
    }

    fn clock(&self) -> SharedClock {
        Arc::clone(&self.shared.clock)
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        let entry = self.entry_statement(Q::Get, key).await?;
        match entry {
            Some(_) => self.count(|c| &c.hits, 1),
            None => self.count(|c| &c.misses, 1),
        }
        Ok(entry)
    }

    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        validate_key(key)?;
        validate_put(value, &options, self.max_value_size)?;
        let now = self.now();
        let (q, params) = self.put_statement(key, value, &options, now);
        for _ in 0..ATTEMPTS {
            let rows = self.executor().query(q, params.clone()).await?;
            if let Some(version) = rows.first().and_then(|r| r.first()).and_then(Cell::int) {
                self.count(|c| &c.sets, 1);
                return u64::try_from(version)
                    .map_err(|_| Error::corrupt(Some(key), "negative version"));
            }
            if let Some(failed) = self.failed_condition(key, options.mode, now).await? {
                return Err(failed);
            }
        }
        Err(self.gave_up(key))
    }

    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        validate_commit(checks, puts, self.max_value_size)?;
        for _ in 0..ATTEMPTS {
            let now = self.now();
            let mut statements = Vec::with_capacity(checks.len() + puts.len());
            for check in checks {
                let mut params = self.key_now(check.key, now);
                params.push(Param::Int(i64::try_from(check.version).unwrap_or(i64::MAX)));
                statements.push((Q::CheckVersion, params));
            }
            for put in puts {
                statements.push(self.put_statement(put.key, put.value, &put.options, now));
            }
            let at = match self.executor().transaction(statements).await? {
                Ok(rows) => {
                    let versions = rows[checks.len()..]
                        .iter()
                        .zip(puts)
                        .map(|(rows, put)| {
                            rows.first()
                                .and_then(|r| r.first())
                                .and_then(Cell::int)
                                .and_then(|v| u64::try_from(v).ok())
                                .ok_or_else(|| Error::corrupt(Some(put.key), "bad version"))
                        })
                        .collect::<Result<Vec<u64>>>()?;
                    self.count(|c| &c.sets, puts.len() as u64);
                    return Ok(versions);
                }
                Err(at) => at,
            };
            let (key, mode) = match checks.get(at) {
                Some(check) => (check.key, PutMode::IfVersion(check.version)),
                None => {
                    let put = puts
                        .get(at - checks.len())
                        .ok_or_else(|| Error::corrupt(None, "commit failed past its statements"))?;
                    (put.key, put.options.mode)
                }
            };
            if let Some(failed) = self.failed_condition(key, mode, now).await? {
                return Err(failed);
            }
        }
        Err(self.gave_up(puts.first().map_or("", |p| p.key)))
    }

    /// Each item as [`put`](Self::put) would write it, in order; one
    /// statement per item, so the outer result is always `Ok`.
    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(self.put(item.key, item.value, item.options.clone()).await);
        }
        Ok(results)
    }

    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        let entry = self.entry_statement(Q::Take, key).await?;
        if entry.is_some() {
            self.count(|c| &c.deletes, 1);
        }
        Ok(entry)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let rows = self.key_statement(Q::Delete, key).await?;
        let live = rows
            .iter()
            .any(|r| r.first().and_then(Cell::int) == Some(1));
        if live {
            self.count(|c| &c.deletes, 1);
        }
        Ok(live)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let rows = self.key_statement(Q::Exists, key).await?;
        Ok(!rows.is_empty())
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        validate_key(key)?;
        validate_ttl(Some(ttl))?;
        let now = self.now();
        let mut params = self.key_now(key, now);
        params.push(Param::Int(millis_param(
            now.saturating_add(duration_to_millis(ttl)),
        )));
        Ok(!self.executor().query(Q::Touch, params).await?.is_empty())
    }

    async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<Counter> {
        validate_key(key)?;
        validate_ttl(ttl_on_create)?;
        let now = self.now();
        let mut params = self.key_now(key, now);
        params.extend([
            Param::Int(delta),
            Param::OptInt(
                ttl_on_create.map(|t| millis_param(now.saturating_add(duration_to_millis(t)))),
            ),
            // The counter may be at most/least these before adding `delta`.
            Param::Int(i64::MAX - delta.max(0)),
            Param::Int(i64::MIN - delta.min(0)),
        ]);
        for _ in 0..ATTEMPTS {
            let rows = self.executor().query(Q::Incr, params.clone()).await?;
            if let Some(row) = rows.first() {
                let value = row
                    .first()
                    .and_then(Cell::int)
                    .ok_or_else(|| Error::corrupt(Some(key), "incr returned no counter"))?;
                let expires_at = decode_expiry(key, row.get(1).unwrap_or(&Cell::Null))?;
                self.count(|c| &c.sets, 1);
                return Ok(Counter {
                    value,
                    ttl: expires_at.map(|at| Duration::from_millis(at.saturating_sub(now))),
                });
            }
            match self.probe(key, now).await? {
                Some((_, Cell::Int(n))) if n.checked_add(delta).is_none() => {
                    return Err(Error::CounterOverflow {
                        key: key.to_owned(),
                    });
                }
                Some((_, Cell::Int(_))) | None => continue,
                Some(_) => {
                    return Err(Error::NotACounter {
                        key: key.to_owned(),
                    });
                }
            }
        }
        Err(self.gave_up(key))
    }

    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        validate_key(key)?;
        crate::backend::gcra::validate(&params)?;
        let now = self.now();
        let interval = duration_to_millis(params.emission_interval);
        let inc = interval.saturating_mul(u64::from(params.cost));
        let horizon = now.saturating_add(interval.saturating_mul(u64::from(params.burst)));
        let mut sql_params = self.key_now(key, now);
        sql_params.extend([
            Param::Int(millis_param(inc)),
            Param::Int(millis_param(horizon)),
            Param::Int(millis_param(now.saturating_add(inc))),
        ]);
        for _ in 0..ATTEMPTS {
            if params.cost > 0 {
                let rows = self.executor().query(Q::Gcra, sql_params.clone()).await?;
                if let Some(tat) = rows.first().and_then(|r| r.first()).and_then(Cell::int) {
                    self.count(|c| &c.sets, 1);
                    let start = u64::try_from(tat).unwrap_or(0).saturating_sub(inc);
                    return Ok(crate::backend::gcra::step(Some(start), now, &params).decision);
                }
            }
            let stored = match self.probe(key, now).await? {
                None => None,
                Some((_, Cell::Int(tat))) => Some(u64::try_from(tat).unwrap_or(0)),
                Some(_) => {
                    return Err(Error::NotACounter {
                        key: key.to_owned(),
                    });
                }
            };
            let outcome = crate::backend::gcra::step(stored, now, &params);
            if params.cost == 0 || !outcome.decision.allowed {
                return Ok(outcome.decision);
            }
        }
        Err(self.gave_up(key))
    }

    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        validate_key(index_key)?;
        let (low, high) = self.range("");
        let params = vec![
            Param::Text(index_key.to_owned()),
            Param::Int(millis_param(self.now())),
            low,
            high,
        ];
        let rows = self.executor().query(Q::ListIndex, params).await?;
        rows.iter()
            .map(|row| match row.first() {
                Some(Cell::Text(k)) => self.strip(k).map(str::to_owned),
                _ => Err(Error::corrupt(
                    None,
                    "index listing returned a non-text key",
                )),
            })
            .collect()
    }

    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        validate_key(index_key)?;
        let (low, high) = self.range("");
        let params = vec![
            Param::Text(index_key.to_owned()),
            Param::Int(millis_param(self.now())),
            low,
            high,
        ];
        let rows = self.executor().query(Q::DeleteIndex, params).await?;
        let live = rows
            .iter()
            .filter(|r| r.first().and_then(Cell::int) == Some(1))
            .count() as u64;
        self.count(|c| &c.deletes, live);
        Ok(live)
    }

    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        if limit == 0 {
            return Err(Error::InvalidArgument("scan limit must be at least 1"));
        }
        validate_prefix(prefix)?;
        let after = match cursor {
            Some(c) => self.full_key(&decode_cursor(c)?),
            None => String::new(),
        };
        let now = self.now();
        let (low, high) = self.range(prefix);
        let params = vec![
            Param::Text(after),
            low,
            high,
            Param::Int(millis_param(now)),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        let rows = self.executor().query(Q::Scan, params).await?;
        let full = rows.len() >= limit;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let [key, value, json, counter, version, expires_at, index_keys] =
                <[Cell; 7]>::try_from(row)
                    .map_err(|_| Error::corrupt(None, "scan row has the wrong shape"))?;
            let Cell::Text(full_key) = key else {
                return Err(Error::corrupt(None, "scan returned a non-text key"));
            };
            let key = self.strip(&full_key)?.to_owned();
            let value = decode_value(&key, value, json, counter)?;
            let version = version
                .int()
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| Error::corrupt(Some(&key), "bad version"))?;
            let ttl = decode_expiry(&key, &expires_at)?
                .map(|at| Duration::from_millis(at.saturating_sub(now)));
            let index_keys = match index_keys {
                Cell::Keys(keys) => keys,
                Cell::Null => Vec::new(),
                _ => return Err(Error::corrupt(Some(&key), "bad index_keys")),
            };
            entries.push(ScanEntry {
                key,
                value,
                version,
                ttl,
                index_keys,
            });
        }
        let cursor = match entries.last() {
            Some(last) if full => Some(encode_cursor(&last.key)),
            _ => None,
        };
        Ok(ScanPage { entries, cursor })
    }

    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        let (low, high) = self.range("");
        purge(&self.shared, self.now(), low, high, limit).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let (low, high) = self.range("");
        let rows = self.executor().query(Q::Count, vec![low, high]).await?;
        let cell = |i: usize| {
            rows.first()
                .and_then(|r| r.get(i))
                .and_then(Cell::int)
                .unwrap_or(0)
        };
        let c = &self.shared.counts;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        Ok(StoreStats {
            entries: u64::try_from(cell(0)).unwrap_or(0),
            bytes: Some(u64::try_from(cell(1)).unwrap_or(0)),
            hits: load(&c.hits),
            misses: load(&c.misses),
            sets: load(&c.sets),
            deletes: load(&c.deletes),
            evictions: 0,
            expirations: load(&c.expirations),
        })
    }

    async fn health(&self) -> Health {
        let started = Instant::now();
        let result = self.executor().query(Q::Ping, Vec::new()).await;
        let latency = started.elapsed();
        match result {
            Ok(rows) if rows.first().and_then(|r| r.first()).and_then(Cell::int) == Some(1) => {
                Health {
                    ok: true,
                    latency,
                    detail: None,
                }
            }
            Ok(_) => Health {
                ok: false,
                latency,
                detail: Some("SELECT 1 returned something else".into()),
            },
            Err(e) => Health {
                ok: false,
                latency,
                detail: Some(crate::error_chain(&e)),
            },
        }
    }
}

/// Deletes up to `limit` rows expired at `now` with keys in `[low, high)`.
pub(super) async fn purge(
    shared: &Shared,
    now: u64,
    low: Param,
    high: Param,
    limit: usize,
) -> Result<u64> {
    if limit == 0 {
        return Ok(0);
    }
    let params = vec![
        Param::Int(millis_param(now)),
        low,
        high,
        Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
    ];
    let n = shared.executor.query(Q::Purge, params).await?.len() as u64;
    OpCounts::add(&shared.counts.expirations, n);
    Ok(n)
}
