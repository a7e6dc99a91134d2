//! [`RateLimiter`]: a store behind a circuit breaker, a timeout and a failure policy, with
//! counters and metrics.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reel_core::breaker::{BreakerState, CircuitBreaker, CircuitBreakerBuilder};

use crate::error::{Error, StoreError};
use crate::metrics::DecisionOutcome;
#[cfg(feature = "metrics")]
use crate::metrics::LimiterMetrics;
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

/// Limits requests through a [`Store`], applying a circuit breaker, a timeout and a
/// [`FailurePolicy`].
///
/// A store that fails or times out [`breaker_failures`](Self::DEFAULT_BREAKER_FAILURES) times
/// in a row opens the limiter's circuit breaker ([`reel_core::breaker`]): from then on the
/// failure policy decides at once, without calling the store, so a dead redis costs each
/// request nothing instead of the store timeout. After a cool-down (1 s, doubling up to 10 s
/// while the store stays dead) one request probes the store; when it answers, the breaker
/// closes and decisions come from the store again. Configure it with
/// [`with_circuit_breaker`](Self::with_circuit_breaker), or turn it off with
/// [`without_circuit_breaker`](Self::without_circuit_breaker).
///
/// Cheap to clone; clones share the store, the breaker and the counters.
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
    store_kind: &'static str,
    /// [`Store::in_process`], asked once: decisions then skip the timeout and the breaker.
    in_process: bool,
    policy: FailurePolicy,
    timeout: Duration,
    breaker: Option<CircuitBreaker>,
    name: Arc<str>,
    counters: Arc<Counters>,
    #[cfg(feature = "metrics")]
    metrics: Arc<LimiterMetrics>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("timeout", &self.timeout)
            .field("breaker", &self.breaker)
            .field("name", &self.name)
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
    shadow_denied: AtomicU64,
    short_circuited: AtomicU64,
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
    /// Requests a shadow [`Limit`] would have denied (and let through).
    pub shadow_denied: u64,
    /// Requests decided by the failure policy without calling the store because the circuit
    /// breaker was open (also counted in `failed_open` / `failed_closed`, not in
    /// `store_errors` / `timeouts`).
    pub short_circuited: u64,
    /// The circuit breaker's state; `None` without a breaker.
    pub breaker: Option<BreakerState>,
    /// How many times the circuit breaker opened.
    pub breaker_opened: u64,
}

impl RateLimiter {
    /// Consecutive store failures (timeouts included) that open the default circuit breaker.
    pub const DEFAULT_BREAKER_FAILURES: u32 = 5;

    /// A limiter over `store`, failing open with a 100 ms timeout, behind the default circuit
    /// breaker (5 consecutive failures; cool-down 1 s doubling up to 10 s).
    pub fn new(store: impl Store) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A limiter over a shared store.
    pub fn from_arc(store: Arc<dyn Store>) -> Self {
        let store_kind = store.kind();
        let in_process = store.in_process();
        let name: Arc<str> = Arc::from("default");
        let limiter = Self {
            store,
            store_kind,
            in_process,
            policy: FailurePolicy::FailOpen,
            timeout: Duration::from_millis(100),
            breaker: None,
            #[cfg(feature = "metrics")]
            metrics: Arc::new(LimiterMetrics::new(store_kind, name.clone(), None)),
            name,
            counters: Arc::default(),
        };
        limiter.with_circuit_breaker(
            CircuitBreaker::builder()
                .failure_threshold(Self::DEFAULT_BREAKER_FAILURES)
                .cool_down(Duration::from_secs(1))
                .max_cool_down(Duration::from_secs(10)),
        )
    }

    /// What to do when the store fails.
    pub fn with_failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long to wait for the store before applying the failure policy. Decisions of an
    /// in-process store ([`Store::in_process`], the memory store) are not timed out.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Puts the store behind a circuit breaker built from `breaker` (threshold, cool-down,
    /// clock, callbacks), replacing the default one. The limiter adds its own callback, which
    /// logs each change with the store's kind and updates the breaker metrics. The decisions
    /// of an in-process store ([`Store::in_process`]) do not go through the breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reel_core::breaker::CircuitBreaker;
    /// use reel_ratelimit::{MemoryStore, RateLimiter};
    ///
    /// let limiter = RateLimiter::new(MemoryStore::new()).with_circuit_breaker(
    ///     CircuitBreaker::builder()
    ///         .failure_threshold(3)
    ///         .cool_down(Duration::from_millis(500))
    ///         .max_cool_down(Duration::from_secs(5)),
    /// );
    /// assert!(limiter.circuit_breaker().is_some());
    /// ```
    pub fn with_circuit_breaker(mut self, breaker: CircuitBreakerBuilder) -> Self {
        let store = self.store_kind;
        let breaker = breaker
            .on_transition(move |transition| {
                match transition.to {
                    BreakerState::Open => tracing::warn!(
                        store,
                        cool_down = ?transition.cool_down,
                        "rate-limit store circuit breaker opened: the failure policy decides without calling the store until a probe succeeds"
                    ),
                    BreakerState::Closed => tracing::info!(
                        store,
                        "rate-limit store circuit breaker closed: decisions come from the store again"
                    ),
                    _ => tracing::debug!(store, "rate-limit store circuit breaker half-open: probing the store"),
                }
                #[cfg(feature = "metrics")]
                LimiterMetrics::breaker_transition(store, transition.to);
            })
            .build();
        self.breaker = Some(breaker);
        self.refresh_metrics();
        self
    }

    /// Calls the store every time, however often it fails (each failure waits for the store
    /// or its timeout).
    pub fn without_circuit_breaker(mut self) -> Self {
        self.breaker = None;
        self.refresh_metrics();
        self
    }

    /// The `limit` label of the decisions [`check`](Self::check) and
    /// [`check_n`](Self::check_n) record in the metrics (default `default`);
    /// [`check_limits`](Self::check_limits) uses each [`Limit`]'s name.
    pub fn with_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self.refresh_metrics();
        self
    }

    fn refresh_metrics(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.metrics = Arc::new(LimiterMetrics::new(
                self.store_kind,
                self.name.clone(),
                self.breaker.clone(),
            ));
        }
    }

    /// The circuit breaker in front of the store, if any.
    pub fn circuit_breaker(&self) -> Option<&CircuitBreaker> {
        self.breaker.as_ref()
    }

    /// The `limit` label of this limiter's own decisions.
    pub fn name(&self) -> &str {
        &self.name
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
    pub async fn check(&self, key: &str, quota: &Quota) -> Result<Decision, Error> {
        self.check_n(key, quota, 1).await
    }

    /// Decides a request of `cost`. The only error is a cost above the quota's burst (such a
    /// request can never be admitted); store failures become decisions through the failure
    /// policy, marked [`Decision::is_fallback`] — at once, without calling the store, while
    /// the circuit breaker is open.
    pub async fn check_n(&self, key: &str, quota: &Quota, cost: u32) -> Result<Decision, Error> {
        self.decide::<true>(key, quota, cost).await
    }

    /// Calls the store through the breaker and the timeout, measuring and counting errors;
    /// the breaker learns the outcome.
    async fn guarded<'a, T, F>(&self, call: impl FnOnce() -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>> + 'a,
    {
        let permit = match &self.breaker {
            Some(breaker) => match breaker.try_acquire() {
                Ok(permit) => Some(permit),
                Err(open) => {
                    return Err(StoreError::CircuitOpen {
                        retry_in: open.retry_in,
                    });
                }
            },
            None => None,
        };
        #[cfg(feature = "metrics")]
        let started = self.metrics.timed().then(quanta::Instant::now);
        let result = match tokio::time::timeout(self.timeout, call()).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        };
        #[cfg(feature = "metrics")]
        if let Some(started) = started {
            self.metrics.store_duration(started.elapsed().as_secs_f64());
        }
        match &result {
            Err(error) if error.is_backend_failure() => {
                if let Some(permit) = permit {
                    permit.failure();
                }
            }
            _ => {
                if let Some(permit) = permit {
                    permit.success();
                }
            }
        }
        #[cfg(feature = "metrics")]
        if let Err(error) = &result
            && !matches!(error, StoreError::Quota(_) | StoreError::CircuitOpen { .. })
        {
            self.metrics.store_error(crate::metrics::error_type(error));
        }
        result
    }

    /// [`check_n`](Self::check_n); the decision metric is recorded under the limiter's name
    /// when `RECORD` (else the caller records it with its own label). Recorded in the
    /// branches that already know the outcome, so the metric adds no test of its own.
    async fn decide<const RECORD: bool>(
        &self,
        key: &str,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, Error> {
        // Refuse an impossible cost before touching the store.
        quota.decide_backlog(0, cost)?;
        // An in-process store cannot hang or be unreachable: no timeout (a timer entry per
        // call), no breaker, no timing.
        let result = if self.in_process {
            self.store.decide(key, quota, cost).await
        } else {
            self.guarded(|| self.store.decide(key, quota, cost)).await
        };
        let c = &self.counters;
        match result {
            Ok(decision) => {
                if c.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        store = self.store_kind,
                        "rate-limit store answers again; decisions come from the store"
                    );
                }
                let (counter, _outcome) = if decision.is_allowed() {
                    (&c.allowed, DecisionOutcome::Allowed)
                } else {
                    (&c.denied, DecisionOutcome::Denied)
                };
                counter.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                if RECORD {
                    self.metrics.decision(_outcome);
                }
                Ok(decision)
            }
            Err(StoreError::Quota(error)) => Err(error),
            Err(error) => {
                match &error {
                    StoreError::Timeout(_) => c.timeouts.fetch_add(1, Ordering::Relaxed),
                    StoreError::CircuitOpen { .. } => {
                        c.short_circuited.fetch_add(1, Ordering::Relaxed)
                    }
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
                #[cfg(feature = "metrics")]
                if RECORD {
                    self.metrics.decision(match allowed {
                        true => DecisionOutcome::FailedOpen,
                        false => DecisionOutcome::FailedClosed,
                    });
                }
                if c.failing.swap(true, Ordering::Relaxed) {
                    tracing::debug!(%error, policy = ?self.policy, store = self.store_kind, key, "rate-limit store failed");
                } else {
                    tracing::warn!(%error, policy = ?self.policy, store = self.store_kind, key, "rate-limit store failed; applying the failure policy until it recovers");
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
            shadow_denied: c.shadow_denied.load(Ordering::Relaxed),
            short_circuited: c.short_circuited.load(Ordering::Relaxed),
            breaker: self.breaker.as_ref().map(CircuitBreaker::state),
            breaker_opened: self
                .breaker
                .as_ref()
                .map_or(0, |breaker| breaker.stats().opened),
        }
    }

    /// What a request of cost 1 for `key` would be told now, without consuming anything and
    /// without writing to the store (every built-in store; a custom store answers
    /// [`StoreError::Unsupported`] unless it implements [`Store::peek`]). Store failures are
    /// returned, not turned into decisions ([`StoreError::CircuitOpen`] while the circuit
    /// breaker is open).
    pub async fn peek(&self, key: &str, quota: &Quota) -> Result<Decision, StoreError> {
        self.guarded(|| self.store.peek(key, quota)).await
    }

    /// Forgets `key`'s state in the store: its bucket is full again (after a support ticket,
    /// a successful login, a test). [`StoreError::CircuitOpen`] while the circuit breaker is
    /// open.
    pub async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.guarded(|| self.store.reset(key)).await
    }

    /// Decides one request of `cost` under several limits, each on its own bucket key:
    /// `checks` pairs a bucket key with a [`Limit`].
    ///
    /// The limits are decided in the order given; the first enforced limit that denies
    /// stops the chain, so the limits after it are not charged for a request that is
    /// refused anyway (they are peeked, to report them). Put the short windows first: with
    /// `10/s` before `1000/day`, a client hammering at 100/s spends its daily allowance on
    /// the 10 requests a second that are admitted, not on the 90 that are refused. Shadow
    /// limits are decided like enforced ones (so their figures are what enforcing them would
    /// give) but never deny and never stop the chain.
    ///
    /// The only error is a cost above an enforced limit's burst (checked before anything is
    /// charged): such a request can never be admitted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reel_core::ManualClock;
    /// use reel_ratelimit::{Limit, MemoryStore, RateLimiter};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
    /// let limiter = RateLimiter::new(MemoryStore::builder().clock(clock.clone()).build());
    /// let second = Limit::new("second", "2/s".parse()?);
    /// let day = Limit::new("day", "3/day".parse()?);
    /// let checks = [("second|alice", &second), ("day|alice", &day)];
    ///
    /// let verdict = limiter.check_limits(&checks, 1).await?;
    /// assert!(verdict.is_allowed());
    /// assert_eq!(verdict.decision().map(|d| d.remaining()), Some(1)); // the tightest
    /// assert!(limiter.check_limits(&checks, 1).await?.is_allowed());
    /// let denied = limiter.check_limits(&checks, 1).await?; // 2/s is spent
    /// assert!(!denied.is_allowed());
    /// assert_eq!(denied.deciding().map(|o| &*o.name), Some("second"));
    ///
    /// clock.advance(Duration::from_secs(1));
    /// assert!(limiter.check_limits(&checks, 1).await?.is_allowed()); // the day's third
    /// clock.advance(Duration::from_secs(1));
    /// let denied = limiter.check_limits(&checks, 1).await?;
    /// assert_eq!(denied.deciding().map(|o| &*o.name), Some("day"));
    /// # Ok(()) }
    /// ```
    pub async fn check_limits(
        &self,
        checks: &[(&str, &Limit)],
        cost: u32,
    ) -> Result<Verdict, Error> {
        for (_, limit) in checks.iter().filter(|(_, limit)| !limit.shadow) {
            limit.quota.decide_backlog(0, cost)?;
        }
        let mut outcomes = Vec::with_capacity(checks.len());
        let mut refused = false;
        for (key, limit) in checks {
            let charged = !refused;
            let outcome = if refused {
                // Not charged: the request is refused by an earlier limit.
                match self.peek(key, &limit.quota).await {
                    Ok(decision) => LimitOutcome::new(limit, decision, false),
                    Err(error) => {
                        tracing::debug!(%error, key, "cannot peek a rate limit to report it");
                        continue;
                    }
                }
            } else {
                match self.decide::<false>(key, &limit.quota, cost).await {
                    Ok(decision) => {
                        #[cfg(feature = "metrics")]
                        self.metrics
                            .limit_decision(&limit.name, outcome_of(&decision, limit.shadow));
                        LimitOutcome::new(limit, decision, true)
                    }
                    // Only a shadow limit gets here (enforced costs were checked above).
                    Err(_) => LimitOutcome::new(limit, Decision::never(&limit.quota), false),
                }
            };
            if !outcome.decision.is_allowed() {
                if limit.shadow {
                    if charged {
                        self.counters.shadow_denied.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(limit = %limit.name, key, "shadow rate limit would deny this request");
                    }
                } else {
                    refused = true;
                }
            }
            outcomes.push(outcome);
        }
        Ok(Verdict { outcomes })
    }
}

/// The `outcome` label of a decision.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn outcome_of(decision: &Decision, shadow: bool) -> DecisionOutcome {
    match (decision.is_fallback(), decision.is_allowed()) {
        (true, true) => DecisionOutcome::FailedOpen,
        (true, false) => DecisionOutcome::FailedClosed,
        (false, true) => DecisionOutcome::Allowed,
        (false, false) if shadow => DecisionOutcome::ShadowDenied,
        (false, false) => DecisionOutcome::Denied,
    }
}

/// One limit among several on a request ([`RateLimiter::check_limits`]): a named quota,
/// enforced or in shadow mode.
///
/// A shadow limit is decided and reported (decision hook, `tracing`,
/// [`LimiterStats::shadow_denied`]) but never denies: roll a new limit out in shadow mode,
/// watch what it would refuse, then enforce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    name: Arc<str>,
    quota: Quota,
    shadow: bool,
}

impl Limit {
    /// An enforced limit named `name` (the name appears in headers and bucket keys).
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        Self {
            name: name.into(),
            quota,
            shadow: false,
        }
    }

    /// This limit in shadow mode: decided and reported, never denying.
    pub fn shadow(mut self) -> Self {
        self.shadow = true;
        self
    }

    /// The limit's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limit's quota.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// Whether the limit is in shadow mode.
    pub fn is_shadow(&self) -> bool {
        self.shadow
    }
}

/// What one [`Limit`] said about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitOutcome {
    /// The limit's name.
    pub name: Arc<str>,
    /// The limit's quota.
    pub quota: Quota,
    /// Whether the limit is in shadow mode.
    pub shadow: bool,
    /// Its decision: the store's answer when charged, its current state when only peeked.
    pub decision: Decision,
    /// Whether the request was charged against this limit (decided, not only peeked).
    pub charged: bool,
}

impl LimitOutcome {
    fn new(limit: &Limit, decision: Decision, charged: bool) -> Self {
        Self {
            name: limit.name.clone(),
            quota: limit.quota,
            shadow: limit.shadow,
            decision,
            charged,
        }
    }
}

/// The answer for one request under several limits ([`RateLimiter::check_limits`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    outcomes: Vec<LimitOutcome>,
}

impl Verdict {
    /// Whether the request is admitted: no enforced limit denied it.
    pub fn is_allowed(&self) -> bool {
        !self
            .enforced()
            .any(|outcome| outcome.charged && !outcome.decision.is_allowed())
    }

    /// Whether a shadow limit would have denied the request.
    pub fn shadow_denied(&self) -> bool {
        self.outcomes
            .iter()
            .any(|outcome| outcome.shadow && !outcome.decision.is_allowed())
    }

    /// Every limit's outcome, in the order given (a limit that could not be peeked after a
    /// denial is left out).
    pub fn outcomes(&self) -> &[LimitOutcome] {
        &self.outcomes
    }

    /// The enforced limits' outcomes.
    pub fn enforced(&self) -> impl Iterator<Item = &LimitOutcome> {
        self.outcomes.iter().filter(|outcome| !outcome.shadow)
    }

    /// The tightest enforced limit, the one to report in single-limit headers: on denial,
    /// the denying limit with the longest wait (so a client that waits `Retry-After` clears
    /// every limit); on admission, the one with the fewest requests remaining. `None` when
    /// every limit is in shadow mode.
    pub fn deciding(&self) -> Option<&LimitOutcome> {
        if self.is_allowed() {
            self.enforced().min_by(|a, b| {
                (
                    a.decision.remaining(),
                    std::cmp::Reverse(a.decision.reset()),
                )
                    .cmp(&(
                        b.decision.remaining(),
                        std::cmp::Reverse(b.decision.reset()),
                    ))
            })
        } else {
            self.enforced()
                .filter(|outcome| !outcome.decision.is_allowed())
                .max_by_key(|outcome| outcome.decision.retry_after())
        }
    }

    /// The [`deciding`](Self::deciding) limit's decision.
    pub fn decision(&self) -> Option<&Decision> {
        self.deciding().map(|outcome| &outcome.decision)
    }
}
