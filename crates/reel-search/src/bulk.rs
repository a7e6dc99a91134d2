//! Bulk operations and their per-item results.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{Error, Indexable};

/// A Painless script for updates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Script {
    source: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    params: Map<String, Value>,
    lang: &'static str,
}

impl Script {
    /// A Painless script.
    pub fn painless(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            params: Map::new(),
            lang: "painless",
        }
    }
    /// Adds a parameter (`params.name` in the script).
    pub fn param(mut self, name: &str, value: impl Serialize) -> Self {
        self.params.insert(
            name.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// The kind of a bulk operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BulkAction {
    /// Create or replace.
    Index,
    /// Create; fails with 409 when the id exists.
    Create,
    /// Partial update, script or upsert.
    Update,
    /// Delete.
    Delete,
}

/// One operation of a bulk request.
///
/// ```
/// use reel_search::{BulkOp, Script};
/// use serde_json::json;
///
/// let ops = [
///     BulkOp::index("1", json!({"title": "a"})),
///     BulkOp::create("2", json!({"title": "b"})),
///     BulkOp::update_doc("1", json!({"title": "c"})),
///     BulkOp::update_script("1", Script::painless("ctx._source.views += params.n").param("n", 1)),
///     BulkOp::delete("3"),
/// ];
/// let ndjson: String = ops.iter().map(|op| op.to_ndjson().unwrap()).collect();
/// assert_eq!(ndjson.lines().count(), 9);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOp {
    action: BulkAction,
    index: Option<String>,
    id: Option<String>,
    body: Option<Value>,
    /// An `external_gte` version (dual writes copy the live index's version).
    version: Option<u64>,
}

impl BulkOp {
    fn new(action: BulkAction, id: Option<String>, body: Option<Value>) -> Self {
        Self {
            action,
            index: None,
            id,
            body,
            version: None,
        }
    }
    /// The same op applied only when `version` is at least the stored document's
    /// (`version_type: external_gte`).
    pub(crate) fn with_external_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }
    /// The index named by [`in_index`](Self::in_index), if any.
    pub(crate) fn target_index(&self) -> Option<&str> {
        self.index.as_deref()
    }
    /// Create or replace the document `id`.
    pub fn index(id: impl Into<String>, doc: Value) -> Self {
        Self::new(BulkAction::Index, Some(id.into()), Some(doc))
    }
    /// Index a document with a server-generated id.
    pub fn index_auto_id(doc: Value) -> Self {
        Self::new(BulkAction::Index, None, Some(doc))
    }
    /// Index an [`Indexable`] document.
    pub fn index_doc<D: Indexable + ?Sized>(doc: &D) -> Result<Self, Error> {
        Ok(Self::index(doc.document_id(), doc.document_body()?))
    }
    /// Create the document `id`; fails (409) if it exists.
    pub fn create(id: impl Into<String>, doc: Value) -> Self {
        Self::new(BulkAction::Create, Some(id.into()), Some(doc))
    }
    /// Merge `partial` into the document `id`.
    pub fn update_doc(id: impl Into<String>, partial: Value) -> Self {
        Self::new(
            BulkAction::Update,
            Some(id.into()),
            Some(json!({ "doc": partial })),
        )
    }
    /// Merge `partial`, or create the document from it when missing.
    pub fn upsert_doc(id: impl Into<String>, partial: Value) -> Self {
        Self::new(
            BulkAction::Update,
            Some(id.into()),
            Some(json!({ "doc": partial, "doc_as_upsert": true })),
        )
    }
    /// Run `script` on the document `id`.
    pub fn update_script(id: impl Into<String>, script: Script) -> Self {
        Self::new(
            BulkAction::Update,
            Some(id.into()),
            Some(json!({ "script": script })),
        )
    }
    /// Run `script`, or insert `upsert` when the document is missing.
    pub fn upsert_script(id: impl Into<String>, script: Script, upsert: Value) -> Self {
        Self::new(
            BulkAction::Update,
            Some(id.into()),
            Some(json!({ "script": script, "upsert": upsert })),
        )
    }
    /// Delete the document `id`.
    pub fn delete(id: impl Into<String>) -> Self {
        Self::new(BulkAction::Delete, Some(id.into()), None)
    }
    /// Target another index than the request's.
    pub fn in_index(mut self, index: impl Into<String>) -> Self {
        self.index = Some(index.into());
        self
    }
    /// The action.
    pub fn action(&self) -> BulkAction {
        self.action
    }
    /// The document id.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The action line (`{"index": {"_id": "1"}}`).
    pub fn action_line(&self) -> Value {
        let mut meta = Map::new();
        if let Some(index) = &self.index {
            meta.insert("_index".into(), index.clone().into());
        }
        if let Some(id) = &self.id {
            meta.insert("_id".into(), id.clone().into());
        }
        if let Some(version) = self.version {
            meta.insert("version".into(), version.into());
            meta.insert("version_type".into(), "external_gte".into());
        }
        let mut line = Map::new();
        line.insert(
            serde_json::to_value(self.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            Value::Object(meta),
        );
        Value::Object(line)
    }
    /// The source line, if the action has one.
    pub fn source_line(&self) -> Option<&Value> {
        self.body.as_ref()
    }
    /// The operation as NDJSON (one or two lines, each ending in `\n`).
    pub fn to_ndjson(&self) -> Result<String, Error> {
        let mut out = serde_json::to_string(&self.action_line())?;
        out.push('\n');
        if let Some(body) = &self.body {
            out.push_str(&serde_json::to_string(body)?);
            out.push('\n');
        }
        Ok(out)
    }
}

/// The error of one failed bulk item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemError {
    /// The error type (`version_conflict_engine_exception`, `strict_dynamic_mapping_exception`).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The server's explanation.
    #[serde(default)]
    pub reason: String,
}

/// The result of one bulk item, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// The action.
    pub action: BulkAction,
    /// The index written.
    pub index: String,
    /// The document id.
    pub id: String,
    /// The HTTP status of this item.
    pub status: u16,
    /// `created`, `updated`, `deleted`, `noop`, `not_found`.
    pub result: Option<String>,
    /// Why it failed.
    pub error: Option<ItemError>,
}

impl BulkItem {
    /// Whether the item succeeded (a delete of a missing document counts as success).
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && (self.status < 300 || self.status == 404)
    }
    /// Whether resending could succeed (429 or 503).
    pub fn is_retryable(&self) -> bool {
        matches!(self.status, 429 | 502 | 503 | 504)
    }
}

/// The result of a bulk request: one item per operation, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkResponse {
    /// Milliseconds the server took (last attempt).
    pub took: u64,
    /// Per-operation results, in request order.
    pub items: Vec<BulkItem>,
}

impl BulkResponse {
    /// Whether any item failed.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|i| !i.is_ok())
    }
    /// The failed items.
    pub fn failed(&self) -> impl Iterator<Item = &BulkItem> {
        self.items.iter().filter(|i| !i.is_ok())
    }
    /// The number of successful items.
    pub fn succeeded(&self) -> usize {
        self.items.iter().filter(|i| i.is_ok()).count()
    }
}

#[derive(Deserialize)]
pub(crate) struct RawBulkResponse {
    #[serde(default)]
    pub(crate) took: u64,
    pub(crate) items: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
struct RawItem {
    #[serde(rename = "_index", default)]
    index: String,
    #[serde(rename = "_id", default)]
    id: Option<String>,
    status: u16,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

pub(crate) fn decode_item(raw: Map<String, Value>, op: &BulkOp) -> BulkItem {
    let (action, body) = match raw.into_iter().next() {
        Some((k, v)) => (k, v),
        None => (String::new(), Value::Null),
    };
    let action = serde_json::from_value(Value::String(action)).unwrap_or(op.action);
    match serde_json::from_value::<RawItem>(body) {
        Ok(item) => BulkItem {
            action,
            index: item.index,
            id: item.id.or_else(|| op.id.clone()).unwrap_or_default(),
            status: item.status,
            result: item.result,
            error: item.error.map(|e| match e {
                Value::String(reason) => ItemError {
                    kind: String::new(),
                    reason,
                },
                other => serde_json::from_value(other).unwrap_or(ItemError {
                    kind: "unknown".into(),
                    reason: "unparsable error".into(),
                }),
            }),
        },
        Err(e) => BulkItem {
            action,
            index: op.index.clone().unwrap_or_default(),
            id: op.id.clone().unwrap_or_default(),
            status: 0,
            result: None,
            error: Some(ItemError {
                kind: "reel_decode_error".into(),
                reason: format!("could not decode the bulk item: {e}"),
            }),
        },
    }
}
