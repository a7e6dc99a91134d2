//! `search/index_rows`: the streaming indexer (PostgreSQL keyset pages → bulk) against the raw
//! sqlx stream of the same rows and the server's own ingest of pre-built NDJSON.
//!
//! `REEL_SEARCH_BENCH_ROWS` sets the row count (default 2,000: osmem-server ingests a few
//! hundred to a thousand documents per second on the shared 2-core machine).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt;
use reel_search::{Document, Indexer, KeysetSource, Repo};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Document, Serialize, sqlx::FromRow)]
#[search(index = "rows", shards = 1, replicas = 0)]
struct Row {
    #[search(id)]
    id: i64,
    title: String,
    #[search(keyword)]
    kind: String,
    views: i64,
}

fn rows() -> i64 {
    std::env::var("REEL_SEARCH_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn bench(c: &mut Criterion) {
    let n = rows();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = reel_testkit::Postgres::start().unwrap();
    pg.execute(&format!(
        "CREATE TABLE rows (id bigint PRIMARY KEY, title text NOT NULL, kind text NOT NULL, views bigint NOT NULL);
         INSERT INTO rows SELECT g, 'row ' || g, (ARRAY['video','image','audio'])[g % 3 + 1], g * 2
           FROM generate_series(1, {n}) g;"
    ))
    .unwrap();
    let server = reel_testkit::Search::start().unwrap();
    let repo = Repo::from_url(server.url()).unwrap();
    let pool = rt.block_on(PgPool::connect(pg.url())).unwrap();
    let reel_index = server.index("reel");
    let raw_index = server.index("raw");
    rt.block_on(async {
        repo.create_index(&reel_index, &Row::definition())
            .await
            .unwrap();
        repo.create_index(&raw_index, &Row::definition())
            .await
            .unwrap();
    });
    // The NDJSON the server ingests in the baseline: the same documents, built beforehand,
    // in the same 1,000-document requests the indexer sends.
    let chunks: Vec<Bytes> = rt.block_on(async {
        let all: Vec<Row> = sqlx::query_as("SELECT id, title, kind, views FROM rows ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        all.chunks(1000)
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
            .collect()
    });

    let mut group = c.benchmark_group("search/index_rows");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(n as u64));

    group.bench_function("reel", |b| {
        b.to_async(&rt).iter(|| async {
            let source = KeysetSource::table(pool.clone(), "rows", "id")
                .unwrap()
                .page_size(5_000)
                .stream::<Row, i64>();
            let report = Indexer::new(repo.clone(), reel_index.clone())
                .batch_size(1_000)
                .concurrency(2)
                .run(source)
                .await
                .unwrap();
            assert_eq!(report.indexed, n as u64);
        })
    });

    group.bench_function("sqlx_raw_stream", |b| {
        b.to_async(&rt).iter(|| async {
            let count =
                sqlx::query_as::<_, Row>("SELECT id, title, kind, views FROM rows ORDER BY id")
                    .fetch(&pool)
                    .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                    .await
                    .unwrap();
            assert_eq!(count, n as u64);
        })
    });

    group.bench_function("server_bulk_ndjson", |b| {
        b.to_async(&rt).iter(|| async {
            for chunk in &chunks {
                let response = repo
                    .client()
                    .send(
                        elasticsearch::http::Method::Post,
                        &format!("/{raw_index}/_bulk"),
                        elasticsearch::http::headers::HeaderMap::new(),
                        None::<&()>,
                        Some(chunk.clone()),
                        None,
                    )
                    .await
                    .unwrap();
                assert!(response.status_code().is_success());
                let _ = response.bytes().await.unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
