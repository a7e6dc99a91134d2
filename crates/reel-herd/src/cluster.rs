//! The cluster core shared by the backends: topology, placement, per-node pools, health,
//! discovery polling, events and counters.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reel_core::{BackgroundTask, Backoff, HotSwap, Jitter};
use tokio::sync::broadcast;

use crate::discovery::{BoxFuture, Discovery, DiscoveryError};
use crate::error::HerdError;
use crate::node::{Node, Topology};
use crate::ring::{Ketama, Placement, Router};

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
    /// How long an ejected node stays out before it is probed.
    pub ejection_cooldown: Duration,
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
            probe_interval: Duration::from_secs(1),
            pool_size: 8,
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
            read_retries: 1,
            event_capacity: 256,
        }
    }
}

/// Something that happened to the cluster, sent on the channel from `events()`.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        /// The last error.
        reason: String,
    },
    /// Discovery returned a different node list and the ring was rebuilt.
    TopologyChanged {
        /// The new topology version.
        version: u64,
        /// Nodes that joined.
        added: Vec<Node>,
        /// Nodes that left (their pools are closed).
        removed: Vec<Node>,
    },
    /// A discovery poll failed or returned nothing; the last good topology stays.
    DiscoveryFailed {
        /// What went wrong.
        error: String,
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
    pub error: HerdError,
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

#[derive(Debug, Default)]
pub(crate) struct NodeCounters {
    requests: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    ejections: AtomicU64,
}

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: AtomicU32,
    ejected: AtomicBool,
    retry_at: Mutex<Option<Instant>>,
}

/// One node's pool, health and counters. Shared by every topology the node stays in.
pub(crate) struct NodeHandle<P> {
    pub(crate) node: Node,
    pub(crate) pool: P,
    health: Health,
    counters: NodeCounters,
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

    /// Creates the node's pool; connections are opened on demand.
    fn open(&self, node: &Node, config: &ClusterConfig) -> Self::Pool;

    /// A cheap round trip (memcached `version`, redis `PING`).
    fn probe<'a>(
        &'a self,
        node: &'a Node,
        pool: &'a Self::Pool,
    ) -> BoxFuture<'a, Result<(), HerdError>>;

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
}

/// Builds a cluster: discovery source, router and tunables.
///
/// ```
/// use std::time::Duration;
/// use reel_herd::{ClusterBuilder, Rendezvous, StaticDiscovery};
///
/// let builder = ClusterBuilder::new(StaticDiscovery::parse("10.0.0.1:11211,10.0.0.2:11211:2")?)
///     .router(Rendezvous)
///     .poll_interval(Duration::from_secs(10))
///     .failure_limit(5)
///     .pool_size(16);
/// assert_eq!(builder.config().pool_size, 16);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ClusterBuilder {
    discovery: Arc<dyn Discovery>,
    router: Arc<dyn Router>,
    config: ClusterConfig,
}

impl ClusterBuilder {
    /// A cluster following `discovery`, with the ketama router and default tunables.
    pub fn new(discovery: impl Discovery) -> Self {
        Self {
            discovery: Arc::new(discovery),
            router: Arc::new(Ketama),
            config: ClusterConfig::default(),
        }
    }

    /// Key placement (default [`Ketama`], compatible with libmemcached).
    #[must_use]
    pub fn router(mut self, router: impl Router) -> Self {
        self.router = Arc::new(router);
        self
    }

    /// Replaces all tunables at once.
    #[must_use]
    pub fn with_config(mut self, config: ClusterConfig) -> Self {
        self.config = config;
        self
    }

    /// Time between discovery polls (default 30 s).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// Time one discovery attempt may take before it counts as failed (default 5 s), so a
    /// hanging source never stalls the poller.
    #[must_use]
    pub fn discovery_timeout(mut self, timeout: Duration) -> Self {
        self.config.discovery_timeout = timeout;
        self
    }

    /// Retries of a failed discovery attempt within one poll (default: 2 retries, 100 ms to
    /// 2 s, full jitter).
    #[must_use]
    pub fn discovery_backoff(mut self, backoff: Backoff) -> Self {
        self.config.discovery_backoff = backoff;
        self
    }

    /// Consecutive node failures (connection errors, timeouts) that eject a node from the
    /// ring (default 3), as twemproxy's `server_failure_limit`.
    #[must_use]
    pub fn failure_limit(mut self, limit: u32) -> Self {
        self.config.failure_limit = limit.max(1);
        self
    }

    /// How long an ejected node stays out before it is probed (default 10 s).
    #[must_use]
    pub fn ejection_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.ejection_cooldown = cooldown;
        self
    }

    /// How often the health task looks for ejected nodes due for a probe (default 1 s).
    #[must_use]
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.config.probe_interval = interval;
        self
    }

    /// Connections per node (default 8; redis uses one multiplexed connection per node).
    #[must_use]
    pub fn pool_size(mut self, size: usize) -> Self {
        self.config.pool_size = size.max(1);
        self
    }

    /// Time allowed to open a connection (default 1 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Time allowed for one command, including the wait for a pooled connection (default 1 s).
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.config.command_timeout = timeout;
        self
    }

    /// Extra attempts of a read after a node failure (default 1).
    #[must_use]
    pub fn read_retries(mut self, retries: u32) -> Self {
        self.config.read_retries = retries;
        self
    }

    /// The tunables so far.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub(crate) async fn start<B: Backend>(self, backend: B) -> Result<Cluster<B>, HerdError> {
        let (events, _) = broadcast::channel(self.config.event_capacity.max(1));
        let empty = State {
            topology: Arc::new(Topology::new(0, [])),
            handles: Vec::new(),
            live: Vec::new(),
            placement: self.router.build(&[]),
        };
        let core = Arc::new(Core {
            backend,
            config: self.config,
            router: self.router,
            discovery: self.discovery,
            state: HotSwap::new(empty),
            writer: Mutex::new(()),
            events,
            counters: ClusterCounters::default(),
        });
        match core.poll().await {
            Ok(_) => {}
            Err(PollError::Empty) => return Err(HerdError::EmptyDiscovery),
            Err(PollError::Failed(error)) => return Err(HerdError::Discovery(error)),
        }
        let poller = {
            let core = Arc::clone(&core);
            BackgroundTask::spawn("reel-herd discovery", move |mut shutdown| async move {
                while shutdown.sleep(core.config.poll_interval).await {
                    let _ = core.poll().await;
                }
            })
        };
        let health = {
            let core = Arc::clone(&core);
            BackgroundTask::spawn("reel-herd health", move |mut shutdown| async move {
                while shutdown.sleep(core.config.probe_interval).await {
                    core.probe_ejected().await;
                }
            })
        };
        Ok(Cluster {
            core,
            _tasks: Arc::new(Tasks {
                _poller: poller,
                _health: health,
            }),
        })
    }
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

#[derive(Debug)]
enum PollError {
    Empty,
    Failed(DiscoveryError),
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
    pub(crate) fn route(&self, key: &[u8]) -> Result<Arc<NodeHandle<B::Pool>>, HerdError> {
        let state = self.state.load();
        let slot = state.placement.locate(key).ok_or(HerdError::NoNodes)?;
        let index = *state.live.get(slot).ok_or(HerdError::NoNodes)?;
        state.handles.get(index).cloned().ok_or(HerdError::NoNodes)
    }

    /// Every node of the current topology (ejected ones included).
    pub(crate) fn handles(&self) -> Vec<Arc<NodeHandle<B::Pool>>> {
        self.state.load().handles.clone()
    }

    /// Runs `op` on the node that owns `key`, under the command timeout, recording the
    /// outcome for health; node failures are retried `retries` times (re-routing each time,
    /// so an ejected node's keys move on).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        key: &[u8],
        retries: u32,
        op: F,
    ) -> Result<T, HerdError>
    where
        F: Fn(Arc<NodeHandle<B::Pool>>) -> Fut,
        Fut: Future<Output = Result<T, HerdError>>,
    {
        let mut attempt = 0;
        loop {
            let handle = self.route(key)?;
            let result = self.run_on(&handle, op(Arc::clone(&handle))).await;
            match result {
                Err(error) if error.is_node_failure() && attempt < retries => {
                    attempt += 1;
                    handle.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(node = %handle.node, %error, attempt, "retrying read");
                }
                other => return other,
            }
        }
    }

    /// Runs one future against `handle` under the command timeout and records the outcome.
    pub(crate) async fn run_on<T>(
        &self,
        handle: &Arc<NodeHandle<B::Pool>>,
        op: impl Future<Output = Result<T, HerdError>>,
    ) -> Result<T, HerdError> {
        handle.counters.requests.fetch_add(1, Ordering::Relaxed);
        let timeout = self.config.command_timeout;
        let result = match tokio::time::timeout(timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(HerdError::Timeout {
                node: handle.node.clone(),
                timeout,
            }),
        };
        match &result {
            Err(error) if error.is_node_failure() => self.failed(handle, error),
            _ => {
                handle
                    .health
                    .consecutive_failures
                    .store(0, Ordering::Relaxed);
            }
        }
        result
    }

    fn failed(&self, handle: &Arc<NodeHandle<B::Pool>>, error: &HerdError) {
        handle.counters.errors.fetch_add(1, Ordering::Relaxed);
        self.backend.discard_idle(&handle.pool);
        let failures = handle
            .health
            .consecutive_failures
            .fetch_add(1, Ordering::AcqRel)
            + 1;
        tracing::debug!(node = %handle.node, %error, failures, "cache node failure");
        if failures >= self.config.failure_limit && !handle.is_ejected() {
            self.eject(handle, error);
        }
    }

    fn eject(&self, handle: &Arc<NodeHandle<B::Pool>>, error: &HerdError) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state.load();
        let Some(index) = state.handles.iter().position(|h| Arc::ptr_eq(h, handle)) else {
            return; // The node left the topology meanwhile.
        };
        if handle.is_ejected() {
            return;
        }
        if state.live.len() <= 1 {
            // Ejecting the last node would leave nothing to route to; keep trying it.
            tracing::warn!(node = %handle.node, %error, "last live cache node failing; not ejecting");
            return;
        }
        handle.health.ejected.store(true, Ordering::Release);
        *handle
            .health
            .retry_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + self.config.ejection_cooldown);
        handle.counters.ejections.fetch_add(1, Ordering::Relaxed);
        let next = self.rebuilt(&state.topology, state.handles.clone());
        drop(state);
        self.state.store(next);
        tracing::warn!(node = %handle.node, %error, index, "cache node ejected");
        self.emit(ClusterEvent::NodeDown {
            node: handle.node.clone(),
            reason: error.to_string(),
        });
    }

    fn restore(&self, handle: &Arc<NodeHandle<B::Pool>>) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state.load();
        if !state.handles.iter().any(|h| Arc::ptr_eq(h, handle)) {
            return;
        }
        handle
            .health
            .consecutive_failures
            .store(0, Ordering::Relaxed);
        handle.health.ejected.store(false, Ordering::Release);
        let next = self.rebuilt(&state.topology, state.handles.clone());
        drop(state);
        self.state.store(next);
        tracing::info!(node = %handle.node, "cache node back in the ring");
        self.emit(ClusterEvent::NodeUp {
            node: handle.node.clone(),
        });
    }

    /// A state for `topology` whose placement holds the nodes that are not ejected.
    fn rebuilt(
        &self,
        topology: &Arc<Topology>,
        handles: Vec<Arc<NodeHandle<B::Pool>>>,
    ) -> State<B::Pool> {
        let live: Vec<usize> = (0..handles.len())
            .filter(|&i| !handles[i].is_ejected())
            .collect();
        let live_nodes: Vec<Node> = live.iter().map(|&i| topology.nodes()[i].clone()).collect();
        State {
            topology: Arc::clone(topology),
            placement: self.router.build(&live_nodes),
            handles,
            live,
        }
    }

    /// Probes the ejected nodes whose cool-down is over.
    async fn probe_ejected(&self) {
        let now = Instant::now();
        let due: Vec<_> = self
            .handles()
            .into_iter()
            .filter(|handle| {
                handle.is_ejected()
                    && handle
                        .health
                        .retry_at
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_none_or(|at| at <= now)
            })
            .collect();
        for handle in due {
            let probe = self.backend.probe(&handle.node, &handle.pool);
            let outcome = match tokio::time::timeout(self.config.command_timeout, probe).await {
                Ok(outcome) => outcome,
                Err(_) => Err(HerdError::Timeout {
                    node: handle.node.clone(),
                    timeout: self.config.command_timeout,
                }),
            };
            match outcome {
                Ok(()) => self.restore(&handle),
                Err(error) => {
                    tracing::debug!(node = %handle.node, %error, "probe failed; node stays ejected");
                    *handle
                        .health
                        .retry_at
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) =
                        Some(Instant::now() + self.config.ejection_cooldown);
                }
            }
        }
    }

    /// One discovery poll: attempts with timeout and backoff, then applies a changed list.
    async fn poll(&self) -> Result<bool, PollError> {
        self.counters
            .discovery_polls
            .fetch_add(1, Ordering::Relaxed);
        let timeout = self.config.discovery_timeout;
        let attempt = || async {
            match tokio::time::timeout(timeout, self.discovery.discover()).await {
                Ok(Ok(nodes)) if nodes.is_empty() => Err(PollError::Empty),
                Ok(Ok(nodes)) => Ok(nodes),
                Ok(Err(error)) => Err(PollError::Failed(error)),
                Err(_) => Err(PollError::Failed(DiscoveryError::Timeout(timeout))),
            }
        };
        let nodes = match self.config.discovery_backoff.retry(attempt, |_| true).await {
            Ok(nodes) => nodes,
            Err(failure) => {
                let error = failure.into_inner();
                let message = match &error {
                    PollError::Empty => {
                        self.counters
                            .discovery_empty
                            .fetch_add(1, Ordering::Relaxed);
                        "discovery returned no nodes; keeping the last topology".to_owned()
                    }
                    PollError::Failed(error) => {
                        self.counters
                            .discovery_failures
                            .fetch_add(1, Ordering::Relaxed);
                        format!("{error}; keeping the last topology")
                    }
                };
                tracing::warn!(error = %message, "cache discovery failed");
                self.emit(ClusterEvent::DiscoveryFailed { error: message });
                return Err(error);
            }
        };
        Ok(self.apply(nodes))
    }

    /// Installs `nodes` as the topology if it differs; returns whether it did.
    pub(crate) fn apply(&self, nodes: Vec<Node>) -> bool {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state.load();
        if !state.topology.is_empty() && state.topology.same_nodes(&nodes) {
            return false;
        }
        let version = if state.topology.is_empty() && state.handles.is_empty() {
            state.topology.version().max(1)
        } else {
            state.topology.version() + 1
        };
        let topology = Arc::new(Topology::new(version, nodes));
        let mut added = Vec::new();
        let handles: Vec<_> = topology
            .nodes()
            .iter()
            .map(|node| {
                match state.handles.iter().find(|h| h.node.same_server(node)) {
                    // A node that stays keeps its pool, health and counters.
                    Some(existing) => Arc::clone(existing),
                    None => {
                        added.push(node.clone());
                        Arc::new(NodeHandle {
                            node: node.clone(),
                            pool: self.backend.open(node, &self.config),
                            health: Health::default(),
                            counters: NodeCounters::default(),
                        })
                    }
                }
            })
            .collect();
        let removed: Vec<_> = state
            .handles
            .iter()
            .filter(|old| !handles.iter().any(|h| Arc::ptr_eq(h, old)))
            .cloned()
            .collect();
        let next = self.rebuilt(&topology, handles);
        drop(state);
        self.state.store(next);
        for handle in &removed {
            self.backend.close(&handle.pool);
        }
        self.counters
            .topology_changes
            .fetch_add(1, Ordering::Relaxed);
        let removed: Vec<Node> = removed.iter().map(|h| h.node.clone()).collect();
        tracing::info!(
            version,
            nodes = topology.len(),
            ?added,
            ?removed,
            "cache topology changed"
        );
        self.emit(ClusterEvent::TopologyChanged {
            version,
            added,
            removed,
        });
        true
    }

    pub(crate) async fn refresh(&self) -> Result<bool, HerdError> {
        match self.poll().await {
            Ok(changed) => Ok(changed),
            Err(PollError::Empty) => Err(HerdError::EmptyDiscovery),
            Err(PollError::Failed(error)) => Err(HerdError::Discovery(error)),
        }
    }

    pub(crate) fn stats(&self) -> ClusterStats {
        let state = self.state.load();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ClusterStats {
            topology_version: state.topology.version(),
            discovery_polls: load(&self.counters.discovery_polls),
            discovery_failures: load(&self.counters.discovery_failures),
            discovery_empty: load(&self.counters.discovery_empty),
            topology_changes: load(&self.counters.topology_changes),
            nodes: state
                .handles
                .iter()
                .map(|h| NodeStats {
                    node: h.node.clone(),
                    ejected: h.is_ejected(),
                    requests: load(&h.counters.requests),
                    hits: load(&h.counters.hits),
                    misses: load(&h.counters.misses),
                    errors: load(&h.counters.errors),
                    retries: load(&h.counters.retries),
                    ejections: load(&h.counters.ejections),
                })
                .collect(),
        }
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
        pub async fn refresh(&self) -> Result<bool, $crate::HerdError> {
            self.cluster.core.refresh().await
        }
    };
}
pub(crate) use cluster_common_api;
