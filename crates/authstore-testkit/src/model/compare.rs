//! How the store's answers are compared with the model's: exactly for an injected clock, within the elapsed time for a server's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authstore::GcraDecision;

use super::check::{Run, SERVER_AHEAD, ok, text};
use super::state::{self, Entry};

impl Run<'_> {
    /// Wall-clock time since the sequence started.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed().unwrap_or(Duration::ZERO)
    }

    /// Whether a remaining time the store reports matches the model's
    /// (exactly, or for a server clock within the time the sequence has run).
    pub(super) fn same_time(&self, model_ms: u64, actual: Duration) -> bool {
        let model = Duration::from_millis(model_ms);
        if !self.server {
            return actual == model;
        }
        // Redis scripts compute in doubles, exact up to 2^53 ms; beyond,
        // allow a few units in the last place.
        let ulps = Duration::from_millis(model_ms >> 50);
        let behind = self.elapsed() + SERVER_AHEAD + ulps;
        actual <= model + SERVER_AHEAD + ulps && actual + behind >= model
    }

    pub(super) fn check_ttl(
        &self,
        what: &str,
        model: Option<u64>,
        actual: Option<Duration>,
    ) -> Result<(), String> {
        match (model, actual) {
            (None, None) => Ok(()),
            (Some(m), Some(a)) if self.same_time(m, a) => Ok(()),
            _ if self.server => Err(format!(
                "{what}: expected a TTL of {model:?} ms, got {actual:?} ({:?} into the sequence)",
                self.elapsed()
            )),
            _ => Err(format!(
                "{what}: expected a TTL of {model:?} ms, got {actual:?}"
            )),
        }
    }

    /// The remaining time of an absolute expiry the store returned.
    pub(super) fn remaining(&self, at: SystemTime) -> Duration {
        let now = if self.server {
            SystemTime::now()
        } else {
            UNIX_EPOCH + Duration::from_millis(self.model.now)
        };
        at.duration_since(now).unwrap_or(Duration::ZERO)
    }

    /// Whether a stored number read off the server's clock matches the model's.
    pub(super) fn same_number(&self, want: i64, got: i64) -> bool {
        let ahead = i64::try_from((self.elapsed() + SERVER_AHEAD).as_millis()).unwrap_or(i64::MAX);
        got >= want.saturating_sub(2) && got <= want.saturating_add(ahead)
    }

    /// Whether a server-clock store's GCRA decision is the model's for some
    /// lag of the stored TAT behind the store's now of at most the time the
    /// sequence has taken (the TAT was read off the server's clock at an
    /// earlier call; the model's clock stands still). The lag is read back
    /// from `reset_after`, then the whole decision is compared at it.
    pub(super) fn server_gcra_fits(
        &self,
        got: &GcraDecision,
        stored: Option<u64>,
        now: u64,
        interval_ms: u64,
        burst: u32,
        cost: u32,
    ) -> bool {
        let most = i128::try_from((self.elapsed() + SERVER_AHEAD).as_millis()).unwrap_or(i128::MAX);
        let spent = i128::from(interval_ms) * i128::from(cost);
        let implied = stored.map_or(0, |t| {
            let tat = i128::from(t) + if got.allowed { spent } else { 0 };
            tat - i128::from(now) - i128::try_from(got.reset_after.as_millis()).unwrap_or(i128::MAX)
        });
        [0, implied.clamp(0, most)].into_iter().any(|lag| {
            let lag = u64::try_from(lag).unwrap_or(0);
            let (want, _) = state::gcra(
                stored.map(|t| t.saturating_sub(lag)),
                now,
                interval_ms,
                burst,
                cost,
            );
            // Redis scripts compute in doubles, exact up to 2^53 ms.
            let ulps = want.retry_after.max(want.reset_after).as_millis() >> 50;
            close(
                got,
                &want,
                Duration::from_millis(2 + u64::try_from(ulps).unwrap_or(0)),
            )
        })
    }

    /// Whether the bytes a store returned are the model entry's value.
    pub(super) fn same_value(&self, want: &Entry, got: &[u8]) -> bool {
        if want.clocked && self.server {
            let (Some(w), Some(g)) = (state::as_counter(&want.value), state::as_counter(got))
            else {
                return false;
            };
            return self.same_number(w, g);
        }
        got == &want.value[..]
    }

    /// Compares a returned entry with the model's live one.
    pub(super) fn check_entry(&self, want: &Entry, got: &authstore::Entry) -> Result<(), String> {
        if !self.same_value(want, &got.value) {
            return Err(format!(
                "value: expected {}, got {}",
                text(&want.value),
                text(&got.value)
            ));
        }
        if !want.counter && got.version != want.version {
            return Err(format!(
                "version: expected {}, got {}",
                want.version, got.version
            ));
        }
        let now = self.model.now;
        self.check_ttl(
            "expiry",
            want.remaining(now),
            got.expires_at.map(|at| self.remaining(at)),
        )
    }

    /// A whole paged scan, compared as a set of keys (no order is promised)
    /// with each entry's value, version, TTL and index keys.
    pub(super) async fn scan(&mut self, prefix: &str, limit: usize) -> Result<(), String> {
        let mut got: Vec<authstore::ScanEntry> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = ok(self.store.scan(prefix, cursor.as_deref(), limit).await)?;
            if page.entries.len() > limit {
                return Err(format!(
                    "a page of {} entries, above the limit {limit}",
                    page.entries.len()
                ));
            }
            got.extend(page.entries);
            pages += 1;
            match page.cursor {
                Some(next) if pages < 1_000 => cursor = Some(next),
                Some(_) => return Err("the scan did not end after 1000 pages".into()),
                None => break,
            }
        }
        got.sort_by(|a, b| a.key.cmp(&b.key));
        let before = got.len();
        got.dedup_by(|a, b| a.key == b.key);
        if got.len() != before && !self.repeats_allowed {
            return Err("the scan returned a key twice".into());
        }
        let want = self.model.scan(prefix);
        let want_keys: Vec<&str> = want.iter().map(|(k, _)| *k).collect();
        let got_keys: Vec<&str> = got.iter().map(|e| e.key.as_str()).collect();
        if want_keys != got_keys {
            return Err(format!("expected keys {want_keys:?}, got {got_keys:?}"));
        }
        let now = self.model.now;
        for ((key, want), got) in want.iter().zip(&got) {
            if !self.same_value(want, &got.value) {
                return Err(format!(
                    "{key}: expected {}, got {}",
                    text(&want.value),
                    text(&got.value)
                ));
            }
            if !want.counter && got.version != want.version {
                return Err(format!(
                    "{key}: expected version {}, got {}",
                    want.version, got.version
                ));
            }
            self.check_ttl(key, want.remaining(now), got.ttl)?;
            let mut want_ik = want.index_keys.clone();
            let mut got_ik = got.index_keys.clone();
            want_ik.sort();
            got_ik.sort();
            if want_ik != got_ik {
                return Err(format!(
                    "{key}: expected index keys {want_ik:?}, got {got_ik:?}"
                ));
            }
        }
        Ok(())
    }
}

/// Whether two decisions agree, times within `pad`.
fn close(a: &GcraDecision, b: &GcraDecision, pad: Duration) -> bool {
    let near = |x: Duration, y: Duration| x <= y + pad && y <= x + pad;
    a.allowed == b.allowed
        && a.remaining == b.remaining
        && near(a.retry_after, b.retry_after)
        && near(a.reset_after, b.reset_after)
}
