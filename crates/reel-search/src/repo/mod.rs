//! The repository: index admin, documents, bulk, search and scans over the official client.
//!
//! This module holds the [`Repo`] type, its construction and the one request path every call
//! takes (retries, breaker, tracing, metrics, error decoding); the calls themselves live beside
//! it by concern: index admin (`admin`), single documents (`documents`), search, count and
//! by-query (`queries`), scans (`scan`), and bulk, pages and msearch in their own modules.

mod admin;
mod documents;
mod queries;
mod scan;

pub use admin::AliasAction;
pub use documents::WriteResult;
pub use queries::{ByQueryOptions, ByQueryResponse};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::Elasticsearch;
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use reel_core::{Backoff, Jitter};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::Error;

/// Whether a request may be sent again after an answer (or silence) that does not say whether
/// the server applied it: reads, and writes whose repetition lands on the same state (`PUT`
/// with an explicit id, `DELETE`). `POST` writes — `_bulk` bodies, `_update` scripts,
/// by-query submissions, `_aliases`, `_reindex` — are not.
pub(crate) fn is_idempotent(method: Method, path: &str) -> bool {
    match method {
        Method::Get | Method::Head | Method::Put | Method::Delete => true,
        Method::Post => {
            let last = path
                .split('?')
                .next()
                .unwrap_or(path)
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            matches!(
                last,
                "_search"
                    | "_count"
                    | "_mget"
                    | "_msearch"
                    | "_refresh"
                    | "scroll"
                    | "_analyze"
                    | "_pit"
                    | "point_in_time"
                    | "_validate"
            ) || path.contains("/_search/")
        }
    }
}

/// Counters a user would graph.
#[derive(Debug, Default)]
struct Counters {
    /// 0 unknown, 1 the server has `_tasks`, 2 it has not.
    tasks_api: std::sync::atomic::AtomicU8,
    requests: AtomicU64,
    retries: AtomicU64,
    bulk_items: AtomicU64,
    bulk_failed: AtomicU64,
}

/// A snapshot of a [`Repo`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RepoStats {
    /// HTTP requests sent (including retries).
    pub requests: u64,
    /// Requests or bulk items resent after 429/5xx/connection errors.
    pub retries: u64,
    /// Bulk items sent.
    pub bulk_items: u64,
    /// Bulk items that failed for good.
    pub bulk_failed: u64,
}

/// Index admin, documents, bulk and search over the official `elasticsearch` client.
///
/// Requests are retried with a bounded [`Backoff`]: idempotent ones (reads, `PUT` with an
/// id, `DELETE`) on 429/502/503/504 and connection errors; writes that could apply twice
/// (`POST` bulk, update, by-query, aliases) only on 429/503 and refused connections. Bulk
/// requests resend only the items that got 429/503. A request that ran into the client's
/// timeout (60 s with [`Repo::from_url`]) is not sent again unless
/// [`retry_timeouts`](Self::retry_timeouts) is set: against a node that stopped
/// answering, six attempts would keep a caller waiting six minutes. Works with
/// Elasticsearch 8 and 9 (and OpenSearch-compatible servers).
///
/// ```no_run
/// use reel_search::{BulkOp, Query, Repo, SearchRequest};
/// use serde_json::{Value, json};
///
/// # async fn run() -> Result<(), reel_search::Error> {
/// let repo = Repo::from_url("http://127.0.0.1:9200")?;
/// let bulk = repo
///     .bulk("assets", vec![BulkOp::index("1", json!({"title": "beach"})), BulkOp::delete("9")])
///     .await?;
/// for failed in bulk.failed() {
///     eprintln!("{} failed: {:?}", failed.id, failed.error);
/// }
/// repo.refresh("assets").await?;
/// let found = repo
///     .search::<Value>("assets", &SearchRequest::new().query(Query::matches("title", "beach")))
///     .await?;
/// println!("{:?} hits", found.hits.total);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Repo {
    client: Elasticsearch,
    pub(crate) backoff: Backoff,
    counters: Arc<Counters>,
    /// The node's host and port (spans' `server.address`/`server.port`), when known.
    server: Option<(Arc<str>, u16)>,
    pub(crate) metrics: Arc<crate::metrics::RepoMetrics>,
    breaker: Option<Arc<reel_core::breaker::CircuitBreaker>>,
    retry_timeouts: bool,
}

pub(crate) fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'*' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Repo {
    /// A repo for one node at `url` (`http://host:9200`); nothing connects until a request.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let url = elasticsearch::http::Url::parse(url)
            .map_err(|e| Error::Config(format!("`{url}` is not a URL: {e}")))?;
        let server = url
            .host_str()
            .map(|host| (Arc::from(host), url.port_or_known_default().unwrap_or(9200)));
        let transport = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let mut repo = Self::new(Elasticsearch::new(transport));
        repo.server = server;
        Ok(repo)
    }

    /// Names the node for tracing spans (`server.address`, `server.port`) when the repo was
    /// built with [`Repo::new`] over a configured client ([`Repo::from_url`] sets it).
    pub fn server(mut self, host: &str, port: u16) -> Self {
        self.server = Some((Arc::from(host), port));
        self
    }

    /// Puts a circuit breaker in front of every request: after the builder's
    /// `failure_threshold` consecutive failed requests (a connection error, a timeout, 502,
    /// 503 or 504 once the retries are spent) every call fails at once with
    /// [`Error::CircuitOpen`] for the cool-down, then one probe request decides whether it
    /// closes again. Its state is the gauge `reel_search_breaker_state` (feature `metrics`)
    /// and [`Repo::breaker_state`]. Off by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reel_core::breaker::CircuitBreaker;
    /// use reel_search::Repo;
    ///
    /// let repo = Repo::from_url("http://127.0.0.1:9200")?.breaker(
    ///     CircuitBreaker::builder()
    ///         .failure_threshold(3)
    ///         .cool_down(Duration::from_secs(2)),
    /// );
    /// # Ok::<(), reel_search::Error>(())
    /// ```
    pub fn breaker(mut self, breaker: reel_core::breaker::CircuitBreakerBuilder) -> Self {
        let metrics = self.metrics.clone();
        let breaker = breaker
            .on_transition(move |t| {
                metrics.breaker_state(f64::from(t.to.as_gauge()));
                match t.to {
                    reel_core::breaker::BreakerState::Open => tracing::warn!(
                        cool_down = ?t.cool_down,
                        "search circuit breaker opened: requests fail at once until a probe succeeds"
                    ),
                    _ => tracing::info!(from = %t.from, to = %t.to, "search circuit breaker changed state"),
                }
            })
            .build();
        self.metrics.breaker_state(0.0);
        self.breaker = Some(Arc::new(breaker));
        self
    }

    /// The circuit breaker's state (`None` without [`breaker`](Self::breaker)).
    pub fn breaker_state(&self) -> Option<reel_core::breaker::BreakerState> {
        self.breaker.as_ref().map(|b| b.state())
    }

    /// A repo over a configured client (auth, TLS, node pool).
    pub fn new(client: Elasticsearch) -> Self {
        Self {
            client,
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(5))
                .with_jitter(Jitter::Full)
                .with_max_retries(5),
            counters: Arc::default(),
            server: None,
            metrics: Arc::new(crate::metrics::RepoMetrics::new()),
            breaker: None,
            retry_timeouts: false,
        }
    }

    /// Whether an idempotent request that ran into the client's timeout is sent again
    /// (default `false`, as in the official Python clients). A timeout already cost the
    /// whole transport timeout, and the node that caused it is most likely overloaded or
    /// not answering at all: a retry multiplies the caller's wait by the number of attempts
    /// and adds load where there is too much. Refused or reset connections and
    /// 429/502/503/504 answers are retried either way.
    ///
    /// ```
    /// let repo = reel_search::Repo::from_url("http://127.0.0.1:9200")?.retry_timeouts(true);
    /// # Ok::<(), reel_search::Error>(())
    /// ```
    pub fn retry_timeouts(mut self, retry: bool) -> Self {
        self.retry_timeouts = retry;
        self
    }

    /// Replaces the retry policy (keep `with_max_retries` set: retries must stay bounded).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The underlying client.
    pub fn client(&self) -> &Elasticsearch {
        &self.client
    }

    /// Counters since creation (shared by clones).
    pub fn stats(&self) -> RepoStats {
        RepoStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            bulk_items: self.counters.bulk_items.load(Ordering::Relaxed),
            bulk_failed: self.counters.bulk_failed.load(Ordering::Relaxed),
        }
    }

    /// Sends one request and returns status and body. Idempotent requests (see
    /// [`is_idempotent`]) are retried on transport errors (timeouts only with
    /// [`retry_timeouts`](Self::retry_timeouts)) and 429/502/503/504; the others only when
    /// the server certainly did not apply them (429, 503, connection refused).
    pub(crate) async fn send(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), Error> {
        let op_name = crate::metrics::operation_name(method, path);
        let span = tracing::debug_span!(
            "elasticsearch",
            "db.system.name" = "elasticsearch",
            "db.operation.name" = op_name,
            "server.address" = tracing::field::Empty,
            "server.port" = tracing::field::Empty,
            "error.type" = tracing::field::Empty,
            %operation,
            %path,
        );
        if let Some((host, port)) = &self.server {
            span.record("server.address", &**host);
            span.record("server.port", port);
        }
        let permit = match &self.breaker {
            Some(breaker) => match breaker.try_acquire() {
                Ok(permit) => Some(permit),
                Err(open) => {
                    let error = Error::CircuitOpen {
                        retry_in: open.retry_in,
                    };
                    span.record("error.type", crate::metrics::error_type(&error));
                    self.metrics.request(op_name, false, 0.0);
                    return Err(error);
                }
            },
            None => None,
        };
        let idempotent = is_idempotent(method, path);
        let mut first = true;
        let result = self
            .backoff
            .retry(
                || {
                    if !first {
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                        self.metrics.retry(op_name);
                    }
                    first = false;
                    self.counters.requests.fetch_add(1, Ordering::Relaxed);
                    let body = body.clone();
                    async move {
                        let started = std::time::Instant::now();
                        let answer = async {
                            let response = self
                                .client
                                .send(method, path, HeaderMap::new(), Some(query), body, None)
                                .await
                                .map_err(Error::Transport)?;
                            let status = response.status_code().as_u16();
                            let bytes = response.bytes().await.map_err(Error::Transport)?;
                            if matches!(status, 429 | 502 | 503 | 504) {
                                return Err(api_error(operation, status, &bytes));
                            }
                            Ok((status, bytes))
                        }
                        .await;
                        let ok = matches!(&answer, Ok((status, _)) if *status < 400);
                        self.metrics
                            .request(op_name, ok, started.elapsed().as_secs_f64());
                        answer
                    }
                },
                |error: &Error| {
                    if error.is_timeout() && !self.retry_timeouts {
                        false
                    } else if idempotent {
                        error.is_retryable()
                    } else {
                        error.is_retryable_unapplied()
                    }
                },
            )
            .instrument(span.clone())
            .await;
        let result = result.map_err(|e| {
            if e.attempts > 1 {
                tracing::warn!(parent: &span, attempts = e.attempts, error = %e.error, "giving up");
            }
            e.into_inner()
        });
        match &result {
            Ok((status, _)) if *status >= 400 => {
                span.record("error.type", status_error_type(*status));
            }
            Err(e) => {
                span.record("error.type", crate::metrics::error_type(e));
            }
            Ok(_) => {}
        }
        if let Some(permit) = permit {
            // Only an unreachable or failing cluster opens the breaker; a 4xx is an answer.
            match &result {
                Err(Error::Transport(_)) => permit.failure(),
                Err(Error::Api { status, .. }) if *status >= 500 || *status == 429 => {
                    permit.failure()
                }
                _ => permit.success(),
            }
        }
        result
    }

    pub(crate) async fn send_json(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Bytes), Error> {
        let body = match body {
            Some(v) => Some(Bytes::from(serde_json::to_vec(v)?)),
            None => None,
        };
        self.send(operation, method, path, query, body).await
    }

    /// Sends and requires a 2xx answer, decoding it.
    pub(crate) async fn call<R: DeserializeOwned>(
        &self,
        operation: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<R, Error> {
        let (status, bytes) = self.send_json(operation, method, path, query, body).await?;
        if !(200..300).contains(&status) {
            return Err(api_error(operation, status, &bytes));
        }
        decode(operation, &bytes)
    }

    /// Counts bulk items answered for good, the failed ones and items resent (`bulk.rs`).
    pub(crate) fn count_bulk(&self, items: u64, failed: u64, resent: u64) {
        let counters = &self.counters;
        counters.bulk_items.fetch_add(items, Ordering::Relaxed);
        counters.bulk_failed.fetch_add(failed, Ordering::Relaxed);
        counters.retries.fetch_add(resent, Ordering::Relaxed);
    }
}

pub(crate) fn decode<R: DeserializeOwned>(operation: &str, bytes: &[u8]) -> Result<R, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        what: format!("the answer to {operation}"),
        reason: format!(
            "{e}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        ),
    })
}

/// The `error.type` of an answered error status.
fn status_error_type(status: u16) -> &'static str {
    crate::metrics::error_type(&Error::Api {
        operation: String::new(),
        status,
        kind: String::new(),
        reason: String::new(),
    })
}

/// Whether `error` says the index or alias (not a document) does not exist.
pub(crate) fn is_index_missing(error: &Error) -> bool {
    matches!(error, Error::Api { status: 404, kind, .. } if kind == "index_not_found_exception")
}

pub(crate) fn api_error(operation: &str, status: u16, bytes: &[u8]) -> Error {
    #[derive(Deserialize)]
    struct Body {
        error: Option<Value>,
    }
    let (kind, reason) = match serde_json::from_slice::<Body>(bytes)
        .ok()
        .and_then(|b| b.error)
    {
        Some(error @ (Value::Object(_) | Value::String(_))) => {
            crate::api_error::kind_and_reason(&error)
        }
        _ => (
            "http_error".to_owned(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        ),
    };
    Error::Api {
        operation: operation.to_owned(),
        status,
        kind,
        reason,
    }
}
