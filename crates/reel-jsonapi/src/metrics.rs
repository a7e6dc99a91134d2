//! Metrics (feature `metrics`, issue 21's conventions): one counter,
//! `reel_jsonapi_validation_errors_total{rule}`, counted for every violation the validator or the
//! strict JSON reader reports. The `rule` label is a fixed snake_case name per error title, so
//! its cardinality is bounded by this crate's code, never by input.
//!
//! Without the feature every helper here compiles to nothing.

/// The counter's name.
#[cfg(feature = "metrics")]
pub const VALIDATION_ERRORS_TOTAL: &str = "reel_jsonapi_validation_errors_total";

/// Describes every metric of this crate (unit and help text) to the installed recorder, so an
/// exporter shows its `HELP` line. Call it once at start-up, after installing the recorder.
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    metrics::describe_counter!(
        VALIDATION_ERRORS_TOTAL,
        metrics::Unit::Count,
        "JSON:API violations found in documents read (requests and responses), by rule"
    );
}

/// The `rule` label of an error title: a static snake_case name, `other` for a title this
/// crate does not write.
#[cfg(feature = "metrics")]
pub(crate) fn rule_of(title: Option<&str>) -> &'static str {
    match title.unwrap_or("") {
        "Conflicting members" => "conflicting_members",
        "Duplicate member" => "duplicate_member",
        "Duplicate resource" => "duplicate_resource",
        "Empty relationship" => "empty_relationship",
        "Field name clash" => "field_name_clash",
        "Illegal member name" => "illegal_member_name",
        "Included without data" => "included_without_data",
        "Incomplete relationship links" => "incomplete_relationship_links",
        "Invalid JSON Pointer" => "invalid_json_pointer",
        "Invalid operation" => "invalid_operation",
        "Unknown lid" => "unknown_lid",
        "Malformed JSON" => "malformed_json",
        "Missing data" => "missing_data",
        "Missing href" => "missing_href",
        "Missing id" => "missing_id",
        "Missing linkage" => "missing_linkage",
        "Missing relationship data" => "missing_relationship_data",
        "Missing top-level member" => "missing_top_level_member",
        "Missing type" => "missing_type",
        "Reserved field name" => "reserved_field_name",
        "Reserved member in attribute" => "reserved_member_in_attribute",
        "Unexpected lid" => "unexpected_lid",
        "Unknown member" => "unknown_member",
        "Wrong type" => "wrong_type",
        _ => "other",
    }
}

/// Counts the violations in `errors`.
#[inline]
pub(crate) fn validation_errors(errors: &[crate::model::ErrorObject]) {
    #[cfg(feature = "metrics")]
    for error in errors {
        metrics::counter!(VALIDATION_ERRORS_TOTAL, "rule" => rule_of(error.title.as_deref()))
            .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = errors;
}
