#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod cookies;
mod ec_explicit;
mod encoding;
mod error;
mod key;
#[cfg(feature = "key-management")]
pub mod key_management;
pub mod metrics;
#[cfg(feature = "encrypted-keys")]
mod pbes1;
mod pem;
mod policy;
mod ring;
mod signer;

pub use cache::{CacheStats, CachingSigner};
pub use cookie;
pub use cookies::{CookieExpiry, CookieOptions, SignedCookies};
pub use encoding::{cloudfront_base64, cloudfront_base64_decode, encode_url};
pub use error::Error;
pub use key::{Backend, HashAlgorithm, KeyFingerprint, KeyKind, PublicKey, SigningKey};
#[cfg(feature = "metrics")]
pub use metrics::describe_metrics;
pub use policy::{CustomPolicyBuilder, Policy, SourceIp};
pub use ring::KeyRing;
pub use signer::{AsyncKeySigner, AsyncSigner, KeySigner, SignatureFuture, SignedPolicy, Signer};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::{Clock, ManualClock, SecretError, SecretSource, SharedClock, SystemClock};
