//! One opened MaxMind database, held in memory.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maxminddb::Reader;
use reel_core::client_ip::IpNet;
use serde::Deserialize;

use crate::Error;
use crate::location::{Asn, Locales, Location, RawAsn, RawCity};

/// What a database's metadata says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseInfo {
    /// `database_type` from the metadata, e.g. `GeoLite2-City`.
    pub database_type: String,
    /// When MaxMind built it.
    pub build_time: SystemTime,
    /// 4 for IPv4-only databases, 6 for databases covering both.
    pub ip_version: u16,
    /// Languages the names are available in.
    pub languages: Vec<String>,
    /// The English description, if any.
    pub description: Option<String>,
    /// Size of the database in bytes.
    pub size_bytes: usize,
}

/// An opened MaxMind database.
///
/// The whole file is read into memory (`maxminddb::Reader::from_source`) rather than
/// memory-mapped: a mapped file that is replaced or truncated in place while mapped is
/// undefined behaviour, which is why `Reader::open_mmap` is `unsafe`, and this workspace
/// forbids unsafe code. Owning the bytes also makes a reload independent of what later
/// happens to the file. A GeoLite2-City database is about 60 MB.
pub struct Database {
    reader: Reader<Vec<u8>>,
    info: DatabaseInfo,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("info", &self.info)
            .finish()
    }
}

/// The address as the database indexes it: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl Database {
    /// Opens a database from its bytes and checks its metadata and search-tree layout.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::InvalidDatabase("the file is empty".to_owned()));
        }
        let size_bytes = bytes.len();
        let reader = Reader::from_source(bytes).map_err(Error::invalid)?;
        let metadata = reader.metadata();
        let build_time = UNIX_EPOCH
            .checked_add(Duration::from_secs(metadata.build_epoch))
            .ok_or_else(|| Error::InvalidDatabase("build_epoch out of range".to_owned()))?;
        let info = DatabaseInfo {
            database_type: metadata.database_type.clone(),
            build_time,
            ip_version: metadata.ip_version,
            languages: metadata.languages.clone(),
            description: metadata.description.get("en").cloned(),
            size_bytes,
        };
        Ok(Self { reader, info })
    }

    /// Reads and opens a database file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(bytes)
    }

    /// The metadata.
    pub fn info(&self) -> &DatabaseInfo {
        &self.info
    }

    /// The underlying `maxminddb` reader, for anything this crate does not wrap.
    pub fn reader(&self) -> &Reader<Vec<u8>> {
        &self.reader
    }

    /// Walks the whole search tree and data section (`maxminddb`'s `verify`): catches
    /// corruption that opening alone does not. Takes time proportional to the size.
    pub fn verify(&self) -> Result<(), Error> {
        self.reader.verify().map_err(Error::invalid)
    }

    /// Decodes the record for `ip` into any type, with the network that contains it.
    ///
    /// `T` may borrow from the database (`&str` fields, `maxminddb::geoip2` structs); use
    /// this for custom databases or fields [`Location`] does not cover. `Ok(None)` when no
    /// record covers the address (including IPv6 addresses in an IPv4-only database).
    pub fn decode<'a, T: Deserialize<'a>>(
        &'a self,
        ip: IpAddr,
    ) -> Result<Option<(T, Option<IpNet>)>, Error> {
        self.read(ip, |value: T, network| (value, network))
    }

    /// Decodes the record for `ip` and hands it to `read` with its network, without moving
    /// the decoded record out first: large borrowed records (a whole GeoIP2 City) are
    /// converted where they were decoded.
    #[inline]
    pub(crate) fn read<'a, T: Deserialize<'a>, R>(
        &'a self,
        ip: IpAddr,
        read: impl FnOnce(T, Option<IpNet>) -> R,
    ) -> Result<Option<R>, Error> {
        let ip = canonical(ip);
        if ip.is_ipv6() && self.info.ip_version == 4 {
            return Ok(None);
        }
        let result = self.reader.lookup(ip).map_err(|e| Error::Decode {
            ip,
            message: e.to_string(),
        })?;
        let value = result.decode::<T>().map_err(|e| Error::Decode {
            ip,
            message: e.to_string(),
        })?;
        Ok(value.map(|v| {
            let network = result
                .network()
                .ok()
                .and_then(|net| IpNet::new(net.ip(), net.prefix()).ok())
                .map(|net| net.trunc());
            read(v, network)
        }))
    }

    /// The location of `ip` from a City, Country or Enterprise database, names picked by
    /// `locales`. `Ok(None)` when no record covers the address.
    pub fn location(&self, ip: IpAddr, locales: &Locales) -> Result<Option<Location>, Error> {
        self.read(ip, |raw: RawCity<'_>, network| {
            raw.to_location(network, locales)
        })
    }

    /// The autonomous system of `ip` from an ASN or ISP database.
    pub fn asn(&self, ip: IpAddr) -> Result<Option<Asn>, Error> {
        Ok(self
            .decode::<RawAsn<'_>>(ip)?
            .map(|(raw, network)| raw.into_asn(network)))
    }

    /// Decodes the first record of the database as `T`: proves the data section is reachable
    /// and shaped as expected. Fails when the database has no record at all.
    pub(crate) fn probe_first<'a, T: Deserialize<'a>>(&'a self) -> Result<(), Error> {
        let unspecified = if self.info.ip_version == 4 {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        };
        let mut networks = self
            .reader
            .networks(Default::default())
            .map_err(Error::invalid)?;
        let first = networks.next().ok_or_else(|| Error::ProbeFailed {
            ip: unspecified,
            reason: "the database has no records".to_owned(),
        })?;
        let first = first.map_err(Error::invalid)?;
        let ip = first.network().map(|n| n.ip()).unwrap_or(unspecified);
        first
            .decode::<T>()
            .map_err(|e| Error::ProbeFailed {
                ip,
                reason: e.to_string(),
            })?
            .ok_or_else(|| Error::ProbeFailed {
                ip,
                reason: "the first network has no data".to_owned(),
            })?;
        Ok(())
    }
}
