//! The run's phases (before the store was killed, the outage, after it was back) from the driver's event file, and the summary: answers by endpoint, phase and status class, time to the first success of each kind after the store's return, and a per-second timeline around the outage.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::record::{Class, Event, Kind};

/// When the store was killed, restarted, and answered again (ms since the epoch).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Phases {
    pub(crate) kill: Option<u64>,
    pub(crate) restart: Option<u64>,
    pub(crate) ready: Option<u64>,
}

impl Phases {
    /// Reads `kill MS`, `restart MS` and `ready MS` lines (the first of each).
    pub(crate) fn read(path: Option<&Path>) -> Self {
        let mut phases = Self::default();
        let text = path
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some(name), Some(ms)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(ms) = ms.parse::<u64>() else { continue };
            let slot = match name {
                "kill" => &mut phases.kill,
                "restart" => &mut phases.restart,
                "ready" => &mut phases.ready,
                _ => continue,
            };
            slot.get_or_insert(ms);
        }
        phases
    }

    pub(crate) const NAMES: [&'static str; 3] = ["before", "outage", "after"];

    /// The phase of an instant: `before` the kill, the `outage` until the
    /// store answers again, `after` it (all `before` without a kill).
    pub(crate) fn of(&self, at_ms: u64) -> &'static str {
        match (self.kill, self.ready) {
            (Some(kill), _) if at_ms < kill => "before",
            (Some(_), Some(ready)) if at_ms >= ready => "after",
            (Some(_), _) => "outage",
            (None, _) => "before",
        }
    }

    fn json(&self) -> Value {
        json!({"kill_ms": self.kill, "restart_ms": self.restart, "ready_ms": self.ready,
               "outage_ms": self.kill.zip(self.ready).map(|(k, r)| r.saturating_sub(k))})
    }
}

type Counts = BTreeMap<Kind, BTreeMap<&'static str, BTreeMap<Class, u64>>>;

fn count(events: &[Event], phases: &Phases) -> Counts {
    let mut counts = Counts::new();
    for e in events {
        *counts
            .entry(e.kind)
            .or_default()
            .entry(phases.of(e.at_ms))
            .or_default()
            .entry(e.class)
            .or_default() += 1;
    }
    counts
}

/// Per kind: ms from `from` to its first success at or after `from`.
fn first_success(events: &[Event], from: u64) -> BTreeMap<Kind, u64> {
    let mut first = BTreeMap::new();
    for e in events.iter().filter(|e| e.at_ms >= from && done(e)) {
        let ms = e.at_ms - from;
        first
            .entry(e.kind)
            .and_modify(|m: &mut u64| *m = (*m).min(ms))
            .or_insert(ms);
    }
    first
}

/// Whether an answer did what its request asks: a success, or the refusal
/// a replay must get.
fn done(e: &Event) -> bool {
    match e.kind {
        Kind::CodeReplay | Kind::RefreshReplay => e.class == Class::Client4xx,
        _ => e.class.is_success(),
    }
}

/// The answers of the run proper (the post-run checks left out).
fn run_events(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.kind != Kind::CheckIntrospect)
        .copied()
        .collect()
}

/// The recovery figures: per kind, time from the store's return to its
/// first success; and the worst of them over the kinds that clients were
/// waiting for (a try failed during the outage): `Some(None)` if one of
/// those never succeeded, `None` when no client was waiting.
pub(crate) fn recovery(
    events: &[Event],
    phases: &Phases,
) -> (BTreeMap<Kind, u64>, Option<Option<u64>>) {
    let Some(ready) = phases.ready else {
        return (BTreeMap::new(), None);
    };
    let run = run_events(events);
    let first = first_success(&run, ready);
    let waiting: BTreeSet<Kind> = run
        .iter()
        .filter(|e| phases.of(e.at_ms) == "outage" && !done(e))
        .map(|e| e.kind)
        .collect();
    if waiting.is_empty() {
        return (first, None);
    }
    let worst = waiting
        .iter()
        .map(|k| first.get(k).copied())
        .collect::<Option<Vec<u64>>>()
        .and_then(|v| v.into_iter().max());
    (first, Some(worst))
}

/// The JSON of the answers.
pub(crate) fn answers_json(events: &[Event], phases: &Phases, started_ms: u64) -> Value {
    let counts = count(events, phases);
    let by_endpoint: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(kind, by_phase)| {
            let phases: serde_json::Map<String, Value> = by_phase
                .iter()
                .map(|(p, classes)| {
                    let c: serde_json::Map<String, Value> = classes
                        .iter()
                        .map(|(class, n)| (class.name().to_owned(), json!(n)))
                        .collect();
                    ((*p).to_owned(), Value::Object(c))
                })
                .collect();
            (kind.name().to_owned(), Value::Object(phases))
        })
        .collect();
    let run = run_events(events);
    let (first, worst) = recovery(events, phases);
    let first_after_ready: serde_json::Map<String, Value> = first
        .iter()
        .map(|(k, ms)| (k.name().to_owned(), json!(ms)))
        .collect();
    let first_after_restart: serde_json::Map<String, Value> = phases
        .restart
        .map(|r| first_success(&run, r))
        .unwrap_or_default()
        .iter()
        .map(|(k, ms)| (k.name().to_owned(), json!(ms)))
        .collect();
    // The first answer that was not a success after the kill: how soon the outage showed.
    let first_failure = phases.kill.and_then(|kill| {
        run.iter()
            .filter(|e| e.at_ms >= kill && !e.class.is_success() && e.class != Class::Client4xx)
            .map(|e| e.at_ms - kill)
            .min()
    });
    json!({
        "store_events": phases.json(),
        "requests_total": run.len(),
        "answer_ms_by_phase": latency_json(&run, phases),
        "by_endpoint": by_endpoint,
        "first_failure_ms_after_kill": first_failure,
        "first_success_ms_after_store_ready": first_after_ready,
        "first_success_ms_after_restart_command": first_after_restart,
        "kinds_waiting_during_outage_worst_first_success_ms": worst,
        "timeline": timeline_json(&run, phases, started_ms),
    })
}

/// (p50, p99, max) of how long the answers took, in ms.
pub(crate) fn latency<'a>(events: impl Iterator<Item = &'a Event>) -> Option<(u32, u32, u32)> {
    let mut took: Vec<u32> = events.map(|e| e.took_ms).collect();
    if took.is_empty() {
        return None;
    }
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), at(0.99), took[took.len() - 1]))
}

fn latency_json(events: &[Event], phases: &Phases) -> Value {
    let by: serde_json::Map<String, Value> = Phases::NAMES
        .iter()
        .filter_map(|p| {
            let (p50, p99, max) = latency(events.iter().filter(|e| phases.of(e.at_ms) == *p))?;
            Some(((*p).to_owned(), json!({"p50": p50, "p99": p99, "max": max})))
        })
        .collect();
    Value::Object(by)
}

/// Per second of the run: answers by class.
fn timeline(events: &[Event], started_ms: u64) -> BTreeMap<u64, BTreeMap<Class, u64>> {
    let mut seconds: BTreeMap<u64, BTreeMap<Class, u64>> = BTreeMap::new();
    for e in events {
        let s = e.at_ms.saturating_sub(started_ms) / 1000;
        *seconds.entry(s).or_default().entry(e.class).or_default() += 1;
    }
    seconds
}

fn timeline_json(events: &[Event], phases: &Phases, started_ms: u64) -> Value {
    let rows: Vec<Value> = timeline(events, started_ms)
        .iter()
        .map(|(s, classes)| {
            let mut row = json!({"second": s, "phase": phases.of(started_ms + s * 1000)});
            for (class, n) in classes {
                row[class.name()] = json!(n);
            }
            row
        })
        .collect();
    Value::Array(rows)
}

/// The human-readable tables.
pub(crate) fn human(events: &[Event], phases: &Phases, started_ms: u64) -> String {
    let counts = count(events, phases);
    let mut out = String::new();
    let header: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
    for phase in Phases::NAMES {
        if !counts.values().any(|p| p.contains_key(phase)) {
            continue;
        }
        let _ = writeln!(out, "\nanswers, phase {phase}:");
        let _ = write!(out, "{:<32}", "endpoint");
        for h in &header {
            let _ = write!(out, " {h:>9}");
        }
        out.push('\n');
        for kind in Kind::ALL {
            let Some(classes) = counts.get(&kind).and_then(|p| p.get(phase)) else {
                continue;
            };
            let _ = write!(out, "{:<32}", kind.name());
            for class in Class::ALL {
                let _ = write!(out, " {:>9}", classes.get(&class).copied().unwrap_or(0));
            }
            out.push('\n');
        }
    }
    if let (Some(kill), Some(ready)) = (phases.kill, phases.ready) {
        let run = run_events(events);
        let from = kill.saturating_sub(2000).saturating_sub(started_ms) / 1000;
        let to = (ready + 5000).saturating_sub(started_ms) / 1000;
        let _ = writeln!(
            out,
            "\nper second around the outage (kill at +{:.1}s, store ready at +{:.1}s):",
            kill.saturating_sub(started_ms) as f64 / 1000.0,
            ready.saturating_sub(started_ms) as f64 / 1000.0
        );
        for (s, classes) in timeline(&run, started_ms).range(from..=to) {
            let cells: Vec<String> = classes
                .iter()
                .map(|(c, n)| format!("{}={n}", c.name()))
                .collect();
            let phase = phases.of(started_ms + s * 1000);
            let _ = writeln!(out, "  +{s:>3}s {phase:<7} {}", cells.join(" "));
        }
    }
    out
}
