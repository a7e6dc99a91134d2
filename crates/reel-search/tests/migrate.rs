//! Zero-downtime migrations against the search server: create, skip and migrate on change,
//! writes and deletes during the backfill, crashes, retired indices, the alias swap, settings
//! and leftovers. The migration lease has its own file (`migrate_lease.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/migration.rs"]
mod migration;

use std::time::Duration;

use common::{Asset, asset};
use migration::{all, behind_proxy, changed, channel, lease_held, v1, v2, wait_for_dual_writes};
use reel_search::{Document, IndexDefinition, Outcome, VersionedIndex};
use serde_json::json;

#[tokio::test]
async fn ensure_current_creates_then_skips_then_migrates_on_change() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("assets");
    let v = v1(&repo, &alias).backfill(7, 2);

    let first = v.ensure_current(all(0..20)).await.unwrap();
    let Outcome::Migrated {
        from: None,
        to,
        report,
        ..
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(to, format!("{alias}_v1"));
    assert_eq!(report.indexed, 20);
    common::record_alias_actions("migrate", &v.swap_actions(None, &to));
    assert_eq!(repo.count(&alias, None).await.unwrap(), 20);
    // Settings restored after loading.
    let settings = repo.get_settings(&to).await.unwrap();
    assert_ne!(settings["refresh_interval"], "-1");

    let again = v.ensure_current(all(0..20)).await.unwrap();
    assert_eq!(again, Outcome::UpToDate { index: to.clone() });

    let v2 = v2(&repo, &alias).backfill(7, 2);
    let migrated = v2.ensure_current(all(0..25)).await.unwrap();
    let Outcome::Migrated {
        from,
        to: to2,
        deleted_old,
        ..
    } = migrated
    else {
        panic!()
    };
    assert_eq!(from.as_deref(), Some(to.as_str()));
    assert_eq!(to2, format!("{alias}_v2"));
    assert!(deleted_old);
    common::record_alias_actions("migrate", &v2.swap_actions(Some(&to), &to2));
    assert!(!repo.index_exists(&to).await.unwrap());
    assert_eq!(
        repo.alias_indices(&alias).await.unwrap(),
        std::slice::from_ref(&to2)
    );
    assert_eq!(
        v2.write_targets().await.unwrap(),
        std::slice::from_ref(&to2)
    );
    assert_eq!(repo.count(&alias, None).await.unwrap(), 25);
    assert_eq!(
        repo.get_mapping(&alias).await.unwrap()["properties"]["rating"]["type"],
        "float"
    );
    assert_eq!(
        v2.live_fingerprint().await.unwrap(),
        Some(changed(&alias).fingerprint())
    );
}

#[tokio::test]
async fn writes_during_the_backfill_end_up_in_the_new_index() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("live");
    let v1 = v1(&repo, &alias);
    v1.ensure_current(all(0..30)).await.unwrap();

    let v2 = v2(&repo, &alias).backfill(5, 1);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let v2 = v2.clone();
        async move { v2.migrate(source).await }
    });
    // The backfill reads a snapshot of the database: the first half arrives now.
    for i in 0..15 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&v2).await;

    // Live writes while the backfill runs.
    let mut fresh = asset(100);
    fresh.title = "created during the backfill".into();
    v2.index(&fresh).await.unwrap();
    let mut early = asset(2);
    early.title = "updated early".into();
    v2.index(&early).await.unwrap();
    let mut late = asset(20);
    late.title = "updated late".into();
    assert_eq!(v2.index(&late).await.unwrap().len(), 2);
    assert!(v2.delete("a25").await.unwrap());

    // The rest of the (now stale) snapshot.
    for i in 15..30 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let outcome = migration.await.unwrap().unwrap();
    let Outcome::Migrated { to, report, .. } = outcome else {
        panic!("{outcome:?}")
    };
    // a20 (and a2 if it was not copied yet) already existed: skipped, not overwritten.
    assert!(report.skipped >= 1, "{report:?}");

    assert_eq!(
        repo.alias_indices(&alias).await.unwrap(),
        std::slice::from_ref(&to)
    );
    assert_eq!(repo.count(&alias, None).await.unwrap(), 30);
    let get = |id: &'static str| {
        let repo = repo.clone();
        let alias = alias.clone();
        async move { repo.get::<Asset>(&alias, id).await.unwrap() }
    };
    assert_eq!(
        get("a100").await.unwrap().title,
        "created during the backfill"
    );
    assert_eq!(get("a2").await.unwrap().title, "updated early");
    assert_eq!(get("a20").await.unwrap().title, "updated late");
    assert!(get("a25").await.is_none());
    assert_eq!(get("a29").await.unwrap(), asset(29));
}

#[tokio::test]
async fn a_migration_killed_halfway_leaves_reads_on_the_old_index_and_can_be_rerun() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("crash");
    let v1 = v1(&repo, &alias);
    v1.ensure_current(all(0..10)).await.unwrap();
    let old = format!("{alias}_v1");

    let v2 = v2(&repo, &alias).backfill(2, 1);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let v2 = v2.clone();
        async move { v2.migrate(source).await }
    });
    for i in 0..4 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&v2).await;
    // Kill it mid-backfill.
    migration.abort();
    assert!(migration.await.unwrap_err().is_cancelled());
    drop(tx);
    // The cancelled migration's lease is released in the background, not left to expire.
    let mut held = true;
    for _ in 0..500 {
        held = lease_held(&repo, &alias).await;
        if !held {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!held, "the cancelled migration's lease was never released");

    // Reads still go to the complete old index.
    assert_eq!(
        v2.current_index().await.unwrap().as_deref(),
        Some(old.as_str())
    );
    assert_eq!(repo.count(&alias, None).await.unwrap(), 10);
    assert!(repo.index_exists(&format!("{alias}_v2")).await.unwrap());
    // ensure_current sees the old fingerprint and reruns the migration.
    let outcome = v2.ensure_current(all(0..12)).await.unwrap();
    let Outcome::Migrated { from, to, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(from.as_deref(), Some(old.as_str()));
    assert_eq!(to, format!("{alias}_v3"));
    assert!(!repo.index_exists(&format!("{alias}_v2")).await.unwrap());
    assert!(!repo.index_exists(&old).await.unwrap());
    assert_eq!(repo.count(&alias, None).await.unwrap(), 12);
}

#[tokio::test]
async fn deletes_through_another_instance_during_the_backfill_stay_deleted() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("tomb");
    // The instance still running the old version.
    let old = v1(&repo, &alias);
    old.ensure_current(all(0..20)).await.unwrap();

    let new = v2(&repo, &alias).backfill(3, 1);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let new = new.clone();
        async move { new.migrate(source).await }
    });
    for i in 0..5 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&new).await;
    // The old instance deletes a row the backfill already read from the database.
    assert!(old.delete("a15").await.unwrap());
    for i in 5..20 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let outcome = migration.await.unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Migrated { .. }), "{outcome:?}");
    assert_eq!(repo.count(&alias, None).await.unwrap(), 19);
    assert!(repo.get::<Asset>(&alias, "a15").await.unwrap().is_none());
    // The tombstones are gone with the migration.
    repo.refresh(&format!("{alias}_migration")).await.unwrap();
    assert_eq!(
        repo.count(&format!("{alias}_migration"), None)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn kept_indices_survive_later_migrations() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("kept");
    let def = |rating: bool| {
        if rating {
            changed(&alias)
        } else {
            Asset::definition().with_name(&alias)
        }
    };
    for (step, rating) in [false, true, false].into_iter().enumerate() {
        let v = VersionedIndex::<Asset>::with_definition(repo.clone(), def(rating)).keep_old(true);
        let outcome = v.ensure_current(all(0..(3 + step))).await.unwrap();
        let Outcome::Migrated { deleted_old, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert!(!deleted_old);
    }
    let v = VersionedIndex::<Asset>::with_definition(repo.clone(), def(false));
    assert_eq!(
        v.retired_indices().await.unwrap(),
        [format!("{alias}_v1"), format!("{alias}_v2")]
    );
    assert_eq!(
        v.current_index().await.unwrap(),
        Some(format!("{alias}_v3"))
    );
    assert_eq!(repo.count(&format!("{alias}_v1"), None).await.unwrap(), 3);
    assert_eq!(repo.count(&alias, None).await.unwrap(), 5);
}

/// The swap is a compare-and-set: when the alias no longer points at the index the swap
/// retires (another process swapped first), nothing changes and the error says so.
#[tokio::test]
async fn the_alias_swap_fails_whole_when_the_old_index_lost_the_alias() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("cas");
    let v = v1(&repo, &alias);
    let (a, b, c) = (
        server.index("cas_a"),
        server.index("cas_b"),
        server.index("cas_c"),
    );
    for index in [&a, &b, &c] {
        repo.create_index(index, &Asset::definition())
            .await
            .unwrap();
    }
    repo.update_aliases(&v.swap_actions(None, &b))
        .await
        .unwrap();
    // A stale process believes `a` is live and swaps from it to `c`.
    let err = repo
        .update_aliases(&v.swap_actions(Some(&a), &c))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&alias), "{err}");
    assert_eq!(repo.alias_indices(&alias).await.unwrap(), vec![b.clone()]);
    assert_eq!(repo.alias_indices(&v.write_alias()).await.unwrap(), vec![b]);
}

/// A rolling deploy: pods of the old release (schema 1) and the new one (schema 2) restart in
/// turn and each calls `ensure_current`. The new schema is built exactly once; an old pod
/// never migrates back.
#[tokio::test]
async fn a_rolling_deploy_alternating_two_releases_migrates_exactly_once() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("rolling");
    let old_release = v1(&repo, &alias).schema_version(1);
    let new_release = v2(&repo, &alias).schema_version(2);
    assert!(matches!(
        old_release.ensure_current(all(0..5)).await.unwrap(),
        Outcome::Migrated { from: None, .. }
    ));
    let mut migrations = 0;
    for round in 0..3 {
        for (name, release) in [("new", &new_release), ("old", &old_release)] {
            let outcome = release.ensure_current(all(0..5)).await.unwrap();
            if let Outcome::Migrated { from, to, .. } = &outcome {
                migrations += 1;
                println!("round {round}: {name} release migrated {from:?} -> {to}");
            }
        }
    }
    assert_eq!(
        migrations, 1,
        "the new schema is built once, never rebuilt back"
    );
    assert_eq!(
        new_release.live_fingerprint().await.unwrap().unwrap(),
        changed(&alias).fingerprint()
    );
}

/// Settings written nested (`{"index": {"refresh_interval": ..}}`) or dotted
/// (`"index.number_of_replicas"`) survive the migration's loading settings.
#[tokio::test]
async fn nested_and_dotted_settings_are_restored_after_the_backfill() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("nested-settings");
    let def = Asset::definition().with_name(&alias);
    let mut settings = def.settings().clone();
    settings.remove("number_of_replicas");
    settings.insert("index".into(), json!({"refresh_interval": "7s"}));
    settings.insert("index.number_of_replicas".into(), json!(0));
    let def = IndexDefinition::new(&alias, json!(settings), json!(def.mappings()));
    let v = VersionedIndex::<Asset>::with_definition(repo.clone(), def)
        .shard_wait(Duration::from_secs(5));
    v.ensure_current(all(0..3)).await.unwrap();
    let live = v.current_index().await.unwrap().unwrap();
    let index_settings = repo.get_settings(&live).await.unwrap();
    let got = &index_settings;
    assert_eq!(index_settings["refresh_interval"], "7s", "{got}");
    assert_eq!(index_settings["number_of_replicas"], "0", "{got}");
}

/// A migration that crashed after adding its index to the write alias (and whose lease is
/// gone) left every instance dual-writing into a half-built index. The next `ensure_current`
/// of a release that finds the live index current takes the half-built one off the write
/// alias and deletes it.
#[tokio::test]
async fn ensure_current_cleans_up_after_a_crashed_migration() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("crashed");
    let v1 = v1(&repo, &alias);
    v1.ensure_current(all(0..3)).await.unwrap();
    let old = format!("{alias}_v1");
    // What a migration leaves when its process dies mid-backfill (no lease left behind).
    let half = format!("{alias}_v2");
    repo.create_index(&half, &changed(&alias)).await.unwrap();
    repo.update_aliases(&[reel_search::AliasAction::add(&half, v1.write_alias())])
        .await
        .unwrap();
    assert_eq!(v1.write_targets().await.unwrap().len(), 2);

    let outcome = v1.ensure_current(all(0..3)).await.unwrap();
    assert_eq!(outcome, Outcome::UpToDate { index: old.clone() });
    assert_eq!(v1.write_targets().await.unwrap(), vec![old.clone()]);
    assert!(!repo.index_exists(&half).await.unwrap());
    assert!(!lease_held(&repo, &alias).await);
    // Writes now reach the live index alone.
    v1.index(&asset(7)).await.unwrap();
    assert!(!repo.index_exists(&half).await.unwrap());
}

/// A closed index of a later version (an operator closed a leftover instead of deleting it)
/// used to make every migration fail: the listing saw only open indices, so the next
/// migration tried to create that very name.
#[tokio::test]
async fn a_closed_leftover_index_does_not_block_migrations() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("closed");
    let v1 = v1(&repo, &alias);
    v1.ensure_current(all(0..3)).await.unwrap();
    let leftover = format!("{alias}_v2");
    repo.create_index(&leftover, &changed(&alias))
        .await
        .unwrap();
    let closed = repo
        .client()
        .indices()
        .close(elasticsearch::indices::IndicesCloseParts::Index(&[
            &leftover,
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status_code().as_u16(), 200);

    let v2 = v2(&repo, &alias);
    let outcome = v2.ensure_current(all(0..4)).await.unwrap();
    let Outcome::Migrated { to, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(to, format!("{alias}_v3"));
    assert!(!repo.index_exists(&leftover).await.unwrap());
    assert_eq!(repo.count(&alias, None).await.unwrap(), 4);
}

/// A write that read its targets before a migration's swap and reaches the node after the old
/// index was deleted: the old code wrote to the old index by name, and the node recreated it
/// (a zombie with dynamic mappings, the write lost to readers). Through the write alias with
/// `require_alias` it lands in the new live index.
#[tokio::test]
async fn a_write_racing_the_swap_never_recreates_the_old_index() {
    let server = common::search_server();
    let (alias, proxy, via_proxy) = behind_proxy(&server, "zombie").await;
    let repo = common::repo(&server);
    let writer = v1(&via_proxy, &alias);
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let fired = proxy.script(
        "PUT",
        "/_doc/racer",
        fault_proxy::Fault::HoldRequest(release.clone()),
        1,
    );
    let mut racer = asset(99);
    racer.id = "racer".into();
    let write = tokio::spawn({
        let racer = racer.clone();
        async move { writer.index(&racer).await }
    });
    // The writer has read where to write; its request is held on the way while a migration
    // swaps the aliases and deletes the old index.
    fired.notified().await;
    let v2 = v2(&repo, &alias);
    v2.ensure_current(all(0..4)).await.unwrap();
    release.notify_one();
    write.await.unwrap().unwrap();
    repo.refresh(&alias).await.unwrap();
    assert_eq!(
        repo.get::<Asset>(&alias, "racer").await.unwrap(),
        Some(racer),
        "the racing write is not in the live index"
    );
    assert!(!repo.index_exists(&format!("{alias}_v1")).await.unwrap());
}

/// Bulk writers, partial updates and upserts during a backfill reach the new index too (the
/// old code had no `VersionedIndex::bulk`/`update_partial`/`upsert`, and writers that used
/// `Repo::bulk` on the write alias reached the old index alone, silently).
#[tokio::test]
async fn bulk_updates_and_upserts_during_the_backfill_reach_the_new_index() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("dualbulk");
    let v1 = v1(&repo, &alias);
    v1.ensure_current(all(0..10)).await.unwrap();
    let v2 = v2(&repo, &alias).backfill(2, 1);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let v2 = v2.clone();
        async move { v2.migrate(source).await }
    });
    // a1 is backfilled before the writes below, a3 after them.
    for i in 0..2 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&v2).await;
    let mut a50 = asset(50);
    a50.title = "bulk new".into();
    let response = v1
        .bulk(vec![
            reel_search::BulkOp::index_doc(&a50).unwrap(),
            reel_search::BulkOp::update_doc("a1", json!({"title": "bulk updated"})),
            reel_search::BulkOp::delete("a4"),
        ])
        .await
        .unwrap();
    assert!(!response.has_errors(), "{response:?}");
    v1.update_partial("a3", &json!({"title": "partial"}))
        .await
        .unwrap();
    let mut a60 = asset(60);
    a60.title = "upserted".into();
    v1.upsert("a60", &serde_json::to_value(&a60).unwrap())
        .await
        .unwrap();
    v1.upsert("a5", &json!({"views": 12345})).await.unwrap();
    for i in 2..10 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let outcome = migration.await.unwrap().unwrap();
    let Outcome::Migrated { to, .. } = outcome else {
        panic!("{outcome:?}")
    };
    repo.refresh(&to).await.unwrap();
    let get = |id: &'static str| {
        let (repo, to) = (repo.clone(), to.clone());
        async move { repo.get::<Asset>(&to, id).await.unwrap() }
    };
    assert_eq!(get("a50").await, Some(a50));
    assert_eq!(get("a1").await.unwrap().title, "bulk updated");
    assert_eq!(get("a3").await.unwrap().title, "partial");
    assert_eq!(get("a60").await, Some(a60));
    assert_eq!(get("a5").await.unwrap().views, 12345);
    assert_eq!(get("a4").await, None);
    assert_eq!(get("a7").await, Some(asset(7)));
    assert_eq!(repo.count(&to, None).await.unwrap(), 11);
}

/// A new index whose shard can never be allocated (an allocation filter naming no node) never
/// turns yellow: the migration gives up after `shard_wait` with the shard state in its error,
/// never adds it to the write alias (where every live write would wait for its primary),
/// deletes it, and leaves reads and writes on the old one. (Only a real engine allocates
/// shards.)
#[tokio::test]
async fn a_new_index_whose_shards_never_start_fails_after_shard_wait_and_reads_stay() {
    let server = common::search_server();
    if !server.engine().is_real() {
        return;
    }
    let repo = common::repo(&server);
    let alias = server.index("unallocated");
    v1(&repo, &alias).ensure_current(all(0..3)).await.unwrap();
    let old = format!("{alias}_v1");

    let def = changed(&alias);
    let mut settings = def.settings().clone();
    settings.insert(
        "index.routing.allocation.require._name".into(),
        json!("no-such-node"),
    );
    let def = IndexDefinition::new(&alias, json!(settings), json!(def.mappings()));
    let wait = Duration::from_secs(3);
    let next = VersionedIndex::<Asset>::with_definition(repo.clone(), def).shard_wait(wait);
    let started = std::time::Instant::now();
    let err = next
        .ensure_current(all(0..0))
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(took >= wait, "gave up before shard_wait: {took:?}");
    // Not stuck in requests waiting for the primary: creating the index waited 30 s for it,
    // the refresh a minute per try (6.5 minutes in all before the fix).
    assert!(took < Duration::from_secs(25), "{took:?}");
    assert!(err.contains("shard_wait"), "{err}");
    assert!(err.contains("red") && err.contains("1 unassigned"), "{err}");

    assert_eq!(next.current_index().await.unwrap().as_deref(), Some(&*old));
    assert_eq!(next.write_targets().await.unwrap(), vec![old.clone()]);
    assert!(!repo.index_exists(&format!("{alias}_v2")).await.unwrap());
    assert_eq!(repo.count(&alias, None).await.unwrap(), 3);
}
