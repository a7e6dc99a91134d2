//! A cheap clock for in-process state: the CPU's time-stamp counter anchored to the wall clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reel_core::Clock;

/// A [`Clock`] that reads the CPU's time-stamp counter (through `quanta`) instead of asking the
/// operating system, anchored to the system clock when created.
///
/// Reading it costs a few nanoseconds where `SystemTime::now` can cost around a hundred on a
/// virtual machine, which matters when a decision takes tens of nanoseconds. It is monotonic and
/// ignores later wall-clock steps, and drifts from the wall clock by the counter's calibration
/// error (parts per million): right for state that stays in one process, which is why
/// [`MemoryStore`](crate::MemoryStore) uses it by default. Stores shared between processes use
/// the server's or the system clock.
///
/// ```
/// use reel_core::{Clock, SystemClock};
/// use reel_ratelimit::FastClock;
///
/// let fast = FastClock::new();
/// let drift = fast.unix_nanos().abs_diff(SystemClock.unix_nanos());
/// assert!(drift < 1_000_000_000);
/// ```
#[derive(Debug, Clone)]
pub struct FastClock {
    counter: quanta::Clock,
    anchor_raw: u64,
    anchor_system: SystemTime,
    anchor_instant: Instant,
    anchor_unix_nanos: u64,
}

impl FastClock {
    /// A clock anchored to the current system time.
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        let anchor_system = SystemTime::now();
        let anchor_instant = Instant::now();
        let anchor_raw = counter.raw();
        let anchor_unix_nanos = anchor_system
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self {
            counter,
            anchor_raw,
            anchor_system,
            anchor_instant,
            anchor_unix_nanos,
        }
    }

    fn elapsed_nanos(&self) -> u64 {
        self.counter
            .delta_as_nanos(self.anchor_raw, self.counter.raw())
    }
}

impl Default for FastClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FastClock {
    fn system_time(&self) -> SystemTime {
        self.anchor_system + Duration::from_nanos(self.elapsed_nanos())
    }

    fn instant(&self) -> Instant {
        self.anchor_instant + Duration::from_nanos(self.elapsed_nanos())
    }

    fn unix_nanos(&self) -> u64 {
        self.anchor_unix_nanos.saturating_add(self.elapsed_nanos())
    }
}
