//! The migration lease: one process at a time migrates an alias, across every instance of a
//! service.
//!
//! The lease is a document (`lease`) in the alias's state index (`<alias>_migration`), written
//! with `_create` and renewed with `if_seq_no`/`if_primary_term`, so every change is a
//! compare-and-set on the server. A waiting process never compares clocks: it takes a lease
//! over only after watching its sequence number stay unchanged for a whole TTL on its own
//! monotonic clock, so clock skew between hosts cannot make a live lease look expired. The
//! holder, for its part, trusts its lease for only half a TTL after its last confirmed write, so
//! it has stopped acting on it well before any waiter may take it over.
//!
//! The same index holds tombstones: ids deleted while a migration backfills, written by
//! whichever process deleted them and re-applied to the new index before the swap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use elasticsearch::http::Method;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::repo::{api_error, encode};
use crate::{Error, Query, Repo, SearchRequest};

/// The id of the lease document.
const LEASE_ID: &str = "lease";

/// The state index of `alias`.
pub(crate) fn state_index(alias: &str) -> String {
    format!("{alias}_migration")
}

/// A server-side version: `(seq_no, primary_term)`.
type Version = (u64, u64);

#[derive(Deserialize)]
struct Written {
    #[serde(rename = "_seq_no")]
    seq_no: u64,
    #[serde(rename = "_primary_term")]
    primary_term: u64,
}

#[derive(Deserialize)]
struct Got {
    #[serde(default)]
    found: bool,
    #[serde(rename = "_seq_no")]
    seq_no: Option<u64>,
    #[serde(rename = "_primary_term")]
    primary_term: Option<u64>,
    #[serde(rename = "_source")]
    source: Option<Value>,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// A process-unique name for log lines and for the lease's `owner` field.
fn owner_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "pid {} #{} ({nanos:x})",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Creates the state index unless it exists.
pub(crate) async fn ensure_state_index(repo: &Repo, alias: &str) -> Result<String, Error> {
    let index = state_index(alias);
    if repo.index_exists(&index).await? {
        return Ok(index);
    }
    let body = json!({
        "settings": {"number_of_shards": 1},
        "mappings": {
            "dynamic": false,
            "properties": {
                "kind": {"type": "keyword"},
                "doc_id": {"type": "keyword"},
                "owner": {"type": "keyword"},
            }
        }
    });
    match repo.create_index_with_body(&index, &body).await {
        Ok(()) => Ok(index),
        // Another process created it between the check and the create.
        Err(Error::Api { kind, .. }) if kind == "resource_already_exists_exception" => Ok(index),
        Err(e) => Err(e),
    }
}

fn lease_body(owner: &str, beat: u64) -> Value {
    json!({"kind": "lease", "owner": owner, "beat": beat, "written_at_ms": unix_ms()})
}

/// `_create`s the lease; `None` when somebody holds it.
async fn create(repo: &Repo, index: &str, owner: &str) -> Result<Option<Version>, Error> {
    let op = format!("create the migration lease in {index}");
    let path = format!("/{}/_create/{LEASE_ID}", encode(index));
    let (status, bytes) = repo
        .send_json(
            &op,
            Method::Put,
            &path,
            &[("refresh", "true".into())],
            Some(&lease_body(owner, 0)),
        )
        .await?;
    match status {
        200..=299 => {
            let w: Written = decode(&op, &bytes)?;
            Ok(Some((w.seq_no, w.primary_term)))
        }
        409 => Ok(None),
        _ => Err(api_error(&op, status, &bytes)),
    }
}

/// Overwrites the lease if it is still at `version`; `None` when it changed or vanished.
async fn put_if(
    repo: &Repo,
    index: &str,
    owner: &str,
    beat: u64,
    version: Version,
) -> Result<Option<Version>, Error> {
    let op = format!("renew the migration lease in {index}");
    let path = format!("/{}/_doc/{LEASE_ID}", encode(index));
    let (status, bytes) = repo
        .send_json(
            &op,
            Method::Put,
            &path,
            &[
                ("if_seq_no", version.0.to_string()),
                ("if_primary_term", version.1.to_string()),
                ("refresh", "true".into()),
            ],
            Some(&lease_body(owner, beat)),
        )
        .await?;
    match status {
        200..=299 => {
            let w: Written = decode(&op, &bytes)?;
            Ok(Some((w.seq_no, w.primary_term)))
        }
        404 | 409 => Ok(None),
        _ => Err(api_error(&op, status, &bytes)),
    }
}

/// The lease's version and owner, if somebody holds it.
async fn get(repo: &Repo, index: &str) -> Result<Option<(Version, String)>, Error> {
    let op = format!("read the migration lease in {index}");
    let path = format!("/{}/_doc/{LEASE_ID}", encode(index));
    let (status, bytes) = repo.send_json(&op, Method::Get, &path, &[], None).await?;
    match status {
        404 => Ok(None),
        200..=299 => {
            let got: Got = decode(&op, &bytes)?;
            let (true, Some(seq_no), Some(term)) = (got.found, got.seq_no, got.primary_term) else {
                return Ok(None);
            };
            let owner = got
                .source
                .as_ref()
                .and_then(|s| s.get("owner"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned();
            Ok(Some(((seq_no, term), owner)))
        }
        _ => Err(api_error(&op, status, &bytes)),
    }
}

/// Deletes the lease if it is still at `version`; `false` when it changed or vanished.
async fn delete_if(repo: &Repo, index: &str, version: Version) -> Result<bool, Error> {
    let op = format!("release the migration lease in {index}");
    let path = format!("/{}/_doc/{LEASE_ID}", encode(index));
    let (status, bytes) = repo
        .send_json(
            &op,
            Method::Delete,
            &path,
            &[
                ("if_seq_no", version.0.to_string()),
                ("if_primary_term", version.1.to_string()),
                ("refresh", "true".into()),
            ],
            None,
        )
        .await?;
    match status {
        200..=299 => Ok(true),
        404 | 409 => Ok(false),
        _ => Err(api_error(&op, status, &bytes)),
    }
}

/// What the holder and its heartbeat task share.
#[derive(Debug)]
struct Held {
    /// The lease document's version after our last write.
    version: Version,
    /// When the request of that write was SENT (it may have been applied at once, so a
    /// waiter may count its TTL from then).
    confirmed: Instant,
}

/// A held lease, renewed in the background until released or dropped.
pub(crate) struct Lease {
    repo: Repo,
    index: String,
    owner: String,
    ttl: Duration,
    held: Arc<Mutex<Held>>,
    lost: Arc<AtomicBool>,
    stop: Arc<tokio::sync::Notify>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("index", &self.index)
            .field("owner", &self.owner)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Takes the lease of `alias`, waiting while another live process holds it and taking over
    /// one whose holder stopped renewing it for `ttl`.
    pub(crate) async fn acquire(repo: &Repo, alias: &str, ttl: Duration) -> Result<Self, Error> {
        let index = ensure_state_index(repo, alias).await?;
        let owner = owner_id();
        let poll = (ttl / 20).clamp(Duration::from_millis(20), Duration::from_secs(1));
        // The version last seen and when (on this process's clock) it was first seen.
        let mut seen: Option<(Version, Instant)> = None;
        let mut announced = false;
        loop {
            // Trust is measured from the request, not the answer: the write may have been
            // applied the moment it was sent.
            let sent = Instant::now();
            if let Some(version) = create(repo, &index, &owner).await? {
                return Ok(Self::start(repo, index, owner, version, ttl, sent));
            }
            let Some((version, holder)) = get(repo, &index).await? else {
                // Released between the create and the read: try again at once.
                seen = None;
                continue;
            };
            if holder == owner {
                // Our own `_create` was applied but its answer was lost and the resend found
                // it: the lease is ours (waiting a TTL to take it over from ourselves would
                // stall every instance).
                tracing::debug!(alias, "the migration lease is ours (an answer was lost)");
                return Ok(Self::start(repo, index, owner, version, ttl, sent));
            }
            match seen {
                Some((v, since)) if v == version => {
                    if since.elapsed() >= ttl {
                        let sent = Instant::now();
                        if let Some(new) = put_if(repo, &index, &owner, 0, version).await? {
                            tracing::warn!(
                                %holder, ttl = ?ttl, alias,
                                "took over a migration lease its holder stopped renewing"
                            );
                            return Ok(Self::start(repo, index, owner, new, ttl, sent));
                        }
                        // Somebody renewed or took it first.
                        seen = None;
                        continue;
                    }
                }
                _ => seen = Some((version, Instant::now())),
            }
            if !announced {
                tracing::info!(%holder, alias, "another process is migrating; waiting for it");
                announced = true;
            }
            tokio::time::sleep(poll).await;
        }
    }

    fn start(
        repo: &Repo,
        index: String,
        owner: String,
        version: Version,
        ttl: Duration,
        sent: Instant,
    ) -> Self {
        let held = Arc::new(Mutex::new(Held {
            version,
            confirmed: sent,
        }));
        let lost = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(tokio::sync::Notify::new());
        let heartbeat = tokio::spawn(heartbeat(
            repo.clone(),
            index.clone(),
            owner.clone(),
            held.clone(),
            lost.clone(),
            stop.clone(),
            ttl,
        ));
        Self {
            repo: repo.clone(),
            index,
            owner,
            ttl,
            held,
            lost,
            stop,
            heartbeat: Some(heartbeat),
        }
    }

    /// Whether the lease can no longer be trusted: another process took it over, or no
    /// renewal was confirmed for half a TTL (a waiter may take it over after a whole one).
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst) || lock(&self.held).confirmed.elapsed() >= self.ttl / 2
    }

    /// Whether the lease can be trusted now, waiting up to a TTL for a renewal to restore trust
    /// when the last one is more than half a TTL old (a slow answer); `false` once it is lost.
    pub(crate) async fn trusted(&self) -> bool {
        let deadline = Instant::now() + self.ttl;
        loop {
            if !self.is_lost() {
                return true;
            }
            if self.lost.load(Ordering::SeqCst) || Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep((self.ttl / 20).max(Duration::from_millis(5))).await;
        }
    }

    /// Stops renewing and deletes the lease (if it is still ours).
    pub(crate) async fn release(mut self) {
        if let Some(task) = self.heartbeat.take() {
            // Let a renewal in flight finish, so the delete below names the current version.
            self.stop.notify_one();
            let _ = task.await;
        }
        let version = lock(&self.held).version;
        match delete_if(&self.repo, &self.index, version).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(index = %self.index, "the migration lease was taken over before it was released")
            }
            Err(e) => {
                tracing::warn!(index = %self.index, error = %e, "could not release the migration lease; it expires after its TTL")
            }
        }
    }
}

impl Drop for Lease {
    /// A lease dropped without [`Lease::release`] (a cancelled migration) is released in the
    /// background, so the next migration need not wait for it to expire.
    fn drop(&mut self) {
        let Some(task) = self.heartbeat.take() else {
            return;
        };
        self.stop.notify_one();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (repo, index, held) =
                    (self.repo.clone(), self.index.clone(), self.held.clone());
                runtime.spawn(async move {
                    let _ = task.await;
                    let version = lock(&held).version;
                    let _ = delete_if(&repo, &index, version).await;
                });
            }
            Err(_) => task.abort(),
        }
    }
}

fn lock(held: &Mutex<Held>) -> std::sync::MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Renews the lease every sixth of its TTL (so two renewals may fail before the holder stops
/// trusting it at half a TTL) until stopped or lost.
///
/// Each renewal is trusted from the moment its request was sent, so one answered only after
/// half a TTL restores no trust: a waiter may have taken the lease over meanwhile, and only
/// the next renewal's compare-and-set can tell. A renewal
/// whose compare-and-set fails is checked against the owner: when the lease document names
/// this holder, an earlier copy of the same renewal was applied and its answer lost (the
/// client resent it), so the lease is still ours at the version read back.
async fn heartbeat(
    repo: Repo,
    index: String,
    owner: String,
    held: Arc<Mutex<Held>>,
    lost: Arc<AtomicBool>,
    stop: Arc<tokio::sync::Notify>,
    ttl: Duration,
) {
    let period = ttl / 6;
    let mut beat = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = stop.notified() => return,
        }
        beat += 1;
        let current = lock(&held).version;
        let sent = Instant::now();
        let renewed = match put_if(&repo, &index, &owner, beat, current).await {
            Ok(None) => match get(&repo, &index).await {
                Ok(Some((version, holder))) if holder == owner => {
                    tracing::debug!(%index, "a lease renewal's answer was lost; the lease is still ours");
                    Ok(Some(version))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            },
            other => other,
        };
        match renewed {
            Ok(Some(new)) => {
                if sent.elapsed() >= ttl / 2 {
                    tracing::warn!(
                        %index, took = ?sent.elapsed(), ttl = ?ttl,
                        "a migration lease renewal was answered after half its TTL; not trusting the lease until the next renewal"
                    );
                }
                *lock(&held) = Held {
                    version: new,
                    confirmed: sent,
                };
            }
            Ok(None) => {
                tracing::error!(%index, "the migration lease was taken over by another process");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(%index, error = %e, "could not renew the migration lease");
                if lock(&held).confirmed.elapsed() >= ttl / 2 {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

/// Records that `id` was deleted while a migration of `alias` backfills.
pub(crate) async fn record_tombstone(repo: &Repo, alias: &str, id: &str) -> Result<(), Error> {
    let index = state_index(alias);
    repo.index_json(
        &index,
        &format!("t:{id}"),
        &json!({"kind": "tombstone", "doc_id": id}),
    )
    .await?;
    Ok(())
}

/// The ids recorded by [`record_tombstone`].
pub(crate) async fn tombstones(repo: &Repo, alias: &str) -> Result<Vec<String>, Error> {
    let index = state_index(alias);
    repo.refresh(&index).await?;
    let request = SearchRequest::new().query(Query::term("kind", "tombstone"));
    let mut hits = repo.scan::<Value>(&index, request, 1000);
    let mut ids = Vec::new();
    while let Some(hit) = hits.next().await {
        let hit = hit?;
        if let Some(id) = hit
            .source
            .as_ref()
            .and_then(|s| s.get("doc_id"))
            .and_then(Value::as_str)
        {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// Removes every tombstone (before a migration starts, and after it ends).
pub(crate) async fn clear_tombstones(repo: &Repo, alias: &str) -> Result<(), Error> {
    repo.delete_by_query(&state_index(alias), Query::term("kind", "tombstone").into())
        .await?;
    Ok(())
}
