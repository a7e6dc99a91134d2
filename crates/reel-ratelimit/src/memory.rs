//! The in-process store: a sharded map of atomic TATs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use reel_core::{BackgroundTask, SharedClock};

use crate::fast_clock::FastClock;
use tokio::sync::Notify;

use crate::error::{QuotaError, StoreError};
use crate::quota::{Decision, Quota};
use crate::store::{BoxFuture, Store};

type Map = DashMap<Box<str>, AtomicU64, foldhash::fast::RandomState>;

/// An in-process store for single-process limits and tests.
///
/// Keys live in a sharded map (`dashmap`); each key's state is one `AtomicU64` TAT updated by
/// a compare-and-swap loop, so requests for different keys never wait for each other and
/// requests for the same key never lose an update. A background task (when built inside a
/// tokio runtime) removes keys whose bucket has drained every
/// [`sweep_interval`](MemoryStoreBuilder::sweep_interval), and sweeps early once the map
/// holds more than [`max_keys`](MemoryStoreBuilder::max_keys) — then the keys closest to
/// draining go first, which can only make a limit more lenient, never stricter.
///
/// ```
/// use std::time::Duration;
/// use reel_core::ManualClock;
/// use reel_ratelimit::{MemoryStore, Quota};
///
/// let clock = ManualClock::at_unix(Duration::from_secs(1_000));
/// let store = MemoryStore::builder().clock(clock.clone()).build();
/// let quota = Quota::per_second(10)?.with_burst(2)?;
///
/// assert!(store.decide_now("alice", &quota, 1)?.is_allowed());
/// assert!(store.decide_now("alice", &quota, 1)?.is_allowed());
/// let denied = store.decide_now("alice", &quota, 1)?;
/// assert!(!denied.is_allowed());
/// assert_eq!(denied.retry_after(), Some(Duration::from_millis(100)));
///
/// clock.advance(Duration::from_millis(100));
/// assert!(store.decide_now("alice", &quota, 1)?.is_allowed());
/// # Ok::<(), reel_ratelimit::QuotaError>(())
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    _sweeper: Option<Arc<BackgroundTask>>,
}

struct Inner {
    map: Map,
    clock: SharedClock,
    max_keys: usize,
    approx_len: AtomicUsize,
    evicted: AtomicU64,
    over_capacity: Notify,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.inner.approx_len.load(Ordering::Relaxed))
            .field("max_keys", &self.inner.max_keys)
            .field("evicted", &self.inner.evicted.load(Ordering::Relaxed))
            .field("sweeping", &self._sweeper.is_some())
            .finish()
    }
}

/// Builds a [`MemoryStore`].
#[derive(Debug)]
pub struct MemoryStoreBuilder {
    clock: SharedClock,
    max_keys: usize,
    sweep_interval: Duration,
    shards: Option<usize>,
}

impl MemoryStoreBuilder {
    /// The clock decisions use (default: a [`FastClock`], anchored to the system clock).
    pub fn clock(mut self, clock: impl reel_core::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The number of keys above which the sweeper evicts early (default 1,000,000).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// How often idle keys are removed (default 10 s).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The number of map shards (a power of two; default: dashmap's choice, 4 × cores).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards.max(2).next_power_of_two());
        self
    }

    /// Builds the store; inside a tokio runtime it also starts the background sweeper
    /// (stopped when the last clone of the store is dropped).
    pub fn build(self) -> MemoryStore {
        let hasher = foldhash::fast::RandomState::default();
        let map = match self.shards {
            Some(shards) => Map::with_hasher_and_shard_amount(hasher, shards),
            None => Map::with_hasher(hasher),
        };
        let inner = Arc::new(Inner {
            map,
            clock: self.clock,
            max_keys: self.max_keys,
            approx_len: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
            over_capacity: Notify::new(),
        });
        let sweeper = tokio::runtime::Handle::try_current().ok().map(|_| {
            let weak = Arc::downgrade(&inner);
            let interval = self.sweep_interval;
            Arc::new(BackgroundTask::spawn(
                "reel-ratelimit memory sweeper",
                move |mut shutdown| async move {
                    loop {
                        let Some(inner) = weak.upgrade() else { return };
                        let woken = tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(interval) => false,
                            () = inner.over_capacity.notified() => true,
                        };
                        let removed = inner.sweep();
                        if removed > 0 || woken {
                            tracing::debug!(
                                removed,
                                over_capacity = woken,
                                "swept idle rate-limit keys"
                            );
                        }
                    }
                },
            ))
        });
        MemoryStore {
            inner,
            _sweeper: sweeper,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl MemoryStore {
    /// A store with a [`FastClock`] and default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder to choose the clock, bound and sweep interval.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            clock: Arc::new(FastClock::new()),
            max_keys: 1_000_000,
            sweep_interval: Duration::from_secs(10),
            shards: None,
        }
    }

    /// Decides synchronously: the same as [`Store::decide`] without the future.
    pub fn decide_now(&self, key: &str, quota: &Quota, cost: u32) -> Result<Decision, QuotaError> {
        let now = self.inner.clock.unix_nanos();
        if let Some(state) = self.inner.map.get(key) {
            return decide_atomic(&state, quota, now, cost);
        }
        // A new key: check the cost before inserting so that a refused request leaves no key.
        quota.decide_backlog(0, cost)?;
        let state = self.inner.map.entry(Box::from(key)).or_insert_with(|| {
            let len = self.inner.approx_len.fetch_add(1, Ordering::Relaxed) + 1;
            if len > self.inner.max_keys {
                self.inner.over_capacity.notify_one();
            }
            AtomicU64::new(0)
        });
        decide_atomic(&state, quota, now, cost)
    }

    /// Removes the keys whose bucket has drained, then, above `max_keys`, the keys closest to
    /// draining. Returns how many keys were removed. The background sweeper calls this; call
    /// it yourself when the store was built outside a tokio runtime.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    /// The number of keys held (approximate while other threads insert).
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    /// How many keys the sweeper has removed so far.
    pub fn evicted(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }
}

fn decide_atomic(
    state: &AtomicU64,
    quota: &Quota,
    now: u64,
    cost: u32,
) -> Result<Decision, QuotaError> {
    let mut current = state.load(Ordering::Acquire);
    loop {
        let outcome = quota.decide(Some(current), now, cost)?;
        let Some(new_tat) = outcome.new_tat() else {
            return Ok(outcome.decision);
        };
        match state.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok(outcome.decision),
            Err(actual) => current = actual,
        }
    }
}

impl Inner {
    fn sweep(&self) -> usize {
        let now = self.clock.unix_nanos();
        let mut removed = 0usize;
        // `retain` holds each shard's write lock, and deciders hold a read lock across their
        // compare-and-swap, so no update to a removed key can be lost.
        self.map.retain(|_, tat| {
            let keep = tat.load(Ordering::Acquire) > now;
            removed += usize::from(!keep);
            keep
        });
        let len = self.map.len();
        if len > self.max_keys {
            let mut tats: Vec<u64> = self
                .map
                .iter()
                .map(|e| e.value().load(Ordering::Relaxed))
                .collect();
            let excess = tats.len().saturating_sub(self.max_keys);
            if excess > 0 {
                let (_, cutoff, _) = tats.select_nth_unstable(excess - 1);
                let cutoff = *cutoff;
                self.map.retain(|_, tat| {
                    let keep = tat.load(Ordering::Acquire) > cutoff;
                    removed += usize::from(!keep);
                    keep
                });
            }
        }
        self.approx_len.store(self.map.len(), Ordering::Relaxed);
        self.evicted.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }
}

impl Store for MemoryStore {
    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        let result = self.decide_now(key, quota, cost).map_err(StoreError::from);
        Box::pin(std::future::ready(result))
    }
}
