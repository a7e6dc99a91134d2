//! The metric names of reel-cloudfront, recorded through the `metrics` facade with the
//! `metrics` feature; without it nothing is recorded and the instrumentation compiles to
//! nothing.
//!
//! | Name | Type | Labels |
//! |------|------|--------|
//! | `reel_cloudfront_signatures_total` | counter | `algorithm` (rsa_sha1, rsa_sha256, ecdsa_sha256), `key_id` |
//! | `reel_cloudfront_sign_duration_seconds` | histogram | `algorithm` |
//! | `reel_cloudfront_cache_total` | counter | `outcome` (hit, miss) |
//!
//! Each [`Signer`](crate::Signer), [`AsyncSigner`](crate::AsyncSigner) and
//! [`CachingSigner`](crate::CachingSigner) registers its handles once, when it is built, so a
//! signature costs no allocation for its metrics. Handles bind to the recorder installed at
//! that moment: install the recorder before building signers.

#[cfg(feature = "metrics")]
pub use on::describe_metrics;
#[cfg(feature = "metrics")]
pub(crate) use on::{CacheMetrics, SignerMetrics};

#[cfg(not(feature = "metrics"))]
pub(crate) use off::{CacheMetrics, SignerMetrics};

/// Signatures made, by algorithm and key-pair id.
pub const SIGNATURES_TOTAL: &str = "reel_cloudfront_signatures_total";
/// Time to compute one signature, by algorithm.
pub const SIGN_DURATION_SECONDS: &str = "reel_cloudfront_sign_duration_seconds";
/// Signature-cache lookups of a `CachingSigner`, by outcome.
pub const CACHE_TOTAL: &str = "reel_cloudfront_cache_total";

use crate::key::{HashAlgorithm, KeyKind};

/// The `algorithm` label of a key kind signing with a hash.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn algorithm(kind: KeyKind, hash: HashAlgorithm) -> &'static str {
    match (kind, hash) {
        (KeyKind::EcdsaP256, _) => "ecdsa_sha256",
        (KeyKind::Rsa2048, HashAlgorithm::Sha1) => "rsa_sha1",
        (KeyKind::Rsa2048, HashAlgorithm::Sha256) => "rsa_sha256",
    }
}

#[cfg(feature = "metrics")]
mod on {
    use std::time::Instant;

    use ::metrics::{
        Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram,
    };

    use super::{CACHE_TOTAL, SIGN_DURATION_SECONDS, SIGNATURES_TOTAL, algorithm};
    use crate::key::{HashAlgorithm, KeyKind};

    /// Describes every metric of reel-cloudfront (unit and help text) to the installed
    /// recorder, so an exporter shows them with `HELP` lines. Call it once after installing
    /// the recorder.
    pub fn describe_metrics() {
        describe_counter!(
            SIGNATURES_TOTAL,
            Unit::Count,
            "Signatures computed, by algorithm (rsa_sha1, rsa_sha256, ecdsa_sha256) and \
             CloudFront key-pair id; cached signatures are not counted again."
        );
        describe_histogram!(
            SIGN_DURATION_SECONDS,
            Unit::Seconds,
            "Time to compute one signature (local key, HSM or remote signer), by algorithm."
        );
        describe_counter!(
            CACHE_TOTAL,
            Unit::Count,
            "CachingSigner lookups by outcome (hit: a cached signature served; miss: signed)."
        );
    }

    /// A signer's handles: one counter and one histogram for its key and algorithm.
    #[derive(Clone)]
    pub(crate) struct SignerMetrics {
        signatures: Counter,
        duration: Histogram,
    }

    impl SignerMetrics {
        pub(crate) fn new(key_pair_id: &str, kind: KeyKind, hash: HashAlgorithm) -> Self {
            let algorithm = algorithm(kind, hash);
            Self {
                signatures: counter!(SIGNATURES_TOTAL, "algorithm" => algorithm,
                    "key_id" => key_pair_id.to_owned()),
                duration: histogram!(SIGN_DURATION_SECONDS, "algorithm" => algorithm),
            }
        }

        #[inline]
        pub(crate) fn start() -> Instant {
            Instant::now()
        }

        /// Records a signature that started at `start` (only successful ones count).
        #[inline]
        pub(crate) fn signed(&self, start: Instant) {
            self.duration.record(start.elapsed().as_secs_f64());
            self.signatures.increment(1);
        }
    }

    /// A caching signer's hit and miss counters.
    pub(crate) struct CacheMetrics {
        hit: Counter,
        miss: Counter,
    }

    impl CacheMetrics {
        pub(crate) fn new() -> Self {
            Self {
                hit: counter!(CACHE_TOTAL, "outcome" => "hit"),
                miss: counter!(CACHE_TOTAL, "outcome" => "miss"),
            }
        }

        #[inline]
        pub(crate) fn hit(&self) {
            self.hit.increment(1);
        }

        #[inline]
        pub(crate) fn miss(&self) {
            self.miss.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use crate::key::{HashAlgorithm, KeyKind};

    /// Nothing: the `metrics` feature is off.
    #[derive(Clone)]
    pub(crate) struct SignerMetrics;

    /// When a signature started: nothing without the `metrics` feature.
    #[derive(Clone, Copy)]
    pub(crate) struct Started;

    impl SignerMetrics {
        #[inline(always)]
        pub(crate) fn new(_key_pair_id: &str, _kind: KeyKind, _hash: HashAlgorithm) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn start() -> Started {
            Started
        }
        #[inline(always)]
        pub(crate) fn signed(&self, _start: Started) {}
    }

    /// Nothing: the `metrics` feature is off.
    pub(crate) struct CacheMetrics;

    impl CacheMetrics {
        #[inline(always)]
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn hit(&self) {}
        #[inline(always)]
        pub(crate) fn miss(&self) {}
    }
}
