//! Search, count, and update or delete by query (run as a task and polled).
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::http::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Repo, decode, encode};
use crate::{Error, Query, Script, SearchRequest, SearchResponse};

/// Options of [`Repo::update_by_query_with`] and [`Repo::delete_by_query_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ByQueryOptions {
    /// Stop at the first version conflict (`conflicts=abort`) instead of counting it and
    /// going on (`conflicts=proceed`, the default).
    pub abort_on_conflict: bool,
    /// Refresh the touched shards when done (default `true`).
    pub refresh: bool,
}

impl Default for ByQueryOptions {
    fn default() -> Self {
        Self {
            abort_on_conflict: false,
            refresh: true,
        }
    }
}

impl ByQueryOptions {
    /// Sets [`abort_on_conflict`](Self::abort_on_conflict).
    pub fn abort_on_conflict(mut self, abort: bool) -> Self {
        self.abort_on_conflict = abort;
        self
    }

    /// Sets [`refresh`](Self::refresh).
    pub fn refresh(mut self, refresh: bool) -> Self {
        self.refresh = refresh;
        self
    }
}

/// What an `_update_by_query` or `_delete_by_query` did, failures included.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[non_exhaustive]
pub struct ByQueryResponse {
    /// Milliseconds the operation took.
    #[serde(default)]
    pub took: u64,
    /// Documents matched.
    #[serde(default)]
    pub total: u64,
    /// Documents updated.
    #[serde(default)]
    pub updated: u64,
    /// Documents deleted.
    #[serde(default)]
    pub deleted: u64,
    /// Documents the script left unchanged (`ctx.op = "noop"`).
    #[serde(default)]
    pub noops: u64,
    /// Documents skipped because they changed while the operation ran.
    #[serde(default)]
    pub version_conflicts: u64,
    /// Per-document or per-shard failures, as the server reported them.
    #[serde(default)]
    pub failures: Vec<Value>,
}

impl ByQueryResponse {
    /// Whether every matched document was processed: no failures, no version conflicts.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.version_conflicts == 0
    }
}

#[derive(Deserialize)]
struct TaskStatus {
    #[serde(default)]
    completed: bool,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

impl Repo {
    /// Searches `index` and decodes hits as `T`.
    pub async fn search<T: DeserializeOwned>(
        &self,
        index: &str,
        request: &SearchRequest,
    ) -> Result<SearchResponse<T>, Error> {
        self.call(
            &format!("search {index}"),
            Method::Post,
            &format!("/{}/_search", encode(index)),
            &[],
            Some(&request.to_value()),
        )
        .await
    }

    /// Counts the documents matching `query` (all when `None`).
    pub async fn count(&self, index: &str, query: Option<Query>) -> Result<u64, Error> {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let body = query.map(|q| json!({ "query": q }));
        let c: Count = self
            .call(
                &format!("count {index}"),
                Method::Post,
                &format!("/{}/_count", encode(index)),
                &[],
                body.as_ref(),
            )
            .await?;
        Ok(c.count)
    }

    /// Deletes the documents matching `query` with the default [`ByQueryOptions`] (conflicts
    /// proceed, refresh).
    ///
    /// Runs as a task and polls it, so a client timeout never re-sends the request; the
    /// response carries the failures and version conflicts (check
    /// [`ByQueryResponse::is_complete`]).
    pub async fn delete_by_query(
        &self,
        index: &str,
        query: Query,
    ) -> Result<ByQueryResponse, Error> {
        self.delete_by_query_with(index, query, &ByQueryOptions::default())
            .await
    }

    /// [`delete_by_query`](Self::delete_by_query) with explicit options.
    pub async fn delete_by_query_with(
        &self,
        index: &str,
        query: Query,
        options: &ByQueryOptions,
    ) -> Result<ByQueryResponse, Error> {
        self.by_query(
            &format!("delete by query in {index}"),
            &format!("/{}/_delete_by_query", encode(index)),
            options,
            &json!({ "query": query }),
        )
        .await
    }

    /// Runs `script` on the documents matching `query` with the default [`ByQueryOptions`]
    /// (conflicts proceed, refresh).
    ///
    /// Runs as a task (`wait_for_completion=false`) and polls it: a request that outlives the
    /// client timeout is never sent twice, so `ctx._source.views += 1` applies once.
    pub async fn update_by_query(
        &self,
        index: &str,
        query: Query,
        script: &Script,
    ) -> Result<ByQueryResponse, Error> {
        self.update_by_query_with(index, query, script, &ByQueryOptions::default())
            .await
    }

    /// [`update_by_query`](Self::update_by_query) with explicit options.
    pub async fn update_by_query_with(
        &self,
        index: &str,
        query: Query,
        script: &Script,
        options: &ByQueryOptions,
    ) -> Result<ByQueryResponse, Error> {
        self.by_query(
            &format!("update by query in {index}"),
            &format!("/{}/_update_by_query", encode(index)),
            options,
            &json!({ "query": query, "script": script }),
        )
        .await
    }

    /// Whether the server has the tasks API (`GET /_tasks`), probed once per repo.
    async fn supports_tasks(&self) -> Result<bool, Error> {
        match self.counters.tasks_api.load(Ordering::Relaxed) {
            1 => return Ok(true),
            2 => return Ok(false),
            _ => {}
        }
        let (status, _) = self
            .send_json(
                "probe the tasks API",
                Method::Get,
                "/_tasks",
                &[("actions", "reel:probe".into())],
                None,
            )
            .await?;
        let supported = (200..300).contains(&status);
        self.counters
            .tasks_api
            .store(if supported { 1 } else { 2 }, Ordering::Relaxed);
        Ok(supported)
    }

    async fn by_query(
        &self,
        op: &str,
        path: &str,
        options: &ByQueryOptions,
        body: &Value,
    ) -> Result<ByQueryResponse, Error> {
        let conflicts = if options.abort_on_conflict {
            "abort"
        } else {
            "proceed"
        };
        let tasks = self.supports_tasks().await?;
        let params = [
            ("conflicts", conflicts.to_owned()),
            ("refresh", options.refresh.to_string()),
            ("wait_for_completion", (!tasks).to_string()),
        ];
        // Without a tasks API (emulators) the request runs synchronously; as a POST it is
        // still never re-sent after a timeout.
        let started: Value = self
            .call(op, Method::Post, path, &params, Some(body))
            .await?;
        let Some(task) = started.get("task").and_then(Value::as_str) else {
            // A server that ran it synchronously answered with the result itself.
            return decode(op, &Bytes::from(serde_json::to_vec(&started)?));
        };
        let task_path = format!("/_tasks/{}", encode(task));
        let mut delay = Duration::from_millis(20);
        loop {
            let status: TaskStatus = self.call(op, Method::Get, &task_path, &[], None).await?;
            if status.completed {
                if let Some(error) = status.error {
                    return Err(Error::Api {
                        operation: op.to_owned(),
                        status: 500,
                        kind: error
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("task_failed")
                            .to_owned(),
                        reason: error
                            .get("reason")
                            .and_then(Value::as_str)
                            .unwrap_or("the task failed")
                            .to_owned(),
                    });
                }
                let response = status.response.unwrap_or(Value::Null);
                return decode(op, &Bytes::from(serde_json::to_vec(&response)?));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}
