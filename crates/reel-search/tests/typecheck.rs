//! Every mapping, query, aggregation, bulk line and alias action the tests produce must
//! type-check against the official `@elastic/elasticsearch` 9 request types (`tsc --strict`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use common::{Asset, aggregations, bulk_ops, queries};
use reel_search::{Document, Query, Script, SearchRequest, VersionedIndex};
use serde_json::{Map, Value, json};

#[derive(reel_search::Document, serde::Serialize)]
#[search(
    index = "rich",
    shards = 3,
    replicas = 1,
    dynamic = "false",
    analysis = r#"{"analyzer": {"folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}}"#,
    settings = r#"{"refresh_interval": "5s", "max_result_window": 20000}"#
)]
struct Rich {
    #[search(raw, analyzer = "folded", search_analyzer = "standard")]
    title: String,
    #[search(index = false)]
    thumbnail: String,
    small: i8,
    big: u64,
    ratio: f32,
    ip: std::net::IpAddr,
    at: chrono::DateTime<chrono::Utc>,
    day: chrono::NaiveDate,
    uid: uuid::Uuid,
    price: rust_decimal::Decimal,
    extra: Value,
    #[search(object)]
    owner: common::Comment,
    #[search(nested)]
    comments: Vec<common::Comment>,
    #[search(type = "geo_point")]
    location: String,
}

/// `(TypeScript type, extra top-level fields, body)`.
type Check = (String, Value, Value);

fn check(ty: &str, extra: Value, body: Value) -> Check {
    (ty.to_owned(), extra, body)
}

/// A TS object literal: the body's keys plus `extra` (so excess-property checks apply).
fn literal(extra: &Value, body: &Value) -> String {
    let mut m = Map::new();
    if let Some(e) = extra.as_object() {
        m.extend(e.clone());
    }
    match body {
        Value::Object(b) => m.extend(b.clone()),
        other => return other.to_string(),
    }
    Value::Object(m).to_string()
}

fn search(body: Value) -> Check {
    check("T.SearchRequest", json!({"index": "x"}), body)
}

fn generated() -> Vec<Check> {
    let mut out = Vec::new();
    let index = json!({"index": "x"});
    for def in [Asset::definition(), Rich::definition()] {
        out.push(check("T.IndicesCreateRequest", index.clone(), def.body()));
        out.push(check(
            "T.IndicesPutMappingRequest",
            index.clone(),
            json!({"properties": def.mappings()["properties"]}),
        ));
    }
    for (_, q) in queries() {
        out.push(search(q.to_value()));
    }
    out.push(search(aggregations().to_value()));
    for q in [
        Query::from(Query::match_all()),
        Query::match_none().into(),
        Query::match_phrase_prefix("title", "bea").into(),
        Query::matches("title", "x")
            .operator("and")
            .fuzziness("AUTO")
            .into(),
        Query::range("created_at")
            .gte("now-1d")
            .format("strict_date_optional_time")
            .into(),
        Query::nested("comments", Query::term("comments.author", "u1"))
            .score_mode("max")
            .inner_hits(json!({}))
            .into(),
        Query::function_score(Query::match_all())
            .script_score("_score * params.f", json!({"f": 2}))
            .decay(
                reel_search::Decay::Gauss,
                "created_at",
                "now",
                "10d",
                Some(json!("1d")),
                Some(0.5),
            )
            .max_boost(10.0)
            .into(),
    ] {
        out.push(search(SearchRequest::new().query(q).to_value()));
    }
    out.push(search(
        SearchRequest::new()
            .pit("abc", "2m")
            .sort(reel_search::Sort::desc("created_at").missing("_last"))
            .sort(reel_search::Sort::asc("_doc"))
            .search_after(vec![json!(1), json!("a")])
            .source_excludes(["comments"])
            .track_total_hits_up_to(10_000)
            .to_value(),
    ));
    out.push(search(SearchRequest::new().no_source().to_value()));
    out.push(search(search_features()));
    out.extend(document_bodies(&index));
    out
}

/// A search body with highlight options, suggesters, collapse, post_filter and
/// match_bool_prefix.
fn search_features() -> serde_json::Value {
    SearchRequest::new()
        .query(Query::match_bool_prefix("title", "quick bro").operator("and"))
        .post_filter(Query::term("kind", "video"))
        .highlight(
            reel_search::Highlight::new()
                .field("title")
                .field_with(
                    "body",
                    reel_search::HighlightField::new()
                        .fragment_size(60)
                        .number_of_fragments(2)
                        .matched_fields(["body", "body.raw"])
                        .highlighter(reel_search::Highlighter::FastVector),
                )
                .tags("<mark>", "</mark>")
                .highlighter(reel_search::Highlighter::Plain)
                .require_field_match(false)
                .no_match_size(20)
                .order_by_score()
                .html_encoder()
                .highlight_query(Query::matches("title", "x")),
        )
        .suggest(
            "t",
            reel_search::Suggester::term("title", "x")
                .size(2)
                .suggest_mode("popular"),
        )
        .suggest(
            "p",
            reel_search::Suggester::phrase("title", "x y").highlight("<b>", "</b>"),
        )
        .suggest(
            "c",
            reel_search::Suggester::completion("title_suggest", "x")
                .skip_duplicates(true)
                .fuzzy(1),
        )
        .suggest(
            "r",
            reel_search::Suggester::completion_regex("title_suggest", "x.*"),
        )
        .collapse(
            reel_search::Collapse::new("kind")
                .inner_hits(
                    reel_search::InnerHits::new("top")
                        .size(2)
                        .from(1)
                        .sort(reel_search::Sort::desc("views")),
                )
                .max_concurrent_group_searches(4),
        )
        .to_value()
}

/// Count, by-query, mget, update, bulk, alias and settings bodies.
fn document_bodies(index: &serde_json::Value) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(check(
        "T.CountRequest",
        index.clone(),
        json!({"query": Query::term("kind", "video")}),
    ));
    out.push(check(
        "T.DeleteByQueryRequest",
        index.clone(),
        json!({"query": Query::term("kind", "video")}),
    ));
    out.push(check(
        "T.UpdateByQueryRequest",
        index.clone(),
        json!({"query": Query::term("kind", "audio"), "script": Script::painless("ctx._source.views = 0")}),
    ));
    out.push(check(
        "T.MgetRequest",
        index.clone(),
        json!({"ids": ["a", "b"]}),
    ));
    let doc_id = json!({"index": "x", "id": "1"});
    out.push(check(
        "T.UpdateRequest",
        doc_id.clone(),
        json!({"doc": {"views": 1}}),
    ));
    out.push(check(
        "T.UpdateRequest",
        doc_id.clone(),
        json!({"doc": {"views": 1}, "doc_as_upsert": true}),
    ));
    out.push(check(
        "T.UpdateRequest",
        doc_id,
        json!({"script": Script::painless("ctx._source.views += params.n").param("n", 3)}),
    ));
    for op in bulk_ops() {
        out.push(check(
            "T.BulkOperationContainer",
            json!({}),
            op.action_line(),
        ));
        if op.action() == reel_search::BulkAction::Update {
            out.push(check(
                "T.BulkUpdateAction",
                json!({}),
                op.source_line().cloned().unwrap_or_default(),
            ));
        }
    }
    out.push(check(
        "T.BulkOperationContainer",
        json!({}),
        reel_search::BulkOp::delete("1")
            .in_index("other")
            .action_line(),
    ));
    let repo = reel_search::Repo::from_url("http://127.0.0.1:1").unwrap();
    let v = VersionedIndex::<Asset>::new(repo);
    for actions in [
        v.swap_actions(None, "assets_v1"),
        v.swap_actions(Some("assets_v1"), "assets_v2"),
    ] {
        out.push(check(
            "T.IndicesUpdateAliasesRequest",
            json!({}),
            json!({"actions": actions.iter().map(|a| a.to_value()).collect::<Vec<_>>()}),
        ));
    }
    // The settings bodies the migration sends while loading and when done.
    out.push(check(
        "T.IndicesPutSettingsRequest",
        index.clone(),
        json!({"settings": {"index": {"refresh_interval": "1s", "number_of_replicas": 1}}}),
    ));
    out.push(check(
        "T.IndicesIndexSettings",
        json!({}),
        json!({"refresh_interval": "-1", "number_of_replicas": 0}),
    ));
    out
}

/// Bodies the integration tests recorded when they ran before this test.
fn recorded() -> Vec<Check> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let Ok(entries) = std::fs::read_dir(common::bodies_dir()) else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in text.lines() {
            if !seen.insert(line.to_owned()) {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let body = v["body"].clone();
            let ty = match v["kind"].as_str().unwrap_or("") {
                "create_index" => "T.IndicesCreateRequest",
                "bulk_action" => "T.BulkOperationContainer",
                "aliases" => "T.IndicesUpdateAliasesRequest",
                _ => "T.SearchRequest",
            };
            let extra = if ty.starts_with("T.Indices") && ty != "T.IndicesUpdateAliasesRequest"
                || ty == "T.SearchRequest"
            {
                json!({"index": "x"})
            } else {
                json!({})
            };
            out.push(check(ty, extra, body));
        }
    }
    out
}

fn typescript(checks: &[Check]) -> String {
    let mut ts = String::from("import type * as T from '@elastic/elasticsearch/lib/api/types'\n\n");
    for (i, (ty, extra, body)) in checks.iter().enumerate() {
        let _ = writeln!(ts, "export const b{i}: {ty} = {}", literal(extra, body));
    }
    ts
}

/// Runs `tsc` once over several files; returns its output.
fn tsc(dir: &Path, files: &[(&str, &str)]) -> String {
    let node_modules = reel_testkit::node_modules().unwrap_or_else(|e| panic!("{e}"));
    let tsc = node_modules.join("typescript/bin/tsc");
    assert!(
        node_modules.join("@elastic/elasticsearch").is_dir() && tsc.is_file(),
        "install the type checker: npm --prefix {} install @elastic/elasticsearch@9 typescript@5 (or cargo xtask setup)",
        node_modules.parent().unwrap().display()
    );
    std::fs::create_dir_all(dir).unwrap();
    let link = dir.join("node_modules");
    if !link.exists() {
        #[cfg(unix)]
        std::os::unix::fs::symlink(&node_modules, &link).unwrap();
    }
    let mut cmd = Command::new("node");
    cmd.arg(&tsc).args([
        "--noEmit",
        "--strict",
        "--target",
        "es2022",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--skipLibCheck",
    ]);
    for (file, source) in files {
        std::fs::write(dir.join(file), source).unwrap();
        cmd.arg(dir.join(file));
    }
    let out = cmd.output().expect("node is installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn request_bodies_type_check_against_the_official_client() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reel-search-tsc");
    let mut checks = generated();
    let generated_count = checks.len();
    checks.extend(recorded());
    assert!(generated_count > 40, "{generated_count}");
    let source = typescript(&checks);

    // The checker must be able to fail: a misspelt option and a wrong mapping type.
    let bad = typescript(&[
        search(json!({"query": {"match": {"title": {"qeury": "x"}}}})),
        check(
            "T.IndicesCreateRequest",
            json!({"index": "x"}),
            json!({"mappings": {"properties": {"a": {"type": "strnig"}}}}),
        ),
    ]);
    let output = tsc(&dir, &[("bodies.ts", &source), ("bad.ts", &bad)]);
    let errors: Vec<&str> = output.lines().filter(|l| l.contains("error TS")).collect();
    let in_bodies: Vec<&&str> = errors.iter().filter(|l| l.contains("bodies.ts(")).collect();
    assert!(
        in_bodies.is_empty(),
        "tsc rejected generated bodies:\n{output}\n--- {}/bodies.ts",
        dir.display()
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("bad.ts(3,") && l.contains("qeury"))
            && errors
                .iter()
                .any(|l| l.contains("bad.ts(4,") && l.contains("strnig")),
        "tsc accepted invalid bodies:\n{output}"
    );
}
