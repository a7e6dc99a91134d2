//! Retries of 429/503 answers. osmem-server never throttles, so these tests use a MOCK HTTP
//! server (canned answers on a loopback socket) to produce the throttling a busy cluster sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_core::Backoff;
use reel_search::{AliasAction, BulkOp, Repo, Script};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A mock server answering the n-th request with `answers[n]` (status, body); it records
/// the request bodies.
async fn mock_server(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    tokio::spawn(async move {
        for (n, (status, body)) in answers.into_iter().cycle().enumerate().take(64) {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let (head_end, length) = loop {
                let read = socket.read(&mut chunk).await.unwrap();
                if read == 0 {
                    break (buf.len(), 0);
                }
                buf.extend_from_slice(&chunk[..read]);
                if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..pos]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (pos + 4, length);
                }
            };
            while buf.len() < head_end + length {
                let read = socket.read(&mut chunk).await.unwrap();
                if read == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..read]);
            }
            recorded
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[head_end..]).into_owned());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
            let _ = n;
        }
    });
    (url, seen)
}

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
