//! Lookups from several threads while the databases are replaced every few milliseconds:
//! no lookup fails, none returns a record mixed from two versions or the wrong record, and
//! once the readers stop only the serving database is still alive.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use reel_geoip::testdata::{self, AsnDatabase, CityDatabase, SAMPLES};
use reel_geoip::{Check, Database, GeoIp, Slot};

const VERSIONS: u32 = 48;
const READERS: usize = 4;
const RUN_FOR: Duration = Duration::from_secs(3);

#[test]
fn lookups_never_fail_or_mix_while_databases_are_swapped() {
    let cities: Vec<Vec<u8>> = (1..=VERSIONS)
        .map(|v| CityDatabase::new().version(v).build().unwrap())
        .collect();
    let asns: Vec<Vec<u8>> = (1..=VERSIONS)
        .map(|v| AsnDatabase::new().version(v).build().unwrap())
        .collect();
    // Full verification is tested elsewhere; here it would only slow the swaps down.
    let geoip = GeoIp::builder()
        .slot(
            Slot::Location,
            Check::for_slot(&Slot::Location).verify(false),
        )
        .slot(Slot::Asn, Check::for_slot(&Slot::Asn).verify(false))
        .build();
    geoip
        .replace(&Slot::Location, cities[0].clone(), "v1")
        .unwrap();
    geoip.replace(&Slot::Asn, asns[0].clone(), "v1").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let addresses: Vec<(usize, IpAddr)> = SAMPLES
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let ip: IpAddr = s.address.parse().unwrap();
            let mapped = match ip {
                IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                v6 => v6,
            };
            [(i, ip), (i, mapped)]
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let geoip = geoip.clone();
            let stop = stop.clone();
            let lookups = lookups.clone();
            let addresses = addresses.clone();
            std::thread::spawn(move || {
                let mut problems = Vec::new();
                let mut n = r;
                while !stop.load(Ordering::Relaxed) {
                    let (index, ip) = addresses[n % addresses.len()];
                    n += 1;
                    let sample = &SAMPLES[index];
                    match geoip.lookup(ip) {
                        Err(e) => problems.push(format!("{ip}: {e}")),
                        Ok(found) => {
                            let Some(location) = found.location else {
                                problems.push(format!("{ip}: no location"));
                                continue;
                            };
                            let version = u32::from(location.accuracy_radius.unwrap_or(0));
                            if !(1..=VERSIONS).contains(&version) {
                                problems.push(format!("{ip}: version {version}"));
                            }
                            if location.country.and_then(|c| c.iso_code).as_deref()
                                != Some(sample.country)
                            {
                                problems.push(format!("{ip}: wrong country"));
                            }
                            if sample.city_en.is_some()
                                && location.city.and_then(|c| c.geoname_id)
                                    != Some(testdata::city_geoname_id(index, version))
                            {
                                problems
                                    .push(format!("{ip}: city of another version than {version}"));
                            }
                            match found.asn {
                                Some(asn) if asn.number == Some(testdata::asn_number(index)) => {
                                    let org = asn.organization.unwrap_or_default();
                                    let ok = (1..=VERSIONS)
                                        .any(|v| org == testdata::asn_organization(index, v));
                                    if !ok {
                                        problems.push(format!("{ip}: asn organisation {org}"));
                                    }
                                }
                                other => problems.push(format!("{ip}: asn {other:?}")),
                            }
                        }
                    }
                    lookups.fetch_add(1, Ordering::Relaxed);
                }
                problems
            })
        })
        .collect();

    // Replace both databases every few ms, remembering every database that was served.
    let mut served: Vec<Weak<Database>> = Vec::new();
    let started = Instant::now();
    let mut swaps = 0u32;
    while started.elapsed() < RUN_FOR {
        let i = (swaps % VERSIONS) as usize;
        geoip
            .replace(&Slot::Location, cities[i].clone(), "stress")
            .unwrap();
        geoip
            .replace(&Slot::Asn, asns[i].clone(), "stress")
            .unwrap();
        served.push(Arc::downgrade(
            &geoip.database(&Slot::Location).unwrap().unwrap(),
        ));
        swaps += 1;
        // Not a wait: spaces the swaps so the readers see each database for a while.
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let problems: Vec<String> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();

    let total = lookups.load(Ordering::Relaxed);
    assert!(swaps >= 100, "only {swaps} swaps");
    assert!(total > 1000, "only {total} lookups");
    assert!(
        problems.is_empty(),
        "{} bad lookups of {total}: {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );

    // Memory returns to one database: every replaced one has been freed.
    let alive = served.iter().filter(|w| w.strong_count() > 0).count();
    assert_eq!(
        alive,
        1,
        "{alive} of {} location databases still alive",
        served.len()
    );
    let current = geoip.database(&Slot::Location).unwrap().unwrap();
    assert!(Weak::ptr_eq(
        served.last().unwrap(),
        &Arc::downgrade(&current)
    ));
    assert_eq!(
        Arc::strong_count(&current),
        2,
        "the slot and this test hold it, nobody else"
    );
    let status = geoip.status(&Slot::Location).unwrap();
    assert_eq!(status.reloads, u64::from(swaps) + 1);
    assert_eq!(status.failed_reloads, 0);
    eprintln!("{swaps} swaps, {total} lookups, 0 failures");
}

#[test]
fn an_in_flight_reader_keeps_the_old_database_until_it_is_done() {
    let geoip = GeoIp::new();
    geoip
        .replace(
            &Slot::Location,
            CityDatabase::new().version(1).build().unwrap(),
            "v1",
        )
        .unwrap();
    let ip: IpAddr = testdata::SAMPLE_V4.parse().unwrap();
    let weak_old = geoip
        .with_database(&Slot::Location, |db| {
            let db = db.unwrap();
            // A reload lands while this lookup is running.
            let other = geoip.clone();
            std::thread::spawn(move || {
                other
                    .replace(
                        &Slot::Location,
                        CityDatabase::new().version(2).build().unwrap(),
                        "v2",
                    )
                    .unwrap()
            })
            .join()
            .unwrap();
            let location = db.location(ip, &Default::default()).unwrap().unwrap();
            assert_eq!(
                location.accuracy_radius,
                Some(1),
                "the lookup finishes on the old database"
            );
            Arc::downgrade(&geoip.database(&Slot::Location).unwrap().unwrap())
        })
        .unwrap();
    assert_eq!(
        geoip.location(ip).unwrap().unwrap().accuracy_radius,
        Some(2)
    );
    assert_eq!(
        weak_old.strong_count(),
        1,
        "weak_old points at the new, serving database"
    );

    let old = geoip.database(&Slot::Location).unwrap().unwrap();
    let weak = Arc::downgrade(&old);
    geoip
        .replace(
            &Slot::Location,
            CityDatabase::new().version(3).build().unwrap(),
            "v3",
        )
        .unwrap();
    assert_eq!(
        old.location(ip, &Default::default())
            .unwrap()
            .unwrap()
            .accuracy_radius,
        Some(2)
    );
    drop(old);
    assert_eq!(weak.strong_count(), 0, "freed once its last reader let go");
}
