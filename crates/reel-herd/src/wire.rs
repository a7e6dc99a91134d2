//! memcached's text protocol, spoken by reel-herd itself: one implementation per connection.
//!
//! Every command writes its request in one buffer and reads its whole reply. Anything other
//! than the replies the command allows is an error and leaves the connection *poisoned*: the
//! caller closes it instead of returning it to the pool, so a stray line can never be read as
//! the answer to a later command. Errors are reported as what they are:
//!
//! - `ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`: the server refused this command
//!   ([`Error::Server`]); the node is healthy and this never counts towards ejection.
//! - a reply the command does not allow, a `VALUE` for another key, a data block without its
//!   `\r\n`: the stream is out of step ([`Error::Protocol`]); this counts as a node
//!   failure.
//! - a read or write error, or the server closing: [`Error::Io`], a node failure.
//!
//! The fields the protocol constrains are checked and encoded here too: keys (at most 250
//! bytes, no whitespace or control characters, the cluster's key prefix included) and the
//! expiration field (see [`expiration`]).

use std::collections::{HashMap, HashSet};
use std::io::{self, ErrorKind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error::Error;
use crate::node::Node;

/// The first memcached release with the meta protocol reel-herd speaks: `HD` replies and the
/// positional data length of `ms` (memcached 1.6.10, May 2021).
pub(crate) const META_MIN_VERSION: (u32, u32, u32) = (1, 6, 10);

/// A memcached version as `version` reports it; unparsable versions compare as 0.0.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ServerVersion(pub(crate) u32, pub(crate) u32, pub(crate) u32);

impl ServerVersion {
    /// Parses the text after `VERSION ` (`1.6.18`, `1.5.16-debug`, ...).
    pub(crate) fn parse(text: &str) -> Self {
        let mut parts = text.trim().split('.').map(|part| {
            part.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u32>()
                .unwrap_or(0)
        });
        Self(
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }

    /// Whether the server speaks the meta commands as reel-herd sends them.
    pub(crate) fn has_meta(self) -> bool {
        (self.0, self.1, self.2) >= META_MIN_VERSION
    }
}

/// One value of a `get`/`gets`/`gat` reply.
#[derive(Debug)]
pub(crate) struct Value {
    pub(crate) data: Vec<u8>,
    pub(crate) flags: u32,
    pub(crate) cas: Option<u64>,
}

/// One memcached connection.
#[derive(Debug)]
pub(crate) struct Connection {
    node: Node,
    stream: BufReader<TcpStream>,
    request: Vec<u8>,
    version: ServerVersion,
    /// False from the start of a command until its reply was read completely and was one the
    /// command allows; a connection that is not clean is never reused.
    pub(crate) clean: bool,
}

impl Connection {
    /// Wraps a connected stream and asks the server's version.
    pub(crate) async fn open(node: Node, stream: TcpStream) -> Result<Self, Error> {
        let mut connection = Self {
            node,
            stream: BufReader::with_capacity(16 * 1024, stream),
            request: Vec::with_capacity(256),
            version: ServerVersion::default(),
            clean: true,
        };
        let text = connection.version().await?;
        connection.version = ServerVersion::parse(&text);
        Ok(connection)
    }

    /// The node this connection talks to.
    pub(crate) fn node(&self) -> &Node {
        &self.node
    }

    /// The server's version, read when the connection opened.
    pub(crate) fn server_version(&self) -> ServerVersion {
        self.version
    }

    fn io(&self, error: io::Error) -> Error {
        Error::Io {
            node: self.node.clone(),
            error,
        }
    }

    fn desync(&self, message: impl Into<String>) -> Error {
        Error::Protocol {
            node: self.node.clone(),
            message: message.into(),
        }
    }

    /// An error for `line`, a reply the command does not allow.
    fn refused(&self, line: &str) -> Error {
        if line == "ERROR" || line.starts_with("CLIENT_ERROR") || line.starts_with("SERVER_ERROR") {
            Error::Server {
                node: self.node.clone(),
                message: line.to_owned(),
            }
        } else {
            self.desync(format!("unexpected reply {line:?}"))
        }
    }

    /// Starts a command: marks the connection dirty and empties the request buffer.
    fn begin(&mut self) -> &mut Vec<u8> {
        self.clean = false;
        self.request.clear();
        &mut self.request
    }

    async fn send(&mut self) -> Result<(), Error> {
        let stream = self.stream.get_mut();
        let result = async {
            stream.write_all(&self.request).await?;
            stream.flush().await
        }
        .await;
        result.map_err(|error| self.io(error))
    }

    /// Reads one reply line without its `\r\n`.
    async fn line(&mut self) -> Result<String, Error> {
        let mut line = Vec::with_capacity(64);
        let read = self
            .stream
            .read_until(b'\n', &mut line)
            .await
            .map_err(|error| self.io(error))?;
        if read == 0 {
            return Err(self.io(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )));
        }
        if !line.ends_with(b"\r\n") {
            return Err(self.desync("reply line not terminated by \\r\\n"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| self.desync("reply line is not UTF-8"))
    }

    /// Reads a data block of `size` bytes and its `\r\n`.
    async fn block(&mut self, size: usize) -> Result<Vec<u8>, Error> {
        let mut data = vec![0; size + 2];
        self.stream
            .read_exact(&mut data)
            .await
            .map_err(|error| self.io(error))?;
        if !data.ends_with(b"\r\n") {
            return Err(self.desync("data block not terminated by \\r\\n"));
        }
        data.truncate(size);
        Ok(data)
    }

    /// Finishes a command with an allowed outcome: the connection may be reused.
    fn done<T>(&mut self, value: T) -> Result<T, Error> {
        self.clean = true;
        Ok(value)
    }

    /// Sends one command and reads a one-line reply that must be one of `allowed`.
    async fn status(&mut self, allowed: &[&'static str]) -> Result<&'static str, Error> {
        self.send().await?;
        let line = self.line().await?;
        match allowed.iter().find(|status| **status == line) {
            Some(status) => self.done(status),
            None => Err(self.refused(&line)),
        }
    }

    /// `version`: the text after `VERSION `.
    pub(crate) async fn version(&mut self) -> Result<String, Error> {
        self.begin().extend_from_slice(b"version\r\n");
        self.send().await?;
        let line = self.line().await?;
        match line.strip_prefix("VERSION ") {
            Some(version) => {
                let version = version.to_owned();
                self.done(version)
            }
            None => Err(self.refused(&line)),
        }
    }

    /// `get`/`gets`/`gat`/`gats` for `keys`; reads the `VALUE` blocks up to `END`. A value
    /// for a key that was not asked is a desync.
    pub(crate) async fn retrieve<K: AsRef<str>>(
        &mut self,
        command: &str,
        exptime: Option<u32>,
        keys: &[K],
    ) -> Result<HashMap<String, Value>, Error> {
        let request = self.begin();
        request.extend_from_slice(command.as_bytes());
        if let Some(exptime) = exptime {
            request.push(b' ');
            request.extend_from_slice(exptime.to_string().as_bytes());
        }
        for key in keys {
            request.push(b' ');
            request.extend_from_slice(key.as_ref().as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        self.send().await?;
        // A short list is searched in place: no set to build for the common single get.
        let asked: Option<HashSet<&str>> =
            (keys.len() > 16).then(|| keys.iter().map(AsRef::as_ref).collect());
        let was_asked = |key: &str| match &asked {
            Some(asked) => asked.contains(key),
            None => keys.iter().any(|k| k.as_ref() == key),
        };
        let with_cas = command == "gets" || command == "gats";
        let mut values = HashMap::with_capacity(keys.len());
        loop {
            let line = self.line().await?;
            if line == "END" {
                return self.done(values);
            }
            let Some(header) = line.strip_prefix("VALUE ") else {
                return Err(self.refused(&line));
            };
            let mut fields = header.split(' ');
            let key = fields.next().unwrap_or("");
            let flags = fields.next().and_then(|f| f.parse::<u32>().ok());
            let size = fields.next().and_then(|s| s.parse::<usize>().ok());
            let cas = fields.next().map(|c| c.parse::<u64>());
            let (Some(flags), Some(size)) = (flags, size) else {
                return Err(self.desync(format!("malformed value line {line:?}")));
            };
            let cas = match (cas, with_cas) {
                (Some(Ok(cas)), true) => Some(cas),
                (None, false) => None,
                _ => return Err(self.desync(format!("malformed value line {line:?}"))),
            };
            if !was_asked(key) || values.contains_key(key) {
                return Err(self.desync(format!("value for a key that was not asked: {line:?}")));
            }
            let key = key.to_owned();
            let data = self.block(size).await?;
            values.insert(key, Value { data, flags, cas });
        }
    }

    /// A storage command (`set`, `add`, `replace`, `append`, `prepend`, `cas`); the status
    /// line (`STORED`, `NOT_STORED`, `EXISTS`, `NOT_FOUND`).
    pub(crate) async fn store(
        &mut self,
        verb: &str,
        key: &str,
        flags: u32,
        exptime: u32,
        value: &[u8],
        cas: Option<u64>,
    ) -> Result<&'static str, Error> {
        let request = self.begin();
        let header = match cas {
            Some(token) => format!("{verb} {key} {flags} {exptime} {} {token}\r\n", value.len()),
            None => format!("{verb} {key} {flags} {exptime} {}\r\n", value.len()),
        };
        request.reserve(header.len() + value.len() + 2);
        request.extend_from_slice(header.as_bytes());
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
        let allowed: &[&'static str] = match verb {
            "cas" => &["STORED", "EXISTS", "NOT_FOUND"],
            _ => &["STORED", "NOT_STORED"],
        };
        self.status(allowed).await
    }

    /// Storage commands (`set`, `add`, `replace`) for many items, written in one send and
    /// answered in order: one pipeline. See [`statuses`](Self::statuses) for the replies.
    pub(crate) async fn store_many<K: AsRef<str>, V: AsRef<[u8]>>(
        &mut self,
        verb: &str,
        items: &[(K, V)],
        flags: u32,
        exptime: u32,
    ) -> Result<Vec<Result<&'static str, Error>>, Error> {
        let request = self.begin();
        for (key, value) in items {
            let (key, value) = (key.as_ref(), value.as_ref());
            request.extend_from_slice(
                format!("{verb} {key} {flags} {exptime} {}\r\n", value.len()).as_bytes(),
            );
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        self.send().await?;
        self.statuses(&["STORED", "NOT_STORED"], items.len()).await
    }

    /// `delete` for many keys in one pipeline; the replies as [`statuses`](Self::statuses).
    pub(crate) async fn delete_many<K: AsRef<str>>(
        &mut self,
        keys: &[K],
    ) -> Result<Vec<Result<&'static str, Error>>, Error> {
        let request = self.begin();
        for key in keys {
            request.extend_from_slice(b"delete ");
            request.extend_from_slice(key.as_ref().as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        self.send().await?;
        self.statuses(&["DELETED", "NOT_FOUND"], keys.len()).await
    }

    /// Reads the `count` one-line replies of a pipeline, one result per command.
    ///
    /// A refused command (`SERVER_ERROR ...`, `CLIENT_ERROR ...`, `ERROR`) gets its error, and
    /// the reading stops there: whether the server is still in step after a refusal depends
    /// on which error it was, so the commands after it get a "not confirmed" error and the
    /// connection is closed (it is left unclean). A desync or an I/O error fails the whole
    /// pipeline (the node failed; which of its commands took effect is unknown).
    async fn statuses(
        &mut self,
        allowed: &[&'static str],
        count: usize,
    ) -> Result<Vec<Result<&'static str, Error>>, Error> {
        let mut replies = Vec::with_capacity(count);
        while replies.len() < count {
            let line = self.line().await?;
            if let Some(status) = allowed.iter().find(|status| **status == line) {
                replies.push(Ok(*status));
                continue;
            }
            let error = self.refused(&line);
            if !matches!(error, Error::Server { .. }) {
                return Err(error);
            }
            replies.push(Err(error));
            while replies.len() < count {
                replies.push(Err(Error::Server {
                    node: self.node.clone(),
                    message: format!(
                        "not confirmed: the server answered {line:?} to an earlier command of \
                         the same batch, so the connection was closed before this reply"
                    ),
                }));
            }
            return Ok(replies);
        }
        self.done(replies)
    }

    /// `delete`: whether the key existed.
    pub(crate) async fn delete(&mut self, key: &str) -> Result<bool, Error> {
        let request = self.begin();
        request.extend_from_slice(format!("delete {key}\r\n").as_bytes());
        Ok(self.status(&["DELETED", "NOT_FOUND"]).await? == "DELETED")
    }

    /// `touch`: whether the key existed.
    pub(crate) async fn touch(&mut self, key: &str, exptime: u32) -> Result<bool, Error> {
        let request = self.begin();
        request.extend_from_slice(format!("touch {key} {exptime}\r\n").as_bytes());
        Ok(self.status(&["TOUCHED", "NOT_FOUND"]).await? == "TOUCHED")
    }

    /// `incr`/`decr`: the new value, `None` if the key does not exist.
    pub(crate) async fn counter(
        &mut self,
        key: &str,
        by: u64,
        up: bool,
    ) -> Result<Option<u64>, Error> {
        let verb = if up { "incr" } else { "decr" };
        let request = self.begin();
        request.extend_from_slice(format!("{verb} {key} {by}\r\n").as_bytes());
        self.send().await?;
        let line = self.line().await?;
        if line == "NOT_FOUND" {
            return self.done(None);
        }
        match line.parse::<u64>() {
            Ok(value) => self.done(Some(value)),
            Err(_) => Err(self.refused(&line)),
        }
    }

    /// `flush_all`.
    pub(crate) async fn flush_all(&mut self) -> Result<(), Error> {
        self.begin().extend_from_slice(b"flush_all\r\n");
        self.status(&["OK"]).await.map(|_| ())
    }

    /// Sends one meta command (`mg`/`ms`) and reads its reply: the header line and, for
    /// `VA <size> ...`, the data block. The header's status code must be one of `allowed`.
    pub(crate) async fn meta(
        &mut self,
        request: &[u8],
        allowed: &[&str],
    ) -> Result<(String, Option<Vec<u8>>), Error> {
        self.begin().extend_from_slice(request);
        self.send().await?;
        let header = self.line().await?;
        let code = header.split(' ').next().unwrap_or("");
        if !allowed.contains(&code) {
            return Err(self.refused(&header));
        }
        if code != "VA" {
            return self.done((header, None));
        }
        let Some(size) = header
            .split(' ')
            .nth(1)
            .and_then(|size| size.parse::<usize>().ok())
        else {
            return Err(self.desync(format!("malformed reply {header:?}")));
        };
        let data = self.block(size).await?;
        self.done((header, Some(data)))
    }
}

/// Connects to `address` with TCP keepalive (so a peer that vanished without a reset is
/// noticed on idle connections) and `TCP_NODELAY`, then asks the server's version.
pub(crate) async fn connect(
    node: &Node,
    connect_timeout: Duration,
    keepalive: Option<Duration>,
) -> Result<Connection, Error> {
    let io = |error: io::Error| Error::Io {
        node: node.clone(),
        error,
    };
    let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(node.address()))
        .await
        .map_err(|_| io(io::Error::new(ErrorKind::TimedOut, "connect timed out")))?
        .map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    if let Some(idle) = keepalive {
        let settings = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(idle);
        socket2::SockRef::from(&stream)
            .set_tcp_keepalive(&settings)
            .map_err(io)?;
    }
    // The version probe is a command like any other; give it the connect budget.
    tokio::time::timeout(connect_timeout, Connection::open(node.clone(), stream))
        .await
        .map_err(|_| {
            io(io::Error::new(
                ErrorKind::TimedOut,
                "version probe timed out",
            ))
        })?
}

/// memcached reads expirations above 30 days as absolute Unix times.
const RELATIVE_TTL_LIMIT: u64 = 60 * 60 * 24 * 30;
/// memcached's key length limit.
const MAX_KEY_LENGTH: usize = 250;

/// Checks a key the way memcached's text protocol requires; a space or newline in a key
/// would otherwise split the command.
pub(crate) fn check_key(key: &str) -> Result<(), Error> {
    let reason = if key.is_empty() {
        "empty"
    } else if key.len() > MAX_KEY_LENGTH {
        "longer than 250 bytes"
    } else if key.bytes().any(|b| b <= b' ' || b == 0x7f) {
        "contains whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// Checks `key` with the cluster's `prefix` in front (non-empty), as memcached will see it.
pub(crate) fn check_key_with_prefix(prefix: &str, key: &str) -> Result<(), Error> {
    check_key(key)?;
    if prefix.len() + key.len() > MAX_KEY_LENGTH {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: "longer than 250 bytes with the key prefix",
        });
    }
    Ok(())
}

/// memcached's expiration field: 0 for no expiry, whole seconds (rounded up, so a non-zero
/// TTL never becomes 0) up to 30 days, an absolute Unix time beyond, which must fit
/// memcached's signed 32-bit time.
pub(crate) fn expiration(ttl: Duration) -> Result<u32, Error> {
    expiration_at(ttl, unix_now())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expiration_at(ttl: Duration, now: u64) -> Result<u32, Error> {
    if ttl.is_zero() {
        return Ok(0);
    }
    let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let value = if seconds <= RELATIVE_TTL_LIMIT {
        seconds
    } else {
        now.saturating_add(seconds)
    };
    match i32::try_from(value) {
        Ok(value) => Ok(value.unsigned_abs()),
        Err(_) => Err(Error::InvalidTtl {
            ttl,
            reason: "it ends after 2038-01-19 03:14:07 UTC, the last time memcached can store",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_gate_the_meta_protocol() {
        assert_eq!(ServerVersion::parse("1.6.18"), ServerVersion(1, 6, 18));
        assert_eq!(
            ServerVersion::parse("1.5.16-debug"),
            ServerVersion(1, 5, 16)
        );
        assert!(ServerVersion::parse("1.6.10").has_meta());
        assert!(ServerVersion::parse("1.10.0").has_meta());
        assert!(!ServerVersion::parse("1.6.9").has_meta());
        assert!(!ServerVersion::parse("1.6.6").has_meta());
        assert!(!ServerVersion::parse("garbage").has_meta());
    }

    #[test]
    fn keys_that_would_break_the_protocol_are_refused() {
        assert!(check_key("user:1").is_ok());
        for bad in ["", "a b", "a\r\nset x 0 0 1", "tab\tkey", &"k".repeat(251)] {
            assert!(
                matches!(check_key(bad), Err(Error::InvalidKey { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ttls_round_up_and_long_ones_become_absolute_times() {
        let now = 1_800_000_000;
        assert_eq!(expiration_at(Duration::ZERO, now).unwrap(), 0);
        assert_eq!(expiration_at(Duration::from_millis(1), now).unwrap(), 1);
        assert_eq!(expiration_at(Duration::from_millis(500), now).unwrap(), 1);
        assert_eq!(expiration_at(Duration::from_millis(1500), now).unwrap(), 2);
        assert_eq!(expiration_at(Duration::from_secs(60), now).unwrap(), 60);
        let month = Duration::from_secs(RELATIVE_TTL_LIMIT);
        assert_eq!(expiration_at(month, now).unwrap(), 2_592_000);
        assert_eq!(
            expiration_at(month + Duration::from_millis(1), now).unwrap(),
            1_802_592_001
        );
        // Past 2^31 - 1 memcached would wrap the time negative: refused.
        let too_far = Duration::from_secs(i32::MAX as u64 - now + 1);
        assert!(matches!(
            expiration_at(too_far, now),
            Err(Error::InvalidTtl { .. })
        ));
        assert!(expiration_at(too_far - Duration::from_secs(1), now).is_ok());
    }
}
