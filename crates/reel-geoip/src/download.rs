//! Downloads from MaxMind's download service or any URL, with a cache directory.
//!
//! This file holds [`DownloadSource`] (its settings, the check that fetches, verifies and
//! installs a database, and the background loop); the HTTP requests are in `fetch.rs`, the
//! unpacking in `unpack.rs`, the cache directory in `cache.rs` and [`Updater`] in
//! `updater.rs`.

mod cache;
mod fetch;
mod unpack;
mod updater;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_core::{BackgroundTask, Backoff, Jitter, SecretSource};
use sha2::{Digest, Sha256};

use crate::{DatabaseInfo, Error, GeoIp, ReloadOutcome, Slot};
use cache::{CacheLock, Validators, commit, meta_path, stage, sync_dir, write_atomic};
use fetch::redact_url;

pub use updater::Updater;

/// MaxMind's download service.
pub const MAXMIND_BASE_URL: &str = "https://download.maxmind.com";

/// Default limit of a download body: GeoLite2-City is about 35 MB compressed.
const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 256 << 20;

/// Default limit of the unpacked database: GeoLite2-City is about 60 MB, the largest
/// GeoIP2 editions a few hundred MB.
const DEFAULT_MAX_DATABASE_BYTES: u64 = 512 << 20;

#[derive(Clone)]
enum Origin {
    MaxMind {
        account_id: String,
        license_key: SecretSource,
        edition: String,
        base_url: String,
    },
    Url {
        url: String,
        sha256_url: Option<String>,
    },
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxMind {
                account_id,
                license_key,
                edition,
                base_url,
            } => f
                .debug_struct("MaxMind")
                .field("account_id", account_id)
                .field("license_key", license_key)
                .field("edition", edition)
                .field("base_url", &redact_url(base_url))
                .finish(),
            Self::Url { url, sha256_url } => f
                .debug_struct("Url")
                .field("url", &redact_url(url))
                .field("sha256_url", &sha256_url.as_deref().map(redact_url))
                .finish(),
        }
    }
}

/// A database downloaded periodically from MaxMind's download service or a mirror URL.
///
/// Each check sends a conditional `GET` (`If-None-Match` / `If-Modified-Since` from the last
/// download of the same URL, only while a database is loaded); `304 Not Modified` counts as
/// an unchanged check. A new file is verified against its published SHA-256 (always for
/// MaxMind, pinned to the release date of the archive that arrived; with
/// [`sha256_url`](Self::sha256_url) for mirrors), unpacked (`.tar.gz`, `.mmdb.gz` or plain
/// `.mmdb`, recognised by content) within [size limits](Self::max_database_bytes), checked and
/// swapped in by [`GeoIp::replace`], and only then written into the
/// [`cache_dir`](Self::cache_dir), so a restart serves the cached copy at once and a bad
/// download never reaches the cache.
///
/// Network errors, server errors (5xx) and cut-short bodies are retried within a check with a
/// [`Backoff`]. Failures that the same request would repeat (checksum mismatch, no `.mmdb` in
/// the archive, an invalid or wrong-type database, a size limit, 4xx including
/// `429 Too Many Requests`) are not: every download counts against MaxMind's daily quota.
/// Whatever fails, the current database keeps serving and the failure is reported in the slot
/// status. While the slot is still empty, [`spawn`](Self::spawn) retries a transient failure
/// after [`empty_slot_backoff`](Self::empty_slot_backoff) (1 s doubling to 60 s), not after the
/// full interval, so a pod started during an outage serves data seconds after the service
/// returns.
///
/// The cache directory may be shared by several processes (containers on one volume): files
/// are written under unique temporary names created exclusively, fsynced, renamed into place
/// and the directory fsynced, all under an advisory lock (`<name>.lock`, `flock`) so two
/// updaters never write one cache file at once. A cached file that fails its check is moved
/// aside (`<name>.mmdb.corrupt`) and start-up goes on without it.
///
/// Credentials never appear in errors, status, events, logs or `Debug` output: the license
/// key travels in the `Authorization` header, and user info and query values of URLs (except
/// `suffix`, `date` and `edition_id`) are shown as `REDACTED`.
///
/// ```no_run
/// use std::time::Duration;
/// use reel_core::SecretSource;
/// use reel_geoip::{DownloadSource, GeoIp, Slot};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let geoip = GeoIp::new();
/// let city = DownloadSource::maxmind("123456", "env:MAXMIND_LICENSE_KEY".parse()?, "GeoLite2-City")
///     .cache_dir("/var/cache/geoip")
///     .interval(Duration::from_secs(12 * 3600));
/// // GeoLite2-ASN goes to the ASN slot by its edition id.
/// let asn = DownloadSource::maxmind("123456", "env:MAXMIND_LICENSE_KEY".parse()?, "GeoLite2-ASN")
///     .cache_dir("/var/cache/geoip");
/// let _city_task = city.spawn(geoip.clone()); // serves the cached copy, then checks
/// let _asn_task = asn.spawn(geoip.clone());
/// # Ok(()) }
/// ```
///
/// A mirror serving a plain or gzipped `.mmdb`:
///
/// ```no_run
/// use reel_geoip::{DownloadSource, GeoIp};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let geoip = GeoIp::new();
/// let mirror = DownloadSource::url("https://mirror.example.net/GeoLite2-City.mmdb.gz")
///     .sha256_url("https://mirror.example.net/GeoLite2-City.mmdb.gz.sha256")
///     .cache_dir("/var/cache/geoip");
/// mirror.load_cached(&geoip)?; // a corrupt cached copy is moved aside, not an error
/// mirror.check_now(&geoip).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DownloadSource {
    origin: Origin,
    slot: Slot,
    cache_dir: Option<PathBuf>,
    cache_name: Option<String>,
    interval: Duration,
    backoff: Backoff,
    empty_slot_backoff: Backoff,
    refused_retry: Duration,
    timeout: Duration,
    max_download_bytes: u64,
    max_database_bytes: u64,
    client: Option<reqwest::Client>,
    validators: Arc<Mutex<Validators>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The slot an edition id belongs in: City, Country and Enterprise editions in
/// [`Slot::Location`], ASN in [`Slot::Asn`], ISP in [`Slot::Isp`], Anonymous-IP in
/// [`Slot::AnonymousIp`];
/// anything else in a custom slot named after the edition.
pub(crate) fn edition_slot(edition: &str) -> Slot {
    if edition.contains("Anonymous-IP") {
        Slot::AnonymousIp
    } else if edition.contains("ISP") {
        Slot::Isp
    } else if edition.contains("ASN") {
        Slot::Asn
    } else if ["City", "Country", "Enterprise"]
        .iter()
        .any(|t| edition.contains(t))
    {
        Slot::Location
    } else {
        Slot::Custom(edition.to_owned())
    }
}

impl DownloadSource {
    /// MaxMind's download service: `account_id`, a license key (e.g. `env:MAXMIND_LICENSE_KEY`
    /// or `file:/run/secrets/maxmind`) and an edition id such as `GeoLite2-City`,
    /// `GeoLite2-ASN`, `GeoIP2-Anonymous-IP` or `GeoIP2-ISP`.
    ///
    /// The slot follows the edition id: City, Country and Enterprise editions feed
    /// [`Slot::Location`], ASN editions [`Slot::Asn`], ISP editions [`Slot::Isp`], Anonymous-IP
    /// [`Slot::AnonymousIp`], any other edition a custom slot of the same name (add it with
    /// [`GeoIpBuilder::custom_slot`](crate::GeoIpBuilder::custom_slot)). An edition sent to a
    /// slot that cannot hold it is refused with [`Error::Config`] before anything is
    /// downloaded.
    pub fn maxmind(
        account_id: impl Into<String>,
        license_key: SecretSource,
        edition: impl Into<String>,
    ) -> Self {
        let edition = edition.into();
        let slot = edition_slot(&edition);
        Self::with_origin(
            Origin::MaxMind {
                account_id: account_id.into(),
                license_key,
                edition,
                base_url: MAXMIND_BASE_URL.to_owned(),
            },
            slot,
        )
    }

    /// Any URL serving a `.mmdb`, `.mmdb.gz` or `.tar.gz` containing a `.mmdb`; feeds
    /// [`Slot::Location`] unless [`slot`](Self::slot) says otherwise. Credentials in the URL
    /// (user info, query values) are sent but never shown.
    pub fn url(url: impl Into<String>) -> Self {
        Self::with_origin(
            Origin::Url {
                url: url.into(),
                sha256_url: None,
            },
            Slot::Location,
        )
    }

    fn with_origin(origin: Origin, slot: Slot) -> Self {
        Self {
            origin,
            slot,
            cache_dir: None,
            cache_name: None,
            interval: Duration::from_secs(12 * 3600),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
                .with_jitter(Jitter::Full)
                .with_max_retries(5),
            empty_slot_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
                .with_jitter(Jitter::Equal),
            refused_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(300),
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            max_database_bytes: DEFAULT_MAX_DATABASE_BYTES,
            client: None,
            validators: Arc::default(),
        }
    }

    /// The slot to load into.
    pub fn slot(mut self, slot: Slot) -> Self {
        self.slot = slot;
        self
    }

    /// Replaces `https://download.maxmind.com` (a proxy, or a loopback server in tests).
    /// No effect on [`url`](Self::url) sources.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        if let Origin::MaxMind { base_url: b, .. } = &mut self.origin {
            *b = base_url.into().trim_end_matches('/').to_owned();
        }
        self
    }

    /// For [`url`](Self::url) sources: a URL whose body starts with the file's SHA-256 in
    /// hex (the `sha256sum` format). No effect on MaxMind sources, which always verify.
    pub fn sha256_url(mut self, url: impl Into<String>) -> Self {
        if let Origin::Url { sha256_url, .. } = &mut self.origin {
            *sha256_url = Some(url.into());
        }
        self
    }

    /// Keeps the last good database (and its validators) in `dir`. The directory may be
    /// shared by several updaters (see the type's documentation).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The cache file's name without extension (default: the edition id, or the slot name).
    pub fn cache_name(mut self, name: impl Into<String>) -> Self {
        self.cache_name = Some(name.into());
        self
    }

    /// How often [`spawn`](Self::spawn) checks for a new database (default 12 h; GeoLite2
    /// is updated twice a week).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Retry policy within one check (default 1 s to 60 s, full jitter, 5 retries).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Delays between checks in [`spawn`](Self::spawn) while the slot is still empty and the
    /// last check failed transiently (network, 5xx): default 1 s doubling to 60 s, equal
    /// jitter, never more than the [`interval`](Self::interval). Reset by a success.
    pub fn empty_slot_backoff(mut self, backoff: Backoff) -> Self {
        self.empty_slot_backoff = backoff;
        self
    }

    /// The delay in [`spawn`](Self::spawn) after a failure that is not transient (checksum
    /// mismatch, no `.mmdb`, 4xx, 429 quota) while the slot is still empty (default 1 h,
    /// never more than the [`interval`](Self::interval)). With a database loaded, the next
    /// check comes after the interval.
    pub fn refused_retry(mut self, delay: Duration) -> Self {
        self.refused_retry = delay;
        self
    }

    /// Timeout of one request including the body (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest download body accepted (default 256 MiB): refused from `Content-Length`
    /// before reading, or as soon as more arrives.
    pub fn max_download_bytes(mut self, limit: u64) -> Self {
        self.max_download_bytes = limit;
        self
    }

    /// The largest database accepted after decompression (default 512 MiB). Inflation stops
    /// at the limit (a gzip bomb costs at most this much memory); a tar entry whose header
    /// claims more is refused without reading it, and a header is never trusted for an
    /// allocation.
    pub fn max_database_bytes(mut self, limit: u64) -> Self {
        self.max_database_bytes = limit;
        self
    }

    /// Uses this HTTP client (proxies, custom roots); its own timeout settings apply.
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    fn cache_path(&self) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let name = self
            .cache_name
            .clone()
            .unwrap_or_else(|| match &self.origin {
                Origin::MaxMind { edition, .. } => edition.clone(),
                Origin::Url { .. } => self.slot.to_string(),
            });
        Some(dir.join(format!("{name}.mmdb")))
    }

    /// Where the database comes from, credentials redacted: used in status, events, logs
    /// and errors.
    fn describe(&self) -> String {
        match &self.origin {
            Origin::MaxMind {
                edition, base_url, ..
            } => redact_url(&format!("{base_url}/geoip/databases/{edition}/download")),
            Origin::Url { url, .. } => redact_url(url),
        }
    }

    /// Loads the cached copy, if the cache directory has one, so the service can answer
    /// before the first download. `Ok(None)` when there is nothing usable cached.
    ///
    /// A cached file that fails its check (truncated, corrupt, wrong type) is reported in the
    /// slot status, moved aside to `<name>.mmdb.corrupt` with its validators removed, and
    /// `Ok(None)` returned: start-up goes on and the next check downloads a fresh copy.
    /// Errors are for a cache that cannot be read at all (permissions).
    pub fn load_cached(&self, geoip: &GeoIp) -> Result<Option<DatabaseInfo>, Error> {
        let Some(path) = self.cache_path() else {
            return Ok(None);
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        match geoip.replace(&self.slot, bytes, &path.display().to_string()) {
            Ok(info) => {
                let meta = std::fs::read_to_string(meta_path(&path)).unwrap_or_default();
                let validators = Validators::parse(&meta);
                // Only validators recorded for this very file and URL are worth sending.
                *lock(&self.validators) = if validators.sha256.as_deref() == Some(sha.as_str())
                    && validators.url.as_deref() == Some(self.describe().as_str())
                {
                    validators
                } else {
                    Validators::default()
                };
                Ok(Some(info))
            }
            Err(error @ (Error::UnknownSlot(_) | Error::Config(_))) => Err(error),
            Err(error) => {
                let aside = path.with_extension("mmdb.corrupt");
                match std::fs::rename(&path, &aside) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(meta_path(&path));
                        if let Some(dir) = path.parent() {
                            let _ = sync_dir(dir);
                        }
                        tracing::warn!(%error, path = %path.display(), moved_to = %aside.display(),
                            "cached geoip database refused and moved aside; downloading a new one");
                    }
                    Err(io) => tracing::warn!(%error, rename_error = %io, path = %path.display(),
                        "cached geoip database refused and cannot be moved aside"),
                }
                Ok(None)
            }
        }
    }

    /// Refuses an edition the slot cannot hold before any request is made.
    fn preflight(&self, geoip: &GeoIp) -> Result<(), Error> {
        if let Origin::MaxMind { edition, .. } = &self.origin {
            let check = geoip.check(&self.slot)?;
            if !check.accepts(edition) {
                return Err(Error::Config(format!(
                    "edition {edition} does not fit the {slot} slot, which accepts {accepted}; \
                     the edition belongs in the {right} slot (DownloadSource::slot)",
                    slot = self.slot,
                    accepted = check.accepted_description(),
                    right = edition_slot(edition),
                )));
            }
        }
        Ok(())
    }

    /// Checks once for a new database (with retries) and loads it. Returns
    /// [`ReloadOutcome::Loaded`] or [`ReloadOutcome::Unchanged`]; on error the current
    /// database keeps serving and the failure is recorded in the slot status.
    pub async fn check_now(&self, geoip: &GeoIp) -> Result<ReloadOutcome, Error> {
        let result = self.check_once(geoip).await;
        let counted = match &result {
            Ok(ReloadOutcome::Loaded(_)) => "updated",
            Ok(ReloadOutcome::Unchanged) => "not_modified",
            Ok(ReloadOutcome::Failed(_)) | Err(_) => "error",
        };
        crate::metrics::download(&self.edition_label(), counted);
        result
    }

    /// The `edition` label of the downloads metric: the edition id, or for a plain URL the
    /// cache name or the slot's name (never the URL, which may hold credentials).
    fn edition_label(&self) -> String {
        match &self.origin {
            Origin::MaxMind { edition, .. } => edition.clone(),
            Origin::Url { .. } => self
                .cache_name
                .clone()
                .unwrap_or_else(|| self.slot.to_string()),
        }
    }

    /// [`check_now`](Self::check_now) without the downloads metric.
    async fn check_once(&self, geoip: &GeoIp) -> Result<ReloadOutcome, Error> {
        let source = self.describe();
        if let Err(error) = self.preflight(geoip) {
            geoip.report_failure(&self.slot, &source, &error);
            return Err(error);
        }
        let client = self.http_client()?;
        let conditional = geoip.is_loaded(&self.slot);
        let span = tracing::info_span!("geoip_download", slot = %self.slot, url = %source);
        let fetched = tracing::Instrument::instrument(
            self.backoff.retry(
                || self.fetch_once(&client, conditional),
                |error: &Error| error.is_transient(),
            ),
            span,
        )
        .await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(retry) => {
                let error = retry.error;
                geoip.report_failure(&self.slot, &source, &error);
                return Err(error);
            }
        };
        let Some((database, validators)) = fetched else {
            geoip.report_unchanged(&self.slot, &source);
            return Ok(ReloadOutcome::Unchanged);
        };
        let this = self.clone();
        let geoip = geoip.clone();
        let joined = tokio::task::spawn_blocking(move || {
            this.install(&geoip, database, validators, &source)
        })
        .await;
        match joined {
            Ok(result) => result.map(ReloadOutcome::Loaded),
            Err(join) => Err(Error::Config(format!("the reload task failed: {join}"))),
        }
    }

    /// Under the cache lock: writes the candidate to a fresh temporary file, swaps it in if it
    /// passes the checks, renames it over the cached copy and records its validators. Runs on
    /// a blocking thread.
    fn install(
        &self,
        geoip: &GeoIp,
        database: Vec<u8>,
        mut validators: Validators,
        source: &str,
    ) -> Result<DatabaseInfo, Error> {
        validators.sha256 = Some(hex::encode(Sha256::digest(&database)));
        let cache = self.cache_path().and_then(|path| {
            // A read-only or unlockable cache must not stop the update; say so and go on.
            match CacheLock::acquire(&path) {
                Ok(guard) => match stage(&path, &database) {
                    Ok(tmp) => Some((path, tmp, guard)),
                    Err(error) => {
                        tracing::warn!(%error, "cannot write the geoip cache; serving without it");
                        None
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "cannot lock the geoip cache; serving without it");
                    None
                }
            }
        });
        match geoip.replace(&self.slot, database, source) {
            Ok(info) => {
                *lock(&self.validators) = validators.clone();
                if let Some((path, tmp, _guard)) = cache {
                    if let Err(error) = commit(&tmp, &path) {
                        tracing::warn!(%error, path = %path.display(), "cannot update the geoip cache");
                        let _ = std::fs::remove_file(&tmp);
                    } else if let Err(error) =
                        write_atomic(&meta_path(&path), validators.render().as_bytes())
                    {
                        tracing::warn!(%error, "cannot write the geoip cache validators");
                    }
                }
                Ok(info)
            }
            Err(error) => {
                if let Some((_, tmp, _guard)) = cache {
                    let _ = std::fs::remove_file(tmp);
                }
                Err(error)
            }
        }
    }

    /// Checks every [`interval`](Self::interval) in a background task on the current tokio
    /// runtime: loads the cached copy first if the slot is empty, then checks at once.
    ///
    /// While the slot is empty, a transient failure is retried after the
    /// [`empty_slot_backoff`](Self::empty_slot_backoff) delays and any other failure after
    /// [`refused_retry`](Self::refused_retry); once a database serves, checks come every
    /// interval.
    pub fn spawn(self, geoip: GeoIp) -> BackgroundTask {
        let name = format!("reel-geoip download {}", self.describe());
        BackgroundTask::spawn(name, move |shutdown| self.run(geoip, shutdown))
    }

    /// The loop of [`spawn`](Self::spawn).
    async fn run(self, geoip: GeoIp, mut shutdown: reel_core::ShutdownSignal) {
        if !geoip.is_loaded(&self.slot) {
            let this = self.clone();
            let g = geoip.clone();
            let cached = tokio::task::spawn_blocking(move || this.load_cached(&g)).await;
            if let Ok(Err(error)) = cached {
                tracing::warn!(%error, "cached geoip database not usable");
            }
        }
        let mut delays = self.empty_slot_backoff.delays();
        loop {
            // Failures are recorded in the status and logged by check_now.
            let result = self.check_now(&geoip).await;
            let wait = match result {
                Ok(_) => {
                    delays.reset();
                    self.interval
                }
                Err(_) if geoip.is_loaded(&self.slot) => self.interval,
                Err(error) if error.is_transient() => delays
                    .next()
                    .unwrap_or_else(|| self.empty_slot_backoff.max())
                    .min(self.interval),
                Err(_) => self.refused_retry.min(self.interval),
            };
            if !shutdown.sleep(wait).await {
                break;
            }
        }
    }
}
