//! `search/typed_search_*`: one typed search through [`Repo::search`] (`reel`) against what a
//! user would write instead — the same request through the raw `elasticsearch` client, its
//! body built with `json!`, and `serde_json::from_slice` into the same response struct
//! (`elasticsearch_raw`), in the same run:
//!
//! - `search/typed_search_node`: on the real OpenSearch node of reel-testkit (20 hits of 200
//!   documents, a `match` query sorted by a number);
//! - `search/typed_search_replay`: against `support/replay.rs`, a loopback STAND-IN that replays
//!   the node's captured answer to that same search, so the figure is client CPU alone.
//!
//! ```sh
//! cargo bench -p reel-search --bench typed_search -- --measurement-time 5
//! REEL_BENCH_RAW_FIRST=1 cargo bench -p reel-search --bench typed_search -- --measurement-time 5
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/replay.rs"]
mod replay;

use criterion::{Criterion, criterion_group, criterion_main};
use reel_search::elasticsearch::http::transport::Transport;
use reel_search::elasticsearch::{Elasticsearch, SearchParts};
use reel_search::{Document, Query, Repo, SearchRequest, SearchResponse, Sort};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "bench_docs", shards = 1, replicas = 0)]
struct Doc {
    #[search(id, keyword)]
    id: String,
    title: String,
    #[search(keyword)]
    kind: String,
    views: i64,
    #[search(keyword)]
    tags: Vec<String>,
}

fn doc(i: usize) -> Doc {
    Doc {
        id: format!("d{i}"),
        title: format!(
            "document {i} about {} and the search benchmark",
            if i.is_multiple_of(2) {
                "beaches"
            } else {
                "mountains"
            }
        ),
        kind: ["video", "image", "audio"][i % 3].to_owned(),
        views: (i * 37 % 1000) as i64,
        tags: vec![format!("t{}", i % 7), format!("u{}", i % 5)],
    }
}

fn typed_request() -> SearchRequest {
    SearchRequest::new()
        .query(Query::matches("title", "beaches"))
        .sort(Sort::desc("views"))
        .size(20)
}

/// The same body, as a user of the raw client writes it.
fn raw_body() -> serde_json::Value {
    json!({
        "query": {"match": {"title": {"query": "beaches"}}},
        "sort": [{"views": {"order": "desc"}}],
        "size": 20,
    })
}

async fn typed(repo: &Repo, index: &str) -> usize {
    let found = repo.search::<Doc>(index, &typed_request()).await.unwrap();
    found.hits.hits.len()
}

async fn raw(client: &Elasticsearch, index: &str) -> usize {
    let response = client
        .search(SearchParts::Index(&[index]))
        .body(raw_body())
        .send()
        .await
        .unwrap();
    assert!(response.status_code().is_success());
    let bytes = response.bytes().await.unwrap();
    let found: SearchResponse<Doc> = serde_json::from_slice(&bytes).unwrap();
    found.hits.hits.len()
}

fn raw_client(url: &str) -> Elasticsearch {
    Elasticsearch::new(Transport::single_node(url).unwrap())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = reel_testkit::Search::start().unwrap_or_else(|e| panic!("search server: {e}"));
    let repo = Repo::from_url(server.url()).unwrap();
    let client = raw_client(server.url());
    let index = server.index("typed-search");
    let captured = rt.block_on(async {
        repo.create_index(&index, &Doc::definition()).await.unwrap();
        for i in 0..200 {
            repo.index(&index, &doc(i)).await.unwrap();
        }
        repo.refresh(&index).await.unwrap();
        // Warm the node's JVM first, so the function measured first does not pay for it.
        for _ in 0..300 {
            assert_eq!(typed(&repo, &index).await, 20);
            assert_eq!(raw(&client, &index).await, 20);
        }
        let response = client
            .search(SearchParts::Index(&[&index]))
            .body(raw_body())
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap().to_vec()
    });

    // `REEL_BENCH_RAW_FIRST=1` measures the raw client first: alternate runs to see an
    // order effect on this loaded machine.
    let raw_first = std::env::var_os("REEL_BENCH_RAW_FIRST").is_some();
    let mut group = c.benchmark_group("search/typed_search_node");
    for measure_raw in [raw_first, !raw_first] {
        if measure_raw {
            group.bench_function("elasticsearch_raw", |b| {
                b.iter(|| rt.block_on(raw(&client, &index)))
            });
        } else {
            group.bench_function("reel", |b| b.iter(|| rt.block_on(typed(&repo, &index))));
        }
    }
    group.finish();

    let replay = replay::Replay::start(captured);
    let repo = Repo::from_url(replay.url()).unwrap();
    let client = raw_client(replay.url());
    let mut group = c.benchmark_group("search/typed_search_replay");
    for measure_raw in [raw_first, !raw_first] {
        if measure_raw {
            group.bench_function("elasticsearch_raw", |b| {
                b.iter(|| rt.block_on(raw(&client, &index)))
            });
        } else {
            group.bench_function("reel", |b| b.iter(|| rt.block_on(typed(&repo, &index))));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
