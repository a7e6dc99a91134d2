//! Manage a whole memcached or redis cluster as one.

pub mod discovery;
pub mod node;
pub mod ring;

pub use discovery::{BoxFuture, Discovery, DiscoveryError, ElastiCacheDiscovery, FileDiscovery, StaticDiscovery};
#[cfg(feature = "dns")]
pub use discovery::DnsDiscovery;
pub use node::{Node, ParseNodeError, Topology};
pub mod cluster;
mod error;
#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "redis")]
pub mod redis;
pub use cluster::{ClusterBuilder, ClusterConfig, ClusterEvent, ClusterStats, NodeFailure, NodeStats};
pub use error::HerdError;
#[cfg(feature = "memcache")]
pub use memcache::{CasOutcome, CasToken, GetMulti, MemcacheCluster, StoreOutcome};
#[cfg(feature = "redis")]
pub use redis::{RedisCluster, RedisMultiGet};
pub use ring::{Ketama, Placement, Rendezvous, Router};
