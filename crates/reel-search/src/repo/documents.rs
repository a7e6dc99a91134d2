//! Single documents: index, get, update, upsert and delete by id, mget, and bulk.
use elasticsearch::http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Repo, api_error, decode, encode, is_index_missing};
use crate::{BulkOp, BulkResponse, Error, Indexable, Script};

/// The result of a single-document write.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WriteResult {
    /// The index written.
    #[serde(rename = "_index", default)]
    pub index: String,
    /// The document id.
    #[serde(rename = "_id", default)]
    pub id: String,
    /// The document version after the write.
    #[serde(rename = "_version", default)]
    pub version: Option<u64>,
    /// `created`, `updated`, `deleted`, `noop`.
    #[serde(default)]
    pub result: String,
}

impl Repo {
    /// Indexes (creates or replaces) a document.
    pub async fn index<D: Indexable + ?Sized>(
        &self,
        index: &str,
        doc: &D,
    ) -> Result<WriteResult, Error> {
        self.index_json(index, &doc.document_id(), &doc.document_body()?)
            .await
    }

    /// Indexes a JSON document under `id`.
    pub async fn index_json(
        &self,
        index: &str,
        id: &str,
        body: &Value,
    ) -> Result<WriteResult, Error> {
        self.index_json_with(index, id, body, &[]).await
    }

    /// [`index_json`](Self::index_json) with URL parameters (`require_alias`).
    pub(crate) async fn index_json_with(
        &self,
        index: &str,
        id: &str,
        body: &Value,
        params: &[(&str, String)],
    ) -> Result<WriteResult, Error> {
        self.call(
            &format!("index {index}/{id}"),
            Method::Put,
            &format!("/{}/_doc/{}", encode(index), encode(id)),
            params,
            Some(body),
        )
        .await
    }

    /// Documents by id with their versions, in order (`None` for missing ones).
    pub(crate) async fn mget_versioned(
        &self,
        index: &str,
        ids: &[String],
    ) -> Result<Vec<Option<(u64, Value)>>, Error> {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            found: bool,
            #[serde(rename = "_version")]
            version: Option<u64>,
            #[serde(rename = "_source")]
            source: Option<Value>,
        }
        #[derive(Deserialize)]
        struct Docs {
            docs: Vec<Doc>,
        }
        let docs: Docs = self
            .call(
                &format!("mget {index}"),
                Method::Post,
                &format!("/{}/_mget", encode(index)),
                &[],
                Some(&json!({ "ids": ids })),
            )
            .await?;
        Ok(docs
            .docs
            .into_iter()
            .map(|d| match (d.found, d.version, d.source) {
                (true, Some(v), Some(s)) => Some((v, s)),
                _ => None,
            })
            .collect())
    }

    /// The document `id`, decoded; `None` when missing.
    pub async fn get<T: DeserializeOwned>(
        &self,
        index: &str,
        id: &str,
    ) -> Result<Option<T>, Error> {
        let op = format!("get {index}/{id}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Get,
                &format!("/{}/_doc/{}", encode(index), encode(id)),
                &[],
                None,
            )
            .await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(api_error(&op, status, &bytes));
        }
        #[derive(Deserialize)]
        struct Got<T> {
            #[serde(default)]
            found: bool,
            #[serde(rename = "_source")]
            source: Option<T>,
        }
        let got: Got<T> = decode(&op, &bytes)?;
        Ok(if got.found { got.source } else { None })
    }

    /// Deletes the document `id`; `Ok(false)` when it did not exist.
    pub async fn delete(&self, index: &str, id: &str) -> Result<bool, Error> {
        let op = format!("delete {index}/{id}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Delete,
                &format!("/{}/_doc/{}", encode(index), encode(id)),
                &[],
                None,
            )
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    async fn update(&self, index: &str, id: &str, body: &Value) -> Result<WriteResult, Error> {
        self.update_with(index, id, body, &[]).await
    }

    /// An `_update` with URL parameters (`require_alias`).
    pub(crate) async fn update_with(
        &self,
        index: &str,
        id: &str,
        body: &Value,
        params: &[(&str, String)],
    ) -> Result<WriteResult, Error> {
        let op = format!("update {index}/{id}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Post,
                &format!("/{}/_update/{}", encode(index), encode(id)),
                params,
                Some(body),
            )
            .await?;
        match status {
            200..=299 => decode(&op, &bytes),
            404 => match api_error(&op, status, &bytes) {
                // The index (or, with `require_alias`, the alias) is missing, not the document.
                e @ Error::Api { .. } if is_index_missing(&e) => Err(e),
                _ => Err(Error::NotFound {
                    what: format!("document {index}/{id}"),
                }),
            },
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Merges `partial` into the document `id` (which must exist).
    pub async fn update_partial(
        &self,
        index: &str,
        id: &str,
        partial: &Value,
    ) -> Result<WriteResult, Error> {
        self.update(index, id, &json!({ "doc": partial })).await
    }

    /// Runs `script` on the document `id` (which must exist).
    pub async fn update_script(
        &self,
        index: &str,
        id: &str,
        script: &Script,
    ) -> Result<WriteResult, Error> {
        self.update(index, id, &json!({ "script": script })).await
    }

    /// Merges `partial` into the document, creating it from `partial` when missing.
    pub async fn upsert(
        &self,
        index: &str,
        id: &str,
        partial: &Value,
    ) -> Result<WriteResult, Error> {
        self.update(index, id, &json!({ "doc": partial, "doc_as_upsert": true }))
            .await
    }

    /// Several documents by id, in order (`None` for missing ones).
    pub async fn mget<T: DeserializeOwned>(
        &self,
        index: &str,
        ids: &[&str],
    ) -> Result<Vec<Option<T>>, Error> {
        #[derive(Deserialize)]
        struct Doc<T> {
            #[serde(default)]
            found: bool,
            #[serde(rename = "_source")]
            source: Option<T>,
        }
        #[derive(Deserialize)]
        struct Docs<T> {
            docs: Vec<Doc<T>>,
        }
        let docs: Docs<T> = self
            .call(
                &format!("mget {index}"),
                Method::Post,
                &format!("/{}/_mget", encode(index)),
                &[],
                Some(&json!({ "ids": ids })),
            )
            .await?;
        Ok(docs
            .docs
            .into_iter()
            .map(|d| if d.found { d.source } else { None })
            .collect())
    }

    // ---- bulk ----

    /// Sends `ops` in one `_bulk` request to `index` (ops may name other indices) and returns a
    /// result per op, in order. Items that got 429/503 are resent, bounded by the backoff;
    /// other failures are reported, never dropped.
    pub async fn bulk(&self, index: &str, ops: Vec<BulkOp>) -> Result<BulkResponse, Error> {
        self.bulk_with(index, ops, &[]).await
    }
}
