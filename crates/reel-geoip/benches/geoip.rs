//! reel-geoip against the raw `maxminddb` reader and libmaxminddb (C), in one run.
//!
//! `geoip/lookup`: one City lookup producing the same owned information each way — continent,
//! country and registered country (code, English name, GeoNames id), subdivisions, city,
//! postal code, coordinates, accuracy radius, time zone and network — for a rotating set of
//! addresses in a database of 20 000 networks.
//! - `reel`: `GeoIp::location` (hot-swap load, decode, owned `Location`).
//! - `maxminddb_raw`: `Reader::lookup` + `decode::<geoip2::City>` + the same owned fields.
//! - `libmaxminddb`: `MMDB_lookup_string` + one `MMDB_aget_value` per field, copied out.
//!
//! Wall-clock ratios on a shared 2-core machine drift by ±30% between runs, so the lookup
//! overhead is also measured in instructions, which do not drift: with `GEOIP_ONLY` set to a
//! contender's name the binary skips criterion and runs only that contender's lookups, once
//! per address, `GEOIP_ROUNDS` times (default 50), inside `run_only`:
//!
//! ```text
//! cargo bench -p reel-geoip --bench geoip --no-run   # prints the binary's path
//! GEOIP_ONLY=reel valgrind --tool=callgrind --toggle-collect='geoip::run_only' <binary>
//! GEOIP_ONLY=maxminddb_raw valgrind --tool=callgrind --toggle-collect='geoip::run_only' <binary>
//! ```
//!
//! With `--features metrics` the binary first installs a Prometheus recorder
//! (metrics-exporter-prometheus), so `reel` lookups pay for their counters; the feature's cost
//! is the `reel` time with it against a baseline saved without it:
//!
//! ```text
//! cargo bench -p reel-geoip --bench geoip -- 'geoip/lookup/reel$' --save-baseline metrics-off
//! cargo bench -p reel-geoip --bench geoip --features metrics -- 'geoip/lookup/reel$' --baseline metrics-off
//! ```
//!
//! `geoip/reload_50mb`: replacing a database of more than 50 MB held in memory.
//! - `reel`: `GeoIp::replace` with the default check (open, full verification, probe, swap).
//! - `reel_unverified`: the same with `Check::verify(false)`.
//! - `maxminddb_raw`: `Reader::from_source` alone (what a hand-rolled reload would do).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group};
use maxminddb::geoip2;
use reel_bench_ffi::libmaxminddb::{Mmdb, ValuePath};
use reel_geoip::testdata::{self, CityDatabase, SAMPLES};
use reel_geoip::{Check, GeoIp, Slot};

/// What every contender produces per lookup.
#[allow(dead_code)]
#[derive(Default)]
struct Owned {
    network: Option<String>,
    continent: (Option<String>, Option<String>, Option<u32>),
    country: (Option<String>, Option<String>, Option<u32>),
    registered: (Option<String>, Option<String>, Option<u32>),
    subdivisions: Vec<(Option<String>, Option<String>)>,
    city: (Option<String>, Option<u32>),
    postal: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    radius: Option<u16>,
    time_zone: Option<String>,
}

fn s(v: Option<&str>) -> Option<String> {
    v.map(str::to_owned)
}

fn raw_lookup(reader: &maxminddb::Reader<Vec<u8>>, ip: IpAddr) -> Option<Owned> {
    let result = reader.lookup(ip).ok()?;
    let city: geoip2::City<'_> = result.decode().ok()??;
    Some(Owned {
        network: result.network().ok().map(|n| n.to_string()),
        continent: (
            s(city.continent.code),
            s(city.continent.names.english),
            city.continent.geoname_id,
        ),
        country: (
            s(city.country.iso_code),
            s(city.country.names.english),
            city.country.geoname_id,
        ),
        registered: (
            s(city.registered_country.iso_code),
            s(city.registered_country.names.english),
            city.registered_country.geoname_id,
        ),
        subdivisions: city
            .subdivisions
            .iter()
            .map(|d| (s(d.iso_code), s(d.names.english)))
            .collect(),
        city: (s(city.city.names.english), city.city.geoname_id),
        postal: s(city.postal.code),
        latitude: city.location.latitude,
        longitude: city.location.longitude,
        radius: city.location.accuracy_radius,
        time_zone: s(city.location.time_zone),
    })
}

struct CPaths {
    continent: [ValuePath; 3],
    country: [ValuePath; 3],
    registered: [ValuePath; 3],
    subdivisions: [[ValuePath; 2]; 2],
    city: [ValuePath; 2],
    postal: ValuePath,
    latitude: ValuePath,
    longitude: ValuePath,
    radius: ValuePath,
    time_zone: ValuePath,
}

fn place(prefix: &str, code: &str) -> [ValuePath; 3] {
    [
        ValuePath::new(&[prefix, code]),
        ValuePath::new(&[prefix, "names", "en"]),
        ValuePath::new(&[prefix, "geoname_id"]),
    ]
}

fn c_paths() -> CPaths {
    CPaths {
        continent: place("continent", "code"),
        country: place("country", "iso_code"),
        registered: place("registered_country", "iso_code"),
        subdivisions: [0, 1].map(|i| {
            let i = i.to_string();
            [
                ValuePath::new(&["subdivisions", &i, "iso_code"]),
                ValuePath::new(&["subdivisions", &i, "names", "en"]),
            ]
        }),
        city: [
            ValuePath::new(&["city", "names", "en"]),
            ValuePath::new(&["city", "geoname_id"]),
        ],
        postal: ValuePath::new(&["postal", "code"]),
        latitude: ValuePath::new(&["location", "latitude"]),
        longitude: ValuePath::new(&["location", "longitude"]),
        radius: ValuePath::new(&["location", "accuracy_radius"]),
        time_zone: ValuePath::new(&["location", "time_zone"]),
    }
}

fn c_lookup(db: &Mmdb, p: &CPaths, ip: &str) -> Option<Owned> {
    let e = db.lookup(ip).ok()??;
    let triple = |t: &[ValuePath; 3]| (s(e.string(&t[0])), s(e.string(&t[1])), e.u32(&t[2]));
    Some(Owned {
        network: Some(format!("/{}", e.netmask())),
        continent: triple(&p.continent),
        country: triple(&p.country),
        registered: triple(&p.registered),
        subdivisions: p
            .subdivisions
            .iter()
            .map_while(|d| {
                e.string(&d[0])
                    .map(|code| (Some(code.to_owned()), s(e.string(&d[1]))))
            })
            .collect(),
        city: (s(e.string(&p.city[0])), e.u32(&p.city[1])),
        postal: s(e.string(&p.postal)),
        latitude: e.f64(&p.latitude),
        longitude: e.f64(&p.longitude),
        radius: e.u32(&p.radius).map(|r| r as u16),
        time_zone: s(e.string(&p.time_zone)),
    })
}

/// Everything the lookup contenders need, built once.
struct Contenders {
    geoip: GeoIp,
    reader: maxminddb::Reader<Vec<u8>>,
    mmdb: Mmdb,
    paths: CPaths,
    addresses: Vec<IpAddr>,
    texts: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Contenders {
    fn new() -> Self {
        let bytes = CityDatabase::new().filler_networks(20_000).build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench-city.mmdb");
        std::fs::write(&path, &bytes).unwrap();

        let geoip = GeoIp::new();
        geoip
            .replace(&Slot::Location, bytes.clone(), "bench")
            .unwrap();
        let reader = maxminddb::Reader::from_source(bytes).unwrap();
        let mmdb = Mmdb::open(&path).unwrap();
        let paths = c_paths();

        let mut addresses: Vec<IpAddr> =
            SAMPLES.iter().map(|s| s.address.parse().unwrap()).collect();
        addresses.extend((0..20_000).step_by(79).map(testdata::filler_address));
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        // Every contender must find every address.
        for (ip, text) in addresses.iter().zip(&texts) {
            assert!(geoip.location(*ip).unwrap().is_some());
            assert!(raw_lookup(&reader, *ip).is_some());
            assert!(c_lookup(&mmdb, &paths, text).is_some());
        }
        Self {
            geoip,
            reader,
            mmdb,
            paths,
            addresses,
            texts,
            _dir: dir,
        }
    }

    /// One lookup of address `i` by the contender `name`; false for an unknown name.
    fn lookup(&self, name: &str, i: usize) -> bool {
        match name {
            "reel" => {
                black_box(self.geoip.location(black_box(self.addresses[i])).unwrap());
            }
            "maxminddb_raw" => {
                black_box(raw_lookup(&self.reader, black_box(self.addresses[i])));
            }
            "libmaxminddb" => {
                black_box(c_lookup(&self.mmdb, &self.paths, black_box(&self.texts[i])));
            }
            _ => return false,
        }
        true
    }
}

const CONTENDERS: [&str; 3] = ["reel", "maxminddb_raw", "libmaxminddb"];

fn lookup(c: &mut Criterion) {
    let contenders = Contenders::new();
    let mut group = c.benchmark_group("geoip/lookup");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let n = contenders.addresses.len();
    for name in CONTENDERS {
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % n;
                contenders.lookup(name, i)
            })
        });
    }
    group.finish();
}

/// The instruction-count mode: every address `rounds` times through one contender.
#[inline(never)]
fn run_only(contenders: &Contenders, name: &str, rounds: usize) {
    for _ in 0..rounds {
        for i in 0..contenders.addresses.len() {
            assert!(contenders.lookup(name, i), "unknown contender {name}");
        }
    }
}

fn reload(c: &mut Criterion) {
    // About 150 bytes per filler record: 360 000 networks make a database of 50+ MB.
    let bytes = CityDatabase::new()
        .filler_networks(360_000)
        .build()
        .unwrap();
    assert!(bytes.len() > 50_000_000, "only {} bytes", bytes.len());
    eprintln!("reload database: {} bytes", bytes.len());

    let verified = GeoIp::new();
    let unverified = GeoIp::builder()
        .slot(
            Slot::Location,
            Check::for_slot(&Slot::Location).verify(false),
        )
        .build();
    let mut group = c.benchmark_group("geoip/reload_50mb");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("reel", |b| {
        b.iter_batched(
            || bytes.clone(),
            |copy| verified.replace(&Slot::Location, copy, "bench").unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("reel_unverified", |b| {
        b.iter_batched(
            || bytes.clone(),
            |copy| unverified.replace(&Slot::Location, copy, "bench").unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("maxminddb_raw", |b| {
        b.iter_batched(
            || bytes.clone(),
            |copy| maxminddb::Reader::from_source(copy).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, lookup, reload);

fn main() {
    // With `--features metrics`, lookups record into a real Prometheus recorder, as in an
    // application; compare against a run without the feature (see the crate README).
    #[cfg(feature = "metrics")]
    {
        let _handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap();
        reel_geoip::describe_metrics();
    }
    if let Ok(name) = std::env::var("GEOIP_ONLY") {
        assert!(
            CONTENDERS.contains(&name.as_str()),
            "GEOIP_ONLY must be one of {CONTENDERS:?}"
        );
        let rounds = std::env::var("GEOIP_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(50);
        run_only(&Contenders::new(), &name, rounds);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
