//! The writes with conditions and arithmetic: `put` in every mode, `incr` and `gcra`, checked against the model.

use std::time::Duration;

use authstore::GcraDecision;

use super::check::{Run, Want, expect_err, ok};
use super::ops::Mode;
use super::state::{self, Entry};

impl Run<'_> {
    pub(super) fn put(
        &mut self,
        key: &str,
        value: &str,
        ttl_ms: Option<u64>,
        mode: Mode,
        index: &[&str],
        got: authstore::Result<u64>,
    ) -> Result<(), String> {
        if ttl_ms == Some(0) {
            return expect_err(got, Want::ZeroTtl, key);
        }
        let live = self
            .model
            .live(key)
            .map(|e| (e.counter, e.version, e.floor));
        match (mode, live) {
            (Mode::CreateOnly, Some(_)) => return expect_err(got, Want::AlreadyExists, key),
            (Mode::UpdateOnly | Mode::IfVersion(_), None) => {
                return expect_err(got, Want::NotFound, key);
            }
            (Mode::IfVersion(v), Some((false, actual, _))) if v != actual => {
                let want = Want::VersionConflict {
                    expected: v,
                    actual: Some(actual),
                };
                return expect_err(got, want, key);
            }
            (Mode::IfVersion(v), Some((true, _, _))) => {
                // A counter's version is backend-defined: either answer is
                // allowed, as long as a refusal changes nothing.
                let refused = Want::VersionConflict {
                    expected: v,
                    actual: None,
                };
                if matches!(&got, Err(e) if refused.matches(key, e)) {
                    return Ok(());
                }
            }
            _ => {}
        }
        let version = ok(got)?;
        match live {
            None if version != 1 => {
                return Err(format!("a created entry has version 1, got {version}"));
            }
            Some((counter, current, floor))
                if version <= floor || (!counter && version <= current) =>
            {
                return Err(format!(
                    "a put of a live entry returns a greater version than the last put's {}, got {version}",
                    floor.max(if counter { 0 } else { current })
                ));
            }
            _ => {}
        }
        let now = self.model.now;
        self.model.write(
            key,
            Entry {
                value: value.as_bytes().to_vec(),
                counter: false,
                clocked: false,
                version,
                floor: version,
                expires_at: ttl_ms.map(|t| now + t),
                index_keys: index.iter().map(|k| (*k).to_owned()).collect(),
                stored: true,
            },
        );
        Ok(())
    }

    pub(super) fn incr(
        &mut self,
        key: &str,
        delta: i64,
        ttl_ms: Option<u64>,
        got: authstore::Result<authstore::Counter>,
    ) -> Result<(), String> {
        if ttl_ms == Some(0) {
            return expect_err(got, Want::ZeroTtl, key);
        }
        let now = self.model.now;
        let mut clocked = false;
        let value = match self.model.live_mut(key) {
            Some(e) => {
                clocked = e.clocked;
                let Some(current) = state::as_counter(&e.value) else {
                    return expect_err(got, Want::NotACounter, key);
                };
                let Some(value) = current.checked_add(delta) else {
                    return expect_err(got, Want::CounterOverflow, key);
                };
                e.value = value.to_string().into_bytes();
                e.counter = true;
                value
            }
            None => {
                let entry = Entry {
                    value: delta.to_string().into_bytes(),
                    counter: true,
                    clocked: false,
                    version: 0,
                    floor: 0,
                    expires_at: ttl_ms.map(|t| now + t),
                    index_keys: Vec::new(),
                    stored: true,
                };
                self.model.write(key, entry);
                delta
            }
        };
        let got = ok(got)?;
        let same = if clocked && self.server {
            self.same_number(value, got.value)
        } else {
            got.value == value
        };
        if !same {
            return Err(format!("expected the counter at {value}, got {got:?}"));
        }
        let remaining = self.model.live(key).and_then(|e| e.remaining(now));
        self.check_ttl("counter", remaining, got.ttl)
    }

    pub(super) fn gcra(
        &mut self,
        key: &str,
        interval_ms: u64,
        burst: u32,
        cost: u32,
        got: authstore::Result<GcraDecision>,
    ) -> Result<(), String> {
        if interval_ms == 0 || burst == 0 || cost > burst {
            return expect_err(got, Want::InvalidArgument, key);
        }
        let now = self.model.now;
        let stored = match self.model.live(key) {
            Some(e) => match state::as_counter(&e.value) {
                Some(n) => Some(u64::try_from(n).unwrap_or(0)),
                None => return expect_err(got, Want::NotACounter, key),
            },
            None => None,
        };
        let (want, _) = state::gcra(stored, now, interval_ms, burst, cost);
        let got = ok(got)?;
        let fits = if self.server {
            self.server_gcra_fits(&got, stored, now, interval_ms, burst, cost)
        } else {
            got == want
        };
        if !fits {
            return Err(format!("expected {want:?}, got {got:?}"));
        }
        let interval = Duration::from_millis(interval_ms);
        let new_tat = (got.allowed && cost > 0).then(|| {
            let start = stored.map_or(now, |t| t.max(now));
            start.saturating_add(u64::try_from((interval * cost).as_millis()).unwrap_or(u64::MAX))
        });
        if let Some(tat) = new_tat {
            let value = tat.to_string().into_bytes();
            match self.model.live_mut(key) {
                Some(e) => {
                    e.value = value;
                    e.counter = true;
                    e.clocked = true;
                    e.expires_at = Some(tat);
                }
                None => self.model.write(
                    key,
                    Entry {
                        value,
                        counter: true,
                        clocked: true,
                        version: 0,
                        floor: 0,
                        expires_at: Some(tat),
                        index_keys: Vec::new(),
                        stored: true,
                    },
                ),
            }
        }
        Ok(())
    }
}
