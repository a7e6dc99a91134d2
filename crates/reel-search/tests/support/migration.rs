//! Shared set-up of the migration tests (`tests/migrate*.rs`): sources, the two releases'
//! definitions of `Asset`, and a lease holder behind the fault proxy. A test file using it
//! declares `mod common;` and `#[path = "support/fault_proxy.rs"] mod fault_proxy;` beside it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use reel_search::{Document, IndexDefinition, Repo, VersionedIndex};
use serde_json::json;

use crate::common::{self, Asset, asset};
use crate::fault_proxy;

/// A backfill source, as a database stream would be.
pub type Source = futures::stream::BoxStream<'static, Result<Asset, std::io::Error>>;

/// The rows `range` at once.
pub fn all(range: std::ops::Range<usize>) -> Source {
    futures::stream::iter(range.map(|i| Ok(asset(i)))).boxed()
}

/// The rows `range`, 5 ms apart.
pub fn slow(range: std::ops::Range<usize>) -> Source {
    futures::stream::iter(range)
        .then(|i| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(asset(i))
        })
        .boxed()
}

/// A source fed by the test through a channel.
pub fn channel() -> (tokio::sync::mpsc::Sender<Asset>, Source) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Asset>(4);
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|a| (Ok(a), rx)) },
        )
        .boxed();
    (tx, stream)
}

/// The same document type with a changed mapping (a new field), so the fingerprint differs.
pub fn changed(alias: &str) -> IndexDefinition {
    let def = Asset::definition();
    let mut mappings = def.mappings().clone();
    mappings["properties"]
        .as_object_mut()
        .unwrap()
        .insert("rating".into(), json!({"type": "float"}));
    IndexDefinition::new(alias, json!(def.settings()), json!(mappings))
}

/// The first release's `Asset` index behind `alias`.
pub fn v1(repo: &Repo, alias: &str) -> VersionedIndex<Asset> {
    VersionedIndex::with_definition(repo.clone(), Asset::definition().with_name(alias))
}

/// The second release's, with [`changed`] mappings.
pub fn v2(repo: &Repo, alias: &str) -> VersionedIndex<Asset> {
    VersionedIndex::with_definition(repo.clone(), changed(alias))
}

/// Waits until a migration has put its new index behind the write alias.
pub async fn wait_for_dual_writes(index: &VersionedIndex<Asset>) {
    for _ in 0..500 {
        if index.write_targets().await.unwrap().len() == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the migration never added the new index to the write alias");
}

/// Whether the migration lease of `alias` is held.
pub async fn lease_held(repo: &Repo, alias: &str) -> bool {
    repo.get::<serde_json::Value>(&format!("{alias}_migration"), "lease")
        .await
        .unwrap()
        .is_some()
}

/// A first-release index `name` with four documents, and a client behind a proxy that can
/// lose or hold the node's answers.
pub async fn behind_proxy(
    server: &reel_testkit::Search,
    name: &str,
) -> (String, fault_proxy::FaultProxy, Repo) {
    let repo = common::repo(server);
    let alias = server.index(name);
    v1(&repo, &alias).ensure_current(all(0..4)).await.unwrap();
    let proxy = fault_proxy::FaultProxy::start(server.url()).await;
    let via_proxy = Repo::from_url(proxy.url()).unwrap();
    (alias, proxy, via_proxy)
}
