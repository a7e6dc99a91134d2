//! `search/index_rows`: the streaming indexer (PostgreSQL keyset pages → bulk) against the
//! search node's own `_bulk` ingest of the same documents pre-built as NDJSON, and the raw sqlx
//! stream of the same rows.
//!
//! The comparison is kept fair: every timed run starts on a freshly created index with the
//! same definition (1 shard, 0 replicas, the default 1 s refresh), both sides send
//! [`BATCH`]-document requests with [`CONCURRENCY`] in flight, and both are timed from the
//! first request to the last bulk answer. The baseline's NDJSON is built before the clock
//! starts (it is "the node's own ingest"); the indexer's clock includes everything reel does:
//! `reel` also reads the rows from PostgreSQL, `reel_in_memory` starts from rows already in
//! memory, so the two together separate the database read from the indexing. A baseline
//! answer with `errors: true` (throttled items) stops the bench rather than being counted as
//! ingested.
//!
//! Before criterion's own runs the bench alternates the three ingest variants for
//! `REEL_SEARCH_BENCH_ROUNDS` rounds (default 5; 0 skips it) and prints the fastest and the
//! median of each with the throughput ratios, the figures to quote on a shared machine.
//!
//! `REEL_SEARCH_BENCH_ROWS` sets the row count (default 50,000: runs of 10,000 rows last about
//! 150 ms, short enough for one scheduling hiccup on a shared 2-core machine to move a ratio by
//! 15 %). PostgreSQL comes from
//! `REEL_DATABASE_URL` (or the local server), the search node from reel-testkit (the real
//! OpenSearch node by default).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use reel_search::{Document, Indexer, KeysetSource, Repo};
use serde::Serialize;
use sqlx::PgPool;

/// Documents per bulk request, on both sides.
const BATCH: usize = 1_000;
/// Bulk requests in flight, on both sides (the indexer's default).
const CONCURRENCY: usize = 2;

#[derive(Document, Serialize, sqlx::FromRow, Clone)]
#[search(index = "rows", shards = 1, replicas = 0)]
struct Row {
    #[search(id)]
    id: i64,
    title: String,
    #[search(keyword)]
    kind: String,
    views: i64,
}

/// One timed ingest run (see [`Setup`]'s methods).
type Variant = for<'a> fn(&'a Setup) -> std::pin::Pin<Box<dyn Future<Output = Duration> + 'a>>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    n: usize,
    repo: Repo,
    pool: PgPool,
    index: String,
    rows: Vec<Row>,
    chunks: Vec<Bytes>,
}

impl Setup {
    /// Deletes and recreates the bench index, so every timed run ingests into the same state.
    async fn fresh_index(&self) {
        self.repo.delete_index(&self.index).await.unwrap();
        self.repo
            .create_index(&self.index, &Row::definition())
            .await
            .unwrap();
    }

    /// The indexer reading the rows from PostgreSQL.
    async fn reel(&self) -> Duration {
        self.fresh_index().await;
        let started = Instant::now();
        let source = KeysetSource::table(self.pool.clone(), "rows", "id")
            .unwrap()
            .page_size(5_000)
            .stream::<Row, i64>();
        let report = Indexer::new(self.repo.clone(), self.index.clone())
            .batch_size(BATCH)
            .concurrency(CONCURRENCY)
            .run(source)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(report.indexed, self.n as u64, "{:?}", report.failed.first());
        elapsed
    }

    /// The indexer over rows already in memory (their copy is made before the clock starts).
    async fn reel_in_memory(&self) -> Duration {
        self.fresh_index().await;
        let rows = self.rows.clone();
        let started = Instant::now();
        let source = futures::stream::iter(rows.into_iter().map(Ok::<_, std::io::Error>));
        let report = Indexer::new(self.repo.clone(), self.index.clone())
            .batch_size(BATCH)
            .concurrency(CONCURRENCY)
            .run(source)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(report.indexed, self.n as u64, "{:?}", report.failed.first());
        elapsed
    }

    /// The node ingesting the pre-built NDJSON.
    async fn server_bulk_ndjson(&self) -> Duration {
        self.fresh_index().await;
        let path = format!("/{}/_bulk", self.index);
        let started = Instant::now();
        futures::stream::iter(&self.chunks)
            .map(|chunk| {
                let path = &path;
                async move {
                    let response = self
                        .repo
                        .client()
                        .send(
                            elasticsearch::http::Method::Post,
                            path,
                            elasticsearch::http::headers::HeaderMap::new(),
                            None::<&()>,
                            Some(chunk.clone()),
                            None,
                        )
                        .await
                        .unwrap();
                    assert!(response.status_code().is_success());
                    let bytes = response.bytes().await.unwrap();
                    #[derive(serde::Deserialize)]
                    struct Answer {
                        errors: bool,
                    }
                    let answer: Answer = serde_json::from_slice(&bytes).unwrap();
                    assert!(
                        !answer.errors,
                        "the node refused or throttled baseline items; the run is not comparable: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
                    );
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<()>()
            .await;
        started.elapsed()
    }
}

fn setup(
    rt: &tokio::runtime::Runtime,
    pg: &reel_testkit::Postgres,
    server: &reel_testkit::Search,
) -> Setup {
    let n = env_number("REEL_SEARCH_BENCH_ROWS", 50_000);
    pg.execute(&format!(
        "CREATE TABLE rows (id bigint PRIMARY KEY, title text NOT NULL, kind text NOT NULL, views bigint NOT NULL);
         INSERT INTO rows SELECT g, 'row ' || g, (ARRAY['video','image','audio'])[g % 3 + 1], g * 2
           FROM generate_series(1, {n}) g;"
    ))
    .unwrap();
    let repo = Repo::from_url(server.url()).unwrap();
    let pool = rt.block_on(PgPool::connect(pg.url())).unwrap();
    let index = server.index("rows");
    let rows: Vec<Row> = rt
        .block_on(
            sqlx::query_as("SELECT id, title, kind, views FROM rows ORDER BY id").fetch_all(&pool),
        )
        .unwrap();
    // The NDJSON the node ingests in the baseline: the same documents, built beforehand, in
    // the same BATCH-document requests the indexer sends.
    let chunks = rows
        .chunks(BATCH)
        .map(|chunk| {
            let mut body = String::new();
            for row in chunk {
                body.push_str(
                    &reel_search::BulkOp::index_doc(row)
                        .unwrap()
                        .to_ndjson()
                        .unwrap(),
                );
            }
            Bytes::from(body)
        })
        .collect();
    rt.block_on(repo.create_index(&index, &Row::definition()))
        .unwrap();
    Setup {
        n,
        repo,
        pool,
        index,
        rows,
        chunks,
    }
}

/// Alternates the three ingest variants and prints the fastest and median of each and the
/// throughput ratios (baseline time / indexer time: ≥ 1 means the indexer is faster).
fn alternate(rt: &tokio::runtime::Runtime, s: &Setup, rounds: usize) {
    let names = ["reel", "reel_in_memory", "server_bulk_ndjson"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    let resent_before = s.repo.stats().retries;
    let mut cpu: [Duration; 3] = Default::default();
    // One untimed round first: the node's JIT and caches warm up on it.
    for round in 0..=rounds {
        for k in 0..3 {
            // Rotate the order each round so no variant always runs first after a pause.
            let which = (round + k) % 3;
            let cpu_before = process_cpu();
            let t = rt.block_on(async {
                match which {
                    0 => s.reel().await,
                    1 => s.reel_in_memory().await,
                    _ => s.server_bulk_ndjson().await,
                }
            });
            if round > 0 {
                times[which].push(t);
                cpu[which] += process_cpu().saturating_sub(cpu_before);
            }
        }
    }
    let stat = |v: &Vec<Duration>| {
        let mut v = v.clone();
        v.sort();
        (v[0], v[v.len() / 2])
    };
    let (base_fast, base_median) = stat(&times[2]);
    eprintln!(
        "\nsearch/index_rows, {} rows, {rounds} alternating rounds, {BATCH}-document requests, {CONCURRENCY} in flight on both sides",
        s.n
    );
    eprintln!(
        "| variant | fastest | median | throughput vs node ingest (fastest) | (median) | bench-process CPU per document |"
    );
    eprintln!("|---|---:|---:|---:|---:|---:|");
    for ((name, t), cpu) in names.iter().zip(&times).zip(cpu) {
        let (fast, median) = stat(t);
        eprintln!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2}× | {:.2}× | {:.2} µs |",
            fast.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            base_fast.as_secs_f64() / fast.as_secs_f64(),
            base_median.as_secs_f64() / median.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / (rounds * s.n) as f64
        );
    }
    eprintln!(
        "bulk items or requests the indexer resent (429/5xx): {}\n",
        s.repo.stats().retries - resent_before
    );
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat` (zero elsewhere):
/// the client's share of the 2 cores it shares with the node.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = reel_testkit::Postgres::start().unwrap();
    let server = reel_testkit::Search::start().unwrap();
    let s = setup(&rt, &pg, &server);
    let rounds = env_number("REEL_SEARCH_BENCH_ROUNDS", 5);
    if rounds > 0 {
        alternate(&rt, &s, rounds);
    }

    let mut group = c.benchmark_group("search/index_rows");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(s.n as u64));
    let (s, rt) = (&s, &rt);
    let timed = |f: Variant| {
        move |b: &mut criterion::Bencher<'_>| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(f(s))).sum::<Duration>())
        }
    };
    group.bench_function("reel", timed(|s| Box::pin(s.reel())));
    group.bench_function("reel_in_memory", timed(|s| Box::pin(s.reel_in_memory())));
    group.bench_function(
        "server_bulk_ndjson",
        timed(|s| Box::pin(s.server_bulk_ndjson())),
    );
    group.bench_function("sqlx_raw_stream", |b| {
        b.to_async(rt).iter(|| async {
            let count =
                sqlx::query_as::<_, Row>("SELECT id, title, kind, views FROM rows ORDER BY id")
                    .fetch(&s.pool)
                    .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                    .await
                    .unwrap();
            assert_eq!(count, s.n as u64);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
