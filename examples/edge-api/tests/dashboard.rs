//! The Grafana dashboard (`docs/grafana/reel.json`) against the guide's metric tables
//! (`docs/src/ops/metrics.md`): every PromQL expression names only metrics the guide lists,
//! and every name issue 21 fixes (and every edge-api metric) has a panel.
//!
//! Each crate documents its metrics in its own `## reel-<crate>` section. Until a crate's
//! section is in the guide, its names are checked against issue 21's fixed list below instead
//! (and the test says so); once the section is there, the guide alone decides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

/// The names issue 21 fixes (the dashboard, the drill and the scrape test rely on them), by
/// the guide section that documents them.
const FIXED: &[(&str, &[&str])] = &[
    (
        "edge-api",
        &[
            "http_server_request_duration_seconds",
            "reel_edge_cache_total",
        ],
    ),
    (
        "reel-herd",
        &[
            "reel_herd_commands_total",
            "reel_herd_command_duration_seconds",
            "reel_herd_errors_total",
            "reel_herd_ejections_total",
            "reel_herd_nodes",
            "reel_herd_topology_version",
            "reel_herd_pool_wait_seconds",
        ],
    ),
    (
        "reel-ratelimit",
        &[
            "reel_ratelimit_decisions_total",
            "reel_ratelimit_store_duration_seconds",
            "reel_ratelimit_store_errors_total",
            "reel_ratelimit_breaker_state",
            "reel_ratelimit_breaker_transitions_total",
        ],
    ),
    (
        "reel-cloudfront",
        &[
            "reel_cloudfront_signatures_total",
            "reel_cloudfront_sign_duration_seconds",
            "reel_cloudfront_cache_total",
        ],
    ),
    (
        "reel-geoip",
        &[
            "reel_geoip_lookups_total",
            "reel_geoip_database_age_seconds",
            "reel_geoip_database_build_epoch_seconds",
            "reel_geoip_reloads_total",
            "reel_geoip_downloads_total",
        ],
    ),
    (
        "reel-search",
        &[
            "reel_search_requests_total",
            "reel_search_request_duration_seconds",
            "reel_search_bulk_items_total",
            "reel_search_retries_total",
            "reel_search_migration_phase",
            "reel_search_indexer_rows_total",
            "reel_search_breaker_state",
        ],
    ),
    ("reel-jsonapi", &["reel_jsonapi_validation_errors_total"]),
];

fn repo_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The guide's sections (`## name`) and the metric names in each one's table rows
/// (`| `name` | type | ...`).
fn guide_tables(markdown: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut sections: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in markdown.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            sections.push((title.trim().to_owned(), BTreeSet::new()));
        } else if let Some(cell) = line.strip_prefix("| `")
            && let Some((name, _)) = cell.split_once('`')
            && let Some((_, names)) = sections.last_mut()
        {
            names.insert(name.to_owned());
        }
    }
    sections
}

/// Every `expr` string anywhere in the dashboard (panel targets, annotations).
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => expressions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| expressions(item, out)),
        _ => {}
    }
}

/// The metric names a PromQL expression reads: identifiers that are not functions (followed
/// by `(`), keywords, label names (inside `{...}` or `by (...)`), strings, durations or
/// Grafana variables. `_bucket`/`_count`/`_sum` name their histogram.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 11] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
    ];
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut in_braces = false;
    let mut in_brackets = false;
    let mut after_grouping = false;
    let mut grouping_depth = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            '{' => in_braces = true,
            '}' => in_braces = false,
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            '(' if after_grouping => {
                grouping_depth = 1;
                after_grouping = false;
            }
            '(' if grouping_depth > 0 => grouping_depth += 1,
            ')' if grouping_depth > 0 => grouping_depth -= 1,
            '$' => {
                // A Grafana variable such as $__rate_interval.
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next] == ' ' {
                next += 1;
            }
            let is_call = next < chars.len() && chars[next] == '(';
            if AGGREGATIONS.contains(&word.as_str()) {
                // `sum by (le) (...)`: an operator even when its grouping comes first.
            } else if KEYWORDS.contains(&word.as_str()) {
                after_grouping = matches!(
                    word.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                );
            } else if !is_call && !in_braces && !in_brackets && grouping_depth == 0 {
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix))
                    .unwrap_or(&word);
                names.insert(base.to_owned());
            }
            continue;
        }
        i += 1;
    }
    names
}

#[test]
fn the_expression_parser_finds_metric_names_only() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, node) (rate(reel_herd_command_duration_seconds_bucket{node=~\"a|b\"}[$__rate_interval]))) / on (node) group_left foo_total",
    );
    assert_eq!(
        names,
        BTreeSet::from([
            "reel_herd_command_duration_seconds".to_owned(),
            "foo_total".to_owned()
        ])
    );
    assert_eq!(
        metric_names("time() - max by (slot) (reel_geoip_database_build_epoch_seconds)"),
        BTreeSet::from(["reel_geoip_database_build_epoch_seconds".to_owned()])
    );
}

#[test]
fn the_dashboard_reads_only_documented_metrics_and_shows_every_one() {
    let dashboard: Value =
        serde_json::from_str(&repo_file("docs/grafana/reel.json")).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(!exprs.is_empty(), "no PromQL in the dashboard");
    let used: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();

    let guide = guide_tables(&repo_file("docs/src/ops/metrics.md"));
    let documented: BTreeSet<String> = guide.iter().flat_map(|(_, n)| n.clone()).collect();
    assert!(
        guide
            .iter()
            .any(|(section, names)| section == "edge-api" && !names.is_empty()),
        "the guide has no edge-api table"
    );
    // The names that may appear: the guide's, plus the fixed names of sections not there yet.
    let mut allowed = documented.clone();
    let mut pending = Vec::new();
    for (section, names) in FIXED {
        if !guide.iter().any(|(title, _)| title == section) {
            pending.push(*section);
            allowed.extend(names.iter().map(|n| (*n).to_owned()));
        }
    }
    if !pending.is_empty() {
        eprintln!(
            "not in docs/src/ops/metrics.md yet, checked against issue 21's names: {pending:?}"
        );
    }
    let unknown: Vec<&String> = used.difference(&allowed).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard reads metrics the guide does not list: {unknown:?}"
    );
    // Coverage: every fixed name and every edge-api metric has a panel; names a crate adds
    // beyond the fixed ones are listed here for whoever extends the dashboard.
    let mut required: BTreeSet<String> = FIXED
        .iter()
        .flat_map(|(_, names)| names.iter().map(|n| (*n).to_owned()))
        .collect();
    for (section, names) in &guide {
        if section == "edge-api" {
            required.extend(names.iter().cloned());
        }
    }
    let missing: Vec<&String> = required.iter().filter(|n| !used.contains(*n)).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
    let extra: Vec<&String> = documented.difference(&used).collect();
    if !extra.is_empty() {
        eprintln!("documented metrics without a panel (add one if useful): {extra:?}");
    }
}
