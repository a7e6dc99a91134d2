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

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::lease::{self, Lease};
use crate::repo::{api_error, encode};
use crate::{
    AliasAction, Document, Error, IndexDefinition, IndexReport, Indexable, Indexer, Progress, Repo,
    WriteResult,
};

/// The `_meta` key holding the definition's fingerprint.
pub const FINGERPRINT_META: &str = "reel_fingerprint";

/// The longest single `_cluster/health` wait (inside the 60 s transport timeout).
const SHARD_WAIT_STEP: Duration = Duration::from_secs(20);

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

    /// How long to wait, before the swap, for the new index's shards to finish initializing
    /// and relocating (default 120 s; `Duration::ZERO` skips the wait). Replicas are added
    /// after the backfill; swapping before they recover would send every search to the
    /// primaries alone. If the wait times out the migration fails and reads stay on the old
    /// index.
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

    /// Migrates only when the live index is missing or its fingerprint differs from the
    /// definition's.
    ///
    /// Safe to call from every instance of a service at once: one migrates while the others
    /// wait for it and then return [`Outcome::UpToDate`] (see the module docs).
    pub async fn ensure_current<S, E>(&self, source: S) -> Result<Outcome, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        if let Some(index) = self.up_to_date().await? {
            self.clean_up_crashed(&index).await?;
            return Ok(Outcome::UpToDate { index });
        }
        let span = tracing::info_span!("migrate", alias = %self.alias());
        async {
            let lease = Lease::acquire(&self.repo, self.alias(), self.lease_ttl).await?;
            // Another instance may have migrated while this one waited for the lease.
            let result = match self.up_to_date().await {
                Ok(Some(index)) => Ok(Outcome::UpToDate { index }),
                Ok(None) => self.migrate_locked(source, &lease).await,
                Err(e) => Err(e),
            };
            lease.release().await;
            result
        }
        .instrument(span)
        .await
    }

    /// Deletes the index of a migration that died after adding it to the write alias, so
    /// writers stop dual-writing into it. Runs under the lease (waiting for a live
    /// migration, or taking over a dead one's), and only when the write alias still holds
    /// an index besides the live one afterwards.
    async fn clean_up_crashed(&self, live: &str) -> Result<(), Error> {
        let leftovers = |targets: Vec<String>, live: &str| -> Vec<String> {
            targets.into_iter().filter(|t| t != live).collect()
        };
        let targets = self.repo.alias_indices(&self.write_alias()).await?;
        if leftovers(targets, live).is_empty() {
            return Ok(());
        }
        let span = tracing::info_span!("clean_up_migration", alias = %self.alias());
        async {
            let lease = Lease::acquire(&self.repo, self.alias(), self.lease_ttl).await?;
            let result = async {
                // A migration may have finished while this one waited for the lease.
                let Some(live) = self.current_index().await? else {
                    return Ok(());
                };
                let targets = self.repo.alias_indices(&self.write_alias()).await?;
                for index in leftovers(targets, &live) {
                    self.check_lease(&lease, "deleting a crashed migration's index")
                        .await?;
                    tracing::warn!(
                        index = %index,
                        "deleting the index of a migration that crashed; writes stop going to it"
                    );
                    self.repo.delete_index(&index).await?;
                }
                lease::clear_tombstones(&self.repo, self.alias()).await
            }
            .await;
            lease.release().await;
            result
        }
        .instrument(span)
        .await
    }

    /// The live index, if its fingerprint is the definition's.
    async fn up_to_date(&self) -> Result<Option<String>, Error> {
        let Some(index) = self.current_index().await? else {
            return Ok(None);
        };
        let (live, version) = self.meta_of(&index).await?;
        if version > self.schema_version {
            tracing::info!(
                index = %index,
                live_version = version,
                own_version = self.schema_version,
                "the live index has a newer schema; this release leaves it alone"
            );
            return Ok(Some(index));
        }
        Ok((live.as_deref() == Some(self.definition.fingerprint().as_str())).then_some(index))
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

    /// Builds a new index from `source` and moves the aliases to it (see the module docs).
    ///
    /// Waits for a migration of the same alias running elsewhere, then migrates anyway (use
    /// [`ensure_current`](Self::ensure_current) to migrate only when needed).
    pub async fn migrate<S, E>(&self, source: S) -> Result<Outcome, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        let span = tracing::info_span!("migrate", alias = %self.alias());
        async {
            let lease = Lease::acquire(&self.repo, self.alias(), self.lease_ttl).await?;
            let result = self.migrate_locked(source, &lease).await;
            lease.release().await;
            result
        }
        .instrument(span)
        .await
    }

    /// Fails if the lease was lost: another instance may be migrating now.
    async fn check_lease(&self, lease: &Lease, step: &str) -> Result<(), Error> {
        if !lease.trusted().await {
            return Err(self.error(format!(
                "lost the migration lease before {step} (renewals failed for longer than its TTL, or another instance took it over); reads stay on the old index"
            )));
        }
        Ok(())
    }

    async fn migrate_locked<S, E>(&self, source: S, lease: &Lease) -> Result<Outcome, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        let from = self.current_index().await?;
        if let Some(live) = &from {
            let (_, version) = self.meta_of(live).await?;
            if version > self.schema_version {
                return Err(self.error(format!(
                    "the live index {live} has schema version {version}, newer than this \
                     release's {}; schema versions only move forward",
                    self.schema_version
                )));
            }
        }
        let versions = self.versions().await?;
        // Leftovers of an interrupted migration are newer than the live index and not behind
        // the read alias, so nobody reads them; older ones were kept on purpose (`keep_old`).
        let live_version = live_version(&versions, from.as_deref());
        for (v, name) in &versions {
            if live_version.is_none_or(|live| *v > live) {
                tracing::warn!(index = %name, "deleting the index of an interrupted migration");
                // Also takes it off the write alias, where the interrupted run had added it.
                self.repo.delete_index(name).await?;
            }
        }
        lease::clear_tombstones(&self.repo, self.alias()).await?;
        let phase = crate::metrics::Phase::new(self.alias());
        phase.set(1);
        let next = versions.last().map_or(1, |(v, _)| v + 1);
        let to = format!("{}_v{}", self.alias(), next);

        // Create with loading settings; the fingerprint is the final definition's.
        let mut body = self.definition.body();
        if let Some(meta) = body
            .pointer_mut("/mappings/_meta")
            .and_then(Value::as_object_mut)
        {
            meta.insert(SCHEMA_VERSION_META.into(), self.schema_version.into());
        }
        if let Some(settings) = body.get_mut("settings").and_then(Value::as_object_mut) {
            for key in ["refresh_interval", "number_of_replicas"] {
                remove_setting(settings, key);
            }
            settings.insert("refresh_interval".into(), "-1".into());
            settings.insert("number_of_replicas".into(), 0.into());
        }
        self.repo.create_index_with_body(&to, &body).await?;
        tracing::info!(index = %to, "created; backfilling");

        // From here writes go to both indices; deletes leave tombstones for the new one.
        let write_add = [
            AliasAction::Add {
                index: to.clone(),
                alias: self.write_alias(),
                is_write_index: None,
            },
            AliasAction::add(&to, self.next_alias()),
        ];
        let report = match self
            .build(&to, from.as_deref(), write_add, source, lease, &phase)
            .await
        {
            Ok(report) => report,
            Err(e) => {
                phase.set(0);
                // Off the write alias with it, so live writes stop going to a dead end.
                if let Err(delete) = self.repo.delete_index(&to).await {
                    tracing::warn!(index = %to, error = %delete, "could not delete the failed migration's index; the next migration deletes it");
                }
                return Err(e);
            }
        };
        if let Err(e) = lease::clear_tombstones(&self.repo, self.alias()).await {
            tracing::warn!(error = %e, "could not clear the migration's tombstones; the next migration clears them");
        }

        phase.set(6);
        let deleted_old = match (&from, self.keep_old) {
            (Some(old), false) => self.repo.delete_index(old).await,
            _ => Ok(false),
        };
        phase.set(0);
        let deleted_old = deleted_old?;
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
        write_add: [AliasAction; 2],
        source: S,
        lease: &Lease,
        phase: &crate::metrics::Phase,
    ) -> Result<IndexReport, Error>
    where
        S: Stream<Item = Result<D, E>> + Send,
        E: Into<BoxError>,
    {
        self.repo.update_aliases(&write_add).await?;
        phase.set(2);
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
        self.check_lease(lease, "re-applying deletes").await?;
        phase.set(3);
        let mut deleted = lease::tombstones(&self.repo, self.alias()).await?;
        deleted.sort_unstable();
        deleted.dedup();
        if !deleted.is_empty() {
            tracing::info!(
                count = deleted.len(),
                "re-applying deletes made during the backfill"
            );
            let ops = deleted.into_iter().map(crate::BulkOp::delete).collect();
            let r = self.repo.bulk(to, ops).await?;
            if r.failed().next().is_some() {
                return Err(self.error(format!(
                    "re-applying deletes failed: {:?}",
                    r.failed().next()
                )));
            }
        }
        phase.set(4);
        // Restore the definition's settings (or the server defaults).
        let settings = self.definition.settings();
        let refresh = setting(settings, "refresh_interval")
            .cloned()
            .unwrap_or_else(|| "1s".into());
        let replicas = setting(settings, "number_of_replicas")
            .cloned()
            .unwrap_or_else(|| 1.into());
        self.repo
            .put_settings(
                to,
                &json!({"index": {"refresh_interval": refresh, "number_of_replicas": replicas}}),
            )
            .await?;
        self.repo.refresh(to).await?;
        self.wait_for_shards(to).await?;
        self.check_lease(lease, "moving the aliases").await?;
        phase.set(5);
        let mut swap = self.swap_actions(from, to);
        swap.push(AliasAction::remove_existing(to, self.next_alias()));
        self.repo.update_aliases(&swap).await.map_err(|e| {
            self.error(format!(
                "moving the aliases from {from:?} to {to} failed: {e}"
            ))
        })?;
        // Read the aliases back: both must point at `to` alone.
        for alias in [self.alias().to_owned(), self.write_alias()] {
            let live = self.repo.alias_indices(&alias).await?;
            if live != [to] {
                return Err(self.error(format!(
                    "after the swap `{alias}` points at {live:?}, not only at {to}; repair it \
                     with Repo::update_aliases before writing"
                )));
            }
        }
        Ok(report)
    }

    /// Waits until no shard of `index` is initializing or relocating (see
    /// [`shard_wait`](Self::shard_wait)).
    async fn wait_for_shards(&self, index: &str) -> Result<(), Error> {
        if self.shard_wait.is_zero() {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct Health {
            #[serde(default)]
            timed_out: bool,
            #[serde(default)]
            initializing_shards: u64,
            #[serde(default)]
            relocating_shards: u64,
        }
        let op = format!("wait for the shards of {index}");
        // Each health call waits at most SHARD_WAIT_STEP, well inside the client's transport
        // timeout; the loop waits `shard_wait` in all.
        let deadline = tokio::time::Instant::now() + self.shard_wait;
        loop {
            let step = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(SHARD_WAIT_STEP);
            let timeout = format!("{}ms", step.as_millis().max(1));
            let (status, bytes) = self
                .repo
                .send_json(
                    &op,
                    elasticsearch::http::Method::Get,
                    &format!("/_cluster/health/{}", encode(index)),
                    &[
                        ("wait_for_status", "yellow".into()),
                        ("wait_for_no_initializing_shards", "true".into()),
                        ("wait_for_no_relocating_shards", "true".into()),
                        ("timeout", timeout),
                    ],
                    None,
                )
                .await?;
            // Elasticsearch answers 408 when the wait timed out.
            if !(200..300).contains(&status) && status != 408 {
                return Err(api_error(&op, status, &bytes));
            }
            let health: Health = serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                what: op.clone(),
                reason: e.to_string(),
            })?;
            if !health.timed_out && status != 408 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.error(format!(
                    "{index} still had {} initializing and {} relocating shards after {:?}; reads stay on the old index (raise `shard_wait` or check the cluster's allocation)",
                    health.initializing_shards, health.relocating_shards, self.shard_wait
                )));
            }
        }
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

/// An index setting written flat (`refresh_interval`), dotted (`index.refresh_interval`) or
/// nested (`{"index": {"refresh_interval": ..}}`).
fn setting<'a>(settings: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    settings
        .get(key)
        .or_else(|| settings.get(&format!("index.{key}")))
        .or_else(|| settings.get("index").and_then(|index| index.get(key)))
}

/// Removes every spelling of a setting (see [`setting`]).
fn remove_setting(settings: &mut serde_json::Map<String, Value>, key: &str) {
    settings.remove(key);
    settings.remove(&format!("index.{key}"));
    if let Some(index) = settings.get_mut("index").and_then(Value::as_object_mut) {
        index.remove(key);
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
