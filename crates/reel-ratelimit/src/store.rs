//! The [`Store`] trait that keeps the per-key state, and the state's wire format.

use std::borrow::Cow;
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
    /// A short name for the kind of store, the `store` label of the limiter's metrics and
    /// logs: `memory`, `redis`, `memcache`; the default is `custom`.
    ///
    /// The limiter records store latency ([`STORE_DURATION_SECONDS`](crate::metrics::STORE_DURATION_SECONDS))
    /// for every store except `memory`, whose decision is the call itself.
    fn kind(&self) -> &'static str {
        "custom"
    }

    /// Whether [`decide`](Self::decide) finishes without I/O (a store in this process's
    /// memory); the default is `false`.
    ///
    /// The limiter calls an in-process store's `decide` directly: the timeout, the circuit
    /// breaker and the store timing exist for stores across a network, and around a call
    /// that cannot hang they only cost a timer entry per decision. Such a store's
    /// decisions need no Tokio timer, so they run on any executor.
    fn in_process(&self) -> bool {
        false
    }

    /// Decides a request of `cost` for `key` under `quota`, updating the state atomically.
    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>>;

    /// What a request of cost 1 for `key` would be told now, without consuming anything and
    /// without writing to the store. The default answers [`StoreError::Unsupported`].
    fn peek<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        let _ = (key, quota);
        Box::pin(std::future::ready(Err(StoreError::Unsupported("peek"))))
    }

    /// Forgets `key`'s state: its bucket is full again. The default answers
    /// [`StoreError::Unsupported`].
    fn reset<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = key;
        Box::pin(std::future::ready(Err(StoreError::Unsupported("reset"))))
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    fn in_process(&self) -> bool {
        (**self).in_process()
    }

    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        (**self).decide(key, quota, cost)
    }

    fn peek<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        (**self).peek(key, quota)
    }

    fn reset<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).reset(key)
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

/// Keys longer than this many bytes are stored by the built-in stores as a digest
/// ([`bounded_key`]); shorter keys are stored as they are.
pub const MAX_KEY_BYTES: usize = 128;

/// How many leading bytes of a digested key stay readable in front of the digest.
const READABLE_BYTES: usize = 48;

/// A key of at most `max_bytes` bytes for `key`: `key` itself when it fits, otherwise its
/// first 48 bytes (cut at a character boundary), `~` and the SHA-256 of the whole key in hex
/// — `api-key:0123…~9f86d0…` — so that an attacker-chosen 8 KiB key costs the store no more
/// than a short one and can never fail a store's key validation, while an operator can still
/// tell whose bucket it is. Stable across processes and versions, so every application
/// server sharing a store digests a key the same way.
///
/// Only long keys pay for the digest: a key that fits is returned borrowed.
///
/// ```
/// use reel_ratelimit::bounded_key;
///
/// assert_eq!(bounded_key("203.0.113.9", 128), "203.0.113.9");
/// let long = "k".repeat(8 * 1024);
/// let bounded = bounded_key(&long, 128);
/// assert_eq!(bounded.len(), 48 + 1 + 64);
/// assert!(bounded.starts_with("kkkk"));
/// assert_eq!(bounded, bounded_key(&long, 128)); // stable
/// ```
pub fn bounded_key(key: &str, max_bytes: usize) -> Cow<'_, str> {
    if key.len() <= max_bytes {
        return Cow::Borrowed(key);
    }
    let readable = &key[..floor_char_boundary(key, READABLE_BYTES.min(max_bytes))];
    let mut out = String::with_capacity(readable.len() + 1 + 64);
    out.push_str(readable);
    out.push('~');
    push_digest(&mut out, &[key.as_bytes()]);
    Cow::Owned(out)
}

/// Appends the SHA-256 of the concatenated `parts` in lowercase hex (64 characters).
pub(crate) fn push_digest(out: &mut String, parts: &[&[u8]]) {
    use sha2::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    for byte in hasher.finalize() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
}

/// The largest index `<= index` that is a character boundary of `text`.
pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// A span for one store operation over the network, with the OpenTelemetry database
/// semantic-convention fields declared at creation (`error.type` recorded on failure by
/// [`traced`]).
#[cfg(any(feature = "redis", feature = "memcache"))]
pub(crate) fn store_span(
    system: &'static str,
    operation: &'static str,
    server: impl FnOnce() -> Option<(String, u16)>,
) -> tracing::Span {
    let span = tracing::debug_span!(
        "rate-limit store",
        "db.system.name" = system,
        "db.operation.name" = operation,
        "server.address" = tracing::field::Empty,
        "server.port" = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
    );
    // The address is looked up only when someone listens.
    if !span.is_disabled()
        && let Some((host, port)) = server()
    {
        span.record("server.address", host.as_str());
        span.record("server.port", port);
    }
    span
}

/// Runs `operation` in `span`, recording `error.type` when it fails.
#[cfg(any(feature = "redis", feature = "memcache"))]
pub(crate) async fn traced<T>(
    span: tracing::Span,
    operation: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let result = tracing::Instrument::instrument(operation, span.clone()).await;
    if let Err(error) = &result {
        span.record("error.type", crate::metrics::error_type(error));
    }
    result
}
