//! Writes through a [`VersionedIndex`]: to every index behind the write alias, with the
//! documents and deletes a running migration has not copied yet carried over.
use serde_json::{Value, json};

use super::VersionedIndex;
use crate::lease;
use crate::{Error, Indexable, WriteResult};

impl<D: Indexable + Send + 'static> VersionedIndex<D> {
    /// The indices behind the write alias (the read alias when there is none yet).
    pub async fn write_targets(&self) -> Result<Vec<String>, Error> {
        let targets = self.repo.alias_indices(&self.write_alias()).await?;
        if targets.is_empty() {
            Ok(vec![self.alias().to_owned()])
        } else {
            Ok(targets)
        }
    }

    /// Whether a migration is building an index (the write alias holds two), failing when
    /// there is no write alias yet.
    async fn migrating(&self) -> Result<bool, Error> {
        let targets = self.repo.alias_indices(&self.write_alias()).await?;
        if targets.is_empty() {
            return Err(self.error(format!(
                "nothing is behind `{}` yet; call ensure_current (or migrate) before writing",
                self.write_alias()
            )));
        }
        Ok(targets.len() > 1)
    }

    /// Copies the live documents `ids` into the index a migration is building, each with the
    /// live index's version as an `external_gte` version, so a copy never overwrites a newer
    /// one (two writers racing) and the backfill's `create` never overwrites a copy. When the
    /// migration ended meanwhile (its alias is gone), the copies go to the write alias, which
    /// then points at the new live index, so a write made just before the swap is not lost
    /// with the old index.
    async fn copy_to_next(&self, ids: Vec<String>) -> Result<Vec<WriteResult>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let docs = self.repo.mget_versioned(self.alias(), &ids).await?;
        let ops: Vec<crate::BulkOp> = ids
            .into_iter()
            .zip(docs)
            .filter_map(|(id, doc)| {
                let (version, source) = doc?;
                Some(crate::BulkOp::index(id, source).with_external_version(version))
            })
            .collect();
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let response = match self
            .repo
            .bulk_with(&self.next_alias(), ops.clone(), &require_alias())
            .await
        {
            Err(e) if crate::repo::is_index_missing(&e) => {
                self.repo
                    .bulk_with(&self.write_alias(), ops, &require_alias())
                    .await?
            }
            other => other?,
        };
        // 409: the index already holds a newer copy.
        if let Some(failed) = response
            .items
            .iter()
            .find(|i| !i.is_ok() && i.status != 409)
        {
            return Err(self.error(format!(
                "copying `{}` into the index being built failed: {:?}",
                failed.id, failed.error
            )));
        }
        Ok(response
            .items
            .into_iter()
            .map(|item| WriteResult {
                index: item.index,
                id: item.id,
                version: None,
                // 409: a newer copy was already there.
                result: item.result.unwrap_or_else(|| "noop".to_owned()),
            })
            .collect())
    }

    /// Indexes `doc` through the write alias (with `require_alias`, so a write never
    /// recreates a deleted index) and, during a migration, copies it into the new index.
    /// Returns a result per index written (two during a migration).
    pub async fn index(&self, doc: &D) -> Result<Vec<WriteResult>, Error> {
        let migrating = self.migrating().await?;
        let id = doc.document_id();
        let written = self
            .repo
            .index_json_with(
                &self.write_alias(),
                &id,
                &doc.document_body()?,
                &require_alias(),
            )
            .await?;
        let mut out = vec![written];
        if migrating {
            out.extend(self.copy_to_next(vec![id]).await?);
        }
        Ok(out)
    }

    /// Merges `partial` into the document `id` (which must exist) through the write alias;
    /// during a migration the resulting document is copied into the new index.
    pub async fn update_partial(&self, id: &str, partial: &Value) -> Result<WriteResult, Error> {
        self.update(id, &json!({ "doc": partial })).await
    }

    /// Runs `script` on the document `id` (which must exist), as
    /// [`update_partial`](Self::update_partial).
    pub async fn update_script(
        &self,
        id: &str,
        script: &crate::Script,
    ) -> Result<WriteResult, Error> {
        self.update(id, &json!({ "script": script })).await
    }

    /// Merges `partial` into the document `id`, creating it from `partial` when missing, as
    /// [`update_partial`](Self::update_partial).
    pub async fn upsert(&self, id: &str, partial: &Value) -> Result<WriteResult, Error> {
        self.update(id, &json!({ "doc": partial, "doc_as_upsert": true }))
            .await
    }

    async fn update(&self, id: &str, body: &Value) -> Result<WriteResult, Error> {
        let migrating = self.migrating().await?;
        let written = self
            .repo
            .update_with(&self.write_alias(), id, body, &require_alias())
            .await?;
        if migrating {
            self.copy_to_next(vec![id.to_owned()]).await?;
        }
        Ok(written)
    }

    /// Sends `ops` in one `_bulk` request through the write alias (with `require_alias`) and,
    /// during a migration, applies them to the new index too: written documents are copied
    /// with their live version, deletes are recorded as tombstones first and repeated there.
    /// Every op needs an id and must not name another index. Returns the live request's
    /// per-item results.
    pub async fn bulk(&self, ops: Vec<crate::BulkOp>) -> Result<crate::BulkResponse, Error> {
        if let Some(op) = ops
            .iter()
            .find(|op| op.id().is_none() || op.target_index().is_some())
        {
            return Err(Error::Config(format!(
                "VersionedIndex::bulk needs an id on every op and no `in_index` (got {:?}): a \
                 migration could not copy it into the new index",
                op.action_line()
            )));
        }
        let migrating = self.migrating().await?;
        let deletes: Vec<String> = ops
            .iter()
            .filter(|op| op.action() == crate::BulkAction::Delete)
            .filter_map(|op| op.id().map(str::to_owned))
            .collect();
        if migrating {
            for id in &deletes {
                lease::record_tombstone(&self.repo, self.alias(), id).await?;
            }
        }
        let response = self
            .repo
            .bulk_with(&self.write_alias(), ops, &require_alias())
            .await?;
        if migrating {
            let written: Vec<String> = response
                .items
                .iter()
                .filter(|i| i.is_ok() && i.action != crate::BulkAction::Delete)
                .map(|i| i.id.clone())
                .collect();
            self.copy_to_next(written).await?;
            if !deletes.is_empty() {
                let ops: Vec<crate::BulkOp> =
                    deletes.into_iter().map(crate::BulkOp::delete).collect();
                match self
                    .repo
                    .bulk_with(&self.next_alias(), ops.clone(), &require_alias())
                    .await
                {
                    Err(e) if crate::repo::is_index_missing(&e) => {
                        self.repo
                            .bulk_with(&self.write_alias(), ops, &require_alias())
                            .await?;
                    }
                    other => {
                        other?;
                    }
                }
            }
        }
        Ok(response)
    }

    /// Deletes `id` through the write alias, never by index name (a delete that reaches the
    /// node after a swap lands in the live index; deletes never create an index); during a
    /// migration also through the new index's alias, with a tombstone re-applied after the
    /// backfill. Returns whether a document was deleted.
    pub async fn delete(&self, id: &str) -> Result<bool, Error> {
        let migrating = self.migrating().await?;
        if migrating {
            lease::record_tombstone(&self.repo, self.alias(), id).await?;
        }
        let deleted = self.repo.delete(&self.write_alias(), id).await?;
        // Not in the new index: not copied yet, or the migration ended and the write alias
        // now holds the new live index, so the delete is repeated there.
        Ok(deleted
            | (migrating
                && (self.repo.delete(&self.next_alias(), id).await?
                    || self.repo.delete(&self.write_alias(), id).await?)))
    }
}

/// `require_alias=true`: the write fails when its target is not an alias instead of
/// auto-creating an index of that name.
fn require_alias() -> [(&'static str, String); 1] {
    [("require_alias", "true".to_owned())]
}
