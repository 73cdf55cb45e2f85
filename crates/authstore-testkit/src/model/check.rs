//! Runs an op sequence on a store and on the model side by side, and reports the first answer that differs.

use std::fmt;
use std::time::{Duration, SystemTime};

use authstore::{Error, FakeClock, PutOptions, Store};

use super::ops::{Op, Profile};
use super::state::Model;

/// How far a server-clock answer may run ahead of the model (PTTL rounding,
/// the client reading its clock after the server answered).
pub(super) const SERVER_AHEAD: Duration = Duration::from_millis(20);

/// The first answer of a store that the contract does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The backend, as its capabilities name it.
    pub backend: &'static str,
    /// Index of the op in the sequence.
    pub step: usize,
    /// The op.
    pub op: Op,
    /// What the model expected and what the store answered.
    pub detail: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: op #{} {:?} diverged from the model: {}",
            self.backend, self.step, self.op, self.detail
        )
    }
}

impl std::error::Error for Divergence {}

/// Runs `ops` on `store` (freshly opened on its own prefix, with `clock` as
/// its injected clock) and on the model, comparing every answer.
///
/// # Errors
/// The first [`Divergence`].
///
/// # Panics
/// When `store` judges expiry by its server's clock and `ops` advance the
/// clock or use a TTL or GCRA interval under a minute: such a sequence
/// would need real waiting (see the module docs).
pub async fn check_sequence(
    store: &dyn Store,
    clock: &FakeClock,
    ops: &[Op],
) -> Result<(), Divergence> {
    let caps = store.capabilities();
    let profile = Profile::of(caps.expiry_clock);
    if let Some(op) = ops.iter().find(|op| !op.fits(profile)) {
        panic!(
            "{op:?} needs an injected clock; {} judges expiry by its server's clock",
            caps.name
        );
    }
    let mut run = Run {
        store,
        clock,
        // A server-clock store's times are the real ones; the model starts
        // at the real now, and the store's figures can only be later.
        model: Model::new(match profile {
            Profile::InjectedClock => authstore::Clock::now_millis(clock),
            Profile::ServerClock => authstore::Clock::now_millis(&authstore::SystemClock),
        }),
        server: profile == Profile::ServerClock,
        started: SystemTime::now(),
        // The contract promises exactly-once scans for every backend but
        // Redis, whose SCAN may repeat a key.
        repeats_allowed: caps.name == "redis",
    };
    for (step, op) in ops.iter().enumerate() {
        run.step(op).await.map_err(|detail| Divergence {
            backend: caps.name,
            step,
            op: *op,
            detail,
        })?;
    }
    Ok(())
}

/// An error the model expects, compared by kind (and key and versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    AlreadyExists,
    NotFound,
    VersionConflict { expected: u64, actual: Option<u64> },
    NotACounter,
    CounterOverflow,
    InvalidArgument,
    ZeroTtl,
}

impl Want {
    pub(super) fn matches(self, key: &str, got: &Error) -> bool {
        match (self, got) {
            (Want::AlreadyExists, Error::AlreadyExists { key: k })
            | (Want::NotFound, Error::NotFound { key: k })
            | (Want::NotACounter, Error::NotACounter { key: k })
            | (Want::CounterOverflow, Error::CounterOverflow { key: k }) => k == key,
            (
                Want::VersionConflict { expected, actual },
                Error::VersionConflict {
                    key: k,
                    expected: e,
                    actual: a,
                },
            ) => k == key && *e == expected && actual.is_none_or(|v| v == *a),
            (Want::InvalidArgument, Error::InvalidArgument(_))
            | (Want::ZeroTtl, Error::ZeroTtl) => true,
            _ => false,
        }
    }
}

pub(super) fn expect_err<T: fmt::Debug>(
    got: authstore::Result<T>,
    want: Want,
    key: &str,
) -> Result<(), String> {
    match got {
        Err(e) if want.matches(key, &e) => Ok(()),
        other => Err(format!("expected {want:?}, got {other:?}")),
    }
}

pub(super) fn ok<T>(got: authstore::Result<T>) -> Result<T, String> {
    got.map_err(|e| format!("unexpected error {e:?}"))
}

pub(super) fn text(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

pub(super) struct Run<'a> {
    pub(super) store: &'a dyn Store,
    pub(super) clock: &'a FakeClock,
    pub(super) model: Model,
    pub(super) server: bool,
    /// When the sequence started, by the wall clock (which a server's expiry follows).
    pub(super) started: SystemTime,
    pub(super) repeats_allowed: bool,
}

impl Run<'_> {
    /// `get` and `take`: the live entry or `None`.
    fn check_read(&mut self, key: &str, got: Option<authstore::Entry>) -> Result<(), String> {
        match (self.model.live(key), got) {
            (None, None) => {
                self.model.seen_expired(key);
                Ok(())
            }
            (Some(want), Some(got)) => self.check_entry(want, &got),
            (None, Some(got)) => Err(format!("expected None, got {} ({got:?})", text(&got.value))),
            (Some(want), None) => Err(format!(
                "expected the live entry {}, got None",
                text(&want.value)
            )),
        }
    }

    async fn step(&mut self, op: &Op) -> Result<(), String> {
        let store = self.store;
        match *op {
            Op::Put {
                key,
                value,
                ttl_ms,
                mode,
                index,
            } => {
                let mut opts = PutOptions::new().mode(mode.put_mode());
                if let Some(t) = ttl_ms {
                    opts = opts.ttl(Duration::from_millis(t));
                }
                for ik in index {
                    opts = opts.index(*ik);
                }
                let got = store.put(key, value.as_bytes(), opts).await;
                self.put(key, value, ttl_ms, mode, index, got)
            }
            Op::Get { key } => {
                let got = ok(store.get(key).await)?;
                self.check_read(key, got)
            }
            Op::Take { key } => {
                let got = ok(store.take(key).await)?;
                let was_live = self.model.live(key).is_some();
                self.check_read(key, got)?;
                if was_live {
                    self.model.remove(key);
                }
                Ok(())
            }
            Op::Delete { key } => {
                let got = ok(store.delete(key).await)?;
                let want = self.model.live(key).is_some();
                self.model.remove(key);
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want}, got {got}"))
            }
            Op::Exists { key } => {
                let got = ok(store.exists(key).await)?;
                let want = self.model.live(key).is_some();
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want}, got {got}"))
            }
            Op::Touch { key, ttl_ms } => {
                let got = store.touch(key, Duration::from_millis(ttl_ms)).await;
                if ttl_ms == 0 {
                    return expect_err(got, Want::ZeroTtl, key);
                }
                let got = ok(got)?;
                let now = self.model.now;
                let want = match self.model.live_mut(key) {
                    Some(e) => {
                        e.expires_at = Some(now + ttl_ms);
                        true
                    }
                    None => false,
                };
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want}, got {got}"))
            }
            Op::Incr { key, delta, ttl_ms } => {
                let got = store
                    .incr(key, delta, ttl_ms.map(Duration::from_millis))
                    .await;
                self.incr(key, delta, ttl_ms, got)
            }
            Op::Gcra {
                key,
                interval_ms,
                burst,
                cost,
            } => {
                let params = authstore::GcraParams {
                    emission_interval: Duration::from_millis(interval_ms),
                    burst,
                    cost,
                };
                let got = store.gcra(key, params).await;
                self.gcra(key, interval_ms, burst, cost, got)
            }
            Op::ListIndex { index_key } => {
                let got = ok(store.list_index(index_key).await)?;
                let want = self.model.index(index_key);
                self.model.seen_index(index_key);
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want:?}, got {got:?}"))
            }
            Op::DeleteIndex { index_key } => {
                let got = ok(store.delete_index(index_key).await)?;
                let want = self.model.delete_index(index_key);
                (got == want)
                    .then_some(())
                    .ok_or_else(|| format!("expected {want}, got {got}"))
            }
            Op::Scan { prefix, limit } => self.scan(prefix, limit).await,
            Op::PurgeExpired { limit } => {
                let got = ok(store.purge_expired(limit).await)?;
                if got > limit as u64 {
                    return Err(format!("purged {got}, above the limit {limit}"));
                }
                if self.server {
                    // Redis expires entries itself; what it purges is its own upkeep.
                    return Ok(());
                }
                let (sure, all) = self.model.expired_counts();
                let (low, high) = (sure.min(limit as u64), all.min(limit as u64));
                if got < low || got > high {
                    return Err(format!(
                        "expected {low}..={high} purged ({sure} expired entries certainly stored, {all} possibly), got {got}"
                    ));
                }
                self.model.purged(got, limit);
                Ok(())
            }
            Op::Advance { ms } => {
                self.clock.advance(Duration::from_millis(ms));
                self.model.now += ms;
                Ok(())
            }
        }
    }
}
