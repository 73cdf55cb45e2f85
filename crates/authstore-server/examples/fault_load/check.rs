//! The checks after the run, once the store is back: every token the server acknowledged is introspected and must be active unless the generator revoked it, it was rotated away, or a replay legitimately revoked its grant; revocations must hold.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::flow::is_active;
use crate::http::{Req, now_ms};
use crate::ledger::{Acked, Fate, Flow, Revoked, Role};
use crate::record::{Class, Kind};
use crate::report::Phases;

/// What introspection must say of a group's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Active: an inactive one is a lost token (a violation).
    Active,
    /// Inactive: an active one is a revocation or rotation undone (a violation).
    Inactive,
    /// Either; counted (grants a replay or a late retry may have revoked).
    Observe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    KeptAccess,
    KeptRefresh,
    Rotated,
    RevokedAccess,
    RevokedGrant,
    AfterCodeReplay,
    AfterRefreshReplay,
    EndedByRefreshRetry,
    ExpiredAccess,
    ExpiredRefresh,
    NearExpiry,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::KeptAccess => "kept access tokens",
            Group::KeptRefresh => "kept refresh tokens (current)",
            Group::Rotated => "rotated-away refresh tokens",
            Group::RevokedAccess => "revoked access tokens",
            Group::RevokedGrant => "tokens of revoked grants",
            Group::AfterCodeReplay => "tokens of grants whose code was replayed",
            Group::AfterRefreshReplay => "current refresh tokens of replayed families",
            Group::EndedByRefreshRetry => "tokens of grants ended by a refresh retry",
            Group::ExpiredAccess => "kept access tokens past their TTL",
            Group::ExpiredRefresh => "kept refresh tokens past their TTL",
            Group::NearExpiry => "kept tokens within a margin of their TTL",
        }
    }

    fn expect(self) -> Expect {
        match self {
            Group::KeptAccess | Group::KeptRefresh => Expect::Active,
            Group::Rotated
            | Group::RevokedAccess
            | Group::RevokedGrant
            | Group::ExpiredAccess
            | Group::ExpiredRefresh => Expect::Inactive,
            Group::AfterCodeReplay
            | Group::AfterRefreshReplay
            | Group::EndedByRefreshRetry
            | Group::NearExpiry => Expect::Observe,
        }
    }
}

/// How far from its TTL a kept token's age must be for the check to expect
/// it active (younger) or expired (older): the servers' and this process's
/// clocks, and the time between acknowledging and recording a token.
const EXPIRY_MARGIN_MS: u64 = 10_000;

/// A kept token's group once its age when checked (`checked_ms` −
/// `at_ms`) is set against the servers' TTLs; other groups stay.
fn by_age(group: Group, at_ms: u64, checked_ms: u64, opts: &crate::Options) -> Group {
    let (ttl, expired) = match group {
        Group::KeptAccess => (opts.access_ttl, Group::ExpiredAccess),
        Group::KeptRefresh => (opts.refresh_ttl, Group::ExpiredRefresh),
        _ => return group,
    };
    let Some(ttl) = ttl else { return group };
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let age = checked_ms.saturating_sub(at_ms);
    if age.saturating_add(EXPIRY_MARGIN_MS) < ttl_ms {
        group
    } else if age > ttl_ms.saturating_add(EXPIRY_MARGIN_MS) {
        expired
    } else {
        Group::NearExpiry
    }
}

/// Rotated-away refresh tokens checked at most (a sample).
const MAX_ROTATED: usize = 2000;

fn plan(flows: &[Flow]) -> Vec<(Group, Acked)> {
    let mut checks = Vec::new();
    let mut rotated = 0;
    for f in flows {
        let mut add = |g: Group, tokens: &mut dyn Iterator<Item = &Acked>| {
            checks.extend(tokens.map(|t| (g, t.clone())));
        };
        let head = f.refresh_head.iter();
        if f.fate == Fate::EndedByRefreshRetry {
            add(Group::EndedByRefreshRetry, &mut f.access.iter().chain(head));
            continue;
        }
        match (&f.role, &f.revoked) {
            (_, Some(Revoked::Grant(gone))) => {
                let same = f
                    .refresh_head
                    .as_ref()
                    .is_some_and(|h| h.token == gone.token);
                let gone = (!same).then_some(gone);
                add(
                    Group::RevokedGrant,
                    &mut f.access.iter().chain(head).chain(gone),
                );
            }
            (_, Some(Revoked::Access(gone))) => {
                add(Group::RevokedAccess, &mut std::iter::once(gone));
                let mut rest = f.access.iter().filter(|a| a.token != gone.token);
                add(Group::KeptAccess, &mut rest);
                add(Group::KeptRefresh, &mut head.clone());
            }
            (Role::CodeReplay, None) if f.replayed => {
                if f.replay_refused {
                    add(Group::AfterCodeReplay, &mut f.access.iter().chain(head));
                }
            }
            (Role::RefreshReplay, None) if f.replayed => {
                if f.replay_refused {
                    add(Group::AfterRefreshReplay, &mut head.clone());
                }
            }
            _ => {
                add(Group::KeptAccess, &mut f.access.iter());
                add(Group::KeptRefresh, &mut head.clone());
            }
        }
        if rotated < MAX_ROTATED && !f.replayed {
            rotated += f.rotated.len();
            add(Group::Rotated, &mut f.rotated.iter());
        }
    }
    checks
}

#[derive(Debug, Default, Clone)]
struct Tally {
    /// phase → (checked, active, inactive, unanswered)
    by_phase: BTreeMap<&'static str, [u64; 4]>,
}

/// Introspects every planned token with `concurrency` tasks; returns the
/// JSON of the checks and the number of violations.
pub(crate) async fn run(
    ctx: &Arc<Ctx>,
    phases: &Phases,
    concurrency: usize,
    limit: Duration,
) -> (Value, u64) {
    let checks = plan(&ctx.ledger.flows());
    let total = checks.len();
    let queue = Arc::new(Mutex::new(checks));
    let results = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + limit;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (ctx, queue, results) = (ctx.clone(), queue.clone(), results.clone());
        tasks.spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((group, token)) = next else { break };
                let (active, times) = introspect_until(&ctx, &token.token, until).await;
                let checked_ms = now_ms();
                let group = by_age(group, token.at_ms, checked_ms, &ctx.opts);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Checked {
                        group,
                        at_ms: token.at_ms,
                        checked_ms,
                        active,
                        times,
                    });
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let results = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    let mut tallies: BTreeMap<Group, Tally> = BTreeMap::new();
    let mut violations = 0;
    let mut samples = Vec::new();
    for Checked {
        group,
        at_ms,
        checked_ms,
        active,
        times,
    } in results
    {
        let slot = tallies
            .entry(group)
            .or_default()
            .by_phase
            .entry(phases.of(at_ms))
            .or_default();
        slot[0] += 1;
        match active {
            Some(true) => slot[1] += 1,
            Some(false) => slot[2] += 1,
            None => slot[3] += 1,
        }
        let wrong = matches!(
            (group.expect(), active),
            (Expect::Active, Some(false) | None) | (Expect::Inactive, Some(true) | None)
        );
        violations += u64::from(wrong);
        if wrong && samples.len() < MAX_SAMPLES {
            samples.push(json!({
                "group": group.name(),
                "acked_ms": at_ms,
                "checked_ms": checked_ms,
                "active": active,
                "iat": times.map(|t| t.0),
                "exp": times.map(|t| t.1),
            }));
        }
    }
    let groups: serde_json::Map<String, Value> = tallies
        .iter()
        .map(|(g, t)| {
            let phases: serde_json::Map<String, Value> = t
                .by_phase
                .iter()
                .map(|(p, [n, a, i, u])| {
                    (
                        (*p).to_owned(),
                        json!({"checked": n, "active": a, "inactive": i, "unanswered": u}),
                    )
                })
                .collect();
            let expect = match g.expect() {
                Expect::Active => "active",
                Expect::Inactive => "inactive",
                Expect::Observe => "either (counted)",
            };
            (
                g.name().to_owned(),
                json!({"expect": expect, "by_ack_phase": phases}),
            )
        })
        .collect();
    (
        json!({
            "planned": total,
            "violations": violations,
            "groups": groups,
            "violation_samples": samples,
        }),
        violations,
    )
}

/// One token's check: its group by age, when it was acknowledged and
/// checked (ms since the epoch), whether it was active, and its `iat` and
/// `exp` (seconds) if introspection gave them.
struct Checked {
    group: Group,
    at_ms: u64,
    checked_ms: u64,
    active: Option<bool>,
    times: Option<(u64, u64)>,
}

/// Contradicting checks kept in the report with their times.
const MAX_SAMPLES: usize = 20;

/// Whether `token` is active, asking until an answer comes or `until`, with
/// the `iat` and `exp` of an active one.
async fn introspect_until(
    ctx: &Ctx,
    token: &str,
    until: Instant,
) -> (Option<bool>, Option<(u64, u64)>) {
    let o = &ctx.opts;
    let req = Req::form("/introspect", &[("token", token)])
        .basic(&o.introspector_id, &o.introspector_secret);
    while Instant::now() < until {
        let sent = Instant::now();
        match ctx.http.send(&req, None).await {
            Ok(reply) => match ctx.rec.answer(Kind::CheckIntrospect, &reply, sent) {
                Class::Ok2xx => {
                    let times = reply
                        .json()
                        .and_then(|j| Some((j.get("iat")?.as_u64()?, j.get("exp")?.as_u64()?)));
                    return (is_active(&reply), times);
                }
                Class::Unavailable | Class::Bad5xx => {}
                _ => {
                    ctx.rec.unexpected(
                        Kind::CheckIntrospect,
                        "introspection refused",
                        Some(&reply),
                    );
                    return (None, None);
                }
            },
            Err(e) => ctx.rec.no_answer(Kind::CheckIntrospect, &e, sent),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (None, None)
}
