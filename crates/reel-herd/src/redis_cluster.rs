//! Redis Cluster (feature `redis-cluster`): the server-side sharded mode of Redis, ElastiCache
//! "cluster mode enabled" and MemoryDB, on the `redis` crate's async cluster client.
//!
//! Placement here belongs to the servers (16384 hash slots), not to a client ring: the client
//! reads the slot map from the seed nodes, follows `MOVED` and `ASK` redirections, refreshes
//! the map when a master fails over to its replica, and retries. Scripts and multi-key
//! commands work on keys that share a hash tag (`{user:42}:a`, `{user:42}:b`): they hash to
//! one slot, so one node runs them.

use std::time::Duration;

use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, FromRedisValue, ScriptInvocation};
use reel_core::SecretSource;
use tracing::Instrument;

use crate::error::Error;
use crate::node::Node;

/// A connection to a Redis Cluster; cheap to clone (one multiplexed connection per node,
/// shared by the clones). `Send + Sync`.
#[derive(Clone)]
pub struct RedisClusterClient {
    connection: ClusterConnection,
    seeds: Vec<Node>,
}

impl std::fmt::Debug for RedisClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClusterClient")
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisClusterClient`] from seed nodes (any few nodes of the cluster; the rest
/// is discovered from them).
///
/// ```no_run
/// # async fn demo() -> Result<(), reel_herd::Error> {
/// use reel_core::SecretSource;
/// use reel_herd::{Node, RedisClusterBuilder};
///
/// let client = RedisClusterBuilder::new(Node::parse_list("10.0.0.1:6379,10.0.0.2:6379").unwrap())
///     .username(SecretSource::literal("app"))
///     .password(SecretSource::env("REDIS_PASSWORD"))
///     .connect()
///     .await?;
/// let _: () = client.query(redis::cmd("SET").arg("{user:42}:name").arg("Ada")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisClusterBuilder {
    seeds: Vec<Node>,
    username: Option<SecretSource>,
    password: Option<SecretSource>,
    connect_timeout: Duration,
    response_timeout: Duration,
    retries: u32,
}

impl RedisClusterBuilder {
    /// A client for the cluster these nodes belong to (defaults: connect timeout 1 s,
    /// response timeout 1 s, 16 retries with the redis crate's backoff).
    pub fn new(seeds: impl IntoIterator<Item = Node>) -> Self {
        Self {
            seeds: seeds.into_iter().collect(),
            username: None,
            password: None,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            retries: 16,
        }
    }

    /// ACL user name (Redis 6+; ElastiCache RBAC, MemoryDB).
    #[must_use]
    pub fn username(mut self, username: SecretSource) -> Self {
        self.username = Some(username);
        self
    }

    /// Password (`AUTH`), read from the source when the client connects.
    #[must_use]
    pub fn password(mut self, password: SecretSource) -> Self {
        self.password = Some(password);
        self
    }

    /// Time allowed to open a connection to a node.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one reply.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Retries of a command after a redirection, a connection error or a failover.
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Connects to the seeds and reads the slot map.
    pub async fn connect(self) -> Result<RedisClusterClient, Error> {
        if self.seeds.is_empty() {
            return Err(Error::EmptyDiscovery);
        }
        let urls: Vec<String> = self
            .seeds
            .iter()
            .map(|node| format!("redis://{}/", node.address()))
            .collect();
        let mut builder = ClusterClientBuilder::new(urls)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.response_timeout)
            .retries(self.retries);
        if let Some(username) = &self.username {
            builder = builder.username(resolve(username)?.expose());
        }
        if let Some(password) = &self.password {
            builder = builder.password(resolve(password)?.expose());
        }
        let client = builder.build().map_err(cluster_error)?;
        let connection = client.get_async_connection().await.map_err(cluster_error)?;
        Ok(RedisClusterClient {
            connection,
            seeds: self.seeds,
        })
    }
}

fn resolve(source: &SecretSource) -> Result<reel_core::Secret, Error> {
    source.resolve().map_err(|error| Error::Credentials {
        message: format!("{}: {error}", source.describe()),
    })
}

/// The span of one Redis Cluster command (fields as in the other backends' spans).
fn command_span() -> tracing::Span {
    tracing::debug_span!(
        "herd.command",
        db.system.name = "redis",
        db.operation.name = tracing::field::Empty,
        server.address = tracing::field::Empty,
        server.port = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

fn cluster_error(error: ::redis::RedisError) -> Error {
    Error::RedisCluster { error }
}

impl RedisClusterClient {
    /// Runs `cmd` on the node that owns its key(s) (keys of a multi-key command must share a
    /// hash tag), following redirections and failovers.
    ///
    /// Runs in a `herd.command` span with `db.system.name = "redis"`, `db.operation.name`
    /// (the command's name) and `error.type` on failure; the node is chosen inside the redis
    /// crate, so `server.address` and `server.port` stay empty.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let span = command_span();
        if !span.is_disabled()
            && let Some(::redis::Arg::Simple(name)) = cmd.args_iter().next()
        {
            span.record(
                "db.operation.name",
                String::from_utf8_lossy(name).to_ascii_uppercase(),
            );
        }
        let mut connection = self.connection.clone();
        let result = cmd
            .query_async(&mut connection)
            .instrument(span.clone())
            .await
            .map_err(cluster_error);
        if result.is_err() {
            span.record("error.type", "redis");
        }
        result
    }

    /// Runs a Lua script (`EVALSHA`, loading it on `NOSCRIPT`) on the node that owns its keys
    /// (which must share a hash tag).
    pub async fn invoke_script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        let span = command_span();
        span.record("db.operation.name", "EVALSHA");
        let mut connection = self.connection.clone();
        let result = invocation
            .invoke_async(&mut connection)
            .instrument(span.clone())
            .await
            .map_err(cluster_error);
        if result.is_err() {
            span.record("error.type", "redis");
        }
        result
    }

    /// The seed nodes the client was built with.
    pub fn seeds(&self) -> &[Node] {
        &self.seeds
    }
}
