//! Search requests, aggregations and their typed responses.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::query::{Query, Sort};
use crate::{Error, Field, Highlight, Suggestions};

pub(crate) fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A `_search` request body.
///
/// ```
/// use reel_search::{Aggregation, Highlight, Query, SearchRequest, Sort};
///
/// let req = SearchRequest::new()
///     .query(Query::matches("title", "beach"))
///     .sort(Sort::desc("created_at"))
///     .size(20)
///     .source(["title", "kind"])
///     .highlight(Highlight::new().field("title"))
///     .track_total_hits(true)
///     .agg("kinds", Aggregation::terms("kind").size(10));
/// let body = serde_json::to_value(&req).unwrap();
/// assert_eq!(body["aggs"]["kinds"]["terms"]["field"], "kind");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<Query>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sort: Vec<Sort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search_after: Option<Vec<Value>>,
    #[serde(rename = "_source", skip_serializing_if = "Option::is_none")]
    source: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    highlight: Option<Highlight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    track_total_hits: Option<Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    aggs: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pit: Option<Value>,
    /// Body keys the typed builder does not cover, sent as given (see [`raw`](Self::raw)).
    #[serde(flatten)]
    raw: Map<String, Value>,
}

impl SearchRequest {
    /// Sets a request-body key the typed builder does not cover — `post_filter`, `suggest`,
    /// `collapse`, `runtime_mappings`, `knn`, `min_score`, ... — to `value`, as given. The
    /// response is still decoded as usual. A key the builder has (`query`, `sort`, `aggs`,
    /// ...) replaces the typed value.
    ///
    /// ```
    /// use reel_search::{Query, SearchRequest};
    /// use serde_json::json;
    ///
    /// let req = SearchRequest::new()
    ///     .query(Query::matches("title", "beach"))
    ///     .raw("post_filter", json!({"term": {"kind": "video"}}))
    ///     .raw("collapse", json!({"field": "kind"}));
    /// let body = req.to_value();
    /// assert_eq!(body["post_filter"]["term"]["kind"], "video");
    /// assert_eq!(body["collapse"]["field"], "kind");
    /// assert!(body["query"]["match"].is_object());
    /// ```
    pub fn raw(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        let value = to_json(value);
        match key.as_str() {
            "query" => self.query = None,
            "sort" => self.sort.clear(),
            "from" => self.from = None,
            "size" => self.size = None,
            "search_after" => self.search_after = None,
            "_source" => self.source = None,
            "highlight" => self.highlight = None,
            "track_total_hits" => self.track_total_hits = None,
            "aggs" | "aggregations" => self.aggs.clear(),
            "pit" => self.pit = None,
            _ => {}
        }
        self.raw.insert(key, value);
        self
    }

    /// Adds an aggregation given as raw JSON (`filter`, `significant_terms`, pipelines, ...)
    /// beside the typed ones; its result is read from [`Aggregations`] like any other.
    pub fn raw_agg(mut self, name: impl Into<String>, aggregation: Value) -> Self {
        self.aggs.insert(name.into(), aggregation);
        self
    }

    /// An empty request (matches all, default size).
    pub fn new() -> Self {
        Self::default()
    }
    /// The query.
    pub fn query(mut self, query: impl Into<Query>) -> Self {
        self.query = Some(query.into());
        self
    }
    /// Adds a sort clause (in order of precedence).
    pub fn sort(mut self, sort: Sort) -> Self {
        self.sort.push(sort);
        self
    }
    /// Offset of the first hit (prefer `search_after` for deep pages).
    pub fn from(mut self, from: u64) -> Self {
        self.from = Some(from);
        self
    }
    /// Number of hits.
    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }
    /// Continue after the sort values of a previous page's last hit.
    pub fn search_after(mut self, after: Vec<Value>) -> Self {
        self.search_after = Some(after);
        self
    }
    /// Return only these `_source` fields (wildcards allowed).
    pub fn source<F: AsRef<str>>(mut self, fields: impl IntoIterator<Item = F>) -> Self {
        let fields: Vec<String> = fields.into_iter().map(|f| f.as_ref().to_owned()).collect();
        self.source = Some(json!({"includes": fields}));
        self
    }
    /// Exclude these `_source` fields.
    pub fn source_excludes<F: AsRef<str>>(mut self, fields: impl IntoIterator<Item = F>) -> Self {
        let fields: Vec<String> = fields.into_iter().map(|f| f.as_ref().to_owned()).collect();
        let mut source = match self.source.take() {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        source.insert("excludes".into(), to_json(fields));
        self.source = Some(Value::Object(source));
        self
    }
    /// Return no `_source`.
    pub fn no_source(mut self) -> Self {
        self.source = Some(Value::Bool(false));
        self
    }
    /// Highlighting.
    pub fn highlight(mut self, highlight: Highlight) -> Self {
        self.highlight = Some(highlight);
        self
    }
    /// `true` counts all hits exactly; `false` skips counting.
    pub fn track_total_hits(mut self, track: bool) -> Self {
        self.track_total_hits = Some(Value::Bool(track));
        self
    }
    /// Count exactly up to `limit` hits (then `relation` is `gte`).
    pub fn track_total_hits_up_to(mut self, limit: u64) -> Self {
        self.track_total_hits = Some(limit.into());
        self
    }
    /// Adds a named aggregation.
    pub fn agg(mut self, name: impl Into<String>, agg: Aggregation) -> Self {
        self.aggs.insert(name.into(), to_json(agg));
        self
    }
    /// Searches a point in time (the request then goes to `/_search` without an index).
    pub fn pit(mut self, id: impl Into<String>, keep_alive: &str) -> Self {
        self.pit = Some(json!({"id": id.into(), "keep_alive": keep_alive}));
        self
    }
    /// Sets a body key from the typed builders of other modules (`suggest`, `collapse`, ...).
    pub(crate) fn raw_entry(&mut self, key: &str) -> &mut Value {
        self.raw.entry(key).or_insert(Value::Null)
    }
    /// Whether a sort clause orders by `field`.
    pub(crate) fn sorts_on(&self, field: &str) -> bool {
        self.sort.iter().any(|s| to_json(s).get(field).is_some())
    }
    /// Whether the request has sort clauses.
    pub fn has_sort(&self) -> bool {
        !self.sort.is_empty()
    }
    /// The JSON body.
    pub fn to_value(&self) -> Value {
        to_json(self)
    }
}

/// An aggregation with optional sub-aggregations.
///
/// ```
/// use reel_search::Aggregation;
/// use serde_json::json;
///
/// let agg = Aggregation::date_histogram("created_at", "month")
///     .agg("avg_duration", Aggregation::avg("duration"));
/// assert_eq!(
///     serde_json::to_value(&agg).unwrap(),
///     json!({"date_histogram": {"field": "created_at", "calendar_interval": "month"},
///            "aggs": {"avg_duration": {"avg": {"field": "duration"}}}})
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    kind: &'static str,
    body: Value,
    aggs: Map<String, Value>,
}

impl Serialize for Aggregation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = Map::new();
        m.insert(self.kind.to_owned(), self.body.clone());
        if !self.aggs.is_empty() {
            m.insert("aggs".into(), Value::Object(self.aggs.clone()));
        }
        Value::Object(m).serialize(s)
    }
}

/// A source of a `composite` aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeSource {
    name: String,
    body: Value,
}

impl CompositeSource {
    /// Buckets by a field's terms.
    pub fn terms(name: impl Into<String>, field: impl AsRef<str>) -> Self {
        Self {
            name: name.into(),
            body: json!({"terms": {"field": field.as_ref()}}),
        }
    }
    /// Buckets by date interval.
    pub fn date_histogram(
        name: impl Into<String>,
        field: impl AsRef<str>,
        calendar_interval: &str,
    ) -> Self {
        Self {
            name: name.into(),
            body: json!({"date_histogram": {"field": field.as_ref(), "calendar_interval": calendar_interval}}),
        }
    }
    /// Buckets by numeric interval.
    pub fn histogram(name: impl Into<String>, field: impl AsRef<str>, interval: f64) -> Self {
        Self {
            name: name.into(),
            body: json!({"histogram": {"field": field.as_ref(), "interval": interval}}),
        }
    }
}

impl Aggregation {
    fn field(kind: &'static str, field: &str) -> Self {
        Self {
            kind,
            body: json!({"field": field}),
            aggs: Map::new(),
        }
    }

    /// Sets an option of this aggregation by its JSON name.
    pub fn option(mut self, key: &str, value: impl Serialize) -> Self {
        if let Some(m) = self.body.as_object_mut() {
            m.insert(key.to_owned(), to_json(value));
        }
        self
    }

    /// Adds a sub-aggregation.
    pub fn agg(mut self, name: impl Into<String>, sub: Aggregation) -> Self {
        self.aggs.insert(name.into(), to_json(sub));
        self
    }

    /// Number of buckets (`terms`, `composite`) or hits (`top_hits`).
    pub fn size(self, size: u64) -> Self {
        self.option("size", size)
    }

    /// Minimum document count of a bucket.
    pub fn min_doc_count(self, count: u64) -> Self {
        self.option("min_doc_count", count)
    }

    /// Continue a `composite` aggregation after a previous page's `after_key`.
    pub fn after(self, after_key: Map<String, Value>) -> Self {
        self.option("after", after_key)
    }

    /// The most frequent terms of a field.
    pub fn terms(field: impl AsRef<str>) -> Self {
        Self::field("terms", field.as_ref())
    }

    /// Pageable buckets over several sources (page with [`after`](Self::after)).
    pub fn composite(sources: impl IntoIterator<Item = CompositeSource>) -> Self {
        let sources: Vec<Value> = sources
            .into_iter()
            .map(|s| json!({ s.name: s.body }))
            .collect();
        Self {
            kind: "composite",
            body: json!({"sources": sources}),
            aggs: Map::new(),
        }
    }

    /// Buckets per calendar interval (`day`, `week`, `month`, ...).
    pub fn date_histogram(field: impl AsRef<str>, calendar_interval: &str) -> Self {
        Self::field("date_histogram", field.as_ref()).option("calendar_interval", calendar_interval)
    }

    /// Buckets per numeric interval.
    pub fn histogram(field: impl AsRef<str>, interval: f64) -> Self {
        Self::field("histogram", field.as_ref()).option("interval", interval)
    }

    /// Buckets per `[from, to)` range (either end open with `None`).
    pub fn range(field: impl AsRef<str>, ranges: &[(Option<f64>, Option<f64>)]) -> Self {
        let ranges: Vec<Value> = ranges
            .iter()
            .map(|(from, to)| {
                let mut m = Map::new();
                if let Some(from) = from {
                    m.insert("from".into(), to_json(from));
                }
                if let Some(to) = to {
                    m.insert("to".into(), to_json(to));
                }
                Value::Object(m)
            })
            .collect();
        Self::field("range", field.as_ref()).option("ranges", ranges)
    }

    /// One bucket per named query.
    pub fn filters<N: Into<String>>(filters: impl IntoIterator<Item = (N, Query)>) -> Self {
        let filters: Map<String, Value> = filters
            .into_iter()
            .map(|(name, q)| (name.into(), q.to_value()))
            .collect();
        Self {
            kind: "filters",
            body: json!({"filters": filters}),
            aggs: Map::new(),
        }
    }

    /// Steps into the objects of a `nested` field; add sub-aggregations.
    pub fn nested(path: impl AsRef<str>) -> Self {
        Self {
            kind: "nested",
            body: json!({"path": path.as_ref()}),
            aggs: Map::new(),
        }
    }

    /// The best hits per bucket.
    pub fn top_hits(size: u64) -> Self {
        Self {
            kind: "top_hits",
            body: json!({"size": size}),
            aggs: Map::new(),
        }
    }

    /// Average.
    pub fn avg(field: impl AsRef<str>) -> Self {
        Self::field("avg", field.as_ref())
    }
    /// Sum.
    pub fn sum(field: impl AsRef<str>) -> Self {
        Self::field("sum", field.as_ref())
    }
    /// Minimum.
    pub fn min(field: impl AsRef<str>) -> Self {
        Self::field("min", field.as_ref())
    }
    /// Maximum.
    pub fn max(field: impl AsRef<str>) -> Self {
        Self::field("max", field.as_ref())
    }
    /// Approximate distinct count.
    pub fn cardinality(field: impl AsRef<str>) -> Self {
        Self::field("cardinality", field.as_ref())
    }
    /// count, min, max, avg and sum.
    pub fn stats(field: impl AsRef<str>) -> Self {
        Self::field("stats", field.as_ref())
    }
    /// Percentiles (`[50.0, 95.0, 99.0]`).
    pub fn percentiles(field: impl AsRef<str>, percents: &[f64]) -> Self {
        Self::field("percentiles", field.as_ref()).option("percents", percents)
    }
}

impl<T> Field<T> {
    /// `terms` aggregation on this field.
    pub fn terms_agg(&self) -> Aggregation {
        Aggregation::terms(self.path())
    }
}

/// The total number of hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Total {
    /// The count.
    pub value: u64,
    /// Whether `value` is exact or a lower bound.
    pub relation: TotalRelation,
}

/// Whether a total is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum TotalRelation {
    /// Exactly `value`.
    #[serde(rename = "eq")]
    Eq,
    /// At least `value`.
    #[serde(rename = "gte")]
    Gte,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TotalRepr {
    Object(Total),
    // Pre-7 servers send a bare number.
    Number(u64),
}

fn de_total<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Total>, D::Error> {
    Ok(Option::<TotalRepr>::deserialize(d)?.map(|t| match t {
        TotalRepr::Object(t) => t,
        TotalRepr::Number(value) => Total {
            value,
            relation: TotalRelation::Eq,
        },
    }))
}

/// One hit.
#[derive(Debug, Clone, Deserialize)]
pub struct Hit<T> {
    /// The physical index it came from.
    #[serde(rename = "_index")]
    pub index: String,
    /// The document id.
    #[serde(rename = "_id")]
    pub id: String,
    /// Relevance score (absent when sorting without scores).
    #[serde(rename = "_score", default)]
    pub score: Option<f64>,
    /// The decoded `_source` (absent when `_source` was disabled).
    #[serde(rename = "_source", default = "none")]
    pub source: Option<T>,
    /// Sort values, for `search_after`.
    #[serde(default)]
    pub sort: Vec<Value>,
    /// Highlighted fragments per field.
    #[serde(default)]
    pub highlight: HashMap<String, Vec<String>>,
    /// Names of the queries that matched (`_name`).
    #[serde(default)]
    pub matched_queries: Vec<String>,
    /// Requested `fields` and, with `collapse`, the collapse key (see [`Hit::collapse_key`]).
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Inner hits by name, as sent (decode with [`Hit::inner_hits`]).
    #[serde(rename = "inner_hits", default)]
    pub raw_inner_hits: Map<String, Value>,
}

fn none<T>() -> Option<T> {
    None
}

/// The hits of a search.
#[derive(Debug, Clone, Deserialize)]
pub struct Hits<T> {
    /// Total hits (absent with `track_total_hits: false`).
    #[serde(default, deserialize_with = "de_total")]
    pub total: Option<Total>,
    /// The best score.
    #[serde(default)]
    pub max_score: Option<f64>,
    /// This page of hits.
    #[serde(default = "Vec::new")]
    pub hits: Vec<Hit<T>>,
}

impl<T> Hits<T> {
    /// The decoded sources of this page, skipping hits without `_source`.
    pub fn sources(&self) -> impl Iterator<Item = &T> {
        self.hits.iter().filter_map(|h| h.source.as_ref())
    }
}

/// A `_search` response.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResponse<T> {
    /// Milliseconds the search took.
    #[serde(default)]
    pub took: u64,
    /// Whether the search timed out (partial results).
    #[serde(default)]
    pub timed_out: bool,
    /// The hits.
    pub hits: Hits<T>,
    /// Aggregation results.
    #[serde(default)]
    pub aggregations: Aggregations,
    /// The point in time to use for the next page.
    #[serde(default)]
    pub pit_id: Option<String>,
    /// The scroll to continue with.
    #[serde(rename = "_scroll_id", default)]
    pub scroll_id: Option<String>,
    /// Suggester results, decoded by name (see [`SearchRequest::suggest`]).
    #[serde(default)]
    pub suggest: Suggestions,
}

/// Aggregation results, decoded by name into typed results.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Aggregations(Map<String, Value>);

/// A bucket of `terms`, `histogram`, `date_histogram` and `filters`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Bucket {
    /// The bucket key (term, or interval start; dates in epoch milliseconds).
    #[serde(default)]
    pub key: Value,
    /// The key formatted (dates).
    #[serde(default)]
    pub key_as_string: Option<String>,
    /// Documents in the bucket.
    pub doc_count: u64,
    /// Sub-aggregations.
    #[serde(flatten)]
    pub aggs: Aggregations,
}

/// A bucket of a `range` aggregation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RangeBucket {
    /// `from-to`.
    pub key: String,
    /// Lower bound.
    #[serde(default)]
    pub from: Option<f64>,
    /// Upper bound (exclusive).
    #[serde(default)]
    pub to: Option<f64>,
    /// Documents in the range.
    pub doc_count: u64,
    /// Sub-aggregations.
    #[serde(flatten)]
    pub aggs: Aggregations,
}

/// A bucket of a `composite` aggregation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompositeBucket {
    /// One value per source.
    pub key: Map<String, Value>,
    /// Documents in the bucket.
    pub doc_count: u64,
    /// Sub-aggregations.
    #[serde(flatten)]
    pub aggs: Aggregations,
}

/// A page of a `composite` aggregation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompositePage {
    /// The buckets.
    pub buckets: Vec<CompositeBucket>,
    /// Pass to [`Aggregation::after`] for the next page; absent on the last.
    #[serde(default)]
    pub after_key: Option<Map<String, Value>>,
}

/// A single-bucket result (`nested`, `filter`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SingleBucket {
    /// Documents (or nested objects) in the bucket.
    pub doc_count: u64,
    /// Sub-aggregations.
    #[serde(flatten)]
    pub aggs: Aggregations,
}

/// The result of `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Stats {
    /// Values counted.
    pub count: u64,
    /// Minimum (`None` when no values).
    pub min: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
    /// Average.
    pub avg: Option<f64>,
    /// Sum.
    pub sum: f64,
}

#[derive(Deserialize)]
struct Buckets<B> {
    buckets: B,
}

impl Aggregations {
    fn get(&self, name: &str) -> Result<&Value, Error> {
        self.0.get(name).ok_or_else(|| Error::Decode {
            what: format!("aggregation `{name}`"),
            reason: format!(
                "not in the response (present: {:?})",
                self.0.keys().collect::<Vec<_>>()
            ),
        })
    }

    fn decode<R: DeserializeOwned>(&self, name: &str) -> Result<R, Error> {
        let value = self.get(name)?;
        R::deserialize(value).map_err(|e| Error::Decode {
            what: format!("aggregation `{name}`"),
            reason: e.to_string(),
        })
    }

    /// The names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The raw JSON of one aggregation.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Buckets of `terms`, `histogram` or `date_histogram`.
    pub fn buckets(&self, name: &str) -> Result<Vec<Bucket>, Error> {
        Ok(self.decode::<Buckets<Vec<Bucket>>>(name)?.buckets)
    }

    /// Buckets of `terms`.
    pub fn terms(&self, name: &str) -> Result<Vec<Bucket>, Error> {
        self.buckets(name)
    }

    /// Buckets of `date_histogram`.
    pub fn date_histogram(&self, name: &str) -> Result<Vec<Bucket>, Error> {
        self.buckets(name)
    }

    /// Buckets of `histogram`.
    pub fn histogram(&self, name: &str) -> Result<Vec<Bucket>, Error> {
        self.buckets(name)
    }

    /// Buckets of `range`.
    pub fn range(&self, name: &str) -> Result<Vec<RangeBucket>, Error> {
        Ok(self.decode::<Buckets<Vec<RangeBucket>>>(name)?.buckets)
    }

    /// Buckets of `filters`, by filter name.
    pub fn filters(&self, name: &str) -> Result<HashMap<String, Bucket>, Error> {
        let raw = self.decode::<Buckets<Map<String, Value>>>(name)?.buckets;
        raw.into_iter()
            .map(|(k, mut v)| {
                if let Some(m) = v.as_object_mut() {
                    m.entry("key").or_insert_with(|| Value::String(k.clone()));
                }
                Bucket::deserialize(v)
                    .map(|b| (k, b))
                    .map_err(|e| Error::Decode {
                        what: format!("filters aggregation `{name}`"),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// A page of `composite`.
    pub fn composite(&self, name: &str) -> Result<CompositePage, Error> {
        self.decode(name)
    }

    /// The bucket of `nested` (or `filter`).
    pub fn nested(&self, name: &str) -> Result<SingleBucket, Error> {
        self.decode(name)
    }

    /// The hits of `top_hits`, decoded.
    pub fn top_hits<T: DeserializeOwned>(&self, name: &str) -> Result<Hits<T>, Error> {
        #[derive(Deserialize)]
        struct TopHits<T> {
            hits: Hits<T>,
        }
        Ok(self.decode::<TopHits<T>>(name)?.hits)
    }

    /// The value of `avg`, `sum`, `min`, `max` or `cardinality` (`None` when no documents had
    /// the field).
    pub fn value(&self, name: &str) -> Result<Option<f64>, Error> {
        #[derive(Deserialize)]
        struct Single {
            value: Option<f64>,
        }
        Ok(self.decode::<Single>(name)?.value)
    }

    /// The result of `stats`.
    pub fn stats(&self, name: &str) -> Result<Stats, Error> {
        self.decode(name)
    }

    /// `(percent, value)` pairs of `percentiles`, ordered by percent.
    pub fn percentiles(&self, name: &str) -> Result<Vec<(f64, Option<f64>)>, Error> {
        #[derive(Deserialize)]
        struct Percentiles {
            values: Value,
        }
        let values = self.decode::<Percentiles>(name)?.values;
        let mut out = Vec::new();
        match values {
            // Keyed (the default): {"50.0": 12.3}
            Value::Object(m) => {
                for (k, v) in m {
                    if k.ends_with("_as_string") {
                        continue;
                    }
                    let percent = k.parse::<f64>().map_err(|_| Error::Decode {
                        what: format!("percentiles aggregation `{name}`"),
                        reason: format!("percent key {k:?} is not a number"),
                    })?;
                    out.push((percent, v.as_f64()));
                }
            }
            // keyed: false: [{"key": 50.0, "value": 12.3}]
            Value::Array(items) => {
                for item in items {
                    if let Some(key) = item.get("key").and_then(Value::as_f64) {
                        out.push((key, item.get("value").and_then(Value::as_f64)));
                    }
                }
            }
            _ => {}
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(out)
    }
}
