//! [`ClusterBuilder`]: the discovery source, the router and the tunables of a cluster, and
//! the start that runs the first discovery and spawns the background tasks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_core::{BackgroundTask, Backoff, HotSwap};
use tokio::sync::broadcast;

use super::{Backend, Cluster, ClusterConfig, ClusterCounters, Core, State, Tasks};
use crate::discovery::Discovery;
use crate::error::Error;
use crate::metrics::ClusterMetrics;
use crate::node::Topology;
use crate::ring::{Ketama, Router};

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
