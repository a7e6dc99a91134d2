//! Retries of 429/503 answers. osmem-server never throttles, so these tests use a MOCK HTTP
//! server (canned answers on a loopback socket) to produce the throttling a busy cluster sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/canned_http.rs"]
mod canned_http;

use std::time::Duration;

use canned_http::mock_server;

use reel_core::Backoff;
use reel_search::{AliasAction, BulkOp, Repo, Script};
use serde_json::json;

fn fast(retries: u32) -> Backoff {
    Backoff::new(Duration::from_millis(1), Duration::from_millis(5)).with_max_retries(retries)
}

#[tokio::test]
async fn bulk_resends_only_throttled_items() {
    let first = json!({"took": 1, "errors": true, "items": [
        {"index": {"_index": "x", "_id": "1", "status": 201, "result": "created"}},
        {"index": {"_index": "x", "_id": "2", "status": 429,
                   "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
    ]});
    let second = json!({"took": 1, "errors": false, "items": [
        {"index": {"_index": "x", "_id": "2", "status": 201, "result": "created"}},
    ]});
    let (url, seen) = mock_server(vec![(200, first.to_string()), (200, second.to_string())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(3));
    let response = repo
        .bulk(
            "x",
            vec![
                BulkOp::index("1", json!({"a": 1})),
                BulkOp::index("2", json!({"a": 2})),
            ],
        )
        .await
        .unwrap();
    assert!(!response.has_errors(), "{response:?}");
    assert_eq!(response.items[1].status, 201);
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0].lines().count(), 4);
    assert_eq!(
        bodies[1].lines().next().unwrap(),
        r#"{"index":{"_id":"2"}}"#
    );
    assert_eq!(bodies[1].lines().count(), 2);
    assert_eq!(repo.stats().retries, 1);
}

#[tokio::test]
async fn requests_retry_503_then_succeed() {
    let (url, seen) = mock_server(vec![
        (
            503,
            r#"{"error":{"type":"unavailable","reason":"starting"}}"#.into(),
        ),
        (200, r#"{"count": 42}"#.into()),
    ])
    .await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(3));
    assert_eq!(repo.count("x", None).await.unwrap(), 42);
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(repo.stats().retries, 1);
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_is_reported() {
    let (url, seen) = mock_server(vec![(
        429,
        r#"{"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}"#.into(),
    )])
    .await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(2));
    let err = repo.count("x", None).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(err.to_string().contains("queue full"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

/// A 504 from a proxy says nothing about whether the server applied the request: a bulk body
/// (which may hold `create` and scripted updates) must not be sent again.
#[tokio::test]
async fn non_idempotent_requests_are_not_resent_after_502_or_504() {
    for status in [502u16, 504] {
        let (url, seen) = mock_server(vec![(
            status,
            r#"{"error":{"type":"gateway","reason":"upstream timed out"}}"#.into(),
        )])
        .await;
        let repo = Repo::from_url(&url).unwrap().backoff(fast(3));
        let err = repo
            .bulk("x", vec![BulkOp::create("1", json!({"a": 1}))])
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1, "bulk resent after {status}");
        let err = repo
            .update_script("x", "1", &Script::painless("ctx._source.a += 1"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{err}");
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "scripted update resent after {status}"
        );
    }
}

/// Reads and writes with an explicit id are idempotent: those are retried after a 504.
#[tokio::test]
async fn idempotent_requests_are_retried_after_504() {
    let (url, seen) = mock_server(vec![
        (
            504,
            r#"{"error":{"type":"gateway","reason":"slow"}}"#.into(),
        ),
        (200, r#"{"count": 7}"#.into()),
    ])
    .await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(3));
    assert_eq!(repo.count("x", None).await.unwrap(), 7);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// Elasticsearch ≥ 8.14 answers a multi-action `_aliases` call whose `remove` found nothing
/// with 200, `errors: true`, and applies the adds. A FAKE server replays that answer (the
/// OpenSearch test node rejects the whole call instead): reel must report the partial swap.
#[tokio::test]
async fn alias_update_with_errors_in_a_200_is_an_error() {
    let partial = json!({
        "acknowledged": true,
        "errors": true,
        "action_results": [
            {"action": {"type": "remove", "indices": ["old"], "aliases": ["assets"]},
             "status": 404,
             "error": {"type": "aliases_not_found_exception", "reason": "aliases [assets] missing"}},
            {"action": {"type": "add", "indices": ["new"], "aliases": ["assets"]}, "status": 200}
        ]
    });
    let (url, seen) = mock_server(vec![(200, partial.to_string())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(3));
    let err = repo
        .update_aliases(&[
            AliasAction::remove("old", "assets"),
            AliasAction::add("new", "assets"),
        ])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("aliases [assets] missing"), "{text}");
    assert!(text.contains("remove"), "{text}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "an alias update is not resent"
    );
}

/// A document for the indexer tests below.
struct Doc(u32);

impl reel_search::Indexable for Doc {
    fn document_id(&self) -> String {
        self.0.to_string()
    }
    fn document_body(&self) -> Result<serde_json::Value, serde_json::Error> {
        Ok(json!({"n": self.0}))
    }
}

fn docs(n: u32) -> impl futures::Stream<Item = Result<Doc, std::io::Error>> {
    futures::stream::iter((1..=n).map(|i| Ok(Doc(i))))
}

#[tokio::test]
async fn the_indexer_resends_only_throttled_documents_in_order() {
    let first = json!({"took": 1, "errors": true, "items": [
        {"index": {"_index": "x", "_id": "1", "status": 201, "result": "created"}},
        {"index": {"_index": "x", "_id": "2", "status": 429,
                   "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
        {"index": {"_index": "x", "_id": "3", "status": 201, "result": "created"}},
        {"index": {"_index": "x", "_id": "4", "status": 503,
                   "error": {"type": "unavailable_shards_exception", "reason": "busy"}}},
    ]});
    let second = json!({"took": 1, "errors": false, "items": [
        {"index": {"_index": "x", "_id": "2", "status": 201, "result": "created"}},
        {"index": {"_index": "x", "_id": "4", "status": 201, "result": "created"}},
    ]});
    let (url, seen) = mock_server(vec![(200, first.to_string()), (200, second.to_string())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(3));
    let report = reel_search::Indexer::new(repo.clone(), "x")
        .run(docs(4))
        .await
        .unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!((report.indexed, report.batches), (4, 1));
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0],
        (1..=4)
            .map(|i| format!("{{\"index\":{{\"_id\":\"{i}\"}}}}\n{{\"n\":{i}}}\n"))
            .collect::<String>()
    );
    assert_eq!(
        bodies[1],
        "{\"index\":{\"_id\":\"2\"}}\n{\"n\":2}\n{\"index\":{\"_id\":\"4\"}}\n{\"n\":4}\n"
    );
    assert_eq!(repo.stats().retries, 2);
}

#[tokio::test]
async fn the_indexer_reports_items_still_throttled_when_retries_run_out() {
    let throttled = json!({"took": 1, "errors": true, "items": [
        {"index": {"_index": "x", "_id": "1", "status": 429,
                   "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
    ]});
    let (url, seen) = mock_server(vec![(200, throttled.to_string())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(2));
    let report = reel_search::Indexer::new(repo, "x")
        .run(docs(1))
        .await
        .unwrap();
    assert_eq!(report.indexed, 0);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (report.failed[0].status, report.failed[0].kind.as_str()),
        (429, "es_rejected_execution_exception")
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn hostile_bulk_answers_fail_clearly_or_per_item() {
    // Fewer items than operations: the answer cannot be matched to the documents.
    let short = json!({"took": 1, "errors": false, "items": [
        {"index": {"_id": "1", "status": 201}},
    ]});
    let (url, _) = mock_server(vec![(200, short.to_string())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(0));
    let err = reel_search::Indexer::new(repo, "x")
        .run(docs(2))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("1 items answered for 2 operations"),
        "{err}"
    );

    // Not JSON at all.
    let (url, _) = mock_server(vec![(200, "<html>proxy</html>".into())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(0));
    let err = reel_search::Indexer::new(repo, "x")
        .run(docs(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("<html>proxy"), "{err}");

    // One undecodable item and one error given as a plain string: reported per item.
    let odd = json!({"took": 1, "errors": true, "items": [
        {"index": {"_id": "1", "status": "two hundred"}},
        {"index": {"_id": "2", "status": 400, "error": "bad document"}},
        {"frobnicate": {"_id": "3", "status": 201}},
        {"index": {"_id": "4", "status": 201, "result": "created"}},
    ]});
    let (url, _) = mock_server(vec![(200, odd.to_string())]).await;
    let repo = Repo::from_url(&url).unwrap().backoff(fast(0));
    let report = reel_search::Indexer::new(repo.clone(), "x")
        .run(docs(4))
        .await
        .unwrap();
    assert_eq!(report.indexed, 1);
    let failed: Vec<(&str, u16, &str)> = report
        .failed
        .iter()
        .map(|f| (f.id.as_str(), f.status, f.kind.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("1", 0, "reel_decode_error"),
            ("2", 400, ""),
            ("3", 0, "reel_decode_error")
        ]
    );
    assert_eq!(report.failed[1].reason, "bad document");
    assert_eq!(repo.stats().bulk_failed, 3);
}
