//! The crate's error type.

use std::time::Duration;

use crate::discovery::DiscoveryError;
use crate::node::Node;

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The cluster has no live node to send the key to.
    #[error("no cache node is available (the topology is empty or every node is down)")]
    NoNodes,
    /// Discovery failed: the first one, so the cluster could not start, or a later poll
    /// (sent as `ClusterEvent::DiscoveryFailed`; the last good topology stays).
    #[error("discovery failed: {0}")]
    Discovery(#[source] DiscoveryError),
    /// Discovery returned no nodes (the first one, or a later poll as for `Discovery`).
    #[error("discovery returned no nodes; check the discovery source")]
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

impl Error {
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

/// Why a discovery poll kept the last topology.
#[derive(Debug)]
pub(crate) enum PollError {
    Empty,
    Failed(DiscoveryError),
}

impl PollError {
    /// The crate error it stands for, as a copy for a `ClusterEvent` (the original goes on to
    /// the caller).
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Self::Empty => Error::EmptyDiscovery,
            Self::Failed(error) => Error::Discovery(error.duplicate()),
        }
    }
}

impl From<PollError> for Error {
    fn from(error: PollError) -> Self {
        match error {
            PollError::Empty => Self::EmptyDiscovery,
            PollError::Failed(error) => Self::Discovery(error),
        }
    }
}

/// A copy of an I/O error: same kind and message (the source chain is not cloneable).
pub(crate) fn copy_io(error: &std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), error.to_string())
}

impl Error {
    /// A copy for a `ClusterEvent` while the original goes back to the caller: every field is
    /// cloned except an I/O error, copied by kind and message.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::NoNodes => Self::NoNodes,
            Self::Discovery(error) => Self::Discovery(error.duplicate()),
            Self::EmptyDiscovery => Self::EmptyDiscovery,
            Self::InvalidKey { key, reason } => Self::InvalidKey {
                key: key.clone(),
                reason,
            },
            Self::Io { node, error } => Self::Io {
                node: node.clone(),
                error: copy_io(error),
            },
            Self::Timeout { node, timeout } => Self::Timeout {
                node: node.clone(),
                timeout: *timeout,
            },
            Self::InvalidTtl { ttl, reason } => Self::InvalidTtl { ttl: *ttl, reason },
            Self::Protocol { node, message } => Self::Protocol {
                node: node.clone(),
                message: message.clone(),
            },
            Self::Server { node, message } => Self::Server {
                node: node.clone(),
                message: message.clone(),
            },
            Self::Pool { node, message } => Self::Pool {
                node: node.clone(),
                message: message.clone(),
            },
            Self::Credentials { message } => Self::Credentials {
                message: message.clone(),
            },
            #[cfg(feature = "redis-cluster")]
            Self::RedisCluster { error } => Self::RedisCluster {
                error: error.clone(),
            },
            #[cfg(feature = "redis-tls")]
            Self::Tls { node, error } => Self::Tls {
                node: node.clone(),
                error: error.clone(),
            },
            #[cfg(feature = "redis")]
            Self::Redis { node, error } => Self::Redis {
                node: node.clone(),
                error: error.clone(),
            },
        }
    }
}
