//! Reading the `error` object of an Elasticsearch answer into a kind and an actionable reason.

use serde_json::Value;

/// The error's `type` and a reason that names the cause. A search that fails on every shard
/// answers `search_phase_execution_exception: all shards failed`, with the actual cause
/// (`collapse` on a text field, a suggester on an unmapped field, ...) only in `root_cause` or
/// `failed_shards`; that cause is appended so the message says what to fix.
pub(crate) fn kind_and_reason(error: &Value) -> (String, String) {
    match error {
        Value::Object(e) => {
            let kind = e.get("type").and_then(Value::as_str).unwrap_or("unknown");
            let mut reason = e
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if let Some(cause) = root_cause(error)
                && !reason.contains(&cause)
            {
                reason = if reason.is_empty() {
                    cause
                } else {
                    format!("{reason} ({cause})")
                };
            }
            (kind.to_owned(), reason)
        }
        Value::String(reason) => ("error".to_owned(), reason.clone()),
        other => ("error".to_owned(), other.to_string()),
    }
}

/// `type: reason` of the first root cause (or failed shard, or `caused_by`) that differs from
/// the top-level error.
fn root_cause(error: &Value) -> Option<String> {
    let top = (error.get("type"), error.get("reason"));
    let candidates = error
        .get("root_cause")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            error
                .get("failed_shards")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|shard| shard.get("reason")),
        )
        .chain(error.get("caused_by"));
    for cause in candidates {
        let pair = (cause.get("type"), cause.get("reason"));
        if pair == top {
            continue;
        }
        let kind = cause.get("type").and_then(Value::as_str).unwrap_or("error");
        if let Some(reason) = cause.get("reason").and_then(Value::as_str) {
            return Some(format!("{kind}: {reason}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::kind_and_reason;
    use serde_json::json;

    #[test]
    fn appends_the_root_cause_of_a_shard_failure() {
        let error = json!({
            "root_cause": [{"type": "illegal_argument_exception", "reason": "no mapping found for field [nope]"}],
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
        });
        let (kind, reason) = kind_and_reason(&error);
        assert_eq!(kind, "search_phase_execution_exception");
        assert_eq!(
            reason,
            "all shards failed (illegal_argument_exception: no mapping found for field [nope])"
        );
    }

    #[test]
    fn hostile_shapes_do_not_panic() {
        for error in [
            json!(null),
            json!(3),
            json!([]),
            json!({"root_cause": 7, "failed_shards": [{"reason": 1}], "caused_by": "x"}),
            json!({"type": 1, "reason": {"a": 1}}),
        ] {
            let _ = kind_and_reason(&error);
        }
        assert_eq!(kind_and_reason(&json!("plain")).1, "plain");
    }
}
