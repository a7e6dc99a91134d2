//! Zero-downtime migrations: versioned physical indices behind a read alias and a write alias.
//!
//! Layout for a logical index `assets`: physical indices `assets_v1`, `assets_v2`, …; the read
//! alias `assets` points at exactly one of them; the write alias `assets_write` points at the
//! same one, or at the old and the new one while a migration backfills. Writes through
//! [`VersionedIndex`] go to every index behind the write alias.
//!
//! A migration: take the alias's migration lease → create `assets_v{n+1}` (refresh off, no
//! replicas while loading) → add it to the write alias → backfill with the [`Indexer`]
//! (create-only, so documents written meanwhile win) → re-apply deletes made meanwhile →
//! restore settings → refresh → wait until no shard of the new index is initializing or
//! relocating → ONE `_aliases` call moving the read and write aliases → delete or keep the
//! old index → release the lease. Until that one call, reads stay on the old index; a rerun
//! after a crash deletes the half-built index and starts again.
//!
//! # Several instances at once
//!
//! Every instance of a service typically calls [`VersionedIndex::ensure_current`] at start-up,
//! so a rolling deploy starts several migrations of one alias at the same moment. The lease (a
//! document in the state index `<alias>_migration`, changed only by compare-and-set) lets one
//! of them migrate; the others wait, then find the index current and return
//! [`Outcome::UpToDate`]. The holder renews the lease every sixth of its TTL
//! ([`VersionedIndex::lease_ttl`], 30 s by default) and trusts it for half a TTL after its last
//! confirmed renewal; a holder that died is taken over once its lease has not changed for a
//! whole TTL, measured on the waiter's own clock.
//!
//! Deletes made through any instance while a migration backfills are recorded as tombstones in
//! the state index and re-applied to the new index before the swap, so a row deleted in the
//! database after the backfill read it does not come back.
//!
//! [`Indexer`]: crate::Indexer

mod run;
mod writes;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::{
    AliasAction, Document, Error, IndexDefinition, IndexReport, Indexable, Progress, Repo,
};

/// The `_meta` key holding the definition's fingerprint.
pub const FINGERPRINT_META: &str = "reel_fingerprint";

/// The `_meta` key holding the schema version of [`VersionedIndex::schema_version`].
pub const SCHEMA_VERSION_META: &str = "reel_schema_version";

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
/// let repo = Repo::from_url("http://127.0.0.1:9200")?;
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
    lease_ttl: Duration,
    shard_wait: Duration,
    schema_version: u64,
    on_progress: Option<ProgressFn>,
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
            .field("lease_ttl", &self.lease_ttl)
            .field("shard_wait", &self.shard_wait)
            .field("schema_version", &self.schema_version)
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
            lease_ttl: self.lease_ttl,
            shard_wait: self.shard_wait,
            schema_version: self.schema_version,
            on_progress: self.on_progress.clone(),
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
            lease_ttl: Duration::from_secs(30),
            shard_wait: Duration::from_secs(120),
            schema_version: 0,
            on_progress: None,
            _doc: std::marker::PhantomData,
        }
    }

    /// Keep the previous index after a migration (default: delete it). Kept indices stay
    /// until you delete them: later migrations leave them alone, and
    /// [`retired_indices`](Self::retired_indices) lists them.
    pub fn keep_old(mut self, keep: bool) -> Self {
        self.keep_old = keep;
        self
    }

    /// How long a migration lease lives without renewal (default 30 s, at least 30 ms): the
    /// holder renews it every sixth of this and stops trusting it half of this after its last
    /// confirmed renewal (failing before the next step with "lost the migration lease"), and a
    /// waiting instance takes over a lease that did not change for this long. Longer survives
    /// longer stalls of the cluster; shorter recovers faster from a crashed holder.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// How long to wait for the new index's shards (default 120 s; `Duration::ZERO` skips
    /// the waits): once after creating it, for its primaries to start before it joins the
    /// write alias (until then every live write to it would wait for them), and once before
    /// the swap, for the replicas added after the backfill to finish initializing and
    /// relocating (swapping earlier would send every search to the primaries alone). If a
    /// wait times out the migration fails, deletes the new index, and reads and writes stay
    /// on the old one.
    pub fn shard_wait(mut self, wait: Duration) -> Self {
        self.shard_wait = wait;
        self
    }

    /// This release's schema version (default 0), stored in the index's `_meta`. Versions
    /// only move forward: when the live index has a higher version,
    /// [`ensure_current`](Self::ensure_current) returns [`Outcome::UpToDate`] instead of rebuilding the older
    /// definition, and [`migrate`](Self::migrate) refuses. Bump it with every definition
    /// change so that, during a rolling deploy, restarting pods of the old release leave the
    /// new index alone (with equal versions a differing fingerprint still migrates).
    pub fn schema_version(mut self, version: u64) -> Self {
        self.schema_version = version;
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

    /// The alias of the index a migration is building (`<alias>_write_next`), present only
    /// while it backfills. Dual writes reach that index through it, with `require_alias`, so a
    /// write that races the migration's end fails instead of recreating a deleted index.
    pub fn next_alias(&self) -> String {
        format!("{}_write_next", self.definition.name())
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
        match self.current_index().await? {
            Some(index) => Ok(self.meta_of(&index).await?.0),
            None => Ok(None),
        }
    }

    /// The fingerprint and schema version in `index`'s `_meta`.
    async fn meta_of(&self, index: &str) -> Result<(Option<String>, u64), Error> {
        let mapping = self.repo.get_mapping(index).await?;
        let fingerprint = mapping
            .pointer(&format!("/_meta/{FINGERPRINT_META}"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let version = mapping
            .pointer(&format!("/_meta/{SCHEMA_VERSION_META}"))
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0);
        Ok((fingerprint, version))
    }

    fn error(&self, reason: String) -> Error {
        Error::Migration {
            alias: self.alias().to_owned(),
            reason,
        }
    }

    /// Indices of earlier versions kept by [`keep_old`](Self::keep_old), oldest first.
    pub async fn retired_indices(&self) -> Result<Vec<String>, Error> {
        let live = self.current_index().await?;
        let versions = self.versions().await?;
        let Some(live_version) = live_version(&versions, live.as_deref()) else {
            return Ok(Vec::new());
        };
        Ok(versions
            .into_iter()
            .filter(|(v, _)| *v < live_version)
            .map(|(_, name)| name)
            .collect())
    }

    /// Physical indices of this alias (`<alias>_v<n>`), as (version, name).
    async fn versions(&self) -> Result<Vec<(u64, String)>, Error> {
        let prefix = format!("{}_v", self.alias());
        // Closed ones too: a closed leftover still owns its name.
        let mut out: Vec<(u64, String)> = self
            .repo
            .list_indices_expanded(&format!("{prefix}*"), "all")
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

    /// The `_aliases` actions that make `to` live and retire `from`. The removes carry
    /// `must_exist`, so the call is a compare-and-set: when `from` no longer holds the aliases
    /// (another process swapped first) nothing is applied.
    pub fn swap_actions(&self, from: Option<&str>, to: &str) -> Vec<AliasAction> {
        let mut actions = Vec::new();
        if let Some(from) = from {
            actions.push(AliasAction::remove_existing(from, self.alias()));
            actions.push(AliasAction::remove_existing(from, self.write_alias()));
        }
        actions.push(AliasAction::add(to, self.alias()));
        actions.push(AliasAction::Add {
            index: to.to_owned(),
            alias: self.write_alias(),
            is_write_index: Some(true),
        });
        actions
    }
}

/// The version number of the live index among `versions`.
fn live_version(versions: &[(u64, String)], live: Option<&str>) -> Option<u64> {
    let live = live?;
    versions
        .iter()
        .find(|(_, name)| name == live)
        .map(|(v, _)| *v)
}
