//! The `Repo`'s circuit breaker against a real OpenSearch node that is stopped and a new one
//! started in its place (behind `support/fault_proxy.rs`, which only forwards here, so the
//! `Repo` keeps one URL across the restart).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

use std::time::Duration;

use reel_core::Backoff;
use reel_core::breaker::{BreakerState, CircuitBreaker};
use reel_search::{Error, Repo, SearchRequest};
use serde_json::{Value, json};

fn node() -> reel_testkit::OpenSearch {
    reel_testkit::OpenSearch::start().unwrap_or_else(|e| panic!("search node: {e}"))
}

#[tokio::test]
async fn after_repeated_failures_searches_fail_at_once_and_one_probe_closes_the_breaker() {
    if std::env::var("REEL_ES_URL").is_ok()
        || std::env::var("REEL_SEARCH_ENGINE").as_deref() == Ok("osmem")
    {
        // The test stops and starts its own OpenSearch nodes.
        eprintln!("skipped: needs the local OpenSearch launcher");
        return;
    }
    let first = tokio::task::spawn_blocking(node).await.unwrap();
    let proxy = fault_proxy::FaultProxy::start(first.url()).await;
    let repo = Repo::from_url(proxy.url())
        .unwrap()
        .backoff(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(20)).with_max_retries(1),
        )
        .breaker(
            CircuitBreaker::builder()
                .failure_threshold(3)
                .cool_down(Duration::from_millis(300)),
        );
    let search = || async {
        repo.search::<Value>("breaker", &SearchRequest::new())
            .await
            .map(|_| ())
    };
    repo.index_json("breaker", "1", &json!({"n": 1}))
        .await
        .unwrap();
    search().await.unwrap();
    assert_eq!(repo.breaker_state(), Some(BreakerState::Closed));

    // The node stops: three failed requests open the breaker.
    drop(first);
    for _ in 0..3 {
        let error = search().await.unwrap_err();
        assert!(matches!(error, Error::Transport(_)), "{error}");
    }
    assert_eq!(repo.breaker_state(), Some(BreakerState::Open));
    // While it is open, calls fail at once without reaching the network.
    let sent = proxy.requests();
    let error = search().await.unwrap_err();
    assert!(matches!(error, Error::CircuitOpen { .. }), "{error}");
    assert!(error.retry_after().unwrap() >= Duration::from_secs(1));
    assert_eq!(proxy.requests(), sent);

    // A new node comes up in its place.
    let second = tokio::task::spawn_blocking(node).await.unwrap();
    proxy.retarget(second.url());
    repo.index_json("breaker", "1", &json!({"n": 1}))
        .await
        .map(|_| ())
        .or_else(|e| match e {
            // Refused while open, or the probe of a still-open cool-down.
            Error::CircuitOpen { .. } => Ok(()),
            other => Err(other),
        })
        .unwrap();
    // Poll until the cool-down ends and the probe closes the breaker.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match search().await {
            Ok(()) => break,
            Err(Error::CircuitOpen { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(repo.breaker_state(), Some(BreakerState::Closed));
    search().await.unwrap();
    drop(second);
}
