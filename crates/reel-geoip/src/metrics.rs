//! The metric names of reel-geoip, recorded through the `metrics` facade with the `metrics`
//! feature; without it nothing is recorded and the instrumentation compiles to nothing.
//!
//! | Name | Type | Labels |
//! |------|------|--------|
//! | `reel_geoip_lookups_total` | counter | `slot`, `outcome` (found, not_found, error) |
//! | `reel_geoip_database_age_seconds` | gauge | `slot` |
//! | `reel_geoip_database_build_epoch_seconds` | gauge | `slot` |
//! | `reel_geoip_reloads_total` | counter | `slot`, `result` (ok, error) |
//! | `reel_geoip_downloads_total` | counter | `edition`, `result` (updated, not_modified, error) |
//!
//! The lookup path is hot, so each slot builds its counter and gauge handles once, when the
//! [`GeoIp`](crate::GeoIp) is built: a lookup then costs one relaxed atomic add and no
//! allocation. Handles bind to the recorder installed at that moment, so install the recorder
//! (e.g. `metrics_exporter_prometheus::PrometheusBuilder::install_recorder`) before building
//! the service.

#[cfg(feature = "metrics")]
pub(crate) use on::SlotMetrics;
#[cfg(feature = "metrics")]
pub use on::describe_metrics;
#[cfg(all(feature = "metrics", feature = "download"))]
pub(crate) use on::download;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::SlotMetrics;
#[cfg(all(not(feature = "metrics"), feature = "download"))]
pub(crate) use off::download;

/// Lookups by slot and outcome.
pub const LOOKUPS_TOTAL: &str = "reel_geoip_lookups_total";
/// Seconds since the serving database was built, per slot.
pub const DATABASE_AGE_SECONDS: &str = "reel_geoip_database_age_seconds";
/// Build time of the serving database (Unix seconds), per slot.
pub const DATABASE_BUILD_EPOCH_SECONDS: &str = "reel_geoip_database_build_epoch_seconds";
/// Reload attempts by slot and result.
pub const RELOADS_TOTAL: &str = "reel_geoip_reloads_total";
/// Download checks by edition and result.
pub const DOWNLOADS_TOTAL: &str = "reel_geoip_downloads_total";

#[cfg(feature = "metrics")]
mod on {
    use std::time::SystemTime;

    use ::metrics::{Counter, Gauge, Unit, counter, describe_counter, describe_gauge, gauge};

    use super::{
        DATABASE_AGE_SECONDS, DATABASE_BUILD_EPOCH_SECONDS, DOWNLOADS_TOTAL, LOOKUPS_TOTAL,
        RELOADS_TOTAL,
    };
    use crate::{DatabaseInfo, Error, Slot};

    /// Describes every metric of reel-geoip (unit and help text) to the installed recorder,
    /// so an exporter shows them with `HELP` lines. Call it once after installing the
    /// recorder.
    pub fn describe_metrics() {
        describe_counter!(
            LOOKUPS_TOTAL,
            Unit::Count,
            "Lookups by slot and outcome (found: a record covers the address; not_found: none \
             does or the slot is empty; error: the record could not be decoded)."
        );
        describe_gauge!(
            DATABASE_AGE_SECONDS,
            Unit::Seconds,
            "Seconds between the serving database's build time and the last refresh \
             (a load, a check, GeoIp::status or GeoIp::refresh_metrics)."
        );
        describe_gauge!(
            DATABASE_BUILD_EPOCH_SECONDS,
            Unit::Seconds,
            "Build time of the serving database, in Unix seconds (0 while the slot is empty)."
        );
        describe_counter!(
            RELOADS_TOTAL,
            Unit::Count,
            "Reload attempts by slot and result (ok: a database replaced the serving one; \
             error: the candidate or its source failed and the serving database stayed)."
        );
        describe_counter!(
            DOWNLOADS_TOTAL,
            Unit::Count,
            "Download checks by edition and result (updated, not_modified, error)."
        );
    }

    /// One slot's metric handles, registered once when the service is built.
    pub(crate) struct SlotMetrics {
        found: Counter,
        not_found: Counter,
        error: Counter,
        reload_ok: Counter,
        reload_error: Counter,
        age: Gauge,
        build_epoch: Gauge,
    }

    impl SlotMetrics {
        pub(crate) fn new(slot: &Slot) -> Self {
            let name = slot.to_string();
            let lookup = |outcome: &'static str| counter!(LOOKUPS_TOTAL, "slot" => name.clone(), "outcome" => outcome);
            let reload = |result: &'static str| counter!(RELOADS_TOTAL, "slot" => name.clone(), "result" => result);
            Self {
                found: lookup("found"),
                not_found: lookup("not_found"),
                error: lookup("error"),
                reload_ok: reload("ok"),
                reload_error: reload("error"),
                age: gauge!(DATABASE_AGE_SECONDS, "slot" => name.clone()),
                build_epoch: gauge!(DATABASE_BUILD_EPOCH_SECONDS, "slot" => name.clone()),
            }
        }

        #[inline]
        pub(crate) fn lookup<T>(&self, result: &Result<Option<T>, Error>) {
            match result {
                Ok(Some(_)) => self.found.increment(1),
                Ok(None) => self.not_found.increment(1),
                Err(_) => self.error.increment(1),
            }
        }

        pub(crate) fn reload(&self, ok: bool) {
            if ok {
                self.reload_ok.increment(1);
            } else {
                self.reload_error.increment(1);
            }
        }

        /// Sets the age and build-epoch gauges from the serving database (if any) at `now`.
        pub(crate) fn database(&self, info: Option<&DatabaseInfo>, now: SystemTime) {
            let Some(info) = info else { return };
            let epoch = info
                .build_time
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let age = now
                .duration_since(info.build_time)
                .map_or(0.0, |d| d.as_secs_f64());
            self.build_epoch.set(epoch);
            self.age.set(age);
        }
    }

    /// Counts one download check of `edition` (not a hot path: labels are built per call).
    #[cfg_attr(not(feature = "download"), allow(dead_code))]
    pub(crate) fn download(edition: &str, result: &'static str) {
        counter!(DOWNLOADS_TOTAL, "edition" => edition.to_owned(), "result" => result).increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::SystemTime;

    use crate::{DatabaseInfo, Error, Slot};

    /// Nothing: the `metrics` feature is off.
    pub(crate) struct SlotMetrics;

    impl SlotMetrics {
        #[inline(always)]
        pub(crate) fn new(_slot: &Slot) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn lookup<T>(&self, _result: &Result<Option<T>, Error>) {}
        #[inline(always)]
        pub(crate) fn reload(&self, _ok: bool) {}
        #[inline(always)]
        pub(crate) fn database(&self, _info: Option<&DatabaseInfo>, _now: SystemTime) {}
    }

    #[inline(always)]
    #[cfg_attr(not(feature = "download"), allow(dead_code))]
    pub(crate) fn download(_edition: &str, _result: &'static str) {}
}
