//! [`RateLimiter`]: a store behind a timeout and a failure policy, with counters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{QuotaError, StoreError};
use crate::quota::{Decision, Quota};
use crate::store::Store;

/// What to do when the store cannot decide (unreachable, erroring, or slower than the
/// timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Admit the request: a dead cache never takes the API down, but the limit is off while
    /// it is dead. The default.
    #[default]
    FailOpen,
    /// Deny the request: the limit always holds, but a dead cache rejects all traffic.
    FailClosed,
}

/// Limits requests through a [`Store`], applying a timeout and a [`FailurePolicy`].
///
/// Cheap to clone; clones share the store and the counters.
///
/// ```
/// use std::time::Duration;
/// use reel_ratelimit::{FailurePolicy, MemoryStore, Quota, RateLimiter};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let limiter = RateLimiter::new(MemoryStore::new())
///     .with_timeout(Duration::from_millis(50))
///     .with_failure_policy(FailurePolicy::FailOpen);
/// let quota: Quota = "100/min burst 20".parse()?;
///
/// let decision = limiter.check("user:42", &quota).await?;
/// assert!(decision.is_allowed());
/// assert_eq!((decision.limit(), decision.remaining()), (20, 19));
/// assert_eq!(limiter.stats().allowed, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn Store>,
    policy: FailurePolicy,
    timeout: Duration,
    counters: Arc<Counters>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("stats", &self.stats())
            .finish()
    }
}

#[derive(Debug, Default)]
struct Counters {
    allowed: AtomicU64,
    denied: AtomicU64,
    store_errors: AtomicU64,
    timeouts: AtomicU64,
    failed_open: AtomicU64,
    failed_closed: AtomicU64,
    failing: AtomicBool,
}

/// A snapshot of a limiter's counters, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LimiterStats {
    /// Requests admitted (including those admitted by [`FailurePolicy::FailOpen`]).
    pub allowed: u64,
    /// Requests denied (including those denied by [`FailurePolicy::FailClosed`]).
    pub denied: u64,
    /// Store errors other than timeouts.
    pub store_errors: u64,
    /// Store calls that did not finish within the timeout.
    pub timeouts: u64,
    /// Requests admitted because the store failed.
    pub failed_open: u64,
    /// Requests denied because the store failed.
    pub failed_closed: u64,
}

impl RateLimiter {
    /// A limiter over `store`, failing open with a 100 ms timeout.
    pub fn new(store: impl Store) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A limiter over a shared store.
    pub fn from_arc(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            policy: FailurePolicy::FailOpen,
            timeout: Duration::from_millis(100),
            counters: Arc::default(),
        }
    }

    /// What to do when the store fails.
    pub fn with_failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long to wait for the store before applying the failure policy.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The failure policy.
    pub fn failure_policy(&self) -> FailurePolicy {
        self.policy
    }

    /// The store timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Decides a request of cost 1.
    pub async fn check(&self, key: &str, quota: &Quota) -> Result<Decision, QuotaError> {
        self.check_n(key, quota, 1).await
    }

    /// Decides a request of `cost`. The only error is a cost above the quota's burst (such a
    /// request can never be admitted); store failures become decisions through the failure
    /// policy, marked [`Decision::is_fallback`].
    pub async fn check_n(
        &self,
        key: &str,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, QuotaError> {
        // Refuse an impossible cost before touching the store.
        quota.decide_backlog(0, cost)?;
        let result =
            match tokio::time::timeout(self.timeout, self.store.decide(key, quota, cost)).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Timeout(self.timeout)),
            };
        let c = &self.counters;
        match result {
            Ok(decision) => {
                if c.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate-limit store answers again; decisions come from the store");
                }
                let counter = if decision.is_allowed() {
                    &c.allowed
                } else {
                    &c.denied
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(decision)
            }
            Err(StoreError::Quota(error)) => Err(error),
            Err(error) => {
                match &error {
                    StoreError::Timeout(_) => c.timeouts.fetch_add(1, Ordering::Relaxed),
                    _ => c.store_errors.fetch_add(1, Ordering::Relaxed),
                };
                let allowed = self.policy == FailurePolicy::FailOpen;
                if allowed {
                    c.failed_open.fetch_add(1, Ordering::Relaxed);
                    c.allowed.fetch_add(1, Ordering::Relaxed);
                } else {
                    c.failed_closed.fetch_add(1, Ordering::Relaxed);
                    c.denied.fetch_add(1, Ordering::Relaxed);
                }
                if c.failing.swap(true, Ordering::Relaxed) {
                    tracing::debug!(%error, policy = ?self.policy, key, "rate-limit store failed");
                } else {
                    tracing::warn!(%error, policy = ?self.policy, key, "rate-limit store failed; applying the failure policy until it recovers");
                }
                Ok(Decision::fallback(quota, allowed))
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> LimiterStats {
        let c = &self.counters;
        LimiterStats {
            allowed: c.allowed.load(Ordering::Relaxed),
            denied: c.denied.load(Ordering::Relaxed),
            store_errors: c.store_errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            failed_open: c.failed_open.load(Ordering::Relaxed),
            failed_closed: c.failed_closed.load(Ordering::Relaxed),
        }
    }
}
