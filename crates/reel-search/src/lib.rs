#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api_error;
mod bulk;
mod collapse;
mod error;
mod highlight;
mod indexer;
mod lease;
mod mapping;
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
mod metrics;
mod msearch;
mod pages;
mod query;
mod repo;
mod search;
mod suggest;

pub mod migrate;

pub use bulk::{BulkAction, BulkItem, BulkOp, BulkResponse, ItemError, Script};
pub use collapse::{Collapse, InnerHits};
/// The Elasticsearch client this crate's API exposes ([`Repo::new`] takes its
/// `Elasticsearch`, [`Repo::client`] returns it), re-exported so a user builds one without
/// pinning the same pre-release version by hand.
pub use elasticsearch;
pub use error::Error;
pub use highlight::{Highlight, HighlightField, Highlighter};
#[cfg(feature = "postgres")]
pub use indexer::KeysetSource;
pub use indexer::{FailedItem, IndexReport, Indexer, Progress};
pub use mapping::{
    Document, Exact, Field, FieldMapping, FieldSet, IndexDefinition, Indexable, Text,
};
/// Metric descriptions (feature `metrics`); see `docs/src/ops/metrics.md` for the table.
#[cfg(feature = "metrics")]
pub use metrics::describe_metrics;
pub use migrate::{Outcome, VersionedIndex};
pub use query::ExactValues;
pub use query::{
    BoolQuery, Decay, FunctionScoreQuery, LeafQuery, MatchQuery, MultiMatchQuery, NestedQuery,
    Query, QueryStringQuery, RangeQuery, Sort, TypedRange,
};
#[cfg(feature = "derive")]
pub use reel_search_derive::Document;
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use pages::{Page, Paging};
pub use reel_core::breaker::{BreakerState, CircuitBreaker, CircuitBreakerBuilder};
pub use reel_core::{Backoff, Jitter};
pub use repo::{AliasAction, ByQueryOptions, ByQueryResponse, Repo, RepoStats, WriteResult};
pub use search::{
    Aggregation, Aggregations, Bucket, CompositeBucket, CompositePage, CompositeSource, Hit, Hits,
    RangeBucket, SearchRequest, SearchResponse, SingleBucket, Stats, Total, TotalRelation,
};
pub use suggest::{
    CompletionOption, PhraseOption, SuggestEntry, Suggester, Suggestions, TermOption,
};

#[doc(hidden)]
pub mod __private {
    pub use serde_json::{Error as JsonError, Map as JsonMap, Value, to_value, to_writer};

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
