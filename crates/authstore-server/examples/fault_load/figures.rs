//! The key figures of a run in a few lines (`== key figures ==`), which the driver script collects into its report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::record::{Class, Event, Kind};
use crate::report::Phases;

/// Sums, over the check groups named, the counts `field` of acknowledgements in `phases`.
fn tokens(checks: &Value, groups: &[&str], field: &str, phases: &[&str]) -> u64 {
    let mut n = 0;
    for g in groups {
        for p in phases {
            n += checks["groups"][*g]["by_ack_phase"][*p][field]
                .as_u64()
                .unwrap_or(0);
        }
    }
    n
}

fn classes(events: &[&Event]) -> String {
    let mut by: BTreeMap<Class, u64> = BTreeMap::new();
    for e in events {
        *by.entry(e.class).or_default() += 1;
    }
    let cells: Vec<String> = by
        .iter()
        .map(|(c, n)| format!("{}={n}", c.name()))
        .collect();
    if cells.is_empty() {
        "none".into()
    } else {
        cells.join(" ")
    }
}

pub(crate) struct Inputs<'a> {
    pub(crate) events: &'a [Event],
    pub(crate) phases: &'a Phases,
    pub(crate) first_success: &'a BTreeMap<Kind, u64>,
    /// See [`crate::report::recovery`].
    pub(crate) worst: Option<Option<u64>>,
    pub(crate) target_ms: u64,
    pub(crate) health: &'a Value,
    pub(crate) checks: &'a Value,
    pub(crate) counters: &'a BTreeMap<&'static str, u64>,
    pub(crate) violations: u64,
}

pub(crate) fn render(i: &Inputs<'_>) -> String {
    let mut out = String::from("== key figures ==\n");
    let p = i.phases;
    let run: Vec<&Event> = i
        .events
        .iter()
        .filter(|e| e.kind != Kind::CheckIntrospect)
        .collect();
    if let (Some(kill), Some(ready)) = (p.kill, p.ready) {
        let restart = p.restart.map_or(String::new(), |r| {
            format!(" (restart command → ready {} ms)", ready.saturating_sub(r))
        });
        let _ = writeln!(
            out,
            "store outage: kill → ready {} ms{restart}",
            ready - kill
        );
        let during: Vec<&Event> = run
            .iter()
            .copied()
            .filter(|e| p.of(e.at_ms) == "outage")
            .collect();
        let took = crate::report::latency(during.iter().copied())
            .map_or("n/a".to_owned(), |(p50, p99, max)| {
                format!("p50 {p50} ms, p99 {p99} ms, max {max} ms")
            });
        let _ = writeln!(
            out,
            "answers during the outage ({}): {}; time to answer {took}",
            during.len(),
            classes(&during)
        );
        for kind in Kind::ALL {
            let mine: Vec<&Event> = during.iter().copied().filter(|e| e.kind == kind).collect();
            if !mine.is_empty() {
                let _ = writeln!(out, "  {:<30} {}", kind.name(), classes(&mine));
            }
        }
        let firsts: Vec<String> = i
            .first_success
            .iter()
            .map(|(k, ms)| format!("{} {ms}", k.name()))
            .collect();
        let _ = writeln!(
            out,
            "first success after the store's return (ms): {}",
            firsts.join(", ")
        );
        let worst = match i.worst {
            None => "n/a (no client was waiting)".to_owned(),
            Some(None) => "never".to_owned(),
            Some(Some(ms)) => format!("{ms} ms"),
        };
        let _ = writeln!(
            out,
            "worst of the kinds clients were waiting for: {worst} (target {} ms)",
            i.target_ms
        );
        let health: Vec<String> = i
            .health
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                format!(
                    "{} {}",
                    h["base"].as_str().unwrap_or("?"),
                    h["first_200_ms_after_store_ready"]
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "/health 200 after the store's return (ms): {}",
            health.join(", ")
        );
    }
    let all = ["before", "outage", "after"];
    let kept = ["kept access tokens", "kept refresh tokens (current)"];
    let revoked = ["revoked access tokens", "tokens of revoked grants"];
    let _ = writeln!(
        out,
        "tokens kept: checked {} (acknowledged before the kill {}), lost {}",
        tokens(i.checks, &kept, "checked", &all),
        tokens(i.checks, &kept, "checked", &["before"]),
        tokens(i.checks, &kept, "inactive", &all) + tokens(i.checks, &kept, "unanswered", &all),
    );
    let rotated = ["rotated-away refresh tokens"];
    let _ = writeln!(
        out,
        "revocations: checked {}, undone {}; rotated refresh tokens: checked {}, still active {}",
        tokens(i.checks, &revoked, "checked", &all),
        tokens(i.checks, &revoked, "active", &all),
        tokens(i.checks, &rotated, "checked", &all),
        tokens(i.checks, &rotated, "active", &all),
    );
    for (kind, accepted) in [
        (Kind::CodeReplay, "code_replay_accepted"),
        (Kind::RefreshReplay, "refresh_replay_accepted"),
    ] {
        let cells: Vec<String> = all
            .iter()
            .map(|phase| {
                let mine: Vec<&Event> = run
                    .iter()
                    .copied()
                    .filter(|e| e.kind == kind && p.of(e.at_ms) == *phase)
                    .collect();
                format!("{phase}: {}", classes(&mine))
            })
            .collect();
        let _ = writeln!(
            out,
            "{}: {}; accepted (violations) {}",
            kind.name(),
            cells.join("; "),
            i.counters.get(accepted).copied().unwrap_or(0)
        );
    }
    let families = ["current refresh tokens of replayed families"];
    let replayed_codes = ["tokens of grants whose code was replayed"];
    let _ = writeln!(
        out,
        "after a refused replay: refresh families revoked {} of {} checked; \
         tokens of grants whose code was replayed inactive {} of {}",
        tokens(i.checks, &families, "inactive", &all),
        tokens(i.checks, &families, "checked", &all),
        tokens(i.checks, &replayed_codes, "inactive", &all),
        tokens(i.checks, &replayed_codes, "checked", &all),
    );
    let counter = |name: &str| i.counters.get(name).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "unanswered tries then refused: code exchanges {}, refreshes {} (grant ended, {} of its tokens inactive); \
         refreshes answered on retry {}; consent redirected with temporarily_unavailable {}",
        counter("code_exchange_refused_after_unanswered_try"),
        counter("refresh_refused_after_unanswered_try"),
        tokens(
            i.checks,
            &["tokens of grants ended by a refresh retry"],
            "inactive",
            &all
        ),
        counter("refresh_answered_after_unanswered_try"),
        counter("consent_redirected_temporarily_unavailable"),
    );
    let _ = writeln!(out, "violations: {}", i.violations);
    out
}
