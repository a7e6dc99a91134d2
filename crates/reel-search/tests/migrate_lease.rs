//! The migration lease against the search server: instances starting together migrate once,
//! a dead holder's lease is taken over after its TTL and a live one's is waited for, a holder
//! that lost its lease stops before the swap, and renewals or creates whose answers were lost
//! or late are judged by what the node applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/migration.rs"]
mod migration;

use std::time::Duration;

use common::asset;
use migration::{all, behind_proxy, channel, lease_held, slow, v1, v2, wait_for_dual_writes};
use reel_search::Outcome;
use serde_json::json;

/// A source that yields `range` slowly, so concurrent migrations overlap.
#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("rolling");
    v1(&repo, &alias).ensure_current(all(0..10)).await.unwrap();

    // A rolling deploy: four instances of the new version start at once, each with its own
    // VersionedIndex (nothing shared but the server).
    let runs = (0..4).map(|_| {
        let v = v2(&repo, &alias)
            .backfill(4, 1)
            .lease_ttl(Duration::from_secs(5));
        tokio::spawn(async move { v.ensure_current(slow(0..40)).await })
    });
    let outcomes: Vec<Outcome> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    let migrated: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Migrated { .. }))
        .collect();
    assert_eq!(migrated.len(), 1, "{outcomes:?}");
    let to = format!("{alias}_v2");
    for outcome in &outcomes {
        match outcome {
            Outcome::Migrated { to: t, report, .. } => {
                assert_eq!(t, &to);
                assert_eq!(report.indexed, 40);
            }
            Outcome::UpToDate { index } => assert_eq!(index, &to),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        repo.alias_indices(&alias).await.unwrap(),
        std::slice::from_ref(&to)
    );
    assert_eq!(
        repo.alias_indices(&format!("{alias}_write")).await.unwrap(),
        std::slice::from_ref(&to)
    );
    assert!(!repo.index_exists(&format!("{alias}_v3")).await.unwrap());
    assert_eq!(repo.count(&alias, None).await.unwrap(), 40);
    assert!(!lease_held(&repo, &alias).await);
}

#[tokio::test]
async fn a_lease_whose_holder_died_is_taken_over_after_its_ttl() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("orphan");
    let ttl = Duration::from_secs(2);
    v1(&repo, &alias).ensure_current(all(0..5)).await.unwrap();
    // A process that took the lease and died: nobody renews it.
    repo.index_json(
        &format!("{alias}_migration"),
        "lease",
        &json!({"kind": "lease", "owner": "crashed", "beat": 0}),
    )
    .await
    .unwrap();
    assert!(lease_held(&repo, &alias).await);

    let v2 = v2(&repo, &alias).lease_ttl(ttl);
    let started = std::time::Instant::now();
    let outcome = v2.ensure_current(all(0..6)).await.unwrap();
    // Taken over only after a whole TTL without a change (a lower bound, never flaky).
    assert!(started.elapsed() >= ttl, "{:?}", started.elapsed());
    let Outcome::Migrated { to, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(to, format!("{alias}_v2"));
    assert_eq!(repo.count(&alias, None).await.unwrap(), 6);
    assert!(!lease_held(&repo, &alias).await);
}

#[tokio::test]
async fn a_lease_that_is_renewed_is_waited_for_not_taken_over() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("busy");
    v1(&repo, &alias).ensure_current(all(0..5)).await.unwrap();
    let state = format!("{alias}_migration");
    repo.index_json(
        &state,
        "lease",
        &json!({"kind": "lease", "owner": "busy", "beat": 0}),
    )
    .await
    .unwrap();
    // Another instance holds the lease and renews it well within the TTL for a while.
    let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = tokio::spawn({
        let (repo, state, released) = (repo.clone(), state.clone(), released.clone());
        async move {
            // Renewed every 150 ms: the waiter sees the same version several times in a row.
            for beat in 1..=10 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                repo.index_json(
                    &state,
                    "lease",
                    &json!({"kind": "lease", "owner": "busy", "beat": beat}),
                )
                .await
                .unwrap();
            }
            released.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(repo.delete(&state, "lease").await.unwrap());
        }
    });

    let v2 = v2(&repo, &alias).lease_ttl(Duration::from_secs(1));
    let outcome = v2.ensure_current(all(0..7)).await.unwrap();
    assert!(
        released.load(std::sync::atomic::Ordering::SeqCst),
        "migrated while another instance held a live lease"
    );
    holder.await.unwrap();
    assert!(matches!(outcome, Outcome::Migrated { .. }), "{outcome:?}");
    assert_eq!(repo.count(&alias, None).await.unwrap(), 7);
}

#[tokio::test]
async fn a_holder_whose_lease_was_taken_over_stops_before_the_swap() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("usurped");
    let v1 = v1(&repo, &alias);
    v1.ensure_current(all(0..10)).await.unwrap();
    let old = format!("{alias}_v1");

    let ttl = Duration::from_millis(600);
    let v2 = v2(&repo, &alias).backfill(2, 1).lease_ttl(ttl);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let v2 = v2.clone();
        async move { v2.migrate(source).await }
    });
    for i in 0..4 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&v2).await;
    // Another process overwrites the lease (as a takeover does); the holder's next renewal
    // (every 100 ms) fails its compare-and-set.
    repo.index_json(
        &format!("{alias}_migration"),
        "lease",
        &json!({"kind": "lease", "owner": "usurper", "beat": 0}),
    )
    .await
    .unwrap();
    // No renewal can be confirmed after the takeover, and the holder trusts a renewal for
    // half a TTL: from then on the lease is lost whatever the renewals' timing.
    tokio::time::sleep(ttl / 2 + ttl / 10).await;
    for i in 4..10 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let error = migration.await.unwrap().unwrap_err();
    assert!(
        error.to_string().contains("lost the migration lease"),
        "{error}"
    );
    // Reads never left the old index, and the half-built one is gone.
    assert_eq!(
        repo.alias_indices(&alias).await.unwrap(),
        std::slice::from_ref(&old)
    );
    assert!(!repo.index_exists(&format!("{alias}_v2")).await.unwrap());
    assert_eq!(repo.count(&alias, None).await.unwrap(), 10);
}

/// A renewal reaches the node but its answer is lost; the client resends it and the resent
/// compare-and-set finds the version its first copy wrote. The lease document still names
/// this holder, so the lease is still its own (the old code gave up: "lost the migration
/// lease").
#[tokio::test]
async fn a_lease_renewal_whose_answer_was_lost_keeps_the_lease() {
    let server = common::search_server();
    let (alias, proxy, via_proxy) = behind_proxy(&server, "lostrenewal").await;
    let v2 = v2(&via_proxy, &alias)
        .backfill(2, 1)
        .lease_ttl(Duration::from_secs(3));
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let v2 = v2.clone();
        async move { v2.migrate(source).await }
    });
    for i in 0..2 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&v2).await;
    let fired = proxy.script(
        "PUT",
        "_migration/_doc/lease",
        fault_proxy::Fault::LoseAnswer,
        1,
    );
    fired.notified().await;
    // Two more renewals reach the node after the lost one (renewals are sequential, so the
    // lost one's resend was answered and judged by then).
    for _ in 0..2 {
        proxy
            .script("PUT", "_migration/_doc/lease", fault_proxy::Fault::Pass, 1)
            .notified()
            .await;
    }
    for i in 2..6 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let outcome = migration.await.unwrap().unwrap();
    assert!(matches!(outcome, Outcome::Migrated { .. }), "{outcome:?}");
    assert_eq!(proxy.fired("_migration/_doc/lease"), 3);
    assert!(!lease_held(&common::repo(&server), &alias).await);
}

/// The `_create` of the lease is applied but its answer lost; the resend answers 409. The
/// lease names this process, so it migrates at once (the old code waited a whole TTL to take
/// the lease over from itself: here an hour).
#[tokio::test]
async fn a_lease_create_whose_answer_was_lost_is_taken_at_once() {
    let server = common::search_server();
    let (alias, proxy, via_proxy) = behind_proxy(&server, "lostcreate").await;
    proxy.script(
        "PUT",
        "_migration/_create/lease",
        fault_proxy::Fault::LoseAnswer,
        1,
    );
    let v2 = v2(&via_proxy, &alias).lease_ttl(Duration::from_secs(3600));
    let outcome = tokio::time::timeout(Duration::from_secs(120), v2.ensure_current(all(0..4)))
        .await
        .expect("still waiting for its own lease after 120 s")
        .unwrap();
    assert!(matches!(outcome, Outcome::Migrated { .. }), "{outcome:?}");
    assert_eq!(proxy.fired("_migration/_create/lease"), 1);
    assert!(!lease_held(&common::repo(&server), &alias).await);
}

/// A renewal whose answer arrives after a whole TTL, while a waiter took the lease over (it
/// counts from when the renewal was applied, not answered). The holder trusts a renewal from
/// when it SENT it, so the late answer restores no trust; the next renewal finds the lease
/// taken and the migration stops before the swap (the old code trusted the lease again from
/// the late answer and swapped alongside the process that took it over).
#[tokio::test]
async fn a_lease_renewal_answered_after_its_ttl_is_not_trusted() {
    let server = common::search_server();
    let (alias, proxy, via_proxy) = behind_proxy(&server, "slowrenewal").await;
    let ttl = Duration::from_secs(6);
    let v2 = v2(&via_proxy, &alias).backfill(2, 1).lease_ttl(ttl);
    let (tx, source) = channel();
    let migration = tokio::spawn({
        let v2 = v2.clone();
        async move { v2.migrate(source).await }
    });
    for i in 0..2 {
        tx.send(asset(i)).await.unwrap();
    }
    wait_for_dual_writes(&v2).await;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let fired = proxy.script(
        "PUT",
        "_migration/_doc/lease",
        fault_proxy::Fault::HoldAnswer(release.clone()),
        1,
    );
    fired.notified().await;
    // The renewal was applied; its answer is held. A waiter that saw the lease unchanged for
    // a TTL takes it over.
    let repo = common::repo(&server);
    tokio::time::sleep(ttl + ttl / 10).await;
    repo.index_json(
        &format!("{alias}_migration"),
        "lease",
        &json!({"kind": "lease", "owner": "usurper", "beat": 0}),
    )
    .await
    .unwrap();
    // The next renewal reaches the proxy once the late answer was received and judged.
    let next = proxy.script("PUT", "_migration/_doc/lease", fault_proxy::Fault::Pass, 1);
    release.notify_one();
    next.notified().await;
    for i in 2..6 {
        tx.send(asset(i)).await.unwrap();
    }
    drop(tx);
    let error = migration.await.unwrap().unwrap_err();
    assert!(
        error.to_string().contains("lost the migration lease"),
        "{error}"
    );
    assert_eq!(
        repo.alias_indices(&alias).await.unwrap(),
        vec![format!("{alias}_v1")]
    );
}
