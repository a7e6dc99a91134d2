//! The memcached backend: one deadpool pool of connections per node, each speaking
//! memcached's text protocol through reel-herd's own implementation.
//!
//! reel-herd owns the whole text protocol rather than writing part of it over another
//! crate's socket: a command and its reply are one implementation, so every reply is read to
//! its end, checked against what the command allows, and any error or unexpected reply
//! closes the connection instead of returning it to the pool (see [`Error::Protocol`]
//! and [`Error::Server`]). A reply can therefore never be read by the wrong command.
//!
//! Each new connection asks the server's `version`. The meta commands (`meta_get`,
//! `meta_add`, `meta_cas`) go out as `mg`/`ms` only to memcached 1.6.10 or later (the first
//! release with `HD` and the positional `ms` data length); older servers (AWS ElastiCache
//! 1.6.6, Google Memorystore 1.5.16) get the classic `gets`/`add`/`cas` commands with the
//! same results.
//!
//! TTLs are rounded *up* to whole seconds (a 500 ms TTL is sent as 1 s, never as 0, which
//! memcached reads as "never expires"); beyond 30 days they are sent as an absolute Unix time,
//! and one past memcached's signed 32-bit range is refused with [`Error::InvalidTtl`].

mod multi;
mod pool;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::cluster::{Cluster, ClusterBuilder, NodeFailure, NodeHandle, cluster_common_api};
use crate::error::Error;
use crate::metrics::{self, Command};
use crate::node::Node;
use crate::wire::{Connection, check_key, check_key_with_prefix, expiration};

use pool::{MemcacheBackend, NodePool};

/// Outcome of `add` and `replace`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The server stored the value.
    Stored,
    /// The condition was not met (`add`: the key exists; `replace`: it does not).
    NotStored,
}

/// Outcome of `cas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    /// The value was replaced.
    Stored,
    /// The item changed since the `gets` that produced the token.
    Exists,
    /// The item no longer exists (expired, evicted or deleted).
    NotFound,
}

/// Outcome of the meta-protocol writes [`MemcacheCluster::meta_add`] and
/// [`MemcacheCluster::meta_cas`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaWrite {
    /// The value was stored; the item's new CAS token (ready for the next `meta_cas`).
    Stored(CasToken),
    /// `meta_add`: the key already exists.
    NotStored,
    /// `meta_cas`: the item changed since the token was issued.
    Exists,
    /// `meta_cas`: the item no longer exists (expired, evicted or deleted).
    NotFound,
}

/// The token `gets` returns and `cas` checks (memcached's 64-bit "cas unique").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CasToken(pub u64);

/// Result of a multi-key get: what was found, and the keys whose node failed.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct GetMulti {
    /// Values by key; a key that is absent was a miss or belongs to a failed node.
    pub found: HashMap<String, Vec<u8>>,
    /// One entry per node that failed, with the keys it owned.
    pub failed: Vec<NodeFailure>,
}

/// Result of [`MemcacheCluster::set_multi`]: the keys stored, and the ones that were not.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SetMulti {
    /// Keys the server answered `STORED` for.
    pub stored: Vec<String>,
    /// Keys that were not confirmed: one entry per node that failed (all the keys it owned
    /// in this call) and one per key a node refused (`SERVER_ERROR object too large`, ...);
    /// keys sent after a refused one on the same node are listed too, as not confirmed.
    pub failed: Vec<NodeFailure>,
}

/// Result of [`MemcacheCluster::delete_multi`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DeleteMulti {
    /// Keys that existed and were deleted.
    pub deleted: Vec<String>,
    /// Keys that did not exist.
    pub not_found: Vec<String>,
    /// Keys that were not confirmed, as in [`SetMulti::failed`].
    pub failed: Vec<NodeFailure>,
}

/// The `c<token>` return flag of a meta reply header.
fn meta_cas_flag(header: &str) -> Option<CasToken> {
    header
        .split(' ')
        .skip(1)
        .find_map(|flag| flag.strip_prefix('c'))
        .and_then(|token| token.parse().ok())
        .map(CasToken)
}

fn unexpected(node: &Node, reply: &str) -> Error {
    Error::Protocol {
        node: node.clone(),
        message: format!("unexpected reply {reply:?}"),
    }
}

type Handle = Arc<NodeHandle<NodePool>>;

/// Runs a read (`|connection| -> Result<Option<T>, Error>`) on the key's node, retried on
/// the next distinct node after a node failure, counting hits and misses. (A macro rather
/// than a function taking an async closure: a borrowed async closure makes the future lose
/// `Send`.)
macro_rules! read {
    ($self:ident, $key:expr, $command:expr, async |$connection:ident| $body:block) => {{
        let core = &$self.cluster.core;
        core.run(
            $key.as_bytes(),
            core.config.read_retries,
            $command,
            metrics::found,
            |handle, timer| async move {
                Self::with_connection(&handle, timer, async |$connection| $body).await
            },
        )
        .await
    }};
}

/// A memcached cluster: routes each key to its node, pools connections per node, ejects
/// failing nodes and follows discovery. Cheap to clone; `Send + Sync`.
///
/// Build it with [`ClusterBuilder::build_memcache`].
#[derive(Clone, Debug)]
pub struct MemcacheCluster {
    cluster: Cluster<MemcacheBackend>,
}

impl ClusterBuilder {
    /// Runs the first discovery and starts a memcached cluster (connections open on first
    /// use). Fails when the first discovery fails or finds no nodes.
    pub async fn build_memcache(self) -> Result<MemcacheCluster, Error> {
        let prefix = &self.tunables().key_prefix;
        if !prefix.is_empty() {
            // The prefix with a one-byte key must be a valid memcached key.
            check_key(&format!("{prefix}k")).map_err(|_| Error::InvalidKey {
                key: prefix.clone(),
                reason: "the key prefix must be under 250 bytes with no whitespace or control characters",
            })?;
        }
        Ok(MemcacheCluster {
            cluster: self.start(MemcacheBackend).await?,
        })
    }
}

impl MemcacheCluster {
    cluster_common_api!();

    /// Runs a write on the key's node (no retry: a write may have reached the server).
    async fn write<T>(
        &self,
        key: &str,
        name: Command,
        command: impl AsyncFnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let core = &self.cluster.core;
        let handle = core.route(key.as_bytes())?;
        core.run_on(&handle, name, metrics::ok, |timer| {
            Self::with_connection(&handle, timer, command)
        })
        .await
    }

    /// The value of `key`, or `None` on a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_with_flags(key).await?.map(|(value, _)| value))
    }

    /// The value of `key` with its client flags (the 32-bit number stored beside the value,
    /// which libmemcached, pylibmc and PHP clients use to mark serialisation and compression),
    /// or `None` on a miss.
    pub async fn get_with_flags(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        read!(self, key, Command::Get, async |connection| {
            let mut values = connection.retrieve("get", None, &[wire]).await?;
            Ok(values.remove(wire).map(|value| (value.data, value.flags)))
        })
    }

    /// Fetches `key` and sets its expiry to `ttl` in the same round trip (`gat`), or `None`
    /// on a miss.
    pub async fn gat(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        let exptime = expiration(ttl)?;
        read!(self, key, Command::Gat, async |connection| {
            let mut values = connection.retrieve("gat", Some(exptime), &[wire]).await?;
            Ok(values.remove(wire).map(|value| value.data))
        })
    }

    /// A storage command; `name` is its verb (`set`, `add`, `replace`, `append`, `prepend`,
    /// `cas`).
    async fn store(
        &self,
        name: Command,
        key: &str,
        value: &[u8],
        flags: u32,
        ttl: Duration,
        cas: Option<u64>,
    ) -> Result<&'static str, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        let exptime = expiration(ttl)?;
        self.write(key, name, async |connection| {
            connection
                .store(name.as_str(), wire, flags, exptime, value, cas)
                .await
        })
        .await
    }

    fn stored(&self, key: &str, status: &str) -> Result<StoreOutcome, Error> {
        match status {
            "STORED" => Ok(StoreOutcome::Stored),
            "NOT_STORED" => Ok(StoreOutcome::NotStored),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// Stores `value` under `key` for `ttl` (zero: no expiry; a fraction of a second is
    /// rounded up; beyond 30 days it is sent as an absolute time). Succeeds only when
    /// memcached answered `STORED`.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        self.set_with_flags(key, value, 0, ttl).await
    }

    /// [`set`](Self::set) with client flags stored beside the value (see
    /// [`get_with_flags`](Self::get_with_flags)).
    pub async fn set_with_flags(
        &self,
        key: &str,
        value: &[u8],
        flags: u32,
        ttl: Duration,
    ) -> Result<(), Error> {
        match self
            .store(Command::Set, key, value, flags, ttl, None)
            .await?
        {
            "STORED" => Ok(()),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// Stores `value` only if `key` does not exist.
    pub async fn add(&self, key: &str, value: &[u8], ttl: Duration) -> Result<StoreOutcome, Error> {
        let status = self.store(Command::Add, key, value, 0, ttl, None).await?;
        self.stored(key, status)
    }

    /// Stores `value` only if `key` exists.
    pub async fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<StoreOutcome, Error> {
        let status = self
            .store(Command::Replace, key, value, 0, ttl, None)
            .await?;
        self.stored(key, status)
    }

    /// Appends `value` to the existing value of `key` (its TTL and flags unchanged);
    /// [`StoreOutcome::NotStored`] if the key does not exist.
    pub async fn append(&self, key: &str, value: &[u8]) -> Result<StoreOutcome, Error> {
        let status = self
            .store(Command::Append, key, value, 0, Duration::ZERO, None)
            .await?;
        self.stored(key, status)
    }

    /// Prepends `value` to the existing value of `key` (its TTL and flags unchanged);
    /// [`StoreOutcome::NotStored`] if the key does not exist.
    pub async fn prepend(&self, key: &str, value: &[u8]) -> Result<StoreOutcome, Error> {
        let status = self
            .store(Command::Prepend, key, value, 0, Duration::ZERO, None)
            .await?;
        self.stored(key, status)
    }

    /// Deletes `key`; `true` if it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        self.write(key, Command::Delete, async |connection| {
            connection.delete(wire).await
        })
        .await
    }

    /// Adds `by` to the decimal number stored at `key`; the new value, or `None` if the key
    /// does not exist. (memcached wraps at 2^64.)
    pub async fn incr(&self, key: &str, by: u64) -> Result<Option<u64>, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        self.write(key, Command::Incr, async |connection| {
            connection.counter(wire, by, true).await
        })
        .await
    }

    /// Subtracts `by` (memcached stops at 0); the new value, or `None` if the key does not
    /// exist.
    pub async fn decr(&self, key: &str, by: u64) -> Result<Option<u64>, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        self.write(key, Command::Decr, async |connection| {
            connection.counter(wire, by, false).await
        })
        .await
    }

    /// The value of `key` with its CAS token, or `None` on a miss.
    pub async fn gets(&self, key: &str) -> Result<Option<(Vec<u8>, CasToken)>, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        read!(self, key, Command::Gets, async |connection| {
            gets_on(connection, wire).await
        })
    }

    /// Replaces `key` with `value` only if it is unchanged since the `gets` that returned
    /// `token`.
    pub async fn cas(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: CasToken,
    ) -> Result<CasOutcome, Error> {
        match self
            .store(Command::Cas, key, value, 0, ttl, Some(token.0))
            .await?
        {
            "STORED" => Ok(CasOutcome::Stored),
            "EXISTS" => Ok(CasOutcome::Exists),
            "NOT_FOUND" => Ok(CasOutcome::NotFound),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// The value of `key` with its CAS token, or `None` on a miss: `mg <key> v c` on
    /// memcached 1.6.10 and later, `gets` on older servers (same result).
    pub async fn meta_get(&self, key: &str) -> Result<Option<(Vec<u8>, CasToken)>, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        let line = format!("mg {wire} v c\r\n").into_bytes();
        let line = &line;
        read!(self, key, Command::MetaGet, async |connection| {
            if !connection.server_version().has_meta() {
                return gets_on(connection, wire).await;
            }
            let (header, data) = connection.meta(line, &["VA", "EN"]).await?;
            match data {
                None => Ok(None),
                Some(value) => match meta_cas_flag(&header) {
                    Some(token) => Ok(Some((value, token))),
                    None => {
                        connection.clean = false;
                        Err(wire_desync(connection, &header))
                    }
                },
            }
        })
    }

    /// Stores `value` only if `key` does not exist, returning the new item's CAS token: an
    /// `add` that saves the `gets` before the next `cas`. Answers [`MetaWrite::Stored`] or
    /// [`MetaWrite::NotStored`].
    ///
    /// On memcached 1.6.10 and later this is one `ms <key> <size> ME c T<ttl>`; on older
    /// servers it is `add` then `gets`. There, if another client changed the item between the
    /// two, the token returned is `CasToken(0)`, which no item ever has: the next `cas` with
    /// it answers `Exists` and the caller reads again, as after any lost race.
    pub async fn meta_add(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<MetaWrite, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        let exptime = expiration(ttl)?;
        let line = meta_set_line(wire, value, &format!("ME c T{exptime}"));
        let line = &line;
        self.write(key, Command::MetaAdd, async |connection| {
            if connection.server_version().has_meta() {
                return meta_set_on(connection, line).await;
            }
            match connection
                .store("add", wire, 0, exptime, value, None)
                .await?
            {
                "STORED" => Ok(MetaWrite::Stored(
                    token_after_write(connection, wire, value).await?,
                )),
                _ => Ok(MetaWrite::NotStored),
            }
        })
        .await
    }

    /// Replaces `key` with `value` only if its CAS token is still `token`, returning the new
    /// token on success — so a process that keeps the token can compare-and-swap again
    /// without reading first (one round trip per update on memcached 1.6.10 and later:
    /// `ms <key> <size> C<token> c T<ttl>`; `cas` then `gets` on older servers, with the same
    /// `CasToken(0)` rule as [`meta_add`](Self::meta_add)). Answers [`MetaWrite::Stored`],
    /// [`MetaWrite::Exists`] or [`MetaWrite::NotFound`].
    pub async fn meta_cas(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: CasToken,
    ) -> Result<MetaWrite, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        let exptime = expiration(ttl)?;
        let line = meta_set_line(wire, value, &format!("C{} c T{exptime}", token.0));
        let line = &line;
        self.write(key, Command::MetaCas, async |connection| {
            if connection.server_version().has_meta() {
                return meta_set_on(connection, line).await;
            }
            match connection
                .store("cas", wire, 0, exptime, value, Some(token.0))
                .await?
            {
                "STORED" => Ok(MetaWrite::Stored(
                    token_after_write(connection, wire, value).await?,
                )),
                "EXISTS" => Ok(MetaWrite::Exists),
                _ => Ok(MetaWrite::NotFound),
            }
        })
        .await
    }

    /// Sets a new expiry on `key` without fetching it; `true` if it exists.
    pub async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, Error> {
        let wire = self.wire_key(key)?;
        let wire: &str = &wire;
        let exptime = expiration(ttl)?;
        self.write(key, Command::Touch, async |connection| {
            connection.touch(wire, exptime).await
        })
        .await
    }

    /// Empties every node of the current topology (ejected ones included), concurrently.
    /// Returns the failures per node; an empty list means every node answered `OK`.
    pub async fn flush_all(&self) -> Vec<NodeFailure> {
        let core = &self.cluster.core;
        let outcomes = join_all(core.handles().into_iter().map(|handle| async move {
            let outcome = core
                .run_on(&handle, Command::FlushAll, metrics::ok, |timer| {
                    Self::with_connection(&handle, timer, async |connection| {
                        connection.flush_all().await
                    })
                })
                .await;
            (handle.node.clone(), outcome)
        }))
        .await;
        let mut failures = Vec::new();
        for (node, outcome) in outcomes {
            if let Err(error) = outcome {
                failures.push(NodeFailure {
                    node,
                    keys: Vec::new(),
                    error,
                });
            }
        }
        failures
    }

    /// `key` as sent to memcached: the cluster's key prefix (if any) and `key`, checked as a
    /// whole (the prefix counts towards the 250-byte limit). Borrowed when there is no
    /// prefix. Routing uses `key` without the prefix, as libmemcached's namespace does.
    fn wire_key<'k>(&self, key: &'k str) -> Result<std::borrow::Cow<'k, str>, Error> {
        let prefix = &self.cluster.core.config.key_prefix;
        if prefix.is_empty() {
            check_key(key)?;
            return Ok(std::borrow::Cow::Borrowed(key));
        }
        check_key_with_prefix(prefix, key)?;
        Ok(std::borrow::Cow::Owned(format!("{prefix}{key}")))
    }

    /// A key as sent back to the caller's form (the prefix removed).
    fn user_key(&self, mut wire: String) -> String {
        let prefix = self.cluster.core.config.key_prefix.len();
        if prefix > 0 && wire.len() >= prefix {
            wire.drain(..prefix);
        }
        wire
    }

    fn server_reply(&self, key: &str, reply: &str) -> Error {
        match self.cluster.core.route(key.as_bytes()) {
            Ok(handle) => Error::Server {
                node: handle.node.clone(),
                message: reply.to_owned(),
            },
            Err(error) => error,
        }
    }
}

fn wire_desync(connection: &Connection, header: &str) -> Error {
    unexpected(connection.node(), header)
}

async fn gets_on(
    connection: &mut Connection,
    key: &str,
) -> Result<Option<(Vec<u8>, CasToken)>, Error> {
    let mut values = connection.retrieve("gets", None, &[key]).await?;
    Ok(values
        .remove(key)
        .map(|value| (value.data, CasToken(value.cas.unwrap_or(0)))))
}

/// The token of the item just written on a server without meta commands: `gets`, kept only
/// if the value is still the one written.
async fn token_after_write(
    connection: &mut Connection,
    key: &str,
    value: &[u8],
) -> Result<CasToken, Error> {
    Ok(match gets_on(connection, key).await? {
        Some((current, token)) if current == value => token,
        _ => CasToken(0),
    })
}

fn meta_set_line(key: &str, value: &[u8], flags: &str) -> Vec<u8> {
    let mut line = format!("ms {key} {} {flags}\r\n", value.len()).into_bytes();
    line.extend_from_slice(value);
    line.extend_from_slice(b"\r\n");
    line
}

async fn meta_set_on(connection: &mut Connection, line: &[u8]) -> Result<MetaWrite, Error> {
    let (header, _) = connection.meta(line, &["HD", "NS", "EX", "NF"]).await?;
    match header.split(' ').next().unwrap_or("") {
        "HD" => match meta_cas_flag(&header) {
            Some(token) => Ok(MetaWrite::Stored(token)),
            None => {
                connection.clean = false;
                Err(wire_desync(connection, &header))
            }
        },
        "NS" => Ok(MetaWrite::NotStored),
        "EX" => Ok(MetaWrite::Exists),
        _ => Ok(MetaWrite::NotFound),
    }
}
