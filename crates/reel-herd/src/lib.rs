#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without a backend the cluster core has no user; it is still compiled so it stays checked.
#![cfg_attr(
    not(any(feature = "memcache", feature = "redis")),
    allow(dead_code, unused_macros, unused_imports)
)]

pub mod cluster;
pub mod discovery;
mod error;
#[cfg(feature = "memcache")]
pub mod memcache;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(not(feature = "metrics"))]
mod metrics;
pub mod node;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis-cluster")]
pub mod redis_cluster;
pub mod ring;
#[cfg(feature = "memcache")]
mod wire;

pub use cluster::{
    ClusterBuilder, ClusterConfig, ClusterEvent, ClusterStats, NodeFailure, NodeStats,
};
#[cfg(feature = "dns")]
pub use discovery::DnsDiscovery;
pub use discovery::{
    BoxFuture, Discovery, DiscoveryError, ElastiCacheDiscovery, FileDiscovery, StaticDiscovery,
};
pub use error::Error;
#[cfg(feature = "memcache")]
pub use memcache::{
    CasOutcome, CasToken, DeleteMulti, GetMulti, MemcacheCluster, MetaWrite, SetMulti, StoreOutcome,
};
#[cfg(feature = "metrics")]
pub use metrics::describe_metrics;
pub use node::{Node, ParseNodeError, Topology};
#[cfg(feature = "redis-tls")]
pub use redis::RedisTls;
#[cfg(feature = "redis")]
pub use redis::{RedisCluster, RedisMultiGet, RedisSettings};
#[cfg(feature = "redis-cluster")]
pub use redis_cluster::{RedisClusterBuilder, RedisClusterClient};
pub use ring::{Ketama, KetamaRing, Placement, Rendezvous, RendezvousTable, Router};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::{Backoff, Jitter, SecretError, SecretSource};
