//! The memcache store: compare-and-swap on one item per bucket, through reel-herd.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use reel_core::{Backoff, Clock, Jitter, SharedClock, SystemClock};
use reel_herd::{CasToken, MemcacheCluster, MetaWrite};

use crate::error::StoreError;
use crate::memory::peek_decision;
use crate::quota::{Decision, Outcome, Quota};
use crate::store::{BoxFuture, Store, decode_tat, encode_tat, push_digest, store_span, traced};

/// The default number of compare-and-swap attempts per decision.
const DEFAULT_ATTEMPTS: u32 = 8;
/// memcached's longest key, in bytes.
const MAX_MEMCACHE_KEY: usize = 250;
/// The default bound on remembered (key → TAT, CAS token) entries.
const DEFAULT_TOKEN_CACHE: usize = 10_000;

/// A store in memcached, through a reel-herd [`MemcacheCluster`] (consistent hashing over the
/// nodes, per-node pools, ejection of dead nodes).
///
/// One item per bucket, `<prefix><key>`, holds the TAT in decimal nanoseconds
/// ([`encode_tat`]). A decision reads the item and its CAS token, runs [`Quota::decide`] with
/// this store's clock and, when admitted, writes the new TAT with an add (no item yet) or a
/// compare-and-swap against the token read; a denied request writes nothing. A write that
/// loses a race is retried — read again, decide again — up to
/// [`max_attempts`](Self::max_attempts) times with jittered backoff, then the
/// decision fails with [`StoreError::Contention`]. Items expire one second after their
/// bucket has drained (`ceil(backlog) + 1` s).
///
/// **One round trip per decision.** memcached's meta protocol returns the new CAS token on
/// every write, so the store remembers, for keys it wrote itself, the TAT and token it left
/// (a bounded map, [`token_cache`](Self::token_cache)). The next admitted request
/// on that key goes straight to a compare-and-swap — one round trip. If another process
/// wrote in between, the swap fails and the store falls back to reading; a request the
/// remembered state would deny is always confirmed by a read, so the figures reported are
/// the server's. Read it all with [`round_trips`](Self::round_trips). Needs memcached 1.6+.
///
/// Time comes from this store's clock (the system clock by default): application servers
/// sharing a cluster should keep their clocks synchronised (NTP); skew between them shifts
/// the limit by as much.
///
/// ```no_run
/// use std::time::Duration;
/// use reel_herd::{ClusterBuilder, StaticDiscovery};
/// use reel_ratelimit::{FailurePolicy, MemcacheStore, Quota, RateLimiter};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = ClusterBuilder::new(StaticDiscovery::parse("10.0.0.1:11211,10.0.0.2:11211")?)
///     .command_timeout(Duration::from_millis(100))
///     .build_memcache()
///     .await?;
/// let store = MemcacheStore::new(cluster).prefix("api:rl:");
/// let limiter = RateLimiter::new(store)
///     .with_timeout(Duration::from_millis(150))
///     .with_failure_policy(FailurePolicy::FailOpen);
///
/// let quota: Quota = "100/min burst 20".parse()?;
/// let decision = limiter.check("client:203.0.113.9", &quota).await?;
/// println!("allowed: {}, remaining: {}", decision.is_allowed(), decision.remaining());
/// # Ok(()) }
/// ```
pub struct MemcacheStore {
    cluster: MemcacheCluster,
    prefix: String,
    clock: SharedClock,
    max_attempts: u32,
    backoff: Backoff,
    tokens: DashMap<String, (u64, CasToken), foldhash::fast::RandomState>,
    token_capacity: usize,
    round_trips: AtomicU64,
    conflicts: AtomicU64,
}

impl fmt::Debug for MemcacheStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcacheStore")
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("max_attempts", &self.max_attempts)
            .field("token_capacity", &self.token_capacity)
            .field("round_trips", &self.round_trips())
            .field("conflicts", &self.conflicts())
            .finish_non_exhaustive()
    }
}

impl MemcacheStore {
    /// A store over `cluster`, keys prefixed `rl:`, the system clock, 8 attempts per
    /// decision with 0.5–20 ms of full-jitter backoff between them, and up to 10 000
    /// remembered CAS tokens.
    pub fn new(cluster: MemcacheCluster) -> Self {
        Self {
            cluster,
            prefix: "rl:".to_owned(),
            clock: Arc::new(SystemClock),
            max_attempts: DEFAULT_ATTEMPTS,
            backoff: Backoff::new(Duration::from_micros(500), Duration::from_millis(20))
                .with_jitter(Jitter::Full),
            tokens: DashMap::default(),
            token_capacity: DEFAULT_TOKEN_CACHE,
            round_trips: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        }
    }

    /// Prefixes every key (default `rl:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The clock that decides (default: the system clock). A
    /// [`ManualClock`](reel_core::ManualClock) gives exact figures in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How many compare-and-swap attempts a decision makes before it fails with
    /// [`StoreError::Contention`] (default 8, at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delays between attempts (default 0.5 ms doubling to 20 ms, full jitter). Its
    /// retry limit is ignored: [`max_attempts`](Self::max_attempts) bounds them.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How many (key → TAT, CAS token) entries this process remembers to decide in one
    /// round trip (default 10 000; `0` turns it off: every decision reads first). When full,
    /// drained buckets are forgotten first, then everything.
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.token_capacity = capacity;
        self
    }

    /// The memcached key of a bucket: the prefix and the key, with spaces, control
    /// characters and `%` written as `%XX` (memcached keys cannot hold them). When that is
    /// longer than memcached's 250 bytes, its first 185 bytes are kept readable, followed by
    /// `~` and the SHA-256 of the prefix and key in hex: a long key (an API key header, a
    /// long path) is limited like a short one instead of failing key validation.
    pub fn memcache_key(&self, key: &str) -> String {
        let plain = |text: &str| !text.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'%');
        if self.prefix.len() + key.len() <= MAX_MEMCACHE_KEY && plain(&self.prefix) && plain(key) {
            let mut out = String::with_capacity(self.prefix.len() + key.len());
            out.push_str(&self.prefix);
            out.push_str(key);
            return out;
        }
        // The readable part of a digested key leaves room for `~` and 64 hex digits.
        const READABLE: usize = MAX_MEMCACHE_KEY - 1 - 64;
        let mut out = String::with_capacity(MAX_MEMCACHE_KEY + 3);
        let mut readable = 0;
        for c in self.prefix.chars().chain(key.chars()) {
            if c.is_ascii_control() || c == ' ' || c == '%' {
                out.push_str(&format!("%{:02X}", u32::from(c)));
            } else {
                out.push(c);
            }
            if out.len() <= READABLE {
                readable = out.len();
            }
            if out.len() > MAX_MEMCACHE_KEY {
                break;
            }
        }
        if out.len() > MAX_MEMCACHE_KEY {
            out.truncate(readable);
            out.push('~');
            push_digest(&mut out, &[self.prefix.as_bytes(), key.as_bytes()]);
        }
        out
    }

    /// Requests sent to memcached so far (each is one round trip).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Writes that lost a race to another writer so far (each costs a read and a retry).
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    /// The cluster this store writes to.
    pub fn cluster(&self) -> &MemcacheCluster {
        &self.cluster
    }

    fn trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    fn remember(&self, key: &str, tat: u64, token: CasToken, now: u64) {
        if self.token_capacity == 0 {
            return;
        }
        if self.tokens.len() >= self.token_capacity && !self.tokens.contains_key(key) {
            self.tokens.retain(|_, (tat, _)| *tat > now);
            if self.tokens.len() >= self.token_capacity {
                self.tokens.clear();
            }
        }
        self.tokens.insert(key.to_owned(), (tat, token));
    }

    async fn decide_inner(
        &self,
        key: &str,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, StoreError> {
        let item = self.memcache_key(key);
        // Fast path: the state this process left, swapped in one round trip.
        let remembered = self.tokens.get(&item).map(|entry| *entry);
        if let Some((tat, token)) = remembered {
            let now = self.clock.unix_nanos();
            let outcome = quota.decide(Some(tat), now, cost)?;
            if let Some(new_tat) = outcome.new_tat() {
                self.trip();
                match traced(self.span("cas", &item), async {
                    self.cluster
                        .meta_cas(&item, encode_tat(new_tat).as_bytes(), ttl(&outcome), token)
                        .await
                        .map_err(StoreError::backend)
                })
                .await?
                {
                    MetaWrite::Stored(token) => {
                        self.remember(&item, new_tat, token, now);
                        return Ok(outcome.decision);
                    }
                    _ => {
                        self.conflicts.fetch_add(1, Ordering::Relaxed);
                        self.tokens.remove(&item);
                    }
                }
            }
            // Denied on what we remember: read, so the figures are the server's.
        } else {
            quota.decide_backlog(0, cost)?; // a cost above the burst needs no round trip
        }

        let mut delays = self.backoff.delays();
        for attempt in 1..=self.max_attempts {
            self.trip();
            let current = traced(self.span("gets", &item), async {
                self.cluster
                    .meta_get(&item)
                    .await
                    .map_err(StoreError::backend)
            })
            .await?;
            let now = self.clock.unix_nanos();
            let (tat, token) = match current {
                Some((value, token)) => (Some(decode_tat(&value)?), Some(token)),
                None => (None, None),
            };
            let outcome = quota.decide(tat, now, cost)?;
            let Some(new_tat) = outcome.new_tat() else {
                if let (Some(tat), Some(token)) = (tat, token) {
                    self.remember(&item, tat, token, now);
                }
                return Ok(outcome.decision);
            };
            let value = encode_tat(new_tat);
            self.trip();
            let written = match token {
                Some(token) => {
                    traced(self.span("cas", &item), async {
                        self.cluster
                            .meta_cas(&item, value.as_bytes(), ttl(&outcome), token)
                            .await
                            .map_err(StoreError::backend)
                    })
                    .await?
                }
                None => {
                    traced(self.span("add", &item), async {
                        self.cluster
                            .meta_add(&item, value.as_bytes(), ttl(&outcome))
                            .await
                            .map_err(StoreError::backend)
                    })
                    .await?
                }
            };
            if let MetaWrite::Stored(token) = written {
                self.remember(&item, new_tat, token, now);
                return Ok(outcome.decision);
            }
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            if attempt < self.max_attempts {
                let delay = delays.next().unwrap_or(self.backoff.max());
                tokio::time::sleep(delay).await;
            }
        }
        tracing::debug!(key = %item, attempts = self.max_attempts, "memcache rate-limit contention");
        Err(StoreError::Contention {
            attempts: self.max_attempts,
        })
    }
}

impl MemcacheStore {
    /// A span for one memcached command on `item`, on the node that owns it. The operation is
    /// named by the classic command (`gets`, `add`, `cas`, `delete`); reel-herd sends its meta
    /// equivalent (`mg`, `ms`) to memcached 1.6.10 and later.
    fn span(&self, command: &'static str, item: &str) -> tracing::Span {
        store_span("memcached", command, || {
            self.cluster
                .node_for(item)
                .map(|node| (node.host().to_owned(), node.port()))
        })
    }

    async fn peek_inner(&self, key: &str, quota: &Quota) -> Result<Decision, StoreError> {
        let item = self.memcache_key(key);
        self.trip();
        let current = traced(self.span("gets", &item), async {
            self.cluster
                .meta_get(&item)
                .await
                .map_err(StoreError::backend)
        })
        .await?;
        let tat = match current {
            Some((value, _)) => Some(decode_tat(&value)?),
            None => None,
        };
        Ok(peek_decision(quota, tat, self.clock.unix_nanos()))
    }

    async fn reset_inner(&self, key: &str) -> Result<(), StoreError> {
        let item = self.memcache_key(key);
        self.tokens.remove(&item);
        self.trip();
        traced(self.span("delete", &item), async {
            self.cluster
                .delete(&item)
                .await
                .map_err(StoreError::backend)
        })
        .await?;
        Ok(())
    }
}

/// The item's lifetime: one second past the moment the bucket has drained.
fn ttl(outcome: &Outcome) -> Duration {
    let backlog = outcome.new_backlog_nanos.unwrap_or(0);
    Duration::from_secs(backlog.div_ceil(1_000_000_000).saturating_add(1))
}

impl Store for MemcacheStore {
    fn kind(&self) -> &'static str {
        "memcache"
    }

    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(self.decide_inner(key, quota, cost))
    }

    fn peek<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(self.peek_inner(key, quota))
    }

    fn reset<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.reset_inner(key))
    }
}
