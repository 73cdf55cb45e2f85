//! Several limits on one key, checked all-or-nothing: one entry holds every limit's state and is replaced by compare-and-set.
//!
//! The entry under `{namespace}{key}#all` is ASCII, one field per limit in
//! the limiter's order, separated by `;`:
//! - `g<tat>`: GCRA, the theoretical arrival time in ms since the epoch;
//! - `w<index>,<current>,<previous>`: a window limit, the index of the
//!   window its counts belong to, the count in it and in the one before.
//!
//! A check reads the entry, decides every limit at one instant and, only if
//! all of them admit the request, writes the new state with `IfVersion` (or
//! `CreateOnly` when there was none). That write is the atomic step: a
//! concurrent writer makes it fail with nothing changed, and the check
//! starts again from the fresh state. A refusal writes nothing, so it
//! consumes nothing from any limit, and no other request ever sees a
//! half-counted one.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use super::{Algorithm, Decision, Limit};
use crate::backend::gcra;
use crate::clock::{Clock, duration_to_millis};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::types::{GcraParams, PutOptions};

/// Lost compare-and-set races after which a check gives up with [`Error::Contended`].
pub(super) const MAX_ATTEMPTS: u32 = 1000;

/// One limit's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Gcra {
        tat: u64,
    },
    Window {
        index: u64,
        current: u64,
        previous: u64,
    },
}

/// How a check changes the state.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change {
    /// Spend `cost` units if every limit allows it.
    Spend(u32),
    /// Add (penalty) or take off (reward) units in every window, unconditionally.
    Adjust(i64),
}

/// The key of the combined state of `key`.
pub(super) fn state_key(namespace: &str, key: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + key.len() + 4);
    k.push_str(namespace);
    k.push_str(key);
    k.push_str("#all");
    k
}

/// Runs `change` on the limits of `key` until its write wins a race.
pub(super) async fn run(
    store: &dyn Store,
    clock: &dyn Clock,
    key: String,
    limits: &[Limit],
    change: Change,
) -> Result<Decision> {
    // What the stores refuse for a single GCRA limit (an emission interval
    // under 1 ms) is refused here too, before the arithmetic divides by it.
    for limit in limits.iter().filter(|l| l.algorithm == Algorithm::Gcra) {
        gcra::validate(&GcraParams::per_period(limit.requests, limit.period))?;
    }
    for attempt in 0..MAX_ATTEMPTS {
        let now = clock.now_millis();
        let current = store.get(&key).await?;
        let (slots, version) = match &current {
            Some(entry) => (
                decode(&key, &entry.value, limits.len())?,
                Some(entry.version),
            ),
            None => (vec![None; limits.len()], None),
        };
        let (decision, next) = decide(limits, &slots, now, change);
        let Some((value, ttl)) = next else {
            return Ok(decision);
        };
        let options = PutOptions::new().ttl(ttl);
        let options = match version {
            Some(v) => options.if_version(v),
            None => options.create_only(),
        };
        match store.put(&key, &value, options).await {
            Ok(_) => return Ok(decision),
            Err(e) if e.is_condition_failed() => back_off(attempt).await,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Contended {
        key,
        attempts: MAX_ATTEMPTS,
    })
}

/// Yields after a lost race; after a few in a row, also sleeps a short random time.
async fn back_off(attempt: u32) {
    if attempt < 4 {
        tokio::task::yield_now().await;
        return;
    }
    let cap = u64::from(attempt.min(20)) * 250;
    let jitter = getrandom::u64().unwrap_or(u64::from(attempt)) % cap;
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}

/// Decides every limit at `now`; returns the decision and, if state changes, the value and TTL to write.
fn decide(
    limits: &[Limit],
    slots: &[Option<Slot>],
    now: u64,
    change: Change,
) -> (Decision, Option<(Vec<u8>, Duration)>) {
    let mut next = Vec::with_capacity(limits.len());
    let mut verdict: Option<Decision> = None;
    let mut refusal: Option<Decision> = None;
    for (limit, slot) in limits.iter().zip(slots) {
        let (decision, slot) = match limit.algorithm {
            Algorithm::Gcra => gcra_step(*limit, *slot, now, change),
            Algorithm::FixedWindow | Algorithm::SlidingWindow => {
                window_step(*limit, *slot, now, change)
            }
        };
        next.push(slot);
        if decision.allowed {
            verdict = Some(match verdict {
                Some(v) if v.remaining <= decision.remaining => v,
                _ => decision,
            });
        } else {
            refusal = Some(match refusal {
                Some(r) if r.retry_after >= decision.retry_after => r,
                _ => decision,
            });
        }
    }
    if let Some(refused) = refusal {
        return (refused, None);
    }
    let decision = verdict.expect("with_limits keeps at least one limit");
    if matches!(change, Change::Spend(0)) || next.iter().zip(slots).all(|(n, s)| Some(*n) == *s) {
        return (decision, None);
    }
    let ttl = limits
        .iter()
        .zip(&next)
        .map(|(limit, slot)| retention(*limit, *slot, now))
        .max()
        .unwrap_or(1)
        .max(1);
    (decision, Some((encode(&next), Duration::from_millis(ttl))))
}

fn gcra_step(limit: Limit, slot: Option<Slot>, now: u64, change: Change) -> (Decision, Slot) {
    let stored = match slot {
        Some(Slot::Gcra { tat }) if tat > now => Some(tat),
        _ => None,
    };
    let cost = match change {
        Change::Spend(cost) => cost,
        Change::Adjust(_) => 0,
    };
    let params = GcraParams::per_period(limit.requests, limit.period).cost(cost);
    let outcome = gcra::step(stored, now, &params);
    let tat = outcome.store_tat.or(stored).unwrap_or(now);
    (
        Decision::from_gcra(outcome.decision, limit),
        Slot::Gcra { tat },
    )
}

fn window_step(limit: Limit, slot: Option<Slot>, now: u64, change: Change) -> (Decision, Slot) {
    let period = duration_to_millis(limit.period).max(1);
    let index = now / period;
    let elapsed = now % period;
    let (current, previous) = match slot {
        Some(Slot::Window {
            index: i,
            current,
            previous,
        }) if i == index => (current, previous),
        Some(Slot::Window {
            index: i, current, ..
        }) if i.checked_add(1) == Some(index) => (0, current),
        _ => (0, 0),
    };
    let previous_weight = match limit.algorithm {
        Algorithm::SlidingWindow => previous as f64 * (period - elapsed) as f64 / period as f64,
        _ => 0.0,
    };
    let reset_after = Duration::from_millis(period - elapsed);
    let (decision, counted) = match change {
        Change::Spend(cost) => {
            let counted = current.saturating_add(u64::from(cost));
            let decision =
                Decision::from_window(limit, previous_weight + counted as f64, reset_after);
            (decision, if decision.allowed { counted } else { current })
        }
        Change::Adjust(delta) => {
            let counted = current.saturating_add_signed(delta);
            // An adjustment is always applied; its verdict only reports.
            let decision =
                Decision::from_window(limit, previous_weight + counted as f64, reset_after);
            (
                Decision {
                    allowed: true,
                    ..decision
                },
                counted,
            )
        }
    };
    let slot = Slot::Window {
        index,
        current: counted,
        previous,
    };
    (decision, slot)
}

/// How long (ms from `now`) a slot must be kept: a GCRA state until it has
/// fully recovered, a window's counts for two periods so that the next
/// window can weigh them.
fn retention(limit: Limit, slot: Slot, now: u64) -> u64 {
    match slot {
        Slot::Gcra { tat } => tat.saturating_sub(now),
        Slot::Window { .. } => {
            let period = duration_to_millis(limit.period).max(1);
            period.saturating_mul(2) - now % period
        }
    }
}

fn encode(slots: &[Slot]) -> Vec<u8> {
    let mut out = String::with_capacity(slots.len() * 24);
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        // Writing to a String cannot fail.
        let _ = match slot {
            Slot::Gcra { tat } => write!(out, "g{tat}"),
            Slot::Window {
                index,
                current,
                previous,
            } => write!(out, "w{index},{current},{previous}"),
        };
    }
    out.into_bytes()
}

/// Parses a stored state into one slot per limit: fields past the current
/// limits are ignored, and limits with no field start fresh (the limits of a
/// key may change between deployments).
fn decode(key: &str, value: &Bytes, limits: usize) -> Result<Vec<Option<Slot>>> {
    let corrupt = |detail: &str| Error::Corrupt {
        key: Some(key.to_owned()),
        detail: format!("rate-limit state: {detail}"),
        source: None,
    };
    let text = std::str::from_utf8(value).map_err(|_| corrupt("not UTF-8"))?;
    let mut slots = vec![None; limits];
    for (slot, field) in slots.iter_mut().zip(text.split(';')) {
        // Any u64 `encode` writes, in its canonical decimal form only.
        let number = |s: &str| {
            s.parse::<u64>()
                .ok()
                .filter(|n| itoa::Buffer::new().format(*n) == s)
                .ok_or_else(|| corrupt("bad number"))
        };
        *slot = Some(match field.split_at_checked(1) {
            Some(("g", tat)) => Slot::Gcra { tat: number(tat)? },
            Some(("w", rest)) => {
                let mut parts = rest.split(',');
                let mut next = || number(parts.next().unwrap_or(""));
                Slot::Window {
                    index: next()?,
                    current: next()?,
                    previous: next()?,
                }
            }
            _ => return Err(corrupt("unknown field")),
        });
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gcra(n: u32, secs: u64) -> Limit {
        Limit::per(n, Duration::from_secs(secs))
    }

    fn fixed(n: u32, secs: u64) -> Limit {
        gcra(n, secs).algorithm(Algorithm::FixedWindow)
    }

    #[test]
    fn state_round_trips() {
        let slots = [
            Slot::Gcra {
                tat: 1_700_000_000_123,
            },
            Slot::Window {
                index: 42,
                current: 3,
                previous: 9,
            },
        ];
        let decoded = decode("k", &Bytes::from(encode(&slots)), 2).unwrap();
        assert_eq!(decoded, vec![Some(slots[0]), Some(slots[1])]);
        let fewer = decode("k", &Bytes::from(encode(&slots)), 1).unwrap();
        assert_eq!(fewer, vec![Some(slots[0])]);
        let more = decode("k", &Bytes::from(encode(&slots)), 3).unwrap();
        assert_eq!(more[2], None);
    }

    #[test]
    fn states_past_i64_read_back() {
        let slots = [
            Slot::Gcra { tat: u64::MAX },
            Slot::Window {
                index: u64::MAX,
                current: 1 << 63,
                previous: u64::MAX - 1,
            },
        ];
        let decoded = decode("k", &Bytes::from(encode(&slots)), 2).unwrap();
        assert_eq!(decoded, vec![Some(slots[0]), Some(slots[1])]);
        let past = decode("k", &Bytes::from("g18446744073709551616"), 1).unwrap_err();
        assert!(matches!(past, Error::Corrupt { .. }), "{past}");
        // A window state from the last window is weighed without overflow.
        let limits = [
            fixed(5, 60),
            fixed(5, 60).algorithm(Algorithm::SlidingWindow),
        ];
        let (d, _) = decide(&limits, &decoded, 0, Change::Spend(1));
        assert!(d.allowed);
    }

    #[test]
    fn corrupt_state_is_reported() {
        for bad in ["x1", "g", "g-1", "g01", "w1,2", "w1,2,x", "g1;;"] {
            let err = decode("k", &Bytes::from(bad), 3).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn a_refusal_changes_nothing() {
        let limits = [gcra(2, 10), fixed(1, 60)];
        let now = 60_000;
        let (first, next) = decide(&limits, &[None, None], now, Change::Spend(1));
        assert!(first.allowed);
        let (value, ttl) = next.unwrap();
        assert_eq!(ttl, Duration::from_secs(120), "the window's two periods");
        let slots = decode("k", &Bytes::from(value), 2).unwrap();
        let (refused, next) = decide(&limits, &slots, now, Change::Spend(1));
        assert!(!refused.allowed);
        assert_eq!(refused.limit, limits[1], "the window refused");
        assert!(next.is_none(), "nothing is written");
    }

    #[tokio::test]
    async fn a_gcra_interval_under_a_millisecond_is_refused_not_a_panic() {
        let store = crate::MemoryStore::new();
        let clock = crate::FakeClock::new();
        let limits = [gcra(1000, 0), fixed(5, 60)];
        let result = run(&store, &clock, "k#all".into(), &limits, Change::Spend(1)).await;
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{result:?}"
        );
        let sub_ms = Limit::per(100, Duration::from_millis(50));
        let limits = [sub_ms, fixed(5, 60)];
        let result = run(&store, &clock, "k#all".into(), &limits, Change::Spend(1)).await;
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{result:?}"
        );
    }

    #[test]
    fn the_tightest_limit_reports() {
        let limits = [gcra(10, 10), fixed(3, 60)];
        let (d, _) = decide(&limits, &[None, None], 0, Change::Spend(1));
        assert_eq!((d.remaining, d.limit), (2, limits[1]));
    }

    #[test]
    fn adjusting_moves_window_counts_only() {
        let limits = [fixed(5, 60)];
        let (_, next) = decide(&limits, &[None], 0, Change::Adjust(4));
        let slots = decode("k", &Bytes::from(next.unwrap().0), 1).unwrap();
        assert_eq!(
            slots[0],
            Some(Slot::Window {
                index: 0,
                current: 4,
                previous: 0
            })
        );
        let (d, _) = decide(&limits, &slots, 0, Change::Spend(1));
        assert_eq!(d.remaining, 0);
        let (_, next) = decide(&limits, &slots, 0, Change::Adjust(-10));
        let slots = decode("k", &Bytes::from(next.unwrap().0), 1).unwrap();
        assert!(matches!(slots[0], Some(Slot::Window { current: 0, .. })));
    }
}
