//! The background thread that purges expired entries at a fixed interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::clock::SharedClock;

#[derive(Debug)]
struct Control {
    stop: Mutex<bool>,
    wake: Condvar,
    clock: Mutex<SharedClock>,
    thread: Mutex<Option<JoinHandle<()>>>,
    runs: AtomicU64,
}

/// Handle on the sweeper thread. The thread holds only a weak reference to
/// what it sweeps, so it never keeps a dropped store alive.
#[derive(Debug)]
pub(crate) struct Sweeper {
    ctl: Arc<Control>,
}

impl Sweeper {
    pub(crate) fn new(clock: SharedClock) -> Self {
        Self {
            ctl: Arc::new(Control {
                stop: Mutex::new(false),
                wake: Condvar::new(),
                clock: Mutex::new(clock),
                thread: Mutex::new(None),
                runs: AtomicU64::new(0),
            }),
        }
    }

    /// Starts the thread: every `every`, `work(owner, now_ms)` runs while the
    /// owner is alive and no stop was signalled.
    pub(crate) fn start<T: Send + Sync + 'static>(
        &self,
        owner: Weak<T>,
        every: Duration,
        work: fn(&T, u64) -> u64,
    ) {
        let ctl = Arc::clone(&self.ctl);
        let spawned = std::thread::Builder::new()
            .name("authstore-sweeper".into())
            .spawn(move || {
                loop {
                    {
                        let mut stop = ctl.stop.lock();
                        if !*stop {
                            ctl.wake.wait_for(&mut stop, every);
                        }
                        if *stop {
                            return;
                        }
                    }
                    let Some(owner) = owner.upgrade() else {
                        return;
                    };
                    let now = ctl.clock.lock().now_millis();
                    work(&owner, now);
                    ctl.runs.fetch_add(1, Ordering::Relaxed);
                }
            });
        // If the OS refuses a thread the store still works: expiry stays
        // correct on reads and cleanup() can be called by hand.
        if let Ok(handle) = spawned {
            *self.ctl.thread.lock() = Some(handle);
        }
    }

    pub(crate) fn set_clock(&self, clock: SharedClock) {
        *self.ctl.clock.lock() = clock;
    }

    /// Asks the thread to stop without waiting for it.
    pub(crate) fn signal_stop(&self) {
        *self.ctl.stop.lock() = true;
        self.ctl.wake.notify_all();
    }

    /// Stops the thread and waits until it has exited.
    pub(crate) fn stop_and_join(&self) {
        self.signal_stop();
        let handle = self.ctl.thread.lock().take();
        if let Some(handle) = handle
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
    }

    pub(crate) fn runs(&self) -> u64 {
        self.ctl.runs.load(Ordering::Relaxed)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.ctl
            .thread
            .lock()
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }
}
