//! Shared models, bodies and helpers of the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;

use reel_search::{
    Aggregation, AliasAction, BulkOp, CompositeSource, Document, Highlight, Query, Repo, Script,
    SearchRequest, Sort,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Comment {
    #[search(keyword)]
    pub author: String,
    pub stars: i32,
}

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "assets", shards = 1, replicas = 0, dynamic = "strict")]
pub struct Asset {
    #[search(id, keyword)]
    pub id: String,
    #[search(raw)]
    pub title: String,
    #[search(keyword)]
    pub kind: String,
    pub views: i64,
    pub duration: Option<f64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[search(keyword)]
    pub tags: Vec<String>,
    #[search(nested)]
    pub comments: Vec<Comment>,
}

pub fn asset(i: usize) -> Asset {
    let kinds = ["video", "image", "audio"];
    Asset {
        id: format!("a{i}"),
        title: format!(
            "asset {} {}",
            i,
            if i.is_multiple_of(2) {
                "beach"
            } else {
                "mountain"
            }
        ),
        kind: kinds[i % 3].to_owned(),
        views: i as i64 * 10,
        duration: if i % 3 == 1 { None } else { Some(i as f64) },
        created_at: chrono::DateTime::from_timestamp(1_700_000_000 + (i as i64) * 86_400 * 10, 0)
            .unwrap(),
        tags: vec![format!("t{}", i % 2)],
        comments: (0..(i % 3))
            .map(|c| Comment {
                author: format!("u{c}"),
                stars: (c as i32) + 3,
            })
            .collect(),
    }
}

pub fn search_server() -> reel_testkit::Search {
    reel_testkit::Search::start().unwrap_or_else(|e| panic!("search server: {e}"))
}

pub fn repo(server: &reel_testkit::Search) -> Repo {
    Repo::from_url(server.url()).unwrap()
}

/// The queries the search tests run (also type-checked by the conformance test).
pub fn queries() -> Vec<(&'static str, SearchRequest)> {
    let f = Asset::fields();
    vec![
        (
            "bool_filter",
            SearchRequest::new()
                .query(
                    Query::bool()
                        .must(f.title().matches("beach"))
                        .filter(f.kind().term("video"))
                        .must_not(Query::term("tags", "nope")),
                )
                .sort(f.views().desc())
                .size(50)
                .track_total_hits(true),
        ),
        (
            "range_sorted",
            SearchRequest::new()
                .query(f.views().range().gte(20).lte(60))
                .sort(f.views().asc())
                .source(["id", "views"]),
        ),
        (
            "highlight",
            SearchRequest::new()
                .query(Query::match_phrase("title", "beach"))
                .highlight(Highlight::new().field("title").tags("<b>", "</b>")),
        ),
        (
            "terms_ids_exists",
            SearchRequest::new().query(
                Query::bool()
                    .should(Query::terms("kind", ["audio", "image"]))
                    .should(Query::ids(["a0"]))
                    .minimum_should_match(1)
                    .filter(Query::exists("duration")),
            ),
        ),
        (
            "multi_match_prefix",
            SearchRequest::new().query(
                Query::bool()
                    .should(Query::multi_match("beach", ["title^2", "kind"]).kind("best_fields"))
                    .should(Query::prefix("kind", "vid"))
                    .should(Query::wildcard("kind", "im*"))
                    .should(Query::query_string("title:mountain").default_operator("AND"))
                    .should(Query::simple_query_string("beach | mountain").fields(["title"])),
            ),
        ),
        (
            "nested_function_score",
            SearchRequest::new().query(
                Query::function_score(Query::nested(
                    "comments",
                    Query::range("comments.stars").gte(4),
                ))
                .field_value_factor("views", 1.0, "log1p", Some(1.0))
                .weight(Query::term("kind", "video"), 2.0)
                .score_mode("sum")
                .boost_mode("multiply"),
            ),
        ),
        (
            "constant_dis_max",
            SearchRequest::new()
                .query(Query::dis_max([
                    Query::from(Query::constant_score(Query::term("kind", "video")).boost(2.0)),
                    Query::from(Query::matches("title", "mountain")),
                ]))
                .from(0)
                .size(5)
                .sort(Sort::score())
                .sort(Sort::asc("id")),
        ),
    ]
}

/// The aggregation request the aggregation test runs.
pub fn aggregations() -> SearchRequest {
    SearchRequest::new()
        .size(0)
        .agg(
            "kinds",
            Aggregation::terms("kind")
                .size(10)
                .agg("views", Aggregation::sum("views"))
                .agg(
                    "best",
                    Aggregation::top_hits(1).option("sort", json!([{"views": {"order": "desc"}}])),
                ),
        )
        .agg(
            "monthly",
            Aggregation::date_histogram("created_at", "month"),
        )
        .agg("views_hist", Aggregation::histogram("views", 50.0))
        .agg(
            "view_ranges",
            Aggregation::range("views", &[(None, Some(50.0)), (Some(50.0), None)]),
        )
        .agg(
            "buckets",
            Aggregation::filters([
                ("beach", Query::from(Query::matches("title", "beach"))),
                ("video", Query::from(Query::term("kind", "video"))),
            ]),
        )
        .agg(
            "comments",
            Aggregation::nested("comments").agg("stars", Aggregation::avg("comments.stars")),
        )
        .agg("avg_views", Aggregation::avg("views"))
        .agg("min_views", Aggregation::min("views"))
        .agg("max_views", Aggregation::max("views"))
        .agg("kind_count", Aggregation::cardinality("kind"))
        .agg("view_stats", Aggregation::stats("views"))
        .agg("pct", Aggregation::percentiles("views", &[50.0, 90.0]))
        .agg(
            "pages",
            Aggregation::composite([CompositeSource::terms("kind", "kind")]).size(2),
        )
}

/// The bulk operations the bulk test sends.
pub fn bulk_ops() -> Vec<BulkOp> {
    vec![
        BulkOp::index("b1", serde_json::to_value(asset(1)).unwrap()),
        BulkOp::create("b2", serde_json::to_value(asset(2)).unwrap()),
        // Fails: b2 exists.
        BulkOp::create("b2", serde_json::to_value(asset(2)).unwrap()),
        // Fails: strict mapping rejects the unknown field.
        BulkOp::index("b3", json!({"id": "b3", "unknown_field": 1})),
        BulkOp::update_doc("b1", json!({"views": 999})),
        BulkOp::update_script(
            "b2",
            Script::painless("ctx._source.views += params.n").param("n", 5),
        ),
        BulkOp::upsert_doc("b4", serde_json::to_value(asset(4)).unwrap()),
        // Fails: missing document.
        BulkOp::update_doc("missing", json!({"views": 1})),
        BulkOp::delete("b4"),
    ]
}

/// Appends bodies to `<target>/tmp/reel-search-bodies/<name>.json` for the conformance test.
pub fn record(name: &str, kind: &str, body: &Value) {
    let dir = bodies_dir();
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.jsonl")))
    {
        let _ = writeln!(f, "{}", json!({"kind": kind, "body": body}));
    }
}

pub fn bodies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reel-search-bodies")
}

pub fn record_alias_actions(name: &str, actions: &[AliasAction]) {
    record(
        name,
        "aliases",
        &json!({"actions": actions.iter().map(AliasAction::to_value).collect::<Vec<_>>()}),
    );
}

/// osmem-server runs no Painless scripts; a real Elasticsearch does.
pub fn scripts_supported(server: &reel_testkit::Search) -> bool {
    server.is_external()
}
