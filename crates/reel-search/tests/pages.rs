//! `search_after` pagination on the real engine: a total, stable order with a tiebreaker, a
//! point-in-time snapshot, stateless cursors, and clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Asset, asset, repo, search_server};
use futures::{StreamExt, TryStreamExt};
use reel_search::{Document, Page, Paging, Repo, SearchRequest, Sort};

async fn seeded(server: &reel_testkit::Search, name: &str, n: usize) -> (Repo, String) {
    let repo = repo(server);
    let index = server.index(name);
    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    for i in 0..n {
        repo.index(&index, &asset(i)).await.unwrap();
    }
    repo.refresh(&index).await.unwrap();
    (repo, index)
}

/// Ids in the order the pages must come: kind ascending (three kinds, many ties), then id.
fn expected_order(n: usize) -> Vec<String> {
    let mut all: Vec<Asset> = (0..n).map(asset).collect();
    all.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.id.cmp(&b.id)));
    all.into_iter().map(|a| a.id).collect()
}

fn ids(page: &Page<Asset>) -> Vec<String> {
    page.hits.iter().map(|h| h.id.clone()).collect()
}

#[tokio::test]
async fn pages_visit_every_hit_once_in_a_stable_order() {
    let server = search_server();
    let (repo, index) = seeded(&server, "pages", 25).await;
    let request = SearchRequest::new()
        .sort(Sort::asc("kind"))
        .track_total_hits(true);
    let pages: Vec<Page<Asset>> = repo
        .pages(&index, request.clone(), Paging::new(4, "id"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 7);
    assert!(
        pages[..6]
            .iter()
            .all(|p| p.hits.len() == 4 && p.next.is_some())
    );
    assert_eq!(pages[6].hits.len(), 1);
    assert!(pages[6].next.is_none());
    let seen: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(seen, expected_order(25));

    // The stateless form resumes from each page's cursor and lands on the same pages.
    let mut paging = Paging::new(4, "id");
    let mut resumed = Vec::new();
    loop {
        let page: Page<Asset> = repo.page(&index, &request, &paging).await.unwrap();
        resumed.extend(ids(&page));
        match page.next {
            Some(next) => paging = Paging::new(4, "id").after(next),
            None => break,
        }
    }
    assert_eq!(resumed, expected_order(25));
}

/// Over a point in time, a document written after the first page is not seen; on the live
/// index it is.
#[tokio::test]
async fn point_in_time_pages_see_a_snapshot() {
    let server = search_server();
    let (repo, index) = seeded(&server, "pages-pit", 10).await;
    let request = SearchRequest::new().sort(Sort::asc("kind"));
    for (paging, sees_new) in [
        (Paging::new(3, "id"), false),
        (Paging::new(3, "id").without_point_in_time(), true),
    ] {
        let mut pages = repo.pages::<Asset>(&index, request.clone(), paging);
        let first = pages.try_next().await.unwrap().unwrap();
        assert_eq!(first.hits.len(), 3);
        // "video" sorts last, so the new document falls on a later page.
        let mut late = asset(100);
        late.id = format!("late-{sees_new}");
        late.kind = "video".into();
        repo.index(&index, &late).await.unwrap();
        repo.refresh(&index).await.unwrap();
        let rest: Vec<Page<Asset>> = pages.try_collect().await.unwrap();
        let seen: Vec<String> = rest.iter().flat_map(ids).collect();
        assert_eq!(seen.contains(&late.id), sees_new, "{seen:?}");
        repo.delete(&index, &late.id).await.unwrap();
        repo.refresh(&index).await.unwrap();
    }
}

/// A stream dropped after its first page closes its point in time.
#[tokio::test]
async fn dropping_the_page_stream_closes_its_point_in_time() {
    let server = search_server();
    if !server.engine().is_real() {
        return; // osmem-server keeps no point-in-time registry to inspect.
    }
    let (repo, index) = seeded(&server, "pages-drop", 10).await;
    // Every open point in time of the node: the other tests of this binary open and close
    // theirs meanwhile, so the stream's own is told apart by its id.
    let open_pits = || async {
        let (status, body) = repo_get(&repo, "/_search/point_in_time/_all").await;
        assert_eq!(status, 200, "{body}");
        body["pits"]
            .as_array()
            .map(|pits| {
                pits.iter()
                    .filter_map(|p| p["pit_id"].as_str().map(str::to_owned))
                    .collect::<std::collections::HashSet<String>>()
            })
            .unwrap_or_default()
    };
    let before = open_pits().await;
    let mut pages = repo.pages::<Asset>(&index, SearchRequest::new(), Paging::new(2, "id"));
    assert!(pages.next().await.unwrap().is_ok());
    let opened: Vec<String> = open_pits().await.difference(&before).cloned().collect();
    assert!(!opened.is_empty(), "the stream opened no point in time");
    drop(pages);
    // The stream's point in time is among `opened` (with, at most, another test's that its
    // own stream closes when it ends): all of them close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = open_pits().await;
        if !opened.iter().any(|id| open.contains(id)) {
            break;
        }
        assert!(Instant::now() < deadline, "the point in time stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn repo_get(repo: &Repo, path: &str) -> (u16, serde_json::Value) {
    use reel_search::elasticsearch::http::Method;
    use reel_search::elasticsearch::http::headers::HeaderMap;
    let response = repo
        .client()
        .send::<(), ()>(Method::Get, path, HeaderMap::new(), None, None, None)
        .await
        .unwrap();
    let status = response.status_code().as_u16();
    (status, response.json().await.unwrap())
}

/// Hostile: a tiebreaker the engine cannot sort on, a missing index.
#[tokio::test]
async fn pages_fail_clearly_on_a_bad_tiebreaker_or_a_missing_index() {
    let server = search_server();
    let (repo, index) = seeded(&server, "pages-bad", 3).await;
    let err = repo
        .pages::<Asset>(&index, SearchRequest::new(), Paging::new(2, "title"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("title"), "{err}");

    let missing = server.index("pages-missing");
    let err = repo
        .pages::<Asset>(&missing, SearchRequest::new(), Paging::new(2, "id"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let err = repo
        .page::<Asset>(&missing, &SearchRequest::new(), &Paging::new(2, "id"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
}
