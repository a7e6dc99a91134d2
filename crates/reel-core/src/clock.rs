//! Wall-clock and monotonic time behind a trait, so that time-dependent code can be tested
//! deterministically.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time.
///
/// Code that needs the time takes a clock instead of calling [`SystemTime::now`] or
/// [`Instant::now`] directly; production passes [`SystemClock`], tests pass a
/// [`ManualClock`] they advance by hand.
///
/// Both readings move together: [`ManualClock::advance`] moves the wall clock and the monotonic
/// clock by the same amount.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current wall-clock time. Use it for anything shared between processes or machines
    /// (rate-limit state in a cache, signed URL expiry).
    fn system_time(&self) -> SystemTime;

    /// The current monotonic time. Use it to measure intervals inside one process.
    fn instant(&self) -> Instant;

    /// Nanoseconds since the Unix epoch; `0` for a time before the epoch and `u64::MAX` past
    /// the year 2554.
    fn unix_nanos(&self) -> u64 {
        self.system_time()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    /// Whole seconds since the Unix epoch; `0` for a time before the epoch.
    fn unix_seconds(&self) -> u64 {
        self.system_time()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock shared between components, as most reel types store it.
pub type SharedClock = Arc<dyn Clock>;

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn system_time(&self) -> SystemTime {
        (**self).system_time()
    }
    fn instant(&self) -> Instant {
        (**self).instant()
    }
}

/// The operating system's clocks.
///
/// ```
/// use reel_core::{Clock, SystemClock};
/// assert!(SystemClock.unix_seconds() > 1_700_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use reel_core::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(Duration::from_secs(1_000));
/// let shared = clock.clone();
/// shared.advance(Duration::from_millis(1_500));
/// assert_eq!(clock.unix_nanos(), 1_001_500_000_000);
/// assert_eq!(clock.system_time(), UNIX_EPOCH + Duration::from_millis(1_001_500));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    base_instant: Instant,
    base_system: SystemTime,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    /// A manual clock that starts at the current system time.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::now())
    }

    /// A manual clock whose wall-clock reading starts `since_epoch` after the Unix epoch.
    pub fn at_unix(since_epoch: Duration) -> Self {
        Self::starting_at(UNIX_EPOCH + since_epoch)
    }

    fn starting_at(base_system: SystemTime) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                base_instant: Instant::now(),
                base_system,
                offset_nanos: AtomicU64::new(0),
            }),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.inner.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }

    /// How far the clock has been advanced since it was created.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.inner.offset_nanos.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("system_time", &self.system_time())
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

impl Clock for ManualClock {
    fn system_time(&self) -> SystemTime {
        self.inner.base_system + self.elapsed()
    }
    fn instant(&self) -> Instant {
        self.inner.base_instant + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::at_unix(Duration::from_secs(10));
        let t0 = clock.instant();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.instant(), t0);
        assert_eq!(clock.unix_seconds(), 10);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.instant() - t0, Duration::from_secs(2));
        assert_eq!(clock.unix_seconds(), 12);
    }

    #[test]
    fn clones_share_time_and_arc_delegates() {
        let clock = ManualClock::at_unix(Duration::ZERO);
        let shared: SharedClock = Arc::new(clock.clone());
        clock.advance(Duration::from_nanos(42));
        assert_eq!(shared.unix_nanos(), 42);
    }

    #[test]
    fn system_clock_is_after_2023() {
        assert!(SystemClock.unix_nanos() > 1_700_000_000_000_000_000);
        let a = SystemClock.instant();
        assert!(SystemClock.instant() >= a);
    }
}
