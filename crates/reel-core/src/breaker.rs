//! A circuit breaker: stop calling a backend that keeps failing, probe it one call at a time,
//! and resume when it answers.
//!
//! [`CircuitBreaker`] has three states ([`BreakerState`]):
//!
//! - **closed** — calls go through; `failure_threshold` consecutive failures (a timeout is a
//!   failure) open it;
//! - **open** — calls are refused at once ([`BreakerOpen`]) for a cool-down; the cool-down grows
//!   by a multiplier each time the breaker re-opens without having closed in between (a backend
//!   that keeps failing is probed less and less often), up to a maximum;
//! - **half-open** — after the cool-down exactly one call, the *probe*, is let through while
//!   every other caller is still refused; its success closes the breaker (and resets the
//!   cool-down), its failure opens it again.
//!
//! Time comes from a [`Clock`], so tests drive the cool-down with a
//! [`ManualClock`](crate::ManualClock). The closed path is two atomic loads per call and no
//! lock; the lock is taken only on state changes and by the caller that becomes the probe.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Jitter};
use crate::clock::{Clock, SharedClock, SystemClock};

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call is (or may be) in flight; every other call is refused.
    HalfOpen,
}

impl BreakerState {
    /// The state as a number for a gauge: `0` closed, `1` open, `2` half-open.
    pub fn as_gauge(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }

    /// The state's name: `closed`, `open` or `half_open` (a metric label value).
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A change of a [`CircuitBreaker`]'s state, as given to the
/// [`on_transition`](CircuitBreakerBuilder::on_transition) callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state before.
    pub from: BreakerState,
    /// The state after.
    pub to: BreakerState,
    /// When the new state is [`BreakerState::Open`]: how long it stays open before a probe.
    pub cool_down: Option<Duration>,
}

/// The error of [`CircuitBreaker::try_acquire`]: the breaker refuses the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerOpen {
    /// The breaker's state: open, or half-open with a probe in flight.
    pub state: BreakerState,
    /// How long until a probe may be sent; zero when half-open (the probe in flight decides).
    pub retry_in: Duration,
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            BreakerState::HalfOpen => write!(
                f,
                "circuit breaker is half-open and a probe is in flight; the backend is not called until it answers"
            ),
            _ => write!(
                f,
                "circuit breaker is open after repeated backend failures; next probe in {:?}",
                self.retry_in
            ),
        }
    }
}

impl std::error::Error for BreakerOpen {}

/// Counters of a [`CircuitBreaker`] since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerStats {
    /// The current state.
    pub state: BreakerState,
    /// Failures since the last success while closed.
    pub consecutive_failures: u32,
    /// Times the breaker opened (from closed or after a failed probe).
    pub opened: u64,
    /// Calls refused because the breaker was open or a probe was in flight.
    pub rejected: u64,
    /// Probes sent.
    pub probes: u64,
}

type Listener = Arc<dyn Fn(Transition) + Send + Sync>;

/// Builds a [`CircuitBreaker`]; see [`CircuitBreaker::builder`].
#[must_use]
pub struct CircuitBreakerBuilder {
    failure_threshold: u32,
    cool_down: Duration,
    max_cool_down: Duration,
    multiplier: f64,
    clock: SharedClock,
    listeners: Vec<Listener>,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("failure_threshold", &self.failure_threshold)
            .field("cool_down", &self.cool_down)
            .field("max_cool_down", &self.max_cool_down)
            .field("multiplier", &self.multiplier)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(1),
            max_cool_down: Duration::from_secs(30),
            multiplier: 2.0,
            clock: Arc::new(SystemClock),
            listeners: Vec::new(),
        }
    }
}

impl CircuitBreakerBuilder {
    /// Consecutive failures (timeouts included) that open the breaker. Default 5; `0` is
    /// taken as 1.
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// How long the breaker stays open the first time. Default 1 s.
    pub fn cool_down(mut self, cool_down: Duration) -> Self {
        self.cool_down = cool_down;
        self
    }

    /// The longest cool-down, however often the probe fails. Default 30 s; a value below
    /// the cool-down is raised to it.
    pub fn max_cool_down(mut self, max: Duration) -> Self {
        self.max_cool_down = max;
        self
    }

    /// The factor by which the cool-down grows each time a probe fails. Default 2; values
    /// below 1 are taken as 1 (a constant cool-down).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// The clock that times the cool-down (tests pass a [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Adds a callback run on every state change (for logs and metrics); each call adds one
    /// more. It runs while the breaker's state lock is held: keep it short and do not call the
    /// breaker from it.
    pub fn on_transition(mut self, listener: impl Fn(Transition) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// The breaker, closed.
    pub fn build(self) -> CircuitBreaker {
        let backoff = Backoff::new(self.cool_down, self.max_cool_down.max(self.cool_down))
            .with_multiplier(self.multiplier)
            .with_jitter(Jitter::None);
        let base = self.clock.instant();
        CircuitBreaker {
            inner: Arc::new(Inner {
                state: AtomicU8::new(BreakerState::Closed.as_gauge()),
                consecutive_failures: AtomicU32::new(0),
                open_until_nanos: AtomicU64::new(0),
                opened: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                probes: AtomicU64::new(0),
                slow: Mutex::new(Slow {
                    reopenings: 0,
                    probe_in_flight: false,
                }),
                failure_threshold: self.failure_threshold,
                backoff,
                clock: self.clock,
                base,
                listeners: self.listeners,
            }),
        }
    }
}

/// A circuit breaker in front of a backend; see the [module documentation](self).
///
/// Cheap to clone; clones share the state.
///
/// ```
/// use std::time::Duration;
/// use reel_core::ManualClock;
/// use reel_core::breaker::{BreakerState, CircuitBreaker};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::builder()
///     .failure_threshold(2)
///     .cool_down(Duration::from_secs(1))
///     .clock(clock.clone())
///     .build();
///
/// // Two failures in a row open it.
/// breaker.try_acquire().unwrap().failure();
/// breaker.try_acquire().unwrap().failure();
/// assert_eq!(breaker.state(), BreakerState::Open);
/// assert!(breaker.try_acquire().is_err()); // refused at once, the backend is not called
///
/// // After the cool-down one probe goes through; everyone else is still refused.
/// clock.advance(Duration::from_secs(1));
/// let probe = breaker.try_acquire().unwrap();
/// assert!(probe.is_probe());
/// assert!(breaker.try_acquire().is_err());
/// probe.success();
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicU8,
    consecutive_failures: AtomicU32,
    /// End of the current cool-down, in nanoseconds after `base`.
    open_until_nanos: AtomicU64,
    opened: AtomicU64,
    rejected: AtomicU64,
    probes: AtomicU64,
    slow: Mutex<Slow>,
    failure_threshold: u32,
    backoff: Backoff,
    clock: SharedClock,
    base: Instant,
    listeners: Vec<Listener>,
}

/// The part of the state changed only under the lock.
struct Slow {
    /// How many times the breaker re-opened since it last closed (grows the cool-down).
    reopenings: u32,
    probe_in_flight: bool,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("stats", &self.stats())
            .field("failure_threshold", &self.inner.failure_threshold)
            .field("backoff", &self.inner.backoff)
            .finish()
    }
}

impl Default for CircuitBreaker {
    /// Opens after 5 consecutive failures, 1 s cool-down doubling up to 30 s, system clock.
    fn default() -> Self {
        Self::builder().build()
    }
}

impl CircuitBreaker {
    /// A builder with the defaults: 5 consecutive failures, 1 s cool-down doubling up to 30 s,
    /// the system clock.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.inner.state.load(Ordering::Acquire))
    }

    /// The counters so far.
    pub fn stats(&self) -> BreakerStats {
        let inner = &self.inner;
        BreakerStats {
            state: self.state(),
            consecutive_failures: inner.consecutive_failures.load(Ordering::Relaxed),
            opened: inner.opened.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            probes: inner.probes.load(Ordering::Relaxed),
        }
    }

    /// Asks to call the backend. `Ok` carries a [`Permit`] on which the caller reports the
    /// outcome ([`Permit::success`] / [`Permit::failure`]); `Err` means: do not call, apply
    /// your fallback now.
    ///
    /// When the cool-down has ended, the first caller gets the probe permit and the breaker
    /// turns half-open; until that probe reports, every other caller is refused.
    pub fn try_acquire(&self) -> Result<Permit<'_>, BreakerOpen> {
        let inner = &self.inner;
        match self.state() {
            BreakerState::Closed => Ok(Permit::new(self, false)),
            BreakerState::Open => {
                let now = inner.now_nanos();
                let until = inner.open_until_nanos.load(Ordering::Acquire);
                if now < until {
                    return Err(self.refuse(BreakerState::Open, until - now));
                }
                self.try_probe()
            }
            BreakerState::HalfOpen => self.try_probe(),
        }
    }

    /// Takes the lock and becomes the probe if the cool-down has ended and no probe is in
    /// flight.
    fn try_probe(&self) -> Result<Permit<'_>, BreakerOpen> {
        let inner = &self.inner;
        let mut slow = inner.lock();
        match self.state() {
            // Closed by a probe that finished while we waited for the lock.
            BreakerState::Closed => Ok(Permit::new(self, false)),
            BreakerState::Open => {
                let now = inner.now_nanos();
                let until = inner.open_until_nanos.load(Ordering::Acquire);
                if now < until {
                    drop(slow);
                    return Err(self.refuse(BreakerState::Open, until - now));
                }
                slow.probe_in_flight = true;
                inner.set_state(BreakerState::HalfOpen, BreakerState::Open, None);
                inner.probes.fetch_add(1, Ordering::Relaxed);
                Ok(Permit::new(self, true))
            }
            BreakerState::HalfOpen => {
                if slow.probe_in_flight {
                    drop(slow);
                    return Err(self.refuse(BreakerState::HalfOpen, 0));
                }
                slow.probe_in_flight = true;
                inner.probes.fetch_add(1, Ordering::Relaxed);
                Ok(Permit::new(self, true))
            }
        }
    }

    fn refuse(&self, state: BreakerState, retry_in_nanos: u64) -> BreakerOpen {
        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
        BreakerOpen {
            state,
            retry_in: Duration::from_nanos(retry_in_nanos),
        }
    }

    fn on_success(&self, probe: bool) {
        let inner = &self.inner;
        if probe {
            let mut slow = inner.lock();
            slow.probe_in_flight = false;
            slow.reopenings = 0;
            inner.consecutive_failures.store(0, Ordering::Relaxed);
            if self.state() == BreakerState::HalfOpen {
                inner.set_state(BreakerState::Closed, BreakerState::HalfOpen, None);
            }
        } else if inner.consecutive_failures.load(Ordering::Relaxed) != 0 {
            // Only written when needed: a healthy backend costs no shared-cache-line write.
            inner.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    fn on_failure(&self, probe: bool) {
        let inner = &self.inner;
        if probe {
            let mut slow = inner.lock();
            slow.probe_in_flight = false;
            if self.state() == BreakerState::HalfOpen {
                slow.reopenings = slow.reopenings.saturating_add(1);
                self.open(&slow, BreakerState::HalfOpen);
            }
            return;
        }
        let failures = inner
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures >= inner.failure_threshold && self.state() == BreakerState::Closed {
            let slow = inner.lock();
            // Another failing caller may have opened it while we waited for the lock.
            if self.state() == BreakerState::Closed {
                self.open(&slow, BreakerState::Closed);
            }
        }
    }

    /// Opens the breaker (the lock is held by the caller).
    fn open(&self, slow: &Slow, from: BreakerState) {
        let inner = &self.inner;
        let cool_down = inner.backoff.base_delay(slow.reopenings);
        let until = inner
            .now_nanos()
            .saturating_add(u64::try_from(cool_down.as_nanos()).unwrap_or(u64::MAX));
        inner.open_until_nanos.store(until, Ordering::Release);
        inner.opened.fetch_add(1, Ordering::Relaxed);
        inner.set_state(BreakerState::Open, from, Some(cool_down));
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slow> {
        // The guarded data is two plain fields that every path leaves consistent, so a
        // poisoned lock (a panicking listener) is safe to keep using.
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_nanos(&self) -> u64 {
        let elapsed = self.clock.instant().saturating_duration_since(self.base);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Stores the new state and tells the listener (the lock is held by the caller).
    fn set_state(&self, to: BreakerState, from: BreakerState, cool_down: Option<Duration>) {
        self.state.store(to.as_gauge(), Ordering::Release);
        // Debug only: the owner knows which backend this is and logs the change at its level
        // from an `on_transition` callback.
        tracing::debug!(%from, %to, ?cool_down, "circuit breaker state change");
        for listener in &self.listeners {
            listener(Transition {
                from,
                to,
                cool_down,
            });
        }
    }
}

/// Leave to call the backend once, from [`CircuitBreaker::try_acquire`]; it borrows the
/// breaker (no reference count touched on the hot path).
///
/// Report the outcome with [`success`](Self::success) or [`failure`](Self::failure). A permit
/// dropped without either (the call was cancelled) counts as a failure: a cancelled probe
/// proved nothing, and a call cancelled after it was sent is usually a slow backend.
#[must_use = "report the call's outcome with success() or failure()"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    done: bool,
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

impl<'a> Permit<'a> {
    fn new(breaker: &'a CircuitBreaker, probe: bool) -> Self {
        Self {
            breaker,
            probe,
            done: false,
        }
    }

    /// Whether this call is the half-open probe (its outcome decides the breaker's state).
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The backend answered (with any answer that shows it is healthy).
    pub fn success(mut self) {
        self.done = true;
        self.breaker.on_success(self.probe);
    }

    /// The backend failed or timed out.
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure(self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.on_failure(self.probe);
        }
    }
}

#[cfg(test)]
mod tests;
