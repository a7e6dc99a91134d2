//! Expiry bucketing and a bounded signature cache for hot resources.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Error;
use crate::cookies::{CookieOptions, SignedCookies};
use crate::key::{HashAlgorithm, KeyFingerprint};
use crate::metrics::CacheMetrics;
use crate::policy::{Policy, validate_url};
use crate::ring::KeyRing;
use crate::signer::SignedPolicy;

/// A cached signature belongs to one key's material, not just its key-pair id: a key replaced
/// under the same id never gets the old key's signatures.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    fingerprint: KeyFingerprint,
    key_pair_id: String,
    hash: HashAlgorithm,
    policy: String,
}

/// Signs through a [`KeyRing`], rounding expiries up to a granularity so that requests for the
/// same resource within one window share a policy, and caching the signatures of those
/// policies in a bounded cache.
///
/// With a granularity of 5 minutes and a time-to-live of 1 hour, every request for a resource
/// between 12:00:00 and 12:04:59 gets a URL expiring at 13:05:00: one RSA signature instead of
/// one per request. URLs therefore live between `ttl` and `ttl + granularity`. The cache key
/// includes the active key-pair id and the key's fingerprint, so a rotation, or a key replaced
/// under the same id, takes effect at once. Concurrent misses on
/// the same policy sign once.
///
/// ```
/// use std::time::Duration;
/// use reel_cloudfront::{CachingSigner, KeyRing, Signer};
/// # let pem = include_str!("../tests/keys/rsa2048-pkcs1.pem");
///
/// let ring = KeyRing::new(Signer::from_pem("K2JCJMDEHXQW5F", pem)?);
/// let signer = CachingSigner::new(ring, Duration::from_secs(300), 10_000);
/// let url = "https://d111111abcdef8.cloudfront.net/hot.jpg";
/// let first = signer.canned_url(url, Duration::from_secs(3600))?;
/// let second = signer.canned_url(url, Duration::from_secs(3600))?;
/// assert_eq!(first, second);
/// assert_eq!((signer.stats().hits, signer.stats().misses), (1, 1));
/// # Ok::<(), reel_cloudfront::Error>(())
/// ```
pub struct CachingSigner {
    ring: KeyRing,
    granularity: u64,
    cache: quick_cache::sync::Cache<CacheKey, Arc<SignedPolicy>>,
    hits: AtomicU64,
    misses: AtomicU64,
    metrics: CacheMetrics,
}

/// Counters of a [`CachingSigner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Signatures served from the cache.
    pub hits: u64,
    /// Signatures computed.
    pub misses: u64,
    /// Signatures held now.
    pub entries: usize,
}

impl CachingSigner {
    /// Signs with `ring`'s active key, rounding expiries up to multiples of `granularity`
    /// (at least one second) and caching up to about `capacity` signatures.
    pub fn new(ring: impl Into<KeyRing>, granularity: Duration, capacity: usize) -> Self {
        Self {
            ring: ring.into(),
            granularity: granularity.as_secs().max(1),
            cache: quick_cache::sync::Cache::new(capacity.max(1)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            metrics: CacheMetrics::new(),
        }
    }

    /// The key ring signatures come from.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The expiry for a URL that must stay valid for at least `ttl` from now: `now + ttl`
    /// rounded up to the granularity.
    pub fn expiry_for(&self, ttl: Duration) -> u64 {
        let now = self.ring.active().clock().unix_seconds();
        let target = now.saturating_add(ttl.as_secs().max(1));
        target
            .div_ceil(self.granularity)
            .saturating_mul(self.granularity)
    }

    /// Signs `policy` with the active key, or returns the cached signature.
    pub fn sign(&self, policy: &Policy) -> Result<Arc<SignedPolicy>, Error> {
        let signer = self.ring.active();
        let key = CacheKey {
            fingerprint: signer.fingerprint(),
            key_pair_id: signer.key_pair_id().to_owned(),
            hash: signer.hash_algorithm(),
            policy: policy.json().to_owned(),
        };
        let mut signed_now = false;
        let signed = self.cache.get_or_insert_with(&key, || {
            signed_now = true;
            signer.sign(policy).map(Arc::new)
        })?;
        if signed_now {
            self.misses.fetch_add(1, Ordering::Relaxed);
            self.metrics.miss();
        } else {
            // A cached policy may have expired since (a long-lived custom policy): refuse it
            // the way a fresh signature would be refused.
            let now = signer.clock().unix_seconds();
            if signed.expires() <= now {
                return Err(Error::ExpiryInPast {
                    expires: signed.expires(),
                    now,
                });
            }
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.metrics.hit();
        }
        Ok(signed)
    }

    /// A canned-policy URL valid for at least `ttl`, with a bucketed expiry.
    pub fn canned_url(&self, url: &str, ttl: Duration) -> Result<String, Error> {
        let policy = Policy::canned(url, self.expiry_for(ttl))?;
        Ok(self.sign(&policy)?.append_to(url))
    }

    /// A signed URL for `url` under `policy` (which must cover it). Build the policy's expiry
    /// with [`expiry_for`](Self::expiry_for) so that repeated calls hit the cache.
    pub fn signed_url(&self, url: &str, policy: &Policy) -> Result<String, Error> {
        validate_url(url)?;
        if !policy.covers(url) {
            return Err(Error::ResourceMismatch {
                url: url.to_owned(),
                resource: policy.resource().to_owned(),
            });
        }
        Ok(self.sign(policy)?.append_to(url))
    }

    /// Signed cookies for `policy`, from the cache when possible.
    pub fn signed_cookies(
        &self,
        policy: &Policy,
        options: &CookieOptions,
    ) -> Result<SignedCookies, Error> {
        Ok(self.sign(policy)?.cookies(options))
    }

    /// Hits, misses and the number of cached signatures.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.len(),
        }
    }
}

impl fmt::Debug for CachingSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingSigner")
            .field("ring", &self.ring)
            .field("granularity_secs", &self.granularity)
            .field("stats", &self.stats())
            .finish()
    }
}
