//! `VersionedIndex::delete` during migrations: it reaches the old and the new index while a
//! backfill dual-writes, goes through the write aliases (a delete that read its targets before
//! a swap still reaches the live index), and never recreates a retired index.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/migration.rs"]
mod migration;

use common::{Asset, asset};
use migration::{all, behind_proxy, channel, v1, v2, wait_for_dual_writes};
use reel_search::Outcome;

/// A delete while the backfill dual-writes removes the document from both indices at once,
/// not only from the live one (the new index must not serve it after the swap).
#[tokio::test]
async fn a_delete_during_the_backfill_reaches_the_old_and_the_new_index() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("deldual");
    let old = v1(&repo, &alias);
    old.ensure_current(all(0..10)).await.unwrap();
    let new = v2(&repo, &alias).backfill(2, 1);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let new = new.clone();
        async move { new.migrate(source).await }
    });
    for i in 0..4 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&new).await;
    let targets = new.write_targets().await.unwrap();
    assert_eq!(targets.len(), 2, "{targets:?}");
    // Wait until the backfill has copied a1 into the new index.
    let next = targets.iter().find(|t| t.ends_with("_v2")).unwrap().clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while repo.get::<Asset>(&next, "a1").await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "a1 never backfilled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The old release deletes it (as a user action would) while the backfill runs.
    assert!(old.delete("a1").await.unwrap());
    for target in &targets {
        assert_eq!(
            repo.get::<Asset>(target, "a1").await.unwrap(),
            None,
            "a1 is still in {target} during the backfill"
        );
    }
    // A missing document is reported as such.
    assert!(!old.delete("nope").await.unwrap());
    for i in 4..10 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let outcome = migration.await.unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Migrated { .. }), "{outcome:?}");
    repo.refresh(&alias).await.unwrap();
    assert_eq!(repo.get::<Asset>(&alias, "a1").await.unwrap(), None);
    assert_eq!(repo.count(&alias, None).await.unwrap(), 9);
}

/// A delete that read where to delete before a migration's swap and reaches the node after
/// the old index is gone: the old code deleted from the old index by name, found nothing
/// (`Ok(false)`), and the document stayed in the new live index. Through the write alias it
/// reaches the live index, and no index of the old name comes back.
#[tokio::test]
async fn a_delete_racing_the_swap_reaches_the_live_index() {
    let server = common::search_server();
    let (alias, proxy, via_proxy) = behind_proxy(&server, "delrace").await;
    let repo = common::repo(&server);
    let deleter = v1(&via_proxy, &alias);
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let fired = proxy.script(
        "DELETE",
        "/_doc/a2",
        fault_proxy::Fault::HoldRequest(release.clone()),
        1,
    );
    let delete = tokio::spawn(async move { deleter.delete("a2").await });
    // The delete is on its way, held, while the second release migrates (its source, read
    // before the delete, still has a2), swaps the aliases and deletes the old index.
    fired.notified().await;
    let outcome = v2(&repo, &alias).ensure_current(all(0..4)).await.unwrap();
    assert!(matches!(outcome, Outcome::Migrated { .. }), "{outcome:?}");
    release.notify_one();
    assert!(delete.await.unwrap().unwrap(), "the delete found nothing");
    repo.refresh(&alias).await.unwrap();
    assert_eq!(
        repo.get::<Asset>(&alias, "a2").await.unwrap(),
        None,
        "the racing delete did not reach the live index"
    );
    assert!(!repo.index_exists(&format!("{alias}_v1")).await.unwrap());
    assert_eq!(repo.count(&alias, None).await.unwrap(), 3);
}
