//! Small City-like and ASN-like databases built in memory, for tests, benchmarks and demos.
//!
//! The data is made up but shaped like GeoIP2/GeoLite2 records (names in several languages,
//! IPv4 and IPv6 networks, records with and without a city). Every database carries a
//! `version`: it is written into each City record's `location.accuracy_radius` and the
//! city's `geoname_id` (and into each ASN record's organisation), so a test that replaces
//! databases can tell which version answered and detect a record mixed from two versions.
//!
//! ```
//! use reel_geoip::testdata::{CityDatabase, SAMPLE_V4};
//! use reel_geoip::{Database, Locales};
//!
//! let bytes = CityDatabase::new().version(3).build()?;
//! let db = Database::from_bytes(bytes)?;
//! let location = db.location(SAMPLE_V4.parse()?, &Locales::default())?.expect("in the database");
//! assert_eq!(location.country.unwrap().iso_code.as_deref(), Some("GB"));
//! assert_eq!(location.accuracy_radius, Some(3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{Value, Writer};

/// An IPv4 address of the London record.
pub const SAMPLE_V4: &str = "81.2.69.160";
/// An IPv6 address of the Berlin record.
pub const SAMPLE_V6: &str = "2001:db8:1::17";
/// An address that no record covers.
pub const SAMPLE_MISSING: &str = "198.51.100.1";

/// One made-up City record: where it is and what it is called.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The network, in CIDR notation.
    pub network: &'static str,
    /// An address inside the network.
    pub address: &'static str,
    /// Continent code.
    pub continent: &'static str,
    /// Country ISO code.
    pub country: &'static str,
    /// Registered country ISO code (differs from `country` for some records).
    pub registered_country: &'static str,
    /// First subdivision ISO code, if any.
    pub subdivision: Option<&'static str>,
    /// English city name, if the record has a city.
    pub city_en: Option<&'static str>,
    /// German city name, if the record has one.
    pub city_de: Option<&'static str>,
    /// Postal code, if any.
    pub postal: Option<&'static str>,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// IANA time zone, if any.
    pub time_zone: Option<&'static str>,
}

/// The records every [`CityDatabase`] contains.
pub const SAMPLES: &[Sample] = &[
    Sample {
        network: "81.2.69.0/24",
        address: SAMPLE_V4,
        continent: "EU",
        country: "GB",
        registered_country: "GB",
        subdivision: Some("ENG"),
        city_en: Some("London"),
        city_de: Some("London"),
        postal: Some("EC1A"),
        latitude: 51.5142,
        longitude: -0.0931,
        time_zone: Some("Europe/London"),
    },
    Sample {
        network: "89.160.20.0/24",
        address: "89.160.20.128",
        continent: "EU",
        country: "SE",
        registered_country: "SE",
        subdivision: Some("E"),
        city_en: Some("Linköping"),
        city_de: None,
        postal: Some("581 10"),
        latitude: 58.4167,
        longitude: 15.6167,
        time_zone: Some("Europe/Stockholm"),
    },
    Sample {
        network: "216.160.83.0/24",
        address: "216.160.83.56",
        continent: "NA",
        country: "US",
        registered_country: "US",
        subdivision: Some("WA"),
        city_en: Some("Milton"),
        city_de: None,
        postal: Some("98354"),
        latitude: 47.2513,
        longitude: -122.3149,
        time_zone: Some("America/Los_Angeles"),
    },
    Sample {
        network: "175.16.199.0/24",
        address: "175.16.199.7",
        continent: "AS",
        country: "CN",
        registered_country: "CN",
        subdivision: Some("22"),
        city_en: Some("Changchun"),
        city_de: Some("Changchun"),
        postal: None,
        latitude: 43.88,
        longitude: 125.3228,
        time_zone: Some("Asia/Harbin"),
    },
    Sample {
        // Country-level only: no city, subdivision or postal code; registered elsewhere.
        network: "2.125.160.0/20",
        address: "2.125.160.216",
        continent: "EU",
        country: "IT",
        registered_country: "DE",
        subdivision: None,
        city_en: None,
        city_de: None,
        postal: None,
        latitude: 43.1479,
        longitude: 12.1097,
        time_zone: Some("Europe/Rome"),
    },
    Sample {
        network: "2001:db8:1::/48",
        address: SAMPLE_V6,
        continent: "EU",
        country: "DE",
        registered_country: "DE",
        subdivision: Some("BE"),
        city_en: Some("Berlin"),
        city_de: Some("Berlin"),
        postal: Some("10115"),
        latitude: 52.5244,
        longitude: 13.4105,
        time_zone: Some("Europe/Berlin"),
    },
    Sample {
        network: "2001:db8:2::/48",
        address: "2001:db8:2::5",
        continent: "OC",
        country: "AU",
        registered_country: "AU",
        subdivision: Some("NSW"),
        city_en: Some("Sydney"),
        city_de: None,
        postal: Some("2000"),
        latitude: -33.8688,
        longitude: 151.2093,
        time_zone: Some("Australia/Sydney"),
    },
];

/// The `geoname_id` of the city of record `index` in a database of `version`.
pub fn city_geoname_id(index: usize, version: u32) -> u32 {
    (index as u32 + 1) * 1_000_000 + version
}

fn names(pairs: &[(&str, &str)]) -> Value {
    Value::map(pairs.iter().map(|(lang, name)| (*lang, Value::from(*name))))
}

fn continent_names(code: &str) -> Value {
    match code {
        "EU" => names(&[
            ("en", "Europe"),
            ("de", "Europa"),
            ("fr", "Europe"),
            ("ja", "ヨーロッパ"),
        ]),
        "NA" => names(&[
            ("en", "North America"),
            ("de", "Nordamerika"),
            ("fr", "Amérique du Nord"),
        ]),
        "AS" => names(&[
            ("en", "Asia"),
            ("de", "Asien"),
            ("fr", "Asie"),
            ("ja", "アジア"),
        ]),
        "OC" => names(&[("en", "Oceania"), ("de", "Ozeanien"), ("fr", "Océanie")]),
        _ => names(&[("en", code)]),
    }
}

fn country_names(code: &str) -> Value {
    match code {
        "GB" => names(&[
            ("en", "United Kingdom"),
            ("de", "Vereinigtes Königreich"),
            ("fr", "Royaume-Uni"),
        ]),
        "SE" => names(&[
            ("en", "Sweden"),
            ("de", "Schweden"),
            ("fr", "Suède"),
            ("ja", "スウェーデン王国"),
        ]),
        "US" => names(&[("en", "United States"), ("de", "USA"), ("fr", "États-Unis")]),
        "CN" => names(&[("en", "China"), ("de", "China"), ("zh-CN", "中国")]),
        "IT" => names(&[("en", "Italy"), ("de", "Italien"), ("fr", "Italie")]),
        "DE" => names(&[
            ("en", "Germany"),
            ("de", "Deutschland"),
            ("fr", "Allemagne"),
        ]),
        "AU" => names(&[("en", "Australia"), ("de", "Australien")]),
        _ => names(&[("en", code)]),
    }
}

fn country(code: &str, id: u32) -> Value {
    let mut entries = vec![
        ("geoname_id", Value::from(id)),
        ("iso_code", Value::from(code)),
        ("names", country_names(code)),
    ];
    if matches!(code, "SE" | "IT" | "DE") {
        entries.push(("is_in_european_union", Value::from(true)));
    }
    Value::map(entries)
}

fn city_record(index: usize, sample: &Sample, version: u32) -> Value {
    let mut entries = vec![
        (
            "continent",
            Value::map([
                ("code", Value::from(sample.continent)),
                ("geoname_id", Value::from(6_255_000_u32 + index as u32)),
                ("names", continent_names(sample.continent)),
            ]),
        ),
        ("country", country(sample.country, 2_000_000 + index as u32)),
        (
            "registered_country",
            country(sample.registered_country, 3_000_000 + index as u32),
        ),
    ];
    let mut location = vec![
        ("accuracy_radius", Value::from(version_radius(version))),
        ("latitude", Value::from(sample.latitude)),
        ("longitude", Value::from(sample.longitude)),
    ];
    if let Some(zone) = sample.time_zone {
        location.push(("time_zone", Value::from(zone)));
    }
    entries.push(("location", Value::map(location)));
    if let Some(city) = sample.city_en {
        let mut city_names = vec![("en", city)];
        if let Some(de) = sample.city_de {
            city_names.push(("de", de));
        }
        entries.push((
            "city",
            Value::map([
                ("geoname_id", Value::from(city_geoname_id(index, version))),
                ("names", names(&city_names)),
            ]),
        ));
    }
    if let Some(code) = sample.subdivision {
        entries.push((
            "subdivisions",
            Value::array([
                Value::map([
                    ("geoname_id", Value::from(4_000_000_u32 + index as u32)),
                    ("iso_code", Value::from(code)),
                    ("names", names(&[("en", code)])),
                ]),
                // A second level, as GeoIP2 has for some countries.
                Value::map([
                    ("geoname_id", Value::from(5_000_000_u32 + index as u32)),
                    ("iso_code", Value::from(format!("{code}-2"))),
                    ("names", names(&[("en", "Second level")])),
                ]),
            ]),
        ));
    }
    if let Some(postal) = sample.postal {
        entries.push(("postal", Value::map([("code", Value::from(postal))])));
    }
    Value::map(entries)
}

/// The accuracy radius a database of `version` writes (versions wrap at 65 535).
pub fn version_radius(version: u32) -> u16 {
    (version % 65_535) as u16
}

/// Builds a GeoIP2-City-shaped database.
#[derive(Debug, Clone)]
pub struct CityDatabase {
    version: u32,
    database_type: String,
    filler_networks: u32,
    build_epoch: u64,
}

impl Default for CityDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl CityDatabase {
    /// A `GeoLite2-City` database of version 0 with the [`SAMPLES`].
    pub fn new() -> Self {
        Self {
            version: 0,
            database_type: "GeoLite2-City".to_owned(),
            filler_networks: 0,
            build_epoch: 1_764_000_000,
        }
    }

    /// Sets the version written into every record (and added to the build time).
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Sets the metadata `database_type`.
    pub fn database_type(mut self, database_type: impl Into<String>) -> Self {
        self.database_type = database_type.into();
        self
    }

    /// Adds `count` distinct /24 city records from `11.0.0.0` upwards, to make a large
    /// database (about 150 bytes each): 360 000 give a database over 50 MB.
    pub fn filler_networks(mut self, count: u32) -> Self {
        self.filler_networks = count;
        self
    }

    /// Writes the database.
    pub fn build(&self) -> Result<Vec<u8>, mmdb_writer::Error> {
        let mut writer = Writer::builder(self.database_type.clone())
            .languages(["en", "de", "fr", "ja", "zh-CN"])
            .description(&[("en", "reel-geoip test database")])
            .build_epoch(
                UNIX_EPOCH + Duration::from_secs(self.build_epoch + u64::from(self.version)),
            )
            .build();
        for (index, sample) in SAMPLES.iter().enumerate() {
            let network: IpNet = sample.network.parse().map_err(|_| {
                mmdb_writer::Error::Serialize(format!("invalid network {}", sample.network))
            })?;
            writer.insert_value(network, city_record(index, sample, self.version))?;
        }
        for n in 0..self.filler_networks {
            writer.insert_value(filler_network(n), filler_record(n, self.version))?;
        }
        writer.to_bytes()
    }
}

/// The `n`th filler network: consecutive /24s from 11.0.0.0.
pub fn filler_network(n: u32) -> IpNet {
    let base = u32::from(Ipv4Addr::new(11, 0, 0, 0)) + (n << 8);
    IpNet::new(IpAddr::V4(Ipv4Addr::from(base)), 24).unwrap_or_default()
}

/// An address inside the `n`th filler network.
pub fn filler_address(n: u32) -> IpAddr {
    let base = u32::from(Ipv4Addr::new(11, 0, 0, 0)) + (n << 8) + 9;
    IpAddr::V4(Ipv4Addr::from(base))
}

fn filler_record(n: u32, version: u32) -> Value {
    // Unique strings per record so the data section does not deduplicate them away.
    let city = format!("Filler City {n}");
    let sample = Sample {
        city_en: None,
        ..SAMPLES[(n as usize) % SAMPLES.len()]
    };
    let mut record = city_record(n as usize % SAMPLES.len(), &sample, version);
    if let Value::Map(map) = &mut record {
        map.insert(
            "city".to_owned(),
            Value::map([
                ("geoname_id", Value::from(10_000_000 + n)),
                (
                    "names",
                    names(&[
                        ("en", city.as_str()),
                        ("de", &format!("Füllstadt {n}")),
                        ("fr", &format!("Ville de remplissage {n}")),
                        ("ja", &format!("フィラー都市 {n}")),
                    ]),
                ),
            ]),
        );
        map.insert(
            "postal".to_owned(),
            Value::map([("code", Value::from(format!("F{n:07}")))]),
        );
    }
    record
}

/// Builds a GeoLite2-ASN-shaped database covering the [`SAMPLES`] networks.
#[derive(Debug, Clone)]
pub struct AsnDatabase {
    version: u32,
}

impl Default for AsnDatabase {
    fn default() -> Self {
        Self::new()
    }
}

/// The ASN written for record `index`.
pub fn asn_number(index: usize) -> u32 {
    64_496 + index as u32
}

/// The organisation written for record `index` in a database of `version`.
pub fn asn_organization(index: usize, version: u32) -> String {
    format!("Example Net {index} v{version}")
}

impl AsnDatabase {
    /// A `GeoLite2-ASN` database of version 0.
    pub fn new() -> Self {
        Self { version: 0 }
    }

    /// Sets the version written into every organisation name.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Writes the database.
    pub fn build(&self) -> Result<Vec<u8>, mmdb_writer::Error> {
        let mut writer = Writer::builder("GeoLite2-ASN")
            .description(&[("en", "reel-geoip test ASN database")])
            .build_epoch(UNIX_EPOCH + Duration::from_secs(1_764_000_000 + u64::from(self.version)))
            .build();
        for (index, sample) in SAMPLES.iter().enumerate() {
            let network: IpNet = sample.network.parse().map_err(|_| {
                mmdb_writer::Error::Serialize(format!("invalid network {}", sample.network))
            })?;
            writer.insert_value(
                network,
                Value::map([
                    ("autonomous_system_number", Value::from(asn_number(index))),
                    (
                        "autonomous_system_organization",
                        Value::from(asn_organization(index, self.version)),
                    ),
                ]),
            )?;
        }
        writer.to_bytes()
    }
}

/// Builds a database of any type with one custom record per network, for raw decoding.
pub fn custom_database(
    database_type: &str,
    records: &[(&str, Value)],
) -> Result<Vec<u8>, mmdb_writer::Error> {
    custom_database_with(database_type, mmdb_writer::IpVersion::V6, records)
}

/// [`custom_database`] with a chosen IP version (an IPv4 database refuses IPv6 networks).
pub fn custom_database_with(
    database_type: &str,
    ip_version: mmdb_writer::IpVersion,
    records: &[(&str, Value)],
) -> Result<Vec<u8>, mmdb_writer::Error> {
    let mut writer = Writer::builder(database_type)
        .ip_version(ip_version)
        .description(&[("en", "reel-geoip custom test database")])
        .build();
    for (network, value) in records {
        let network: IpNet = network
            .parse()
            .map_err(|_| mmdb_writer::Error::Serialize(format!("invalid network {network}")))?;
        writer.insert_value(network, value.clone())?;
    }
    writer.to_bytes()
}

pub use mmdb_writer::IpVersion;
pub use mmdb_writer::Value as RecordValue;
