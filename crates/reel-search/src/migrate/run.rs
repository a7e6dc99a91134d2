//! A migration run: the lease, the new index built and backfilled, the deletes made meanwhile
//! re-applied, the shards waited for, the one alias swap, and the clean-up after a crash.
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tracing::Instrument;

use super::{BoxError, Outcome, SCHEMA_VERSION_META, VersionedIndex, live_version};
use crate::lease::{self, Lease};
use crate::repo::{api_error, encode};
use crate::{AliasAction, Error, IndexReport, Indexable, Indexer};

/// The longest single `_cluster/health` wait (inside the 60 s transport timeout).
const SHARD_WAIT_STEP: Duration = Duration::from_secs(20);

impl<D: Indexable + Send + 'static> VersionedIndex<D> {
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
        // No wait for the primaries here: `build` waits for them within `shard_wait`.
        self.repo.create_index_waiting(&to, &body, Some(0)).await?;
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
        // Until its primaries start, every write to the new index would wait (a minute, by
        // default) for them: live writes must not reach it before then.
        self.wait_for_shards(to).await?;
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
        // A refresh also waits for unstarted primaries: wait for the shards first, within
        // `shard_wait`.
        self.wait_for_shards(to).await?;
        self.repo.refresh(to).await?;
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
            status: String,
            #[serde(default)]
            unassigned_shards: u64,
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
                    "{index} was still {} after {:?} of `shard_wait`, with {} unassigned, {} initializing and {} relocating shards; reads stay on the old index (raise `shard_wait`, or check the cluster's allocation with `GET _cluster/allocation/explain`)",
                    if health.status.is_empty() { "not ready" } else { &health.status },
                    self.shard_wait,
                    health.unassigned_shards,
                    health.initializing_shards,
                    health.relocating_shards
                )));
            }
        }
    }
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
