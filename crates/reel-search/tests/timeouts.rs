//! A node that stops answering: a search that ran into the client's timeout is not sent again
//! unless the repo asks for it (six attempts of the default 60 s timeout would keep a caller
//! waiting six minutes). The node is real; the silence is FAKE: the fault proxy of
//! `support/fault_proxy.rs` holds every search request in front of it, as a node stopped by
//! SIGSTOP or a dropped route would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::sync::Arc;
use std::time::Duration;

use common::Asset;
use fault_proxy::{Fault, FaultProxy};
use reel_search::{Document, Repo, SearchRequest};

/// A repo with a 300 ms client timeout and up to 3 quick retries.
fn impatient(url: &str) -> Repo {
    let transport = elasticsearch::http::transport::TransportBuilder::new(
        elasticsearch::http::transport::SingleNodeConnectionPool::new(
            elasticsearch::http::Url::parse(url).unwrap(),
        ),
    )
    .timeout(Duration::from_millis(300))
    .build()
    .unwrap();
    Repo::new(elasticsearch::Elasticsearch::new(transport)).backoff(
        reel_core::Backoff::new(Duration::from_millis(1), Duration::from_millis(5))
            .with_max_retries(3),
    )
}

#[tokio::test]
async fn a_search_that_timed_out_is_sent_again_only_when_asked() {
    let server = common::search_server();
    let index = server.index("silent");
    common::repo(&server)
        .create_index(&index, &Asset::definition())
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.url()).await;
    let never = Arc::new(tokio::sync::Notify::new());
    proxy.script("POST", "/_search", Fault::HoldRequest(never), usize::MAX);

    let repo = impatient(proxy.url());
    let err = repo
        .search::<Asset>(&index, &SearchRequest::new())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(!err.to_string().is_empty());
    assert_eq!(
        repo.stats().requests,
        1,
        "a timed-out search was sent again"
    );
    assert_eq!(proxy.fired("/_search"), 1);

    let retrying = impatient(proxy.url()).retry_timeouts(true);
    let err = retrying
        .search::<Asset>(&index, &SearchRequest::new())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(retrying.stats().requests, 4);
    assert_eq!(proxy.fired("/_search"), 5);

    // Everything but the searches still passes: the repo itself is fine.
    assert!(repo.index_exists(&index).await.unwrap());
}
