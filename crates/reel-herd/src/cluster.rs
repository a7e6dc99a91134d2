//! The cluster core shared by the backends: topology, placement, per-node pools, health,
//! discovery polling, events and counters.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reel_core::{BackgroundTask, Backoff, HotSwap, Jitter};
use tokio::sync::broadcast;
use tracing::Instrument;

use crate::discovery::{BoxFuture, Discovery, DiscoveryError};
use crate::error::{Error, PollError};
use crate::metrics::{ClusterMetrics, Command, NodeMetrics, Outcome, Timer};
use crate::node::{Node, Topology};
use crate::ring::{Ketama, Placement, Router};

/// The longest command timeout honoured (about 30 years), so that a deadline computed from
/// a huge configured timeout cannot overflow the clock.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

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
/// assert_eq!(builder.tunables().pool_size, 16);
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
    pub fn config(mut self, config: ClusterConfig) -> Self {
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
    /// 2 s, full jitter). A backoff without a retry cap is given one: the retries of a poll
    /// stop after as many as fit in a poll interval, so a poll (and `build_memcache()`)
    /// always returns.
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

    /// The longest cool-down of a flapping node (default 5 min): a node ejected again within
    /// this period after it came back stays out twice as long as the last time.
    #[must_use]
    pub fn max_ejection_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.max_ejection_cooldown = cooldown;
        self
    }

    /// The largest share of the ring that may be ejected at once (default 0.5, at least one
    /// node always stays), as mcrouter's `global_max_tko`. When more nodes fail together the
    /// cause is usually on this side (a network blip, a stalled runtime): the nodes past the
    /// cap stay in the ring and their keys keep their places.
    #[must_use]
    pub fn max_ejected_fraction(mut self, fraction: f64) -> Self {
        self.config.max_ejected_fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// TCP keepalive idle time and probe interval of memcached connections (default 30 s;
    /// `None` turns it off), so an idle connection to a vanished peer is noticed.
    #[must_use]
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.config.tcp_keepalive = idle;
        self
    }

    /// A namespace put in front of every key the cluster sends (default none), so that
    /// several applications or environments can share one cache: `get("user:1")` with the
    /// prefix `"billing:"` reads `billing:user:1`. It is applied once, inside the cluster:
    /// pass keys without it (results such as `get_multi`'s map and failed-key lists give them
    /// back without it). The prefix counts towards memcached's 250-byte key limit. Keys are
    /// placed on the ring by the key *without* the prefix, as libmemcached's
    /// `MEMCACHED_CALLBACK_NAMESPACE` (PHP's and pylibmc's prefix option) does, so services
    /// sharing a cluster through libmemcached with the same namespace find the same keys.
    ///
    /// memcached: every command. Redis (`RedisCluster`): `mget`, `mset` and `del`; build keys
    /// of your own commands with `RedisCluster::key` (`query` and `invoke_script` route by
    /// the key without the prefix).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.key_prefix = prefix.into();
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
    pub fn tunables(&self) -> &ClusterConfig {
        &self.config
    }

    pub(crate) async fn start<B: Backend>(self, backend: B) -> Result<Cluster<B>, Error> {
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
            metrics: ClusterMetrics::new(),
        });
        core.poll().await?;
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

    /// Runs `op` on the node that owns `key`, under the command timeout, recording the
    /// outcome for health; node failures are retried `retries` times, each time on the next
    /// distinct node (never the one that just failed, which may not be ejected yet).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        key: &[u8],
        retries: u32,
        command: Command,
        classify: fn(&T) -> Outcome,
        op: F,
    ) -> Result<T, Error>
    where
        F: Fn(Arc<NodeHandle<B::Pool>>, Timer) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0;
        let mut tried: Vec<Arc<NodeHandle<B::Pool>>> = Vec::new();
        loop {
            let handle = if tried.is_empty() {
                self.route(key)?
            } else {
                self.route_excluding(key, &tried)?
            };
            let result = self
                .run_on(&handle, command, classify, |t| op(Arc::clone(&handle), t))
                .await;
            match result {
                Err(error) if error.is_node_failure() && attempt < retries => {
                    attempt += 1;
                    handle.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tried.push(Arc::clone(&handle));
                    tracing::debug!(node = %handle.node, %error, attempt, "retrying read");
                }
                other => return other,
            }
        }
    }

    /// Runs one future against `handle` under the command timeout and records the outcome.
    /// A caller that gives up first (an outer timeout shorter than herd's, a dropped request)
    /// still leaves a failure on the node's record, so a black-holed node is ejected even
    /// when herd's own timeout never gets to fire.
    ///
    /// It runs in a `tracing` span named `herd.command` with the OpenTelemetry database
    /// fields (`db.system.name`, `db.operation.name`, `server.address`, `server.port`, and
    /// `error.type` on failure), and records the command's metrics; `classify` tells a hit
    /// from a miss for reads (the others answer [`Outcome::Ok`]); `op` gets its timer.
    pub(crate) async fn run_on<T, Fut: Future<Output = Result<T, Error>>>(
        &self,
        handle: &Arc<NodeHandle<B::Pool>>,
        command: Command,
        classify: fn(&T) -> Outcome,
        op: impl FnOnce(Timer) -> Fut,
    ) -> Result<T, Error> {
        handle.counters.requests.fetch_add(1, Ordering::Relaxed);
        let timeout = self.config.command_timeout;
        let span = tracing::debug_span!(
            "herd.command",
            db.system.name = B::SYSTEM,
            db.operation.name = command.as_str(),
            server.address = handle.node.host(),
            server.port = handle.node.port(),
            error.type = tracing::field::Empty,
        );
        // One clock read serves the deadline and the metrics' timer.
        let started = tokio::time::Instant::now();
        let deadline = started + timeout.min(LONGEST_TIMEOUT);
        let mut guard = Cancelled {
            core: self,
            handle,
            command,
            span: &span,
            timer: Timer::started_at(started),
            armed: true,
        };
        let outcome = tokio::time::timeout_at(deadline, op(guard.timer))
            .instrument(span.clone())
            .await;
        guard.armed = false;
        let result = match outcome {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                node: handle.node.clone(),
                timeout,
            }),
        };
        match &result {
            Ok(value) => {
                let outcome = classify(value);
                match outcome {
                    Outcome::Hit => handle.hit(),
                    Outcome::Miss => handle.miss(),
                    Outcome::Ok | Outcome::Error => {}
                }
                handle
                    .counters
                    .metrics
                    .command(command, outcome, &guard.timer, None);
            }
            Err(error) => {
                let error_type = error.type_label();
                span.record("error.type", error_type);
                handle.counters.metrics.command(
                    command,
                    Outcome::Error,
                    &guard.timer,
                    Some(error_type),
                );
            }
        }
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

    fn failed(&self, handle: &Arc<NodeHandle<B::Pool>>, error: &Error) {
        handle.counters.errors.fetch_add(1, Ordering::Relaxed);
        // A connection error (refused, reset, closed) means the node dropped its connections,
        // so the idle ones are dead too; a slow reply or a desync says nothing about them.
        if matches!(error, Error::Io { error, .. } if error.kind() != std::io::ErrorKind::TimedOut)
        {
            self.backend.discard_idle(&handle.pool);
        }
        self.count_failure(handle, error);
    }

    /// Counts one consecutive failure and ejects the node at the limit.
    fn count_failure(&self, handle: &Arc<NodeHandle<B::Pool>>, error: &Error) {
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

    fn eject(&self, handle: &Arc<NodeHandle<B::Pool>>, error: &Error) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state.load();
        let Some(index) = state
            .handles
            .iter()
            .position(|h| Arc::ptr_eq(&h.health, &handle.health))
        else {
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
        // mcrouter's global_max_tko: when many nodes fail at once the cause is more likely
        // this client (a network blip, a stalled runtime) than the nodes; ejecting them all
        // would move every key onto the survivors and the database behind them.
        let ejected = state.handles.len() - state.live.len();
        let cap = max_ejected(state.handles.len(), self.config.max_ejected_fraction);
        if ejected >= cap {
            handle
                .counters
                .ejections_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                node = %handle.node, %error, ejected, cap,
                "cache node failing but the share of ejected nodes is at its cap; not ejecting"
            );
            return;
        }
        let now = Instant::now();
        let cooldown = {
            let mut damping = handle
                .health
                .damping
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // A node ejected again soon after it came back is flapping: double its cool-down.
            let flapping = damping.restored_at.is_some_and(|at| {
                now.duration_since(at) < self.config.max_ejection_cooldown.max(damping.cooldown)
            });
            damping.cooldown = if flapping {
                damping
                    .cooldown
                    .saturating_mul(2)
                    .min(self.config.max_ejection_cooldown)
                    .max(self.config.ejection_cooldown)
            } else {
                self.config.ejection_cooldown
            };
            damping.cooldown
        };
        handle.health.ejected.store(true, Ordering::Release);
        *handle
            .health
            .retry_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(now + cooldown);
        handle.counters.ejections.fetch_add(1, Ordering::Relaxed);
        handle.counters.metrics.ejected();
        let next = self.rebuilt(&state.topology, state.handles.clone());
        drop(state);
        self.publish(next);
        tracing::warn!(node = %handle.node, %error, index, ?cooldown, "cache node ejected");
        self.emit(ClusterEvent::NodeDown {
            node: handle.node.clone(),
            error: Arc::new(error.duplicate()),
        });
    }

    fn restore(&self, handle: &Arc<NodeHandle<B::Pool>>) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let state = self.state.load();
        if !state
            .handles
            .iter()
            .any(|h| Arc::ptr_eq(&h.health, &handle.health))
        {
            return;
        }
        handle
            .health
            .consecutive_failures
            .store(0, Ordering::Relaxed);
        handle.health.ejected.store(false, Ordering::Release);
        handle
            .health
            .damping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .restored_at = Some(Instant::now());
        let next = self.rebuilt(&state.topology, state.handles.clone());
        drop(state);
        self.publish(next);
        tracing::info!(node = %handle.node, "cache node back in the ring");
        self.emit(ClusterEvent::NodeUp {
            node: handle.node.clone(),
        });
    }

    /// Installs `next` and updates the node-state and topology gauges.
    fn publish(&self, next: State<B::Pool>) {
        let healthy = next.live.len();
        let ejected = next.handles.len() - healthy;
        let version = next.topology.version();
        self.state.store(next);
        self.metrics.state(healthy, ejected, version);
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
                Err(_) => Err(Error::Timeout {
                    node: handle.node.clone(),
                    timeout: self.config.command_timeout,
                }),
            };
            match outcome {
                Ok(()) => self.restore(&handle),
                Err(error) => {
                    tracing::debug!(node = %handle.node, %error, "probe failed; node stays ejected");
                    let cooldown = handle
                        .health
                        .damping
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .cooldown
                        .max(self.config.ejection_cooldown);
                    *handle
                        .health
                        .retry_at
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + cooldown);
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
        let nodes = match self.discovery_backoff().retry(attempt, |_| true).await {
            Ok(nodes) => nodes,
            Err(failure) => {
                let error = failure.into_inner();
                let counter = match &error {
                    PollError::Empty => &self.counters.discovery_empty,
                    PollError::Failed(_) => &self.counters.discovery_failures,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let event = Arc::new(error.to_error());
                tracing::warn!(error = %event, "cache discovery failed; keeping the last topology");
                self.emit(ClusterEvent::DiscoveryFailed { error: event });
                return Err(error);
            }
        };
        Ok(self.apply(nodes))
    }

    /// The discovery backoff with a retry cap: a user-supplied backoff without one would
    /// retry a failing source forever and never return from a poll.
    fn discovery_backoff(&self) -> Backoff {
        let backoff = self.config.discovery_backoff.clone();
        if backoff.max_retries().is_some() {
            return backoff;
        }
        let per_retry = self
            .config
            .discovery_timeout
            .saturating_add(backoff.max())
            .max(Duration::from_millis(1));
        let fit = self.config.poll_interval.as_millis() / per_retry.as_millis().max(1);
        backoff.with_max_retries(u32::try_from(fit).unwrap_or(u32::MAX).clamp(1, 10))
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
        let mut reweighted = Vec::new();
        let handles: Vec<_> = topology
            .nodes()
            .iter()
            .map(|node| {
                match state.handles.iter().find(|h| h.node.same_server(node)) {
                    // A node that stays keeps its pool, health and counters.
                    Some(existing) if existing.node.weight() == node.weight() => {
                        Arc::clone(existing)
                    }
                    Some(existing) => {
                        reweighted.push(node.clone());
                        Arc::new(NodeHandle {
                            node: node.clone(),
                            pool: Arc::clone(&existing.pool),
                            health: Arc::clone(&existing.health),
                            counters: Arc::clone(&existing.counters),
                        })
                    }
                    None => {
                        added.push(node.clone());
                        Arc::new(NodeHandle {
                            node: node.clone(),
                            pool: Arc::new(self.backend.open(node, &self.config)),
                            health: Arc::default(),
                            counters: Arc::new(NodeCounters::new(node)),
                        })
                    }
                }
            })
            .collect();
        let removed: Vec<_> = state
            .handles
            .iter()
            .filter(|old| !handles.iter().any(|h| h.node.same_server(&old.node)))
            .cloned()
            .collect();
        let next = self.rebuilt(&topology, handles);
        drop(state);
        self.publish(next);
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
            ?reweighted,
            "cache topology changed"
        );
        self.emit(ClusterEvent::TopologyChanged {
            version,
            added,
            removed,
            reweighted,
        });
        true
    }

    pub(crate) async fn refresh(&self) -> Result<bool, Error> {
        Ok(self.poll().await?)
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
                    ejections_refused: load(&h.counters.ejections_refused),
                    ejection_cooldown: h
                        .health
                        .damping
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .cooldown,
                })
                .collect(),
        }
    }
}

/// Records a failure for a node when the command running on it is dropped before it ended
/// (the caller's own timeout fired first, or the request was abandoned).
struct Cancelled<'a, B: Backend> {
    core: &'a Core<B>,
    handle: &'a Arc<NodeHandle<B::Pool>>,
    command: Command,
    span: &'a tracing::Span,
    timer: Timer,
    armed: bool,
}

impl<B: Backend> Drop for Cancelled<'_, B> {
    fn drop(&mut self) {
        if self.armed {
            let error = Error::Io {
                node: self.handle.node.clone(),
                error: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the caller gave up before the node answered",
                ),
            };
            // The connection is closed with the dropped command; its idle siblings stay.
            self.span.record("error.type", "cancelled");
            self.handle
                .counters
                .metrics
                .cancelled(self.command, &self.timer);
            self.handle.counters.errors.fetch_add(1, Ordering::Relaxed);
            self.core.count_failure(self.handle, &error);
        }
    }
}

/// How many of `nodes` may be ejected at once under `fraction` (always leaving one live).
fn max_ejected(nodes: usize, fraction: f64) -> usize {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    // Truncation is the point: a share of 0.5 of 3 nodes allows 1 ejection.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let cap = (nodes as f64 * fraction).floor() as usize;
    cap.min(nodes.saturating_sub(1))
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
