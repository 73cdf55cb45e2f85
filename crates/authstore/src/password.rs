//! argon2id hashing of passwords and client secrets, off the async threads, at most one per core at a time with a bounded queue of waiters, with a dummy hash so unknown names cost the same as known ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// How long a caller refused by a full queue should wait before trying again.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The hasher's queue is full: as many callers already wait for a core as
/// it admits. Returned inside [`Error::Backend`] (backend `"argon2"`), so
/// every caller that maps store failures to `503 Service Unavailable` does
/// the same for it; [`HasherBusy::is`] tells it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{max_waiting} secret checks are already waiting for a core; try again shortly")]
pub struct HasherBusy {
    /// The queue bound that was reached.
    pub max_waiting: usize,
}

impl HasherBusy {
    /// Whether `error` is a full hasher queue.
    pub fn is(error: &Error) -> bool {
        matches!(error, Error::Backend { backend: "argon2", source } if source.downcast_ref::<Self>().is_some())
    }
}

/// The default bound on waiting callers: eight per core, at least 16. With
/// argon2id's default cost (about 25 ms a run) a caller that gets in waits
/// at most about 0.2 s for its turn.
pub fn default_max_waiting() -> usize {
    (8 * cores()).max(16)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// argon2id with fixed parameters. Cheap to clone.
///
/// Clones share a limit of one hash or verification running per core
/// (`std::thread::available_parallelism`); more wait their turn, up to a
/// bound ([`default_max_waiting`], or [`with_max_waiting`](Self::with_max_waiting)).
/// Past it a call fails at once with [`HasherBusy`] instead of queueing, so
/// a flood of secret checks cannot make every caller wait seconds. Each run
/// allocates its memory cost (19 MiB by default), so without the limit a
/// burst of N logins would take N times that at once and slow every one of
/// them down, while the CPU can only finish one per core anyway.
#[derive(Clone)]
pub struct SecretHasher {
    argon: Arc<Argon2<'static>>,
    running: Arc<Semaphore>,
    queue: Arc<Queue>,
    /// Verified against when there is no stored hash, so both paths cost the same.
    dummy_hash: Arc<str>,
}

/// Who waits for a core, and how many runs were started.
#[derive(Debug)]
struct Queue {
    max_waiting: AtomicUsize,
    waiting: AtomicUsize,
    runs: AtomicU64,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher")
            .field("params", self.argon.params())
            .field("max_waiting", &self.max_waiting())
            .finish_non_exhaustive()
    }
}

fn salt() -> Result<SaltString> {
    SaltString::encode_b64(&crate::secret::random_bytes()?[..16])
        .map_err(|e| Error::internal("argon2 salt encoding", e.to_string()))
}

/// Counts a waiting caller until it gets its turn or gives up.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl SecretHasher {
    /// argon2id with `memory_kib` KiB, `iterations` passes and `parallelism`
    /// lanes, admitting [`default_max_waiting`] waiting callers.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for parameters out of range;
    /// [`Error::Internal`] if argon2 or the OS random generator fails.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|_| Error::InvalidArgument("argon2 parameters out of range"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"authstore-dummy-secret", &salt()?)
            .map_err(|e| Error::internal("argon2 hashing", e.to_string()))?
            .to_string();
        Ok(Self {
            argon: Arc::new(argon),
            running: Arc::new(Semaphore::new(cores())),
            queue: Arc::new(Queue {
                max_waiting: AtomicUsize::new(default_max_waiting()),
                waiting: AtomicUsize::new(0),
                runs: AtomicU64::new(0),
            }),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The same hasher admitting at most `max_waiting` callers waiting for
    /// a core (0: none; a call that finds every core busy fails at once).
    /// Clones made before share the new bound.
    #[must_use]
    pub fn with_max_waiting(self, max_waiting: usize) -> Self {
        self.queue.max_waiting.store(max_waiting, Ordering::Release);
        self
    }

    /// The bound on waiting callers.
    pub fn max_waiting(&self) -> usize {
        self.queue.max_waiting.load(Ordering::Acquire)
    }

    /// Callers waiting for a core now.
    pub fn waiting(&self) -> usize {
        self.queue.waiting.load(Ordering::Acquire)
    }

    /// argon2id runs started since the hasher was made (hashes and
    /// verifications, the dummy ones included).
    pub fn runs(&self) -> u64 {
        self.queue.runs.load(Ordering::Acquire)
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `secret`, hashed on a blocking thread.
    ///
    /// # Errors
    /// [`HasherBusy`] (as [`Error::Backend`]) when the queue is full;
    /// [`Error::Internal`] if argon2 or the blocking task fails.
    pub async fn hash(&self, secret: &str) -> Result<String> {
        let (argon, secret, salt) = (Arc::clone(&self.argon), secret.to_owned(), salt()?);
        let turn = self.turn().await?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            argon
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::internal("argon2 hashing", e.to_string()))
        })
        .await
        .map_err(|e| Error::internal("argon2 hashing", e))?
    }

    /// Whether `secret` matches `hash` (argon2's verification is constant
    /// time). With `None` it checks against a dummy hash and returns
    /// `false`, at the same cost.
    ///
    /// # Errors
    /// [`HasherBusy`] (as [`Error::Backend`]) when the queue is full;
    /// [`Error::Corrupt`] for a stored hash that is not a PHC string;
    /// [`Error::Internal`] if the blocking task fails.
    pub async fn verify(&self, hash: Option<&str>, secret: &str) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let (argon, secret) = (Arc::clone(&self.argon), secret.to_owned());
        let turn = self.turn().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let parsed = PasswordHash::new(&hash)
                .map_err(|_| Error::corrupt(None, "stored secret hash is not a PHC string"))?;
            Ok::<_, Error>(argon.verify_password(secret.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| Error::internal("argon2 verification", e))??;
        Ok(known && matched)
    }

    /// Takes every core's turn until the returned guard is dropped, so that
    /// callers queue meanwhile: for tests that need a busy hasher.
    #[doc(hidden)]
    pub async fn occupy(&self) -> Result<OwnedSemaphorePermit> {
        let all = u32::try_from(cores()).unwrap_or(u32::MAX);
        Arc::clone(&self.running)
            .acquire_many_owned(all)
            .await
            .map_err(|e| Error::internal("the argon2 run limiter", e))
    }

    /// Waits for a free core, or fails at once with [`HasherBusy`] when
    /// `max_waiting` callers already wait. The permit moves into the
    /// blocking task, so a caller that gives up does not free the core
    /// before the work ends.
    async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        let permit = match Arc::clone(&self.running).try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let max = self.max_waiting();
                let admitted = self
                    .queue
                    .waiting
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                        (w < max).then_some(w + 1)
                    })
                    .is_ok();
                if !admitted {
                    return Err(Error::backend("argon2", HasherBusy { max_waiting: max }));
                }
                let _waiting = Waiting(&self.queue.waiting);
                Arc::clone(&self.running)
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::internal("the argon2 run limiter", e))?
            }
            Err(e) => return Err(Error::internal("the argon2 run limiter", e)),
        };
        self.queue.runs.fetch_add(1, Ordering::AcqRel);
        Ok(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> SecretHasher {
        SecretHasher::new(8, 1, 1).unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_freed_one_admits_again() {
        let hasher = cheap().with_max_waiting(1);
        let hash = hasher.hash("s").await.unwrap();
        assert_eq!(hasher.runs(), 1);
        let held = hasher.occupy().await.unwrap();
        let waiter = {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            tokio::spawn(async move { hasher.verify(Some(&hash), "s").await })
        };
        while hasher.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let refused = hasher.verify(Some(&hash), "s").await.unwrap_err();
        assert!(HasherBusy::is(&refused), "{refused:?}");
        assert!(!HasherBusy::is(&Error::backend("argon2", "other")));
        assert_eq!(hasher.runs(), 1, "the refused call ran nothing");
        drop(held);
        assert!(waiter.await.unwrap().unwrap(), "the admitted waiter ran");
        assert_eq!(hasher.waiting(), 0);
        assert!(hasher.verify(Some(&hash), "s").await.unwrap());
        assert_eq!(hasher.runs(), 3);
    }

    #[tokio::test]
    async fn no_waiting_at_all_when_the_bound_is_zero() {
        let hasher = cheap().with_max_waiting(0);
        let held = hasher.occupy().await.unwrap();
        let refused = hasher.hash("s").await.unwrap_err();
        assert!(HasherBusy::is(&refused));
        drop(held);
        assert!(hasher.hash("s").await.is_ok());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_the_queue() {
        let hasher = cheap().with_max_waiting(1);
        let held = hasher.occupy().await.unwrap();
        let waiter = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("s").await })
        };
        while hasher.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(hasher.waiting(), 0, "the cancelled caller left its place");
        drop(held);
    }

    #[test]
    fn the_default_bound_scales_with_cores() {
        assert!(default_max_waiting() >= 16);
        assert_eq!(cheap().max_waiting(), default_max_waiting());
    }
}
