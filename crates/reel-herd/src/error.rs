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
    /// The node answered with an error or something the protocol does not allow.
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
            | Self::Pool { node, .. } => Some(node),
            #[cfg(feature = "redis")]
            Self::Redis { node, .. } => Some(node),
            _ => None,
        }
    }

    /// Whether the error says the node itself is unhealthy (connection error, timeout), as
    /// opposed to a bad request or a busy local pool; these count towards ejection.
    pub fn is_node_failure(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Timeout { .. } => true,
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
