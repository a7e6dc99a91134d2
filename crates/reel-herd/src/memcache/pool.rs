//! The connection side of the memcached backend: one deadpool pool of [`Connection`]s per
//! node, the cluster core's [`Backend`] over it, and the rule that a connection goes back
//! to its pool only after a command read an allowed reply to its end.

use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use super::{Handle, MemcacheCluster};
use crate::cluster::{Backend, ClusterConfig};
use crate::discovery::BoxFuture;
use crate::error::Error;
use crate::metrics::Timer;
use crate::node::Node;
use crate::wire::{self, Connection};

#[derive(Debug)]
pub(crate) struct Manager {
    node: Node,
    connect_timeout: Duration,
    keepalive: Option<Duration>,
}

impl managed::Manager for Manager {
    type Type = Connection;
    type Error = Error;

    async fn create(&self) -> Result<Connection, Error> {
        wire::connect(&self.node, self.connect_timeout, self.keepalive).await
    }

    async fn recycle(&self, connection: &mut Connection, _: &Metrics) -> RecycleResult<Error> {
        if connection.clean {
            Ok(())
        } else {
            Err(RecycleError::message(
                "connection was left in the middle of a command or after an error",
            ))
        }
    }
}

/// A node's pool (None only if deadpool refused the configuration).
pub(crate) struct NodePool(Option<managed::Pool<Manager>>);

/// The memcached backend of the cluster core.
#[derive(Debug, Default)]
pub(crate) struct MemcacheBackend;

impl Backend for MemcacheBackend {
    type Pool = NodePool;

    const SYSTEM: &'static str = "memcached";

    fn open(&self, node: &Node, config: &ClusterConfig) -> NodePool {
        let manager = Manager {
            node: node.clone(),
            connect_timeout: config.connect_timeout,
            keepalive: config.tcp_keepalive,
        };
        // Waiting for a free connection gives up at half the command timeout, so a burst
        // that exhausts the pool fails as "pool busy" (not held against the node) before the
        // command timeout (which is) can fire.
        let pool = managed::Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.command_timeout / 2))
            .runtime(deadpool::Runtime::Tokio1)
            .build();
        match pool {
            Ok(pool) => NodePool(Some(pool)),
            Err(error) => {
                tracing::error!(%node, %error, "could not build the connection pool");
                NodePool(None)
            }
        }
    }

    fn probe<'a>(&'a self, node: &'a Node, pool: &'a NodePool) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let mut connection = connection(node, pool).await?;
            connection.version().await.map(|_| ())
        })
    }

    fn close(&self, pool: &NodePool) {
        // Idle connections go now; connections still serving a request go when it ends and
        // the last handle to the pool is dropped. (Closing the pool outright would fail a
        // request that picked the node just before the topology changed.)
        if let Some(pool) = &pool.0 {
            pool.retain(|_, _| false);
        }
    }

    fn discard_idle(&self, pool: &NodePool) {
        if let Some(pool) = &pool.0 {
            pool.retain(|_, _| false);
        }
    }
}

async fn connection(node: &Node, pool: &NodePool) -> Result<managed::Object<Manager>, Error> {
    let Some(pool) = &pool.0 else {
        return Err(Error::Pool {
            node: node.clone(),
            message: "the pool could not be built".to_owned(),
        });
    };
    pool.get().await.map_err(|error| match error {
        managed::PoolError::Backend(error) => error,
        managed::PoolError::Timeout(managed::TimeoutType::Create) => Error::Io {
            node: node.clone(),
            error: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
        },
        managed::PoolError::Timeout(managed::TimeoutType::Wait) => Error::Pool {
            node: node.clone(),
            message: "every pooled connection stayed busy; raise pool_size or command_timeout"
                .to_owned(),
        },
        other => Error::Pool {
            node: node.clone(),
            message: other.to_string(),
        },
    })
}

impl MemcacheCluster {
    /// Runs `command` on a pooled connection of `handle`'s node. The connection goes back to
    /// the pool only if the command read an allowed reply to its end; after an error, or when
    /// the future is dropped mid-command, it is closed. A pool wait (the pool had no idle
    /// connection) is measured from the command's `timer` (one clock read fewer than a timer
    /// of its own).
    pub(super) async fn with_connection<T>(
        handle: &Handle,
        timer: Timer,
        command: impl AsyncFnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let acquire = connection(&handle.node, &handle.pool);
        let mut acquire = std::pin::pin!(acquire);
        // An idle connection is handed over on the first poll: no wait, nothing to observe
        // (and no clock read). Only a command that queued or opened a connection is timed.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(acquire.as_mut().poll(cx)));
        let connection = match first.await {
            std::task::Poll::Ready(connection) => connection,
            std::task::Poll::Pending => {
                let connection = acquire.await;
                handle.counters.metrics.pool_wait(&timer);
                connection
            }
        };
        let mut connection = connection?;
        let result = command(&mut connection).await;
        if result.is_err() {
            connection.clean = false;
        }
        result
    }
}
