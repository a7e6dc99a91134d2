#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
