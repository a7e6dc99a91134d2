//! Downloads from MaxMind's download service or any URL, with a cache directory.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reel_core::{BackgroundTask, Backoff, Jitter, SecretSource};
use sha2::{Digest, Sha256};

use crate::{DatabaseInfo, Error, GeoIp, ReloadOutcome, Slot};

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

/// Validators of the last download, sent back as `If-None-Match` / `If-Modified-Since`.
///
/// They are tied to the URL they came from and to the cached file they describe: after a
/// mirror change, or when the cached file is not the one they were recorded for (another
/// updater replaced it, or it was moved aside), they are not sent, so a stale validator can
/// never keep an old database alive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Validators {
    /// The URL (credentials redacted) the validators came from.
    url: Option<String>,
    /// SHA-256 of the `.mmdb` they describe.
    sha256: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    fn parse(text: &str) -> Self {
        let mut v = Self::default();
        for line in text.lines() {
            if let Some(url) = line.strip_prefix("url: ") {
                v.url = Some(url.to_owned());
            } else if let Some(sha) = line.strip_prefix("sha256: ") {
                v.sha256 = Some(sha.to_owned());
            } else if let Some(etag) = line.strip_prefix("etag: ") {
                v.etag = Some(etag.to_owned());
            } else if let Some(date) = line.strip_prefix("last-modified: ") {
                v.last_modified = Some(date.to_owned());
            }
        }
        v
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in [
            ("url", &self.url),
            ("sha256", &self.sha256),
            ("etag", &self.etag),
            ("last-modified", &self.last_modified),
        ] {
            if let Some(value) = value {
                out.push_str(&format!("{name}: {value}\n"));
            }
        }
        out
    }
}

/// A database downloaded periodically from MaxMind's download service or a mirror URL.
///
/// Each check sends a conditional `GET` (`If-None-Match` / `If-Modified-Since` from the last
/// download, only while a database is loaded); `304 Not Modified` counts as an unchanged
/// check. A new file is verified against its published SHA-256 (always for MaxMind, with
/// [`sha256_url`](Self::sha256_url) for mirrors), unpacked (`.tar.gz`, `.mmdb.gz` or plain
/// `.mmdb`, recognised by content), checked and swapped in by [`GeoIp::replace`], and only
/// then written atomically into the [`cache_dir`](Self::cache_dir), so a restart serves the
/// cached copy at once and a bad download never reaches the cache. Network errors, server
/// errors, cut-short bodies and checksum mismatches are retried with a [`Backoff`]; whatever
/// fails, the current database keeps serving and the failure is reported in the slot status.
///
/// ```no_run
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use reel_core::SecretSource;
/// use reel_geoip::{DownloadSource, GeoIp, Slot};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let geoip = GeoIp::new();
/// let city = DownloadSource::maxmind("123456", "env:MAXMIND_LICENSE_KEY".parse()?, "GeoLite2-City")
///     .cache_dir("/var/cache/geoip")
///     .interval(Duration::from_secs(12 * 3600));
/// let asn = DownloadSource::maxmind("123456", "env:MAXMIND_LICENSE_KEY".parse()?, "GeoLite2-ASN")
///     .slot(Slot::Asn)
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
/// mirror.load_cached(&geoip)?;
/// mirror.check_now(&geoip).await?;
/// # Ok(()) }
/// ```
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

    fn http_client(&self) -> Result<reqwest::Client, Error> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("reel-geoip/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
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

    /// The request URLs (the download, its checksum file) and Basic credentials.
    fn urls(&self) -> Result<Urls, Error> {
        Ok(match &self.origin {
            Origin::MaxMind {
                account_id,
                license_key,
                edition,
                base_url,
            } => Urls {
                download: format!("{base_url}/geoip/databases/{edition}/download?suffix=tar.gz"),
                sha256: Some(format!(
                    "{base_url}/geoip/databases/{edition}/download?suffix=tar.gz.sha256"
                )),
                auth: Some((account_id.clone(), license_key.resolve()?)),
                pin_date: true,
            },
            Origin::Url { url, sha256_url } => Urls {
                download: url.clone(),
                sha256: sha256_url.clone(),
                auth: None,
                pin_date: false,
            },
        })
    }

    /// One attempt: `None` for 304, otherwise the unpacked database and its validators.
    async fn fetch_once(
        &self,
        client: &reqwest::Client,
        conditional: bool,
    ) -> Result<Option<(Vec<u8>, Validators)>, Error> {
        let urls = self.urls()?;
        let shown = redact_url(&urls.download);
        let mut request = client.get(&urls.download);
        if let Some((user, key)) = &urls.auth {
            request = request.basic_auth(user, Some(key.expose()));
        }
        if conditional {
            let validators = lock(&self.validators).clone();
            if validators.url.as_deref() == Some(self.describe().as_str()) {
                if let Some(etag) = validators.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(date) = validators.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
                }
            }
        }
        let span = request_span(&urls.download, &shown);
        let sent = tracing::Instrument::instrument(request.send(), span.clone()).await;
        let mut response = sent
            .map_err(|e| network(&shown, e))
            .inspect_err(|e| record_error(&span, e))?;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            let error = status_error(&shown, status.as_u16());
            record_error(&span, &error);
            return Err(error);
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            url: Some(self.describe()),
            sha256: None,
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let release_date = header(reqwest::header::CONTENT_DISPOSITION)
            .as_deref()
            .and_then(release_date);
        let too_large = |what: &str| Error::TooLarge {
            what: what.to_owned(),
            limit: self.max_download_bytes,
            hint: " (raise DownloadSource::max_download_bytes if the file is genuine)",
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_download_bytes)
        {
            return Err(too_large(&shown));
        }
        let mut body = Vec::new();
        let mut hasher = Sha256::new();
        while let Some(chunk) = tracing::Instrument::instrument(response.chunk(), span.clone())
            .await
            .map_err(|e| network(&shown, e))
            .inspect_err(|e| record_error(&span, e))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_download_bytes {
                let error = too_large(&shown);
                record_error(&span, &error);
                return Err(error);
            }
            hasher.update(&chunk);
            body.extend_from_slice(&chunk);
        }
        if let Some(mut sha_url) = urls.sha256 {
            if urls.pin_date {
                // The checksum of the release that arrived, not of one published since.
                if let Some(date) = &release_date {
                    sha_url = sha_url.replacen("?suffix=", &format!("?date={date}&suffix="), 1);
                }
            }
            let sha_shown = redact_url(&sha_url);
            let mut request = client.get(&sha_url);
            if let Some((user, key)) = &urls.auth {
                request = request.basic_auth(user, Some(key.expose()));
            }
            let sha_span = request_span(&sha_url, &sha_shown);
            let sent = tracing::Instrument::instrument(request.send(), sha_span.clone()).await;
            let mut response = sent
                .map_err(|e| network(&sha_shown, e))
                .inspect_err(|e| record_error(&sha_span, e))?;
            sha_span.record("http.response.status_code", response.status().as_u16());
            if !response.status().is_success() {
                let error = status_error(&sha_shown, response.status().as_u16());
                record_error(&sha_span, &error);
                return Err(error);
            }
            // A checksum file is one line; read at most 4 KiB of it.
            let mut text = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| network(&sha_shown, e))? {
                text.extend_from_slice(&chunk[..chunk.len().min(4096 - text.len().min(4096))]);
                if text.len() >= 4096 {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&text);
            let expected = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let actual = hex::encode(hasher.finalize());
            if expected != actual {
                let error = Error::Checksum {
                    url: shown,
                    expected,
                    actual,
                };
                record_error(&span, &error);
                return Err(error);
            }
        }
        let database = unpack(&body, &shown, self.max_database_bytes)
            .inspect_err(|e| record_error(&span, e))?;
        Ok(Some((database, validators)))
    }
}

/// The span of one HTTP request of a download, with OpenTelemetry's HTTP client fields:
/// `http.response.status_code` is recorded when the answer arrives and `error.type` on
/// failure (the status code for an HTTP error, else the error's kind). `url.full` is the
/// redacted URL; credentials never reach a span.
fn request_span(url: &str, shown: &str) -> tracing::Span {
    let parsed = reqwest::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let port = parsed
        .as_ref()
        .and_then(reqwest::Url::port_or_known_default);
    tracing::debug_span!(
        "geoip.download.request",
        otel.kind = "client",
        http.request.method = "GET",
        server.address = %host,
        server.port = port,
        url.full = %shown,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Records `error` as the span's `error.type`.
fn record_error(span: &tracing::Span, error: &Error) {
    match error {
        Error::HttpStatus { status, .. } => span.record("error.type", status.to_string()),
        other => span.record("error.type", other.kind()),
    };
}

/// Request URLs and credentials of one attempt.
struct Urls {
    download: String,
    sha256: Option<String>,
    auth: Option<(String, reel_core::Secret)>,
    pin_date: bool,
}

/// The release date (`YYYYMMDD`) in MaxMind's `Content-Disposition` file name,
/// `attachment; filename=GeoLite2-City_20261120.tar.gz`.
fn release_date(disposition: &str) -> Option<String> {
    let name = disposition.split("filename=").nth(1)?.trim_matches('"');
    let stem = name.split('.').next()?;
    let date = stem.rsplit('_').next()?;
    (date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit())).then(|| date.to_owned())
}

/// Query parameters whose values are never secret.
const PUBLIC_QUERY_KEYS: [&str; 3] = ["suffix", "date", "edition_id"];

/// `url` with user info and query values (except a few known-public ones) replaced by
/// `REDACTED`, and no fragment: safe for errors, status, logs and health pages.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        // Unparseable: show nothing that could be a secret.
        return "[unparseable URL]".to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("REDACTED");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let value = if PUBLIC_QUERY_KEYS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    "REDACTED".to_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.set_fragment(None);
    parsed.to_string()
}

fn network(url: &str, error: reqwest::Error) -> Error {
    // reqwest's message names the URL it requested, which may carry credentials (user info,
    // a signed storage URL after a redirect): drop it; `url` is already redacted.
    let error = error.without_url();
    // Walk the source chain: "error decoding response body" alone hides the cause.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Network {
        url: url.to_owned(),
        message,
    }
}

fn status_error(url: &str, status: u16) -> Error {
    let hint = match status {
        401 => " (check the account id and license key)",
        403 => " (the account may not have access to this edition)",
        400 | 404 => " (check the edition id, e.g. GeoLite2-City, and the URL)",
        429 => " (download quota or rate limit reached: check less often; not retried soon)",
        _ => "",
    };
    Error::HttpStatus {
        url: url.to_owned(),
        status,
        hint,
    }
}

/// A reader that fails once more than `left` bytes have been read through it.
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.exceeded = true;
                Err(std::io::Error::other("size limit exceeded"))
            }
        }
    }
}

/// The `.mmdb` inside a download: plain, gzip, tar or tar.gz, recognised by content, never
/// more than `max` bytes in memory. Gzip is inflated as a stream: a tar is read entry by
/// entry from the inflating stream, and all the inflated bytes together (other entries
/// included) are limited to `max` plus 64 MiB.
fn unpack(body: &[u8], what: &str, max: u64) -> Result<Vec<u8>, Error> {
    let archive = |message: String| Error::Archive {
        what: what.to_owned(),
        message,
    };
    let too_large = || Error::TooLarge {
        what: format!("the database unpacked from {what}"),
        limit: max,
        hint: " (raise DownloadSource::max_database_bytes if the file is genuine)",
    };
    let budget = max.saturating_add(64 << 20);
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut stream = Limited {
            inner: flate2::read::GzDecoder::new(body),
            left: budget,
            exceeded: false,
        };
        // Enough of the inflated stream to tell a tar from a plain database.
        let mut head = Vec::with_capacity(512);
        let read = (&mut stream).take(512).read_to_end(&mut head);
        if stream.exceeded {
            return Err(too_large());
        }
        read.map_err(|e| archive(format!("gzip: {e}")))?;
        let result = if is_tar(&head) {
            from_tar(std::io::Cursor::new(head).chain(&mut stream), max, &archive)
        } else {
            let mut out = head;
            (&mut stream)
                .take(max.saturating_add(1).saturating_sub(out.len() as u64))
                .read_to_end(&mut out)
                .map_err(|e| archive(format!("gzip: {e}")))
                .and_then(|_| {
                    if out.len() as u64 > max {
                        Err(too_large())
                    } else {
                        Ok(out)
                    }
                })
        };
        if stream.exceeded {
            return Err(too_large());
        }
        result
    } else if is_tar(body) {
        from_tar(body, max, &archive)
    } else if body.len() as u64 > max {
        Err(too_large())
    } else {
        Ok(body.to_vec())
    }
}

fn is_tar(data: &[u8]) -> bool {
    data.len() > 262 && &data[257..262] == b"ustar"
}

fn from_tar<R: Read>(
    reader: R,
    max: u64,
    archive: &dyn Fn(String) -> Error,
) -> Result<Vec<u8>, Error> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| archive(format!("tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive(format!("tar: {e}")))?;
        let is_mmdb = entry
            .path()
            .ok()
            .and_then(|p| p.extension().map(|ext| ext == "mmdb"))
            .unwrap_or(false);
        if is_mmdb && entry.header().entry_type().is_file() {
            let size = entry.size();
            if size > max {
                return Err(Error::TooLarge {
                    what: "the .mmdb entry of the archive".to_owned(),
                    limit: max,
                    hint: " (raise DownloadSource::max_database_bytes if the file is genuine)",
                });
            }
            // The header's size is bounded above but not trusted for the allocation.
            let mut out = Vec::with_capacity(size.min(16 << 20) as usize);
            entry
                .by_ref()
                .take(max)
                .read_to_end(&mut out)
                .map_err(|e| archive(format!("tar entry: {e}")))?;
            if (out.len() as u64) < size {
                return Err(archive(format!(
                    "the .mmdb entry is cut short ({} of {size} bytes)",
                    out.len()
                )));
            }
            return Ok(out);
        }
    }
    Err(archive("the archive has no .mmdb file".to_owned()))
}

fn meta_path(path: &Path) -> PathBuf {
    path.with_extension("mmdb.validators")
}

/// An exclusive advisory lock (`flock`) on `<cache file>.lock`, held while the cache file
/// and its validators are written, so updaters sharing a directory take turns.
struct CacheLock {
    _file: std::fs::File,
}

impl CacheLock {
    fn acquire(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("mmdb.lock"))?;
        file.lock()?;
        Ok(Self { _file: file })
    }
}

/// A name no other process or thread uses: not the process id (every container is PID 1).
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS's random source once per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", hasher.finish())
}

/// Writes `bytes` to a new temporary file next to `path` (created exclusively, never
/// truncating someone else's), fsyncs it and returns its name.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempts = 0;
    let (tmp, mut file) = loop {
        let tmp = path.with_file_name(format!("{file_name}.tmp-{}", unique_suffix()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Renames `tmp` over `path` and fsyncs the directory so the rename survives a crash.
fn commit(tmp: &Path, path: &Path) -> Result<(), std::io::Error> {
    std::fs::rename(tmp, path)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), std::io::Error> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = stage(path, bytes)?;
    commit(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Several MaxMind editions kept current by one updater, as geoipupdate does with
/// `EditionIDs`: one account, one license key, one cache directory (shared safely, see
/// [`DownloadSource`]), one background task; each edition goes to the slot of its type
/// (City/Country/Enterprise → location, ASN/ISP → ASN, Anonymous-IP → anonymous IP, any
/// other edition a custom slot named after it).
///
/// ```no_run
/// use reel_geoip::{GeoIp, Updater};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let geoip = GeoIp::new();
/// let updater = Updater::maxmind(
///     "123456",
///     "env:MAXMIND_LICENSE_KEY".parse()?,
///     ["GeoLite2-City", "GeoLite2-ASN"],
/// )
/// .cache_dir("/var/cache/geoip");
/// let _task = updater.spawn(geoip.clone()); // cached copies first, then downloads
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Updater {
    sources: Vec<DownloadSource>,
}

impl Updater {
    /// One [`DownloadSource::maxmind`] per edition id.
    pub fn maxmind<S: Into<String>>(
        account_id: impl Into<String>,
        license_key: SecretSource,
        editions: impl IntoIterator<Item = S>,
    ) -> Self {
        let account_id = account_id.into();
        Self {
            sources: editions
                .into_iter()
                .map(|edition| {
                    DownloadSource::maxmind(account_id.clone(), license_key.clone(), edition)
                })
                .collect(),
        }
    }

    fn each(mut self, f: impl Fn(DownloadSource) -> DownloadSource) -> Self {
        self.sources = self.sources.into_iter().map(f).collect();
        self
    }

    /// [`DownloadSource::base_url`] for every edition.
    pub fn base_url(self, base_url: impl Into<String>) -> Self {
        let base_url = base_url.into();
        self.each(|s| s.base_url(base_url.clone()))
    }

    /// [`DownloadSource::cache_dir`] for every edition (one file per edition id).
    pub fn cache_dir(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.each(|s| s.cache_dir(dir.clone()))
    }

    /// [`DownloadSource::interval`] for every edition.
    pub fn interval(self, interval: Duration) -> Self {
        self.each(|s| s.interval(interval))
    }

    /// [`DownloadSource::backoff`] for every edition.
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.each(|s| s.backoff(backoff.clone()))
    }

    /// [`DownloadSource::empty_slot_backoff`] for every edition.
    pub fn empty_slot_backoff(self, backoff: Backoff) -> Self {
        self.each(|s| s.empty_slot_backoff(backoff.clone()))
    }

    /// The sources, one per edition, in the order given.
    pub fn sources(&self) -> &[DownloadSource] {
        &self.sources
    }

    /// [`DownloadSource::load_cached`] for every edition, in order.
    pub fn load_cached(&self, geoip: &GeoIp) -> Vec<Result<Option<DatabaseInfo>, Error>> {
        self.sources.iter().map(|s| s.load_cached(geoip)).collect()
    }

    /// [`DownloadSource::check_now`] for every edition, one after the other, in order.
    pub async fn check_now(&self, geoip: &GeoIp) -> Vec<Result<ReloadOutcome, Error>> {
        let mut results = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            results.push(source.check_now(geoip).await);
        }
        results
    }

    /// Keeps every edition current in one background task (each edition on its own schedule,
    /// as [`DownloadSource::spawn`] does).
    pub fn spawn(self, geoip: GeoIp) -> BackgroundTask {
        let editions: Vec<String> = self
            .sources
            .iter()
            .map(|s| match &s.origin {
                Origin::MaxMind { edition, .. } => edition.clone(),
                Origin::Url { .. } => s.describe(),
            })
            .collect();
        let name = format!("reel-geoip updater {}", editions.join(","));
        BackgroundTask::spawn(name, move |shutdown| async move {
            let mut set = tokio::task::JoinSet::new();
            for source in self.sources {
                set.spawn(source.run(geoip.clone(), shutdown.clone()));
            }
            while set.join_next().await.is_some() {}
        })
    }
}
