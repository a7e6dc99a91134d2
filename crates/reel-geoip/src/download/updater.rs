//! [`Updater`]: several MaxMind editions kept current by one background task.

use std::path::PathBuf;
use std::time::Duration;

use reel_core::{BackgroundTask, Backoff, SecretSource};

use super::{DownloadSource, Origin};
use crate::{DatabaseInfo, Error, GeoIp, ReloadOutcome};

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
