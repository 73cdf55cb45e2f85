//! Cluster-mode helpers: visiting every master, and index memberships that
//! stay correct although an entry and its indexes live in different slots.
//!
//! In Cluster mode an index member is `key 0x1F token`, where the token is
//! random per write and also stored in the entry's header. A member is only
//! ever removed once it is proven stale (see [`RedisStore::check_members`]),
//! so no reader or writer can unlist another writer's fresh membership.

use std::time::SystemTime;

use redis::Value;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::RedisStore;
use super::codec::decode;
use crate::clock::duration_to_millis;
use crate::error::Result;

impl RedisStore {
    /// Master nodes of the cluster, sorted (empty when not a cluster).
    pub(super) async fn cluster_masters(&self) -> Result<Vec<(String, u16)>> {
        let mut conn = self.conn.clone();
        let Some(cluster) = conn.cluster_mut() else {
            return Ok(Vec::new());
        };
        let text: String = self
            .exec(
                None,
                redis::cmd("CLUSTER").arg("NODES").query_async(cluster),
            )
            .await?;
        let mut masters: Vec<(String, u16)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let addr = fields.nth(1)?;
                let flags = fields.next()?;
                if !flags.contains("master") || flags.contains("fail") {
                    return None;
                }
                let (host, port) = addr.split('@').next()?.rsplit_once(':')?;
                Some((host.to_owned(), port.parse().ok()?))
            })
            .collect();
        masters.sort();
        Ok(masters)
    }

    /// Runs `cmd` on one specific node (cluster) or the server (otherwise).
    pub(super) async fn on_node(
        &self,
        node: Option<&(String, u16)>,
        cmd: redis::Cmd,
    ) -> Result<Value> {
        let mut conn = self.conn.clone();
        match (conn.cluster_mut(), node) {
            (Some(cluster), Some((host, port))) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                self.exec(None, cluster.route_command(cmd, route)).await
            }
            _ => self.exec(None, cmd.query_async(&mut conn)).await,
        }
    }

    /// Nodes to visit for whole-keyspace work: the masters, or just the server.
    pub(super) async fn nodes(&self) -> Result<Vec<Option<(String, u16)>>> {
        if self.conn.is_cluster() {
            Ok(self
                .cluster_masters()
                .await?
                .into_iter()
                .map(Some)
                .collect())
        } else {
            Ok(vec![None])
        }
    }

    /// Lists `key` under each index key with membership `token` (cluster mode).
    pub(super) async fn add_memberships(
        &self,
        key: &str,
        token: &str,
        index_keys: &[String],
        ttl_ms: u64,
    ) -> Result<()> {
        let score = if ttl_ms > 0 {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            (duration_to_millis(now) + ttl_ms).to_string()
        } else {
            "+inf".to_string()
        };
        let index_prefix = self.index_prefix();
        let m = member(key, token);
        let adds = index_keys.iter().map(|ik| {
            let mut conn = self.conn.clone();
            let cmd = redis::cmd("ZADD")
                .arg(format!("{index_prefix}{ik}"))
                .arg(&score)
                .arg(&m)
                .to_owned();
            async move {
                self.exec(Some(key), cmd.query_async::<i64>(&mut conn))
                    .await
            }
        });
        futures::future::try_join_all(adds).await?;
        Ok(())
    }

    /// Cluster-mode list check: the live keys of an index, and the members
    /// proven stale. The index is read before the entries, so a member
    /// carrying an entry's current token was written after that entry;
    /// a member is stale only if its entry is gone, no longer carries the
    /// index key, or carries it under another token (a newer write), and a
    /// `p` (pre-write) member once its real member is listed.
    pub(super) async fn check_members(
        &self,
        index_key: &str,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let members = self.index_members(index_key).await?;
        let mut keys: Vec<&str> = members.iter().map(|m| split_member(m).0).collect();
        keys.sort_unstable();
        keys.dedup();
        let full: Vec<String> = keys.iter().map(|k| self.entry_key(k)).collect();
        let values = if full.is_empty() {
            Vec::new()
        } else {
            self.get_many(&full).await?
        };
        let mut current = std::collections::HashMap::new();
        for (key, (raw, _)) in keys.iter().zip(values) {
            if let Some(raw) = raw {
                let d = decode(key, raw)?;
                if d.index_keys.iter().any(|k| k == index_key) {
                    current.insert(*key, d.token);
                }
            }
        }
        let mut live = Vec::new();
        let mut stale = Vec::new();
        for m in &members {
            let (key, token) = split_member(m);
            match current.get(key) {
                Some(t) if t == token => live.push(key.to_owned()),
                Some(t) if token.strip_prefix('p') == Some(t.as_str()) => {
                    if members.contains(&member(key, t)) {
                        stale.push(m.clone());
                    } else {
                        live.push(key.to_owned());
                    }
                }
                _ => stale.push(m.clone()),
            }
        }
        live.sort_unstable();
        live.dedup();
        Ok((live, stale))
    }
}

/// A Cluster-mode index member: entry key, 0x1F, membership token.
pub(super) fn member(key: &str, token: &str) -> String {
    format!("{key}\u{1f}{token}")
}

/// Splits a Cluster-mode index member into (entry key, token).
pub(super) fn split_member(m: &str) -> (&str, &str) {
    m.rsplit_once('\u{1f}').unwrap_or((m, ""))
}

/// A fresh random membership token (64 bits from a randomly seeded hasher).
pub(super) fn membership_token() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:016x}", ahash::RandomState::new().hash_one(nanos))
}
