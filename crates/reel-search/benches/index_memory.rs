//! Peak memory and throughput of the streaming indexer over 100k and 1M PostgreSQL rows.
//!
//! Each figure comes from a fresh child process (this executable re-run with `REEL_MEM_CHILD`),
//! so every peak RSS (`VmHWM`) is independent. The bulk destination is a loopback `_bulk` SINK
//! (`tests/support/memory.rs`), because osmem-server ingests under 2k documents/s here and 1M
//! documents would take ten minutes; the sink measures the indexer's own memory and speed.
//!
//! - `REEL_SEARCH_MEM_ROWS` — comma-separated sizes (default `100000,1000000`).
//! - `REEL_SEARCH_MEM_OSMEM=N` — also index N rows into the real osmem-server and time the
//!   server's own ingest of the same documents as pre-built NDJSON (1,000 per request).
//!
//! Not a criterion benchmark: one pass per size (a 1M-row pass takes seconds, not
//! milliseconds, and peak RSS needs a fresh process per run).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/memory.rs"]
mod memory;

use std::time::Instant;

use bytes::Bytes;
use memory::{BulkSink, Mode, Row, measure_in_child};
use reel_search::{BulkOp, Document, Repo};

fn main() {
    if memory::child_main() {
        return;
    }
    let sizes: Vec<u64> = std::env::var("REEL_SEARCH_MEM_ROWS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let pg = reel_testkit::Postgres::start().unwrap();
    let sink = BulkSink::start();
    println!(
        "| rows | indexer → sink rows/s | indexer peak RSS | KeysetSource only rows/s | raw sqlx stream rows/s | raw sqlx peak RSS | indexer / raw |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let table = format!("rows_{n}");
        memory::create_table(&pg, &table, n);
        let indexer = measure_in_child(Mode::Indexer, pg.url(), &table, sink.url(), "rows");
        let keyset = measure_in_child(Mode::Keyset, pg.url(), &table, sink.url(), "rows");
        let raw = measure_in_child(Mode::RawSqlx, pg.url(), &table, sink.url(), "rows");
        assert_eq!(indexer.rows, n);
        assert_eq!(keyset.rows, n);
        assert_eq!(raw.rows, n);
        println!(
            "| {n} | {:.0} | {:.1} MiB | {:.0} | {:.0} | {:.1} MiB | {:.2} |",
            indexer.rate(),
            indexer.peak_kib as f64 / 1024.0,
            keyset.rate(),
            raw.rate(),
            raw.peak_kib as f64 / 1024.0,
            indexer.rate() / raw.rate()
        );
    }

    let Some(n) = std::env::var("REEL_SEARCH_MEM_OSMEM")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let server = reel_testkit::Search::start().unwrap();
    let table = format!("osmem_{n}");
    memory::create_table(&pg, &table, n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let repo = Repo::from_url(server.url()).unwrap();
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
    let indexer = measure_in_child(Mode::Indexer, pg.url(), &table, server.url(), &reel_index);
    assert_eq!(indexer.rows, n);
    // The server's own ingest: the same documents as NDJSON built beforehand, sent in
    // 1,000-document requests one after the other.
    let (secs, docs) = rt.block_on(async {
        let pool = sqlx::PgPool::connect(pg.url()).await.unwrap();
        let all: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, title, kind, views FROM {table} ORDER BY id"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        let chunks: Vec<Bytes> = all
            .chunks(1000)
            .map(|chunk| {
                let mut body = String::new();
                for row in chunk {
                    body.push_str(&BulkOp::index_doc(row).unwrap().to_ndjson().unwrap());
                }
                Bytes::from(body)
            })
            .collect();
        let start = Instant::now();
        for chunk in chunks {
            let response = repo
                .client()
                .send(
                    elasticsearch::http::Method::Post,
                    &format!("/{raw_index}/_bulk"),
                    elasticsearch::http::headers::HeaderMap::new(),
                    None::<&()>,
                    Some(chunk),
                    None,
                )
                .await
                .unwrap();
            assert!(response.status_code().is_success());
            let _ = response.bytes().await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        repo.refresh(&raw_index).await.unwrap();
        repo.refresh(&reel_index).await.unwrap();
        let docs = (
            repo.count(&reel_index, None).await.unwrap(),
            repo.count(&raw_index, None).await.unwrap(),
        );
        (secs, docs)
    });
    assert_eq!(docs, (n, n), "both indices hold every row");
    let server_rate = n as f64 / secs;
    println!(
        "osmem-server, {n} rows: indexer {:.0} rows/s (peak RSS {:.1} MiB), server bulk NDJSON {:.0} rows/s, indexer / server {:.2}",
        indexer.rate(),
        indexer.peak_kib as f64 / 1024.0,
        server_rate,
        indexer.rate() / server_rate
    );
}
