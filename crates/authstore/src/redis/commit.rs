//! [`Store::commit`](crate::Store::commit) on Redis: one script that checks every condition and then writes every entry, on a single server or within one Cluster hash slot.

use redis::Value;
use redis::cluster_routing::Slot;

use super::cluster::{member, membership_token};
use super::ops::{mode_args, reply_number};
use super::scripts::COMMIT;
use super::{ClientCounters, RedisStore};
use crate::clock::duration_to_millis;
use crate::error::{Error, Result};
use crate::key::validate_commit;
use crate::types::{PutItem, VersionCheck};

impl RedisStore {
    pub(super) async fn commit_entries(
        &self,
        checks: &[VersionCheck<'_>],
        puts: &[PutItem<'_>],
    ) -> Result<Vec<u64>> {
        validate_commit(checks, puts, self.max_value_size)?;
        let cluster = self.conn.is_cluster();
        let index_prefix = self.index_prefix();
        if cluster {
            self.check_one_slot(checks, puts, &index_prefix)?;
        }
        let mut invocation = COMMIT.prepare_invoke();
        invocation
            .arg(&index_prefix)
            .arg(if cluster { "a" } else { "s" })
            .arg(checks.len());
        for check in checks {
            invocation.key(self.entry_key(check.key)).arg(check.version);
        }
        for put in puts {
            let (mode, expected) = mode_args(&put.options.mode);
            // On a Cluster the members carry a membership token, as a
            // put's do, so that the Cluster readers can tell stale ones.
            let (token, listed) = if cluster {
                let token = membership_token();
                let listed = member(put.key, &token);
                (token, listed)
            } else {
                (String::new(), put.key.to_owned())
            };
            invocation
                .key(self.entry_key(put.key))
                .arg(mode)
                .arg(expected)
                .arg(put.options.ttl.map_or(0, duration_to_millis))
                .arg(put.value)
                .arg(listed)
                .arg(token)
                .arg(put.options.index_keys.len());
            for ik in &put.options.index_keys {
                invocation.arg(ik);
            }
        }
        let mut conn = self.conn.clone();
        let first = puts.first().map(|p| p.key);
        let reply: Vec<Value> = self.exec(first, invocation.invoke_async(&mut conn)).await?;
        let at = |i: i64| -> (&str, u64) {
            let i = usize::try_from(i).unwrap_or(0).saturating_sub(1);
            match checks.get(i) {
                Some(check) => (check.key, check.version),
                None => puts
                    .get(i - checks.len())
                    .map_or(("", 0), |p| (p.key, mode_args(&p.options.mode).1)),
            }
        };
        let code = reply_number("", &reply, 0)?;
        if code < 0 {
            let (key, expected) = at(reply_number("", &reply, 1)?);
            let key = key.to_owned();
            return Err(match code {
                -1 => Error::AlreadyExists { key },
                -2 => Error::NotFound { key },
                _ => Error::VersionConflict {
                    actual: reply_number(&key, &reply, 2)? as u64,
                    key,
                    expected,
                },
            });
        }
        if reply.len() != puts.len() {
            return Err(Error::corrupt(None, "unexpected commit script reply"));
        }
        let versions = (0..reply.len())
            .map(|i| reply_number("", &reply, i).map(|v| v as u64))
            .collect::<Result<Vec<u64>>>()?;
        ClientCounters::add(&self.counters.sets, puts.len() as u64);
        Ok(versions)
    }

    /// Cluster: every entry and index set of the commit in one hash slot.
    fn check_one_slot(
        &self,
        checks: &[VersionCheck<'_>],
        puts: &[PutItem<'_>],
        index_prefix: &str,
    ) -> Result<()> {
        let entries = checks
            .iter()
            .map(|c| c.key)
            .chain(puts.iter().map(|p| p.key));
        let mut slots =
            entries
                .map(|k| Slot::for_key(self.entry_key(k)))
                .chain(puts.iter().flat_map(|p| {
                    p.options
                        .index_keys
                        .iter()
                        .map(|ik| Slot::for_key(format!("{index_prefix}{ik}")))
                }));
        let first = slots.next();
        if slots.any(|s| Some(s) != first) {
            return Err(Error::InvalidArgument(
                "the keys of a commit must share one hash tag on Redis Cluster",
            ));
        }
        Ok(())
    }
}
