//! The in-process store: a sharded map of atomic TATs.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use reel_core::{BackgroundTask, Clock, SharedClock};

use crate::fast_clock::FastClock;

use crate::error::{Error, StoreError};
use crate::quota::{Decision, Quota};
use crate::store::{BoxFuture, MAX_KEY_BYTES, Store, bounded_key};

type Map = DashMap<Box<str>, AtomicU64, foldhash::fast::RandomState>;

/// An in-process store for single-process limits and tests.
///
/// Keys live in a sharded map (`dashmap`); each key's state is one `AtomicU64` TAT updated by
/// a compare-and-swap loop, so requests for different keys never wait for each other and
/// requests for the same key never lose an update. A background task (when built inside a
/// tokio runtime) removes keys whose bucket has drained every
/// [`sweep_interval`](MemoryStoreBuilder::sweep_interval).
///
/// Memory is bounded in keys ([`max_keys`](MemoryStoreBuilder::max_keys)) and in bytes
/// ([`max_bytes`](MemoryStoreBuilder::max_bytes)): keys longer than
/// [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES) are held as a fixed-size digest
/// ([`bounded_key`](crate::bounded_key)), and a request that would cross a bound first evicts
/// the drained keys and then the keys closest to draining, down to 7/8 of the bound — which
/// can only make a limit more lenient for those keys, never stricter. A flood of distinct
/// keys therefore costs eviction work, never unbounded memory.
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
/// # Ok::<(), reel_ratelimit::Error>(())
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
    max_bytes: usize,
    approx_len: AtomicUsize,
    approx_bytes: AtomicUsize,
    evicted: AtomicU64,
    /// Held by the thread that evicts because a bound was crossed; the others wait on it, so
    /// a flood cannot outrun eviction.
    evicting: Mutex<()>,
}

/// What the store counts for one key besides the key's allocation: the map slot (key
/// pointer and length, the state, a control byte) at the table's lowest load after growth,
/// with room for the old table while it is being grown, and the eviction pass's list of
/// states. Deliberately generous: the bound is a ceiling, not an estimate.
const ENTRY_OVERHEAD: usize = 128;

/// The bytes counted for a key of `key_len` bytes: its allocation (with the allocator's
/// header, in 16-byte steps) and [`ENTRY_OVERHEAD`].
fn entry_bytes(key_len: usize) -> usize {
    (key_len + 8).next_multiple_of(16) + ENTRY_OVERHEAD
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("keys", &self.inner.approx_len.load(Ordering::Relaxed))
            .field("bytes", &self.inner.approx_bytes.load(Ordering::Relaxed))
            .field("max_keys", &self.inner.max_keys)
            .field("max_bytes", &self.inner.max_bytes)
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
    max_bytes: usize,
    sweep_interval: Duration,
    shards: Option<usize>,
}

impl MemoryStoreBuilder {
    /// The clock decisions use (default: a [`FastClock`], anchored to the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The most keys held (default 1,000,000). A request that would hold more evicts first.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// The most bytes the keys and their state may take (default 128 MiB). Counted per key
    /// as its allocation (length plus 8, rounded up to 16) plus 128 bytes of map overhead;
    /// keys longer than [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES) are held as a 113-byte
    /// digest ([`bounded_key`](crate::bounded_key)), so no key counts more than 256 bytes.
    /// A request that would hold more evicts first.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(entry_bytes(MAX_KEY_BYTES));
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
            max_bytes: self.max_bytes,
            approx_len: AtomicUsize::new(0),
            approx_bytes: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
            evicting: Mutex::new(()),
        });
        let sweeper = tokio::runtime::Handle::try_current().ok().map(|_| {
            let weak = Arc::downgrade(&inner);
            let interval = self.sweep_interval;
            Arc::new(BackgroundTask::spawn(
                "reel-ratelimit memory sweeper",
                move |mut shutdown| async move {
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(interval) => {}
                        }
                        let Some(inner) = weak.upgrade() else { return };
                        let removed = inner.sweep();
                        if removed > 0 {
                            tracing::debug!(removed, "swept idle rate-limit keys");
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

    /// A builder to choose the clock, bounds and sweep interval.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            clock: Arc::new(FastClock::new()),
            max_keys: 1_000_000,
            max_bytes: 128 << 20,
            sweep_interval: Duration::from_secs(10),
            shards: None,
        }
    }

    /// Decides synchronously: the same as [`Store::decide`] without the future.
    pub fn decide_now(&self, key: &str, quota: &Quota, cost: u32) -> Result<Decision, Error> {
        if key.len() > MAX_KEY_BYTES {
            return self.decide_long(key, quota, cost);
        }
        let now = self.inner.clock.unix_nanos();
        if let Some(state) = self.inner.map.get(key) {
            return decide_atomic(&state, quota, now, cost);
        }
        self.decide_new(key, quota, now, cost)
    }

    /// A key longer than [`MAX_KEY_BYTES`], held as its digest; kept out of the hot path.
    #[cold]
    #[inline(never)]
    fn decide_long(&self, key: &str, quota: &Quota, cost: u32) -> Result<Decision, Error> {
        let key = bounded_key(key, MAX_KEY_BYTES);
        let now = self.inner.clock.unix_nanos();
        if let Some(state) = self.inner.map.get(&*key) {
            return decide_atomic(&state, quota, now, cost);
        }
        self.decide_new(&key, quota, now, cost)
    }

    /// A key not held yet (at most [`MAX_KEY_BYTES`] long); kept out of the hot path.
    #[inline(never)]
    fn decide_new(&self, key: &str, quota: &Quota, now: u64, cost: u32) -> Result<Decision, Error> {
        // Check the cost before inserting so that a refused request leaves no key.
        quota.decide_backlog(0, cost)?;
        let mut inserted = false;
        let decision = {
            let state = self.inner.map.entry(Box::from(key)).or_insert_with(|| {
                inserted = true;
                AtomicU64::new(0)
            });
            decide_atomic(&state, quota, now, cost)
        };
        if inserted {
            // The shard lock is released: evicting may take every shard's lock.
            self.inner.inserted(key.len());
        }
        decision
    }

    /// What a request of cost 1 for `key` would be told now; consumes nothing and inserts
    /// nothing.
    pub fn peek_now(&self, key: &str, quota: &Quota) -> Decision {
        let key = bounded_key(key, MAX_KEY_BYTES);
        let now = self.inner.clock.unix_nanos();
        let tat = self
            .inner
            .map
            .get(&*key)
            .map(|state| state.load(Ordering::Acquire));
        peek_decision(quota, tat, now)
    }

    /// Forgets `key`: its bucket is full again.
    pub fn reset_now(&self, key: &str) {
        let key = bounded_key(key, MAX_KEY_BYTES);
        if let Some((removed, _)) = self.inner.map.remove(&*key) {
            self.inner.approx_len.fetch_sub(1, Ordering::Relaxed);
            self.inner
                .approx_bytes
                .fetch_sub(entry_bytes(removed.len()), Ordering::Relaxed);
        }
    }

    /// Removes the keys whose bucket has drained. Returns how many keys were removed. The
    /// background sweeper calls this; call it yourself when the store was built outside a
    /// tokio runtime (the bounds hold either way: a request that would cross one evicts).
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    /// The number of keys held (approximate while other threads insert).
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether `key` has state (a bucket not yet swept).
    pub fn contains(&self, key: &str) -> bool {
        self.inner
            .map
            .contains_key(&*bounded_key(key, MAX_KEY_BYTES))
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    /// The bytes counted for the keys held (see
    /// [`max_bytes`](MemoryStoreBuilder::max_bytes)); approximate while other threads insert.
    pub fn bytes(&self) -> usize {
        self.inner.approx_bytes.load(Ordering::Relaxed)
    }

    /// How many keys have been removed by sweeping and eviction so far.
    pub fn evicted(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }
}

/// The state of a bucket whose TAT is `tat`, as [`Quota::peek_backlog`] reports it.
pub(crate) fn peek_decision(quota: &Quota, tat: Option<u64>, now: u64) -> Decision {
    quota.peek_backlog(tat.map_or(0, |tat| tat.saturating_sub(now)))
}

fn decide_atomic(state: &AtomicU64, quota: &Quota, now: u64, cost: u32) -> Result<Decision, Error> {
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
    /// Counts a new key of `key_len` bytes and, when a bound is crossed, evicts before
    /// returning.
    fn inserted(&self, key_len: usize) {
        let len = self.approx_len.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self
            .approx_bytes
            .fetch_add(entry_bytes(key_len), Ordering::Relaxed)
            + entry_bytes(key_len);
        if len <= self.max_keys && bytes <= self.max_bytes {
            return;
        }
        let _evicting = self
            .evicting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another thread may have evicted while this one waited.
        if self.over_bounds() {
            let removed = self.sweep();
            tracing::debug!(
                removed,
                keys = self.approx_len.load(Ordering::Relaxed),
                bytes = self.approx_bytes.load(Ordering::Relaxed),
                "rate-limit memory store full; evicted the keys closest to draining"
            );
        }
    }

    fn over_bounds(&self) -> bool {
        self.approx_len.load(Ordering::Relaxed) > self.max_keys
            || self.approx_bytes.load(Ordering::Relaxed) > self.max_bytes
    }

    /// Removes drained keys, then, when a bound is crossed, the keys closest to draining
    /// until the store is back under 7/8 of its bounds (so that a flood pays for one
    /// eviction pass per eighth of the store, not one per request).
    fn sweep(&self) -> usize {
        let now = self.clock.unix_nanos();
        let mut removed = 0usize;
        let mut bytes = 0usize;
        // `retain` holds each shard's write lock, and deciders hold a read lock across their
        // compare-and-swap, so no update to a removed key can be lost.
        self.map.retain(|key, tat| {
            let keep = tat.load(Ordering::Acquire) > now;
            if keep {
                bytes += entry_bytes(key.len());
            } else {
                removed += 1;
            }
            keep
        });
        let len = self.map.len();
        if len > self.max_keys || bytes > self.max_bytes {
            let target_keys = self.max_keys - self.max_keys / 8;
            let target_bytes = self.max_bytes - self.max_bytes / 8;
            // Entries differ in size: keep the share of keys that fits the byte target.
            let by_bytes = (len as u128 * target_bytes as u128 / bytes.max(1) as u128) as usize;
            let keep = target_keys.min(by_bytes);
            let excess = len.saturating_sub(keep);
            if excess > 0 {
                let mut tats: Vec<u64> = self
                    .map
                    .iter()
                    .map(|e| e.value().load(Ordering::Relaxed))
                    .collect();
                let excess = excess.min(tats.len());
                if excess > 0 {
                    let (below, cutoff, _) = tats.select_nth_unstable(excess - 1);
                    let cutoff = *cutoff;
                    // Remove exactly `excess` keys: all below the cutoff, then as many at
                    // it as are still needed (many keys share a TAT on a coarse clock).
                    let mut ties = excess - below.iter().filter(|&&tat| tat < cutoff).count();
                    drop(tats);
                    bytes = 0;
                    self.map.retain(|key, tat| {
                        let keep = match tat.load(Ordering::Acquire).cmp(&cutoff) {
                            std::cmp::Ordering::Greater => true,
                            std::cmp::Ordering::Less => false,
                            std::cmp::Ordering::Equal if ties > 0 => {
                                ties -= 1;
                                false
                            }
                            std::cmp::Ordering::Equal => true,
                        };
                        if keep {
                            bytes += entry_bytes(key.len());
                        } else {
                            removed += 1;
                        }
                        keep
                    });
                }
            }
        }
        self.approx_len.store(self.map.len(), Ordering::Relaxed);
        self.approx_bytes.store(bytes, Ordering::Relaxed);
        self.evicted.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }
}

impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn in_process(&self) -> bool {
        true
    }

    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        let result = self.decide_now(key, quota, cost).map_err(StoreError::from);
        Box::pin(std::future::ready(result))
    }

    fn peek<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(std::future::ready(Ok(self.peek_now(key, quota))))
    }

    fn reset<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.reset_now(key);
        Box::pin(std::future::ready(Ok(())))
    }
}
