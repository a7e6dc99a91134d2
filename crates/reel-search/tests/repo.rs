//! The repo against the search server (osmem-server, or Elasticsearch at `REEL_ES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Asset, asset, record, repo, search_server};
use futures::TryStreamExt;
use reel_search::{BulkAction, Document, Query, Repo, SearchRequest, TotalRelation};
use serde_json::{Value, json};

#[tokio::test]
async fn creates_index_from_the_derive_and_does_crud() {
    let server = search_server();
    let repo = repo(&server);
    let index = server.index("crud");
    let def = Asset::definition();
    record("crud", "create_index", &def.body());
    assert!(!repo.index_exists(&index).await.unwrap());
    repo.create_index(&index, &def).await.unwrap();
    assert!(repo.index_exists(&index).await.unwrap());
    let mapping = repo.get_mapping(&index).await.unwrap();
    assert_eq!(mapping["properties"]["kind"]["type"], "keyword");
    assert_eq!(mapping["properties"]["comments"]["type"], "nested");
    assert_eq!(mapping["_meta"]["reel_fingerprint"], def.fingerprint());
    // Creating it again is an API error that names the problem.
    let err = repo.create_index(&index, &def).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");

    let a = asset(3);
    let written = repo.index(&index, &a).await.unwrap();
    assert_eq!(written.id, "a3");
    let got: Option<Asset> = repo.get(&index, "a3").await.unwrap();
    assert_eq!(got.as_ref(), Some(&a));
    assert_eq!(repo.get::<Asset>(&index, "nope").await.unwrap(), None);

    repo.update_partial(&index, "a3", &json!({"views": 7}))
        .await
        .unwrap();
    let script = reel_search::Script::painless("ctx._source.views += params.n").param("n", 3);
    let scripted = repo.update_script(&index, "a3", &script).await;
    let got: Asset = repo.get(&index, "a3").await.unwrap().unwrap();
    if common::scripts_supported(&server) {
        scripted.unwrap();
        assert_eq!(got.views, 10);
    } else {
        // osmem-server runs no scripts: the refusal must surface as an error.
        let err = scripted.unwrap_err();
        assert_eq!(err.status(), Some(400), "{err}");
        assert_eq!(got.views, 7);
    }
    let err = repo
        .update_partial(&index, "absent", &json!({"views": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    repo.upsert(&index, "a4", &serde_json::to_value(asset(4)).unwrap())
        .await
        .unwrap();

    let many: Vec<Option<Asset>> = repo.mget(&index, &["a4", "zz", "a3"]).await.unwrap();
    assert_eq!(many.len(), 3);
    assert_eq!(many[0].as_ref().map(|a| a.id.as_str()), Some("a4"));
    assert!(many[1].is_none());

    repo.put_mapping(
        &index,
        &json!({"properties": {"extra": {"type": "keyword"}}}),
    )
    .await
    .unwrap();
    assert_eq!(
        repo.get_mapping(&index).await.unwrap()["properties"]["extra"]["type"],
        "keyword"
    );
    repo.put_settings(&index, &json!({"index": {"refresh_interval": "2s"}}))
        .await
        .unwrap();
    assert_eq!(
        repo.get_settings(&index).await.unwrap()["refresh_interval"],
        "2s"
    );

    assert!(repo.delete(&index, "a3").await.unwrap());
    assert!(!repo.delete(&index, "a3").await.unwrap());
    repo.refresh(&index).await.unwrap();
    assert_eq!(repo.count(&index, None).await.unwrap(), 1);
    assert!(repo.delete_index(&index).await.unwrap());
    assert!(!repo.delete_index(&index).await.unwrap());
}

#[tokio::test]
async fn bulk_reports_every_failed_item() {
    let server = search_server();
    let repo = repo(&server);
    let index = server.index("bulk");
    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    let ops = common::bulk_ops();
    for op in &ops {
        record("bulk", "bulk_action", &op.action_line());
    }
    let response = repo.bulk(&index, ops).await.unwrap();
    assert_eq!(response.items.len(), 9);
    let failed: Vec<(&str, u16)> = response
        .failed()
        .map(|i| (i.id.as_str(), i.status))
        .collect();
    let scripts = common::scripts_supported(&server);
    let expected = if scripts {
        vec![("b2", 409), ("b3", 400), ("missing", 404)]
    } else {
        // osmem-server refuses the script update item; it is reported, not dropped.
        vec![("b2", 409), ("b3", 400), ("b2", 400), ("missing", 404)]
    };
    assert_eq!(failed, expected, "{response:#?}");
    let strict = &response.items[3];
    assert!(
        strict
            .error
            .as_ref()
            .unwrap()
            .kind
            .contains("strict_dynamic_mapping"),
        "{strict:?}"
    );
    assert_eq!(response.items[8].action, BulkAction::Delete);
    assert_eq!(response.succeeded(), 9 - expected.len());
    repo.refresh(&index).await.unwrap();
    let b1: Asset = repo.get(&index, "b1").await.unwrap().unwrap();
    assert_eq!(b1.views, 999);
    let b2: Asset = repo.get(&index, "b2").await.unwrap().unwrap();
    assert_eq!(b2.views, if scripts { 25 } else { 20 });
    assert!(repo.get::<Value>(&index, "b4").await.unwrap().is_none());
    let stats = repo.stats();
    assert_eq!(stats.bulk_items, 9);
    assert_eq!(stats.bulk_failed, expected.len() as u64);
}

async fn seeded(
    server: &reel_testkit::Search,
    name: &str,
    n: usize,
) -> (reel_search::Repo, String) {
    let repo = repo(server);
    let index = server.index(name);
    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    let ops = (0..n)
        .map(|i| reel_search::BulkOp::index_doc(&asset(i)).unwrap())
        .collect();
    let r = repo.bulk(&index, ops).await.unwrap();
    assert!(!r.has_errors(), "{r:?}");
    repo.refresh(&index).await.unwrap();
    (repo, index)
}

#[tokio::test]
async fn typed_search_hits() {
    let server = search_server();
    let (repo, index) = seeded(&server, "search", 12).await;
    let queries = common::queries();
    for (name, q) in &queries {
        record("search", name, &q.to_value());
    }
    let by_name = |n: &str| queries.iter().find(|(k, _)| *k == n).unwrap().1.clone();

    // beach = even ids; video = i % 3 == 0 → 0, 6
    let r = repo
        .search::<Asset>(&index, &by_name("bool_filter"))
        .await
        .unwrap();
    let total = r.hits.total.unwrap();
    assert_eq!((total.value, total.relation), (4 - 2, TotalRelation::Eq));
    let ids: Vec<&str> = r.hits.sources().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a6", "a0"]);
    assert!(r.hits.hits[0].sort.len() == 1);

    let r = repo
        .search::<Value>(&index, &by_name("range_sorted"))
        .await
        .unwrap();
    let views: Vec<i64> = r
        .hits
        .sources()
        .map(|v| v["views"].as_i64().unwrap())
        .collect();
    assert_eq!(views, [20, 30, 40, 50, 60]);
    assert!(
        r.hits.hits[0]
            .source
            .as_ref()
            .unwrap()
            .get("title")
            .is_none()
    );

    let r = repo
        .search::<Asset>(&index, &by_name("highlight"))
        .await
        .unwrap();
    assert_eq!(r.hits.hits.len(), 6);
    let fragment = &r.hits.hits[0].highlight["title"][0];
    assert!(fragment.contains("<b>beach</b>"), "{fragment}");
    assert!(r.hits.hits[0].score.unwrap() > 0.0);

    let r = repo
        .search::<Asset>(&index, &by_name("terms_ids_exists"))
        .await
        .unwrap();
    // (audio or image or a0) and has duration (i % 3 != 1): image is i%3==1 → no duration.
    let mut ids: Vec<&str> = r.hits.sources().map(|a| a.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["a0", "a11", "a2", "a5", "a8"]);

    let r = repo
        .search::<Asset>(&index, &by_name("multi_match_prefix"))
        .await
        .unwrap();
    assert_eq!(r.hits.total.unwrap().value, 12);

    let r = repo
        .search::<Asset>(&index, &by_name("nested_function_score"))
        .await
        .unwrap();
    // comments with stars >= 4 exist when i % 3 == 2.
    let mut ids: Vec<&str> = r.hits.sources().map(|a| a.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["a11", "a2", "a5", "a8"]);

    let r = repo
        .search::<Asset>(&index, &by_name("constant_dis_max"))
        .await
        .unwrap();
    assert_eq!(r.hits.hits.len(), 5);

    assert_eq!(
        repo.count(&index, Some(Query::term("kind", "video").into()))
            .await
            .unwrap(),
        4
    );
}

#[tokio::test]
async fn aggregations_decode_into_typed_results() {
    let server = search_server();
    let (repo, index) = seeded(&server, "aggs", 12).await;
    let req = common::aggregations();
    record("aggs", "search", &req.to_value());
    let r = repo.search::<Asset>(&index, &req).await.unwrap();
    let aggs = &r.aggregations;

    let kinds = aggs.terms("kinds").unwrap();
    assert_eq!(kinds.len(), 3);
    assert!(kinds.iter().all(|b| b.doc_count == 4));
    let video = kinds.iter().find(|b| b.key == "video").unwrap();
    // views of 0, 3, 6, 9 → 0 + 30 + 60 + 90
    assert_eq!(video.aggs.value("views").unwrap(), Some(180.0));
    let best = video.aggs.top_hits::<Asset>("best").unwrap();
    assert_eq!(best.hits[0].source.as_ref().unwrap().id, "a9");

    let monthly = aggs.date_histogram("monthly").unwrap();
    assert_eq!(monthly.iter().map(|b| b.doc_count).sum::<u64>(), 12);
    assert!(monthly[0].key_as_string.is_some());

    let hist = aggs.histogram("views_hist").unwrap();
    assert_eq!(hist[0].doc_count, 5); // 0..40
    let ranges = aggs.range("view_ranges").unwrap();
    assert_eq!((ranges[0].doc_count, ranges[1].doc_count), (5, 7));
    let filters = aggs.filters("buckets").unwrap();
    assert_eq!(filters["beach"].doc_count, 6);
    assert_eq!(filters["video"].doc_count, 4);
    let nested = aggs.nested("comments").unwrap();
    // i % 3 comments each: 4 docs with 1, 4 with 2 → 12 comments
    assert_eq!(nested.doc_count, 12);
    let stars = nested.aggs.value("stars").unwrap().unwrap();
    assert!((stars - 40.0 / 12.0).abs() < 1e-9, "{stars}");

    assert_eq!(aggs.value("avg_views").unwrap(), Some(55.0));
    assert_eq!(aggs.value("min_views").unwrap(), Some(0.0));
    assert_eq!(aggs.value("max_views").unwrap(), Some(110.0));
    assert_eq!(aggs.value("kind_count").unwrap(), Some(3.0));
    let stats = aggs.stats("view_stats").unwrap();
    assert_eq!((stats.count, stats.sum), (12, 660.0));
    let pct = aggs.percentiles("pct").unwrap();
    assert_eq!(pct.iter().map(|p| p.0).collect::<Vec<_>>(), [50.0, 90.0]);
    assert!(pct[0].1.unwrap() > 30.0 && pct[0].1.unwrap() < 80.0);

    let page = aggs.composite("pages").unwrap();
    assert_eq!(page.buckets.len(), 2);
    let after = page.after_key.unwrap();
    let next = SearchRequest::new().size(0).agg(
        "pages",
        reel_search::Aggregation::composite([reel_search::CompositeSource::terms("kind", "kind")])
            .size(2)
            .after(after),
    );
    let r2 = repo.search::<Value>(&index, &next).await.unwrap();
    let page2 = r2.aggregations.composite("pages").unwrap();
    assert_eq!(page2.buckets.len(), 1);
    assert!(aggs.terms("absent").is_err());
}

#[tokio::test]
async fn scan_streams_every_hit_and_by_query_ops() {
    let server = search_server();
    let (repo, index) = seeded(&server, "scan", 57).await;
    let hits: Vec<reel_search::Hit<Asset>> = repo
        .scan(&index, SearchRequest::new().query(Query::match_all()), 10)
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<String> = hits.into_iter().map(|h| h.id).collect();
    ids.sort();
    let mut expected: Vec<String> = (0..57).map(|i| format!("a{i}")).collect();
    expected.sort();
    // Every document exactly once.
    assert_eq!(ids, expected);

    let scrolled: Vec<reel_search::Hit<Asset>> = repo
        .scroll(&index, SearchRequest::new().query(Query::match_all()), 7)
        .try_collect()
        .await
        .unwrap();
    let mut scrolled_ids: Vec<String> = scrolled.into_iter().map(|h| h.id).collect();
    scrolled_ids.sort();
    assert_eq!(scrolled_ids, ids);

    let filtered: Vec<reel_search::Hit<Asset>> = repo
        .scan(
            &index,
            SearchRequest::new().query(Query::term("kind", "video")),
            4,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), 19);

    let updated = repo
        .update_by_query(
            &index,
            Query::term("kind", "audio").into(),
            &reel_search::Script::painless("ctx._source.views = 0"),
        )
        .await;
    let scripts = common::scripts_supported(&server);
    if scripts {
        let updated = updated.unwrap();
        assert_eq!(updated.updated, 19);
        assert!(updated.is_complete(), "{updated:?}");
    } else {
        assert_eq!(updated.unwrap_err().status(), Some(400));
    }
    let deleted = repo
        .delete_by_query(&index, Query::term("kind", "video").into())
        .await
        .unwrap();
    assert_eq!(deleted.deleted, 19);
    assert!(deleted.is_complete(), "{deleted:?}");
    repo.refresh(&index).await.unwrap();
    assert_eq!(repo.count(&index, None).await.unwrap(), 38);
    assert_eq!(
        repo.count(&index, Some(Query::range("views").gt(0).into()))
            .await
            .unwrap(),
        if scripts { 19 } else { 38 }
    );
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // Nothing listens on a port just freed: every attempt fails to connect.
    let port = reel_testkit::free_port().unwrap();
    let repo = Repo::from_url(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .backoff(
            reel_core::Backoff::new(
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(5),
            )
            .with_max_retries(2),
        );
    let err = repo.index_exists("x").await.unwrap_err();
    assert!(matches!(err, reel_search::Error::Transport(_)), "{err}");
    assert_eq!(repo.stats().retries, 2);
    assert_eq!(repo.stats().requests, 3);
}

/// A client timeout says nothing about the server: an `_update_by_query` that outlives it keeps
/// running. Re-sending it would apply `views += 1` twice; reel runs it as a task and polls.
#[tokio::test]
async fn update_by_query_whose_client_times_out_is_applied_once() {
    let server = search_server();
    if !common::scripts_supported(&server) {
        return;
    }
    let (repo, index) = seeded(&server, "ubq-timeout", 400).await;
    let url = elasticsearch::http::Url::parse(server.url()).unwrap();
    let transport = elasticsearch::http::transport::TransportBuilder::new(
        elasticsearch::http::transport::SingleNodeConnectionPool::new(url),
    )
    .timeout(std::time::Duration::from_millis(40))
    .build()
    .unwrap();
    let impatient = Repo::new(elasticsearch::Elasticsearch::new(transport)).backoff(
        reel_core::Backoff::new(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(5),
        )
        .with_max_retries(50),
    );
    let before: i64 = (0..400).map(|i| i as i64 * 10).sum();
    // Slow enough per document to outlive the 40 ms timeout on any machine.
    let script = reel_search::Script::painless(
        "long x = 0; for (int i = 0; i < 20000; i++) { x += i; } ctx._source.views += 1",
    );
    let _ = impatient
        .update_by_query(&index, Query::match_all().into(), &script)
        .await;
    // Whatever the client saw, wait until no by-query task runs any more, then count.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let tasks: Value = repo
            .client()
            .send::<(), _>(
                elasticsearch::http::Method::Get,
                "/_tasks",
                elasticsearch::http::headers::HeaderMap::new(),
                Some(&[("actions", "*byquery")]),
                None,
                None,
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let running = tasks["nodes"]
            .as_object()
            .map(|nodes| {
                nodes
                    .values()
                    .any(|n| n["tasks"].as_object().is_some_and(|t| !t.is_empty()))
            })
            .unwrap_or(false);
        if !running {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "tasks still running");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    repo.refresh(&index).await.unwrap();
    let found = repo
        .search::<Value>(
            &index,
            &SearchRequest::new()
                .size(0)
                .agg("views", reel_search::Aggregation::sum("views")),
        )
        .await
        .unwrap();
    let sum = serde_json::to_value(&found.aggregations).unwrap();
    assert_eq!(
        sum["views"]["value"].as_f64().unwrap() as i64,
        before + 400,
        "each document updated exactly once"
    );
}

/// Open search contexts (points in time and scrolls) on the node.
/// The search contexts (scrolls, points in time) open on `index` alone: the other tests of
/// this binary open and close theirs on other indices meanwhile.
async fn open_contexts(repo: &Repo, index: &str) -> u64 {
    let stats: Value = repo
        .client()
        .send::<(), _>(
            elasticsearch::http::Method::Get,
            &format!("/{index}/_stats/search"),
            elasticsearch::http::headers::HeaderMap::new(),
            None::<&()>,
            None,
            None,
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["_all"]["total"]["search"]["open_contexts"]
        .as_u64()
        .unwrap_or_else(|| panic!("no open_contexts in {stats}"))
}

/// A scan dropped before its end releases its point in time (or scroll) at once instead of
/// leaving it to expire minutes later.
#[tokio::test]
async fn a_dropped_scan_releases_its_search_context() {
    let server = search_server();
    if !server.is_external() {
        return; // the emulator keeps no search contexts
    }
    let (repo, index) = seeded(&server, "scan-drop", 12).await;
    let before = open_contexts(&repo, &index).await;
    for scroll in [false, true] {
        let mut hits = if scroll {
            repo.scroll::<Asset>(&index, SearchRequest::new(), 2)
        } else {
            repo.scan::<Asset>(&index, SearchRequest::new(), 2)
        };
        hits.try_next().await.unwrap().unwrap();
        assert!(
            open_contexts(&repo, &index).await > before,
            "the scan holds a context"
        );
        drop(hits);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while open_contexts(&repo, &index).await > before {
            assert!(
                std::time::Instant::now() < deadline,
                "the dropped scan (scroll: {scroll}) still holds its context"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Raw body keys and raw aggregations beside the typed ones: `post_filter` narrows the hits
/// but not the aggregations, a raw `filter` aggregation decodes like the typed ones.
#[tokio::test]
async fn raw_body_keys_and_aggregations_keep_typed_decoding() {
    let server = search_server();
    let (repo, index) = seeded(&server, "raw-keys", 12).await;
    let request = SearchRequest::new()
        .size(50)
        .raw("post_filter", json!({"term": {"kind": "video"}}))
        .raw_agg("beach", json!({"filter": {"match": {"title": "beach"}}}))
        .agg("kinds", reel_search::Aggregation::terms("kind"));
    let found = repo.search::<Asset>(&index, &request).await.unwrap();
    let mut kinds: Vec<&str> = found
        .hits
        .hits
        .iter()
        .map(|h| h.source.as_ref().unwrap().kind.as_str())
        .collect();
    kinds.dedup();
    assert_eq!(kinds, ["video"]);
    assert_eq!(found.hits.hits.len(), 4);
    // The aggregations saw all 12 documents.
    let buckets = found.aggregations.buckets("kinds").unwrap();
    assert_eq!(buckets.iter().map(|b| b.doc_count).sum::<u64>(), 12);
    assert_eq!(found.aggregations.raw("beach").unwrap()["doc_count"], 6);
}
