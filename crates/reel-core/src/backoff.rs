//! Exponential, capped and jittered retry delays.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How randomness is applied to each exponential delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: the delays are exactly `initial * multiplier^n`, capped.
    None,
    /// "Full jitter": a uniform delay between zero and the capped exponential delay. It spreads
    /// retries of many clients best, so it is the default.
    #[default]
    Full,
    /// "Equal jitter": half the capped delay plus a uniform share of the other half, which
    /// keeps a minimum wait.
    Equal,
}

/// A retry policy: exponential growth from `initial`, capped at `max`, jittered, optionally
/// limited to a number of retries.
///
/// Delays come from [`Backoff::delays`]; with a seed ([`Backoff::with_seed`]) the jitter is
/// deterministic, which is what tests want.
///
/// ```
/// use std::time::Duration;
/// use reel_core::{Backoff, Jitter};
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1))
///     .with_jitter(Jitter::None)
///     .with_max_retries(5);
/// let delays: Vec<_> = backoff.delays().map(|d| d.as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000]);
/// ```
#[derive(Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: f64,
    jitter: Jitter,
    max_retries: Option<u32>,
    seed: Option<u64>,
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("initial", &self.initial)
            .field("max", &self.max)
            .field("multiplier", &self.multiplier)
            .field("jitter", &self.jitter)
            .field("max_retries", &self.max_retries)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for Backoff {
    /// 100 ms doubling up to 30 s with full jitter and no retry limit.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

impl Backoff {
    /// Delays starting at `initial`, doubling, never above `max`, with full jitter and no retry
    /// limit. A `max` below `initial` is raised to `initial`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            multiplier: 2.0,
            jitter: Jitter::Full,
            max_retries: None,
            seed: None,
        }
    }

    /// Sets the growth factor between consecutive delays; values below 1 are treated as 1.
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Sets how randomness is applied.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Stops after `retries` delays; [`Backoff::delays`] then yields at most that many.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Makes the jitter deterministic: the same seed gives the same delays.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The first delay before jitter.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap on every delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The retry limit, if any.
    pub fn max_retries(&self) -> Option<u32> {
        self.max_retries
    }

    /// The delay before retry number `attempt` (0-based) before jitter: `initial *
    /// multiplier^attempt`, capped at `max`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = self
            .multiplier
            .powi(i32::try_from(attempt).unwrap_or(i32::MAX));
        let nanos = self.initial.as_nanos() as f64 * factor;
        let max = self.max.as_nanos() as f64;
        if !nanos.is_finite() || nanos >= max {
            self.max
        } else {
            Duration::from_nanos(nanos as u64)
        }
    }

    /// The sequence of delays, jittered, ending after the retry limit if one is set.
    pub fn delays(&self) -> Delays {
        let seed = self.seed.unwrap_or_else(random_seed);
        Delays {
            backoff: self.clone(),
            attempt: 0,
            rng: SplitMix64(seed),
        }
    }

    /// Runs `op` until it succeeds, `should_retry` refuses its error, or the retry limit is
    /// reached, sleeping the backoff's delays in between.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reel_core::Backoff;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(5)).with_max_retries(3);
    /// let mut calls = 0;
    /// let result: Result<u32, _> = backoff
    ///     .retry(|| { calls += 1; let n = calls; async move { if n < 3 { Err("busy") } else { Ok(n) } } },
    ///            |_err| true)
    ///     .await;
    /// assert_eq!(result.unwrap(), 3);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn retry<T, E, F, Fut, R>(
        &self,
        mut op: F,
        mut should_retry: R,
    ) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        R: FnMut(&E) -> bool,
    {
        let mut delays = self.delays();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match op().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if !should_retry(&error) {
                        return Err(RetryError {
                            error,
                            attempts,
                            exhausted: false,
                        });
                    }
                    match delays.next() {
                        Some(delay) => {
                            tracing::debug!(
                                attempt = attempts,
                                delay_ms = delay.as_millis() as u64,
                                "retrying after error"
                            );
                            tokio::time::sleep(delay).await;
                        }
                        None => {
                            return Err(RetryError {
                                error,
                                attempts,
                                exhausted: true,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// The last error of [`Backoff::retry`], with how many attempts were made.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct RetryError<E> {
    /// The error of the last attempt.
    pub error: E,
    /// How many times the operation ran.
    pub attempts: u32,
    /// `true` when the retry limit stopped the loop, `false` when the error was not retryable.
    pub exhausted: bool,
}

#[cfg(feature = "tokio")]
impl<E> RetryError<E> {
    /// The error of the last attempt.
    pub fn into_inner(self) -> E {
        self.error
    }
}

#[cfg(feature = "tokio")]
impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exhausted {
            write!(
                f,
                "gave up after {} attempts: {}",
                self.attempts, self.error
            )
        } else {
            write!(
                f,
                "failed after {} attempt(s) with a non-retryable error: {}",
                self.attempts, self.error
            )
        }
    }
}

#[cfg(feature = "tokio")]
impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The delays of a [`Backoff`], from [`Backoff::delays`].
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    attempt: u32,
    rng: SplitMix64,
}

impl Delays {
    /// How many delays have been handed out.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts again from the first delay, e.g. after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self
            .backoff
            .max_retries
            .is_some_and(|max| self.attempt >= max)
        {
            return None;
        }
        let base = self.backoff.base_delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        let jittered = match self.backoff.jitter {
            Jitter::None => nanos,
            Jitter::Full => self.rng.below_inclusive(nanos),
            Jitter::Equal => nanos / 2 + self.rng.below_inclusive(nanos - nanos / 2),
        };
        Some(Duration::from_nanos(jittered))
    }
}

/// SplitMix64: tiny, fast and good enough to spread retry delays; not for cryptography.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=bound` (multiply-shift; the bias is below 2^-64 per value).
    fn below_inclusive(&mut self, bound: u64) -> u64 {
        if bound == u64::MAX {
            return self.next_u64();
        }
        ((u128::from(self.next_u64()) * (u128::from(bound) + 1)) >> 64) as u64
    }
}

fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut mix = SplitMix64(time ^ count.rotate_left(32) ^ u64::from(std::process::id()));
    mix.next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exponential_growth_is_capped() {
        let b = Backoff::new(ms(10), ms(100)).with_jitter(Jitter::None);
        let got: Vec<_> = b.delays().take(6).collect();
        assert_eq!(got, [ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]);
        assert_eq!(b.base_delay(1_000_000), ms(100));
    }

    #[test]
    fn full_jitter_stays_within_bounds_and_spreads() {
        let b = Backoff::new(ms(100), ms(1_000)).with_seed(1);
        let mut below_half = 0;
        for (n, d) in b.delays().take(10_000).enumerate() {
            let cap = b.base_delay(n as u32);
            assert!(d <= cap, "delay {d:?} above cap {cap:?}");
            if d < cap / 2 {
                below_half += 1;
            }
        }
        // Uniform in [0, cap]: about half fall below cap/2.
        assert!(
            (4_000..6_000).contains(&below_half),
            "{below_half} of 10000 below half"
        );
    }

    #[test]
    fn equal_jitter_keeps_half_the_delay() {
        let b = Backoff::new(ms(100), ms(100))
            .with_jitter(Jitter::Equal)
            .with_seed(3);
        for d in b.delays().take(1_000) {
            assert!(d >= ms(50) && d <= ms(100), "{d:?}");
        }
    }

    #[test]
    fn same_seed_same_delays_different_seed_different_delays() {
        let b = Backoff::new(ms(100), ms(10_000));
        let a: Vec<_> = b.clone().with_seed(42).delays().take(20).collect();
        let c: Vec<_> = b.clone().with_seed(42).delays().take(20).collect();
        let d: Vec<_> = b.with_seed(43).delays().take(20).collect();
        assert_eq!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn max_retries_ends_the_sequence_and_reset_restarts() {
        let b = Backoff::new(ms(1), ms(8))
            .with_jitter(Jitter::None)
            .with_max_retries(3);
        let mut delays = b.delays();
        assert_eq!(delays.by_ref().count(), 3);
        assert_eq!(delays.next(), None);
        delays.reset();
        assert_eq!(delays.next(), Some(ms(1)));
    }

    #[test]
    fn odd_settings_do_not_panic() {
        let b = Backoff::new(Duration::MAX, ms(1)).with_multiplier(f64::NAN);
        assert_eq!(b.max(), Duration::MAX);
        let _ = b.delays().take(3).count();
        let b = Backoff::new(Duration::ZERO, Duration::ZERO).with_multiplier(0.1);
        assert_eq!(b.delays().take(3).collect::<Vec<_>>(), [Duration::ZERO; 3]);
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn retry_stops_on_limit_and_on_non_retryable_errors() {
        let b = Backoff::new(ms(10), ms(10))
            .with_jitter(Jitter::None)
            .with_max_retries(2);
        let mut calls = 0;
        let err = b
            .retry(
                || {
                    calls += 1;
                    async { Err::<(), _>("down") }
                },
                |_| true,
            )
            .await
            .unwrap_err();
        assert_eq!((calls, err.attempts, err.exhausted), (3, 3, true));

        let mut calls = 0;
        let err = b
            .retry(
                || {
                    calls += 1;
                    async { Err::<(), _>("bad input") }
                },
                |_| false,
            )
            .await
            .unwrap_err();
        assert_eq!((calls, err.exhausted), (1, false));
        assert!(err.to_string().contains("bad input"));
    }
}
