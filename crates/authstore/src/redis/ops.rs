//! The [`Store`] primitives on Redis: one native command, `MULTI` block or script each.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use redis::Value;

use super::cluster::{member, membership_token, split_member};
use super::codec::{Decoded, decode, pttl_to_ttl};
use super::scripts::{
    DELETE_IF_INDEXED, DELETE_INDEX, GCRA, INCR_ENTRY, LIST_INDEX, PUT, PUT_MANY, TOUCH,
};
use super::{BACKEND, ClientCounters, RedisStore};
use crate::clock::duration_to_millis;
use crate::error::{Error, Result};
use crate::key::{validate_key, validate_put, validate_ttl};
use crate::store::Store;
use crate::types::{
    Capabilities, Counter, Entry, ExpiryClock, GcraDecision, GcraParams, Health, PutItem, PutMode,
    PutOptions, ScanEntry, ScanPage, StoreStats, VersionCheck,
};

fn entry(decoded: Decoded, pttl: i64) -> Entry {
    Entry {
        value: decoded.value,
        version: decoded.version,
        expires_at: pttl_to_ttl(pttl).map(|ttl| SystemTime::now() + ttl),
    }
}

/// Escapes glob metacharacters for `SCAN MATCH`.
pub(super) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStore {
    pub(super) fn upkeep(&self) -> &'static str {
        if self.conn.is_cluster() { "n" } else { "s" }
    }

    /// GET + PTTL of many keys: one pipelined round trip on a single server;
    /// in a cluster one request per key, sent concurrently (keys sit in
    /// different slots, and each node connection pipelines them anyway).
    pub(super) async fn get_many(&self, keys: &[String]) -> Result<Vec<(Option<Vec<u8>>, i64)>> {
        if self.conn.is_cluster() {
            let requests = keys.iter().map(|k| async move {
                let mut conn = self.conn.clone();
                self.exec(None, redis::pipe().get(k).pttl(k).query_async(&mut conn))
                    .await
            });
            return futures::future::try_join_all(requests).await;
        }
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.get(k).pttl(k);
        }
        let mut conn = self.conn.clone();
        self.exec(None, pipe.query_async(&mut conn)).await
    }

    /// Cluster half of list_index / delete_index: the index members.
    pub(super) async fn index_members(&self, index_key: &str) -> Result<Vec<String>> {
        let zset = format!("{}{index_key}", self.index_prefix());
        let mut conn = self.conn.clone();
        self.exec(
            None,
            redis::cmd("ZRANGE")
                .arg(&zset)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn),
        )
        .await
    }

    pub(super) async fn unlist(&self, index_key: &str, members: &[String]) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let zset = format!("{}{index_key}", self.index_prefix());
        let mut conn = self.conn.clone();
        self.exec(
            None,
            redis::cmd("ZREM")
                .arg(&zset)
                .arg(members)
                .query_async::<i64>(&mut conn),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for RedisStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: BACKEND,
            expiry_clock: ExpiryClock::Server,
            durable: true,
        }
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        let k = self.entry_key(key);
        let mut conn = self.conn.clone();
        let (raw, pttl): (Option<Vec<u8>>, i64) = self
            .exec(
                Some(key),
                redis::pipe().get(&k).pttl(&k).query_async(&mut conn),
            )
            .await?;
        let c = &self.counters;
        match raw {
            Some(raw) => {
                ClientCounters::add(&c.hits, 1);
                Ok(Some(entry(decode(key, raw)?, pttl)))
            }
            None => {
                ClientCounters::add(&c.misses, 1);
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &str, value: &[u8], options: PutOptions) -> Result<u64> {
        validate_key(key)?;
        validate_put(value, &options, self.max_value_size)?;
        let ttl_ms = options.ttl.map_or(0, duration_to_millis);
        let index_prefix = self.index_prefix();
        let mut conn = self.conn.clone();
        let cluster = self.conn.is_cluster();
        // Cluster mode: this write's index memberships are `key 0x1F token`.
        // A `p`-prefixed copy is listed before the entry is written (so a
        // crash between steps leaves nothing unlisted), the real one after.
        let token = if cluster {
            membership_token()
        } else {
            String::new()
        };
        if cluster {
            self.add_memberships(key, &format!("p{token}"), &options.index_keys, ttl_ms)
                .await?;
        }
        let (mode, expected) = mode_args(&options.mode);
        let mut invocation = PUT.prepare_invoke();
        invocation
            .key(self.entry_key(key))
            .arg(mode)
            .arg(expected)
            .arg(ttl_ms)
            .arg(value)
            .arg(&index_prefix)
            .arg(key)
            .arg(self.upkeep())
            .arg(&token);
        for ik in &options.index_keys {
            invocation.arg(ik);
        }
        let reply: Vec<Value> = self
            .exec(Some(key), invocation.invoke_async(&mut conn))
            .await?;
        let version = put_outcome(key, expected, &reply)?;
        if cluster {
            let previous_token: String = reply
                .get(2)
                .and_then(|v| redis::from_redis_value_ref(v).ok())
                .unwrap_or_default();
            let previous_keys: Vec<String> = reply
                .get(3..)
                .unwrap_or_default()
                .iter()
                .filter_map(|v| redis::from_redis_value_ref(v).ok())
                .collect();
            self.add_memberships(key, &token, &options.index_keys, ttl_ms)
                .await?;
            for ik in &options.index_keys {
                self.unlist(ik, &[member(key, &format!("p{token}"))])
                    .await?;
            }
            if reply_number(key, &reply, 1)? > 0 {
                for ik in &previous_keys {
                    self.unlist(ik, &[member(key, &previous_token)]).await?;
                }
            }
        }
        ClientCounters::add(&self.counters.sets, 1);
        Ok(version)
    }

    async fn commit(&self, checks: &[VersionCheck<'_>], puts: &[PutItem<'_>]) -> Result<Vec<u64>> {
        self.commit_entries(checks, puts).await
    }

    async fn put_many(&self, items: &[PutItem<'_>]) -> Result<Vec<Result<u64>>> {
        if self.conn.is_cluster() || items.len() < 2 {
            // Cluster: the keys may sit in different slots, so no one script.
            let mut results = Vec::with_capacity(items.len());
            for item in items {
                results.push(self.put(item.key, item.value, item.options.clone()).await);
            }
            return Ok(results);
        }
        let mut results: Vec<Option<Result<u64>>> = items.iter().map(|_| None).collect();
        let mut sent = Vec::with_capacity(items.len());
        let mut invocation = PUT_MANY.prepare_invoke();
        invocation.arg(self.index_prefix());
        for (i, item) in items.iter().enumerate() {
            let checked = validate_key(item.key)
                .and_then(|()| validate_put(item.value, &item.options, self.max_value_size));
            if let Err(e) = checked {
                results[i] = Some(Err(e));
                continue;
            }
            let (mode, expected) = mode_args(&item.options.mode);
            invocation
                .key(self.entry_key(item.key))
                .arg(mode)
                .arg(expected)
                .arg(item.options.ttl.map_or(0, duration_to_millis))
                .arg(item.value)
                .arg(item.key)
                .arg(item.options.index_keys.len());
            for ik in &item.options.index_keys {
                invocation.arg(ik);
            }
            sent.push(i);
        }
        if !sent.is_empty() {
            let mut conn = self.conn.clone();
            let replies: Vec<Vec<Value>> =
                self.exec(None, invocation.invoke_async(&mut conn)).await?;
            if replies.len() != sent.len() {
                return Err(Error::corrupt(None, "unexpected put_many script reply"));
            }
            for (i, reply) in sent.into_iter().zip(replies) {
                let item = &items[i];
                let outcome = put_outcome(item.key, mode_args(&item.options.mode).1, &reply);
                if outcome.is_ok() {
                    ClientCounters::add(&self.counters.sets, 1);
                }
                results[i] = Some(outcome);
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::corrupt(None, "put_many lost an item"))))
            .collect())
    }

    async fn take(&self, key: &str) -> Result<Option<Entry>> {
        validate_key(key)?;
        let k = self.entry_key(key);
        let mut conn = self.conn.clone();
        let (pttl, raw): (i64, Option<Vec<u8>>) = self
            .exec(
                Some(key),
                redis::pipe()
                    .atomic()
                    .pttl(&k)
                    .cmd("GETDEL")
                    .arg(&k)
                    .query_async(&mut conn),
            )
            .await?;
        match raw {
            Some(raw) => {
                ClientCounters::add(&self.counters.deletes, 1);
                Ok(Some(entry(decode(key, raw)?, pttl)))
            }
            None => Ok(None),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let mut conn = self.conn.clone();
        let n: i64 = self
            .exec(
                Some(key),
                redis::cmd("DEL")
                    .arg(self.entry_key(key))
                    .query_async(&mut conn),
            )
            .await?;
        ClientCounters::add(&self.counters.deletes, n as u64);
        Ok(n > 0)
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let mut conn = self.conn.clone();
        let n: i64 = self
            .exec(
                Some(key),
                redis::cmd("EXISTS")
                    .arg(self.entry_key(key))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(n > 0)
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool> {
        validate_key(key)?;
        validate_ttl(Some(ttl))?;
        let mut conn = self.conn.clone();
        let mut invocation = TOUCH.prepare_invoke();
        invocation
            .key(self.entry_key(key))
            .arg(duration_to_millis(ttl))
            .arg(self.index_prefix())
            .arg(key)
            .arg(self.upkeep());
        let touched: i64 = self
            .exec(Some(key), invocation.invoke_async(&mut conn))
            .await?;
        Ok(touched == 1)
    }

    async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> Result<Counter> {
        validate_key(key)?;
        validate_ttl(ttl_on_create)?;
        let k = self.entry_key(key);
        let ttl_ms = ttl_on_create.map_or(0, duration_to_millis);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if ttl_ms > 0 {
            pipe.cmd("SET")
                .arg(&k)
                .arg(0)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        pipe.cmd("INCRBY").arg(&k).arg(delta).pttl(&k);
        let mut conn = self.conn.clone();
        let native: Result<(i64, i64)> = self.exec(Some(key), pipe.query_async(&mut conn)).await;
        let (value, pttl) = match native {
            // INCRBY refuses entries written by put; the script converts a
            // decimal one into a counter (or reports NotACounter).
            Err(Error::NotACounter { .. }) => {
                let mut invocation = INCR_ENTRY.prepare_invoke();
                invocation.key(&k).arg(delta).arg(ttl_ms);
                self.exec(Some(key), invocation.invoke_async(&mut conn))
                    .await?
            }
            other => other?,
        };
        ClientCounters::add(&self.counters.sets, 1);
        Ok(Counter {
            value,
            ttl: pttl_to_ttl(pttl),
        })
    }

    async fn gcra(&self, key: &str, params: GcraParams) -> Result<GcraDecision> {
        validate_key(key)?;
        crate::backend::gcra::validate(&params)?;
        let mut conn = self.conn.clone();
        let mut invocation = GCRA.prepare_invoke();
        invocation
            .key(self.entry_key(key))
            .arg(duration_to_millis(params.emission_interval))
            .arg(params.burst)
            .arg(params.cost);
        let (allowed, remaining, retry_ms, reset_ms): (i64, i64, i64, i64) = self
            .exec(Some(key), invocation.invoke_async(&mut conn))
            .await?;
        if allowed == 1 && params.cost > 0 {
            ClientCounters::add(&self.counters.sets, 1);
        }
        let ms = |v: i64| Duration::from_millis(v.max(0) as u64);
        Ok(GcraDecision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after: ms(retry_ms),
            reset_after: ms(reset_ms),
        })
    }

    async fn list_index(&self, index_key: &str) -> Result<Vec<String>> {
        validate_key(index_key)?;
        let mut live: Vec<String> = if self.conn.is_cluster() {
            let (live, stale) = self.check_members(index_key).await?;
            self.unlist(index_key, &stale).await?;
            live
        } else {
            let mut conn = self.conn.clone();
            let mut invocation = LIST_INDEX.prepare_invoke();
            invocation
                .key(format!("{}{index_key}", self.index_prefix()))
                .arg(&*self.prefix)
                .arg(index_key);
            self.exec(None, invocation.invoke_async(&mut conn)).await?
        };
        live.sort_unstable();
        Ok(live)
    }

    async fn delete_index(&self, index_key: &str) -> Result<u64> {
        validate_key(index_key)?;
        let mut conn = self.conn.clone();
        let deleted: u64 = if self.conn.is_cluster() {
            let members = self.index_members(index_key).await?;
            let mut keys: Vec<&str> = members.iter().map(|m| split_member(m).0).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut deleted = 0;
            for key in keys {
                let mut invocation = DELETE_IF_INDEXED.prepare_invoke();
                invocation.key(self.entry_key(key)).arg(index_key);
                let n: u64 = self
                    .exec(Some(key), invocation.invoke_async(&mut conn))
                    .await?;
                deleted += n;
            }
            // Exactly the members read above: one added meanwhile stays.
            self.unlist(index_key, &members).await?;
            deleted
        } else {
            let mut invocation = DELETE_INDEX.prepare_invoke();
            invocation
                .key(format!("{}{index_key}", self.index_prefix()))
                .arg(&*self.prefix)
                .arg(index_key);
            self.exec(None, invocation.invoke_async(&mut conn)).await?
        };
        ClientCounters::add(&self.counters.deletes, deleted);
        Ok(deleted)
    }

    async fn scan(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<ScanPage> {
        if limit == 0 {
            return Err(Error::InvalidArgument("scan limit must be at least 1"));
        }
        let nodes = self.nodes().await?;
        let (mut node, mut redis_cursor, mut after) = match cursor {
            None => (0usize, 0u64, String::new()),
            Some(c) => parse_cursor(c, nodes.len())?,
        };
        let pattern = format!("{}*", glob_escape(&format!("{}{prefix}", self.prefix)));
        let index_marker = self.index_prefix();
        // Each call returns the keys of one SCAN batch (at most `limit` of
        // them); a partly returned batch is resumed after its last key.
        while node < nodes.len() {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(redis_cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(limit.max(16));
            let reply = self.on_node(nodes[node].as_ref(), cmd).await?;
            let (next, mut keys): (u64, Vec<String>) =
                redis::from_redis_value(reply).map_err(|e| Error::backend(BACKEND, e))?;
            keys.retain(|k| !k.starts_with(&index_marker) && k.as_str() > after.as_str());
            keys.sort_unstable();
            keys.dedup();
            if keys.len() > limit {
                keys.truncate(limit);
                let last = keys.last().cloned().unwrap_or_default();
                let page = self.scan_entries(&keys).await?;
                return Ok(ScanPage {
                    entries: page,
                    cursor: Some(format!("{node}.{redis_cursor}.{last}")),
                });
            }
            let (n, c) = if next == 0 {
                (node + 1, 0)
            } else {
                (node, next)
            };
            let more = n < nodes.len();
            if !keys.is_empty() || !more {
                let page = self.scan_entries(&keys).await?;
                return Ok(ScanPage {
                    entries: page,
                    cursor: more.then(|| format!("{n}.{c}.")),
                });
            }
            (node, redis_cursor, after) = (n, c, String::new());
        }
        Ok(ScanPage::default())
    }

    async fn purge_expired(&self, limit: usize) -> Result<u64> {
        // Redis removes expired entries itself. What is left to purge are
        // index members whose entry expired (see `purge.rs`).
        self.prune_indexes(limit).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let mut totals = (0u64, 0u64, 0u64, 0u64);
        for node in self.nodes().await? {
            let mut info = redis::cmd("INFO");
            info.arg("ALL");
            let text: String = redis::from_redis_value(self.on_node(node.as_ref(), info).await?)
                .map_err(|e| Error::backend(BACKEND, e))?;
            let field = |name: &str| -> u64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
                    .unwrap_or(0)
            };
            let keys: u64 = text
                .lines()
                .filter(|l| l.starts_with("db"))
                .filter_map(|l| l.split(&[':', '=', ','][..]).nth(2)?.parse::<u64>().ok())
                .sum();
            totals.0 += keys;
            totals.1 += field("used_memory");
            totals.2 += field("evicted_keys");
            totals.3 += field("expired_keys");
        }
        let c = &self.counters;
        Ok(StoreStats {
            entries: totals.0,
            bytes: Some(totals.1),
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            sets: c.sets.load(Relaxed),
            deletes: c.deletes.load(Relaxed),
            evictions: totals.2,
            expirations: totals.3,
        })
    }

    async fn health(&self) -> Health {
        let started = Instant::now();
        let mut conn = self.conn.clone();
        let pong: Result<String> = self
            .exec(None, redis::cmd("PING").query_async(&mut conn))
            .await;
        Health {
            ok: matches!(pong.as_deref(), Ok("PONG")),
            latency: started.elapsed(),
            detail: pong.err().map(|e| crate::error_chain(&e)),
        }
    }
}

impl RedisStore {
    /// Values of scanned keys (skipping any that vanished meanwhile).
    pub(super) async fn scan_entries(&self, keys: &[String]) -> Result<Vec<ScanEntry>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values = self.get_many(keys).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (full, (raw, pttl)) in keys.iter().zip(values) {
            let Some(raw) = raw else { continue };
            let key = &full[self.prefix.len()..];
            let d = decode(key, raw)?;
            out.push(ScanEntry {
                key: key.to_owned(),
                value: d.value,
                version: d.version,
                ttl: pttl_to_ttl(pttl),
                index_keys: d.index_keys,
            });
        }
        Ok(out)
    }
}

/// Parses `node.redis_cursor.last_key`.
fn parse_cursor(cursor: &str, nodes: usize) -> Result<(usize, u64, String)> {
    let bad = || Error::InvalidArgument("not a scan cursor of this Redis store");
    let mut parts = cursor.splitn(3, '.');
    let node: usize = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let redis_cursor: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let after = parts.next().ok_or_else(bad)?.to_owned();
    if node >= nodes {
        return Err(bad());
    }
    Ok((node, redis_cursor, after))
}

/// The script arguments of a put mode: its letter and the expected version.
pub(super) fn mode_args(mode: &PutMode) -> (&'static str, u64) {
    match *mode {
        PutMode::Upsert => ("u", 0),
        PutMode::CreateOnly => ("c", 0),
        PutMode::UpdateOnly => ("x", 0),
        PutMode::IfVersion(v) => ("v", v),
    }
}

/// The `i`-th number of a put script's reply.
pub(super) fn reply_number(key: &str, reply: &[Value], i: usize) -> Result<i64> {
    reply
        .get(i)
        .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
        .ok_or_else(|| Error::corrupt(Some(key), "unexpected put script reply"))
}

/// What a put script's reply means: the new version, or the failed condition.
fn put_outcome(key: &str, expected: u64, reply: &[Value]) -> Result<u64> {
    let owned = || key.to_owned();
    match reply_number(key, reply, 0)? {
        -1 => Err(Error::AlreadyExists { key: owned() }),
        -2 => Err(Error::NotFound { key: owned() }),
        -3 => Err(Error::VersionConflict {
            key: owned(),
            expected,
            actual: reply_number(key, reply, 1)? as u64,
        }),
        version => Ok(version as u64),
    }
}
