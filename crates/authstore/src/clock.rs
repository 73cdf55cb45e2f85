//! Injected time: the [`Clock`] trait, the real [`SystemClock`], the cheaper [`CoarseClock`] and a test [`FakeClock`].

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
///
/// Every store and module reads time only through a `Clock`, so tests can
/// replace it with a [`FakeClock`] and move time forward instead of sleeping.
/// Time is kept in milliseconds everywhere in authstore.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;

    /// The current time as a [`SystemTime`].
    fn now(&self) -> SystemTime {
        millis_to_system_time(self.now_millis())
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        system_time_to_millis(SystemTime::now())
    }
}

/// The operating system's wall clock as of the kernel's last timer tick:
/// `CLOCK_REALTIME_COARSE` on Linux, about 2 ns a read through the vDSO
/// against about 25 ns for [`SystemClock`], at the price of a 1–4 ms
/// resolution (the kernel's tick). Elsewhere it is [`SystemClock`].
///
/// The stores read time through it by default ([`open`](crate::open),
/// [`MemoryStore::builder`](crate::MemoryStore::builder)): it is on the path
/// of every call, including the rate limiter's check, and expiry deadlines
/// and rate-limit state need no finer time than a few milliseconds. Give a
/// store [`SystemClock`] where every millisecond counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoarseClock;

impl Clock for CoarseClock {
    #[inline]
    fn now_millis(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
            let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
            let millis = u64::try_from(ts.tv_nsec / 1_000_000).unwrap_or(0);
            secs.saturating_mul(1000).saturating_add(millis)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            SystemClock.now_millis()
        }
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use authstore::{Clock, FakeClock};
/// use std::time::Duration;
///
/// let clock = FakeClock::new();
/// let shared = clock.clone();
/// let before = clock.now_millis();
/// shared.advance(Duration::from_secs(5));
/// assert_eq!(clock.now_millis(), before + 5_000);
/// ```
#[derive(Debug, Clone)]
pub struct FakeClock {
    millis: Arc<AtomicU64>,
}

impl FakeClock {
    /// A fake clock starting at the current system time.
    pub fn new() -> Self {
        Self::at_millis(SystemClock.now_millis())
    }

    /// A fake clock starting at `millis` since the Unix epoch.
    pub fn at_millis(millis: u64) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// Moves time forward by `by` (rounded down to whole milliseconds).
    pub fn advance(&self, by: Duration) {
        self.millis
            .fetch_add(duration_to_millis(by), Ordering::SeqCst);
    }

    /// Sets the time to `millis` since the Unix epoch (it may move backwards).
    pub fn set_millis(&self, millis: u64) {
        self.millis.store(millis, Ordering::SeqCst);
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }
}

/// A shared, type-erased clock as stores hold it.
pub type SharedClock = Arc<dyn Clock>;

impl Clock for SharedClock {
    fn now_millis(&self) -> u64 {
        (**self).now_millis()
    }
}

/// `clock` as a [`SharedClock`]: a clock that already is one (such as
/// [`Store::clock`](crate::Store::clock)'s answer) is kept as it is rather
/// than wrapped in a second `Arc`.
pub(crate) fn share(clock: impl Clock) -> SharedClock {
    let mut slot = Some(clock);
    if let Some(shared) =
        (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<SharedClock>>()
        && let Some(shared) = shared.take()
    {
        return shared;
    }
    match slot {
        Some(clock) => Arc::new(clock),
        None => unreachable!("only a SharedClock is taken out of the slot"),
    }
}

/// Converts a duration to whole milliseconds, saturating at `u64::MAX`.
pub(crate) fn duration_to_millis(d: Duration) -> u64 {
    // Without the u128 arithmetic of `as_millis`: the rate limiter's path
    // converts durations on every check.
    d.as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(d.subsec_millis()))
}

/// Milliseconds since the epoch for `t`; times before the epoch map to 0.
pub(crate) fn system_time_to_millis(t: SystemTime) -> u64 {
    // Seconds and sub-second millis avoid the u128 arithmetic of `as_millis`
    // on this path, which every store call takes.
    t.duration_since(UNIX_EPOCH)
        .map(|d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        })
        .unwrap_or(0)
}

/// The [`SystemTime`] `millis` after the epoch.
pub(crate) fn millis_to_system_time(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_clones_share_time_and_advance() {
        let a = FakeClock::at_millis(1_000);
        let b = a.clone();
        b.advance(Duration::from_millis(250));
        assert_eq!(a.now_millis(), 1_250);
        a.set_millis(10);
        assert_eq!(b.now_millis(), 10);
        assert_eq!(b.now(), UNIX_EPOCH + Duration::from_millis(10));
    }

    #[test]
    fn sharing_a_shared_clock_keeps_it() {
        let shared: SharedClock = Arc::new(FakeClock::at_millis(7));
        assert!(Arc::ptr_eq(&share(Arc::clone(&shared)), &shared));
        let fresh = share(FakeClock::at_millis(9));
        assert_eq!(fresh.now_millis(), 9);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
    }

    #[test]
    fn the_coarse_clock_is_the_system_clock_within_its_resolution() {
        for _ in 0..1000 {
            let before = SystemClock.now_millis();
            let coarse = CoarseClock.now_millis();
            let after = SystemClock.now_millis();
            // One kernel tick (at most 10 ms, at HZ=100) behind, never ahead.
            assert!(
                coarse <= after && coarse + 10 >= before,
                "{before} {coarse} {after}"
            );
        }
    }
}
