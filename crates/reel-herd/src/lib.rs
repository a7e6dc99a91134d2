//! Talk to a whole memcached or redis cluster as one, follow it as it changes, and keep
//! serving when a node fails.
//!
//! reel-herd gives a busy API what its cache tier needs when nodes are added under load,
//! replaced by autoscaling, or die:
//!
//! - **Discovery** ([`Discovery`], pluggable): a static list ([`StaticDiscovery`],
//!   `host:port[:weight]`), ElastiCache auto-discovery ([`ElastiCacheDiscovery`]), DNS A/AAAA or
//!   SRV records (`DnsDiscovery`, feature `dns`), or a file reloaded when it changes
//!   ([`FileDiscovery`]). The cluster polls it with a timeout and retries; an empty, failing,
//!   garbage or hanging answer never drains the cluster — the last good [`Topology`] stays and
//!   the failure is logged, counted and sent as an event.
//! - **Placement** ([`Router`]): [`Ketama`], identical to libmemcached's weighted ketama (so a
//!   Rust service and a C/PHP/Python service sharing a cluster agree on every key), and
//!   [`Rendezvous`] hashing. The table is immutable and swapped atomically: lookups never lock.
//! - **Pools**: one pool per node (deadpool for memcached, a multiplexed auto-reconnecting
//!   connection for redis), opened when the node appears, closed when it leaves, untouched for
//!   nodes that stay.
//! - **Health**: a node failing `failure_limit` times in a row is ejected from the ring for a
//!   cool-down (twemproxy's auto-eject), never more than a share of the ring at once
//!   (mcrouter's `global_max_tko`), for growing periods if it flaps, then probed
//!   (`version` / `PING`) and brought back.
//!   [`ClusterEvent`]s (`NodeUp`, `NodeDown`, `TopologyChanged`, `DiscoveryFailed`) go out on a
//!   broadcast channel; [`ClusterStats`] counts requests, hits, misses, errors, retries and
//!   ejections per node.
//! - **Backends**: [`MemcacheCluster`] (feature `memcache`; reel-herd's own text-protocol
//!   client: every reply checked, any error closes the connection, meta commands only on
//!   memcached >= 1.6.10 — see [`memcache`]) and
//!   [`RedisCluster`] (feature `redis`; any command or Lua script on a key's node, multi-key
//!   helpers grouped by node).
//!
//! # Example
//!
//! Where do keys live? The ring answers without a connection:
//!
//! ```
//! use reel_herd::{Ketama, Node, Router};
//!
//! let nodes = Node::parse_list("10.0.0.1:11211, 10.0.0.2:11211, 10.0.0.3:11211:2")?;
//! let ring = Ketama.build(&nodes);
//! let owner = &nodes[ring.locate(b"user:42").expect("nodes exist")];
//! assert!(nodes.contains(owner));
//! // The same servers and weights give libmemcached's placement, key for key.
//! # Ok::<(), reel_herd::ParseNodeError>(())
//! ```
//!
//! A memcached cluster that follows ElastiCache and survives node failures (needs a live
//! endpoint, so not run here):
//!
//! ```no_run
//! # #[cfg(feature = "memcache")]
//! # async fn demo() -> Result<(), reel_herd::HerdError> {
//! use std::time::Duration;
//! use reel_herd::{ClusterBuilder, ElastiCacheDiscovery, StoreOutcome};
//!
//! let cache = ClusterBuilder::new(ElastiCacheDiscovery::new("my-cache.cfg.use1.cache.amazonaws.com:11211"))
//!     .poll_interval(Duration::from_secs(30))
//!     .failure_limit(3)
//!     .ejection_cooldown(Duration::from_secs(10))
//!     .build_memcache()
//!     .await?;
//! cache.set("user:42", b"{\"name\":\"Ada\"}", Duration::from_secs(300)).await?;
//! let user = cache.get("user:42").await?;
//! if cache.add("lock:job:7", b"1", Duration::from_secs(30)).await? == StoreOutcome::Stored {
//!     // We hold the lock.
//! }
//! let mut events = cache.events();
//! tokio::spawn(async move {
//!     while let Ok(event) = events.recv().await {
//!         println!("{event:?}");
//!     }
//! });
//! # let _ = user;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature    | default | what it adds |
//! |------------|---------|--------------|
//! | `memcache` | no      | [`MemcacheCluster`]: own text-protocol client (tokio), a deadpool pool per node |
//! | `redis`    | no      | [`RedisCluster`] over the `redis` crate (`ConnectionManager` per node, scripts) |
//! | `redis-cluster` | no | [`RedisClusterClient`]: Redis Cluster (slot map, `MOVED`/`ASK`, failover) on the `redis` crate's async cluster client |
//! | `dns`      | no      | `DnsDiscovery` (A/AAAA and SRV) through hickory-resolver |
//!
//! Without features the crate is the discovery sources, the topology and the routers: enough
//! to compute placements (see the `herd-route` example).
//!
//! # Minimum supported Rust version
//!
//! 1.94.1 (the workspace MSRV).

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
pub use error::HerdError;
#[cfg(feature = "memcache")]
pub use memcache::{CasOutcome, CasToken, GetMulti, MemcacheCluster, MetaWrite, StoreOutcome};
pub use node::{Node, ParseNodeError, Topology};
#[cfg(feature = "redis")]
pub use redis::{RedisCluster, RedisMultiGet, RedisSettings};
#[cfg(feature = "redis-cluster")]
pub use redis_cluster::{RedisClusterBuilder, RedisClusterClient};
pub use ring::{Ketama, KetamaRing, Placement, Rendezvous, RendezvousTable, Router};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::{Backoff, Jitter, SecretError, SecretSource};
