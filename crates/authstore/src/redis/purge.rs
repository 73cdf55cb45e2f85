//! purge_expired on Redis: pruning the index sets of members whose entry expired (Redis expires the entries themselves).

use super::ops::glob_escape;
use super::scripts::PRUNE_INDEXES;
use super::{BACKEND, RedisStore};
use crate::error::{Error, Result};
use crate::store::Store;

/// Index sets per SCAN page, and so per script call on one server.
const PAGE: usize = 500;

impl RedisStore {
    /// Removes up to `limit` index members whose entry is gone; returns how many.
    pub(super) async fn prune_indexes(&self, limit: usize) -> Result<u64> {
        if self.conn.is_cluster() {
            self.prune_indexes_cluster(limit).await
        } else {
            self.prune_indexes_single(limit).await
        }
    }

    /// One server: one script per SCAN page of index sets, each checking
    /// only the members whose score says their entry expired (and those
    /// without expiry), so a pass costs a round trip per page, not per set.
    async fn prune_indexes_single(&self, limit: usize) -> Result<u64> {
        let index_prefix = self.index_prefix();
        let pattern = format!("{}*", glob_escape(&index_prefix));
        let mut pruned = 0u64;
        let mut cursor = 0u64;
        loop {
            let mut conn = self.conn.clone();
            let (next, zsets): (u64, Vec<String>) = self
                .exec(None, scan(cursor, &pattern, PAGE).query_async(&mut conn))
                .await?;
            if !zsets.is_empty() {
                let budget = (limit as u64).saturating_sub(pruned);
                let mut invocation = PRUNE_INDEXES.prepare_invoke();
                for zset in &zsets {
                    invocation.key(zset);
                }
                invocation.arg(&*self.prefix).arg(&index_prefix).arg(budget);
                let removed: u64 = self.exec(None, invocation.invoke_async(&mut conn)).await?;
                pruned += removed;
                if pruned >= limit as u64 {
                    return Ok(pruned.min(limit as u64));
                }
            }
            if next == 0 {
                return Ok(pruned);
            }
            cursor = next;
        }
    }

    /// Cluster: every index set of every master, checked member by member.
    async fn prune_indexes_cluster(&self, limit: usize) -> Result<u64> {
        let pattern = format!("{}*", glob_escape(&self.index_prefix()));
        let mut pruned = 0u64;
        for node in self.nodes().await? {
            let mut cursor = 0u64;
            loop {
                let reply = self
                    .on_node(node.as_ref(), scan(cursor, &pattern, 100))
                    .await?;
                let (next, zsets): (u64, Vec<String>) =
                    redis::from_redis_value(reply).map_err(|e| Error::backend(BACKEND, e))?;
                for zset in zsets {
                    let index_key = &zset[self.index_prefix().len()..];
                    let mut conn = self.conn.clone();
                    let before: u64 = self
                        .exec(None, redis::cmd("ZCARD").arg(&zset).query_async(&mut conn))
                        .await?;
                    let live = self.list_index(index_key).await?.len() as u64;
                    pruned += before.saturating_sub(live);
                    if pruned as usize >= limit {
                        return Ok(pruned.min(limit as u64));
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(pruned)
    }
}

/// `SCAN cursor MATCH pattern COUNT count`.
fn scan(cursor: u64, pattern: &str, count: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(count);
    cmd
}
