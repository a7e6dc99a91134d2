//! The data GeoIP2 users expect: represented country, traits, metro code, per-lookup locale;
//! Country, ASN, ISP and Anonymous-IP editions in slots of their type; several editions
//! downloaded by one updater.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use reel_core::{Backoff, Jitter, SecretSource};
use reel_geoip::testdata::{AsnDatabase, CityDatabase, RecordValue as V, custom_database};
use reel_geoip::{GeoIp, Locales, ReloadOutcome, Slot, Updater};
use support::maxmind_standin::{ACCOUNT, KEY, server, tar_gz};

fn names(pairs: &[(&str, &str)]) -> V {
    V::map(pairs.iter().map(|(l, n)| (*l, V::from(*n))))
}

fn enterprise_record() -> V {
    V::map([
        (
            "country",
            V::map([
                ("iso_code", V::from("DE")),
                ("names", names(&[("en", "Germany"), ("fr", "Allemagne")])),
            ]),
        ),
        (
            "represented_country",
            V::map([
                ("geoname_id", V::from(6_252_001u32)),
                ("iso_code", V::from("US")),
                (
                    "names",
                    names(&[("en", "United States"), ("fr", "États-Unis")]),
                ),
                ("type", V::from("military")),
            ]),
        ),
        (
            "location",
            V::map([
                ("latitude", V::from(49.44)),
                ("longitude", V::from(7.77)),
                ("metro_code", V::from(807u16)),
            ]),
        ),
        (
            "traits",
            V::map([
                ("is_anonymous", V::from(true)),
                ("is_public_proxy", V::from(true)),
                ("is_satellite_provider", V::from(true)),
                ("user_type", V::from("military")),
            ]),
        ),
    ])
}

#[test]
fn represented_country_traits_metro_code_and_per_lookup_locale() {
    let geoip = GeoIp::new();
    let db = custom_database(
        "GeoIP2-Enterprise",
        &[("203.0.113.0/24", enterprise_record())],
    )
    .unwrap();
    geoip.replace(&Slot::Location, db, "test").unwrap();
    let ip = "203.0.113.7".parse().unwrap();
    let location = geoip.location(ip).unwrap().unwrap();
    let represented = location.represented_country.unwrap();
    assert_eq!(represented.iso_code.as_deref(), Some("US"));
    assert_eq!(represented.name.as_deref(), Some("United States"));
    assert_eq!(represented.kind.as_deref(), Some("military"));
    assert_eq!(location.metro_code, Some(807));
    assert!(location.traits.is_anonymous && location.traits.is_public_proxy);
    assert!(location.traits.is_satellite_provider && !location.traits.is_tor_exit_node);
    assert_eq!(location.traits.user_type.as_deref(), Some("military"));

    let french = geoip
        .location_in(ip, &Locales::new(["fr-FR"]))
        .unwrap()
        .unwrap();
    assert_eq!(french.country.unwrap().name.as_deref(), Some("Allemagne"));
    assert_eq!(
        french.represented_country.unwrap().name.as_deref(),
        Some("États-Unis")
    );
    // The service's own locale is unchanged.
    let json = serde_json::to_value(geoip.lookup(ip).unwrap()).unwrap();
    assert_eq!(json["location"]["country"]["name"], "Germany");
    assert_eq!(json["location"]["traits"]["is_public_proxy"], true);
    assert_eq!(json["location"]["metro_code"], 807);
}

#[test]
fn country_isp_and_anonymous_ip_editions_in_their_slots() {
    let geoip = GeoIp::new();
    let country = custom_database(
        "GeoLite2-Country",
        &[(
            "203.0.113.0/24",
            V::map([(
                "country",
                V::map([
                    ("iso_code", V::from("SE")),
                    ("names", names(&[("en", "Sweden")])),
                ]),
            )]),
        )],
    )
    .unwrap();
    let isp = custom_database(
        "GeoIP2-ISP",
        &[(
            "203.0.113.0/24",
            V::map([
                ("autonomous_system_number", V::from(64500u32)),
                ("autonomous_system_organization", V::from("Example AS")),
                ("isp", V::from("Example Mobile")),
                ("organization", V::from("Example Customer")),
                ("mobile_country_code", V::from("240")),
                ("mobile_network_code", V::from("01")),
            ]),
        )],
    )
    .unwrap();
    let anonymous = custom_database(
        "GeoIP2-Anonymous-IP",
        &[(
            "203.0.113.0/24",
            V::map([
                ("is_anonymous", V::from(true)),
                ("is_anonymous_vpn", V::from(true)),
                ("is_tor_exit_node", V::from(true)),
            ]),
        )],
    )
    .unwrap();
    // Each edition is refused by the slots of other types.
    assert!(
        geoip
            .replace(&Slot::Location, anonymous.clone(), "t")
            .is_err()
    );
    assert!(geoip.replace(&Slot::AnonymousIp, isp.clone(), "t").is_err());
    geoip.replace(&Slot::Location, country, "t").unwrap();
    geoip.replace(&Slot::Asn, isp, "t").unwrap();
    geoip.replace(&Slot::AnonymousIp, anonymous, "t").unwrap();

    let found = geoip.lookup("203.0.113.9".parse().unwrap()).unwrap();
    let location = found.location.unwrap();
    assert_eq!(location.country.unwrap().iso_code.as_deref(), Some("SE"));
    assert!(location.city.is_none());
    let asn = found.asn.unwrap();
    assert_eq!(asn.number, Some(64500));
    assert_eq!(asn.isp.as_deref(), Some("Example Mobile"));
    assert_eq!(
        asn.network_organization.as_deref(),
        Some("Example Customer")
    );
    assert_eq!(
        (
            asn.mobile_country_code.as_deref(),
            asn.mobile_network_code.as_deref()
        ),
        (Some("240"), Some("01"))
    );
    let anonymous = found.anonymous_ip.unwrap();
    assert!(anonymous.is_anonymous && anonymous.is_anonymous_vpn && anonymous.is_tor_exit_node);
    assert!(!anonymous.is_public_proxy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_updater_downloads_several_editions_into_their_slots() {
    let (base, served) = server().await;
    let anonymous = custom_database(
        "GeoIP2-Anonymous-IP",
        &[(
            "81.2.69.0/24",
            V::map([("is_hosting_provider", V::from(true))]),
        )],
    )
    .unwrap();
    {
        let mut s = served.lock().unwrap();
        for (edition, db) in [
            (
                "GeoLite2-City",
                CityDatabase::new().version(3).build().unwrap(),
            ),
            (
                "GeoLite2-ASN",
                AsnDatabase::new().version(3).build().unwrap(),
            ),
            ("GeoIP2-Anonymous-IP", anonymous),
        ] {
            let archive = tar_gz(&[(&format!("{edition}_20261120/{edition}.mmdb"), &db)]);
            s.editions.push((edition.to_owned(), archive));
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let updater = Updater::maxmind(
        ACCOUNT,
        SecretSource::literal(KEY),
        ["GeoLite2-City", "GeoLite2-ASN", "GeoIP2-Anonymous-IP"],
    )
    .base_url(&base)
    .cache_dir(cache.path())
    .backoff(
        Backoff::new(Duration::from_millis(1), Duration::from_millis(5)).with_jitter(Jitter::None),
    );

    let geoip = GeoIp::new();
    let results = updater.check_now(&geoip).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(ReloadOutcome::Loaded(_)))),
        "{results:?}"
    );
    let ip = reel_geoip::testdata::SAMPLE_V4.parse().unwrap();
    let found = geoip.lookup(ip).unwrap();
    assert_eq!(found.location.unwrap().accuracy_radius, Some(3));
    assert!(found.asn.unwrap().organization.is_some());
    assert!(found.anonymous_ip.unwrap().is_hosting_provider);
    for edition in ["GeoLite2-City", "GeoLite2-ASN", "GeoIP2-Anonymous-IP"] {
        assert!(
            cache.path().join(format!("{edition}.mmdb")).exists(),
            "{edition}"
        );
    }

    // A restart: one task serves all three from the cache, then checks (304s).
    let restarted = GeoIp::new();
    let mut events = restarted.events();
    let task = updater.spawn(restarted.clone());
    let (mut loaded, mut unchanged) = (0, 0);
    while loaded < 3 || unchanged < 3 {
        let event = support::wait_for(&mut events, "cached editions, then 304s", |o| {
            support::is_loaded(o) || support::is_unchanged(o)
        })
        .await;
        if support::is_loaded(&event.outcome) {
            loaded += 1;
        } else {
            unchanged += 1;
        }
    }
    assert_eq!((loaded, unchanged), (3, 3));
    assert!(restarted.is_loaded(&Slot::Location));
    assert!(restarted.is_loaded(&Slot::Asn));
    assert!(restarted.is_loaded(&Slot::AnonymousIp));
    task.shutdown().await.unwrap();
}

fn isp_database() -> Vec<u8> {
    custom_database(
        "GeoIP2-ISP",
        &[(
            "81.2.69.0/24",
            V::map([
                ("autonomous_system_number", V::from(64500u32)),
                ("autonomous_system_organization", V::from("Example AS")),
                ("isp", V::from("Example Mobile")),
                ("organization", V::from("Example Customer")),
                ("mobile_country_code", V::from("234")),
                ("mobile_network_code", V::from("15")),
            ]),
        )],
    )
    .unwrap()
}

/// GeoIP2-ISP has a slot of its own type (`Slot::Isp`, `Isp`), which refuses other editions;
/// the updater sends a `GeoIP2-ISP` download there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isp_edition_has_a_slot_of_its_own() {
    let geoip = GeoIp::new();
    let ip = reel_geoip::testdata::SAMPLE_V4.parse().unwrap();
    assert!(geoip.isp(ip).unwrap().is_none());
    // ASN, City and Anonymous-IP databases are not ISP databases.
    for wrong in [
        AsnDatabase::new().build().unwrap(),
        CityDatabase::new().build().unwrap(),
        custom_database(
            "GeoIP2-Anonymous-IP",
            &[("81.2.69.0/24", V::map([("is_anonymous", V::from(true))]))],
        )
        .unwrap(),
    ] {
        let error = geoip.replace(&Slot::Isp, wrong, "t").unwrap_err();
        assert!(error.to_string().contains("isp slot"), "{error}");
    }
    geoip.replace(&Slot::Isp, isp_database(), "t").unwrap();
    let isp = geoip.isp(ip).unwrap().unwrap();
    assert_eq!(isp.isp.as_deref(), Some("Example Mobile"));
    assert_eq!(isp.organization.as_deref(), Some("Example Customer"));
    assert_eq!(isp.autonomous_system_number, Some(64500));
    assert_eq!(
        isp.autonomous_system_organization.as_deref(),
        Some("Example AS")
    );
    assert_eq!(
        (
            isp.mobile_country_code.as_deref(),
            isp.mobile_network_code.as_deref()
        ),
        (Some("234"), Some("15"))
    );
    assert_eq!(isp.network.unwrap().to_string(), "81.2.69.0/24");
    assert_eq!(geoip.lookup(ip).unwrap().isp, Some(isp));

    // Downloaded by edition id, it lands in the ISP slot (not the ASN slot).
    let (base, served) = server().await;
    served.lock().unwrap().editions.push((
        "GeoIP2-ISP".to_owned(),
        tar_gz(&[("GeoIP2-ISP_20261120/GeoIP2-ISP.mmdb", &isp_database())]),
    ));
    let fresh = GeoIp::new();
    let results = Updater::maxmind(ACCOUNT, SecretSource::literal(KEY), ["GeoIP2-ISP"])
        .base_url(&base)
        .check_now(&fresh)
        .await;
    assert!(
        matches!(results[..], [Ok(ReloadOutcome::Loaded(_))]),
        "{results:?}"
    );
    assert!(fresh.is_loaded(&Slot::Isp));
    assert!(!fresh.is_loaded(&Slot::Asn));
    assert_eq!(
        fresh.isp(ip).unwrap().unwrap().isp.as_deref(),
        Some("Example Mobile")
    );
}
