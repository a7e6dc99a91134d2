//! The crate's error type.

use std::time::Duration;

use crate::discovery::DiscoveryError;
use crate::node::Node;

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HerdError {
    /// The cluster has no live node to send the key to.
    #[error("no cache node is available (the topology is empty or every node is down)")]
    NoNodes,
    /// The first discovery failed, so the cluster could not start.
    #[error("initial discovery failed: {0}")]
    Discovery(#[source] DiscoveryError),
    /// The first discovery returned no nodes.
    #[error("initial discovery returned no nodes; check the discovery source")]
    EmptyDiscovery,
    /// A key memcached would reject (empty, longer than 250 bytes, or with spaces or control
    /// characters).
    #[error("invalid cache key {key:?}: {reason}")]
    InvalidKey {
        /// The key, lossily decoded.
        key: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Connecting to or talking with a node failed.
    #[error("cache node {node}: {error}")]
    Io {
        /// The node.
        node: Node,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// The node did not answer within the command timeout.
    #[error("cache node {node} did not answer within {timeout:?}")]
    Timeout {
        /// The node.
        node: Node,
        /// The configured timeout.
        timeout: Duration,
    },
    /// A time-to-live memcached cannot represent: beyond 30 days it is sent as an absolute
    /// Unix time, which memcached reads as a signed 32-bit number (up to 2038-01-19); a later
    /// time would wrap negative and store the item already expired.
    #[error("time-to-live {ttl:?} is out of memcached's range: {reason}")]
    InvalidTtl {
        /// The TTL asked for.
        ttl: Duration,
        /// Why it cannot be sent.
        reason: &'static str,
    },
    /// The connection fell out of step with the protocol: a reply the command does not allow,
    /// a value for another key, a malformed data block. The connection is closed and the
    /// failure counts against the node.
    #[error("cache node {node} broke the protocol: {message}")]
    Protocol {
        /// The node.
        node: Node,
        /// What was received.
        message: String,
    },
    /// The node refused this one command (`ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`) or
    /// answered in a way the call does not accept. The node is healthy: this never counts
    /// towards ejection. (The connection is closed all the same, so nothing the server may
    /// still send for it can be read by a later command.)
    #[error("cache node {node} answered: {message}")]
    Server {
        /// The node.
        node: Node,
        /// The server's reply or the parse problem.
        message: String,
    },
    /// No connection could be taken from the node's pool in time (all busy), or the pool
    /// could not be built. Not held against the node.
    #[error("cache node {node}: no connection available: {message}")]
    Pool {
        /// The node.
        node: Node,
        /// Why.
        message: String,
    },
    /// A credential could not be read from its source.
    #[error("cache credentials: {message}")]
    Credentials {
        /// Which source and why.
        message: String,
    },
    /// An error from the Redis Cluster client (after its own retries, redirections and slot
    /// map refreshes).
    #[cfg(feature = "redis-cluster")]
    #[error("redis cluster: {error}")]
    RedisCluster {
        /// The redis crate's error.
        #[source]
        error: ::redis::RedisError,
    },
    /// The TLS handshake with a redis node failed: its certificate is not signed by the CA
    /// given (or by one in the system's store), has expired, or does not name the host
    /// connected to. A configuration problem, not held against the node.
    #[cfg(feature = "redis-tls")]
    #[error(
        "redis node {node}: TLS handshake failed: {error}; check the CA certificate \
         (RedisTls::ca_pem) and that the node's certificate names the host connected to"
    )]
    Tls {
        /// The node.
        node: Node,
        /// rustls's error.
        #[source]
        error: rustls::Error,
    },
    /// An error from the redis client.
    #[cfg(feature = "redis")]
    #[error("redis node {node}: {error}")]
    Redis {
        /// The node.
        node: Node,
        /// The redis crate's error.
        #[source]
        error: ::redis::RedisError,
    },
}

impl HerdError {
    /// The node the error concerns, if any.
    pub fn node(&self) -> Option<&Node> {
        match self {
            Self::Io { node, .. }
            | Self::Timeout { node, .. }
            | Self::Server { node, .. }
            | Self::Protocol { node, .. }
            | Self::Pool { node, .. } => Some(node),
            #[cfg(feature = "redis")]
            Self::Redis { node, .. } => Some(node),
            #[cfg(feature = "redis-tls")]
            Self::Tls { node, .. } => Some(node),
            _ => None,
        }
    }

    /// A short snake_case name of the error kind: the `error_type` metric label and the
    /// `error.type` span field.
    pub(crate) fn type_label(&self) -> &'static str {
        match self {
            Self::NoNodes => "no_nodes",
            Self::Discovery(_) | Self::EmptyDiscovery => "discovery",
            Self::InvalidKey { .. } => "invalid_key",
            Self::Io { error, .. } if error.kind() == std::io::ErrorKind::TimedOut => "timeout",
            Self::Io { .. } => "io",
            Self::Timeout { .. } => "timeout",
            Self::InvalidTtl { .. } => "invalid_ttl",
            Self::Protocol { .. } => "protocol",
            Self::Server { .. } => "server_error",
            Self::Pool { .. } => "pool",
            Self::Credentials { .. } => "credentials",
            #[cfg(feature = "redis-cluster")]
            Self::RedisCluster { .. } => "redis",
            #[cfg(feature = "redis")]
            Self::Redis { .. } => "redis",
            #[cfg(feature = "redis-tls")]
            Self::Tls { .. } => "tls",
        }
    }

    /// Whether the error says the node itself is unhealthy (connection error, timeout,
    /// protocol desync), as opposed to a refused command, a bad request or a busy local pool;
    /// these count towards ejection.
    pub fn is_node_failure(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Timeout { .. } | Self::Protocol { .. } => true,
            #[cfg(feature = "redis")]
            Self::Redis { error, .. } => {
                error.is_io_error()
                    || error.is_timeout()
                    || error.is_connection_dropped()
                    || error.is_connection_refusal()
            }
            _ => false,
        }
    }
}
