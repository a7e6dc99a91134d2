//! The cluster core shared by the backends: topology, placement, per-node pools, health,
//! discovery polling, events and counters.
//!
//! This file holds the public data types and the shared state; [`ClusterBuilder`] is in
//! `builder.rs`, running commands and node health in `health.rs`, discovery and topology
//! changes in `topology.rs`.

mod builder;
mod health;
mod topology;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reel_core::{BackgroundTask, Backoff, HotSwap, Jitter};
use tokio::sync::broadcast;

use crate::discovery::{BoxFuture, Discovery};
use crate::error::Error;
use crate::metrics::{ClusterMetrics, NodeMetrics};
use crate::node::{Node, Topology};
use crate::ring::{Placement, Router};

pub use builder::ClusterBuilder;

/// Tunables of a cluster; see [`ClusterBuilder`] for what each one does and its default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Time between discovery polls.
    pub poll_interval: Duration,
    /// Time one discovery attempt may take.
    pub discovery_timeout: Duration,
    /// Retries of a failed discovery attempt within one poll.
    pub discovery_backoff: Backoff,
    /// Consecutive failures that eject a node.
    pub failure_limit: u32,
    /// How long an ejected node stays out before it is probed (the first time).
    pub ejection_cooldown: Duration,
    /// The longest cool-down of a node that keeps failing soon after it came back (each
    /// re-ejection within this period doubles the cool-down, up to this).
    pub max_ejection_cooldown: Duration,
    /// The largest share of the ring's nodes that may be ejected at once (0.0 to 1.0).
    pub max_ejected_fraction: f64,
    /// How often ejected nodes are checked for a probe.
    pub probe_interval: Duration,
    /// Connections per node.
    pub pool_size: usize,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one command (including waiting for a pooled connection).
    pub command_timeout: Duration,
    /// Extra attempts of a read (get, get_multi, gets) after a node failure.
    pub read_retries: u32,
    /// Capacity of the event channel; slow receivers lose the oldest events.
    pub event_capacity: usize,
    /// TCP keepalive idle time and probe interval of memcached connections (`None`: off).
    pub tcp_keepalive: Option<Duration>,
    /// Prepended to every key sent to the servers (empty: none); see
    /// [`ClusterBuilder::key_prefix`].
    pub key_prefix: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(30),
            discovery_timeout: Duration::from_secs(5),
            discovery_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(2))
                .with_jitter(Jitter::Full)
                .with_max_retries(2),
            failure_limit: 3,
            ejection_cooldown: Duration::from_secs(10),
            max_ejection_cooldown: Duration::from_secs(300),
            max_ejected_fraction: 0.5,
            probe_interval: Duration::from_secs(1),
            pool_size: 8,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            read_retries: 1,
            event_capacity: 256,
            tcp_keepalive: Some(Duration::from_secs(30)),
            key_prefix: String::new(),
        }
    }
}

/// Something that happened to the cluster, sent on the channel from `events()`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClusterEvent {
    /// An ejected node answered its probe and is back in the ring.
    NodeUp {
        /// The node.
        node: Node,
    },
    /// A node was ejected from the ring after consecutive failures.
    NodeDown {
        /// The node.
        node: Node,
        /// The last of the consecutive failures that ejected it (shared by every receiver).
        error: Arc<Error>,
    },
    /// Discovery returned a different node list and the ring was rebuilt.
    TopologyChanged {
        /// The new topology version.
        version: u64,
        /// Nodes that joined.
        added: Vec<Node>,
        /// Nodes that left (their pools are closed).
        removed: Vec<Node>,
        /// Nodes that stayed with another weight (listed with the new weight; their pools
        /// are kept).
        reweighted: Vec<Node>,
    },
    /// A discovery poll failed or returned nothing; the last good topology stays.
    DiscoveryFailed {
        /// [`Error::Discovery`] or [`Error::EmptyDiscovery`] (shared by every receiver).
        error: Arc<Error>,
    },
}

/// Keys that could not be served because their node failed (multi-key operations).
#[derive(Debug)]
#[non_exhaustive]
pub struct NodeFailure {
    /// The node.
    pub node: Node,
    /// Its keys in this request.
    pub keys: Vec<String>,
    /// What went wrong.
    pub error: Error,
}

/// Counters of one node, as returned by `stats()`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// The node.
    pub node: Node,
    /// Whether it is ejected now.
    pub ejected: bool,
    /// Commands sent to it.
    pub requests: u64,
    /// Reads that found their key.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
    /// Commands that failed because of the node (connection, timeout, pool).
    pub errors: u64,
    /// Reads retried after such a failure.
    pub retries: u64,
    /// Times it was ejected.
    pub ejections: u64,
    /// Times it reached the failure limit but stayed in the ring because the share of
    /// ejected nodes was at its cap.
    pub ejections_refused: u64,
    /// The cool-down of its latest ejection (zero if never ejected); it doubles while the
    /// node keeps failing soon after coming back.
    pub ejection_cooldown: Duration,
}

/// Cluster-wide counters and the per-node ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Current topology version.
    pub topology_version: u64,
    /// Discovery polls made (including the initial one and `refresh` calls).
    pub discovery_polls: u64,
    /// Polls that failed (error or timeout after retries).
    pub discovery_failures: u64,
    /// Polls that returned an empty node list (ignored).
    pub discovery_empty: u64,
    /// Topology changes applied.
    pub topology_changes: u64,
    /// One entry per node of the current topology.
    pub nodes: Vec<NodeStats>,
}

#[derive(Debug)]
pub(crate) struct NodeCounters {
    /// The node's metric handles (nothing without the `metrics` feature).
    pub(crate) metrics: NodeMetrics,
    requests: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    ejections: AtomicU64,
    ejections_refused: AtomicU64,
}

impl NodeCounters {
    fn new(node: &Node) -> Self {
        Self {
            metrics: NodeMetrics::new(node),
            requests: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
            ejections_refused: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: AtomicU32,
    ejected: AtomicBool,
    retry_at: Mutex<Option<Instant>>,
    damping: Mutex<Damping>,
}

/// What makes a flapping node's cool-down grow.
#[derive(Debug, Default)]
struct Damping {
    /// The cool-down of the latest ejection.
    cooldown: Duration,
    /// When the node last came back.
    restored_at: Option<Instant>,
}

/// One node's pool, health and counters. Shared by every topology the node stays in.
/// A weight-only change makes a new handle with the new [`Node`] that shares the old one's
/// pool, health and counters.
pub(crate) struct NodeHandle<P> {
    pub(crate) node: Node,
    pub(crate) pool: Arc<P>,
    health: Arc<Health>,
    pub(crate) counters: Arc<NodeCounters>,
}

impl<P> fmt::Debug for NodeHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeHandle")
            .field("node", &self.node)
            .field("ejected", &self.health.ejected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<P> NodeHandle<P> {
    pub(crate) fn hit(&self) {
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
    }

    fn is_ejected(&self) -> bool {
        self.health.ejected.load(Ordering::Acquire)
    }
}

/// What a backend supplies: a lazily connecting pool per node and a cheap health probe.
pub(crate) trait Backend: Send + Sync + 'static {
    type Pool: Send + Sync + 'static;

    /// The `db.system.name` of the spans (`memcached`, `redis`).
    const SYSTEM: &'static str;

    /// Creates the node's pool; connections are opened on demand.
    fn open(&self, node: &Node, config: &ClusterConfig) -> Self::Pool;

    /// A cheap round trip (memcached `version`, redis `PING`).
    fn probe<'a>(
        &'a self,
        node: &'a Node,
        pool: &'a Self::Pool,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Closes a pool whose node left the topology.
    fn close(&self, pool: &Self::Pool);

    /// Called after a node failure: idle connections opened before it are likely dead too
    /// (a restarted server drops them all), so a backend drops them instead of failing on
    /// each one in turn.
    fn discard_idle(&self, _pool: &Self::Pool) {}
}

struct State<P> {
    topology: Arc<Topology>,
    /// Same order as `topology.nodes()`.
    handles: Vec<Arc<NodeHandle<P>>>,
    /// Indexes of the handles in the placement, in placement order.
    live: Vec<usize>,
    placement: Box<dyn Placement>,
}

impl<P> fmt::Debug for State<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("topology", &self.topology)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct ClusterCounters {
    discovery_polls: AtomicU64,
    discovery_failures: AtomicU64,
    discovery_empty: AtomicU64,
    topology_changes: AtomicU64,
}

pub(crate) struct Core<B: Backend> {
    backend: B,
    pub(crate) config: ClusterConfig,
    router: Arc<dyn Router>,
    discovery: Arc<dyn Discovery>,
    state: HotSwap<State<B::Pool>>,
    /// Serialises writers of `state` (topology changes, ejections, restores).
    writer: Mutex<()>,
    events: broadcast::Sender<ClusterEvent>,
    counters: ClusterCounters,
    metrics: ClusterMetrics,
}

/// The background tasks; dropping the last cluster handle stops them.
#[derive(Debug)]
struct Tasks {
    _poller: BackgroundTask,
    _health: BackgroundTask,
}

/// A running cluster over a backend; cheap to clone.
pub(crate) struct Cluster<B: Backend> {
    pub(crate) core: Arc<Core<B>>,
    _tasks: Arc<Tasks>,
}

impl<B: Backend> Clone for Cluster<B> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
            _tasks: Arc::clone(&self._tasks),
        }
    }
}

impl<B: Backend> fmt::Debug for Cluster<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("topology", &self.core.topology())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Core<B> {
    pub(crate) fn topology(&self) -> Arc<Topology> {
        Arc::clone(&self.state.load().topology)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ClusterEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: ClusterEvent) {
        // No receiver is fine: events are optional.
        let _ = self.events.send(event);
    }

    /// The node that owns `key` now (skipping ejected nodes).
    pub(crate) fn route(&self, key: &[u8]) -> Result<Arc<NodeHandle<B::Pool>>, Error> {
        let state = self.state.load();
        let slot = state.placement.locate(key).ok_or(Error::NoNodes)?;
        let index = *state.live.get(slot).ok_or(Error::NoNodes)?;
        state.handles.get(index).cloned().ok_or(Error::NoNodes)
    }

    /// The node that owns `key` once the nodes in `tried` are left out: for a read retried
    /// after a node failure, the node its keys would move to if that node were ejected (the
    /// next distinct node on a ketama ring). Falls back to [`route`](Self::route) when no
    /// other node is live.
    pub(crate) fn route_excluding(
        &self,
        key: &[u8],
        tried: &[Arc<NodeHandle<B::Pool>>],
    ) -> Result<Arc<NodeHandle<B::Pool>>, Error> {
        let state = self.state.load();
        let rest: Vec<usize> = state
            .live
            .iter()
            .copied()
            .filter(|&i| !tried.iter().any(|t| Arc::ptr_eq(t, &state.handles[i])))
            .collect();
        if rest.is_empty() {
            drop(state);
            return self.route(key);
        }
        let nodes: Vec<Node> = rest
            .iter()
            .map(|&i| state.topology.nodes()[i].clone())
            .collect();
        let placement = self.router.build(&nodes);
        let slot = placement.locate(key).ok_or(Error::NoNodes)?;
        let index = *rest.get(slot).ok_or(Error::NoNodes)?;
        state.handles.get(index).cloned().ok_or(Error::NoNodes)
    }

    /// Every node of the current topology (ejected ones included).
    pub(crate) fn handles(&self) -> Vec<Arc<NodeHandle<B::Pool>>> {
        self.state.load().handles.clone()
    }
}

/// The public surface every backend's cluster type shares, written once.
macro_rules! cluster_common_api {
    () => {
        /// The current topology (every discovered node, ejected ones included).
        pub fn topology(&self) -> std::sync::Arc<$crate::node::Topology> {
            self.cluster.core.topology()
        }

        /// The node that owns `key` now (ejected nodes are skipped). Lock-free.
        pub fn node_for(&self, key: impl AsRef<[u8]>) -> Option<$crate::node::Node> {
            self.cluster
                .core
                .route(key.as_ref())
                .ok()
                .map(|handle| handle.node.clone())
        }

        /// Subscribes to [`ClusterEvent`](crate::ClusterEvent)s (`NodeUp`, `NodeDown`,
        /// `TopologyChanged`, `DiscoveryFailed`).
        pub fn events(&self) -> tokio::sync::broadcast::Receiver<$crate::cluster::ClusterEvent> {
            self.cluster.core.subscribe()
        }

        /// Counters per node and for discovery.
        pub fn stats(&self) -> $crate::cluster::ClusterStats {
            self.cluster.core.stats()
        }

        /// Polls discovery now (with the configured timeout and retries) and applies a
        /// changed node list; returns whether the topology changed. A failed or empty answer
        /// keeps the current topology and is returned as an error.
        pub async fn refresh(&self) -> Result<bool, $crate::Error> {
            self.cluster.core.refresh().await
        }
    };
}
pub(crate) use cluster_common_api;
