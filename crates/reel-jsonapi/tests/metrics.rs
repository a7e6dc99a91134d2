//! `reel_jsonapi_validation_errors_total{rule}` (feature `metrics`), read back from a debugging
//! recorder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use reel_jsonapi::validate::{DocumentKind, validate_slice};

fn count(snapshot: &[(CompositeKey, DebugValue)], rule: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| {
            key.kind() == MetricKind::Counter
                && key.key().name() == "reel_jsonapi_validation_errors_total"
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "rule" && l.value() == rule)
        })
        .map(|(_, value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn every_violation_is_counted_by_rule() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        reel_jsonapi::describe_metrics();
        // Two wrong types and an unknown member.
        let errors = validate_slice(
            br#"{"data":{"type":1,"id":2},"bogus":1}"#,
            DocumentKind::Response,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        // Malformed JSON and a duplicate member, from the strict reader.
        assert_eq!(validate_slice(b"{", DocumentKind::Response).len(), 1);
        assert!(reel_jsonapi::Document::parse(br#"{"meta":{},"meta":{}}"#).is_err());
        // A valid document counts nothing.
        assert!(validate_slice(br#"{"meta":{}}"#, DocumentKind::Response).is_empty());
    });
    let full = snapshotter.snapshot().into_vec();
    let help = full
        .iter()
        .find(|(key, ..)| key.key().name() == "reel_jsonapi_validation_errors_total")
        .and_then(|(_, unit, help, _)| Some(((*unit)?, help.clone()?)));
    assert!(
        matches!(&help, Some((metrics::Unit::Count, text)) if text.contains("violations")),
        "describe_metrics gives the counter a unit and HELP text: {help:?}"
    );
    let snapshot: Vec<(CompositeKey, DebugValue)> = full
        .into_iter()
        .map(|(key, _unit, _help, value)| (key, value))
        .collect();
    assert_eq!(count(&snapshot, "wrong_type"), 2);
    assert_eq!(count(&snapshot, "unknown_member"), 1);
    assert_eq!(count(&snapshot, "malformed_json"), 1);
    assert_eq!(count(&snapshot, "duplicate_member"), 1);
}
