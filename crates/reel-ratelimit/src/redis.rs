//! The redis store: one Lua script per decision, called by EVALSHA.

use std::fmt;
use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use reel_core::SharedClock;

use crate::error::StoreError;
use crate::quota::{Decision, Quota};
use crate::store::{BoxFuture, MAX_KEY_BYTES, Store, bounded_key, store_span, traced};

/// The Lua script the redis store runs (EVALSHA; loaded again automatically after NOSCRIPT).
///
/// Published so that operators can load it themselves or benchmark it with
/// `redis-benchmark`: `KEYS[1]` is the bucket, `ARGV` are the emission interval and the
/// capacity in nanoseconds, the cost, and the time (`""` for the server's `TIME`).
pub const GCRA_SCRIPT: &str = include_str!("gcra.lua");

/// The read-only Lua script behind [`Store::peek`] for the redis store: `KEYS[1]` is the
/// bucket, `ARGV[1]` the time (`""` for the server's `TIME`); it answers `{1, backlog}` and
/// writes nothing.
pub const GCRA_PEEK_SCRIPT: &str = include_str!("gcra_peek.lua");

/// Picks the connection for a key: one node, or one of several shards.
///
/// Implemented for a single [`ConnectionManager`] or [`MultiplexedConnection`] and, with
/// feature `redis-herd`, for reel-herd's `RedisCluster` (keys spread over nodes by its hash
/// ring, dead nodes ejected). To spread keys your own way, implement it to return the node
/// that owns the key; for Redis Cluster, return a cluster connection (every key the store
/// writes carries a hash tag, so the script's single key always maps to one slot).
pub trait RedisRouter: Send + Sync + fmt::Debug + 'static {
    /// The connection type handed out.
    type Connection: ConnectionLike + Send + 'static;

    /// The connection that owns `key` (the full key, prefix and hash tag included), or why
    /// there is none (for example: every node of a sharded set is down).
    fn connection_for(&self, key: &str) -> Result<Self::Connection, StoreError>;

    /// The server that owns `key`, `(host, port)`, for the `server.address` and `server.port`
    /// fields of the store's spans; `None` (the default) when the router cannot tell (then
    /// [`RedisStore::server_address`] supplies it, if set). Called only when a
    /// subscriber listens to the span.
    fn server_for(&self, key: &str) -> Option<(String, u16)> {
        let _ = key;
        None
    }

    /// Runs `cmd` (one command on `key`) on the node that owns `key`. The default sends it on
    /// [`connection_for`](Self::connection_for).
    fn run_command<'a>(
        &'a self,
        key: &'a str,
        cmd: &'a redis::Cmd,
    ) -> BoxFuture<'a, Result<redis::Value, StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection_for(key)?;
            cmd.query_async::<redis::Value>(&mut connection)
                .await
                .map_err(StoreError::backend)
        })
    }

    /// Runs the store's script invocation on the node that owns `key` and returns its
    /// `(allowed, backlog)` reply. The default sends it on [`connection_for`](Self::connection_for);
    /// routers with their own bookkeeping (health, retries) override it.
    fn invoke_script<'a>(
        &'a self,
        key: &'a str,
        invocation: &'a redis::ScriptInvocation<'a>,
    ) -> BoxFuture<'a, Result<(i64, i64), StoreError>> {
        Box::pin(async move {
            let mut connection = self.connection_for(key)?;
            invocation
                .invoke_async::<(i64, i64)>(&mut connection)
                .await
                .map_err(StoreError::backend)
        })
    }
}

impl RedisRouter for ConnectionManager {
    type Connection = ConnectionManager;
    fn connection_for(&self, _key: &str) -> Result<ConnectionManager, StoreError> {
        Ok(self.clone())
    }
}

impl RedisRouter for MultiplexedConnection {
    type Connection = MultiplexedConnection;
    fn connection_for(&self, _key: &str) -> Result<MultiplexedConnection, StoreError> {
        Ok(self.clone())
    }
}

/// The script runs on the key's node through [`reel_herd::RedisCluster::invoke_script`], so
/// failures count towards ejecting the node and a dead node's keys move to the others.
#[cfg(feature = "redis-herd")]
impl RedisRouter for reel_herd::RedisCluster {
    type Connection = ConnectionManager;

    fn connection_for(&self, key: &str) -> Result<ConnectionManager, StoreError> {
        reel_herd::RedisCluster::connection_for(self, key)
            .map(|(_, connection)| connection)
            .map_err(StoreError::backend)
    }

    fn server_for(&self, key: &str) -> Option<(String, u16)> {
        self.node_for(key)
            .map(|node| (node.host().to_owned(), node.port()))
    }

    fn invoke_script<'a>(
        &'a self,
        key: &'a str,
        invocation: &'a redis::ScriptInvocation<'a>,
    ) -> BoxFuture<'a, Result<(i64, i64), StoreError>> {
        Box::pin(async move {
            reel_herd::RedisCluster::invoke_script::<(i64, i64)>(self, key, invocation)
                .await
                .map_err(StoreError::backend)
        })
    }
}

/// Redis Cluster through reel-herd's [`RedisClusterClient`](reel_herd::RedisClusterClient)
/// (feature `redis-cluster`): the cluster client routes each command to the master of the
/// key's slot, follows `MOVED`/`ASK` and refreshes its slot map after a failover. Every key
/// the store writes is `<prefix>{<key>}`, so a bucket's key always hashes to one slot and the
/// script runs on one node.
#[cfg(feature = "redis-cluster")]
impl RedisRouter for reel_herd::RedisClusterClient {
    type Connection = redis::cluster_async::ClusterConnection;

    /// Not used by the store (the cluster client routes by itself through
    /// [`invoke_script`](Self::invoke_script) and [`run_command`](Self::run_command)); answers
    /// an error.
    fn connection_for(&self, _key: &str) -> Result<Self::Connection, StoreError> {
        Err(StoreError::backend(std::io::Error::other(
            "a Redis Cluster client routes each command itself; call invoke_script or run_command",
        )))
    }

    fn run_command<'a>(
        &'a self,
        _key: &'a str,
        cmd: &'a redis::Cmd,
    ) -> BoxFuture<'a, Result<redis::Value, StoreError>> {
        Box::pin(async move {
            self.query::<redis::Value>(cmd)
                .await
                .map_err(StoreError::backend)
        })
    }

    fn invoke_script<'a>(
        &'a self,
        _key: &'a str,
        invocation: &'a redis::ScriptInvocation<'a>,
    ) -> BoxFuture<'a, Result<(i64, i64), StoreError>> {
        Box::pin(async move {
            reel_herd::RedisClusterClient::invoke_script::<(i64, i64)>(self, invocation)
                .await
                .map_err(StoreError::backend)
        })
    }
}

/// Which clock decides for the redis store.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum RedisTime {
    /// The redis server's `TIME` (the default): every application server sees the same time,
    /// so clock skew between them cannot bend the limit. Needs Redis 5+ (script effects
    /// replication; the default from Redis 7 on).
    #[default]
    Server,
    /// The application's clock, sent with each call: for tests with a
    /// [`ManualClock`](reel_core::ManualClock), or servers that refuse `TIME` in scripts.
    Client(SharedClock),
}

/// A store in redis: one key per bucket holding the TAT in decimal nanoseconds, decided by a
/// Lua script in one round trip, with `PX` expiry once the bucket has drained.
///
/// Keys are written `<prefix>{<key>}`: the braces are a Redis Cluster hash tag, so the key
/// maps to one slot wherever it runs.
///
/// ```no_run
/// use reel_ratelimit::{FailurePolicy, Quota, RateLimiter, RedisStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let store = RedisStore::new(connection).prefix("api:rl:");
/// let limiter = RateLimiter::new(store).with_failure_policy(FailurePolicy::FailOpen);
///
/// let quota: Quota = "100/min burst 20".parse()?;
/// let decision = limiter.check("client:203.0.113.9", &quota).await?;
/// println!("allowed: {}, remaining: {}", decision.is_allowed(), decision.remaining());
/// # Ok(()) }
/// ```
pub struct RedisStore<R: RedisRouter = ConnectionManager> {
    router: R,
    script: Arc<redis::Script>,
    peek_script: Arc<redis::Script>,
    prefix: String,
    time: RedisTime,
    server: Option<(String, u16)>,
}

impl<R: RedisRouter> fmt::Debug for RedisStore<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("router", &self.router)
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .field("server", &self.server)
            .finish()
    }
}

impl<R: RedisRouter> RedisStore<R> {
    /// A store over `router` (a single connection, or your own sharding), keys prefixed
    /// `rl:`, deciding with the server's time.
    pub fn new(router: R) -> Self {
        Self {
            router,
            script: Arc::new(redis::Script::new(GCRA_SCRIPT)),
            peek_script: Arc::new(redis::Script::new(GCRA_PEEK_SCRIPT)),
            prefix: "rl:".to_owned(),
            time: RedisTime::Server,
            server: None,
        }
    }

    /// Prefixes every key (default `rl:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The server's host and port, for the `server.address`/`server.port` fields of the
    /// store's spans when the router cannot tell (a single `ConnectionManager` does not say
    /// where it is connected).
    pub fn server_address(mut self, host: impl Into<String>, port: u16) -> Self {
        self.server = Some((host.into(), port));
        self
    }

    fn span(&self, operation: &'static str, redis_key: &str) -> tracing::Span {
        store_span("redis", operation, || {
            self.router
                .server_for(redis_key)
                .or_else(|| self.server.clone())
        })
    }

    /// Chooses whose clock decides (default: the server's).
    pub fn time(mut self, time: RedisTime) -> Self {
        self.time = time;
        self
    }

    /// The key written for a bucket key: `<prefix>{<key>}`, where a key longer than
    /// [`MAX_KEY_BYTES`] is replaced by its readable start and digest ([`bounded_key`]), so
    /// an attacker-chosen 8 KiB key costs redis no more than a short one.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{{{}}}", self.prefix, bounded_key(key, MAX_KEY_BYTES))
    }

    fn now_arg(&self) -> String {
        match &self.time {
            RedisTime::Server => String::new(),
            RedisTime::Client(clock) => clock.unix_nanos().to_string(),
        }
    }

    async fn peek_inner(&self, key: &str, quota: &Quota) -> Result<Decision, StoreError> {
        let redis_key = self.redis_key(key);
        let span = self.span("EVALSHA", &redis_key);
        let mut invocation = self.peek_script.key(&redis_key);
        invocation.arg(self.now_arg());
        let invocation = self.router.invoke_script(&redis_key, &invocation);
        let (_, backlog) = traced(span, invocation).await?;
        Ok(quota.peek_backlog(u64::try_from(backlog).unwrap_or(0)))
    }

    async fn reset_inner(&self, key: &str) -> Result<(), StoreError> {
        let redis_key = self.redis_key(key);
        let span = self.span("DEL", &redis_key);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&redis_key);
        traced(span, self.router.run_command(&redis_key, &cmd)).await?;
        Ok(())
    }

    /// The SHA-1 the script is called by.
    pub fn script_hash(&self) -> &str {
        self.script.get_hash()
    }

    async fn decide_inner(
        &self,
        key: &str,
        quota: &Quota,
        cost: u32,
    ) -> Result<Decision, StoreError> {
        let redis_key = self.redis_key(key);
        let now = self.now_arg();
        let span = self.span("EVALSHA", &redis_key);
        let mut invocation = self.script.key(&redis_key);
        invocation
            .arg(quota.emission_nanos())
            .arg(quota.capacity_nanos())
            .arg(cost)
            .arg(now);
        let invocation = self.router.invoke_script(&redis_key, &invocation);
        let (allowed, backlog) = traced(span, invocation).await?;
        let backlog = u64::try_from(backlog).unwrap_or(0);
        let outcome = quota.decide_backlog(backlog, cost)?;
        if outcome.decision.is_allowed() != (allowed == 1) {
            // Only possible if the script and this crate disagree (a different script under
            // the same SHA cannot happen); report rather than guess.
            return Err(StoreError::CorruptState(format!(
                "script answered allowed={allowed} for backlog {backlog} ns"
            )));
        }
        Ok(outcome.decision)
    }
}

impl<R: RedisRouter> Store for RedisStore<R> {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn decide<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
        cost: u32,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(self.decide_inner(key, quota, cost))
    }

    fn peek<'a>(
        &'a self,
        key: &'a str,
        quota: &'a Quota,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(self.peek_inner(key, quota))
    }

    fn reset<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.reset_inner(key))
    }
}
