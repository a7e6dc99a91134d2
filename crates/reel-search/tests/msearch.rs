//! `_msearch` on the real engine: typed items, and one failing item failing alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Asset, asset, repo, search_server};
use reel_search::{Document, Error, Query, SearchRequest, SearchResponse, Sort};
use serde_json::Value;

#[tokio::test]
async fn msearch_decodes_each_item_and_isolates_failures() {
    let server = search_server();
    let repo = repo(&server);
    let index = server.index("msearch");
    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    for i in 0..9 {
        repo.index(&index, &asset(i)).await.unwrap();
    }
    repo.refresh(&index).await.unwrap();
    let missing = server.index("msearch-missing");
    let searches = [
        (
            index.as_str(),
            SearchRequest::new()
                .query(Query::term("kind", "video"))
                .sort(Sort::asc("views")),
        ),
        // A missing index: 404 for this item only.
        (missing.as_str(), SearchRequest::new()),
        // A date the field cannot parse: 400 for this item only.
        (
            index.as_str(),
            SearchRequest::new().query(Query::range("created_at").gte("not a date")),
        ),
        // Sources that do not decode as the type: a decode error for this item only.
        (index.as_str(), SearchRequest::new().source(["title"])),
        (
            index.as_str(),
            SearchRequest::new().size(0).track_total_hits(true),
        ),
    ];
    let results = repo.msearch::<Asset, _>(&searches).await.unwrap();
    assert_eq!(results.len(), 5);
    let views: Vec<i64> = results[0]
        .as_ref()
        .unwrap()
        .hits
        .sources()
        .map(|a| a.views)
        .collect();
    assert_eq!(views, [0, 30, 60]);
    match &results[1] {
        Err(
            err @ Error::Api {
                status: 404, kind, ..
            },
        ) => {
            assert_eq!(kind, "index_not_found_exception", "{err}");
            assert!(err.to_string().contains("msearch item 1"), "{err}");
        }
        other => panic!("expected a 404 item, got {other:?}"),
    }
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("not a date"), "{err}");
    match &results[3] {
        Err(Error::Decode { what, reason }) => {
            assert!(what.contains("msearch item 3"), "{what}");
            assert!(reason.contains("missing field"), "{reason}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    let counted = results[4].as_ref().unwrap();
    assert_eq!(counted.hits.total.unwrap().value, 9);
    assert!(counted.hits.hits.is_empty());

    // The same searches as Value decode where the typed one could not.
    let results = repo.msearch::<Value, _>(&searches[3..]).await.unwrap();
    let r: &SearchResponse<Value> = results[0].as_ref().unwrap();
    assert!(r.hits.sources().all(|v| v.get("title").is_some()));

    // Nothing to search: no request at all.
    let none: [(&str, SearchRequest); 0] = [];
    assert!(repo.msearch::<Asset, _>(&none).await.unwrap().is_empty());
}

/// A request the engine refuses as a whole (an index name it rejects in every header) is one
/// error for the call, or an error per item; never a panic and never a success.
#[tokio::test]
async fn msearch_with_hostile_index_names_fails_cleanly() {
    let server = search_server();
    let repo = repo(&server);
    let searches = [
        ("\n{\"oops\": true}\n", SearchRequest::new()),
        ("UPPER", SearchRequest::new()),
    ];
    match repo.msearch::<Asset, _>(&searches).await {
        Err(err) => assert!(err.status().is_some(), "{err}"),
        Ok(results) => {
            assert_eq!(results.len(), 2);
            assert!(results.iter().all(Result::is_err), "{results:?}");
        }
    }
}
