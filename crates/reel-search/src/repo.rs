//! The repository: index admin, documents, bulk, search and scans over the official client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::Elasticsearch;
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reel_core::{Backoff, Jitter};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::pages::PitFlavor;
use crate::{
    BulkOp, BulkResponse, Error, Hit, IndexDefinition, Indexable, Query, Script, SearchRequest,
    SearchResponse,
};

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

/// Options of [`Repo::update_by_query_with`] and [`Repo::delete_by_query_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByQueryOptions {
    /// Stop at the first version conflict (`conflicts=abort`) instead of counting it and
    /// going on (`conflicts=proceed`, the default).
    pub abort_on_conflict: bool,
    /// Refresh the touched shards when done (default `true`).
    pub refresh: bool,
}

impl Default for ByQueryOptions {
    fn default() -> Self {
        Self {
            abort_on_conflict: false,
            refresh: true,
        }
    }
}

impl ByQueryOptions {
    /// Sets [`abort_on_conflict`](Self::abort_on_conflict).
    pub fn abort_on_conflict(mut self, abort: bool) -> Self {
        self.abort_on_conflict = abort;
        self
    }

    /// Sets [`refresh`](Self::refresh).
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.refresh = refresh;
        self
    }
}

/// What an `_update_by_query` or `_delete_by_query` did, failures included.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[non_exhaustive]
pub struct ByQueryResponse {
    /// Milliseconds the operation took.
    #[serde(default)]
    pub took: u64,
    /// Documents matched.
    #[serde(default)]
    pub total: u64,
    /// Documents updated.
    #[serde(default)]
    pub updated: u64,
    /// Documents deleted.
    #[serde(default)]
    pub deleted: u64,
    /// Documents the script left unchanged (`ctx.op = "noop"`).
    #[serde(default)]
    pub noops: u64,
    /// Documents skipped because they changed while the operation ran.
    #[serde(default)]
    pub version_conflicts: u64,
    /// Per-document or per-shard failures, as the server reported them.
    #[serde(default)]
    pub failures: Vec<Value>,
}

impl ByQueryResponse {
    /// Whether every matched document was processed: no failures, no version conflicts.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.version_conflicts == 0
    }
}

#[derive(Deserialize)]
struct TaskStatus {
    #[serde(default)]
    completed: bool,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Fails on an `_aliases` answer that is 2xx but did not apply every action.
fn check_alias_response(op: &str, actions: &[AliasAction], response: &Value) -> Result<(), Error> {
    let failed: Vec<String> = response
        .get("action_results")
        .and_then(Value::as_array)
        .map(|results| {
            results
                .iter()
                .filter(|r| {
                    r.get("error").is_some()
                        || r.get("status")
                            .and_then(Value::as_u64)
                            .is_some_and(|s| !(200..300).contains(&s))
                })
                .map(|r| {
                    let reason = r
                        .pointer("/error/reason")
                        .and_then(Value::as_str)
                        .unwrap_or("failed");
                    format!("{} ({reason})", r.get("action").unwrap_or(&Value::Null))
                })
                .collect()
        })
        .unwrap_or_default();
    let errors = response.get("errors").and_then(Value::as_bool) == Some(true);
    let acknowledged = response.get("acknowledged").and_then(Value::as_bool) != Some(false);
    if failed.is_empty() && !errors && acknowledged {
        return Ok(());
    }
    let sent: Vec<Value> = actions.iter().map(AliasAction::to_value).collect();
    Err(Error::Api {
        operation: op.to_owned(),
        status: 200,
        kind: "partial_alias_update".to_owned(),
        reason: format!(
            "the server applied only part of the actions {}: failed: [{}]{}; read the aliases \
             back (Repo::alias_indices) and repair them before writing",
            Value::Array(sent),
            failed.join(", "),
            if acknowledged {
                ""
            } else {
                " (not acknowledged)"
            },
        ),
    })
}

/// The result of a single-document write.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WriteResult {
    /// The index written.
    #[serde(rename = "_index", default)]
    pub index: String,
    /// The document id.
    #[serde(rename = "_id", default)]
    pub id: String,
    /// The document version after the write.
    #[serde(rename = "_version", default)]
    pub version: Option<u64>,
    /// `created`, `updated`, `deleted`, `noop`.
    #[serde(default)]
    pub result: String,
}

/// An `_aliases` action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AliasAction {
    /// Point `alias` at `index`.
    Add {
        /// The physical index.
        index: String,
        /// The alias.
        alias: String,
        /// Mark `index` as the alias's write index.
        is_write_index: Option<bool>,
    },
    /// Remove `alias` from `index`.
    Remove {
        /// The physical index.
        index: String,
        /// The alias.
        alias: String,
        /// `Some(true)`: fail the whole call when `index` does not hold `alias` (a
        /// compare-and-set; Elasticsearch ≥ 7.9, OpenSearch ≥ 2.12).
        must_exist: Option<bool>,
    },
}

impl AliasAction {
    /// Adds `alias` to `index`.
    pub fn add(index: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::Add {
            index: index.into(),
            alias: alias.into(),
            is_write_index: None,
        }
    }
    /// Removes `alias` from `index`.
    pub fn remove(index: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::Remove {
            index: index.into(),
            alias: alias.into(),
            must_exist: None,
        }
    }
    /// Removes `alias` from `index`, failing the whole `_aliases` call (nothing applied) when
    /// `index` does not hold `alias`: the compare-and-set a swap needs.
    pub fn remove_existing(index: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::Remove {
            index: index.into(),
            alias: alias.into(),
            must_exist: Some(true),
        }
    }
    /// The action's JSON (`{"add": {"index": .., "alias": ..}}`).
    pub fn to_value(&self) -> Value {
        match self {
            Self::Add {
                index,
                alias,
                is_write_index,
            } => {
                let mut m = json!({"index": index, "alias": alias});
                if let (Some(w), Some(o)) = (is_write_index, m.as_object_mut()) {
                    o.insert("is_write_index".into(), (*w).into());
                }
                json!({ "add": m })
            }
            Self::Remove {
                index,
                alias,
                must_exist,
            } => {
                let mut m = json!({"index": index, "alias": alias});
                if let (Some(e), Some(o)) = (must_exist, m.as_object_mut()) {
                    o.insert("must_exist".into(), (*e).into());
                }
                json!({ "remove": m })
            }
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
/// requests resend only the items that got 429/503. Works with
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
        }
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
    /// [`is_idempotent`]) are retried on transport errors and 429/502/503/504; the others only
    /// when the server certainly did not apply them (429, 503, connection refused).
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
                    if idempotent {
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

    // ---- index admin ----

    /// Creates `index` with the definition's settings and mappings.
    pub async fn create_index(
        &self,
        index: &str,
        definition: &IndexDefinition,
    ) -> Result<(), Error> {
        self.create_index_with_body(index, &definition.body()).await
    }

    /// Creates `index` with a raw body (`settings`, `mappings`, `aliases`).
    pub async fn create_index_with_body(&self, index: &str, body: &Value) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("create index {index}"),
                Method::Put,
                &format!("/{}", encode(index)),
                &[],
                Some(body),
            )
            .await?;
        Ok(())
    }

    /// Deletes `index`; `Ok(false)` when it did not exist.
    pub async fn delete_index(&self, index: &str) -> Result<bool, Error> {
        let op = format!("delete index {index}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Delete,
                &format!("/{}", encode(index)),
                &[],
                None,
            )
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Whether `index` (or an alias of that name) exists.
    pub async fn index_exists(&self, index: &str) -> Result<bool, Error> {
        let op = format!("check index {index}");
        let (status, bytes) = self
            .send_json(&op, Method::Head, &format!("/{}", encode(index)), &[], None)
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Adds fields to the mapping of `index` (`{"properties": {...}}`).
    pub async fn put_mapping(&self, index: &str, mapping: &Value) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("put mapping of {index}"),
                Method::Put,
                &format!("/{}/_mapping", encode(index)),
                &[],
                Some(mapping),
            )
            .await?;
        Ok(())
    }

    /// The mappings of `index` (the first index when it is an alias).
    pub async fn get_mapping(&self, index: &str) -> Result<Value, Error> {
        let all: Map<String, Value> = self
            .call(
                &format!("get mapping of {index}"),
                Method::Get,
                &format!("/{}/_mapping", encode(index)),
                &[],
                None,
            )
            .await?;
        Ok(all
            .into_iter()
            .next()
            .and_then(|(_, v)| v.get("mappings").cloned())
            .unwrap_or(Value::Null))
    }

    /// Updates dynamic settings of `index` (`{"index": {"refresh_interval": "1s"}}`).
    pub async fn put_settings(&self, index: &str, settings: &Value) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("put settings of {index}"),
                Method::Put,
                &format!("/{}/_settings", encode(index)),
                &[],
                Some(settings),
            )
            .await?;
        Ok(())
    }

    /// The `settings.index` object of `index`.
    pub async fn get_settings(&self, index: &str) -> Result<Value, Error> {
        let all: Map<String, Value> = self
            .call(
                &format!("get settings of {index}"),
                Method::Get,
                &format!("/{}/_settings", encode(index)),
                &[],
                None,
            )
            .await?;
        Ok(all
            .into_iter()
            .next()
            .and_then(|(_, v)| v.pointer("/settings/index").cloned())
            .unwrap_or(Value::Null))
    }

    /// Makes recent writes visible to search.
    pub async fn refresh(&self, index: &str) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("refresh {index}"),
                Method::Post,
                &format!("/{}/_refresh", encode(index)),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    /// Runs `_aliases` actions in one atomic call and checks the answer: a 2xx that reports
    /// `errors: true` or a failed `action_results` entry (Elasticsearch ≥ 8.14 applies the
    /// other actions then) or `acknowledged: false` is an error naming the failed actions.
    pub async fn update_aliases(&self, actions: &[AliasAction]) -> Result<(), Error> {
        let body =
            json!({"actions": actions.iter().map(AliasAction::to_value).collect::<Vec<_>>()});
        let op = "update aliases";
        let response: Value = self
            .call(op, Method::Post, "/_aliases", &[], Some(&body))
            .await?;
        check_alias_response(op, actions, &response)
    }

    /// The indices `alias` points at (empty when the alias does not exist), sorted.
    pub async fn alias_indices(&self, alias: &str) -> Result<Vec<String>, Error> {
        let op = format!("get alias {alias}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Get,
                &format!("/_alias/{}", encode(alias)),
                &[],
                None,
            )
            .await?;
        match status {
            200..=299 => {
                let m: Map<String, Value> = decode(&op, &bytes)?;
                let mut indices: Vec<String> = m.into_iter().map(|(k, _)| k).collect();
                indices.sort();
                Ok(indices)
            }
            404 => Ok(Vec::new()),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Physical indices whose names match `pattern` (wildcards), sorted.
    pub async fn list_indices(&self, pattern: &str) -> Result<Vec<String>, Error> {
        self.list_indices_expanded(pattern, "open").await
    }

    /// Like [`list_indices`](Self::list_indices), with `expand_wildcards` (`all` includes
    /// closed indices).
    pub(crate) async fn list_indices_expanded(
        &self,
        pattern: &str,
        expand_wildcards: &str,
    ) -> Result<Vec<String>, Error> {
        let op = format!("list indices {pattern}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Get,
                &format!("/{}/_settings", encode(pattern)),
                &[("expand_wildcards", expand_wildcards.into())],
                None,
            )
            .await?;
        match status {
            200..=299 => {
                let m: Map<String, Value> = decode(&op, &bytes)?;
                let mut indices: Vec<String> = m.into_iter().map(|(k, _)| k).collect();
                indices.sort();
                Ok(indices)
            }
            404 => Ok(Vec::new()),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    // ---- documents ----

    /// Indexes (creates or replaces) a document.
    pub async fn index<D: Indexable + ?Sized>(
        &self,
        index: &str,
        doc: &D,
    ) -> Result<WriteResult, Error> {
        self.index_json(index, &doc.document_id(), &doc.document_body()?)
            .await
    }

    /// Indexes a JSON document under `id`.
    pub async fn index_json(
        &self,
        index: &str,
        id: &str,
        body: &Value,
    ) -> Result<WriteResult, Error> {
        self.index_json_with(index, id, body, &[]).await
    }

    /// [`index_json`](Self::index_json) with URL parameters (`require_alias`).
    pub(crate) async fn index_json_with(
        &self,
        index: &str,
        id: &str,
        body: &Value,
        params: &[(&str, String)],
    ) -> Result<WriteResult, Error> {
        self.call(
            &format!("index {index}/{id}"),
            Method::Put,
            &format!("/{}/_doc/{}", encode(index), encode(id)),
            params,
            Some(body),
        )
        .await
    }

    /// Documents by id with their versions, in order (`None` for missing ones).
    pub(crate) async fn mget_versioned(
        &self,
        index: &str,
        ids: &[String],
    ) -> Result<Vec<Option<(u64, Value)>>, Error> {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            found: bool,
            #[serde(rename = "_version")]
            version: Option<u64>,
            #[serde(rename = "_source")]
            source: Option<Value>,
        }
        #[derive(Deserialize)]
        struct Docs {
            docs: Vec<Doc>,
        }
        let docs: Docs = self
            .call(
                &format!("mget {index}"),
                Method::Post,
                &format!("/{}/_mget", encode(index)),
                &[],
                Some(&json!({ "ids": ids })),
            )
            .await?;
        Ok(docs
            .docs
            .into_iter()
            .map(|d| match (d.found, d.version, d.source) {
                (true, Some(v), Some(s)) => Some((v, s)),
                _ => None,
            })
            .collect())
    }

    /// The document `id`, decoded; `None` when missing.
    pub async fn get<T: DeserializeOwned>(
        &self,
        index: &str,
        id: &str,
    ) -> Result<Option<T>, Error> {
        let op = format!("get {index}/{id}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Get,
                &format!("/{}/_doc/{}", encode(index), encode(id)),
                &[],
                None,
            )
            .await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(api_error(&op, status, &bytes));
        }
        #[derive(Deserialize)]
        struct Got<T> {
            #[serde(default)]
            found: bool,
            #[serde(rename = "_source")]
            source: Option<T>,
        }
        let got: Got<T> = decode(&op, &bytes)?;
        Ok(if got.found { got.source } else { None })
    }

    /// Deletes the document `id`; `Ok(false)` when it did not exist.
    pub async fn delete(&self, index: &str, id: &str) -> Result<bool, Error> {
        let op = format!("delete {index}/{id}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Delete,
                &format!("/{}/_doc/{}", encode(index), encode(id)),
                &[],
                None,
            )
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    async fn update(&self, index: &str, id: &str, body: &Value) -> Result<WriteResult, Error> {
        self.update_with(index, id, body, &[]).await
    }

    /// An `_update` with URL parameters (`require_alias`).
    pub(crate) async fn update_with(
        &self,
        index: &str,
        id: &str,
        body: &Value,
        params: &[(&str, String)],
    ) -> Result<WriteResult, Error> {
        let op = format!("update {index}/{id}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Post,
                &format!("/{}/_update/{}", encode(index), encode(id)),
                params,
                Some(body),
            )
            .await?;
        match status {
            200..=299 => decode(&op, &bytes),
            404 => match api_error(&op, status, &bytes) {
                // The index (or, with `require_alias`, the alias) is missing, not the document.
                e @ Error::Api { .. } if is_index_missing(&e) => Err(e),
                _ => Err(Error::NotFound {
                    what: format!("document {index}/{id}"),
                }),
            },
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Merges `partial` into the document `id` (which must exist).
    pub async fn update_partial(
        &self,
        index: &str,
        id: &str,
        partial: &Value,
    ) -> Result<WriteResult, Error> {
        self.update(index, id, &json!({ "doc": partial })).await
    }

    /// Runs `script` on the document `id` (which must exist).
    pub async fn update_script(
        &self,
        index: &str,
        id: &str,
        script: &Script,
    ) -> Result<WriteResult, Error> {
        self.update(index, id, &json!({ "script": script })).await
    }

    /// Merges `partial` into the document, creating it from `partial` when missing.
    pub async fn upsert(
        &self,
        index: &str,
        id: &str,
        partial: &Value,
    ) -> Result<WriteResult, Error> {
        self.update(index, id, &json!({ "doc": partial, "doc_as_upsert": true }))
            .await
    }

    /// Several documents by id, in order (`None` for missing ones).
    pub async fn mget<T: DeserializeOwned>(
        &self,
        index: &str,
        ids: &[&str],
    ) -> Result<Vec<Option<T>>, Error> {
        #[derive(Deserialize)]
        struct Doc<T> {
            #[serde(default)]
            found: bool,
            #[serde(rename = "_source")]
            source: Option<T>,
        }
        #[derive(Deserialize)]
        struct Docs<T> {
            docs: Vec<Doc<T>>,
        }
        let docs: Docs<T> = self
            .call(
                &format!("mget {index}"),
                Method::Post,
                &format!("/{}/_mget", encode(index)),
                &[],
                Some(&json!({ "ids": ids })),
            )
            .await?;
        Ok(docs
            .docs
            .into_iter()
            .map(|d| if d.found { d.source } else { None })
            .collect())
    }

    // ---- bulk ----

    /// Sends `ops` in one `_bulk` request to `index` (ops may name other indices) and returns a
    /// result per op, in order. Items that got 429/503 are resent, bounded by the backoff;
    /// other failures are reported, never dropped.
    pub async fn bulk(&self, index: &str, ops: Vec<BulkOp>) -> Result<BulkResponse, Error> {
        self.bulk_with(index, ops, &[]).await
    }

    /// Counts bulk items answered for good, the failed ones and items resent (`bulk.rs`).
    pub(crate) fn count_bulk(&self, items: u64, failed: u64, resent: u64) {
        let counters = &self.counters;
        counters.bulk_items.fetch_add(items, Ordering::Relaxed);
        counters.bulk_failed.fetch_add(failed, Ordering::Relaxed);
        counters.retries.fetch_add(resent, Ordering::Relaxed);
    }

    // ---- search ----

    /// Searches `index` and decodes hits as `T`.
    pub async fn search<T: DeserializeOwned>(
        &self,
        index: &str,
        request: &SearchRequest,
    ) -> Result<SearchResponse<T>, Error> {
        self.call(
            &format!("search {index}"),
            Method::Post,
            &format!("/{}/_search", encode(index)),
            &[],
            Some(&request.to_value()),
        )
        .await
    }

    /// Counts the documents matching `query` (all when `None`).
    pub async fn count(&self, index: &str, query: Option<Query>) -> Result<u64, Error> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let body = query.map(|q| json!({ "query": q }));
        let c: Count = self
            .call(
                &format!("count {index}"),
                Method::Post,
                &format!("/{}/_count", encode(index)),
                &[],
                body.as_ref(),
            )
            .await?;
        Ok(c.count)
    }

    /// Deletes the documents matching `query` with the default [`ByQueryOptions`] (conflicts
    /// proceed, refresh).
    ///
    /// Runs as a task and polls it, so a client timeout never re-sends the request; the
    /// response carries the failures and version conflicts (check
    /// [`ByQueryResponse::is_complete`]).
    pub async fn delete_by_query(
        &self,
        index: &str,
        query: Query,
    ) -> Result<ByQueryResponse, Error> {
        self.delete_by_query_with(index, query, &ByQueryOptions::default())
            .await
    }

    /// [`delete_by_query`](Self::delete_by_query) with explicit options.
    pub async fn delete_by_query_with(
        &self,
        index: &str,
        query: Query,
        options: &ByQueryOptions,
    ) -> Result<ByQueryResponse, Error> {
        self.by_query(
            &format!("delete by query in {index}"),
            &format!("/{}/_delete_by_query", encode(index)),
            options,
            &json!({ "query": query }),
        )
        .await
    }

    /// Runs `script` on the documents matching `query` with the default [`ByQueryOptions`]
    /// (conflicts proceed, refresh).
    ///
    /// Runs as a task (`wait_for_completion=false`) and polls it: a request that outlives the
    /// client timeout is never sent twice, so `ctx._source.views += 1` applies once.
    pub async fn update_by_query(
        &self,
        index: &str,
        query: Query,
        script: &Script,
    ) -> Result<ByQueryResponse, Error> {
        self.update_by_query_with(index, query, script, &ByQueryOptions::default())
            .await
    }

    /// [`update_by_query`](Self::update_by_query) with explicit options.
    pub async fn update_by_query_with(
        &self,
        index: &str,
        query: Query,
        script: &Script,
        options: &ByQueryOptions,
    ) -> Result<ByQueryResponse, Error> {
        self.by_query(
            &format!("update by query in {index}"),
            &format!("/{}/_update_by_query", encode(index)),
            options,
            &json!({ "query": query, "script": script }),
        )
        .await
    }

    /// Whether the server has the tasks API (`GET /_tasks`), probed once per repo.
    async fn supports_tasks(&self) -> Result<bool, Error> {
        match self.counters.tasks_api.load(Ordering::Relaxed) {
            1 => return Ok(true),
            2 => return Ok(false),
            _ => {}
        }
        let (status, _) = self
            .send_json(
                "probe the tasks API",
                Method::Get,
                "/_tasks",
                &[("actions", "reel:probe".into())],
                None,
            )
            .await?;
        let supported = (200..300).contains(&status);
        self.counters
            .tasks_api
            .store(if supported { 1 } else { 2 }, Ordering::Relaxed);
        Ok(supported)
    }

    async fn by_query(
        &self,
        op: &str,
        path: &str,
        options: &ByQueryOptions,
        body: &Value,
    ) -> Result<ByQueryResponse, Error> {
        let conflicts = if options.abort_on_conflict {
            "abort"
        } else {
            "proceed"
        };
        let tasks = self.supports_tasks().await?;
        let params = [
            ("conflicts", conflicts.to_owned()),
            ("refresh", options.refresh.to_string()),
            ("wait_for_completion", (!tasks).to_string()),
        ];
        // Without a tasks API (emulators) the request runs synchronously; as a POST it is
        // still never re-sent after a timeout.
        let started: Value = self
            .call(op, Method::Post, path, &params, Some(body))
            .await?;
        let Some(task) = started.get("task").and_then(Value::as_str) else {
            // A server that ran it synchronously answered with the result itself.
            return decode(op, &Bytes::from(serde_json::to_vec(&started)?));
        };
        let task_path = format!("/_tasks/{}", encode(task));
        let mut delay = Duration::from_millis(20);
        loop {
            let status: TaskStatus = self.call(op, Method::Get, &task_path, &[], None).await?;
            if status.completed {
                if let Some(error) = status.error {
                    return Err(Error::Api {
                        operation: op.to_owned(),
                        status: 500,
                        kind: error
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("task_failed")
                            .to_owned(),
                        reason: error
                            .get("reason")
                            .and_then(Value::as_str)
                            .unwrap_or("the task failed")
                            .to_owned(),
                    });
                }
                let response = status.response.unwrap_or(Value::Null);
                return decode(op, &Bytes::from(serde_json::to_vec(&response)?));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// Streams every hit of `request` on `index`, `page_size` at a time: a point in time with
    /// `search_after` where the server supports it (Elasticsearch `_pit`, OpenSearch
    /// `point_in_time`), otherwise a scroll. Memory is bounded by one page.
    pub fn scan<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        page_size: u64,
    ) -> BoxStream<'static, Result<Hit<T>, Error>> {
        self.scan_from(index, request, page_size, ScanMode::Start)
    }

    /// Like [`scan`](Self::scan) but always with a scroll (for servers or proxies that
    /// refuse point-in-time requests).
    pub fn scroll<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        page_size: u64,
    ) -> BoxStream<'static, Result<Hit<T>, Error>> {
        self.scan_from(
            index,
            request,
            page_size,
            ScanMode::Scroll { id: String::new() },
        )
    }

    fn scan_from<T: DeserializeOwned + Send + 'static>(
        &self,
        index: &str,
        request: SearchRequest,
        page_size: u64,
        mode: ScanMode,
    ) -> BoxStream<'static, Result<Hit<T>, Error>> {
        let state = Scan {
            repo: self.clone(),
            index: index.to_owned(),
            request,
            page_size: page_size.max(1),
            mode,
        };
        stream::try_unfold(state, |mut state| async move {
            match state.next_page::<T>().await? {
                Some(page) => Ok::<_, Error>(Some((
                    stream::iter(page.into_iter().map(Ok::<Hit<T>, Error>)),
                    state,
                ))),
                None => Ok(None),
            }
        })
        .try_flatten()
        .boxed()
    }
}

#[derive(Debug)]
enum ScanMode {
    Start,
    Pit {
        flavor: PitFlavor,
        id: String,
        after: Option<Vec<Value>>,
    },
    Scroll {
        id: String,
    },
    Done,
}

struct Scan {
    repo: Repo,
    index: String,
    request: SearchRequest,
    page_size: u64,
    mode: ScanMode,
}

const KEEP_ALIVE: &str = "2m";

/// A scan dropped before its end (the caller stopped reading) releases its context at once,
/// on the runtime it ran on.
impl Drop for Scan {
    fn drop(&mut self) {
        if matches!(self.mode, ScanMode::Done | ScanMode::Start) {
            return;
        }
        let mode = std::mem::replace(&mut self.mode, ScanMode::Done);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let repo = self.repo.clone();
            runtime.spawn(async move { release(&repo, mode).await });
        }
    }
}

/// Releases a scan's point in time or scroll (best effort: the server expires it after
/// `KEEP_ALIVE` anyway).
async fn release(repo: &Repo, mode: ScanMode) {
    let result = match mode {
        ScanMode::Pit { flavor, id, .. } => crate::pages::close_pit(repo, flavor, id).await,
        ScanMode::Scroll { id } if !id.is_empty() => {
            repo.send_json(
                "clear scroll",
                Method::Delete,
                "/_search/scroll",
                &[],
                Some(&json!({ "scroll_id": [id] })),
            )
            .await
        }
        _ => return,
    };
    if let Err(error) = result {
        // The server expires it anyway after KEEP_ALIVE.
        tracing::debug!(%error, "could not release the scan context");
    }
}

impl Scan {
    async fn open_pit(&self) -> Result<Option<(PitFlavor, String)>, Error> {
        crate::pages::open_pit(&self.repo, &self.index, KEEP_ALIVE).await
    }

    async fn close(&mut self) {
        let mode = std::mem::replace(&mut self.mode, ScanMode::Done);
        release(&self.repo, mode).await;
    }

    async fn next_page<T: DeserializeOwned>(&mut self) -> Result<Option<VecDeque<Hit<T>>>, Error> {
        if matches!(self.mode, ScanMode::Start) {
            self.mode = match self.open_pit().await? {
                Some((flavor, id)) => ScanMode::Pit {
                    flavor,
                    id,
                    after: None,
                },
                None => ScanMode::Scroll { id: String::new() },
            };
        }
        let response: SearchResponse<T> = match &self.mode {
            ScanMode::Done | ScanMode::Start => return Ok(None),
            ScanMode::Pit { id, after, .. } => {
                let mut req = self
                    .request
                    .clone()
                    .size(self.page_size)
                    .pit(id, KEEP_ALIVE);
                if !req.has_sort() {
                    req = req.sort(crate::Sort::asc("_doc"));
                }
                if let Some(after) = after {
                    req = req.search_after(after.clone());
                }
                self.repo
                    .call(
                        "scan (point in time)",
                        Method::Post,
                        "/_search",
                        &[],
                        Some(&req.to_value()),
                    )
                    .await?
            }
            ScanMode::Scroll { id } if id.is_empty() => {
                let mut req = self.request.clone().size(self.page_size);
                if !req.has_sort() {
                    req = req.sort(crate::Sort::asc("_doc"));
                }
                self.repo
                    .call(
                        "scan (scroll)",
                        Method::Post,
                        &format!("/{}/_search", encode(&self.index)),
                        &[("scroll", KEEP_ALIVE.into())],
                        Some(&req.to_value()),
                    )
                    .await?
            }
            ScanMode::Scroll { id } => {
                self.repo
                    .call(
                        "scan (scroll)",
                        Method::Post,
                        "/_search/scroll",
                        &[],
                        Some(&json!({"scroll": KEEP_ALIVE, "scroll_id": id})),
                    )
                    .await?
            }
        };
        let hits: VecDeque<Hit<T>> = response.hits.hits.into();
        if hits.is_empty() {
            self.close().await;
            return Ok(None);
        }
        let last_sort = hits.back().map(|h| h.sort.clone()).unwrap_or_default();
        match &mut self.mode {
            ScanMode::Pit { id, after, .. } => {
                if last_sort.is_empty() {
                    return Err(Error::Decode {
                        what: "scan page".into(),
                        reason: "hits carry no sort values to continue from".into(),
                    });
                }
                *after = Some(last_sort);
                if let Some(new_id) = response.pit_id {
                    *id = new_id;
                }
            }
            ScanMode::Scroll { id } => match response.scroll_id {
                Some(new_id) => *id = new_id,
                None => {
                    return Err(Error::Decode {
                        what: "scroll page".into(),
                        reason: "no _scroll_id in the response".into(),
                    });
                }
            },
            _ => {}
        }
        Ok(Some(hits))
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

impl Serialize for AliasAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}
