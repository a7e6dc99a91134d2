//! Zero-downtime migrations: versioned physical indices behind a read alias and a write alias.
//!
//! Layout for a logical index `assets`: physical indices `assets_v1`, `assets_v2`, …; the read
//! alias `assets` points at exactly one of them; the write alias `assets_write` points at the
//! same one, or at the old and the new one while a migration backfills. Writes through
//! [`VersionedIndex`] go to every index behind the write alias.
//!
//! A migration: create `assets_v{n+1}` (refresh off, no replicas while loading) → add it to
//! the write alias → backfill with the [`Indexer`] (create-only, so documents written
//! meanwhile win) → re-apply deletes made meanwhile → restore settings → refresh → ONE
//! `_aliases` call moving the read and write aliases → delete or keep the old index. Until
//! that one call, reads stay on the old index; a rerun after a crash deletes the half-built
//! index and starts again.

use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::{
    AliasAction, Document, Error, IndexDefinition, IndexReport, Indexable, Indexer, Progress, Repo,
    WriteResult,
};

/// The `_meta` key holding the definition's fingerprint.
pub const FINGERPRINT_META: &str = "reel_fingerprint";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`VersionedIndex::ensure_current`] or [`VersionedIndex::migrate`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The live index already matches the definition.
    UpToDate {
        /// The physical index behind the read alias.
        index: String,
    },
    /// A new index was built and the aliases moved to it.
    Migrated {
        /// The previous physical index (`None` on first creation).
        from: Option<String>,
        /// The new physical index.
        to: String,
        /// The backfill's report.
        report: IndexReport,
        /// Whether the old index was deleted.
        deleted_old: bool,
    },
}

#[derive(Debug, Default)]
struct MigrationState {
    /// Ids deleted while a backfill runs, re-applied to the new index before the swap.
    deleted: Option<Vec<String>>,
}

/// A logical index behind a read alias, with dual writes during migrations.
///
/// ```no_run
/// use futures::stream;
/// use reel_search::{Repo, migrate::VersionedIndex};
/// # #[derive(reel_search::Document, serde::Serialize, Clone)]
/// # #[search(index = "assets")]
/// # struct Asset { #[search(id)] id: i64, title: String }
///
/// # async fn run(all_assets: Vec<Asset>) -> Result<(), reel_search::Error> {
/// let repo = Repo::connect("http://127.0.0.1:9200")?;
/// let assets = VersionedIndex::<Asset>::new(repo);
/// // Builds `assets_v1` on first run, then migrates only when the mapping changed.
/// let source = stream::iter(all_assets.into_iter().map(Ok::<_, std::io::Error>));
/// assets.ensure_current(source).await?;
/// # Ok(()) }
/// ```
pub struct VersionedIndex<D> {
    repo: Repo,
    definition: IndexDefinition,
    keep_old: bool,
    batch_size: usize,
    concurrency: usize,
    on_progress: Option<ProgressFn>,
    state: Arc<Mutex<MigrationState>>,
    _doc: std::marker::PhantomData<fn() -> D>,
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

impl<D> std::fmt::Debug for VersionedIndex<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedIndex")
            .field("alias", &self.definition.name())
            .field("keep_old", &self.keep_old)
            .field("batch_size", &self.batch_size)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl<D> Clone for VersionedIndex<D> {
    fn clone(&self) -> Self {
        Self {
            repo: self.repo.clone(),
            definition: self.definition.clone(),
            keep_old: self.keep_old,
            batch_size: self.batch_size,
            concurrency: self.concurrency,
            on_progress: self.on_progress.clone(),
            state: self.state.clone(),
            _doc: std::marker::PhantomData,
        }
    }
}

impl<D: Indexable + Send + 'static> VersionedIndex<D> {
    /// The versioned index of a document type (alias = `D::INDEX`).
    pub fn new(repo: Repo) -> Self
    where
        D: Document,
    {
        Self::with_definition(repo, D::definition())
    }

    /// A versioned index with an explicit definition (its name is the read alias).
    pub fn with_definition(repo: Repo, definition: IndexDefinition) -> Self {
        Self {
            repo,
            definition,
            keep_old: false,
            batch_size: 1000,
            concurrency: 2,
            on_progress: None,
            state: Arc::default(),
            _doc: std::marker::PhantomData,
        }
    }

    /// Keep the previous index after a migration (default: delete it).
    pub fn keep_old(mut self, keep: bool) -> Self {
        self.keep_old = keep;
        self
    }

    /// Backfill batch size and concurrent bulk requests.
    pub fn backfill(mut self, batch_size: usize, concurrency: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self.concurrency = concurrency.max(1);
        self
    }

    /// Calls `f` with the backfill's progress events (for a progress bar).
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(f));
        self
    }

    /// The read alias.
    pub fn alias(&self) -> &str {
        self.definition.name()
    }

    /// The write alias (`<alias>_write`).
    pub fn write_alias(&self) -> String {
        format!("{}_write", self.definition.name())
    }

    /// The definition.
    pub fn definition(&self) -> &IndexDefinition {
        &self.definition
    }

    /// The repo.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The physical index behind the read alias, if any.
    pub async fn current_index(&self) -> Result<Option<String>, Error> {
        let indices = self.repo.alias_indices(self.alias()).await?;
        match indices.len() {
            0 => {
                if self.repo.index_exists(self.alias()).await? {
                    Err(self.error(format!(
                        "`{0}` is a concrete index, not an alias; reindex it into a versioned index once (e.g. with `_reindex` into `{0}_v1`) and delete it",
                        self.alias()
                    )))
                } else {
                    Ok(None)
                }
            }
            1 => Ok(indices.into_iter().next()),
            _ => Err(self.error(format!(
                "the read alias points at several indices ({indices:?}); remove all but one"
            ))),
        }
    }

    /// The fingerprint stored in the live index's `_meta`.
    pub async fn live_fingerprint(&self) -> Result<Option<String>, Error> {
        let Some(index) = self.current_index().await? else {
            return Ok(None);
        };
        let mapping = self.repo.get_mapping(&index).await?;
        Ok(mapping
            .pointer(&format!("/_meta/{FINGERPRINT_META}"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// Migrates only when the live index is missing or its fingerprint differs from the
    /// definition's.
    pub async fn ensure_current<S, E>(&self, source: S) -> Result<Outcome, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        if let Some(index) = self.current_index().await?
            && self.live_fingerprint().await?.as_deref() == Some(&self.definition.fingerprint())
        {
            return Ok(Outcome::UpToDate { index });
        }
        self.migrate(source).await
    }

    fn error(&self, reason: String) -> Error {
        Error::Migration {
            alias: self.alias().to_owned(),
            reason,
        }
    }

    /// Physical indices of this alias (`<alias>_v<n>`), as (version, name).
    async fn versions(&self) -> Result<Vec<(u64, String)>, Error> {
        let prefix = format!("{}_v", self.alias());
        let mut out: Vec<(u64, String)> = self
            .repo
            .list_indices(&format!("{prefix}*"))
            .await?
            .into_iter()
            .filter_map(|name| {
                let v = name.strip_prefix(&prefix)?.parse().ok()?;
                Some((v, name))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The `_aliases` actions that make `to` live and retire `from`.
    pub fn swap_actions(&self, from: Option<&str>, to: &str) -> Vec<AliasAction> {
        let mut actions = Vec::new();
        if let Some(from) = from {
            actions.push(AliasAction::remove(from, self.alias()));
            actions.push(AliasAction::remove(from, self.write_alias()));
        }
        actions.push(AliasAction::add(to, self.alias()));
        actions.push(AliasAction::Add {
            index: to.to_owned(),
            alias: self.write_alias(),
            is_write_index: Some(true),
        });
        actions
    }

    /// Builds a new index from `source` and moves the aliases to it (see the module docs).
    pub async fn migrate<S, E>(&self, source: S) -> Result<Outcome, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        let span = tracing::info_span!("migrate", alias = %self.alias());
        self.migrate_inner(source).instrument(span).await
    }

    async fn migrate_inner<S, E>(&self, source: S) -> Result<Outcome, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        let from = self.current_index().await?;
        let versions = self.versions().await?;
        // Leftovers of an interrupted migration: not live, so nobody reads them.
        for (_, name) in &versions {
            if Some(name) != from.as_ref() {
                tracing::warn!(index = %name, "deleting the index of an interrupted migration");
                self.repo.delete_index(name).await?;
            }
        }
        let next = versions.last().map_or(1, |(v, _)| v + 1);
        let to = format!("{}_v{}", self.alias(), next);

        // Create with loading settings; the fingerprint is the final definition's.
        let mut body = self.definition.body();
        if let Some(settings) = body.get_mut("settings").and_then(Value::as_object_mut) {
            settings.insert("refresh_interval".into(), "-1".into());
            settings.insert("number_of_replicas".into(), 0.into());
        }
        self.repo.create_index_with_body(&to, &body).await?;
        tracing::info!(index = %to, "created; backfilling");

        // From here writes go to both indices; deletes are journaled for the new one.
        self.lock_state().deleted = Some(Vec::new());
        let write_add = AliasAction::Add {
            index: to.clone(),
            alias: self.write_alias(),
            is_write_index: None,
        };
        let result = self.build(&to, from.as_deref(), write_add, source).await;
        self.lock_state().deleted = None;
        let report = result?;

        let deleted_old = match (&from, self.keep_old) {
            (Some(old), false) => self.repo.delete_index(old).await?,
            _ => false,
        };
        tracing::info!(from = ?from, to = %to, indexed = report.indexed, "migration finished");
        Ok(Outcome::Migrated {
            from,
            to,
            report,
            deleted_old,
        })
    }

    async fn build<S, E>(
        &self,
        to: &str,
        from: Option<&str>,
        write_add: AliasAction,
        source: S,
    ) -> Result<IndexReport, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        self.repo.update_aliases(&[write_add]).await?;
        let indexer = Indexer::new(self.repo.clone(), to)
            .batch_size(self.batch_size)
            .concurrency(self.concurrency)
            .create_only(true);
        let watcher = self.on_progress.clone().map(|callback| {
            let mut events = indexer.progress();
            tokio::spawn(async move {
                while let Some(p) = events.next().await {
                    callback(&p);
                }
            })
        });
        let report = indexer.run(source).await;
        if let Some(watcher) = watcher {
            let _ = watcher.await;
        }
        let report = report?;
        if !report.failed.is_empty() {
            return Err(self.error(format!(
                "{} documents failed to index into {to} (first: {:?}); reads stay on the old index, fix and rerun",
                report.failed.len(),
                report.failed.first()
            )));
        }
        let deleted = self.lock_state().deleted.take().unwrap_or_default();
        if !deleted.is_empty() {
            let ops = deleted.into_iter().map(crate::BulkOp::delete).collect();
            let r = self.repo.bulk(to, ops).await?;
            if r.failed().next().is_some() {
                return Err(self.error(format!(
                    "re-applying deletes failed: {:?}",
                    r.failed().next()
                )));
            }
        }
        // Restore the definition's settings (or the server defaults).
        let settings = self.definition.settings();
        let refresh = settings
            .get("refresh_interval")
            .cloned()
            .unwrap_or_else(|| "1s".into());
        let replicas = settings
            .get("number_of_replicas")
            .cloned()
            .unwrap_or_else(|| 1.into());
        self.repo
            .put_settings(
                to,
                &json!({"index": {"refresh_interval": refresh, "number_of_replicas": replicas}}),
            )
            .await?;
        self.repo.refresh(to).await?;
        self.repo
            .update_aliases(&self.swap_actions(from, to))
            .await?;
        Ok(report)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, MigrationState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The indices behind the write alias (the read alias when there is none yet).
    pub async fn write_targets(&self) -> Result<Vec<String>, Error> {
        let targets = self.repo.alias_indices(&self.write_alias()).await?;
        if targets.is_empty() {
            Ok(vec![self.alias().to_owned()])
        } else {
            Ok(targets)
        }
    }

    /// Indexes `doc` into every write target (both indices during a migration).
    pub async fn index(&self, doc: &D) -> Result<Vec<WriteResult>, Error> {
        let mut out = Vec::new();
        for target in self.write_targets().await? {
            out.push(self.repo.index(&target, doc).await?);
        }
        Ok(out)
    }

    /// Deletes `id` from every write target; during a migration the delete is also
    /// re-applied to the new index after its backfill.
    pub async fn delete(&self, id: &str) -> Result<bool, Error> {
        if let Some(journal) = self.lock_state().deleted.as_mut() {
            journal.push(id.to_owned());
        }
        let mut any = false;
        for target in self.write_targets().await? {
            any |= self.repo.delete(&target, id).await?;
        }
        Ok(any)
    }
}
