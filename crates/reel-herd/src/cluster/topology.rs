//! Topology updates: discovery polls (with timeout, backoff and a retry cap), applying a
//! changed node list (nodes that stay keep their pool, health and counters), publishing a
//! new routing state, and the counters read by `stats()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reel_core::Backoff;

use super::{
    Backend, ClusterEvent, ClusterStats, Core, NodeCounters, NodeHandle, NodeStats, State,
};
use crate::discovery::DiscoveryError;
use crate::error::{Error, PollError};
use crate::node::{Node, Topology};

impl<B: Backend> Core<B> {
    /// Installs `next` and updates the node-state and topology gauges.
    pub(super) fn publish(&self, next: State<B::Pool>) {
        let healthy = next.live.len();
        let ejected = next.handles.len() - healthy;
        let version = next.topology.version();
        self.state.store(next);
        self.metrics.state(healthy, ejected, version);
    }

    /// A state for `topology` whose placement holds the nodes that are not ejected.
    pub(super) fn rebuilt(
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

    /// One discovery poll: attempts with timeout and backoff, then applies a changed list.
    pub(super) async fn poll(&self) -> Result<bool, PollError> {
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
