//! Index admin: create, delete and inspect indices, their mappings and settings, refresh,
//! and aliases.
use elasticsearch::http::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Repo, api_error, decode, encode};
use crate::{Error, IndexDefinition};

/// Fails on an `_aliases` answer that is 2xx but did not apply every action.
fn check_alias_response(op: &str, actions: &[AliasAction], response: &Value) -> Result<(), Error> {
    let failed: Vec<String> = response
        .get("action_results")
        .and_then(Value::as_array)
        .map(|results| {
            results
                .iter()
                .filter(|r| {
                    r.get("error").is_some()
                        || r.get("status")
                            .and_then(Value::as_u64)
                            .is_some_and(|s| !(200..300).contains(&s))
                })
                .map(|r| {
                    let reason = r
                        .pointer("/error/reason")
                        .and_then(Value::as_str)
                        .unwrap_or("failed");
                    format!("{} ({reason})", r.get("action").unwrap_or(&Value::Null))
                })
                .collect()
        })
        .unwrap_or_default();
    let errors = response.get("errors").and_then(Value::as_bool) == Some(true);
    let acknowledged = response.get("acknowledged").and_then(Value::as_bool) != Some(false);
    if failed.is_empty() && !errors && acknowledged {
        return Ok(());
    }
    let sent: Vec<Value> = actions.iter().map(AliasAction::to_value).collect();
    Err(Error::Api {
        operation: op.to_owned(),
        status: 200,
        kind: "partial_alias_update".to_owned(),
        reason: format!(
            "the server applied only part of the actions {}: failed: [{}]{}; read the aliases \
             back (Repo::alias_indices) and repair them before writing",
            Value::Array(sent),
            failed.join(", "),
            if acknowledged {
                ""
            } else {
                " (not acknowledged)"
            },
        ),
    })
}

/// An `_aliases` action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AliasAction {
    /// Point `alias` at `index`.
    Add {
        /// The physical index.
        index: String,
        /// The alias.
        alias: String,
        /// Mark `index` as the alias's write index.
        is_write_index: Option<bool>,
    },
    /// Remove `alias` from `index`.
    Remove {
        /// The physical index.
        index: String,
        /// The alias.
        alias: String,
        /// `Some(true)`: fail the whole call when `index` does not hold `alias` (a
        /// compare-and-set; Elasticsearch ≥ 7.9, OpenSearch ≥ 2.12).
        must_exist: Option<bool>,
    },
}

impl AliasAction {
    /// Adds `alias` to `index`.
    pub fn add(index: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::Add {
            index: index.into(),
            alias: alias.into(),
            is_write_index: None,
        }
    }
    /// Removes `alias` from `index`.
    pub fn remove(index: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::Remove {
            index: index.into(),
            alias: alias.into(),
            must_exist: None,
        }
    }
    /// Removes `alias` from `index`, failing the whole `_aliases` call (nothing applied) when
    /// `index` does not hold `alias`: the compare-and-set a swap needs.
    pub fn remove_existing(index: impl Into<String>, alias: impl Into<String>) -> Self {
        Self::Remove {
            index: index.into(),
            alias: alias.into(),
            must_exist: Some(true),
        }
    }
    /// The action's JSON (`{"add": {"index": .., "alias": ..}}`).
    pub fn to_value(&self) -> Value {
        match self {
            Self::Add {
                index,
                alias,
                is_write_index,
            } => {
                let mut m = json!({"index": index, "alias": alias});
                if let (Some(w), Some(o)) = (is_write_index, m.as_object_mut()) {
                    o.insert("is_write_index".into(), (*w).into());
                }
                json!({ "add": m })
            }
            Self::Remove {
                index,
                alias,
                must_exist,
            } => {
                let mut m = json!({"index": index, "alias": alias});
                if let (Some(e), Some(o)) = (must_exist, m.as_object_mut()) {
                    o.insert("must_exist".into(), (*e).into());
                }
                json!({ "remove": m })
            }
        }
    }
}

impl Repo {
    /// Creates `index` with the definition's settings and mappings.
    pub async fn create_index(
        &self,
        index: &str,
        definition: &IndexDefinition,
    ) -> Result<(), Error> {
        self.create_index_with_body(index, &definition.body()).await
    }

    /// Creates `index` with a raw body (`settings`, `mappings`, `aliases`).
    pub async fn create_index_with_body(&self, index: &str, body: &Value) -> Result<(), Error> {
        self.create_index_waiting(index, body, None).await
    }

    /// Creates `index`; with `Some(n)`, the answer waits for `n` active copies of each
    /// shard (`wait_for_active_shards`) instead of the server's default of the primary, up
    /// to 30 s.
    pub(crate) async fn create_index_waiting(
        &self,
        index: &str,
        body: &Value,
        active_shards: Option<u32>,
    ) -> Result<(), Error> {
        let params: Vec<(&str, String)> = active_shards
            .map(|n| ("wait_for_active_shards", n.to_string()))
            .into_iter()
            .collect();
        let _: Value = self
            .call(
                &format!("create index {index}"),
                Method::Put,
                &format!("/{}", encode(index)),
                &params,
                Some(body),
            )
            .await?;
        Ok(())
    }

    /// Deletes `index`; `Ok(false)` when it did not exist.
    pub async fn delete_index(&self, index: &str) -> Result<bool, Error> {
        let op = format!("delete index {index}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Delete,
                &format!("/{}", encode(index)),
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

    /// Whether `index` (or an alias of that name) exists.
    pub async fn index_exists(&self, index: &str) -> Result<bool, Error> {
        let op = format!("check index {index}");
        let (status, bytes) = self
            .send_json(&op, Method::Head, &format!("/{}", encode(index)), &[], None)
            .await?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Adds fields to the mapping of `index` (`{"properties": {...}}`).
    pub async fn put_mapping(&self, index: &str, mapping: &Value) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("put mapping of {index}"),
                Method::Put,
                &format!("/{}/_mapping", encode(index)),
                &[],
                Some(mapping),
            )
            .await?;
        Ok(())
    }

    /// The mappings of `index` (the first index when it is an alias).
    pub async fn get_mapping(&self, index: &str) -> Result<Value, Error> {
        let all: Map<String, Value> = self
            .call(
                &format!("get mapping of {index}"),
                Method::Get,
                &format!("/{}/_mapping", encode(index)),
                &[],
                None,
            )
            .await?;
        Ok(all
            .into_iter()
            .next()
            .and_then(|(_, v)| v.get("mappings").cloned())
            .unwrap_or(Value::Null))
    }

    /// Updates dynamic settings of `index` (`{"index": {"refresh_interval": "1s"}}`).
    pub async fn put_settings(&self, index: &str, settings: &Value) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("put settings of {index}"),
                Method::Put,
                &format!("/{}/_settings", encode(index)),
                &[],
                Some(settings),
            )
            .await?;
        Ok(())
    }

    /// The `settings.index` object of `index`.
    pub async fn get_settings(&self, index: &str) -> Result<Value, Error> {
        let all: Map<String, Value> = self
            .call(
                &format!("get settings of {index}"),
                Method::Get,
                &format!("/{}/_settings", encode(index)),
                &[],
                None,
            )
            .await?;
        Ok(all
            .into_iter()
            .next()
            .and_then(|(_, v)| v.pointer("/settings/index").cloned())
            .unwrap_or(Value::Null))
    }

    /// Makes recent writes visible to search.
    pub async fn refresh(&self, index: &str) -> Result<(), Error> {
        let _: Value = self
            .call(
                &format!("refresh {index}"),
                Method::Post,
                &format!("/{}/_refresh", encode(index)),
                &[],
                None,
            )
            .await?;
        Ok(())
    }

    /// Runs `_aliases` actions in one atomic call and checks the answer: a 2xx that reports
    /// `errors: true` or a failed `action_results` entry (Elasticsearch ≥ 8.14 applies the
    /// other actions then) or `acknowledged: false` is an error naming the failed actions.
    pub async fn update_aliases(&self, actions: &[AliasAction]) -> Result<(), Error> {
        let body =
            json!({"actions": actions.iter().map(AliasAction::to_value).collect::<Vec<_>>()});
        let op = "update aliases";
        let response: Value = self
            .call(op, Method::Post, "/_aliases", &[], Some(&body))
            .await?;
        check_alias_response(op, actions, &response)
    }

    /// The indices `alias` points at (empty when the alias does not exist), sorted.
    pub async fn alias_indices(&self, alias: &str) -> Result<Vec<String>, Error> {
        let op = format!("get alias {alias}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Get,
                &format!("/_alias/{}", encode(alias)),
                &[],
                None,
            )
            .await?;
        match status {
            200..=299 => {
                let m: Map<String, Value> = decode(&op, &bytes)?;
                let mut indices: Vec<String> = m.into_iter().map(|(k, _)| k).collect();
                indices.sort();
                Ok(indices)
            }
            404 => Ok(Vec::new()),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }

    /// Physical indices whose names match `pattern` (wildcards), sorted.
    pub async fn list_indices(&self, pattern: &str) -> Result<Vec<String>, Error> {
        self.list_indices_expanded(pattern, "open").await
    }

    /// Like [`list_indices`](Self::list_indices), with `expand_wildcards` (`all` includes
    /// closed indices).
    pub(crate) async fn list_indices_expanded(
        &self,
        pattern: &str,
        expand_wildcards: &str,
    ) -> Result<Vec<String>, Error> {
        let op = format!("list indices {pattern}");
        let (status, bytes) = self
            .send_json(
                &op,
                Method::Get,
                &format!("/{}/_settings", encode(pattern)),
                &[("expand_wildcards", expand_wildcards.into())],
                None,
            )
            .await?;
        match status {
            200..=299 => {
                let m: Map<String, Value> = decode(&op, &bytes)?;
                let mut indices: Vec<String> = m.into_iter().map(|(k, _)| k).collect();
                indices.sort();
                Ok(indices)
            }
            404 => Ok(Vec::new()),
            _ => Err(api_error(&op, status, &bytes)),
        }
    }
}

impl Serialize for AliasAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}
