//! The client's country from reel-geoip: a real `.mmdb` (`REEL_GEOIP_DB`, reloaded when the
//! file changes), MaxMind's download service (`REEL_MAXMIND_*`, checked every 12 hours and
//! cached under the data directory) or a small demo database generated at start-up.

use std::time::{Duration, UNIX_EPOCH};

use reel_core::BackgroundTask;
use reel_geoip::testdata::CityDatabase;
use reel_geoip::{DownloadSource, FileSource, GeoIp, Slot};
use serde_json::{Value, json};

#[derive(Debug)]
pub(crate) struct Geo {
    pub(crate) geoip: GeoIp,
    /// Keeps the file watcher running for the service's lifetime.
    _reloader: Option<BackgroundTask>,
}

impl Geo {
    pub(crate) fn from_config(config: &crate::Config) -> Result<Self, crate::StartError> {
        let geoip = GeoIp::new();
        let fail = |e: reel_geoip::Error| crate::StartError::GeoIp(e.to_string());
        let reloader = match (&config.geoip_db, &config.maxmind) {
            (None, Some(maxmind)) => {
                let mut source = DownloadSource::maxmind(
                    maxmind.account_id.clone(),
                    maxmind.license_key.clone(),
                    maxmind.edition.clone(),
                )
                .cache_dir(config.data_dir.join("geoip"))
                .interval(Duration::from_secs(12 * 60 * 60));
                if let Some(base_url) = &maxmind.base_url {
                    source = source.base_url(base_url.clone());
                }
                // A restart answers from the cached copy at once; without one, lookups answer
                // no country (and /healthz says so) until the first download lands.
                match source.load_cached(&geoip) {
                    Ok(Some(info)) => {
                        tracing::info!(database_type = %info.database_type, "geolocation from the cached MaxMind download");
                    }
                    Ok(None) => tracing::info!(
                        edition = %maxmind.edition,
                        "no cached MaxMind database yet; downloading in the background"
                    ),
                    Err(error) => {
                        tracing::warn!(%error, "the cached MaxMind database is not usable; downloading a new one");
                    }
                }
                Some(source.spawn(geoip.clone()))
            }
            (Some(path), _) => {
                let source = FileSource::new(path.clone(), Slot::Location)
                    .poll_interval(Duration::from_secs(60));
                source.load_now(&geoip).map_err(fail)?;
                tracing::info!(path = %path.display(), "geolocation from a MaxMind database");
                Some(source.spawn(geoip.clone()))
            }
            (None, None) => {
                let bytes = CityDatabase::new()
                    .build()
                    .map_err(|e| crate::StartError::GeoIp(e.to_string()))?;
                geoip
                    .replace(&Slot::Location, bytes, "generated demo database")
                    .map_err(fail)?;
                tracing::info!(
                    "geolocation from a generated demo database (set REEL_GEOIP_DB for a real one)"
                );
                None
            }
        };
        Ok(Self {
            geoip,
            _reloader: reloader,
        })
    }

    pub(crate) fn health(&self) -> (bool, Value) {
        match self.geoip.status(&Slot::Location) {
            Ok(status) => {
                let database = status.database.as_ref();
                let ok = database.is_some();
                let report = json!({
                    "ok": ok,
                    "source": status.source,
                    "databaseType": database.map(|d| d.database_type.clone()),
                    "buildTime": database.and_then(|d| d.build_time.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                    "reloads": status.reloads,
                    "failedReloads": status.failed_reloads,
                    "lastError": status.last_error,
                });
                (ok, report)
            }
            Err(error) => (false, json!({"ok": false, "error": error.to_string()})),
        }
    }
}
