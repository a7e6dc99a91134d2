//! Distributed leaky-bucket (GCRA) rate limiter with memory, memcache and redis stores and a
//! tower layer.
//!
//! reel-ratelimit meters requests with the generic cell rate algorithm (GCRA), the leaky
//! bucket as a meter: one timestamp of state per key (the bucket's *theoretical arrival
//! time*), no timers, exact `remaining`/`reset`/`retry-after` figures, and a denied request
//! consumes nothing. It provides:
//!
//! - [`Quota`] — "100 per minute, burst 20", built in code or parsed from `100/min burst 20`,
//!   with a cost per request; [`Quota::decide`] is the algorithm, shared by every store.
//! - [`Store`] — where state lives, deciding atomically; plug in your own. Built in:
//!   [`MemoryStore`] (sharded map, lock-free compare-and-swap per key, background eviction)
//!   with feature `memcache`, `MemcacheStore` (a reel-herd memcached cluster, add and
//!   compare-and-swap with bounded jittered retries, key TTL, one round trip for an
//!   uncontended decision on a known key), and, with feature `redis`, [`RedisStore`] (one Lua
//!   script, EVALSHA, one round trip, key expiry, hash-tagged keys, pluggable sharding —
//!   reel-herd's `RedisCluster` with feature `redis-herd`).
//!   Every built-in store keeps keys bounded ([`bounded_key`]): a long key is held as a
//!   readable prefix and a SHA-256 digest, so it is limited like a short one; the memory
//!   store bounds its bytes as well as its keys.
//! - [`RateLimiter`] — a store behind a timeout and a [`FailurePolicy`] (fail open or closed),
//!   with counters ([`LimiterStats`]) and `tracing` events; [`peek`](RateLimiter::peek)
//!   (no charge, no write), [`reset`](RateLimiter::reset), and several [`Limit`]s on one
//!   request ([`check_limits`](RateLimiter::check_limits): the tightest decides; shadow
//!   limits decide and report but never deny).
//! - with feature `tower`, [`tower::RateLimitLayer`] — per-client-IP (trusted proxies aware),
//!   per-route, per-header or custom keys, a policy for requests without a key, per-route
//!   quotas matched by path segment or axum route, several limits per request, shadow mode,
//!   costs (413 for a cost no bucket can hold), `X-RateLimit-*` (reset in seconds or as an
//!   epoch time), `Retry-After` and IETF `RateLimit`/`RateLimit-Policy` headers, a custom
//!   rejection and a hook on every decision.
//!
//! Time comes from a reel-core [`Clock`](reel_core::Clock), so tests with a
//! [`ManualClock`](reel_core::ManualClock) are exact; the memory store defaults to
//! [`FastClock`] (the CPU's time-stamp counter anchored to the wall clock), the redis store to
//! the server's `TIME`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use reel_core::ManualClock;
//! use reel_ratelimit::{MemoryStore, Quota, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::at_unix(Duration::from_secs(1_700_000_000));
//! let limiter = RateLimiter::new(MemoryStore::builder().clock(clock.clone()).build());
//! let quota: Quota = "60/min burst 3".parse()?; // one per second, three at once
//!
//! for remaining in [2, 1, 0] {
//!     let decision = limiter.check("203.0.113.9", &quota).await?;
//!     assert!(decision.is_allowed());
//!     assert_eq!(decision.remaining(), remaining);
//! }
//! let denied = limiter.check("203.0.113.9", &quota).await?;
//! assert!(!denied.is_allowed());
//! assert_eq!(denied.retry_after(), Some(Duration::from_secs(1)));
//! assert_eq!(denied.reset(), Duration::from_secs(3));
//!
//! clock.advance(Duration::from_secs(1));
//! assert!(limiter.check("203.0.113.9", &quota).await?.is_allowed());
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | enables |
//! |---------|---------|---------|
//! | `redis` | no | [`RedisStore`] over the `redis` crate (tokio, connection manager) |
//! | `memcache` | no | `MemcacheStore` over reel-herd's memcached cluster (memcached 1.6+) |
//! | `redis-herd` | no | `redis`, and [`RedisRouter`] for reel-herd's `RedisCluster` |
//! | `tower` | no | [`tower::RateLimitLayer`] for axum, hyper and any tower HTTP service |
//! | `axum`  | no | `tower`, and the layer also reads axum's `ConnectInfo<SocketAddr>` and `MatchedPath` |
//!
//! Choosing a store: the memory store for one process (or tests); redis or memcache when a
//! fleet must share one limit — see each store's documentation for an example.
//!
//! # Minimum supported Rust version
//!
//! 1.94.1.

mod error;
mod fast_clock;
mod limiter;
#[cfg(feature = "memcache")]
mod memcache;
mod memory;
pub mod quota;
#[cfg(feature = "redis")]
mod redis;
mod store;
#[cfg(feature = "tower")]
pub mod tower;

pub use error::{QuotaError, StoreError};
pub use fast_clock::FastClock;
pub use limiter::{FailurePolicy, Limit, LimitOutcome, LimiterStats, RateLimiter, Verdict};
#[cfg(feature = "memcache")]
pub use memcache::MemcacheStore;
pub use memory::{MemoryStore, MemoryStoreBuilder};
pub use quota::{Decision, Outcome, Quota};
#[cfg(feature = "redis")]
pub use redis::{GCRA_PEEK_SCRIPT, GCRA_SCRIPT, RedisRouter, RedisStore, RedisTime};
pub use store::{BoxFuture, MAX_KEY_BYTES, Store, bounded_key, decode_tat, encode_tat};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::client_ip::{ClientIpPreset, ClientIpResolver, IpNet, TrustedProxies};
pub use reel_core::{Backoff, Clock, Jitter, ManualClock, SharedClock, SystemClock};
