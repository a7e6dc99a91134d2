//! Silent misconfigurations made loud: region locale tags, an edition in a slot that cannot
//! hold it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reel_core::SecretSource;
use reel_geoip::testdata::{CityDatabase, SAMPLE_V4};
use reel_geoip::{DownloadSource, Error, GeoIp, Slot};
use support::maxmind_standin::{ACCOUNT, ETAG, KEY, maxmind_archive, publish, server};

#[test]
fn region_locales_fall_back_to_the_language() {
    for (locales, want) in [
        (vec!["en-US"], "United Kingdom"),
        (vec!["en_GB"], "United Kingdom"),
        (vec!["DE-at", "en"], "Vereinigtes Königreich"),
        (vec!["fr-CA"], "Royaume-Uni"),
        (vec!["xx-YY"], "United Kingdom"),
    ] {
        let geoip = GeoIp::builder().locales(locales.clone()).build();
        geoip
            .replace(
                &Slot::Location,
                CityDatabase::new().build().unwrap(),
                "test",
            )
            .unwrap();
        let location = geoip.location(SAMPLE_V4.parse().unwrap()).unwrap().unwrap();
        assert_eq!(
            location.country.unwrap().name.as_deref(),
            Some(want),
            "{locales:?}"
        );
    }
}

#[tokio::test]
async fn an_edition_in_a_slot_that_cannot_hold_it_is_refused_before_downloading() {
    let (base, served) = server().await;
    publish(
        &served,
        maxmind_archive(&CityDatabase::new().build().unwrap()),
        ETAG,
    );
    let geoip = GeoIp::new();
    let err = DownloadSource::maxmind(ACCOUNT, SecretSource::literal(KEY), "GeoIP2-Anonymous-IP")
        .base_url(&base)
        .slot(Slot::Location)
        .check_now(&geoip)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("GeoIP2-Anonymous-IP") && message.contains("anonymous_ip"),
        "{message}"
    );
    assert!(served.lock().unwrap().requests.is_empty(), "no quota spent");
    assert_eq!(
        geoip.status(&Slot::Location).unwrap().last_error,
        Some(message)
    );
}
