//! Field collapsing: one top hit per distinct value of a field, with optional inner hits.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::search::to_json;
use crate::{Error, Hit, Hits, SearchRequest, Sort};

/// Collapses the hits of a search on a `keyword` or numeric field with doc values: one hit per
/// distinct value, optionally with the group's best hits as inner hits. The engine refuses a
/// `text` field (collapse on its `raw` keyword sub-field instead).
///
/// ```
/// use reel_search::{Collapse, InnerHits, SearchRequest, Sort};
///
/// let req = SearchRequest::new().collapse(
///     Collapse::new("kind")
///         .inner_hits(InnerHits::new("latest").size(3).sort(Sort::desc("created_at")))
///         .max_concurrent_group_searches(4),
/// );
/// let body = req.to_value();
/// assert_eq!(body["collapse"]["field"], "kind");
/// assert_eq!(body["collapse"]["inner_hits"][0]["name"], "latest");
/// assert_eq!(body["collapse"]["max_concurrent_group_searches"], 4);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Collapse {
    field: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inner_hits: Vec<InnerHits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent_group_searches: Option<u32>,
}

impl Collapse {
    /// Collapse on `field`.
    pub fn new(field: impl AsRef<str>) -> Self {
        Self {
            field: field.as_ref().to_owned(),
            inner_hits: Vec::new(),
            max_concurrent_group_searches: None,
        }
    }
    /// Also return each group's hits under `inner_hits.name` (several allowed, each with its
    /// own name, size and sort); read them with [`Hit::inner_hits`].
    pub fn inner_hits(mut self, inner_hits: InnerHits) -> Self {
        self.inner_hits.push(inner_hits);
        self
    }
    /// How many groups' inner-hit searches run at once per node.
    pub fn max_concurrent_group_searches(mut self, n: u32) -> Self {
        self.max_concurrent_group_searches = Some(n);
        self
    }
}

/// The inner hits of each collapsed group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InnerHits {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sort: Vec<Sort>,
    #[serde(flatten)]
    options: Map<String, Value>,
}

impl InnerHits {
    /// Inner hits named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            size: None,
            from: None,
            sort: Vec::new(),
            options: Map::new(),
        }
    }
    /// Hits per group (the engine's default is 3).
    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }
    /// Offset of the first hit per group.
    pub fn from(mut self, from: u64) -> Self {
        self.from = Some(from);
        self
    }
    /// Adds a sort clause (by score when none).
    pub fn sort(mut self, sort: Sort) -> Self {
        self.sort.push(sort);
        self
    }
    /// Sets any other option by its JSON name (`_source`, `collapse` for a second level, ...).
    pub fn option(mut self, key: &str, value: impl Serialize) -> Self {
        self.options.insert(key.to_owned(), to_json(value));
        self
    }
}

impl SearchRequest {
    /// Collapses the hits on a field (see [`Collapse`]).
    pub fn collapse(mut self, collapse: Collapse) -> Self {
        *self.raw_entry("collapse") = to_json(collapse);
        self
    }

    /// Filters the hits after the aggregations ran (`post_filter`): facets count every match,
    /// the hits show only the selected ones.
    ///
    /// ```
    /// use reel_search::{Query, SearchRequest};
    ///
    /// let req = SearchRequest::new().post_filter(Query::term("kind", "video"));
    /// assert_eq!(req.to_value()["post_filter"]["term"]["kind"]["value"], "video");
    /// ```
    pub fn post_filter(mut self, filter: impl Into<crate::Query>) -> Self {
        *self.raw_entry("post_filter") = filter.into().to_value();
        self
    }
}

impl<T> Hit<T> {
    /// The group key of a collapsed hit: the value of the collapse field.
    pub fn collapse_key(&self, field: &str) -> Option<&Value> {
        match self.fields.get(field)? {
            Value::Array(values) => values.first(),
            other => Some(other),
        }
    }

    /// The inner hits named `name` (of [`Collapse::inner_hits`], or of a `nested`/`has_child`
    /// query's `inner_hits`), their sources decoded as `U`.
    pub fn inner_hits<U: DeserializeOwned>(&self, name: &str) -> Result<Hits<U>, Error> {
        #[derive(Deserialize)]
        struct Inner<U> {
            hits: Hits<U>,
        }
        let raw = self.raw_inner_hits.get(name).ok_or_else(|| Error::Decode {
            what: format!("inner hits `{name}`"),
            reason: format!(
                "not in the hit (present: {:?})",
                self.raw_inner_hits.keys().collect::<Vec<_>>()
            ),
        })?;
        Inner::<U>::deserialize(raw)
            .map(|inner| inner.hits)
            .map_err(|e| Error::Decode {
                what: format!("inner hits `{name}`"),
                reason: e.to_string(),
            })
    }
}
