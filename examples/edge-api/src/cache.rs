//! Response caching of asset reads in memcached through reel-herd.
//!
//! Every cached body is keyed by a *generation* stored in memcached next to it; a write sets a
//! new generation, so every earlier entry (lists and single assets alike) stops being read and
//! expires on its own. One `set` invalidates everything, whichever node holds what.

use std::time::Duration;

use reel_core::Clock;
use reel_herd::{ClusterBuilder, MemcacheCluster, StaticDiscovery};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const GENERATION_KEY: &str = "edge:assets:generation";
const TTL: Duration = Duration::from_secs(60);

/// The memcached-backed response cache.
#[derive(Debug, Clone)]
pub(crate) struct ResponseCache {
    cluster: MemcacheCluster,
}

impl ResponseCache {
    /// Connects to `servers`; every node must accept a connection unless `degraded` (then an
    /// unreachable node is logged and herd ejects it until it comes back).
    pub(crate) async fn connect(servers: &str, degraded: bool) -> Result<Self, crate::StartError> {
        let discovery = StaticDiscovery::parse(servers).map_err(|e| {
            crate::StartError::Cache(format!("REEL_MEMCACHE_SERVERS `{servers}`: {e}"))
        })?;
        // The command timeout stays below the rate limiter's 100 ms budget (lib.rs): when a
        // node stops answering, herd's own timeout must fire first so that it counts the
        // failure and ejects the node; a limiter that cancels the call earlier would hide it.
        let cluster = ClusterBuilder::new(discovery)
            .connect_timeout(Duration::from_millis(500))
            .command_timeout(Duration::from_millis(80))
            .build_memcache()
            .await
            .map_err(|e| crate::StartError::Cache(e.to_string()))?;
        for node in &cluster.stats().nodes {
            let address = node.node.address();
            let reachable = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(address.as_str()),
            )
            .await;
            let problem = match reachable {
                Ok(Ok(_)) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(_) => "no answer within 2 s".to_owned(),
            };
            if degraded {
                tracing::warn!(node = %address, problem, "memcached node unreachable; starting degraded (REEL_START_DEGRADED)");
            } else {
                return Err(crate::StartError::Cache(format!(
                    "memcached node {address} is unreachable ({problem}); start it, fix REEL_MEMCACHE_SERVERS, or set REEL_START_DEGRADED=1 to start without it"
                )));
            }
        }
        tracing::info!(servers, "caching asset reads in memcached");
        Ok(Self { cluster })
    }

    /// The cluster, shared with the memcache rate-limit store when configured.
    pub(crate) fn cluster(&self) -> &MemcacheCluster {
        &self.cluster
    }

    /// The cache key of a read: generation + a digest of what shapes the body. `None` when the
    /// generation cannot be read (the cache is bypassed rather than risking a stale answer).
    pub(crate) async fn key(&self, parts: &[&str]) -> Option<String> {
        let generation = match self.cluster.get(GENERATION_KEY).await {
            Ok(Some(value)) => String::from_utf8_lossy(&value).into_owned(),
            Ok(None) => "0".to_owned(),
            Err(error) => {
                tracing::warn!(%error, "cache generation unreadable; bypassing the cache");
                return None;
            }
        };
        let mut digest = Sha256::new();
        for part in parts {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        let hex: String = digest
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Some(format!("edge:assets:{generation}:{hex}"))
    }

    pub(crate) async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.cluster.get(key).await {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, "cache read failed");
                None
            }
        }
    }

    pub(crate) async fn put(&self, key: &str, body: &[u8]) {
        if let Err(error) = self.cluster.set(key, body, TTL).await {
            tracing::warn!(%error, "cache write failed");
        }
    }

    /// Starts a new generation: every cached read is stale from now on.
    pub(crate) async fn invalidate(&self) {
        let generation = reel_core::SystemClock.unix_nanos().to_string();
        if let Err(error) = self
            .cluster
            .set(GENERATION_KEY, generation.as_bytes(), Duration::ZERO)
            .await
        {
            tracing::error!(%error, "cache invalidation failed; reads may be stale for up to a minute");
        }
    }

    /// Topology, per-node counters and whether the cache is whole: a read works and no node
    /// is ejected (an ejected node's keys go to the others, so the service is degraded).
    pub(crate) async fn health(&self) -> (bool, Value) {
        let readable = self.cluster.get(GENERATION_KEY).await.is_ok();
        let stats = self.cluster.stats();
        let ok = readable && stats.nodes.iter().all(|node| !node.ejected);
        let nodes: Vec<Value> = stats
            .nodes
            .iter()
            .map(|node| {
                json!({
                    "node": node.node.address(),
                    "ejected": node.ejected,
                    "requests": node.requests,
                    "hits": node.hits,
                    "misses": node.misses,
                    "errors": node.errors,
                })
            })
            .collect();
        (
            ok,
            json!({
                "backend": "memcached",
                "ok": ok,
                "topologyVersion": stats.topology_version,
                "nodes": nodes,
            }),
        )
    }
}
