//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! Install any recorder (metrics-exporter-prometheus, metrics-util, ...) and call
//! [`describe_metrics`] once so that an exporter shows each metric's unit and help text.
//! Without the feature this module compiles to nothing: every helper is an empty inline
//! function.
//!
//! | name | type | labels |
//! |------|------|--------|
//! | `reel_herd_commands_total` | counter | `node`, `command`, `outcome` (`ok`, `hit`, `miss`, `error`) |
//! | `reel_herd_command_duration_seconds` | histogram | `node`, `command` |
//! | `reel_herd_errors_total` | counter | `node`, `error_type` |
//! | `reel_herd_multi_get_keys_total` | counter | `node`, `outcome` (`hit`, `miss`) |
//! | `reel_herd_ejections_total` | counter | `node` |
//! | `reel_herd_nodes` | gauge | `state` (`healthy`, `ejected`) |
//! | `reel_herd_topology_version` | gauge | — |
//! | `reel_herd_pool_wait_seconds` | histogram | `node` |
//!
//! Handles are built once per node (per node and command on first use) and cached, so a
//! command costs one clock read of its own (its start is the read its timeout deadline is
//! computed from; the end is the one extra read), a counter increment and a histogram
//! record, and allocates nothing. `reel_herd_pool_wait_seconds` observes only the memcached
//! commands whose connection was not ready at once (they queued for one, or waited for one
//! to open): a command served at once (an idle connection, or a loopback connect that
//! finished immediately) adds no observation and no clock read. Its `_count` against
//! `reel_herd_commands_total` is the share of commands that waited.

// Each backend uses part of the commands and helpers.
#![cfg_attr(not(all(feature = "memcache", feature = "redis")), allow(dead_code))]

use crate::node::Node;

/// What a command does, as the `command` label and the span's `db.operation.name`.
macro_rules! commands {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A cluster operation sent to one node.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Command {
            $($variant),*
        }

        impl Command {
            /// Number of commands (the size of per-command handle tables).
            #[cfg(feature = "metrics")]
            const COUNT: usize = [$(Command::$variant),*].len();

            /// The label value.
            pub(crate) const fn as_str(self) -> &'static str {
                match self {
                    $(Command::$variant => $name),*
                }
            }
        }
    };
}

commands! {
    Get => "get",
    Gat => "gat",
    Gets => "gets",
    MetaGet => "meta_get",
    GetMulti => "get_multi",
    Set => "set",
    Add => "add",
    Replace => "replace",
    Append => "append",
    Prepend => "prepend",
    Cas => "cas",
    MetaAdd => "meta_add",
    MetaCas => "meta_cas",
    Delete => "delete",
    Incr => "incr",
    Decr => "decr",
    Touch => "touch",
    FlushAll => "flush_all",
    SetMulti => "set_multi",
    DeleteMulti => "delete_multi",
    Query => "query",
    Script => "script",
    Mget => "mget",
    Mset => "mset",
    Del => "del",
}

/// The `outcome` label of `reel_herd_commands_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A command that is not a single-key read succeeded.
    Ok,
    /// A single-key read found its key.
    Hit,
    /// A single-key read did not.
    Miss,
    /// The command failed.
    Error,
}
// (The discriminants index the per-node handle table: four outcomes.)

impl Outcome {
    #[cfg(feature = "metrics")]
    const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Error => "error",
        }
    }
}

/// The outcome of a command that is not a single-key read.
pub(crate) fn ok<T>(_: &T) -> Outcome {
    Outcome::Ok
}

/// The outcome of a single-key read: a hit when it found the key.
pub(crate) fn found<T>(value: &Option<T>) -> Outcome {
    if value.is_some() {
        Outcome::Hit
    } else {
        Outcome::Miss
    }
}

#[cfg(not(feature = "metrics"))]
pub(crate) use disabled::{ClusterMetrics, NodeMetrics, Timer};
#[cfg(feature = "metrics")]
pub use enabled::describe_metrics;
#[cfg(feature = "metrics")]
pub(crate) use enabled::{ClusterMetrics, NodeMetrics, Timer};

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Instant;

    use ::metrics::{Counter, Gauge, Histogram, SharedString, Unit};

    use super::{Command, Node, Outcome};

    const COMMANDS: &str = "reel_herd_commands_total";
    const DURATION: &str = "reel_herd_command_duration_seconds";
    const ERRORS: &str = "reel_herd_errors_total";
    const MULTI_KEYS: &str = "reel_herd_multi_get_keys_total";
    const EJECTIONS: &str = "reel_herd_ejections_total";
    const NODES: &str = "reel_herd_nodes";
    const TOPOLOGY_VERSION: &str = "reel_herd_topology_version";
    const POOL_WAIT: &str = "reel_herd_pool_wait_seconds";

    /// Describes every reel-herd metric (unit and help text) to the installed recorder; call
    /// it once after installing the recorder.
    pub fn describe_metrics() {
        ::metrics::describe_counter!(
            COMMANDS,
            Unit::Count,
            "Commands sent to a cache node, by node, command and outcome (ok, hit, miss, error)."
        );
        ::metrics::describe_histogram!(
            DURATION,
            Unit::Seconds,
            "Time from taking a connection to the end of the reply, by node and command."
        );
        ::metrics::describe_counter!(
            ERRORS,
            Unit::Count,
            "Failed commands by node and error type (io, timeout, protocol, server_error, pool, \
             redis, cancelled, ...)."
        );
        ::metrics::describe_counter!(
            MULTI_KEYS,
            Unit::Count,
            "Keys read by multi-key reads (get_multi, mget), by node and outcome (hit, miss)."
        );
        ::metrics::describe_counter!(
            EJECTIONS,
            Unit::Count,
            "Times a node was ejected from the ring after consecutive failures."
        );
        ::metrics::describe_gauge!(
            NODES,
            Unit::Count,
            "Nodes of the current topologies by state (healthy: in the ring; ejected)."
        );
        ::metrics::describe_gauge!(
            TOPOLOGY_VERSION,
            Unit::Count,
            "Version of the current topology (grows by one per change)."
        );
        ::metrics::describe_histogram!(
            POOL_WAIT,
            Unit::Seconds,
            "Time a memcached command waited for a pooled connection (including connecting)."
        );
    }

    /// Starts a duration measurement. `Copy`, so that the pool wait can be measured from the
    /// command's own start instead of a clock read of its own.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Timer(Instant);

    impl Timer {
        /// A timer started at `started`: the clock read the command's timeout deadline is
        /// computed from, so that timing a command costs no read of its own at the start.
        #[inline]
        pub(crate) fn started_at(started: tokio::time::Instant) -> Self {
            Self(started.into_std())
        }

        #[inline]
        fn seconds(&self) -> f64 {
            self.0.elapsed().as_secs_f64()
        }
    }

    /// One node's handles, built on first use and cached.
    pub(crate) struct NodeMetrics {
        node: SharedString,
        commands: [[OnceLock<Counter>; 4]; Command::COUNT],
        durations: [OnceLock<Histogram>; Command::COUNT],
        multi_keys: [OnceLock<Counter>; 2],
        errors: Mutex<Vec<(&'static str, Counter)>>,
        ejections: OnceLock<Counter>,
        pool_wait: OnceLock<Histogram>,
    }

    impl std::fmt::Debug for NodeMetrics {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("NodeMetrics")
                .field("node", &self.node)
                .finish_non_exhaustive()
        }
    }

    /// The error types that eject a node (`Error::is_node_failure`): their counters exist
    /// from the node's start.
    const NODE_FAILURES: [&str; 3] = ["io", "timeout", "protocol"];

    impl NodeMetrics {
        /// The node's handles. Its ejection counter and the counters of the errors that eject
        /// a node are registered at once, at zero: a counter created by its first increment is
        /// first scraped at 1, which `rate()` and `increase()` take as the start rather than a
        /// rise, so a node that failed and was ejected between two scrapes would show nothing.
        pub(crate) fn new(node: &Node) -> Self {
            let node = SharedString::from_shared(Arc::<str>::from(node.address()));
            let zero = |counter: Counter| {
                counter.increment(0);
                counter
            };
            let errors = NODE_FAILURES
                .iter()
                .map(|error_type| {
                    let counter = ::metrics::counter!(
                        ERRORS,
                        "node" => node.clone(),
                        "error_type" => *error_type
                    );
                    (*error_type, zero(counter))
                })
                .collect();
            let ejections = OnceLock::new();
            let _ = ejections.set(zero(::metrics::counter!(EJECTIONS, "node" => node.clone())));
            Self {
                node,
                commands: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
                durations: std::array::from_fn(|_| OnceLock::new()),
                multi_keys: std::array::from_fn(|_| OnceLock::new()),
                errors: Mutex::new(errors),
                ejections,
                pool_wait: OnceLock::new(),
            }
        }

        /// One finished command: its outcome, its duration and, on failure, its error type.
        #[inline]
        pub(crate) fn command(
            &self,
            command: Command,
            outcome: Outcome,
            timer: &Timer,
            error_type: Option<&'static str>,
        ) {
            let seconds = timer.seconds();
            let index = command as usize;
            let slot = outcome as usize;
            self.commands[index][slot]
                .get_or_init(|| {
                    ::metrics::counter!(
                        COMMANDS,
                        "node" => self.node.clone(),
                        "command" => command.as_str(),
                        "outcome" => outcome.as_str()
                    )
                })
                .increment(1);
            self.durations[index]
                .get_or_init(|| {
                    ::metrics::histogram!(
                        DURATION,
                        "node" => self.node.clone(),
                        "command" => command.as_str()
                    )
                })
                .record(seconds);
            if let Some(error_type) = error_type {
                self.error(error_type);
            }
        }

        /// A command abandoned by its caller after it was sent.
        pub(crate) fn cancelled(&self, command: Command, timer: &Timer) {
            self.command(command, Outcome::Error, timer, Some("cancelled"));
        }

        fn error(&self, error_type: &'static str) {
            let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, counter)) = errors.iter().find(|(t, _)| *t == error_type) {
                counter.increment(1);
                return;
            }
            let counter = ::metrics::counter!(
                ERRORS,
                "node" => self.node.clone(),
                "error_type" => error_type
            );
            counter.increment(1);
            errors.push((error_type, counter));
        }

        /// Keys of a multi-key read: `hits` found, `misses` not.
        pub(crate) fn multi_keys(&self, hits: u64, misses: u64) {
            for (slot, outcome, count) in [(0, "hit", hits), (1, "miss", misses)] {
                if count > 0 {
                    self.multi_keys[slot]
                        .get_or_init(|| {
                            ::metrics::counter!(
                                MULTI_KEYS,
                                "node" => self.node.clone(),
                                "outcome" => outcome
                            )
                        })
                        .increment(count);
                }
            }
        }

        pub(crate) fn ejected(&self) {
            self.ejections
                .get_or_init(|| ::metrics::counter!(EJECTIONS, "node" => self.node.clone()))
                .increment(1);
        }

        /// A wait for a pooled connection (none was idle), which began when `timer` started.
        #[inline]
        pub(crate) fn pool_wait(&self, timer: &Timer) {
            let seconds = timer.seconds();
            self.pool_wait
                .get_or_init(|| ::metrics::histogram!(POOL_WAIT, "node" => self.node.clone()))
                .record(seconds);
        }
    }

    /// A cluster's share of the node gauges (added to those of other clusters in the process)
    /// and the topology version.
    #[derive(Debug)]
    pub(crate) struct ClusterMetrics {
        healthy: Gauge,
        ejected: Gauge,
        version: Gauge,
        /// What this cluster last added to the `healthy` and `ejected` gauges.
        published: Mutex<(usize, usize)>,
    }

    impl ClusterMetrics {
        pub(crate) fn new() -> Self {
            Self {
                healthy: ::metrics::gauge!(NODES, "state" => "healthy"),
                ejected: ::metrics::gauge!(NODES, "state" => "ejected"),
                version: ::metrics::gauge!(TOPOLOGY_VERSION),
                published: Mutex::new((0, 0)),
            }
        }

        /// A new state: `healthy` nodes in the ring, `ejected` out of it, at `version`.
        #[allow(clippy::cast_precision_loss)] // Node counts and versions are far below 2^52.
        pub(crate) fn state(&self, healthy: usize, ejected: usize, version: u64) {
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            self.healthy.increment(healthy as f64 - published.0 as f64);
            self.ejected.increment(ejected as f64 - published.1 as f64);
            *published = (healthy, ejected);
            self.version.set(version as f64);
        }
    }

    impl Drop for ClusterMetrics {
        #[allow(clippy::cast_precision_loss)] // Node counts are far below 2^52.
        fn drop(&mut self) {
            // A cluster that is dropped no longer counts in the node gauges (the topology
            // version gauge keeps its last value).
            let mut published = self.published.lock().unwrap_or_else(|e| e.into_inner());
            self.healthy.increment(-(published.0 as f64));
            self.ejected.increment(-(published.1 as f64));
            *published = (0, 0);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod disabled {
    use super::{Command, Node, Outcome};

    /// Nothing to measure without the feature.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Timer;

    impl Timer {
        #[inline(always)]
        pub(crate) fn started_at(_: tokio::time::Instant) -> Self {
            Self
        }
    }

    #[derive(Debug)]
    pub(crate) struct NodeMetrics;

    impl NodeMetrics {
        #[inline(always)]
        pub(crate) fn new(_: &Node) -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn command(&self, _: Command, _: Outcome, _: &Timer, _: Option<&'static str>) {}

        #[inline(always)]
        pub(crate) fn cancelled(&self, _: Command, _: &Timer) {}

        #[inline(always)]
        pub(crate) fn multi_keys(&self, _: u64, _: u64) {}

        #[inline(always)]
        pub(crate) fn ejected(&self) {}

        #[inline(always)]
        pub(crate) fn pool_wait(&self, _: &Timer) {}
    }

    #[derive(Debug)]
    pub(crate) struct ClusterMetrics;

    impl ClusterMetrics {
        #[inline(always)]
        pub(crate) fn new() -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn state(&self, _: usize, _: usize, _: u64) {}
    }
}
