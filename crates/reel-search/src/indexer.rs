//! The streaming indexer: any stream of documents into an index, in bounded batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{self, BoxFuture, Either};
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use tokio::sync::{mpsc, watch};

use crate::bulk::NdjsonBody;
use crate::{BulkAction, Error, Indexable, Repo};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type PreloadFn<D> =
    Arc<dyn Fn(Vec<D>) -> BoxFuture<'static, Result<Vec<D>, BoxError>> + Send + Sync>;

/// A document that could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedItem {
    /// The document id.
    pub id: String,
    /// The HTTP status of its bulk item (0 when it was never sent).
    pub status: u16,
    /// The error type.
    pub kind: String,
    /// The reason.
    pub reason: String,
}

/// Where an indexing run is.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Documents read from the source.
    pub read: u64,
    /// Documents indexed.
    pub indexed: u64,
    /// Documents that failed.
    pub failed: u64,
    /// Documents skipped because they already existed (create-only runs).
    pub skipped: u64,
    /// Bulk requests completed.
    pub batches: u64,
    /// Time since the start.
    pub elapsed: Duration,
    /// Documents indexed per second so far.
    pub rate: f64,
    /// Whether the run has finished.
    pub done: bool,
}

/// The outcome of an indexing run.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct IndexReport {
    /// Documents read from the source.
    pub read: u64,
    /// Documents indexed.
    pub indexed: u64,
    /// Every document that failed, with why.
    pub failed: Vec<FailedItem>,
    /// Documents skipped because they already existed (create-only runs).
    pub skipped: u64,
    /// Bulk requests sent.
    pub batches: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl IndexReport {
    /// Whether every document was indexed.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.read == self.indexed + self.skipped
    }
}

/// Streams documents into an index in batches bounded by count and bytes, with a per-batch
/// preload hook, a bounded number of concurrent bulk requests (backpressure on the source),
/// progress events and a report of every failed item. Memory stays bounded by
/// `concurrency + 1` batches whatever the source size.
///
/// ```no_run
/// use futures::stream;
/// use reel_search::{Indexer, Repo};
/// # #[derive(reel_search::Document, serde::Serialize)]
/// # struct Asset { #[search(id)] id: i64, title: String }
///
/// # async fn run() -> Result<(), reel_search::Error> {
/// let repo = Repo::from_url("http://127.0.0.1:9200")?;
/// let docs = stream::iter((0..1000).map(|id| Ok::<_, std::io::Error>(Asset { id, title: format!("#{id}") })));
/// let report = Indexer::new(repo, "assets").batch_size(500).concurrency(2).run(docs).await?;
/// assert!(report.is_complete(), "{:?}", report.failed);
/// # Ok(()) }
/// ```
pub struct Indexer<D> {
    repo: Repo,
    index: String,
    batch_size: usize,
    batch_bytes: usize,
    concurrency: usize,
    create_only: bool,
    preload: Option<PreloadFn<D>>,
    progress: watch::Sender<Progress>,
}

impl<D> std::fmt::Debug for Indexer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer")
            .field("index", &self.index)
            .field("batch_size", &self.batch_size)
            .field("batch_bytes", &self.batch_bytes)
            .field("concurrency", &self.concurrency)
            .field("preload", &self.preload.is_some())
            .finish()
    }
}

struct Shared {
    read: AtomicU64,
    indexed: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    batches: AtomicU64,
    start: Instant,
    /// `reel_search_indexer_rows_total{index}` (nothing without the `metrics` feature).
    rows: crate::metrics::Rows,
}

impl Shared {
    fn snapshot(&self, done: bool) -> Progress {
        let elapsed = self.start.elapsed();
        let indexed = self.indexed.load(Ordering::Relaxed);
        Progress {
            read: self.read.load(Ordering::Relaxed),
            indexed,
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            elapsed,
            rate: indexed as f64 / elapsed.as_secs_f64().max(1e-9),
            done,
        }
    }
}

impl<D: Indexable + Send + 'static> Indexer<D> {
    /// An indexer writing to `index` (an index or a write alias).
    pub fn new(repo: Repo, index: impl Into<String>) -> Self {
        Self {
            repo,
            index: index.into(),
            batch_size: 1000,
            batch_bytes: 5 * 1024 * 1024,
            concurrency: 2,
            create_only: false,
            preload: None,
            progress: watch::channel(Progress::default()).0,
        }
    }

    /// Documents per batch (default 1000); the preload hook sees whole batches.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Maximum NDJSON bytes per bulk request (default 5 MiB); larger batches are split.
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n.max(1);
        self
    }

    /// Bulk requests in flight at once (default 2).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sends `create` instead of `index` operations and counts documents that already exist
    /// as skipped: a backfill then never overwrites newer documents written meanwhile.
    pub fn create_only(mut self, yes: bool) -> Self {
        self.create_only = yes;
        self
    }

    /// Runs `hook(ctx, batch)` on each batch before it is serialized, to load related data
    /// for the whole batch at once (one query per batch instead of one per document).
    pub fn preload<C, F, Fut, E>(mut self, ctx: C, hook: F) -> Self
    where
        C: Send + Sync + 'static,
        F: Fn(Arc<C>, Vec<D>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<D>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let ctx = Arc::new(ctx);
        self.preload = Some(Arc::new(move |batch| {
            let fut = hook(ctx.clone(), batch);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    /// A stream of progress events (the latest state whenever it changes; the last one has
    /// `done: true`). Subscribe before [`run`](Self::run).
    pub fn progress(&self) -> BoxStream<'static, Progress> {
        let rx = self.progress.subscribe();
        futures::stream::unfold((rx, false), |(mut rx, finished)| async move {
            if finished {
                return None;
            }
            rx.changed().await.ok()?;
            let p = rx.borrow_and_update().clone();
            let done = p.done;
            Some((p, (rx, done)))
        })
        .boxed()
    }

    /// Indexes every document of `source`. A source error stops the run (documents already
    /// sent stay indexed); bulk item failures are collected in the report.
    ///
    /// Reading, the preload hook and serialization run one request ahead of the bulk
    /// requests in flight: when a request is answered the next body is already built, so the
    /// server never waits for the source (a PostgreSQL page, say) between requests.
    pub async fn run<S, E>(&self, source: S) -> Result<IndexReport, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        let shared = Arc::new(Shared {
            read: AtomicU64::new(0),
            indexed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            start: Instant::now(),
            rows: crate::metrics::Rows::new(&self.index),
        });
        // One built request waits here while `concurrency` are in flight: memory holds at
        // most `concurrency + 1` request bodies (documents are dropped once serialized).
        let (ready, queued) = mpsc::channel::<Result<Request, Error>>(1);
        let producer = self.produce(source, &shared, ready).fuse();
        let consumer = self.consume(queued, &shared);
        let (sent, mut failed) = {
            let mut producer = std::pin::pin!(producer);
            let consumer = std::pin::pin!(consumer);
            match future::select(consumer, producer.as_mut()).await {
                // The consumer stops early only on an error (it drops the queue, so the
                // producer stops at its next request); the producer is dropped with it.
                Either::Left((Err(e), _)) => (Err(e), Vec::new()),
                Either::Left((Ok(sent), _)) => (Ok(sent), producer.await),
                Either::Right((failed, consumer)) => (consumer.await, failed),
            }
        };
        let sent = sent.inspect_err(|_| {
            let _ = self.progress.send(shared.snapshot(true));
        })?;
        failed.extend(sent);
        let _ = self.progress.send(shared.snapshot(true));
        let p = shared.snapshot(true);
        tracing::info!(index = %self.index, read = p.read, indexed = p.indexed, failed = p.failed, "indexing finished");
        Ok(IndexReport {
            read: p.read,
            indexed: p.indexed,
            failed,
            skipped: p.skipped,
            batches: p.batches,
            elapsed: p.elapsed,
        })
    }

    /// Reads `source` in batches, runs the preload hook and serializes each batch into
    /// request bodies of at most `batch_bytes`, handing them to `ready` one at a time (a
    /// source or preload error is handed over too, and ends the run). Returns the documents
    /// that could not be serialized.
    async fn produce<S, E>(
        &self,
        source: S,
        shared: &Shared,
        ready: mpsc::Sender<Result<Request, Error>>,
    ) -> Vec<FailedItem>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        let action = match self.create_only {
            true => BulkAction::Create,
            false => BulkAction::Index,
        };
        let counted = source.map_err(source_error::<E>).inspect_ok(|_: &D| {
            shared.read.fetch_add(1, Ordering::Relaxed);
        });
        let mut batches = std::pin::pin!(counted.try_chunks(self.batch_size));
        let mut failed = Vec::new();
        loop {
            // Wait for room before reading, so at most one built request waits.
            let Ok(permit) = ready.reserve().await else {
                break;
            };
            let batch = match batches.next().await {
                None => break,
                Some(Err(e)) => Err(e.1),
                Some(Ok(batch)) => match &self.preload {
                    Some(hook) => hook(batch).await.map_err(|e| Error::Source {
                        stage: "preload hook",
                        source: e,
                    }),
                    None => Ok(batch),
                },
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    permit.send(Err(e));
                    break;
                }
            };
            let mut permit = Some(permit);
            let mut request = Request::with_capacity(batch.len());
            let mut dropped = 0u64;
            for doc in &batch {
                let id = doc.document_id();
                if let Err(e) = request.body.push_doc(action, &id, doc) {
                    dropped += 1;
                    failed.push(FailedItem {
                        id,
                        status: 0,
                        kind: "serialization".into(),
                        reason: e.to_string(),
                    });
                    continue;
                }
                request.ids.push(id);
                // Over the byte bound: send what came before this document.
                if request.body.bytes() > self.batch_bytes && request.body.len() > 1 {
                    let rest = request.split_last();
                    if !hand_over(&ready, &mut permit, request).await {
                        return failed;
                    }
                    request = rest;
                }
            }
            shared.failed.fetch_add(dropped, Ordering::Relaxed);
            if !request.ids.is_empty() && !hand_over(&ready, &mut permit, request).await {
                break;
            }
        }
        failed
    }

    /// Sends the requests handed over by [`produce`](Self::produce), `concurrency` at a time,
    /// until the queue closes or a request fails. Returns the failed items.
    async fn consume(
        &self,
        queued: mpsc::Receiver<Result<Request, Error>>,
        shared: &Shared,
    ) -> Result<Vec<FailedItem>, Error> {
        let requests = futures::stream::unfold(queued, |mut queued| async move {
            queued.recv().await.map(|request| (request, queued))
        });
        let mut in_flight = std::pin::pin!(
            requests
                .map(|request| async move {
                    let request = request?;
                    let mut failed = Vec::new();
                    self.flush(&request.body, &request.ids, &mut failed, shared)
                        .await?;
                    let _ = self.progress.send(shared.snapshot(false));
                    Ok::<_, Error>(failed)
                })
                .buffer_unordered(self.concurrency)
        );
        let mut failed = Vec::new();
        while let Some(result) = in_flight.next().await {
            failed.append(&mut result?);
        }
        Ok(failed)
    }

    /// Sends the first `ids.len()` operations of `body`, in order.
    async fn flush(
        &self,
        body: &NdjsonBody,
        ids: &[String],
        failed: &mut Vec<FailedItem>,
        shared: &Shared,
    ) -> Result<(), Error> {
        let (mut ok, mut skipped, mut failures) = (0u64, 0u64, 0u64);
        self.repo
            .send_ndjson(&self.index, &[], body, ids.len(), false, |i, item| {
                if item.is_ok() {
                    ok += 1;
                } else if self.create_only && item.status == 409 {
                    skipped += 1;
                } else {
                    failures += 1;
                    let (kind, reason) = item
                        .error
                        .as_ref()
                        .map(|e| (e.kind.clone(), e.reason.clone()))
                        .unwrap_or_default();
                    failed.push(FailedItem {
                        id: ids[i].clone(),
                        status: item.status,
                        kind,
                        reason,
                    });
                }
            })
            .await?;
        shared.batches.fetch_add(1, Ordering::Relaxed);
        shared.indexed.fetch_add(ok, Ordering::Relaxed);
        shared.skipped.fetch_add(skipped, Ordering::Relaxed);
        shared.failed.fetch_add(failures, Ordering::Relaxed);
        shared.rows.add(ok);
        Ok(())
    }
}

/// One bulk request, built: its body and the id of each of its operations, in order.
#[derive(Debug, Default)]
struct Request {
    body: NdjsonBody,
    ids: Vec<String>,
}

impl Request {
    fn with_capacity(docs: usize) -> Self {
        Self {
            body: NdjsonBody::default(),
            ids: Vec::with_capacity(docs),
        }
    }

    /// Moves the last operation into a request of its own and returns it.
    fn split_last(&mut self) -> Self {
        let mut rest = Self::with_capacity(self.ids.capacity());
        let keep = self.body.len() - 1;
        rest.body = self.body.split_off(keep);
        rest.ids = self.ids.split_off(keep);
        rest
    }
}

/// Hands `request` over with the reserved `permit` if there is one, else waits for room;
/// `false` when the sending side is gone (the run stopped).
async fn hand_over(
    ready: &mpsc::Sender<Result<Request, Error>>,
    permit: &mut Option<mpsc::Permit<'_, Result<Request, Error>>>,
    request: Request,
) -> bool {
    match permit.take() {
        Some(permit) => {
            permit.send(Ok(request));
            true
        }
        None => ready.send(Ok(request)).await.is_ok(),
    }
}

fn source_error<E: Into<BoxError>>(e: E) -> Error {
    Error::Source {
        stage: "source stream",
        source: e.into(),
    }
}

#[cfg(feature = "postgres")]
pub use pg::KeysetSource;

#[cfg(feature = "postgres")]
mod pg {
    use futures::stream::{self, BoxStream, StreamExt};
    use sqlx::postgres::{PgPool, PgRow};
    use sqlx::{FromRow, Postgres, Row};

    use crate::Error;

    /// Rows of a PostgreSQL query read page by page with keyset pagination
    /// (`WHERE key > $last ORDER BY key LIMIT n`), never `OFFSET`, so each page costs the same
    /// however deep it is and memory holds one page.
    ///
    /// ```no_run
    /// # #[derive(sqlx::FromRow)] struct Asset { id: i64, title: String }
    /// use futures::TryStreamExt;
    /// use reel_search::KeysetSource;
    ///
    /// # async fn run(pool: sqlx::PgPool) -> Result<(), reel_search::Error> {
    /// let rows = KeysetSource::new(pool, "SELECT id, title FROM assets", "id")?
    ///     .page_size(5000)
    ///     .stream::<Asset, i64>();
    /// let all: Vec<Asset> = rows.try_collect().await?;
    /// # Ok(()) }
    /// ```
    #[derive(Debug, Clone)]
    pub struct KeysetSource {
        pool: PgPool,
        select: String,
        key: String,
        page_size: i64,
    }

    impl KeysetSource {
        /// Rows of `select` (a trusted SQL `SELECT`, may have joins and `WHERE`), paged on the
        /// unique, indexed column `key` that the select returns.
        pub fn new(pool: PgPool, select: impl Into<String>, key: &str) -> Result<Self, Error> {
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Config(format!(
                    "keyset column `{key}` must be a plain column name"
                )));
            }
            Ok(Self {
                pool,
                select: select.into(),
                key: key.to_owned(),
                page_size: 5000,
            })
        }

        /// Every row of `table`.
        pub fn table(pool: PgPool, table: &str, key: &str) -> Result<Self, Error> {
            if !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(Error::Config(format!(
                    "table `{table}` must be a plain (schema-qualified) name"
                )));
            }
            Self::new(pool, format!("SELECT * FROM {table}"), key)
        }

        /// Rows per page (default 5000).
        pub fn page_size(mut self, n: i64) -> Self {
            self.page_size = n.max(1);
            self
        }

        /// The SQL of the first page and of the following ones.
        pub fn sql(&self) -> (String, String) {
            let key = &self.key;
            let first = format!(
                "SELECT * FROM ({}) AS reel_keyset ORDER BY {key} LIMIT $1",
                self.select
            );
            let next = format!(
                "SELECT * FROM ({}) AS reel_keyset WHERE {key} > $1 ORDER BY {key} LIMIT $2",
                self.select
            );
            (first, next)
        }

        /// Streams the rows decoded as `T`; `K` is the key column's Rust type.
        pub fn stream<T, K>(self) -> BoxStream<'static, Result<T, Error>>
        where
            T: for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static,
            K: for<'r> sqlx::Decode<'r, Postgres>
                + for<'q> sqlx::Encode<'q, Postgres>
                + sqlx::Type<Postgres>
                + Send
                + Sync
                + Clone
                + Unpin
                + 'static,
        {
            let (first, next) = self.sql();
            let state = (self, first, next, None::<K>, false);
            stream::try_unfold(state, |(src, first, next, last, done)| async move {
                if done {
                    return Ok(None);
                }
                let rows: Vec<PgRow> = match &last {
                    None => {
                        sqlx::query(sqlx::AssertSqlSafe(first.clone()))
                            .bind(src.page_size)
                            .fetch_all(&src.pool)
                            .await?
                    }
                    Some(k) => {
                        sqlx::query(sqlx::AssertSqlSafe(next.clone()))
                            .bind(k.clone())
                            .bind(src.page_size)
                            .fetch_all(&src.pool)
                            .await?
                    }
                };
                let done = (rows.len() as i64) < src.page_size;
                let last = match rows.last() {
                    Some(row) => Some(row.try_get::<K, _>(src.key.as_str())?),
                    None => return Ok(None),
                };
                let items = rows
                    .iter()
                    .map(|r| T::from_row(r).map_err(Error::from))
                    .collect::<Vec<_>>();
                Ok::<_, Error>(Some((stream::iter(items), (src, first, next, last, done))))
            })
            .try_flatten()
            .boxed()
        }
    }

    use futures::TryStreamExt;
}
