//! By-query operations on the real node: a partial failure is reported, not taken for
//! success, and `refresh` is the caller's choice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Asset, asset};
use reel_search::{BulkOp, ByQueryOptions, Document, Query, Repo, Script};
use serde_json::json;

async fn seeded(server: &reel_testkit::Search, name: &str) -> (Repo, String) {
    let repo = common::repo(server);
    let index = server.index(name);
    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    let ops = (0..10)
        .map(|i| BulkOp::index_doc(&asset(i)).unwrap())
        .collect();
    let r = repo.bulk(&index, ops).await.unwrap();
    assert!(!r.has_errors(), "{r:?}");
    repo.refresh(&index).await.unwrap();
    (repo, index)
}

/// Half the documents cannot take the script's change (a field the strict mapping refuses):
/// the answer must say so, never look like a complete run.
#[tokio::test]
async fn a_by_query_partial_failure_is_reported() {
    let server = common::search_server();
    if !common::scripts_supported(&server) {
        return;
    }
    let (repo, index) = seeded(&server, "ubq-partial").await;
    let script = Script::painless(
        "if (ctx._source.views >= 50) { ctx._source.not_mapped = 1 } else { ctx._source.views += 1 }",
    );
    match repo
        .update_by_query(&index, Query::match_all().into(), &script)
        .await
    {
        Ok(r) => {
            assert!(
                !r.is_complete(),
                "a partial failure reported as complete: {r:?}"
            );
            assert!(!r.failures.is_empty(), "{r:?}");
        }
        Err(e) => assert!(e.to_string().contains("strict"), "{e}"),
    }
}

/// `refresh(false)` leaves the deletes invisible to searches until the next refresh (the
/// index refreshes only on demand here); the default refreshes. (osmem-server shows every
/// write at once.)
#[tokio::test]
async fn by_query_refresh_is_an_option() {
    let server = common::search_server();
    if !server.engine().is_real() {
        return;
    }
    let (repo, index) = seeded(&server, "dbq-refresh").await;
    repo.put_settings(&index, &json!({"index": {"refresh_interval": "-1"}}))
        .await
        .unwrap();
    let f = Asset::fields();
    let r = repo
        .delete_by_query_with(
            &index,
            f.views().range().gte(50).into(),
            &ByQueryOptions::default().refresh(false),
        )
        .await
        .unwrap();
    assert_eq!(r.deleted, 5, "{r:?}");
    assert!(r.is_complete(), "{r:?}");
    assert_eq!(repo.count(&index, None).await.unwrap(), 10);
    repo.refresh(&index).await.unwrap();
    assert_eq!(repo.count(&index, None).await.unwrap(), 5);
    let r = repo
        .delete_by_query(&index, f.views().range().gte(30).into())
        .await
        .unwrap();
    assert_eq!(r.deleted, 2, "{r:?}");
    assert_eq!(repo.count(&index, None).await.unwrap(), 3);
}

/// A by-query run reads the last refreshed copy of each document; one changed since then is a
/// version conflict. With conflicts proceeding it is counted and the answer is not complete;
/// with `abort_on_conflict` the run stops and says why. (A real engine's versioning.)
#[tokio::test]
async fn by_query_version_conflicts_are_counted_or_abort() {
    let server = common::search_server();
    if !common::scripts_supported(&server) {
        return;
    }
    let (repo, index) = seeded(&server, "ubq-conflicts").await;
    repo.put_settings(&index, &json!({"index": {"refresh_interval": "-1"}}))
        .await
        .unwrap();
    let change_unrefreshed = || async {
        let r = repo
            .bulk(&index, vec![BulkOp::index_doc(&asset(3)).unwrap()])
            .await
            .unwrap();
        assert!(!r.has_errors(), "{r:?}");
    };
    let script = Script::painless("ctx._source.views += 1");
    let no_refresh = ByQueryOptions::default().refresh(false);

    change_unrefreshed().await;
    let r = repo
        .update_by_query_with(&index, Query::match_all().into(), &script, &no_refresh)
        .await
        .unwrap();
    assert_eq!(r.version_conflicts, 1, "{r:?}");
    assert_eq!(r.updated, 9, "{r:?}");
    assert!(!r.is_complete(), "{r:?}");

    repo.refresh(&index).await.unwrap();
    change_unrefreshed().await;
    let aborted = repo
        .update_by_query_with(
            &index,
            Query::match_all().into(),
            &script,
            &no_refresh.clone().abort_on_conflict(true),
        )
        .await;
    match aborted {
        Ok(r) => {
            assert!(!r.is_complete(), "{r:?}");
            assert!(
                r.failures
                    .iter()
                    .any(|f| f.to_string().contains("version_conflict")),
                "{r:?}"
            );
        }
        Err(e) => assert!(e.to_string().contains("version_conflict"), "{e}"),
    }
}
