//! The run's answers per time window (`--timeline-out`), as CSV: how many, by status class, and how long they took (p50, p99, max), so that long runs show drift in latency and errors over time.

use std::path::Path;

use crate::record::{Class, Event, Kind};

/// The CSV's header. `window_s` is the window's length (the last one may be
/// shorter); `4xx_replay` counts the 4xx that refused a replayed code or
/// refresh token (the answer a replay must get), and is part of `4xx`.
pub(crate) const HEADER: &str =
    "window_start_s,window_s,requests,2xx,3xx,4xx,4xx_replay,5xx,no_answer,p50_ms,p99_ms,max_ms";

/// The columns that, added up, make `requests`: 2xx, 3xx, 4xx, 5xx, no_answer.
const PARTS: [usize; 5] = [3, 4, 5, 7, 8];
const REQUESTS: usize = 2;

/// Per window of `window_secs`: the answers of the run proper (the checks
/// after the run left out) that arrived in it, counted from `started_ms`;
/// every window up to the end of the run (`ran_ms` after the start) has a
/// row, with empty latency cells when nothing arrived in it.
pub(crate) fn render(events: &[Event], started_ms: u64, ran_ms: u64, window_secs: u64) -> String {
    let window_ms = window_secs.max(1) * 1000;
    let offset = |e: &Event| e.at_ms.saturating_sub(started_ms);
    let run: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind != Kind::CheckIntrospect)
        .collect();
    let end_ms = run.iter().map(|e| offset(e)).max().unwrap_or(0).max(ran_ms);
    let count = end_ms.div_ceil(window_ms).max(1) as usize;
    let mut windows: Vec<Vec<&Event>> = vec![Vec::new(); count];
    for e in run {
        let i = ((offset(e) / window_ms) as usize).min(count - 1);
        windows[i].push(e);
    }
    let mut out = String::from(HEADER);
    out.push('\n');
    for (i, w) in windows.iter().enumerate() {
        let start_ms = i as u64 * window_ms;
        let length_ms = window_ms.min(end_ms.saturating_sub(start_ms)).max(1);
        let n = |f: &dyn Fn(&Event) -> bool| w.iter().filter(|e| f(e)).count();
        let replay = |e: &Event| matches!(e.kind, Kind::CodeReplay | Kind::RefreshReplay);
        let cells = [
            n(&|e| e.class == Class::Ok2xx),
            n(&|e| matches!(e.class, Class::Redirect3xx | Class::ErrorRedirect)),
            n(&|e| e.class == Class::Client4xx),
            n(&|e| e.class == Class::Client4xx && replay(e)),
            n(&|e| matches!(e.class, Class::Unavailable | Class::Bad5xx)),
            n(&|e| e.class == Class::NoAnswer),
        ];
        let took = crate::report::latency(w.iter().copied())
            .map_or(",,".to_owned(), |(p50, p99, max)| {
                format!("{p50},{p99},{max}")
            });
        let counts: Vec<String> = cells.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "{},{:.3},{},{},{took}\n",
            start_ms / 1000,
            length_ms as f64 / 1000.0,
            w.len(),
            counts.join(","),
        ));
    }
    out
}

/// Checks a rendered CSV: each row's classes add up to its requests, and the
/// requests of all rows to `recorded`. Returns the total.
pub(crate) fn verify(csv: &str, recorded: u64) -> Result<u64, String> {
    let mut lines = csv.lines();
    if lines.next() != Some(HEADER) {
        return Err("the timeline does not start with its header".into());
    }
    let mut total = 0u64;
    for (row, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let number = |i: usize| -> Result<u64, String> {
            cells
                .get(i)
                .and_then(|c| c.parse::<u64>().ok())
                .ok_or_else(|| format!("timeline row {row}: column {i} is not a count: {line}"))
        };
        let requests = number(REQUESTS)?;
        let mut parts = 0;
        for i in PARTS {
            parts += number(i)?;
        }
        if parts != requests {
            return Err(format!(
                "timeline row {row}: the classes add up to {parts}, not to its {requests} requests"
            ));
        }
        total += requests;
    }
    if total != recorded {
        return Err(format!(
            "the timeline counts {total} requests, the run recorded {recorded}"
        ));
    }
    Ok(total)
}

/// Renders, checks against `recorded` (the run's request total) and writes the timeline.
pub(crate) fn write(
    path: &Path,
    events: &[Event],
    started_ms: u64,
    ran_ms: u64,
    window_secs: u64,
    recorded: u64,
) -> Result<u64, String> {
    let csv = render(events, started_ms, ran_ms, window_secs);
    let total = verify(&csv, recorded)?;
    std::fs::write(path, csv).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(total)
}
