//! Lookups against databases built in the test: typed locations, locales, ASN, combined
//! lookups, raw decoding, IPv4-mapped IPv6 and the reference reader's answers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::IpAddr;

use maxminddb::geoip2;
use reel_geoip::testdata::{
    self, AsnDatabase, CityDatabase, RecordValue, SAMPLE_MISSING, SAMPLE_V4, SAMPLE_V6, SAMPLES,
};
use reel_geoip::{Check, Database, Error, GeoIp, Locales, Slot};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn loaded(locales: &[&str]) -> GeoIp {
    let geoip = GeoIp::builder().locales(locales.iter().copied()).build();
    geoip
        .replace(
            &Slot::Location,
            CityDatabase::new().version(7).build().unwrap(),
            "test",
        )
        .unwrap();
    geoip
        .replace(
            &Slot::Asn,
            AsnDatabase::new().version(7).build().unwrap(),
            "test",
        )
        .unwrap();
    geoip
}

#[test]
fn every_sample_matches_the_reference_reader() {
    let bytes = CityDatabase::new().version(7).build().unwrap();
    let reference = maxminddb::Reader::from_source(bytes.clone()).unwrap();
    let geoip = loaded(&["en"]);
    for (index, sample) in SAMPLES.iter().enumerate() {
        let address = ip(sample.address);
        let ours = geoip.location(address).unwrap().expect("sample present");
        let result = reference.lookup(address).unwrap();
        let theirs: geoip2::City<'_> = result.decode().unwrap().unwrap();
        assert_eq!(
            ours.country.as_ref().unwrap().iso_code.as_deref(),
            theirs.country.iso_code
        );
        assert_eq!(
            ours.country.as_ref().unwrap().iso_code.as_deref(),
            Some(sample.country)
        );
        assert_eq!(
            ours.registered_country
                .as_ref()
                .unwrap()
                .iso_code
                .as_deref(),
            Some(sample.registered_country)
        );
        assert_eq!(
            ours.continent.as_ref().unwrap().iso_code.as_deref(),
            theirs.continent.code
        );
        assert_eq!(
            ours.city.as_ref().and_then(|c| c.name.as_deref()),
            theirs.city.names.english
        );
        assert_eq!(
            ours.city.as_ref().and_then(|c| c.name.as_deref()),
            sample.city_en
        );
        assert_eq!(
            ours.city.as_ref().and_then(|c| c.geoname_id),
            sample.city_en.map(|_| testdata::city_geoname_id(index, 7))
        );
        assert_eq!(ours.postal_code.as_deref(), theirs.postal.code);
        assert_eq!(ours.postal_code.as_deref(), sample.postal);
        assert_eq!(ours.latitude, theirs.location.latitude);
        assert_eq!(ours.longitude, theirs.location.longitude);
        assert_eq!(ours.accuracy_radius, Some(7));
        assert_eq!(ours.time_zone.as_deref(), theirs.location.time_zone);
        assert_eq!(
            ours.subdivisions
                .first()
                .and_then(|s| s.iso_code.as_deref()),
            sample.subdivision
        );
        assert_eq!(ours.subdivisions.len(), theirs.subdivisions.len());
        let network = result.network().unwrap();
        assert_eq!(ours.network.unwrap().to_string(), network.to_string());
        assert_eq!(ours.network.unwrap().to_string(), sample.network);
    }
}

#[test]
fn names_follow_the_locale_fallback_list() {
    let geoip = loaded(&["ja", "de", "en"]);
    let linkoping = geoip.location(ip("89.160.20.128")).unwrap().unwrap();
    // Sweden has a Japanese name, the city only an English one, Europe a Japanese one.
    assert_eq!(
        linkoping.country.unwrap().name.as_deref(),
        Some("スウェーデン王国")
    );
    assert_eq!(linkoping.city.unwrap().name.as_deref(), Some("Linköping"));
    assert_eq!(
        linkoping.continent.unwrap().name.as_deref(),
        Some("ヨーロッパ")
    );

    let london = geoip.location(ip(SAMPLE_V4)).unwrap().unwrap();
    assert_eq!(
        london.country.unwrap().name.as_deref(),
        Some("Vereinigtes Königreich")
    );

    // No language of the list: no name, but codes are still there.
    let only_pt = loaded(&["pt-BR"]);
    let london = only_pt.location(ip(SAMPLE_V4)).unwrap().unwrap();
    assert_eq!(london.country.as_ref().unwrap().name, None);
    assert_eq!(london.country.unwrap().iso_code.as_deref(), Some("GB"));

    // A language no MaxMind database has is skipped, and the list goes on to the next one;
    // codes are matched case-insensitively and by primary language ("pt" reads "pt-BR",
    // which this record lacks, "FR-ca" reads "fr").
    let unknown_first = loaded(&["it", "pt", "FR-ca", "en"]);
    let london = unknown_first.location(ip(SAMPLE_V4)).unwrap().unwrap();
    assert_eq!(london.country.unwrap().name.as_deref(), Some("Royaume-Uni"));
    assert_eq!(london.city.unwrap().name.as_deref(), Some("London"));
    // No tag matches any MaxMind language: English, not silence (and a warning at build).
    let none_known = loaded(&["it", "nl"]);
    let london = none_known.location(ip(SAMPLE_V4)).unwrap().unwrap();
    assert_eq!(
        london.country.unwrap().name.as_deref(),
        Some("United Kingdom")
    );
    assert_eq!(
        "pt-BR, es ,en".parse::<Locales>().unwrap().as_slice(),
        ["pt-BR", "es", "en"]
    );
}

#[test]
fn country_level_record_has_no_city_and_its_own_registered_country() {
    let geoip = loaded(&["en"]);
    let it = geoip.location(ip("2.125.160.216")).unwrap().unwrap();
    assert_eq!(it.city, None);
    assert!(it.subdivisions.is_empty());
    assert_eq!(it.postal_code, None);
    let country = it.country.unwrap();
    assert_eq!(country.iso_code.as_deref(), Some("IT"));
    assert!(country.is_in_european_union);
    assert_eq!(
        it.registered_country.unwrap().iso_code.as_deref(),
        Some("DE")
    );
    assert_eq!(it.network.unwrap().to_string(), "2.125.160.0/20");
}

#[test]
fn ipv6_and_ipv4_mapped_ipv6() {
    let geoip = loaded(&["en"]);
    let berlin = geoip.location(ip(SAMPLE_V6)).unwrap().unwrap();
    assert_eq!(berlin.city.unwrap().name.as_deref(), Some("Berlin"));
    assert_eq!(berlin.network.unwrap().to_string(), "2001:db8:1::/48");

    let plain = geoip.lookup(ip(SAMPLE_V4)).unwrap();
    let mapped = geoip.lookup(ip("::ffff:81.2.69.160")).unwrap();
    assert_eq!(mapped.ip, ip(SAMPLE_V4));
    assert_eq!(plain, mapped);
    assert_eq!(
        mapped.location.unwrap().network.unwrap().to_string(),
        "81.2.69.0/24"
    );

    // An IPv4-only database answers mapped addresses and refuses nothing for IPv6.
    let v4_only = reel_geoip::testdata::custom_database_with(
        "GeoLite2-City",
        testdata::IpVersion::V4,
        &[(
            "81.2.69.0/24",
            RecordValue::map([(
                "country",
                RecordValue::map([("iso_code", RecordValue::from("GB"))]),
            )]),
        )],
    )
    .unwrap();
    let db = Database::from_bytes(v4_only).unwrap();
    assert_eq!(db.info().ip_version, 4);
    assert!(
        db.location(ip("::ffff:81.2.69.1"), &Locales::default())
            .unwrap()
            .is_some()
    );
    assert!(
        db.location(ip(SAMPLE_V6), &Locales::default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn missing_addresses_and_empty_slots_answer_none() {
    let geoip = loaded(&["en"]);
    let found = geoip.lookup(ip(SAMPLE_MISSING)).unwrap();
    assert_eq!(found.location, None);
    assert_eq!(found.asn, None);
    let empty = GeoIp::new();
    assert!(!empty.is_loaded(&Slot::Location));
    assert_eq!(empty.lookup(ip(SAMPLE_V4)).unwrap().location, None);
    assert!(matches!(
        empty.status(&Slot::custom("nope")),
        Err(Error::UnknownSlot(name)) if name == "nope"
    ));
}

#[test]
fn city_and_asn_combined() {
    let geoip = loaded(&["en"]);
    for (index, sample) in SAMPLES.iter().enumerate() {
        let found = geoip.lookup(ip(sample.address)).unwrap();
        let asn = found.asn.expect("every sample has an ASN");
        assert_eq!(asn.number, Some(testdata::asn_number(index)));
        assert_eq!(asn.organization, Some(testdata::asn_organization(index, 7)));
        assert_eq!(asn.network.unwrap().to_string(), sample.network);
        assert_eq!(
            found.location.unwrap().country.unwrap().iso_code.as_deref(),
            Some(sample.country)
        );
    }
    let json = serde_json::to_value(geoip.lookup(ip(SAMPLE_V4)).unwrap()).unwrap();
    assert_eq!(json["location"]["network"], "81.2.69.0/24");
    assert_eq!(json["asn"]["number"], 64496);
}

#[test]
fn raw_typed_decoding_for_custom_databases() {
    #[derive(Debug, serde::Deserialize)]
    struct Risk {
        score: u32,
        label: String,
    }
    let geoip = GeoIp::builder().custom_slot("risk", "Example-Risk").build();
    let db = testdata::custom_database(
        "Example-Risk",
        &[
            (
                "203.0.113.0/24",
                RecordValue::map([
                    ("score", RecordValue::from(90u32)),
                    ("label", RecordValue::from("high")),
                ]),
            ),
            (
                "2001:db8:9::/48",
                RecordValue::map([
                    ("score", RecordValue::from(5u32)),
                    ("label", RecordValue::from("low")),
                ]),
            ),
        ],
    )
    .unwrap();
    geoip.replace(&Slot::custom("risk"), db, "inline").unwrap();
    let (risk, network) = geoip
        .decode::<Risk>(&Slot::custom("risk"), ip("203.0.113.9"))
        .unwrap()
        .unwrap();
    assert_eq!((risk.score, risk.label.as_str()), (90, "high"));
    assert_eq!(network.unwrap().to_string(), "203.0.113.0/24");
    let low = geoip
        .decode::<Risk>(&Slot::custom("risk"), ip("2001:db8:9::1"))
        .unwrap()
        .unwrap();
    assert_eq!(low.0.label, "low");

    // maxminddb's own borrowed geoip2 structs work through with_database.
    let geoip = loaded(&["en"]);
    let city = geoip
        .with_database(&Slot::Location, |db| {
            let (city, _) = db
                .unwrap()
                .decode::<geoip2::City<'_>>(ip(SAMPLE_V4))
                .unwrap()
                .unwrap();
            city.city.names.english.map(str::to_owned)
        })
        .unwrap();
    assert_eq!(city.as_deref(), Some("London"));

    // A record of the wrong shape is a decode error, not a panic.
    let err = geoip
        .decode::<Risk>(&Slot::Location, ip(SAMPLE_V4))
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
}

#[test]
fn candidates_are_checked_before_they_replace_the_current_database() {
    let geoip = loaded(&["en"]);
    let before = geoip.database(&Slot::Location).unwrap().unwrap();

    // Wrong type for the slot.
    let err = geoip
        .replace(
            &Slot::Location,
            AsnDatabase::new().build().unwrap(),
            "asn-as-city",
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::WrongDatabaseType { ref found, .. } if found == "GeoLite2-ASN"),
        "{err}"
    );
    // Empty and garbage.
    assert!(matches!(
        geoip.replace(&Slot::Location, Vec::new(), "empty"),
        Err(Error::InvalidDatabase(_))
    ));
    assert!(matches!(
        geoip.replace(&Slot::Location, vec![0x42; 4096], "garbage"),
        Err(Error::InvalidDatabase(_))
    ));
    // A probe address that must have data.
    let strict = GeoIp::builder()
        .slot(
            Slot::Location,
            Check::for_slot(&Slot::Location).probe(ip(SAMPLE_MISSING)),
        )
        .build();
    assert!(matches!(
        strict.replace(
            &Slot::Location,
            CityDatabase::new().build().unwrap(),
            "probe"
        ),
        Err(Error::ProbeFailed { .. })
    ));
    assert!(!strict.is_loaded(&Slot::Location));

    let after = geoip.database(&Slot::Location).unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&before, &after));
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(status.reloads, 1);
    assert_eq!(status.failed_reloads, 3);
    assert!(
        status
            .last_error
            .unwrap()
            .contains("not a valid MaxMind database")
    );
    assert_eq!(
        geoip
            .location(ip(SAMPLE_V4))
            .unwrap()
            .unwrap()
            .accuracy_radius,
        Some(7)
    );
}

#[test]
fn truncated_and_bit_flipped_databases_are_refused() {
    let good = CityDatabase::new().filler_networks(200).build().unwrap();
    let geoip = loaded(&["en"]);
    for cut in [good.len() / 2, good.len() - 10, 100] {
        let err = geoip
            .replace(&Slot::Location, good[..cut].to_vec(), "cut")
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidDatabase(_)),
            "cut at {cut}: {err}"
        );
    }
    // Corrupt the search tree: the verifier catches what opening does not.
    let mut flipped = good.clone();
    for byte in flipped.iter_mut().take(3000).skip(24) {
        *byte = 0xff;
    }
    assert!(geoip.replace(&Slot::Location, flipped, "flipped").is_err());
    assert_eq!(
        geoip
            .location(ip(SAMPLE_V4))
            .unwrap()
            .unwrap()
            .accuracy_radius,
        Some(7)
    );
}

#[test]
fn reload_events_are_sent() {
    let geoip = GeoIp::new();
    let mut events = geoip.events();
    geoip
        .replace(
            &Slot::Location,
            CityDatabase::new().version(1).build().unwrap(),
            "one",
        )
        .unwrap();
    let _ = geoip.replace(&Slot::Location, b"junk".to_vec(), "two");
    geoip.report_unchanged(&Slot::Location, "three");
    let first = events.try_recv().unwrap();
    assert_eq!(first.source, "one");
    assert!(
        matches!(first.outcome, reel_geoip::ReloadOutcome::Loaded(ref info) if info.database_type == "GeoLite2-City")
    );
    // The event carries the typed error, not its text.
    let failed = events.try_recv().unwrap().outcome;
    assert!(
        matches!(&failed, reel_geoip::ReloadOutcome::Failed(error)
            if matches!(**error, reel_geoip::Error::InvalidDatabase(_))),
        "{failed:?}"
    );
    assert!(matches!(
        events.try_recv().unwrap().outcome,
        reel_geoip::ReloadOutcome::Unchanged
    ));
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(
        (
            status.reloads,
            status.failed_reloads,
            status.unchanged_checks
        ),
        (1, 1, 1)
    );
    assert_eq!(
        status.database.unwrap().build_time,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_001)
    );
    assert_eq!(status.source.as_deref(), Some("one"));
    assert!(status.loaded_at.is_some());
}

#[test]
fn names_in_languages_outside_maxminds_eight_are_skipped_not_fatal() {
    // A City-shaped custom database whose names carry extra languages, some before the
    // known ones and one with a non-string value: decoding skips them and keeps the rest.
    let names = RecordValue::map([
        ("it", RecordValue::from("Regno Unito")),
        ("x-count", RecordValue::from(7u32)),
        ("en", RecordValue::from("United Kingdom")),
        ("nl", RecordValue::from("Verenigd Koninkrijk")),
        ("de", RecordValue::from("Vereinigtes Königreich")),
    ]);
    let record = RecordValue::map([(
        "country",
        RecordValue::map([("iso_code", RecordValue::from("GB")), ("names", names)]),
    )]);
    let bytes = testdata::custom_database("GeoIP2-City", &[("10.0.0.0/8", record)]).unwrap();
    let db = Database::from_bytes(bytes).unwrap();
    let at = |locales: &[&str]| {
        db.location(ip("10.1.2.3"), &Locales::new(locales.iter().copied()))
            .unwrap()
            .unwrap()
            .country
            .unwrap()
            .name
    };
    assert_eq!(at(&["it", "de"]).as_deref(), Some("Vereinigtes Königreich"));
    assert_eq!(at(&["en"]).as_deref(), Some("United Kingdom"));
    // No MaxMind language in the list: English.
    assert_eq!(at(&["nl"]).as_deref(), Some("United Kingdom"));
    // The extra languages are still there for raw decoding.
    let raw: Option<(geoip2::Country<'_>, _)> = db.decode(ip("10.1.2.3")).unwrap();
    assert_eq!(raw.unwrap().0.country.iso_code, Some("GB"));
}
