//! A directly spawned server process and its watchdog, shared by the guards
//! that own their server's [`Child`] ([`RedisServer`](super::redis::RedisServer),
//! [`RedisTlsServer`](super::redis_tls::RedisTlsServer)).

use std::io;
use std::process::Child;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Watchdog, wait_until};

/// A server's [`Child`] (behind a mutex, so the guard stays `Sync` while
/// `&self` methods can poll it) and the [`Watchdog`] that kills it if this
/// process dies first. Either may be absent. Dropping it neither kills nor
/// reaps the child: the owning guard's `Drop` calls [`kill`](Self::kill).
#[derive(Debug, Default)]
pub(crate) struct ManagedProcess {
    child: Mutex<Option<Child>>,
    watchdog: Option<Watchdog>,
}

impl ManagedProcess {
    /// Stores a freshly spawned child, replacing any previous one.
    pub(crate) fn set_child(&mut self, child: Child) {
        *self.slot() = Some(child);
    }

    /// Arms `watchdog` for the current child, replacing (disarming) any previous one.
    pub(crate) fn set_watchdog(&mut self, watchdog: Watchdog) {
        self.watchdog = Some(watchdog);
    }

    /// Locks the child slot, ignoring poisoning.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The child slot, without locking.
    pub(crate) fn slot(&mut self) -> &mut Option<Child> {
        self.child.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the child is alive (it may still be starting).
    pub(crate) fn is_running(&self) -> bool {
        self.lock()
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The process id of the child, if it is alive.
    pub(crate) fn pid(&self) -> Option<u32> {
        let mut slot = self.lock();
        let child = slot.as_mut()?;
        matches!(child.try_wait(), Ok(None)).then(|| child.id())
    }

    /// Runs `graceful` (which should make the child exit) if the child is
    /// alive, waits up to `timeout` for it to exit, kills it if it has not,
    /// and then [reaps](Self::reap) it. Does nothing if there is no child.
    pub(crate) fn stop_with(
        &mut self,
        graceful: impl FnOnce(),
        timeout: Duration,
    ) -> io::Result<()> {
        let Some(child) = self.slot().as_mut() else {
            return Ok(());
        };
        if child.try_wait()?.is_none() {
            graceful();
            if !wait_until(timeout, || !matches!(child.try_wait(), Ok(None))) {
                child.kill()?;
            }
        }
        self.reap()
    }

    /// Kills the child with SIGKILL, if any, and [reaps](Self::reap) it.
    pub(crate) fn kill(&mut self) -> io::Result<()> {
        if let Some(child) = self.slot().as_mut() {
            child.kill()?;
        }
        self.reap()
    }

    /// Waits for the (exited or killed) child and disarms its watchdog.
    pub(crate) fn reap(&mut self) -> io::Result<()> {
        let result = match self.slot().take() {
            Some(mut child) => child.wait().map(drop),
            None => Ok(()),
        };
        self.watchdog = None;
        result
    }
}
