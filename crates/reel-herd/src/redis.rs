//! The redis backend: one auto-reconnecting multiplexed connection
//! ([`ConnectionManager`]) per node. A multiplexed connection
//! carries any number of concurrent commands, so it is the node's whole pool.

use std::sync::Arc;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    Client, Cmd, ConnectionInfo, FromRedisValue, IntoConnectionInfo, ScriptInvocation, ToRedisArgs,
};
use futures_util::future::join_all;
use reel_core::SecretSource;

use crate::cluster::{
    Backend, Cluster, ClusterBuilder, ClusterConfig, NodeFailure, NodeHandle, cluster_common_api,
};
use crate::discovery::BoxFuture;
use crate::error::Error;
use crate::metrics::{self, Command};
use crate::node::Node;

/// A node's connection (None only if the redis client refused the address).
pub(crate) struct NodeConnection(Option<ConnectionManager>);

/// The redis backend of the cluster core.
#[derive(Debug, Default)]
pub(crate) struct RedisBackend {
    settings: RedisSettings,
}

/// What every node connection of a [`RedisCluster`] authenticates and selects: an ACL user
/// and password (Redis 6+ ACLs, ElastiCache RBAC, MemoryDB) or a password alone (`AUTH`),
/// and a database number. Secrets are read from their [`SecretSource`] each time a node's
/// connection is opened (a node that joins later picks up a rotated password).
///
/// ```
/// use reel_core::SecretSource;
/// use reel_herd::RedisSettings;
///
/// let settings = RedisSettings::new()
///     .username(SecretSource::literal("app"))
///     .password(SecretSource::env("REDIS_PASSWORD"))
///     .database(2);
/// # let _ = settings;
/// ```
#[derive(Clone, Debug, Default)]
pub struct RedisSettings {
    username: Option<SecretSource>,
    password: Option<SecretSource>,
    database: i64,
    #[cfg(feature = "redis-tls")]
    tls: Option<RedisTls>,
}

/// TLS for every node connection (feature `redis-tls`; rustls with the ring provider): the
/// connections go out as `rediss://`, the server's certificate is checked against `ca_pem`
/// (or the system's trust store) and its name against the node's host, and a client
/// certificate is sent if the server asks for one (mutual TLS). ElastiCache and MemoryDB
/// with in-transit encryption need it.
///
/// ```
/// use reel_herd::{RedisSettings, RedisTls};
///
/// let ca = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
/// let settings = RedisSettings::new().tls(RedisTls::new().ca_pem(ca.to_vec()));
/// # let _ = settings;
/// ```
#[cfg(feature = "redis-tls")]
#[derive(Clone, Default)]
pub struct RedisTls {
    ca_pem: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

#[cfg(feature = "redis-tls")]
impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client key stays out of logs.
        f.debug_struct("RedisTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(|pem| pem.len()))
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

#[cfg(feature = "redis-tls")]
impl RedisTls {
    /// TLS checked against the system's trust store (rustls-native-certs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CA certificate(s) in `pem` (PEM text) instead of the system's store.
    #[must_use]
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Sends this client certificate and key (both PEM) when the server asks for one.
    #[must_use]
    pub fn client_certificate_pem(
        mut self,
        certificate: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client = Some((certificate.into(), key.into()));
        self
    }

    fn certificates(&self) -> ::redis::TlsCertificates {
        ::redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| ::redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.ca_pem.clone(),
        }
    }
}

impl RedisSettings {
    /// No user, no password, database 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ACL user name.
    #[must_use]
    pub fn username(mut self, username: SecretSource) -> Self {
        self.username = Some(username);
        self
    }

    /// The password (of the ACL user, or of `default`).
    #[must_use]
    pub fn password(mut self, password: SecretSource) -> Self {
        self.password = Some(password);
        self
    }

    /// The database number (`SELECT`); cluster-mode servers only have database 0.
    #[must_use]
    pub fn database(mut self, database: i64) -> Self {
        self.database = database;
        self
    }

    /// Connects every node over TLS (`rediss://`), see [`RedisTls`].
    #[cfg(feature = "redis-tls")]
    #[must_use]
    pub fn tls(mut self, tls: RedisTls) -> Self {
        self.tls = Some(tls);
        self
    }

    fn scheme(&self) -> &'static str {
        #[cfg(feature = "redis-tls")]
        if self.tls.is_some() {
            return "rediss";
        }
        "redis"
    }

    /// The redis client for `info`, with the TLS settings if any.
    fn client(&self, info: ConnectionInfo) -> Result<Client, ::redis::RedisError> {
        #[cfg(feature = "redis-tls")]
        if let Some(tls) = &self.tls {
            // rustls needs a process-wide crypto provider; an application that installed its
            // own keeps it.
            let _ = rustls::crypto::ring::default_provider().install_default();
            return Client::build_with_tls(info, tls.certificates());
        }
        Client::open(info)
    }

    fn connection_info(&self, node: &Node) -> Result<ConnectionInfo, String> {
        let info = format!("{}://{}/", self.scheme(), node.address())
            .as_str()
            .into_connection_info()
            .map_err(|error| error.to_string())?;
        let mut redis = info.redis_settings().clone().set_db(self.database);
        if let Some(username) = &self.username {
            let secret = username
                .resolve()
                .map_err(|error| format!("{}: {error}", username.describe()))?;
            redis = redis.set_username(secret.expose());
        }
        if let Some(password) = &self.password {
            let secret = password
                .resolve()
                .map_err(|error| format!("{}: {error}", password.describe()))?;
            redis = redis.set_password(secret.expose());
        }
        Ok(info.set_redis_settings(redis))
    }
}

fn connection(node: &Node, pool: &NodeConnection) -> Result<ConnectionManager, Error> {
    pool.0.clone().ok_or_else(|| Error::Pool {
        node: node.clone(),
        message: "the redis client could not be created for this address".to_owned(),
    })
}

fn redis_error(node: &Node, error: ::redis::RedisError) -> Error {
    #[cfg(feature = "redis-tls")]
    if let Some(tls) = tls_error(&error) {
        return Error::Tls {
            node: node.clone(),
            error: tls,
        };
    }
    Error::Redis {
        node: node.clone(),
        error,
    }
}

/// The rustls error behind a failed TLS connection, if that is what `error` is.
#[cfg(feature = "redis-tls")]
fn tls_error(error: &::redis::RedisError) -> Option<rustls::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    // The redis crate keeps an I/O error as an `Arc<dyn Error>` source, and rustls's error
    // is the I/O error's payload (which `io::Error::source` skips).
    let io = |e: &(dyn std::error::Error + 'static)| -> Option<rustls::Error> {
        let io = e
            .downcast_ref::<std::io::Error>()
            .or_else(|| e.downcast_ref::<Shared>()?.downcast_ref::<std::io::Error>())?;
        io.get_ref()?.downcast_ref::<rustls::Error>().cloned()
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        if let Some(tls) = io(current) {
            return Some(tls);
        }
        source = current.source();
    }
    None
}

impl Backend for RedisBackend {
    type Pool = NodeConnection;

    const SYSTEM: &'static str = "redis";

    fn open(&self, node: &Node, config: &ClusterConfig) -> NodeConnection {
        let info = match self.settings.connection_info(node) {
            Ok(info) => info,
            Err(error) => {
                tracing::error!(%node, %error, "could not read the redis credentials");
                return NodeConnection(None);
            }
        };
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            // Reconnection is retried on the next command; health checks decide about the node.
            .set_number_of_retries(1);
        let manager = self
            .settings
            .client(info)
            .and_then(|client| ConnectionManager::new_lazy_with_config(client, manager_config));
        match manager {
            Ok(manager) => NodeConnection(Some(manager)),
            Err(error) => {
                tracing::error!(%node, %error, "could not create the redis connection");
                NodeConnection(None)
            }
        }
    }

    fn probe<'a>(
        &'a self,
        node: &'a Node,
        pool: &'a NodeConnection,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let mut connection = connection(node, pool)?;
            let reply: String = ::redis::cmd("PING")
                .query_async(&mut connection)
                .await
                .map_err(|e| redis_error(node, e))?;
            if reply == "PONG" {
                Ok(())
            } else {
                Err(Error::Server {
                    node: node.clone(),
                    message: format!("PING answered {reply}"),
                })
            }
        })
    }

    fn close(&self, _pool: &NodeConnection) {
        // Dropping the last ConnectionManager clone closes the connection.
    }
}

type Handle = Arc<NodeHandle<NodeConnection>>;

/// Values of a multi-key read, in the order of the keys asked, and the nodes that failed.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RedisMultiGet {
    /// One entry per key: the value, or `None` for a miss or a key whose node failed.
    pub values: Vec<Option<Vec<u8>>>,
    /// One entry per node that failed, with the keys it owned.
    pub failed: Vec<NodeFailure>,
}

/// A set of independent redis servers used as one cache: each key lives on the node the
/// router picks (client-side sharding, not Redis Cluster). Run any command or Lua script on a
/// key's node, or use the multi-key helpers that group keys per node. Cheap to clone.
///
/// Build it with [`ClusterBuilder::build_redis`].
#[derive(Clone, Debug)]
pub struct RedisCluster {
    cluster: Cluster<RedisBackend>,
}

impl ClusterBuilder {
    /// Runs the first discovery and starts a redis cluster (connections open on first use).
    /// Fails when the first discovery fails or finds no nodes.
    pub async fn build_redis(self) -> Result<RedisCluster, Error> {
        self.build_redis_with(RedisSettings::new()).await
    }

    /// [`build_redis`](Self::build_redis) with credentials and a database for every node.
    pub async fn build_redis_with(self, settings: RedisSettings) -> Result<RedisCluster, Error> {
        Ok(RedisCluster {
            cluster: self.start(RedisBackend { settings }).await?,
        })
    }
}

impl RedisCluster {
    cluster_common_api!();

    /// Runs `command` on the node that owns `route_key` (usually the command's key) and
    /// converts the reply. Connection failures count towards ejecting the node; commands are
    /// not retried (they may not be idempotent).
    ///
    /// ```no_run
    /// # async fn demo(redis: reel_herd::RedisCluster) -> Result<(), reel_herd::Error> {
    /// let mut cmd = redis::cmd("SET");
    /// cmd.arg("session:42").arg("data").arg("EX").arg(60);
    /// let () = redis.query("session:42", &cmd).await?;
    /// let value: Option<String> = redis.query("session:42", redis::cmd("GET").arg("session:42")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn query<T: FromRedisValue>(
        &self,
        route_key: impl AsRef<[u8]>,
        command: &Cmd,
    ) -> Result<T, Error> {
        let core = &self.cluster.core;
        core.run(
            route_key.as_ref(),
            0,
            Command::Query,
            metrics::ok,
            |handle, _| async move {
                let mut connection = connection(&handle.node, &handle.pool)?;
                command
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| redis_error(&handle.node, e))
            },
        )
        .await
    }

    /// Runs a Lua script (EVALSHA, loading it on `NOSCRIPT`) on the node that owns
    /// `route_key`. All keys the script touches must live on that node: route by the key
    /// they share.
    ///
    /// ```no_run
    /// # async fn demo(redis: reel_herd::RedisCluster) -> Result<(), reel_herd::Error> {
    /// let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    /// let total: i64 = redis.invoke_script("hits:home", script.key("hits:home").arg(3)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn invoke_script<T: FromRedisValue>(
        &self,
        route_key: impl AsRef<[u8]>,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        let core = &self.cluster.core;
        core.run(
            route_key.as_ref(),
            0,
            Command::Script,
            metrics::ok,
            |handle, _| async move {
                let mut connection = connection(&handle.node, &handle.pool)?;
                invocation
                    .invoke_async(&mut connection)
                    .await
                    .map_err(|e| redis_error(&handle.node, e))
            },
        )
        .await
    }

    /// The node that owns `route_key` and a clone of its connection, for pipelines and
    /// anything else the helpers do not cover. Commands sent this way bypass health
    /// accounting.
    pub fn connection_for(
        &self,
        route_key: impl AsRef<[u8]>,
    ) -> Result<(Node, ConnectionManager), Error> {
        let handle = self.cluster.core.route(route_key.as_ref())?;
        Ok((handle.node.clone(), connection(&handle.node, &handle.pool)?))
    }

    /// `key` with the cluster's key prefix in front (see [`ClusterBuilder::key_prefix`]): the
    /// name to use inside your own commands and scripts. `query`, `invoke_script` and
    /// `connection_for` route by the key *without* the prefix; `mget`, `mset` and `del` add
    /// it themselves.
    ///
    /// ```no_run
    /// # async fn demo(redis: reel_herd::RedisCluster) -> Result<(), reel_herd::Error> {
    /// // With `.key_prefix("billing:")` this sets `billing:session:42`.
    /// let () = redis
    ///     .query("session:42", redis::cmd("SET").arg(redis.key("session:42")).arg("data"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn key(&self, key: impl AsRef<[u8]>) -> Vec<u8> {
        self.prefixed(key.as_ref()).into_owned()
    }

    fn prefixed<'k>(&self, key: &'k [u8]) -> std::borrow::Cow<'k, [u8]> {
        let prefix = self.cluster.core.config.key_prefix.as_bytes();
        if prefix.is_empty() {
            std::borrow::Cow::Borrowed(key)
        } else {
            std::borrow::Cow::Owned([prefix, key].concat())
        }
    }

    /// Groups `keys` by node: each group keeps the keys' positions in the input.
    fn group<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<(Handle, Vec<usize>)>, Error> {
        let mut groups: Vec<(Handle, Vec<usize>)> = Vec::new();
        for (position, key) in keys.iter().enumerate() {
            let handle = self.cluster.core.route(key.as_ref())?;
            match groups.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &handle)) {
                Some((_, group)) => group.push(position),
                None => groups.push((handle, vec![position])),
            }
        }
        Ok(groups)
    }

    /// Runs one command per node concurrently, built by `build` from the positions (in
    /// `keys`) of that node's keys.
    async fn per_node<K, T>(
        &self,
        keys: &[K],
        name: Command,
        build: impl Fn(&[usize]) -> Cmd,
    ) -> Result<Vec<(Handle, Vec<usize>, Result<T, Error>)>, Error>
    where
        K: AsRef<[u8]>,
        T: FromRedisValue,
    {
        let core = &self.cluster.core;
        let groups = self.group(keys)?;
        let results = join_all(groups.into_iter().map(|(handle, positions)| {
            let command = build(&positions);
            async move {
                let outcome = core
                    .run_on(&handle, name, metrics::ok, |_| async {
                        let mut connection = connection(&handle.node, &handle.pool)?;
                        command
                            .query_async::<T>(&mut connection)
                            .await
                            .map_err(|e| redis_error(&handle.node, e))
                    })
                    .await;
                (handle, positions, outcome)
            }
        }))
        .await;
        Ok(results)
    }

    fn failure<K: AsRef<[u8]>>(
        handle: &Handle,
        keys: &[K],
        positions: &[usize],
        error: Error,
    ) -> NodeFailure {
        NodeFailure {
            node: handle.node.clone(),
            keys: positions
                .iter()
                .map(|&p| String::from_utf8_lossy(keys[p].as_ref()).into_owned())
                .collect(),
            error,
        }
    }

    /// `MGET` grouped by node, all nodes concurrently; a failing node fails only its keys.
    pub async fn mget<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<RedisMultiGet, Error> {
        let mut result = RedisMultiGet {
            values: vec![None; keys.len()],
            failed: Vec::new(),
        };
        let outcomes = self
            .per_node::<K, Vec<Option<Vec<u8>>>>(keys, Command::Mget, |positions| {
                let mut command = ::redis::cmd("MGET");
                for &position in positions {
                    command.arg(&*self.prefixed(keys[position].as_ref()));
                }
                command
            })
            .await?;
        for (handle, positions, outcome) in outcomes {
            match outcome {
                Ok(values) if values.len() == positions.len() => {
                    let hits = values.iter().filter(|v| v.is_some()).count() as u64;
                    handle
                        .counters
                        .metrics
                        .multi_keys(hits, values.len() as u64 - hits);
                    for (position, value) in positions.into_iter().zip(values) {
                        if value.is_some() {
                            handle.hit();
                        } else {
                            handle.miss();
                        }
                        result.values[position] = value;
                    }
                }
                Ok(values) => {
                    let error = Error::Server {
                        node: handle.node.clone(),
                        message: format!(
                            "MGET of {} keys returned {} values",
                            positions.len(),
                            values.len()
                        ),
                    };
                    result
                        .failed
                        .push(Self::failure(&handle, keys, &positions, error));
                }
                Err(error) => result
                    .failed
                    .push(Self::failure(&handle, keys, &positions, error)),
            }
        }
        Ok(result)
    }

    /// `MSET` grouped by node; returns the nodes that failed (empty: every pair was stored).
    pub async fn mset<K: AsRef<[u8]>, V: ToRedisArgs>(
        &self,
        pairs: &[(K, V)],
    ) -> Result<Vec<NodeFailure>, Error> {
        let keys: Vec<&[u8]> = pairs.iter().map(|(key, _)| key.as_ref()).collect();
        let outcomes = self
            .per_node::<&[u8], ()>(&keys, Command::Mset, |positions| {
                let mut command = ::redis::cmd("MSET");
                for &position in positions {
                    command
                        .arg(&*self.prefixed(keys[position]))
                        .arg(&pairs[position].1);
                }
                command
            })
            .await?;
        Ok(outcomes
            .into_iter()
            .filter_map(|(handle, positions, outcome)| {
                outcome
                    .err()
                    .map(|error| Self::failure(&handle, &keys, &positions, error))
            })
            .collect())
    }

    /// `DEL` grouped by node; the number of keys removed and the nodes that failed.
    pub async fn del<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<(u64, Vec<NodeFailure>), Error> {
        let outcomes = self
            .per_node::<K, u64>(keys, Command::Del, |positions| {
                let mut command = ::redis::cmd("DEL");
                for &position in positions {
                    command.arg(&*self.prefixed(keys[position].as_ref()));
                }
                command
            })
            .await?;
        let mut removed = 0;
        let mut failed = Vec::new();
        for (handle, positions, outcome) in outcomes {
            match outcome {
                Ok(count) => removed += count,
                Err(error) => failed.push(Self::failure(&handle, keys, &positions, error)),
            }
        }
        Ok((removed, failed))
    }
}
