//! reel-geoip's answers against MaxMind's C reader (Debian libmaxminddb) on the same file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::IpAddr;

use reel_bench_ffi::libmaxminddb::{Mmdb, ValuePath};
use reel_geoip::testdata::{self, CityDatabase, SAMPLES};
use reel_geoip::{GeoIp, Slot};

#[test]
fn lookups_agree_with_libmaxminddb() {
    let bytes = CityDatabase::new()
        .version(9)
        .filler_networks(500)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.mmdb");
    std::fs::write(&path, &bytes).unwrap();
    let c = Mmdb::open(&path).unwrap();
    let geoip = GeoIp::new();
    geoip.replace(&Slot::Location, bytes, "test").unwrap();

    let country = ValuePath::new(&["country", "iso_code"]);
    let continent = ValuePath::new(&["continent", "code"]);
    let subdivision = ValuePath::new(&["subdivisions", "0", "iso_code"]);
    let city = ValuePath::new(&["city", "names", "en"]);
    let postal = ValuePath::new(&["postal", "code"]);
    let latitude = ValuePath::new(&["location", "latitude"]);
    let longitude = ValuePath::new(&["location", "longitude"]);
    let radius = ValuePath::new(&["location", "accuracy_radius"]);
    let time_zone = ValuePath::new(&["location", "time_zone"]);

    let mut addresses: Vec<String> = SAMPLES.iter().map(|s| s.address.to_owned()).collect();
    addresses.extend(
        (0..500)
            .step_by(7)
            .map(|n| testdata::filler_address(n).to_string()),
    );
    addresses.push(testdata::SAMPLE_MISSING.to_owned());
    let mut compared = 0;
    for address in &addresses {
        let ip: IpAddr = address.parse().unwrap();
        let ours = geoip.location(ip).unwrap();
        let theirs = c.lookup(address).unwrap();
        let (Some(ours), Some(theirs)) = (ours.as_ref(), theirs) else {
            assert_eq!(ours.is_none(), theirs.is_none(), "{address}");
            continue;
        };
        assert_eq!(
            ours.country.as_ref().and_then(|c| c.iso_code.as_deref()),
            theirs.string(&country),
            "{address}"
        );
        assert_eq!(
            ours.continent.as_ref().and_then(|c| c.iso_code.as_deref()),
            theirs.string(&continent),
            "{address}"
        );
        assert_eq!(
            ours.subdivisions
                .first()
                .and_then(|s| s.iso_code.as_deref()),
            theirs.string(&subdivision),
            "{address}"
        );
        assert_eq!(
            ours.city.as_ref().and_then(|c| c.name.as_deref()),
            theirs.string(&city),
            "{address}"
        );
        assert_eq!(
            ours.postal_code.as_deref(),
            theirs.string(&postal),
            "{address}"
        );
        assert_eq!(ours.latitude, theirs.f64(&latitude), "{address}");
        assert_eq!(ours.longitude, theirs.f64(&longitude), "{address}");
        assert_eq!(
            ours.accuracy_radius.map(u32::from),
            theirs.u32(&radius),
            "{address}"
        );
        assert_eq!(
            ours.time_zone.as_deref(),
            theirs.string(&time_zone),
            "{address}"
        );
        let prefix = u16::from(ours.network.unwrap().prefix_len());
        let expected = if ip.is_ipv4() { prefix + 96 } else { prefix };
        assert_eq!(expected, theirs.netmask(), "{address}");
        compared += 1;
    }
    assert_eq!(compared, addresses.len() - 1);
}
