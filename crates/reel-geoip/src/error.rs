//! The crate's error type.

use std::net::IpAddr;
use std::path::PathBuf;

/// Everything that can go wrong opening, checking, fetching or reading a database.
///
/// A failed reload never takes the current database away: the error is returned to the
/// caller, recorded in the slot's [`SlotStatus`](crate::SlotStatus) and sent as a
/// [`ReloadEvent`](crate::ReloadEvent), and lookups go on with the database already loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `writing` ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a readable MaxMind DB (empty, truncated, garbage or corrupt).
    #[error("not a valid MaxMind database: {0}")]
    InvalidDatabase(String),
    /// The database is valid but of a type this slot does not accept.
    #[error("database type {found:?} does not match what the {slot} slot accepts ({expected})")]
    WrongDatabaseType {
        /// The slot that refused it.
        slot: String,
        /// The `database_type` from the database metadata.
        found: String,
        /// What the slot accepts.
        expected: String,
    },
    /// The database opened but a probe lookup failed or found no data.
    #[error("probe lookup of {ip} failed: {reason}")]
    ProbeFailed {
        /// The probed address.
        ip: IpAddr,
        /// Why it failed.
        reason: String,
    },
    /// A record could not be decoded into the requested type.
    #[error("decoding the record for {ip} failed: {message}")]
    Decode {
        /// The address looked up.
        ip: IpAddr,
        /// The decoder's message.
        message: String,
    },
    /// The named slot does not exist in this [`GeoIp`](crate::GeoIp).
    #[error("no database slot named {0:?}; add it with GeoIpBuilder::custom_slot")]
    UnknownSlot(String),
    /// A download answered with an HTTP status other than 200 or 304.
    #[error("GET {url} answered {status}{hint}")]
    HttpStatus {
        /// The URL (without credentials).
        url: String,
        /// The status code.
        status: u16,
        /// A hint on what to fix, possibly empty.
        hint: &'static str,
    },
    /// A download failed on the network (connection, timeout, body cut short).
    #[error("GET {url} failed: {message}")]
    Network {
        /// The URL (without credentials).
        url: String,
        /// The client's message.
        message: String,
    },
    /// The downloaded file does not match its published SHA-256.
    #[error("checksum mismatch for {url}: expected sha256 {expected}, got {actual}")]
    Checksum {
        /// The URL of the file.
        url: String,
        /// The published checksum.
        expected: String,
        /// The checksum of what arrived.
        actual: String,
    },
    /// The download could not be unpacked (bad gzip, bad tar, no `.mmdb` inside).
    #[error("cannot unpack {what}: {message}")]
    Archive {
        /// What was unpacked.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// The license key could not be resolved.
    #[error("MaxMind license key: {0}")]
    Secret(#[from] reel_core::SecretError),
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A download, or what it unpacks to, is larger than the configured limit. Refused before
    /// the excess is read into memory.
    #[error("{what} is larger than the limit of {limit} bytes{hint}")]
    TooLarge {
        /// What was too large (the URL without credentials, or the archive entry).
        what: String,
        /// The limit in bytes.
        limit: u64,
        /// A hint on what to fix, possibly empty.
        hint: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid(error: maxminddb::MaxMindDbError) -> Self {
        Self::InvalidDatabase(error.to_string())
    }

    /// A short, stable name of the error's kind (`network`, `http_status`, `checksum`,
    /// `archive`, `too_large`, `invalid_database`, ...), for metrics labels and the
    /// `error.type` field of spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::InvalidDatabase(_) => "invalid_database",
            Self::WrongDatabaseType { .. } => "wrong_database_type",
            Self::ProbeFailed { .. } => "probe_failed",
            Self::Decode { .. } => "decode",
            Self::UnknownSlot(_) => "unknown_slot",
            Self::HttpStatus { .. } => "http_status",
            Self::Network { .. } => "network",
            Self::Checksum { .. } => "checksum",
            Self::Archive { .. } => "archive",
            Self::Secret(_) => "secret",
            Self::Config(_) => "config",
            Self::TooLarge { .. } => "too_large",
        }
    }

    /// Whether retrying the same operation soon may succeed: network errors (including a
    /// body cut short), server errors (5xx) and request timeouts (408).
    ///
    /// Not transient: a checksum mismatch (the download is date-pinned, so the same request
    /// gives the same bytes), an archive without a `.mmdb`, an invalid or wrong-type database,
    /// a size limit, and `429 Too Many Requests` (MaxMind's daily download quota: retrying
    /// within minutes only spends more of it). Each download of these would fail again and
    /// count against the quota, so sources wait much longer before trying them again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } => true,
            Self::HttpStatus { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

/// A copy of an I/O error: same kind and message (the source chain is not cloneable).
fn copy_io(error: &std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), error.to_string())
}

impl Error {
    /// A copy for a [`ReloadEvent`](crate::ReloadEvent) while the original goes back to the
    /// caller: every field is cloned except an I/O error, copied by kind and message.
    pub(crate) fn duplicate(&self) -> Self {
        use reel_core::SecretError;
        match self {
            Self::Io {
                action,
                path,
                source,
            } => Self::Io {
                action,
                path: path.clone(),
                source: copy_io(source),
            },
            Self::InvalidDatabase(message) => Self::InvalidDatabase(message.clone()),
            Self::WrongDatabaseType {
                slot,
                found,
                expected,
            } => Self::WrongDatabaseType {
                slot: slot.clone(),
                found: found.clone(),
                expected: expected.clone(),
            },
            Self::ProbeFailed { ip, reason } => Self::ProbeFailed {
                ip: *ip,
                reason: reason.clone(),
            },
            Self::Decode { ip, message } => Self::Decode {
                ip: *ip,
                message: message.clone(),
            },
            Self::UnknownSlot(slot) => Self::UnknownSlot(slot.clone()),
            Self::HttpStatus { url, status, hint } => Self::HttpStatus {
                url: url.clone(),
                status: *status,
                hint,
            },
            Self::Network { url, message } => Self::Network {
                url: url.clone(),
                message: message.clone(),
            },
            Self::Checksum {
                url,
                expected,
                actual,
            } => Self::Checksum {
                url: url.clone(),
                expected: expected.clone(),
                actual: actual.clone(),
            },
            Self::Archive { what, message } => Self::Archive {
                what: what.clone(),
                message: message.clone(),
            },
            Self::Secret(error) => Self::Secret(match error {
                SecretError::MissingEnv { name } => SecretError::MissingEnv { name: name.clone() },
                SecretError::File { path, error } => SecretError::File {
                    path: path.clone(),
                    error: copy_io(error),
                },
                SecretError::Empty { source } => SecretError::Empty {
                    source: source.clone(),
                },
                SecretError::NotUnicode { source } => SecretError::NotUnicode {
                    source: source.clone(),
                },
                SecretError::Invalid(message) => SecretError::Invalid(message.clone()),
                other => SecretError::Invalid(other.to_string()),
            }),
            Self::Config(message) => Self::Config(message.clone()),
            Self::TooLarge { what, limit, hint } => Self::TooLarge {
                what: what.clone(),
                limit: *limit,
                hint,
            },
        }
    }
}
