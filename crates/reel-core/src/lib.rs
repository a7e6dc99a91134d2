//! Small shared foundation of the reel crates: clocks, backoff, hot-swappable values,
//! background tasks and secrets.
//!
//! `reel-core` holds only the vocabulary that two or more reel crates share, the way
//! `tracing-core` or `tower-service` do for their ecosystems. It has no HTTP framework, no
//! configuration format and no domain logic.
//!
//! | Item | What it is | Used by |
//! |---|---|---|
//! | [`Clock`], [`SystemClock`], [`ManualClock`] | wall-clock and monotonic time that tests can drive | ratelimit, cloudfront, geoip, herd |
//! | [`Backoff`] | exponential, capped, jittered retry delays, deterministic with a seed | herd, search, geoip |
//! | [`HotSwap`] | a read-mostly value with lock-free reads and atomic replacement | herd topology, geoip databases |
//! | [`BackgroundTask`] | a spawned task that stops on request or on drop | herd discovery, geoip reloads |
//! | [`breaker`] | a circuit breaker: skip a failing backend for a growing cool-down, one probe at a time | ratelimit store, search sync |
//! | [`client_ip`] | the client's address behind the operator's proxies: one header, presets for ALB, CloudFront, nginx, Cloudflare and hop counts, and the peer address of a request | ratelimit, geoip |
//! | [`SecretSource`], [`Secret`] | a secret from a literal, an environment variable or a file; `Debug` never prints it | cloudfront keys, MaxMind license keys, search credentials |
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use reel_core::{Backoff, Clock, HotSwap, ManualClock, SecretSource};
//!
//! // Time that a test controls.
//! let clock = ManualClock::new();
//! let start = clock.instant();
//! clock.advance(Duration::from_secs(5));
//! assert_eq!(clock.instant() - start, Duration::from_secs(5));
//!
//! // Retry delays: 100 ms doubling up to 2 s, with full jitter from a fixed seed.
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2)).with_seed(7);
//! let delays: Vec<Duration> = backoff.delays().take(5).collect();
//! assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
//!
//! // A value readers load without locks while a writer replaces it.
//! let topology = HotSwap::new(vec!["10.0.0.1:11211".to_string()]);
//! topology.store(vec!["10.0.0.1:11211".into(), "10.0.0.2:11211".into()]);
//! assert_eq!(topology.load().len(), 2);
//!
//! // A secret whose Debug output is redacted.
//! let key = SecretSource::literal("hunter2").resolve()?;
//! assert_eq!(format!("{key:?}"), "Secret([REDACTED])");
//! assert_eq!(key.expose(), "hunter2");
//! # Ok::<(), reel_core::SecretError>(())
//! ```
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `tokio` | yes | [`BackgroundTask`], [`Backoff::retry`], [`HotSwap::subscribe`] |
//! | `http` | no | `ClientIpResolver::resolve_headers` over an `http::HeaderMap`, `client_ip::peer_addr` from a `SocketAddr` request extension |
//! | `axum` | no | `client_ip::peer_addr` also reads axum's `ConnectInfo<SocketAddr>` |
//!
//! Without `tokio` the crate is runtime-agnostic: clocks, backoff delays, [`HotSwap`] and
//! secrets need no async runtime.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.94.1, the workspace's MSRV.

mod backoff;
pub mod breaker;
pub mod client_ip;
mod clock;
mod secret;
mod swap;
#[cfg(feature = "tokio")]
mod task;

#[cfg(feature = "tokio")]
pub use backoff::RetryError;
pub use backoff::{Backoff, Delays, Jitter};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use secret::{Secret, SecretError, SecretSource};
#[cfg(feature = "tokio")]
pub use swap::Subscription;
pub use swap::{Guard, HotSwap};
#[cfg(feature = "tokio")]
pub use task::{BackgroundTask, ShutdownSignal, TaskError};
