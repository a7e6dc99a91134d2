//! `reel_search_retries_total` (feature `metrics`, through a `metrics-util` debugging
//! recorder) counts every resent request. Its own test binary: the recorder is global, and the
//! throttling comes from the FAKE server in `support/canned_http.rs` (a real node does not
//! throttle on demand).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/canned_http.rs"]
mod canned_http;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        snapshotter
    })
}

/// The total of `reel_search_retries_total{operation}` so far (a snapshot drains the
/// recorder's counters, so they are added up here).
fn retries(operation: &str) -> u64 {
    static TOTALS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    let mut totals = TOTALS.get_or_init(Mutex::default).lock().unwrap();
    for (key, _unit, _desc, value) in snapshotter().snapshot().into_vec() {
        let key = key.key();
        if key.name() != "reel_search_retries_total" {
            continue;
        }
        let op = key.labels().find(|l| l.key() == "operation");
        if let (Some(op), DebugValue::Counter(n)) = (op, value) {
            *totals.entry(op.value().to_owned()).or_default() += n;
        }
    }
    totals.get(operation).copied().unwrap_or(0)
}

/// `reel_search_retries_total{operation}` counts every resent request: a count answered 503
/// and then 200 (one resend), and a bulk whose throttled item is resent (one resend). The
/// throttling comes from the FAKE server in `support/canned_http.rs` (a real node does not
/// throttle on demand). The old code counted the bulk resend in `Repo::stats` but not in the
/// metric.
#[tokio::test]
async fn resent_requests_are_counted_in_retries_total() {
    snapshotter();
    let (count_before, bulk_before) = (retries("count"), retries("bulk"));
    let fast = reel_core::Backoff::new(
        std::time::Duration::from_millis(1),
        std::time::Duration::from_millis(5),
    )
    .with_max_retries(3);

    let (url, seen) = canned_http::mock_server(vec![
        (
            503,
            r#"{"error":{"type":"unavailable","reason":"starting"}}"#.into(),
        ),
        (200, r#"{"count": 42}"#.into()),
    ])
    .await;
    let repo = reel_search::Repo::from_url(&url)
        .unwrap()
        .backoff(fast.clone());
    assert_eq!(repo.count("x", None).await.unwrap(), 42);
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(retries("count"), count_before + 1);

    let throttled = serde_json::json!({"took": 1, "errors": true, "items": [
        {"index": {"_index": "x", "_id": "1", "status": 201, "result": "created"}},
        {"index": {"_index": "x", "_id": "2", "status": 429,
                   "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
    ]});
    let rest = serde_json::json!({"took": 1, "errors": false, "items": [
        {"index": {"_index": "x", "_id": "2", "status": 201, "result": "created"}},
    ]});
    let (url, seen) =
        canned_http::mock_server(vec![(200, throttled.to_string()), (200, rest.to_string())]).await;
    let repo = reel_search::Repo::from_url(&url).unwrap().backoff(fast);
    let ops = vec![
        reel_search::BulkOp::index("1", serde_json::json!({"a": 1})),
        reel_search::BulkOp::index("2", serde_json::json!({"a": 2})),
    ];
    let response = repo.bulk("x", ops).await.unwrap();
    assert!(!response.has_errors(), "{response:?}");
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(repo.stats().retries, 1);
    assert_eq!(retries("bulk"), bulk_before + 1, "the resent bulk request");
}
