//! The [`Store`] trait that keeps the per-key state, and the state's wire format.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::error::StoreError;
use crate::quota::{Decision, Quota};

/// A boxed, sendable future, as [`Store::decide`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the per-key state lives; decides one request atomically.
///
/// A store keeps one value per key: the bucket's *theoretical arrival time* (TAT), in
/// nanoseconds since the Unix epoch, written in decimal by [`encode_tat`] when it leaves the
/// process. Deciding means: read the TAT, call [`Quota::decide`] with the current time, and,
/// if the request is admitted, replace the TAT with [`Outcome::new_tat`](crate::Outcome::new_tat)
/// — atomically, so that two concurrent requests never both see the old value. A denied
/// request writes nothing. A store should let idle keys expire once the TAT has passed (the
/// state is then the same as no state).
///
/// Errors are returned as they happen; timeouts and the fail-open/fail-closed choice belong to
/// the [`RateLimiter`](crate::RateLimiter) that wraps the store.
///
/// A store over a compare-and-swap cache (memcached) fits as is: `gets` the key, decide,
/// `add` when the key was missing or `cas` with the token read, retry on conflict a bounded
/// number of times with jitter ([`StoreError::Contention`] when they run out), and give the
/// item a TTL of the outcome's backlog rounded up to whole seconds.
///
/// ```
/// use std::sync::Mutex;
/// use std::collections::HashMap;
/// use reel_core::{Clock, SystemClock};
/// use reel_ratelimit::{BoxFuture, Decision, Quota, Store, StoreError};
///
/// /// A store that keeps every key behind one lock.
/// #[derive(Debug, Default)]
/// struct LockedStore(Mutex<HashMap<String, u64>>);
///
/// impl Store for LockedStore {
///     fn decide<'a>(&'a self, key: &'a str, quota: &'a Quota, cost: u32)
///         -> BoxFuture<'a, Result<Decision, StoreError>> {
///         Box::pin(async move {
///             let mut map = self.0.lock().map_err(|_| StoreError::Contention { attempts: 1 })?;
///             let outcome = quota.decide(map.get(key).copied(), SystemClock.unix_nanos(), cost)?;
///             if let Some(tat) = outcome.new_tat() {
///                 map.insert(key.to_owned(), tat);
///             }
///             Ok(outcome.decision)
///         })
///     }
/// }
/// ```
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Decides a request of `cost` for `key` under `quota`, updating the state atomically.
    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>>;
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        (**self).decide(key, quota, cost)
    }
}

/// The stored form of a TAT: decimal nanoseconds since the Unix epoch (`"1732392000123456789"`).
///
/// Every out-of-process store (redis, memcache) uses it, so tools can read the state and
/// stores can be swapped without a format change.
pub fn encode_tat(tat_nanos: u64) -> String {
    tat_nanos.to_string()
}

/// Reads a TAT written by [`encode_tat`].
pub fn decode_tat(bytes: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| StoreError::CorruptState(String::from_utf8_lossy(bytes).into_owned()))
}
