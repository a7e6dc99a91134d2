//! Metrics through the `metrics` facade (feature `metrics`): the names, their descriptions,
//! and handles cached per limiter so that the hot path never builds a key or allocates.
//!
//! Without the feature every helper here is an empty inline function.

#[cfg(feature = "metrics")]
pub(crate) use enabled::LimiterMetrics;
#[cfg(feature = "metrics")]
pub use enabled::describe_metrics;

/// Decisions by `limit` and `outcome` (counter).
pub const DECISIONS_TOTAL: &str = "reel_ratelimit_decisions_total";
/// Time of a call to an out-of-process store, by `store` (histogram, seconds).
pub const STORE_DURATION_SECONDS: &str = "reel_ratelimit_store_duration_seconds";
/// Store errors by `store` and `error_type` (counter).
pub const STORE_ERRORS_TOTAL: &str = "reel_ratelimit_store_errors_total";
/// The circuit breaker's state by `store` (gauge: 0 closed, 1 open, 2 half-open).
pub const BREAKER_STATE: &str = "reel_ratelimit_breaker_state";
/// Circuit breaker transitions by `store` and `to` (counter).
pub const BREAKER_TRANSITIONS_TOTAL: &str = "reel_ratelimit_breaker_transitions_total";

/// The `outcome` label of a decision.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecisionOutcome {
    Allowed = 0,
    Denied = 1,
    FailedOpen = 2,
    FailedClosed = 3,
    ShadowDenied = 4,
}

impl DecisionOutcome {
    #[cfg(feature = "metrics")]
    const ALL: [DecisionOutcome; 5] = [
        DecisionOutcome::Allowed,
        DecisionOutcome::Denied,
        DecisionOutcome::FailedOpen,
        DecisionOutcome::FailedClosed,
        DecisionOutcome::ShadowDenied,
    ];

    #[cfg(feature = "metrics")]
    fn label(self) -> &'static str {
        match self {
            DecisionOutcome::Allowed => "allowed",
            DecisionOutcome::Denied => "denied",
            DecisionOutcome::FailedOpen => "failed_open",
            DecisionOutcome::FailedClosed => "failed_closed",
            DecisionOutcome::ShadowDenied => "shadow_denied",
        }
    }
}

/// The `error_type` label of a store error (also the `error.type` span field).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn error_type(error: &crate::StoreError) -> &'static str {
    use crate::StoreError;
    match error {
        StoreError::Backend(_) => "backend",
        StoreError::Timeout(_) => "timeout",
        StoreError::Contention { .. } => "contention",
        StoreError::CorruptState(_) => "corrupt_state",
        StoreError::Unsupported(_) => "unsupported",
        StoreError::CircuitOpen { .. } => "circuit_open",
        StoreError::Quota(_) => "quota",
    }
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::{Arc, OnceLock};

    use ::metrics::{Counter, Histogram, Unit};
    use dashmap::DashMap;
    use reel_core::breaker::{BreakerState, CircuitBreaker};

    use super::*;

    /// Registers the description and unit of every reel-ratelimit metric with the installed
    /// recorder, so that an exporter shows their `HELP` lines. Call it once after installing
    /// the recorder.
    pub fn describe_metrics() {
        ::metrics::describe_counter!(
            DECISIONS_TOTAL,
            Unit::Count,
            "Rate-limit decisions by limit and outcome (allowed, denied, failed_open, failed_closed, shadow_denied)."
        );
        ::metrics::describe_histogram!(
            STORE_DURATION_SECONDS,
            Unit::Seconds,
            "Time of one call to an out-of-process rate-limit store (redis, memcache), errors and timeouts included."
        );
        ::metrics::describe_counter!(
            STORE_ERRORS_TOTAL,
            Unit::Count,
            "Rate-limit store calls that failed, by store and error type (timeout, backend, contention, corrupt_state, unsupported)."
        );
        ::metrics::describe_gauge!(
            BREAKER_STATE,
            Unit::Count,
            "State of the circuit breaker in front of the rate-limit store: 0 closed, 1 open, 2 half-open."
        );
        ::metrics::describe_counter!(
            BREAKER_TRANSITIONS_TOTAL,
            Unit::Count,
            "Circuit breaker state changes of the rate-limit store, by the state entered."
        );
    }

    type DecisionCounters = [Counter; 5];

    fn decision_counters(limit: &str) -> DecisionCounters {
        DecisionOutcome::ALL.map(|outcome| {
            ::metrics::counter!(DECISIONS_TOTAL, "limit" => limit.to_owned(), "outcome" => outcome.label())
        })
    }

    /// The handles of one limiter, built on first use (after the application installed its
    /// recorder) and reused for every call.
    #[derive(Debug)]
    pub(crate) struct LimiterMetrics {
        store: &'static str,
        /// Whether store calls are timed: not for the in-process memory store, whose calls
        /// are not I/O (decided once, not compared per call).
        timed: bool,
        name: Arc<str>,
        own: OnceLock<DecisionCounters>,
        by_limit: DashMap<Arc<str>, DecisionCounters>,
        duration: OnceLock<Histogram>,
        breaker: Option<CircuitBreaker>,
    }

    impl LimiterMetrics {
        pub(crate) fn new(
            store: &'static str,
            name: Arc<str>,
            breaker: Option<CircuitBreaker>,
        ) -> Self {
            Self {
                store,
                timed: store != "memory",
                name,
                own: OnceLock::new(),
                by_limit: DashMap::new(),
                duration: OnceLock::new(),
                breaker,
            }
        }

        /// Runs once, with the first decision (after the application installed its
        /// recorder): the breaker gauge starts at the breaker's state.
        fn first_use(&self) {
            if let Some(breaker) = &self.breaker {
                ::metrics::gauge!(BREAKER_STATE, "store" => self.store)
                    .set(f64::from(breaker.state().as_gauge()));
            }
        }

        /// Whether store calls of this limiter are timed.
        #[inline]
        pub(crate) fn timed(&self) -> bool {
            self.timed
        }

        #[inline]
        pub(crate) fn decision(&self, outcome: DecisionOutcome) {
            self.own.get_or_init(|| {
                self.first_use();
                decision_counters(&self.name)
            })[outcome as usize]
                .increment(1);
        }

        #[inline]
        pub(crate) fn limit_decision(&self, limit: &Arc<str>, outcome: DecisionOutcome) {
            if let Some(counters) = self.by_limit.get(&**limit) {
                counters[outcome as usize].increment(1);
                return;
            }
            let counters = self.by_limit.entry(limit.clone()).or_insert_with(|| {
                self.first_use();
                decision_counters(limit)
            });
            counters[outcome as usize].increment(1);
        }

        #[inline]
        pub(crate) fn store_duration(&self, seconds: f64) {
            self.duration
                .get_or_init(
                    || ::metrics::histogram!(STORE_DURATION_SECONDS, "store" => self.store),
                )
                .record(seconds);
        }

        pub(crate) fn store_error(&self, error_type: &'static str) {
            ::metrics::counter!(STORE_ERRORS_TOTAL, "store" => self.store, "error_type" => error_type)
                .increment(1);
        }

        pub(crate) fn breaker_transition(store: &'static str, to: BreakerState) {
            ::metrics::counter!(BREAKER_TRANSITIONS_TOTAL, "store" => store, "to" => to.name())
                .increment(1);
            ::metrics::gauge!(BREAKER_STATE, "store" => store).set(f64::from(to.as_gauge()));
        }
    }
}
