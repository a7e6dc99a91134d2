//! IP geolocation from MaxMind databases that reload live, with no failed lookup.
//!
//! reel-geoip wraps the [`maxminddb`] reader in a service an API can leave running for a
//! year: databases are replaced while lookups go on, a broken update never takes the
//! serving database away, and every reload is visible in status, counters and events.
//!
//! - **Lookups** ([`GeoIp`], [`Database`]): a typed [`Location`] (continent, country,
//!   registered and represented country, subdivisions, city, postal code, coordinates,
//!   accuracy radius, time zone, metro code, [`Traits`], network) with names in the first
//!   available language of a [`Locales`] list (`en-US` reads `en`), per service or per lookup
//!   ([`GeoIp::location_in`]); [`Asn`] from ASN/ISP databases; [`AnonymousIp`] from Anonymous
//!   IP databases; all three in one [`GeoIp::lookup`]; raw typed decoding for any other
//!   database ([`GeoIp::with_database`], [`GeoIp::decode`]). IPv4-mapped IPv6 addresses are
//!   looked up as IPv4. Lookups are synchronous and allocation-light.
//! - **Swaps** ([`GeoIp::replace`]): a candidate is opened, its type checked, the whole file
//!   verified and probed ([`Check`]) before it atomically replaces the current database
//!   through [`reel_core::HotSwap`]; in-flight lookups finish on the old one, which is freed
//!   afterwards. [`SlotStatus`] and [`ReloadEvent`]s report every attempt.
//! - **Sources**: a local file reloaded when it changes ([`FileSource`], OS events with the
//!   `watch` feature, polling otherwise), MaxMind's download service and any URL serving
//!   `.mmdb`, `.mmdb.gz` or `.tar.gz` (`DownloadSource`, several editions with `Updater`,
//!   feature `download`) with sha256 checks, conditional requests, quota-aware retries, size
//!   limits, a cache directory several processes may share, and credentials never shown.
//! - **HTTP** (feature `tower`/`axum`): the client's location from the peer address,
//!   believing proxy headers only from trusted proxies (`reel_core::client_ip`).
//!
//! Databases are read into memory rather than memory-mapped: `maxminddb`'s mmap reader is
//! `unsafe` (a file changed in place under a mapping is undefined behaviour) and this
//! workspace forbids unsafe code. See [`Database`].
//!
//! # Example
//!
//! ```
//! use reel_geoip::{GeoIp, Slot};
//! use reel_geoip::testdata::{CityDatabase, SAMPLE_V6};
//!
//! let geoip = GeoIp::builder().locales(["fr", "en"]).build();
//! geoip.replace(&Slot::Location, CityDatabase::new().build()?, "generated")?;
//!
//! // IPv6, and IPv4-mapped IPv6 for an IPv4 record.
//! let berlin = geoip.location(SAMPLE_V6.parse()?)?.expect("in the test database");
//! assert_eq!(berlin.country.unwrap().name.as_deref(), Some("Allemagne"));
//! let london = geoip.location("::ffff:81.2.69.160".parse()?)?.expect("mapped address");
//! assert_eq!(london.city.unwrap().name.as_deref(), Some("London"));
//! assert_eq!(london.network.unwrap().to_string(), "81.2.69.0/24");
//!
//! let status = geoip.status(&Slot::Location)?;
//! assert_eq!(status.database.unwrap().database_type, "GeoLite2-City");
//! assert_eq!(status.reloads, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! | Feature    | Default | What it adds |
//! |------------|---------|--------------|
//! | `watch`    | no      | [`FileSource`] reacts to file-system events (`notify`) instead of only polling |
//! | `download` | no      | `DownloadSource`: MaxMind download service and mirrors (reqwest + rustls, gzip, tar, sha256) |
//! | `tower`    | no      | `http::GeoIpLayer`: looks up each request's client and stores a `http::ClientGeo` |
//! | `axum`     | no      | `http::ClientGeo` as an axum extractor (implies `tower`) |
//! | `testdata` | no      | `testdata`: small City/ASN/custom databases built in memory (mmdb-writer) |
//!
//! # Minimum supported Rust version
//!
//! Rust 1.94.1.

mod database;
mod error;
mod file;
mod location;
mod service;

#[cfg(feature = "download")]
mod download;
#[cfg(feature = "tower")]
pub mod http;
#[cfg(feature = "testdata")]
pub mod testdata;

pub use database::{Database, DatabaseInfo};
pub use error::Error;
pub use file::FileSource;
pub use location::{
    AnonymousIp, Asn, Country, Locales, Location, Place, RepresentedCountry, Traits,
};
pub use service::{
    Check, GeoIp, GeoIpBuilder, GeoLookup, ReloadEvent, ReloadOutcome, Slot, SlotStatus,
};

#[cfg(feature = "download")]
pub use download::{DownloadSource, MAXMIND_BASE_URL, Updater};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::client_ip::{ClientIpPreset, ClientIpResolver, IpNet, TrustedProxies};
pub use reel_core::{
    BackgroundTask, Backoff, Clock, Jitter, ManualClock, SecretError, SecretSource, SharedClock,
    SystemClock, TaskError,
};
