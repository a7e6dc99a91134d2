//! Error types.

use std::time::Duration;

/// A quota that cannot be built or parsed, or a request it can never admit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request count is zero.
    #[error("a quota needs a count of at least 1 request per period")]
    ZeroCount,
    /// The burst is zero.
    #[error("a quota needs a burst of at least 1")]
    ZeroBurst,
    /// More than one request per nanosecond.
    #[error("the quota's rate is above one request per nanosecond; use a longer period")]
    TooFast,
    /// burst × emission interval is longer than [`MAX_CAPACITY`](crate::quota::MAX_CAPACITY).
    #[error(
        "the quota's bucket (burst × period / count) is longer than 100 days; lower the burst or raise the rate"
    )]
    TooLong,
    /// The text is not a quota.
    #[error("`{0}` is not a quota; write it like `100/min`, `10/s burst 20` or `1000/1h`")]
    Parse(String),
    /// A request costs more than the bucket holds, so it could never be admitted.
    #[error("a request costing {cost} can never be admitted by a quota with burst {burst}")]
    CostExceedsBurst {
        /// The request's cost.
        cost: u32,
        /// The quota's burst.
        burst: u32,
    },
}

/// Why a store could not decide.
///
/// The [`RateLimiter`](crate::RateLimiter) turns these into decisions through its
/// [`FailurePolicy`](crate::FailurePolicy); a store returns them as they happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or answered with an error.
    #[error("rate-limit store backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The backend did not answer in time.
    #[error("rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    /// Optimistic concurrency (compare-and-swap) kept failing under contention.
    #[error(
        "rate-limit state for a key kept changing; gave up after {attempts} compare-and-swap attempts"
    )]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The stored state is not a TAT this crate wrote.
    #[error(
        "rate-limit state `{0}` is not a timestamp in nanoseconds; was the key written by something else?"
    )]
    CorruptState(String),
    /// The store cannot do this (a custom [`Store`](crate::Store) without `peek` or `reset`).
    #[error("this rate-limit store does not support `{0}`; implement it in the store")]
    Unsupported(&'static str),
    /// The limiter's circuit breaker skipped the store: it failed repeatedly and is not
    /// called again until a probe succeeds.
    #[error(
        "rate-limit store skipped: its circuit breaker is open after repeated failures (next probe in {retry_in:?})"
    )]
    CircuitOpen {
        /// How long until the breaker lets a probe through (zero while a probe is in flight).
        retry_in: Duration,
    },
    /// The quota refused the request (its cost exceeds the burst).
    #[error(transparent)]
    Quota(#[from] Error),
}

impl StoreError {
    /// Whether the error says the backend is unhealthy (unreachable, erroring or too slow),
    /// which is what the limiter's circuit breaker counts. Contention, unreadable state and
    /// unsupported operations come from a backend that answered.
    pub fn is_backend_failure(&self) -> bool {
        matches!(self, StoreError::Backend(_) | StoreError::Timeout(_))
    }

    /// Wraps any backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}
