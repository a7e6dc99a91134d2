//! Bulk operations and their per-item results.

use std::borrow::Cow;

use bytes::Bytes;
use elasticsearch::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::repo::{api_error, encode};
use crate::{Error, Indexable, Repo};

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

impl BulkAction {
    /// The action's name in a bulk request (`index`, `create`, `update`, `delete`).
    fn name(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
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
        line.insert(self.action.name().to_owned(), Value::Object(meta));
        Value::Object(line)
    }
    /// The source line, if the action has one.
    pub fn source_line(&self) -> Option<&Value> {
        self.body.as_ref()
    }
    /// The operation as NDJSON (one or two lines, each ending in `\n`).
    pub fn to_ndjson(&self) -> Result<String, Error> {
        let mut out = Vec::new();
        self.write_ndjson(&mut out)?;
        // serde_json writes UTF-8 only.
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
    /// Appends the operation's NDJSON lines to `out`.
    fn write_ndjson(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        write_action_line(
            out,
            self.action,
            self.index.as_deref(),
            self.id.as_deref(),
            self.version,
        )?;
        if let Some(body) = &self.body {
            serde_json::to_writer(&mut *out, body)?;
            out.push(b'\n');
        }
        Ok(())
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

/// Writes an action line (`{"index":{"_id":"1"}}` and a newline) without building a `Value`,
/// its keys in the order of [`BulkOp::action_line`]'s map.
fn write_action_line(
    out: &mut Vec<u8>,
    action: BulkAction,
    index: Option<&str>,
    id: Option<&str>,
    version: Option<u64>,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(action.name().as_bytes());
    out.extend_from_slice(b"\":{");
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &[u8]| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        out.extend_from_slice(name);
    };
    if let Some(id) = id {
        key(out, b"\"_id\":");
        serde_json::to_writer(&mut *out, id)?;
    }
    if let Some(index) = index {
        key(out, b"\"_index\":");
        serde_json::to_writer(&mut *out, index)?;
    }
    if let Some(version) = version {
        key(out, b"\"version\":");
        serde_json::to_writer(&mut *out, &version)?;
        key(out, b"\"version_type\":\"external_gte\"");
    }
    out.extend_from_slice(b"}}\n");
    Ok(())
}

/// A `_bulk` body built in one buffer: the NDJSON lines of each operation back to back, and
/// where each one starts, so that throttled operations can be resent alone.
#[derive(Debug, Default)]
pub(crate) struct NdjsonBody {
    buf: Vec<u8>,
    starts: Vec<usize>,
}

impl NdjsonBody {
    /// Operations in the body.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// NDJSON bytes in the body.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Where operation `i` ends.
    fn end(&self, i: usize) -> usize {
        self.starts.get(i + 1).copied().unwrap_or(self.buf.len())
    }

    /// Appends `op`; nothing is appended when it cannot be serialized.
    pub(crate) fn push_op(&mut self, op: &BulkOp) -> Result<(), serde_json::Error> {
        let start = self.buf.len();
        let written = op.write_ndjson(&mut self.buf);
        self.commit(start, written)
    }

    /// Appends an `index` or `create` of `doc` as `id`, its body serialized straight into the
    /// buffer; nothing is appended when it cannot be serialized.
    pub(crate) fn push_doc<D: Indexable + ?Sized>(
        &mut self,
        action: BulkAction,
        id: &str,
        doc: &D,
    ) -> Result<(), serde_json::Error> {
        let start = self.buf.len();
        let written =
            write_action_line(&mut self.buf, action, None, Some(id), None).and_then(|()| {
                let body = self.buf.len();
                doc.write_document_body(&mut self.buf)?;
                // A hand-written body could span lines, which would corrupt the NDJSON stream.
                if self.buf[body..].contains(&b'\n') {
                    return Err(serde::ser::Error::custom(
                        "the document body is not one line of JSON (write compact JSON)",
                    ));
                }
                self.buf.push(b'\n');
                Ok(())
            });
        self.commit(start, written)
    }

    fn commit(
        &mut self,
        start: usize,
        written: Result<(), serde_json::Error>,
    ) -> Result<(), serde_json::Error> {
        match written {
            Ok(()) => {
                self.starts.push(start);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    /// Moves the operations from `at` on into a new body (this one keeps the first `at`).
    pub(crate) fn split_off(&mut self, at: usize) -> Self {
        if at >= self.len() {
            return Self::default();
        }
        let cut = self.starts[at];
        let buf = self.buf.split_off(cut);
        let starts = self.starts.split_off(at).iter().map(|s| s - cut).collect();
        Self { buf, starts }
    }

    /// The request body of the operations `pending` (ascending indices).
    fn payload(&self, pending: &[usize]) -> Bytes {
        let contiguous =
            pending.first() == Some(&0) && pending.last().map(|&l| l + 1) == Some(pending.len());
        if contiguous {
            return Bytes::copy_from_slice(&self.buf[..self.end(pending.len() - 1)]);
        }
        let mut out = Vec::new();
        for &i in pending {
            out.extend_from_slice(&self.buf[self.starts[i]..self.end(i)]);
        }
        Bytes::from(out)
    }
}

/// A `_bulk` answer; its items are decoded one by one, only when needed.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(default)]
    took: u64,
    #[serde(default)]
    errors: Option<bool>,
    #[serde(borrow)]
    items: Vec<&'a RawValue>,
}

/// A string borrowed from the answer when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<De: serde::Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(Visit)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Entry<'a> {
    Index(#[serde(borrow)] Answered<'a>),
    Create(#[serde(borrow)] Answered<'a>),
    Update(#[serde(borrow)] Answered<'a>),
    Delete(#[serde(borrow)] Answered<'a>),
}

#[derive(Deserialize)]
struct Answered<'a> {
    #[serde(rename = "_index", borrow, default)]
    index: Option<Text<'a>>,
    #[serde(rename = "_id", borrow, default)]
    id: Option<Text<'a>>,
    status: u16,
    #[serde(borrow, default)]
    result: Option<Text<'a>>,
    #[serde(default)]
    error: Option<Value>,
}

/// One bulk item as answered, its strings borrowed from the answer.
#[derive(Debug)]
pub(crate) struct ItemAnswer<'a> {
    action: Option<BulkAction>,
    index: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    /// The item's HTTP status (0 when it could not be decoded).
    pub(crate) status: u16,
    result: Option<Cow<'a, str>>,
    /// Why it failed.
    pub(crate) error: Option<ItemError>,
}

impl<'a> ItemAnswer<'a> {
    /// A success known only from the answer's `errors: false`.
    fn acknowledged() -> Self {
        Self {
            action: None,
            index: None,
            id: None,
            status: 200,
            result: None,
            error: None,
        }
    }

    fn parse(raw: &'a RawValue) -> Self {
        let entry = match serde_json::from_str::<Entry<'a>>(raw.get()) {
            Ok(entry) => entry,
            Err(e) => {
                return Self {
                    error: Some(ItemError {
                        kind: "reel_decode_error".into(),
                        reason: format!("could not decode the bulk item: {e}"),
                    }),
                    status: 0,
                    ..Self::acknowledged()
                };
            }
        };
        let (action, item) = match entry {
            Entry::Index(item) => (BulkAction::Index, item),
            Entry::Create(item) => (BulkAction::Create, item),
            Entry::Update(item) => (BulkAction::Update, item),
            Entry::Delete(item) => (BulkAction::Delete, item),
        };
        Self {
            action: Some(action),
            index: item.index.map(|t| t.0),
            id: item.id.map(|t| t.0),
            status: item.status,
            result: item.result.map(|t| t.0),
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
        }
    }

    /// Whether the item succeeded (as [`BulkItem::is_ok`]).
    pub(crate) fn is_ok(&self) -> bool {
        self.error.is_none() && (self.status < 300 || self.status == 404)
    }

    fn is_retryable(&self) -> bool {
        matches!(self.status, 429 | 502 | 503 | 504)
    }

    /// The `result` label of `reel_search_bulk_items_total`.
    fn metric_label(&self) -> &'static str {
        match (self.status, self.result.as_deref()) {
            (409, _) => "conflict",
            (_, _) if self.error.is_some() => "error",
            (_, Some("created")) => "created",
            (_, Some("deleted")) => "deleted",
            (_, Some("not_found")) => "not_found",
            (200..=299, _) => "updated",
            _ => "error",
        }
    }

    fn to_item(&self, op: &BulkOp) -> BulkItem {
        let decoded = self.status != 0;
        BulkItem {
            action: self.action.unwrap_or(op.action),
            index: match &self.index {
                Some(index) => index.clone().into_owned(),
                None if decoded => String::new(),
                None => op.index.clone().unwrap_or_default(),
            },
            id: match &self.id {
                Some(id) => id.clone().into_owned(),
                None => op.id.clone().unwrap_or_default(),
            },
            status: self.status,
            result: self.result.as_ref().map(|r| r.clone().into_owned()),
            error: self.error.clone(),
        }
    }
}

impl Repo {
    /// [`bulk`](Self::bulk) with URL parameters (`require_alias`).
    pub(crate) async fn bulk_with(
        &self,
        index: &str,
        ops: Vec<BulkOp>,
        params: &[(&str, String)],
    ) -> Result<BulkResponse, Error> {
        let mut body = NdjsonBody::default();
        for op in &ops {
            body.push_op(op)?;
        }
        let mut items: Vec<Option<BulkItem>> = vec![None; ops.len()];
        let took = self
            .send_ndjson(index, params, &body, ops.len(), true, |i, answer| {
                items[i] = Some(answer.to_item(&ops[i]));
            })
            .await?;
        Ok(BulkResponse {
            took,
            items: items.into_iter().flatten().collect(),
        })
    }

    /// Sends the first `count` operations of `body` to `index`'s `_bulk`, resends the items
    /// answered 429/5xx (bounded by the backoff) and calls `on_item(i, answer)` once per
    /// operation with its final answer. Unless `decode_all` (or the `metrics` feature, which
    /// counts results), an answer with `errors: false` is not decoded item by item: each
    /// operation is acknowledged. Returns the server's `took` of the last request.
    pub(crate) async fn send_ndjson(
        &self,
        index: &str,
        params: &[(&str, String)],
        body: &NdjsonBody,
        count: usize,
        decode_all: bool,
        mut on_item: impl FnMut(usize, &ItemAnswer<'_>),
    ) -> Result<u64, Error> {
        let op = format!("bulk into {index}");
        let path = format!("/{}/_bulk", encode(index));
        let mut pending: Vec<usize> = (0..count.min(body.len())).collect();
        let mut delays = self.backoff.delays();
        let (mut took, mut answered, mut failed, mut resent) = (0, 0u64, 0u64, 0u64);
        while !pending.is_empty() {
            let payload = body.payload(&pending);
            let (status, bytes) = self
                .send(&op, Method::Post, &path, params, Some(payload))
                .await?;
            if !(200..300).contains(&status) {
                return Err(api_error(&op, status, &bytes));
            }
            let answer: Answer<'_> = serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                what: format!("the answer to {op}"),
                reason: format!(
                    "{e}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                ),
            })?;
            if answer.items.len() != pending.len() {
                return Err(Error::Decode {
                    what: op,
                    reason: format!(
                        "{} items answered for {} operations",
                        answer.items.len(),
                        pending.len()
                    ),
                });
            }
            took = answer.took;
            if answer.errors == Some(false) && !decode_all && !cfg!(feature = "metrics") {
                let ack = ItemAnswer::acknowledged();
                pending.iter().for_each(|&i| on_item(i, &ack));
                answered += pending.len() as u64;
                break;
            }
            let items: Vec<ItemAnswer<'_>> = answer
                .items
                .iter()
                .map(|raw| ItemAnswer::parse(raw))
                .collect();
            let delay = match items.iter().any(ItemAnswer::is_retryable) {
                true => delays.next(),
                false => None,
            };
            let mut retry = Vec::new();
            for (item, &i) in items.iter().zip(&pending) {
                if delay.is_some() && item.is_retryable() {
                    retry.push(i);
                    continue;
                }
                self.metrics.bulk_item(item.metric_label(), 1);
                answered += 1;
                failed += u64::from(!item.is_ok());
                on_item(i, item);
            }
            drop(items);
            match delay {
                Some(delay) if !retry.is_empty() => {
                    self.metrics.retry("bulk");
                    resent += retry.len() as u64;
                    tracing::debug!(items = retry.len(), "resending throttled bulk items");
                    tokio::time::sleep(delay).await;
                    pending = retry;
                }
                _ => break,
            }
        }
        self.count_bulk(answered, failed, resent);
        if failed > 0 {
            tracing::warn!(index, failed, "bulk items failed");
        }
        Ok(took)
    }
}
