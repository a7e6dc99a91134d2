//! The memcached backend: one deadpool pool of memcache-async connections per node.
//!
//! memcache-async sends `set`, `delete` and `append` with `noreply` (the server's answer is
//! never read, so a failed write looks like a success), reads `NOT FOUND` where memcached says
//! `NOT_FOUND` in `cas`, always writes flags 0 and has no `replace` or `touch`. This module
//! uses memcache-async where its replies are read correctly (`get`, multi-key `get`, `gets`,
//! `add`, `incr`/`decr`, `version`, `flush_all`) and sends `set`, `replace`, `delete`, `cas` and
//! `touch` itself, as plain ASCII commands without `noreply`, over the same pooled TCP stream,
//! reading the server's reply line. Every write therefore reports what memcached answered.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use futures_util::future::join_all;
use memcache_async::ascii::Protocol;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::TcpStream;

use crate::cluster::{
    Backend, Cluster, ClusterBuilder, ClusterConfig, NodeFailure, NodeHandle, cluster_common_api,
};
use crate::discovery::BoxFuture;
use crate::error::HerdError;
use crate::node::Node;

/// memcached reads expirations above 30 days as absolute Unix times.
const RELATIVE_TTL_LIMIT: u64 = 60 * 60 * 24 * 30;
/// memcached's key length limit.
const MAX_KEY_LENGTH: usize = 250;

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

/// A TCP stream shared by memcache-async's protocol object and this module's own commands.
/// Commands run one at a time on a pooled connection, and each reads its reply to the end, so
/// neither side ever leaves buffered bytes for the other; the mutex is held only for a single
/// non-blocking poll.
///
/// Writes are collected until `flush`: memcache-async writes a multi-key `get` one key at a
/// time and flushes at the end of every command, so this sends each command in one system
/// call instead of one per key.
#[derive(Clone, Debug)]
struct SharedStream(Arc<Mutex<Wire>>);

#[derive(Debug)]
struct Wire {
    stream: TcpStream,
    pending: Vec<u8>,
    written: usize,
}

/// Past this many buffered bytes a write first sends what is pending.
const WRITE_BUFFER_LIMIT: usize = 64 * 1024;

impl Wire {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.pending[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(sent)) => self.written += sent,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl SharedStream {
    fn new(stream: TcpStream) -> Self {
        Self(Arc::new(Mutex::new(Wire {
            stream,
            pending: Vec::new(),
            written: 0,
        })))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Wire) -> R) -> R {
        let mut wire = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut wire)
    }
}

impl AsyncRead for SharedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|wire| Pin::new(&mut wire.stream).poll_read(cx, buf))
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|wire| {
            if wire.pending.len() >= WRITE_BUFFER_LIMIT {
                match wire.drain(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            wire.pending.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|wire| match wire.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut wire.stream).poll_flush(cx),
            other => other,
        })
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|wire| match wire.drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut wire.stream).poll_shutdown(cx),
            other => other,
        })
    }
}

/// One pooled memcached connection.
pub(crate) struct Connection {
    protocol: Protocol<SharedStream>,
    raw: BufReader<SharedStream>,
    /// False while a command is in flight; a connection dropped mid-command (timeout) or
    /// left after an I/O error is never reused.
    clean: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("clean", &self.clean)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(stream: TcpStream) -> Self {
        let shared = SharedStream::new(stream);
        Self {
            protocol: Protocol::new(shared.clone()),
            raw: BufReader::new(shared),
            clean: true,
        }
    }

    /// Sends one command (and optional data block) and reads the one-line reply.
    async fn command(&mut self, line: &[u8]) -> io::Result<String> {
        let stream = self.raw.get_mut();
        stream.write_all(line).await?;
        stream.flush().await?;
        let mut reply = String::new();
        let read = self.raw.read_line(&mut reply).await?;
        if read == 0 || !reply.ends_with('\n') {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        Ok(reply.trim_end().to_owned())
    }

    /// Sends one meta command and reads its reply: the header line and, for `VA <size> ...`,
    /// the data block that follows it.
    async fn meta(&mut self, line: &[u8]) -> io::Result<(String, Option<Vec<u8>>)> {
        let header = self.command(line).await?;
        let Some(rest) = header.strip_prefix("VA ") else {
            return Ok((header, None));
        };
        let size: usize = rest
            .split(' ')
            .next()
            .and_then(|size| size.parse().ok())
            .ok_or_else(|| {
                io::Error::new(ErrorKind::InvalidData, format!("bad reply {header:?}"))
            })?;
        let mut data = vec![0; size + 2];
        self.raw.read_exact(&mut data).await?;
        if !data.ends_with(b"\r\n") {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "value block not terminated by CRLF",
            ));
        }
        data.truncate(size);
        Ok((header, Some(data)))
    }
}

#[derive(Debug)]
pub(crate) struct Manager {
    address: String,
    connect_timeout: Duration,
}

impl managed::Manager for Manager {
    type Type = Connection;
    type Error = io::Error;

    async fn create(&self) -> Result<Connection, io::Error> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.address))
            .await
            .map_err(|_| io::Error::new(ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Connection::new(stream))
    }

    async fn recycle(&self, connection: &mut Connection, _: &Metrics) -> RecycleResult<io::Error> {
        if connection.clean {
            Ok(())
        } else {
            Err(RecycleError::message(
                "connection was left in the middle of a command",
            ))
        }
    }
}

/// A node's pool (None only if deadpool refused the configuration).
pub(crate) struct NodePool(Option<managed::Pool<Manager>>);

/// The memcached backend of the cluster core.
#[derive(Debug, Default)]
pub(crate) struct MemcacheBackend;

impl Backend for MemcacheBackend {
    type Pool = NodePool;

    fn open(&self, node: &Node, config: &ClusterConfig) -> NodePool {
        let manager = Manager {
            address: node.address(),
            connect_timeout: config.connect_timeout,
        };
        // Waiting for a free connection gives up at half the command timeout, so a burst
        // that exhausts the pool fails as "pool busy" (not held against the node) before the
        // command timeout (which is) can fire.
        let pool = managed::Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.command_timeout / 2))
            .runtime(deadpool::Runtime::Tokio1)
            .build();
        match pool {
            Ok(pool) => NodePool(Some(pool)),
            Err(error) => {
                tracing::error!(%node, %error, "could not build the connection pool");
                NodePool(None)
            }
        }
    }

    fn probe<'a>(
        &'a self,
        node: &'a Node,
        pool: &'a NodePool,
    ) -> BoxFuture<'a, Result<(), HerdError>> {
        Box::pin(async move {
            let mut connection = connection(node, pool).await?;
            connection.clean = false;
            connection
                .protocol
                .version()
                .await
                .map_err(|e| io_error(node, e))?;
            connection.clean = true;
            Ok(())
        })
    }

    fn close(&self, pool: &NodePool) {
        // Idle connections go now; connections still serving a request go when it ends and
        // the last handle to the pool is dropped. (Closing the pool outright would fail a
        // request that picked the node just before the topology changed.)
        if let Some(pool) = &pool.0 {
            pool.retain(|_, _| false);
        }
    }

    fn discard_idle(&self, pool: &NodePool) {
        if let Some(pool) = &pool.0 {
            pool.retain(|_, _| false);
        }
    }
}

async fn connection(node: &Node, pool: &NodePool) -> Result<managed::Object<Manager>, HerdError> {
    let Some(pool) = &pool.0 else {
        return Err(HerdError::Pool {
            node: node.clone(),
            message: "the pool could not be built".to_owned(),
        });
    };
    pool.get().await.map_err(|error| match error {
        managed::PoolError::Backend(error) => HerdError::Io {
            node: node.clone(),
            error,
        },
        managed::PoolError::Timeout(managed::TimeoutType::Create) => HerdError::Io {
            node: node.clone(),
            error: io::Error::new(ErrorKind::TimedOut, "connect timed out"),
        },
        managed::PoolError::Timeout(managed::TimeoutType::Wait) => HerdError::Pool {
            node: node.clone(),
            message: "every pooled connection stayed busy; raise pool_size or command_timeout"
                .to_owned(),
        },
        other => HerdError::Pool {
            node: node.clone(),
            message: other.to_string(),
        },
    })
}

/// Maps an error from memcache-async: `Other` carries a server error line (fully read);
/// anything else is a broken connection.
fn io_error(node: &Node, error: io::Error) -> HerdError {
    if error.kind() == ErrorKind::Other {
        HerdError::Server {
            node: node.clone(),
            message: error.to_string(),
        }
    } else {
        HerdError::Io {
            node: node.clone(),
            error,
        }
    }
}

/// A malformed meta reply is the server's fault, not the connection's.
fn meta_io(node: &Node, error: io::Error) -> HerdError {
    if error.kind() == ErrorKind::InvalidData {
        HerdError::Server {
            node: node.clone(),
            message: error.to_string(),
        }
    } else {
        HerdError::Io {
            node: node.clone(),
            error,
        }
    }
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

fn unexpected(node: &Node, reply: &str) -> HerdError {
    HerdError::Server {
        node: node.clone(),
        message: reply.to_owned(),
    }
}

/// Checks a key the way memcached's text protocol requires; a space or newline in a key
/// would otherwise split the command.
fn check_key(key: &str) -> Result<(), HerdError> {
    let reason = if key.is_empty() {
        "empty"
    } else if key.len() > MAX_KEY_LENGTH {
        "longer than 250 bytes"
    } else if key.bytes().any(|b| b <= b' ' || b == 0x7f) {
        "contains whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(HerdError::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// memcached's expiration field: seconds up to 30 days, an absolute Unix time beyond.
fn expiration(ttl: Duration) -> u32 {
    let seconds = ttl.as_secs();
    let value = if seconds <= RELATIVE_TTL_LIMIT {
        seconds
    } else {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        now.saturating_add(seconds)
    };
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn storage_line(verb: &str, key: &str, value: &[u8], ttl: Duration, cas: Option<u64>) -> Vec<u8> {
    let header = match cas {
        Some(token) => format!(
            "{verb} {key} 0 {} {} {token}\r\n",
            expiration(ttl),
            value.len()
        ),
        None => format!("{verb} {key} 0 {} {}\r\n", expiration(ttl), value.len()),
    };
    let mut line = Vec::with_capacity(header.len() + value.len() + 2);
    line.extend_from_slice(header.as_bytes());
    line.extend_from_slice(value);
    line.extend_from_slice(b"\r\n");
    line
}

type Handle = Arc<NodeHandle<NodePool>>;

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
    pub async fn build_memcache(self) -> Result<MemcacheCluster, HerdError> {
        Ok(MemcacheCluster {
            cluster: self.start(MemcacheBackend).await?,
        })
    }
}

impl MemcacheCluster {
    cluster_common_api!();

    /// Runs `command` on a pooled connection of `handle`'s node; marks the connection dirty
    /// for the duration so a cancelled or failed command never leaves it in the pool.
    async fn with_connection<T>(
        handle: &Handle,
        command: impl AsyncFnOnce(&mut Connection) -> Result<T, HerdError>,
    ) -> Result<T, HerdError> {
        let mut connection = connection(&handle.node, &handle.pool).await?;
        connection.clean = false;
        let result = command(&mut connection).await;
        // Only a command that completed normally leaves the stream at a reply boundary for
        // sure; after any error the connection is dropped rather than recycled.
        connection.clean = result.is_ok();
        result
    }

    /// Runs a command that sends `line` and reads one reply line, on the key's node.
    async fn single_line(&self, key: &str, line: Vec<u8>) -> Result<String, HerdError> {
        let core = &self.cluster.core;
        let handle = core.route(key.as_bytes())?;
        let node = handle.node.clone();
        core.run_on(
            &handle,
            Self::with_connection(&handle, async |connection| {
                connection
                    .command(&line)
                    .await
                    .map_err(|error| HerdError::Io {
                        node: node.clone(),
                        error,
                    })
            }),
        )
        .await
    }

    /// The value of `key`, or `None` on a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, HerdError> {
        check_key(key)?;
        let core = &self.cluster.core;
        core.run(
            key.as_bytes(),
            core.config.read_retries,
            |handle| async move {
                let node = handle.node.clone();
                let value = Self::with_connection(&handle, async |connection| {
                    match connection.protocol.get(key).await {
                        Ok(value) => Ok(Some(value)),
                        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
                        Err(error) => Err(io_error(&node, error)),
                    }
                })
                .await?;
                if value.is_some() {
                    handle.hit();
                } else {
                    handle.miss();
                }
                Ok(value)
            },
        )
        .await
    }

    /// Fetches many keys: they are grouped by node and each node is asked once, all nodes
    /// concurrently. A node that fails fails only its own keys (listed in
    /// [`GetMulti::failed`]); the call itself fails only for an invalid key.
    pub async fn get_multi<K: AsRef<str>>(&self, keys: &[K]) -> Result<GetMulti, HerdError> {
        let mut groups: Vec<(Handle, Vec<String>)> = Vec::new();
        let mut result = GetMulti::default();
        for key in keys {
            let key = key.as_ref();
            check_key(key)?;
            let handle = match self.cluster.core.route(key.as_bytes()) {
                Ok(handle) => handle,
                Err(error) => return Err(error),
            };
            match groups.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &handle)) {
                Some((_, group)) => group.push(key.to_owned()),
                None => groups.push((handle, vec![key.to_owned()])),
            }
        }
        // All nodes at once, in this task: no spawn, no cross-thread wake-ups.
        let core = &self.cluster.core;
        let outcomes = join_all(groups.into_iter().map(|(handle, group)| async move {
            let mut attempt = 0;
            loop {
                let node = handle.node.clone();
                let outcome = core
                    .run_on(
                        &handle,
                        Self::with_connection(&handle, async |connection| {
                            connection
                                .protocol
                                .get_multi(&group)
                                .await
                                .map_err(|e| io_error(&node, e))
                        }),
                    )
                    .await;
                match outcome {
                    Err(error) if error.is_node_failure() && attempt < core.config.read_retries => {
                        attempt += 1;
                    }
                    other => return (handle, group, other),
                }
            }
        }))
        .await;
        for (handle, group, outcome) in outcomes {
            match outcome {
                Ok(found) => {
                    for key in &group {
                        if found.contains_key(key) {
                            handle.hit();
                        } else {
                            handle.miss();
                        }
                    }
                    result.found.extend(found);
                }
                Err(error) => result.failed.push(NodeFailure {
                    node: handle.node.clone(),
                    keys: group,
                    error,
                }),
            }
        }
        Ok(result)
    }

    /// Stores `value` under `key` for `ttl` (zero: no expiry; beyond 30 days it is sent as an
    /// absolute time). Succeeds only when memcached answered `STORED`.
    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), HerdError> {
        check_key(key)?;
        let reply = self
            .single_line(key, storage_line("set", key, value, ttl, None))
            .await?;
        match reply.as_str() {
            "STORED" => Ok(()),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// Stores `value` only if `key` does not exist.
    pub async fn add(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<StoreOutcome, HerdError> {
        check_key(key)?;
        let core = &self.cluster.core;
        core.run(key.as_bytes(), 0, |handle| async move {
            let node = handle.node.clone();
            Self::with_connection(&handle, async |connection| {
                match connection.protocol.add(key, value, expiration(ttl)).await {
                    Ok(()) => Ok(StoreOutcome::Stored),
                    Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                        Ok(StoreOutcome::NotStored)
                    }
                    Err(error) => Err(io_error(&node, error)),
                }
            })
            .await
        })
        .await
    }

    /// Stores `value` only if `key` exists.
    pub async fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<StoreOutcome, HerdError> {
        check_key(key)?;
        let reply = self
            .single_line(key, storage_line("replace", key, value, ttl, None))
            .await?;
        match reply.as_str() {
            "STORED" => Ok(StoreOutcome::Stored),
            "NOT_STORED" => Ok(StoreOutcome::NotStored),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// Deletes `key`; `true` if it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, HerdError> {
        check_key(key)?;
        let reply = self
            .single_line(key, format!("delete {key}\r\n").into_bytes())
            .await?;
        match reply.as_str() {
            "DELETED" => Ok(true),
            "NOT_FOUND" => Ok(false),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// Adds `by` to the decimal number stored at `key`; the new value, or `None` if the key
    /// does not exist. (memcached wraps at 2^64.)
    pub async fn incr(&self, key: &str, by: u64) -> Result<Option<u64>, HerdError> {
        self.counter(key, by, true).await
    }

    /// Subtracts `by` (memcached stops at 0); the new value, or `None` if the key does not
    /// exist.
    pub async fn decr(&self, key: &str, by: u64) -> Result<Option<u64>, HerdError> {
        self.counter(key, by, false).await
    }

    async fn counter(&self, key: &str, by: u64, up: bool) -> Result<Option<u64>, HerdError> {
        check_key(key)?;
        let core = &self.cluster.core;
        core.run(key.as_bytes(), 0, |handle| async move {
            let node = handle.node.clone();
            Self::with_connection(&handle, async |connection| {
                let result = if up {
                    connection.protocol.increment(key, by).await
                } else {
                    connection.protocol.decrement(key, by).await
                };
                match result {
                    Ok(value) => Ok(Some(value)),
                    Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(io_error(&node, error)),
                }
            })
            .await
        })
        .await
    }

    /// The value of `key` with its CAS token, or `None` on a miss.
    pub async fn gets(&self, key: &str) -> Result<Option<(Vec<u8>, CasToken)>, HerdError> {
        check_key(key)?;
        let core = &self.cluster.core;
        core.run(
            key.as_bytes(),
            core.config.read_retries,
            |handle| async move {
                let node = handle.node.clone();
                let value = Self::with_connection(&handle, async |connection| {
                    match connection.protocol.gets_cas(key).await {
                        Ok((value, token)) => Ok(Some((value, CasToken(token)))),
                        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
                        Err(error) => Err(io_error(&node, error)),
                    }
                })
                .await?;
                if value.is_some() {
                    handle.hit();
                } else {
                    handle.miss();
                }
                Ok(value)
            },
        )
        .await
    }

    /// Replaces `key` with `value` only if it is unchanged since the `gets` that returned
    /// `token`.
    pub async fn cas(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: CasToken,
    ) -> Result<CasOutcome, HerdError> {
        check_key(key)?;
        let reply = self
            .single_line(key, storage_line("cas", key, value, ttl, Some(token.0)))
            .await?;
        match reply.as_str() {
            "STORED" => Ok(CasOutcome::Stored),
            "EXISTS" => Ok(CasOutcome::Exists),
            "NOT_FOUND" => Ok(CasOutcome::NotFound),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// The value of `key` with its CAS token through the meta protocol (`mg <key> v c`), or
    /// `None` on a miss. Same result as [`gets`](Self::gets); needs memcached 1.6+.
    pub async fn meta_get(&self, key: &str) -> Result<Option<(Vec<u8>, CasToken)>, HerdError> {
        check_key(key)?;
        let line = format!("mg {key} v c\r\n").into_bytes();
        let core = &self.cluster.core;
        core.run(key.as_bytes(), core.config.read_retries, |handle| {
            let line = &line;
            async move {
                let node = handle.node.clone();
                let (header, data) = Self::with_connection(&handle, async |connection| {
                    connection.meta(line).await.map_err(|e| meta_io(&node, e))
                })
                .await?;
                match (header.as_str(), data) {
                    ("EN", _) => {
                        handle.miss();
                        Ok(None)
                    }
                    (header, Some(value)) => match meta_cas_flag(header) {
                        Some(token) => {
                            handle.hit();
                            Ok(Some((value, token)))
                        }
                        None => Err(unexpected(&handle.node, header)),
                    },
                    (other, None) => Err(unexpected(&handle.node, other)),
                }
            }
        })
        .await
    }

    /// Stores `value` only if `key` does not exist (`ms <key> <size> ME c T<ttl>`), returning
    /// the new item's CAS token: an `add` that saves the `gets` before the next `cas`.
    /// Answers [`MetaWrite::Stored`] or [`MetaWrite::NotStored`]. Needs memcached 1.6+.
    pub async fn meta_add(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<MetaWrite, HerdError> {
        check_key(key)?;
        self.meta_set(key, value, format!("ME c T{}", expiration(ttl)))
            .await
    }

    /// Replaces `key` with `value` only if its CAS token is still `token`
    /// (`ms <key> <size> C<token> c T<ttl>`), returning the new token on success — so a
    /// process that keeps the token can compare-and-swap again without reading first (one
    /// round trip per update). Answers [`MetaWrite::Stored`], [`MetaWrite::Exists`] or
    /// [`MetaWrite::NotFound`]. Needs memcached 1.6+.
    pub async fn meta_cas(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        token: CasToken,
    ) -> Result<MetaWrite, HerdError> {
        check_key(key)?;
        self.meta_set(key, value, format!("C{} c T{}", token.0, expiration(ttl)))
            .await
    }

    async fn meta_set(
        &self,
        key: &str,
        value: &[u8],
        flags: String,
    ) -> Result<MetaWrite, HerdError> {
        let mut line = format!("ms {key} {} {flags}\r\n", value.len()).into_bytes();
        line.extend_from_slice(value);
        line.extend_from_slice(b"\r\n");
        let core = &self.cluster.core;
        let handle = core.route(key.as_bytes())?;
        let node = handle.node.clone();
        let (header, _) = core
            .run_on(
                &handle,
                Self::with_connection(&handle, async |connection| {
                    connection.meta(&line).await.map_err(|e| meta_io(&node, e))
                }),
            )
            .await?;
        let code = header.split(' ').next().unwrap_or("");
        match code {
            "HD" => meta_cas_flag(&header)
                .map(MetaWrite::Stored)
                .ok_or_else(|| unexpected(&handle.node, &header)),
            "NS" => Ok(MetaWrite::NotStored),
            "EX" => Ok(MetaWrite::Exists),
            "NF" => Ok(MetaWrite::NotFound),
            _ => Err(unexpected(&handle.node, &header)),
        }
    }

    /// Sets a new expiry on `key` without fetching it; `true` if it exists.
    pub async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, HerdError> {
        check_key(key)?;
        let reply = self
            .single_line(
                key,
                format!("touch {key} {}\r\n", expiration(ttl)).into_bytes(),
            )
            .await?;
        match reply.as_str() {
            "TOUCHED" => Ok(true),
            "NOT_FOUND" => Ok(false),
            other => Err(self.server_reply(key, other)),
        }
    }

    /// Empties every node of the current topology (ejected ones included), concurrently.
    /// Returns the failures per node; an empty list means every node answered `OK`.
    pub async fn flush_all(&self) -> Vec<NodeFailure> {
        let core = &self.cluster.core;
        let outcomes = join_all(core.handles().into_iter().map(|handle| async move {
            let node = handle.node.clone();
            let outcome = core
                .run_on(
                    &handle,
                    Self::with_connection(&handle, async |connection| {
                        connection
                            .protocol
                            .flush()
                            .await
                            .map_err(|e| io_error(&node, e))
                    }),
                )
                .await;
            (node, outcome)
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

    fn server_reply(&self, key: &str, reply: &str) -> HerdError {
        match self.cluster.core.route(key.as_bytes()) {
            Ok(handle) => unexpected(&handle.node, reply),
            Err(error) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_would_break_the_protocol_are_refused() {
        assert!(check_key("user:1").is_ok());
        for bad in ["", "a b", "a\r\nset x 0 0 1", "tab\tkey", &"k".repeat(251)] {
            assert!(
                matches!(check_key(bad), Err(HerdError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn long_ttls_become_absolute_times() {
        assert_eq!(expiration(Duration::ZERO), 0);
        assert_eq!(expiration(Duration::from_secs(60)), 60);
        assert!(expiration(Duration::from_secs(RELATIVE_TTL_LIMIT + 1)) > 1_700_000_000);
    }
}
