//! The `metrics` feature: every counter and gauge checked against the exact actions taken,
//! through `metrics-util`'s debugging recorder. Lookups and reloads use a recorder local to
//! the test (handles bind to it when the `GeoIp` is built); the download test installs one
//! globally, as an application would, because downloads run on the tokio runtime.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reel_core::{Backoff, Jitter, ManualClock, SecretSource};
use reel_geoip::testdata::{CityDatabase, RecordValue, SAMPLE_V4, custom_database};
use reel_geoip::{DownloadSource, GeoIp, Slot};
use reel_testkit::metrics::{DebuggingRecorder, Snapshot, Snapshotter};
use support::maxmind_standin::{ACCOUNT, ETAG, KEY, maxmind_archive, publish, server};

/// The counter `key` (strict: it must have been recorded).
fn counter(seen: &Snapshot, key: &str) -> u64 {
    seen.counter(key).unwrap()
}

fn gauge(seen: &Snapshot, key: &str) -> f64 {
    seen.gauge(key).unwrap()
}

#[test]
fn lookups_reloads_and_database_age_are_counted_exactly() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The clock stands 1000 s after the version-1 City database's build time.
    let clock = Arc::new(ManualClock::at_unix(Duration::from_secs(
        1_764_000_001 + 1000,
    )));
    let geoip = metrics::with_local_recorder(&recorder, || {
        reel_geoip::describe_metrics();
        GeoIp::builder()
            .clock(clock.clone())
            .custom_slot("offices", "Office-Map")
            .build()
    });

    let london: IpAddr = SAMPLE_V4.parse().unwrap();
    let nowhere: IpAddr = "192.0.2.1".parse().unwrap();
    // Empty slots: not found.
    geoip.location(london).unwrap();
    geoip
        .replace(
            &Slot::Location,
            CityDatabase::new().version(1).build().unwrap(),
            "v1",
        )
        .unwrap();
    assert!(
        geoip
            .replace(&Slot::Location, b"junk".to_vec(), "junk")
            .is_err()
    );
    for _ in 0..5 {
        assert!(geoip.location(london).unwrap().is_some());
    }
    for _ in 0..3 {
        assert!(geoip.location(nowhere).unwrap().is_none());
    }
    // lookup() reads the location, ASN, Anonymous-IP and ISP (all three empty) slots once
    // each.
    geoip.lookup(london).unwrap();

    let office = custom_database(
        "Office-Map",
        &[(
            "10.1.0.0/16",
            RecordValue::map([("floor", RecordValue::from(3u32))]),
        )],
    )
    .unwrap();
    geoip
        .replace(&Slot::custom("offices"), office, "inline")
        .unwrap();
    // A record that is a map, decoded as a number: an error.
    assert!(
        geoip
            .decode::<u32>(&Slot::custom("offices"), "10.1.2.3".parse().unwrap())
            .is_err()
    );

    let seen = Snapshot::take(&snapshotter);
    let lookups = |slot: &str, outcome: &str| {
        counter(
            &seen,
            &format!("reel_geoip_lookups_total{{outcome={outcome},slot={slot}}}"),
        )
    };
    assert_eq!(lookups("location", "found"), 6);
    assert_eq!(lookups("location", "not_found"), 4);
    // Never recorded: absence means zero.
    let none = |key: &str| seen.counter_or_zero(key).unwrap();
    assert_eq!(
        none("reel_geoip_lookups_total{outcome=error,slot=location}"),
        0
    );
    assert_eq!(lookups("asn", "not_found"), 1);
    assert_eq!(lookups("anonymous_ip", "not_found"), 1);
    assert_eq!(lookups("isp", "not_found"), 1);
    assert_eq!(lookups("offices", "error"), 1);
    assert_eq!(
        none("reel_geoip_lookups_total{outcome=found,slot=offices}"),
        0
    );
    let reloads = |slot: &str, result: &str| {
        counter(
            &seen,
            &format!("reel_geoip_reloads_total{{result={result},slot={slot}}}"),
        )
    };
    assert_eq!(reloads("location", "ok"), 1);
    assert_eq!(reloads("location", "error"), 1);
    assert_eq!(reloads("offices", "ok"), 1);
    assert_eq!(none("reel_geoip_reloads_total{result=ok,slot=asn}"), 0);
    assert_eq!(
        gauge(
            &seen,
            "reel_geoip_database_build_epoch_seconds{slot=location}"
        ),
        1_764_000_001.0
    );
    assert_eq!(
        gauge(&seen, "reel_geoip_database_age_seconds{slot=location}"),
        1000.0
    );

    // The age moves with the clock when refreshed (before a scrape).
    clock.advance(Duration::from_secs(3600));
    geoip.refresh_metrics();
    let seen = Snapshot::take(&snapshotter);
    assert_eq!(
        gauge(&seen, "reel_geoip_database_age_seconds{slot=location}"),
        4600.0
    );
}

#[test]
fn describe_metrics_gives_every_metric_a_unit_and_help_text() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        reel_geoip::describe_metrics();
        let geoip = GeoIp::new();
        geoip.location(SAMPLE_V4.parse().unwrap()).unwrap();
        // Downloads need a server (see below); registering the name is enough here.
        metrics::counter!(reel_geoip::metrics::DOWNLOADS_TOTAL).increment(0);
    });
    let described: HashMap<String, bool> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, help, _)| {
            (
                key.key().name().to_owned(),
                unit.is_some() && help.is_some_and(|h| !h.is_empty()),
            )
        })
        .collect();
    for name in [
        "reel_geoip_lookups_total",
        "reel_geoip_reloads_total",
        "reel_geoip_database_age_seconds",
        "reel_geoip_database_build_epoch_seconds",
        "reel_geoip_downloads_total",
    ] {
        assert_eq!(described.get(name), Some(&true), "{name}: {described:?}");
    }
}

fn global() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        snapshotter
    })
}

#[tokio::test]
async fn downloads_are_counted_by_edition_and_result() {
    let snapshotter = global();
    let (base, served) = server().await;
    let cache = tempfile::tempdir().unwrap();
    let geoip = GeoIp::new();
    let source = DownloadSource::maxmind(ACCOUNT, SecretSource::literal(KEY), "GeoLite2-City")
        .base_url(&base)
        .cache_dir(cache.path())
        .backoff(
            Backoff::new(Duration::from_millis(1), Duration::from_millis(2))
                .with_jitter(Jitter::None)
                .with_max_retries(1),
        );

    // An outage, then a release, then nothing new twice.
    served.lock().unwrap().status = Some(503);
    assert!(source.check_now(&geoip).await.is_err());
    served.lock().unwrap().status = None;
    publish(
        &served,
        maxmind_archive(&CityDatabase::new().version(1).build().unwrap()),
        ETAG,
    );
    source.check_now(&geoip).await.unwrap();
    source.check_now(&geoip).await.unwrap();
    source.check_now(&geoip).await.unwrap();

    let seen = Snapshot::take(snapshotter);
    let downloads = |result: &str| {
        counter(
            &seen,
            &format!("reel_geoip_downloads_total{{edition=GeoLite2-City,result={result}}}"),
        )
    };
    assert_eq!(downloads("error"), 1);
    assert_eq!(downloads("updated"), 1);
    assert_eq!(downloads("not_modified"), 2);
    // The slot's reloads: the outage failed once, the release loaded once.
    assert_eq!(
        counter(
            &seen,
            "reel_geoip_reloads_total{result=error,slot=location}"
        ),
        1
    );
    assert_eq!(
        counter(&seen, "reel_geoip_reloads_total{result=ok,slot=location}"),
        1
    );
}
