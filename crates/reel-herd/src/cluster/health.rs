//! Running commands on nodes and the health that follows: the command timeout, spans and
//! metrics of each command, retries of reads on the next distinct node, failure counting,
//! ejection (capped by `max_ejected_fraction`, with a cool-down that grows for a flapping
//! node) and the probes that bring an ejected node back.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::{Backend, ClusterEvent, Core, NodeHandle};
use crate::error::Error;
use crate::metrics::{Command, Outcome, Timer};

/// The longest command timeout honoured (about 30 years), so that a deadline computed from
/// a huge configured timeout cannot overflow the clock.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

impl<B: Backend> Core<B> {
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

    /// Probes the ejected nodes whose cool-down is over.
    pub(super) async fn probe_ejected(&self) {
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
