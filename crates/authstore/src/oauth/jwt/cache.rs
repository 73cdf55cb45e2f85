//! The loaded private keys of the current signing keys, kept in this process so that signing does not decrypt and parse a key (costly for RSA) every time.

use std::sync::Arc;

use parking_lot::Mutex;

use super::alg::{SigningAlg, SigningPair};

/// How long a loaded key is used before its record is read again (ms).
/// The current-key pointer is read on every signature regardless, so a
/// rotation by another instance takes effect at once; this bounds how long
/// a key whose record changed behind the pointer's back keeps signing.
const RELOAD_AFTER_MS: u64 = 5 * 60 * 1000;

/// At most one loaded key per algorithm: the current one.
#[derive(Default)]
pub(in crate::oauth) struct KeyCache {
    keys: Mutex<Vec<Cached>>,
}

struct Cached {
    kid: String,
    alg: SigningAlg,
    pair: Arc<SigningPair>,
    loaded_at: u64,
}

impl KeyCache {
    /// The loaded key `kid`, unless it was loaded too long ago.
    pub(super) fn get(&self, kid: &str, now_ms: u64) -> Option<Arc<SigningPair>> {
        self.keys
            .lock()
            .iter()
            .find(|c| c.kid == kid && now_ms.saturating_sub(c.loaded_at) < RELOAD_AFTER_MS)
            .map(|c| Arc::clone(&c.pair))
    }

    /// Keeps `pair` as the loaded key of `alg`, replacing the one before.
    pub(super) fn put(&self, kid: &str, alg: SigningAlg, pair: Arc<SigningPair>, now_ms: u64) {
        let mut keys = self.keys.lock();
        keys.retain(|c| c.alg != alg);
        keys.push(Cached {
            kid: kid.to_owned(),
            alg,
            pair,
            loaded_at: now_ms,
        });
    }

    /// Drops the loaded key `kid` (rotated out by this process).
    pub(super) fn forget(&self, kid: &str) {
        self.keys.lock().retain(|c| c.kid != kid);
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("loaded", &self.keys.lock().len())
            .finish_non_exhaustive()
    }
}
