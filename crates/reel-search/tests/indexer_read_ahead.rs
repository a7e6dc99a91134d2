//! The streaming indexer reads ahead: while a bulk request is in flight, the next batch is
//! read from the source and built, so the node never waits for the source between requests.
//! The fault proxy (`support/fault_proxy.rs`, a FAKE network delay in front of the real
//! node) holds the answer to the first bulk request while the test watches the source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Asset, asset};
use fault_proxy::{Fault, FaultProxy};
use futures::StreamExt;
use reel_search::{Document, Indexer, Repo};

#[tokio::test]
async fn the_next_batch_is_read_while_a_bulk_request_is_in_flight() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("read-ahead");
    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.url()).await;
    let release = Arc::new(tokio::sync::Notify::new());
    let held = proxy.script("POST", "/_bulk", Fault::HoldAnswer(release.clone()), 1);
    // Every later bulk request passes, counted.
    proxy.script("POST", "_bulk", Fault::Pass, usize::MAX);

    let pulled = Arc::new(AtomicUsize::new(0));
    let source = futures::stream::iter(0..30).map({
        let pulled = pulled.clone();
        move |i| {
            pulled.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(asset(i))
        }
    });
    let run = tokio::spawn({
        let (via_proxy, index) = (Repo::from_url(proxy.url()).unwrap(), index.clone());
        async move {
            Indexer::new(via_proxy, &index)
                .batch_size(3)
                .concurrency(1)
                .run(source)
                .await
        }
    });
    held.notified().await;
    // The first request (rows 0..3) reached the node and its answer is held: the rows of the
    // next request are read meanwhile.
    let read_ahead = reel_testkit::eventually(Duration::from_secs(10), async || {
        pulled.load(Ordering::SeqCst) >= 6
    })
    .await;
    let while_held = pulled.load(Ordering::SeqCst);
    let sent_meanwhile = proxy.fired("_bulk");
    release.notify_one();
    let report = run.await.unwrap().unwrap();
    assert!(
        read_ahead,
        "only {while_held} rows were read while the first bulk request was in flight"
    );
    assert_eq!(
        sent_meanwhile, 0,
        "concurrency 1, yet a second request went out"
    );
    assert!(
        while_held < 30,
        "the whole source was read while one request was in flight"
    );
    assert_eq!(report.indexed, 30, "{report:?}");
    repo.refresh(&index).await.unwrap();
    assert_eq!(repo.count(&index, None).await.unwrap(), 30);
}
