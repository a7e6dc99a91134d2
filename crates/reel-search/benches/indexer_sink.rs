//! `search/indexer_sink`: the streaming indexer over 10,000 in-memory documents into a loopback
//! `_bulk` sink (`support/memory.rs`), so the figure is reel's own CPU per document (serialize,
//! batch, decode the bulk answer) plus loopback HTTP. With `--features metrics` a real
//! Prometheus recorder is installed first, so `metrics-off` vs `metrics` baselines give the
//! metrics feature's cost:
//!
//! ```sh
//! cargo bench -p reel-search --features postgres --bench indexer_sink -- --save-baseline metrics-off
//! cargo bench -p reel-search --features postgres,metrics --bench indexer_sink -- --baseline metrics-off
//! ```

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/memory.rs"]
mod memory;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memory::{BulkSink, Row};
use reel_search::{Indexer, Repo};

const DOCS: u64 = 10_000;

fn bench(c: &mut Criterion) {
    #[cfg(feature = "metrics")]
    {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap();
        reel_search::describe_metrics();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sink = BulkSink::start();
    let repo = Repo::from_url(sink.url()).unwrap();
    let mut group = c.benchmark_group("search/indexer_sink");
    group.sample_size(10);
    group.throughput(Throughput::Elements(DOCS));
    group.bench_function("10k_docs", |b| {
        b.iter(|| {
            rt.block_on(async {
                let docs = (1..=DOCS as i64).map(|i| {
                    Ok::<_, std::io::Error>(Row {
                        id: i,
                        title: format!("row {i} of the indexer benchmark"),
                        kind: ["video", "image", "audio"][(i % 3) as usize].to_owned(),
                        views: i * 2,
                    })
                });
                let report = Indexer::new(repo.clone(), "rows")
                    .batch_size(1_000)
                    .run(futures::stream::iter(docs))
                    .await
                    .unwrap();
                assert_eq!(report.indexed, DOCS);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
