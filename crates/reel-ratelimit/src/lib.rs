#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod fast_clock;
mod limiter;
#[cfg(feature = "memcache")]
mod memcache;
mod memory;
pub mod metrics;
pub mod quota;
#[cfg(feature = "redis")]
mod redis;
mod store;
#[cfg(feature = "tower")]
pub mod tower;

pub use error::{Error, StoreError};
pub use fast_clock::FastClock;
pub use limiter::{FailurePolicy, Limit, LimitOutcome, LimiterStats, RateLimiter, Verdict};
#[cfg(feature = "memcache")]
pub use memcache::MemcacheStore;
pub use memory::{MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "metrics")]
pub use metrics::describe_metrics;
pub use quota::{Decision, Outcome, Quota};
#[cfg(feature = "redis")]
pub use redis::{GCRA_PEEK_SCRIPT, GCRA_SCRIPT, RedisRouter, RedisStore, RedisTime};
pub use store::{BoxFuture, MAX_KEY_BYTES, Store, bounded_key, decode_tat, encode_tat};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::breaker::{BreakerState, CircuitBreaker, CircuitBreakerBuilder};
pub use reel_core::client_ip::{ClientIpPreset, ClientIpResolver, IpNet, TrustedProxies};
pub use reel_core::{Backoff, Clock, Jitter, ManualClock, SharedClock, SystemClock};
