//! Downloads from MaxMind's download service or any URL, with a cache directory.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_core::{BackgroundTask, Backoff, Jitter, SecretSource};
use sha2::{Digest, Sha256};

use crate::{DatabaseInfo, Error, GeoIp, ReloadOutcome, Slot};

/// MaxMind's download service.
pub const MAXMIND_BASE_URL: &str = "https://download.maxmind.com";

/// Refuse to inflate more than this: a real City database is about 60 MB.
const MAX_DATABASE_BYTES: u64 = 1 << 30;

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
                .field("base_url", base_url)
                .finish(),
            Self::Url { url, sha256_url } => f
                .debug_struct("Url")
                .field("url", url)
                .field("sha256_url", sha256_url)
                .finish(),
        }
    }
}

/// Validators of the last download, sent back as `If-None-Match` / `If-Modified-Since`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    fn parse(text: &str) -> Self {
        let mut v = Self::default();
        for line in text.lines() {
            if let Some(etag) = line.strip_prefix("etag: ") {
                v.etag = Some(etag.to_owned());
            } else if let Some(date) = line.strip_prefix("last-modified: ") {
                v.last_modified = Some(date.to_owned());
            }
        }
        v
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(etag) = &self.etag {
            out.push_str(&format!("etag: {etag}\n"));
        }
        if let Some(date) = &self.last_modified {
            out.push_str(&format!("last-modified: {date}\n"));
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
/// use std::time::Duration;
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
#[derive(Debug, Clone)]
pub struct DownloadSource {
    origin: Origin,
    slot: Slot,
    cache_dir: Option<PathBuf>,
    cache_name: Option<String>,
    interval: Duration,
    backoff: Backoff,
    timeout: Duration,
    client: Option<reqwest::Client>,
    validators: Arc<Mutex<Validators>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DownloadSource {
    /// MaxMind's download service: `account_id`, a license key (e.g. `env:MAXMIND_LICENSE_KEY`
    /// or `file:/run/secrets/maxmind`) and an edition id such as `GeoLite2-City`,
    /// `GeoLite2-ASN` or `GeoIP2-City`. Feeds [`Slot::Location`] unless the edition id
    /// contains `ASN` or `ISP`.
    pub fn maxmind(
        account_id: impl Into<String>,
        license_key: SecretSource,
        edition: impl Into<String>,
    ) -> Self {
        let edition = edition.into();
        let slot = if edition.contains("ASN") || edition.contains("ISP") {
            Slot::Asn
        } else {
            Slot::Location
        };
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
    /// [`Slot::Location`] unless [`slot`](Self::slot) says otherwise.
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
            timeout: Duration::from_secs(300),
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

    /// Keeps the last good database (and its validators) in `dir`.
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

    /// Timeout of one request including the body (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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

    fn describe(&self) -> String {
        match &self.origin {
            Origin::MaxMind {
                edition, base_url, ..
            } => format!("{base_url}/geoip/databases/{edition}/download"),
            Origin::Url { url, .. } => url.clone(),
        }
    }

    /// Loads the cached copy, if the cache directory has one, so the service can answer
    /// before the first download. `Ok(None)` when there is nothing cached; a cached file that
    /// fails its check is an error (and is not served).
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
        let info = geoip.replace(&self.slot, bytes, &path.display().to_string())?;
        let meta = std::fs::read_to_string(meta_path(&path)).unwrap_or_default();
        *lock(&self.validators) = Validators::parse(&meta);
        Ok(Some(info))
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

    /// Checks once for a new database (with retries) and loads it. Returns
    /// [`ReloadOutcome::Loaded`] or [`ReloadOutcome::Unchanged`]; on error the current
    /// database keeps serving and the failure is recorded in the slot status.
    pub async fn check_now(&self, geoip: &GeoIp) -> Result<ReloadOutcome, Error> {
        let source = self.describe();
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

    /// Writes the candidate to a temporary cache file, swaps it in if it passes the checks,
    /// then renames it over the cached copy. Runs on a blocking thread.
    fn install(
        &self,
        geoip: &GeoIp,
        database: Vec<u8>,
        validators: Validators,
        source: &str,
    ) -> Result<DatabaseInfo, Error> {
        let staged = match self.cache_path() {
            Some(path) => match stage(&path, &database) {
                Ok(tmp) => Some((path, tmp)),
                Err(error) => {
                    // A read-only cache must not stop the update; say so and go on.
                    tracing::warn!(%error, "cannot write the geoip cache; serving without it");
                    None
                }
            },
            None => None,
        };
        match geoip.replace(&self.slot, database, source) {
            Ok(info) => {
                *lock(&self.validators) = validators.clone();
                if let Some((path, tmp)) = staged {
                    if let Err(error) = std::fs::rename(&tmp, &path) {
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
                if let Some((_, tmp)) = staged {
                    let _ = std::fs::remove_file(tmp);
                }
                Err(error)
            }
        }
    }

    /// Checks every [`interval`](Self::interval) in a background task on the current tokio
    /// runtime: loads the cached copy first if the slot is empty, then checks at once.
    pub fn spawn(self, geoip: GeoIp) -> BackgroundTask {
        let name = format!("reel-geoip download {}", self.describe());
        BackgroundTask::spawn(name, move |mut shutdown| async move {
            if !geoip.is_loaded(&self.slot) {
                let this = self.clone();
                let g = geoip.clone();
                let cached = tokio::task::spawn_blocking(move || this.load_cached(&g)).await;
                if let Ok(Err(error)) = cached {
                    tracing::warn!(%error, "cached geoip database not usable");
                }
            }
            loop {
                // Failures are recorded in the status and logged by check_now.
                let _ = self.check_now(&geoip).await;
                if !shutdown.sleep(self.interval).await {
                    break;
                }
            }
        })
    }

    /// One attempt: `None` for 304, otherwise the unpacked database and its validators.
    async fn fetch_once(
        &self,
        client: &reqwest::Client,
        conditional: bool,
    ) -> Result<Option<(Vec<u8>, Validators)>, Error> {
        let (url, shown, sha_url, auth) = match &self.origin {
            Origin::MaxMind {
                account_id,
                license_key,
                edition,
                base_url,
            } => {
                let key = license_key.resolve()?;
                let url = format!("{base_url}/geoip/databases/{edition}/download?suffix=tar.gz");
                let sha =
                    format!("{base_url}/geoip/databases/{edition}/download?suffix=tar.gz.sha256");
                (url.clone(), url, Some(sha), Some((account_id.clone(), key)))
            }
            Origin::Url { url, sha256_url } => (url.clone(), url.clone(), sha256_url.clone(), None),
        };
        let mut request = client.get(&url);
        if let Some((user, key)) = &auth {
            request = request.basic_auth(user, Some(key.expose()));
        }
        if conditional {
            let validators = lock(&self.validators).clone();
            if let Some(etag) = validators.etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(date) = validators.last_modified {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
            }
        }
        let response = request.send().await.map_err(|e| network(&shown, &e))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(&shown, status.as_u16()));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let body = response.bytes().await.map_err(|e| network(&shown, &e))?;
        if let Some(sha_url) = sha_url {
            let mut request = client.get(&sha_url);
            if let Some((user, key)) = &auth {
                request = request.basic_auth(user, Some(key.expose()));
            }
            let response = request.send().await.map_err(|e| network(&sha_url, &e))?;
            if !response.status().is_success() {
                return Err(status_error(&sha_url, response.status().as_u16()));
            }
            let text = response.text().await.map_err(|e| network(&sha_url, &e))?;
            let expected = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let actual = hex::encode(Sha256::digest(&body));
            if expected != actual {
                return Err(Error::Checksum {
                    url: shown,
                    expected,
                    actual,
                });
            }
        }
        let database = unpack(&body, &shown)?;
        Ok(Some((database, validators)))
    }
}

fn network(url: &str, error: &reqwest::Error) -> Error {
    // Walk the source chain: "error decoding response body" alone hides the cause. The URL
    // never carries credentials (they travel in the Authorization header).
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
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
        429 => " (rate limited: check less often)",
        _ => "",
    };
    Error::HttpStatus {
        url: url.to_owned(),
        status,
        hint,
    }
}

/// The `.mmdb` inside a download: plain, gzip, tar or tar.gz, recognised by content.
fn unpack(body: &[u8], what: &str) -> Result<Vec<u8>, Error> {
    let archive = |message: String| Error::Archive {
        what: what.to_owned(),
        message,
    };
    let inflated;
    let data: &[u8] = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_DATABASE_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| archive(format!("gzip: {e}")))?;
        if out.len() as u64 > MAX_DATABASE_BYTES {
            return Err(archive("larger than 1 GiB uncompressed".to_owned()));
        }
        inflated = out;
        &inflated
    } else {
        body
    };
    let is_tar = data.len() > 262 && &data[257..262] == b"ustar";
    if !is_tar {
        return Ok(data.to_vec());
    }
    let mut tar = tar::Archive::new(data);
    let entries = tar.entries().map_err(|e| archive(format!("tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive(format!("tar: {e}")))?;
        let is_mmdb = entry
            .path()
            .ok()
            .and_then(|p| p.extension().map(|ext| ext == "mmdb"))
            .unwrap_or(false);
        if is_mmdb && entry.header().entry_type().is_file() {
            let mut out = Vec::with_capacity(entry.size().min(MAX_DATABASE_BYTES) as usize);
            entry
                .by_ref()
                .take(MAX_DATABASE_BYTES)
                .read_to_end(&mut out)
                .map_err(|e| archive(format!("tar entry: {e}")))?;
            return Ok(out);
        }
    }
    Err(archive("the archive has no .mmdb file".to_owned()))
}

fn meta_path(path: &Path) -> PathBuf {
    path.with_extension("mmdb.validators")
}

/// Writes `bytes` to a fresh temporary file next to `path` and returns its name.
fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("mmdb.tmp-{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(tmp)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = stage(path, bytes)?;
    std::fs::rename(tmp, path)
}
