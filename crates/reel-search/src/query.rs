//! A composable, typeless query DSL that serializes to Elasticsearch 8/9 request bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Field;

fn to_json(value: impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A query clause. Build it with the constructors here (or from a typed [`Field`]) and combine
/// with [`Query::bool`]. Serializes to the JSON the `query` key expects.
///
/// ```
/// use reel_search::Query;
/// use serde_json::json;
///
/// let q = Query::bool()
///     .must(Query::matches("title", "sunset"))
///     .filter(Query::term("kind", "video"))
///     .filter(Query::range("duration").gte(10).lt(60))
///     .must_not(Query::exists("deleted_at"));
/// assert_eq!(
///     serde_json::to_value(Query::from(q)).unwrap(),
///     json!({"bool": {
///         "must": [{"match": {"title": {"query": "sunset"}}}],
///         "filter": [{"term": {"kind": {"value": "video"}}}, {"range": {"duration": {"gte": 10, "lt": 60}}}],
///         "must_not": [{"exists": {"field": "deleted_at"}}]
///     }})
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Query(Value);

macro_rules! options {
    ($($(#[$doc:meta])* $name:ident : $key:literal),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(self, value: impl Serialize) -> Self {
            self.option($key, value)
        }
    )*};
}

macro_rules! leaf_builder {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            kind: &'static str,
            field: Option<String>,
            body: Map<String, Value>,
        }

        impl $name {
            /// Sets any option of this clause by its JSON name.
            pub fn option(mut self, key: &str, value: impl Serialize) -> Self {
                self.body.insert(key.to_owned(), to_json(value));
                self
            }

            /// The clause's `boost`.
            pub fn boost(self, boost: f64) -> Self {
                self.option("boost", boost)
            }

            /// A name reported in `matched_queries` of the hits.
            pub fn name(self, name: &str) -> Self {
                self.option("_name", name)
            }
        }

        impl From<$name> for Query {
            fn from(b: $name) -> Query {
                let inner = Value::Object(b.body);
                let clause = match b.field {
                    Some(field) => json!({ field: inner }),
                    None => inner,
                };
                Query(json!({ b.kind: clause }))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                Query::from(self.clone()).serialize(s)
            }
        }
    };
}

leaf_builder!(
    /// `match`, `match_phrase`, `match_phrase_prefix` and `match_bool_prefix`.
    MatchQuery
);
impl MatchQuery {
    options! {
        /// `and` or `or`.
        operator: "operator",
        /// e.g. `"AUTO"`.
        fuzziness: "fuzziness",
        /// e.g. `2` or `"75%"`.
        minimum_should_match: "minimum_should_match",
        /// The search analyzer.
        analyzer: "analyzer",
        /// Allowed distance between phrase terms.
        slop: "slop",
    }
}

leaf_builder!(
    /// `multi_match` across several fields.
    MultiMatchQuery
);
impl MultiMatchQuery {
    options! {
        /// `best_fields`, `most_fields`, `cross_fields`, `phrase`, `phrase_prefix`, `bool_prefix`.
        kind: "type",
        /// `and` or `or`.
        operator: "operator",
        /// Score blending of the other fields.
        tie_breaker: "tie_breaker",
        /// e.g. `"AUTO"`.
        fuzziness: "fuzziness",
        /// e.g. `2` or `"75%"`.
        minimum_should_match: "minimum_should_match",
    }
}

leaf_builder!(
    /// `range` with typed bounds (from a [`Field`]) or any serializable bounds.
    RangeQuery
);
impl RangeQuery {
    options! {
        /// `>=`.
        gte: "gte",
        /// `>`.
        gt: "gt",
        /// `<=`.
        lte: "lte",
        /// `<`.
        lt: "lt",
        /// The date format of the bounds.
        format: "format",
        /// The time zone of date bounds.
        time_zone: "time_zone",
        /// `INTERSECTS`, `CONTAINS` or `WITHIN` for range fields.
        relation: "relation",
    }
}

leaf_builder!(
    /// `query_string` and `simple_query_string`.
    QueryStringQuery
);
impl QueryStringQuery {
    options! {
        /// The field searched when the query names none.
        default_field: "default_field",
        /// Fields searched (`["title^2", "body"]`).
        fields: "fields",
        /// `AND` or `OR`.
        default_operator: "default_operator",
        /// The search analyzer.
        analyzer: "analyzer",
        /// e.g. `2` or `"75%"`.
        minimum_should_match: "minimum_should_match",
    }
}

leaf_builder!(
    /// `nested`: a query on the objects of a `nested` field.
    NestedQuery
);
impl NestedQuery {
    options! {
        /// `avg`, `max`, `min`, `none`, `sum`.
        score_mode: "score_mode",
        /// Return the matching nested objects (`{}` for defaults).
        inner_hits: "inner_hits",
        /// Do not fail when the path is not mapped.
        ignore_unmapped: "ignore_unmapped",
    }
}

leaf_builder!(
    /// Simple leaf clauses (`term`, `terms`, `exists`, `prefix`, `wildcard`, `ids`,
    /// `constant_score`, `dis_max`, `match_all`).
    LeafQuery
);
impl LeafQuery {
    options! {
        /// Case-insensitive matching (`term`, `prefix`, `wildcard`).
        case_insensitive: "case_insensitive",
        /// `dis_max` score blending.
        tie_breaker: "tie_breaker",
    }
}

impl Query {
    fn leaf(kind: &'static str, field: Option<&str>, body: Map<String, Value>) -> LeafQuery {
        LeafQuery {
            kind,
            field: field.map(str::to_owned),
            body,
        }
    }

    fn with(key: &str, value: impl Serialize) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(key.to_owned(), to_json(value));
        m
    }

    /// A query from raw JSON, for clauses this builder does not cover.
    pub fn raw(value: Value) -> Self {
        Self(value)
    }

    /// The JSON of this query.
    pub fn to_value(&self) -> Value {
        self.0.clone()
    }

    /// Matches every document.
    pub fn match_all() -> LeafQuery {
        Self::leaf("match_all", None, Map::new())
    }

    /// Matches no document.
    pub fn match_none() -> LeafQuery {
        Self::leaf("match_none", None, Map::new())
    }

    /// A `bool` query.
    pub fn bool() -> BoolQuery {
        BoolQuery::default()
    }

    /// Full-text `match`.
    pub fn matches(field: impl AsRef<str>, text: impl Serialize) -> MatchQuery {
        MatchQuery {
            kind: "match",
            field: Some(field.as_ref().to_owned()),
            body: Self::with("query", text),
        }
    }

    /// `match_phrase`.
    pub fn match_phrase(field: impl AsRef<str>, text: impl Serialize) -> MatchQuery {
        MatchQuery {
            kind: "match_phrase",
            ..Self::matches(field, text)
        }
    }

    /// `match_phrase_prefix` (search-as-you-type).
    pub fn match_phrase_prefix(field: impl AsRef<str>, text: impl Serialize) -> MatchQuery {
        MatchQuery {
            kind: "match_phrase_prefix",
            ..Self::matches(field, text)
        }
    }

    /// `match_bool_prefix`: every term must match, the last one as a prefix.
    ///
    /// ```
    /// use reel_search::Query;
    /// let q = serde_json::to_value(Query::match_bool_prefix("title", "quick bro")).unwrap();
    /// assert_eq!(q["match_bool_prefix"]["title"]["query"], "quick bro");
    /// ```
    pub fn match_bool_prefix(field: impl AsRef<str>, text: impl Serialize) -> MatchQuery {
        MatchQuery {
            kind: "match_bool_prefix",
            ..Self::matches(field, text)
        }
    }

    /// `multi_match` over `fields` (with optional `^boost`).
    pub fn multi_match<F: AsRef<str>>(
        text: impl Serialize,
        fields: impl IntoIterator<Item = F>,
    ) -> MultiMatchQuery {
        let mut body = Self::with("query", text);
        let fields: Vec<String> = fields.into_iter().map(|f| f.as_ref().to_owned()).collect();
        body.insert("fields".into(), to_json(fields));
        MultiMatchQuery {
            kind: "multi_match",
            field: None,
            body,
        }
    }

    /// Exact `term`.
    pub fn term(field: impl AsRef<str>, value: impl Serialize) -> LeafQuery {
        Self::leaf("term", Some(field.as_ref()), Self::with("value", value))
    }

    /// Any of several exact `terms`.
    pub fn terms<V: Serialize>(
        field: impl AsRef<str>,
        values: impl IntoIterator<Item = V>,
    ) -> LeafQuery {
        let values: Vec<Value> = values.into_iter().map(to_json).collect();
        Self::leaf("terms", None, Self::with(field.as_ref(), values))
    }

    /// `range` on a field; add bounds with `gte`/`gt`/`lte`/`lt`.
    pub fn range(field: impl AsRef<str>) -> RangeQuery {
        RangeQuery {
            kind: "range",
            field: Some(field.as_ref().to_owned()),
            body: Map::new(),
        }
    }

    /// Documents where the field has a value.
    pub fn exists(field: impl AsRef<str>) -> LeafQuery {
        Self::leaf("exists", None, Self::with("field", field.as_ref()))
    }

    /// `prefix` on a keyword field.
    pub fn prefix(field: impl AsRef<str>, prefix: impl Serialize) -> LeafQuery {
        Self::leaf("prefix", Some(field.as_ref()), Self::with("value", prefix))
    }

    /// `wildcard` (`*` and `?`) on a keyword field.
    pub fn wildcard(field: impl AsRef<str>, pattern: impl Serialize) -> LeafQuery {
        Self::leaf(
            "wildcard",
            Some(field.as_ref()),
            Self::with("value", pattern),
        )
    }

    /// Documents with these `_id`s.
    pub fn ids<I: AsRef<str>>(ids: impl IntoIterator<Item = I>) -> LeafQuery {
        let ids: Vec<String> = ids.into_iter().map(|i| i.as_ref().to_owned()).collect();
        Self::leaf("ids", None, Self::with("values", ids))
    }

    /// Lucene syntax `query_string`.
    pub fn query_string(query: impl Into<String>) -> QueryStringQuery {
        QueryStringQuery {
            kind: "query_string",
            field: None,
            body: Self::with("query", query.into()),
        }
    }

    /// Forgiving `simple_query_string` (safe for user input).
    pub fn simple_query_string(query: impl Into<String>) -> QueryStringQuery {
        QueryStringQuery {
            kind: "simple_query_string",
            ..Self::query_string(query)
        }
    }

    /// A query on the objects of a `nested` field at `path`.
    pub fn nested(path: impl AsRef<str>, query: impl Into<Query>) -> NestedQuery {
        let mut body = Self::with("path", path.as_ref());
        body.insert("query".into(), query.into().0);
        NestedQuery {
            kind: "nested",
            field: None,
            body,
        }
    }

    /// Every match of `filter` scores `boost` (default 1).
    pub fn constant_score(filter: impl Into<Query>) -> LeafQuery {
        Self::leaf("constant_score", None, Self::with("filter", filter.into()))
    }

    /// The best score of several queries (plus `tie_breaker` times the others).
    pub fn dis_max<Q: Into<Query>>(queries: impl IntoIterator<Item = Q>) -> LeafQuery {
        let queries: Vec<Query> = queries.into_iter().map(Into::into).collect();
        Self::leaf("dis_max", None, Self::with("queries", queries))
    }

    /// `function_score` around `query`.
    pub fn function_score(query: impl Into<Query>) -> FunctionScoreQuery {
        FunctionScoreQuery {
            query: query.into(),
            functions: Vec::new(),
            options: Map::new(),
        }
    }
}

/// `bool`: must, should, filter and must_not clauses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoolQuery {
    must: Vec<Query>,
    should: Vec<Query>,
    filter: Vec<Query>,
    must_not: Vec<Query>,
    options: Map<String, Value>,
}

impl BoolQuery {
    /// Must match, and scores.
    pub fn must(mut self, q: impl Into<Query>) -> Self {
        self.must.push(q.into());
        self
    }
    /// Should match; scores.
    pub fn should(mut self, q: impl Into<Query>) -> Self {
        self.should.push(q.into());
        self
    }
    /// Must match; does not score and is cached.
    pub fn filter(mut self, q: impl Into<Query>) -> Self {
        self.filter.push(q.into());
        self
    }
    /// Must not match.
    pub fn must_not(mut self, q: impl Into<Query>) -> Self {
        self.must_not.push(q.into());
        self
    }
    /// How many `should` clauses must match (`1`, `"75%"`).
    pub fn minimum_should_match(mut self, value: impl Serialize) -> Self {
        self.options
            .insert("minimum_should_match".into(), to_json(value));
        self
    }
    /// The clause's boost.
    pub fn boost(mut self, boost: f64) -> Self {
        self.options.insert("boost".into(), to_json(boost));
        self
    }
    /// Whether no clause was added.
    pub fn is_empty(&self) -> bool {
        self.must.is_empty()
            && self.should.is_empty()
            && self.filter.is_empty()
            && self.must_not.is_empty()
    }
}

impl From<BoolQuery> for Query {
    fn from(b: BoolQuery) -> Query {
        let mut body = Map::new();
        for (key, clauses) in [
            ("must", b.must),
            ("should", b.should),
            ("filter", b.filter),
            ("must_not", b.must_not),
        ] {
            if !clauses.is_empty() {
                body.insert(key.into(), to_json(clauses));
            }
        }
        body.extend(b.options);
        Query(json!({"bool": body}))
    }
}

impl Serialize for BoolQuery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Query::from(self.clone()).serialize(s)
    }
}

/// `function_score`: rescoring with field values, scripts and decay functions.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionScoreQuery {
    query: Query,
    functions: Vec<Value>,
    options: Map<String, Value>,
}

/// The curve of a decay function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decay {
    /// Gaussian.
    Gauss,
    /// Linear.
    Linear,
    /// Exponential.
    Exp,
}

impl FunctionScoreQuery {
    fn push(mut self, function: Value, filter: Option<Query>, weight: Option<f64>) -> Self {
        let mut f = match function {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Some(filter) = filter {
            f.insert("filter".into(), filter.0);
        }
        if let Some(weight) = weight {
            f.insert("weight".into(), to_json(weight));
        }
        self.functions.push(Value::Object(f));
        self
    }

    /// Multiplies the score by a field's value: `field_value_factor` with `factor` and
    /// `modifier` (`none`, `log1p`, `sqrt`, ...); `missing` is used for documents without it.
    pub fn field_value_factor(
        self,
        field: impl AsRef<str>,
        factor: f64,
        modifier: &str,
        missing: Option<f64>,
    ) -> Self {
        let mut fvf = json!({"field": field.as_ref(), "factor": factor, "modifier": modifier});
        if let (Some(missing), Some(m)) = (missing, fvf.as_object_mut()) {
            m.insert("missing".into(), to_json(missing));
        }
        self.push(json!({"field_value_factor": fvf}), None, None)
    }

    /// `script_score` with a Painless `source` and `params`.
    pub fn script_score(self, source: &str, params: Value) -> Self {
        self.push(
            json!({"script_score": {"script": {"source": source, "params": params}}}),
            None,
            None,
        )
    }

    /// A decay function around `origin` with `scale` (and optional `offset`, `decay`).
    pub fn decay(
        self,
        curve: Decay,
        field: impl AsRef<str>,
        origin: impl Serialize,
        scale: impl Serialize,
        offset: Option<Value>,
        decay: Option<f64>,
    ) -> Self {
        let mut params = json!({"origin": to_json(origin), "scale": to_json(scale)});
        if let Some(m) = params.as_object_mut() {
            if let Some(offset) = offset {
                m.insert("offset".into(), offset);
            }
            if let Some(decay) = decay {
                m.insert("decay".into(), to_json(decay));
            }
        }
        let name = match curve {
            Decay::Gauss => "gauss",
            Decay::Linear => "linear",
            Decay::Exp => "exp",
        };
        self.push(json!({name: {field.as_ref(): params}}), None, None)
    }

    /// A constant `weight` for documents matching `filter`.
    pub fn weight(self, filter: impl Into<Query>, weight: f64) -> Self {
        self.push(json!({}), Some(filter.into()), Some(weight))
    }

    /// `multiply`, `sum`, `avg`, `first`, `max`, `min` — how functions combine.
    pub fn score_mode(mut self, mode: &str) -> Self {
        self.options.insert("score_mode".into(), mode.into());
        self
    }

    /// `multiply`, `replace`, `sum`, `avg`, `max`, `min` — how the result meets the query score.
    pub fn boost_mode(mut self, mode: &str) -> Self {
        self.options.insert("boost_mode".into(), mode.into());
        self
    }

    /// Caps the function score.
    pub fn max_boost(mut self, max: f64) -> Self {
        self.options.insert("max_boost".into(), to_json(max));
        self
    }
}

impl From<FunctionScoreQuery> for Query {
    fn from(f: FunctionScoreQuery) -> Query {
        let mut body = Map::new();
        body.insert("query".into(), f.query.0);
        body.insert("functions".into(), Value::Array(f.functions));
        body.extend(f.options);
        Query(json!({"function_score": body}))
    }
}

impl Serialize for FunctionScoreQuery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Query::from(self.clone()).serialize(s)
    }
}

impl<T: Serialize> Field<T, crate::Exact> {
    /// `term` with a value of the field's type.
    pub fn term(&self, value: impl Into<T>) -> LeafQuery {
        Query::term(self.path(), value.into())
    }

    /// `terms` with values of the field's type.
    pub fn terms<V: Into<T>>(&self, values: impl IntoIterator<Item = V>) -> LeafQuery {
        Query::terms(self.path(), values.into_iter().map(Into::into))
    }
}

/// Implemented by no type: it makes `term`/`terms` on a [`Text`](crate::Text) field a
/// compile error that says why.
#[diagnostic::on_unimplemented(
    message = "`term`/`terms` on an analysed text field never match: the index holds the analyser's tokens, not the original value",
    label = "a `text` field",
    note = "use `.matches(..)` or `.match_phrase(..)`, or map the field with `#[search(raw)]` and use its `<field>_raw()` keyword path (or `#[search(keyword)]`)"
)]
pub trait ExactValues {}

impl<T: Serialize> Field<T, crate::Text> {
    /// Does not compile: a `term` query on an analysed text field never matches (see
    /// [`Text`](crate::Text)).
    pub fn term<V>(&self, _value: V) -> LeafQuery
    where
        T: ExactValues,
    {
        Query::term(self.path(), Value::Null)
    }

    /// Does not compile, as [`term`](Self::term).
    pub fn terms<V>(&self, _values: V) -> LeafQuery
    where
        T: ExactValues,
    {
        Query::term(self.path(), Value::Null)
    }
}

impl<T: Serialize, K> Field<T, K> {
    /// A `range` whose bounds must have the field's type.
    pub fn range(&self) -> TypedRange<T> {
        TypedRange {
            inner: Query::range(self.path()),
            _type: std::marker::PhantomData,
        }
    }

    /// Full-text `match`.
    pub fn matches(&self, text: impl Serialize) -> MatchQuery {
        Query::matches(self.path(), text)
    }

    /// `match_phrase`.
    pub fn match_phrase(&self, text: impl Serialize) -> MatchQuery {
        Query::match_phrase(self.path(), text)
    }

    /// `exists`.
    pub fn exists(&self) -> LeafQuery {
        Query::exists(self.path())
    }

    /// `prefix`.
    pub fn prefix(&self, prefix: impl Serialize) -> LeafQuery {
        Query::prefix(self.path(), prefix)
    }

    /// Ascending sort on this field.
    pub fn asc(&self) -> Sort {
        Sort::asc(self.path())
    }

    /// Descending sort on this field.
    pub fn desc(&self) -> Sort {
        Sort::desc(self.path())
    }
}

/// A `range` query whose bounds are checked against the field's Rust type.
#[derive(Debug, Clone)]
pub struct TypedRange<T> {
    inner: RangeQuery,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T: Serialize> TypedRange<T> {
    /// `>=`.
    pub fn gte(mut self, v: impl Into<T>) -> Self {
        self.inner = self.inner.gte(v.into());
        self
    }
    /// `>`.
    pub fn gt(mut self, v: impl Into<T>) -> Self {
        self.inner = self.inner.gt(v.into());
        self
    }
    /// `<=`.
    pub fn lte(mut self, v: impl Into<T>) -> Self {
        self.inner = self.inner.lte(v.into());
        self
    }
    /// `<`.
    pub fn lt(mut self, v: impl Into<T>) -> Self {
        self.inner = self.inner.lt(v.into());
        self
    }
    /// The untyped builder, for date math (`"now-1d"`) and other options.
    pub fn untyped(self) -> RangeQuery {
        self.inner
    }
}

impl<T> From<TypedRange<T>> for Query {
    fn from(r: TypedRange<T>) -> Query {
        r.inner.into()
    }
}

/// A sort clause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sort(Value);

impl Sort {
    fn field(field: &str, order: &str) -> Self {
        Self(json!({ field: {"order": order} }))
    }
    /// Ascending.
    pub fn asc(field: impl AsRef<str>) -> Self {
        Self::field(field.as_ref(), "asc")
    }
    /// Descending.
    pub fn desc(field: impl AsRef<str>) -> Self {
        Self::field(field.as_ref(), "desc")
    }
    /// By relevance score, best first.
    pub fn score() -> Self {
        Self(json!({"_score": {"order": "desc"}}))
    }
    /// Sets an option (`missing`, `mode`, `unmapped_type`, `nested`) of a field sort.
    pub fn option(mut self, key: &str, value: impl Serialize) -> Self {
        if let Some(inner) = self
            .0
            .as_object_mut()
            .and_then(|m| m.values_mut().next())
            .and_then(Value::as_object_mut)
        {
            inner.insert(key.to_owned(), to_json(value));
        }
        self
    }
    /// Where documents without the field go: `_last` or `_first`.
    pub fn missing(self, value: &str) -> Self {
        self.option("missing", value)
    }
}
