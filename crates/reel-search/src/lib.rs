//! Map Rust models to Elasticsearch indices, query them with a typed DSL, and reindex with zero
//! downtime.
//!
//! `reel-search` provides:
//! - [`Document`] (`#[derive(Document)]`): index name, settings and mappings inferred from your
//!   struct through [`FieldMapping`], plus typed field paths so a misspelt field does not compile;
//! - a query DSL ([`Query`], [`SearchRequest`], [`Aggregation`]) and typed responses
//!   ([`SearchResponse`], [`Aggregations`]);
//! - [`Repo`], over the official `elasticsearch` client: index admin, CRUD, bulk with per-item
//!   results, bounded retries, typed search, streaming over all hits;
//! - [`Indexer`]: streams rows (from PostgreSQL with keyset pagination, or any `Stream`) into an
//!   index in bounded batches with bounded concurrency, progress events and a full failure
//!   report;
//! - [`VersionedIndex`]: zero-downtime mapping changes behind a read alias ([`migrate`]).
//!
//! # Example
//!
//! ```
//! use reel_search::{Document, Query, SearchRequest};
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! #[derive(Document, Serialize, Deserialize)]
//! #[search(index = "assets", shards = 1, replicas = 0, dynamic = "strict")]
//! struct Asset {
//!     #[search(id, keyword)]
//!     id: i64,
//!     #[search(raw, analyzer = "english")]
//!     title: String,
//!     #[search(keyword)]
//!     kind: String,
//!     duration: Option<f32>,
//!     tags: Vec<String>,
//! }
//!
//! let body = Asset::definition().body();
//! assert_eq!(body["settings"]["number_of_shards"], 1);
//! assert_eq!(
//!     body["mappings"]["properties"]["title"],
//!     json!({"type": "text", "analyzer": "english",
//!            "fields": {"raw": {"type": "keyword", "ignore_above": 8191}}})
//! );
//! assert_eq!(body["mappings"]["properties"]["duration"], json!({"type": "float"}));
//!
//! // Field paths are generated: `Asset::fields().titel()` would not compile.
//! let f = Asset::fields();
//! let request = SearchRequest::new()
//!     .query(Query::bool().must(f.title().matches("beach")).filter(f.kind().term("video")))
//!     .sort(f.title_raw().asc());
//! assert_eq!(request.to_value()["query"]["bool"]["filter"][0], json!({"term": {"kind": {"value": "video"}}}));
//! ```
//!
//! A misspelt field is a compile error:
//!
//! ```compile_fail
//! # use reel_search::Document;
//! # #[derive(Document, serde::Serialize)]
//! # struct Asset { title: String }
//! let _ = Asset::fields().titel();
//! ```
//!
//! The mapping always uses the names serde writes (`#[serde(rename)]`, `rename(serialize)`,
//! `rename_all`). What would make documents disagree with the mapping does not compile: a
//! `#[search(rename)]` that differs from serde's name,
//!
//! ```compile_fail
//! # use reel_search::Document;
//! #[derive(Document, serde::Serialize)]
//! struct Asset { #[search(rename = "heading")] title: String }
//! ```
//!
//! a `#[serde(flatten)]` field (its keys are only known at run time),
//!
//! ```compile_fail
//! # use reel_search::Document;
//! #[derive(Document, serde::Serialize)]
//! struct Extra { note: String }
//! #[derive(Document, serde::Serialize)]
//! struct Asset { title: String, #[serde(flatten)] extra: Extra }
//! ```
//!
//! a document that contains itself (its mapping would be infinite),
//!
//! ```compile_fail
//! # use reel_search::Document;
//! #[derive(Document, serde::Serialize)]
//! struct Folder { name: String, #[search(object)] children: Vec<Folder> }
//! ```
//!
//! and a type without a default mapping, such as `i128` (no numeric type holds it and a
//! keyword sorts it as text), unless the field says which type to use:
//!
//! ```compile_fail
//! # use reel_search::Document;
//! #[derive(Document, serde::Serialize)]
//! struct Ledger { total: i128 }
//! ```
//!
//! An enum stored as a keyword needs no `FieldMapping`; its typed path takes the enum:
//!
//! ```
//! # use reel_search::Document;
//! #[derive(serde::Serialize, serde::Deserialize, Clone, Copy)]
//! #[serde(rename_all = "snake_case")]
//! enum Kind { Video, Image }
//! #[derive(Document, serde::Serialize)]
//! struct Asset { #[search(keyword)] kind: Kind }
//! let q = Asset::fields().kind().term(Kind::Video);
//! assert_eq!(serde_json::to_value(&q).unwrap()["term"]["kind"]["value"], "video");
//! ```
//!
//! Bulk writes report every item; zero-downtime mapping changes go through [`VersionedIndex`]
//! (see [`migrate`] and the guide's "Zero-downtime mapping changes" chapter):
//!
//! ```no_run
//! # use reel_search::{BulkOp, Document, Repo, VersionedIndex};
//! # #[derive(Document, serde::Serialize, serde::Deserialize)]
//! # #[search(index = "assets")]
//! # struct Asset { #[search(id)] id: i64, title: String }
//! # async fn run(rows: Vec<Asset>) -> Result<(), reel_search::Error> {
//! let repo = Repo::connect("http://127.0.0.1:9200")?;
//! let result = repo.bulk("assets", vec![BulkOp::index_doc(&rows[0])?, BulkOp::delete("7")]).await?;
//! for item in result.failed() {
//!     eprintln!("{} {}: {:?}", item.id, item.status, item.error);
//! }
//! let assets = VersionedIndex::<Asset>::new(repo);
//! let source = futures::stream::iter(rows.into_iter().map(Ok::<_, std::io::Error>));
//! assets.ensure_current(source).await?; // migrates only if the mapping changed
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature    | default | enables |
//! |------------|---------|---------|
//! | `derive`   | yes     | `#[derive(Document)]` |
//! | `postgres` | no      | [`Indexer`] sources reading PostgreSQL tables with sqlx (keyset pagination) |
//! | `chrono`   | no      | [`FieldMapping`] for chrono `DateTime`, `NaiveDateTime`, `NaiveDate` |
//! | `time`     | no      | [`FieldMapping`] for time `OffsetDateTime`, `PrimitiveDateTime`, `Date` |
//! | `uuid`     | no      | [`FieldMapping`] for `uuid::Uuid` (keyword) |
//! | `decimal`  | no      | [`FieldMapping`] for `rust_decimal::Decimal` (also `rust_decimal`) |
//!
//! # Minimum supported Rust version
//!
//! 1.94.1.

mod bulk;
mod error;
mod indexer;
mod lease;
mod mapping;
mod query;
mod repo;
mod search;

pub mod migrate;

pub use bulk::{BulkAction, BulkItem, BulkOp, BulkResponse, ItemError, Script};
/// The Elasticsearch client this crate's API exposes ([`Repo::new`] takes its
/// `Elasticsearch`, [`Repo::client`] returns it), re-exported so a user builds one without
/// pinning the same pre-release version by hand.
pub use elasticsearch;
pub use error::Error;
#[cfg(feature = "postgres")]
pub use indexer::KeysetSource;
pub use indexer::{FailedItem, IndexReport, Indexer, Progress};
pub use mapping::{Document, Field, FieldMapping, FieldSet, IndexDefinition, Indexable};
pub use migrate::{Outcome, VersionedIndex};
pub use query::{
    BoolQuery, Decay, FunctionScoreQuery, LeafQuery, MatchQuery, MultiMatchQuery, NestedQuery,
    Query, QueryStringQuery, RangeQuery, Sort, TypedRange,
};
#[cfg(feature = "derive")]
pub use reel_search_derive::Document;
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::{Backoff, Jitter};
pub use repo::{AliasAction, ByQueryOptions, ByQueryResponse, Repo, RepoStats, WriteResult};
pub use search::{
    Aggregation, Aggregations, Bucket, CompositeBucket, CompositePage, CompositeSource, Highlight,
    Hit, Hits, RangeBucket, SearchRequest, SearchResponse, SingleBucket, Stats, Total,
    TotalRelation,
};

#[doc(hidden)]
pub mod __private {
    pub use serde_json::{Error as JsonError, Map as JsonMap, Value, to_value};

    /// The mapping object type used by generated code.
    pub type Map = serde_json::Map<String, Value>;

    /// `name` below `prefix` (`prefix.name`), or `name` alone at the top level. A free function
    /// rather than a method of the generated field-path struct, whose methods are named after
    /// the document's fields (a field may well be called `path`).
    pub fn field_path(prefix: &str, name: &str) -> String {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    }

    pub fn type_only(ty: &str) -> Map {
        let mut m = Map::new();
        m.insert("type".into(), Value::from(ty));
        m
    }

    pub fn object_of(value: Value) -> Map {
        match value {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// Parses a JSON object literal from an attribute; the macro checked its shape, and an
    /// unparsable literal yields an empty object rather than a panic (the unit tests of the
    /// mapping then show it).
    pub fn parse_object(text: &str) -> Map {
        match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    pub fn add_raw_keyword(m: &mut Map) {
        let fields = m
            .entry("fields")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(fields) = fields {
            let mut raw = Map::new();
            raw.insert("type".into(), Value::from("keyword"));
            // Lucene rejects a term over 32,766 bytes (and with it the whole document); 8,191
            // characters of up to 4 UTF-8 bytes each stay under it. Longer values are still
            // in `_source` and the text field, just not in `raw`.
            raw.insert("ignore_above".into(), Value::from(8191));
            fields.insert("raw".into(), Value::Object(raw));
        }
    }
}
