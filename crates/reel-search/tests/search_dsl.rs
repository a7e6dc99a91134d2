//! The search features searchkick and elasticsearch-dsl users rely on, on the real engine:
//! `post_filter`, highlight options, suggesters, `collapse`, `match_bool_prefix`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Asset, asset, repo, search_server};
use reel_search::{
    Aggregation, Collapse, Document, Highlight, HighlightField, Highlighter, InnerHits, Query,
    Repo, SearchRequest, Sort, Suggester,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "articles", shards = 1, replicas = 0, dynamic = "strict")]
struct Article {
    #[search(id, keyword)]
    id: String,
    title: String,
    body: String,
    #[search(keyword)]
    kind: String,
    #[search(type = "completion")]
    title_suggest: String,
}

fn article(id: &str, title: &str, body: &str, kind: &str) -> Article {
    Article {
        id: id.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        kind: kind.to_owned(),
        title_suggest: title.to_owned(),
    }
}

fn articles() -> Vec<Article> {
    vec![
        article(
            "1",
            "rust async runtime",
            "tokio is a rust runtime for async io",
            "guide",
        ),
        article(
            "2",
            "rust error handling",
            "errors in rust are values",
            "guide",
        ),
        article("3", "rusty bicycles", "how to clean a rusty chain", "howto"),
        article(
            "4",
            "python packaging",
            "wheels and sdists, no rust here",
            "guide",
        ),
        article(
            "5",
            "mountain hiking",
            "a long walk up the mountain",
            "travel",
        ),
    ]
}

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

async fn seeded_articles(server: &reel_testkit::Search, name: &str) -> (Repo, String) {
    let repo = repo(server);
    let index = server.index(name);
    repo.create_index(&index, &Article::definition())
        .await
        .unwrap();
    for a in articles() {
        repo.index(&index, &a).await.unwrap();
    }
    repo.refresh(&index).await.unwrap();
    (repo, index)
}

/// Collapsing on a text field is refused by the engine; the error names the cause, not just
/// "all shards failed".
#[tokio::test]
async fn collapse_on_a_text_field_is_a_clear_error() {
    let server = search_server();
    let (repo, index) = seeded(&server, "collapse-text", 3).await;
    let request = SearchRequest::new().raw("collapse", json!({"field": "title"}));
    let err = repo.search::<Asset>(&index, &request).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    let message = err.to_string();
    assert!(message.contains("title"), "{message}");
    // The typed builder gets the same answer.
    let request = SearchRequest::new().collapse(Collapse::new("title"));
    let err = repo.search::<Asset>(&index, &request).await.unwrap_err();
    assert!(err.to_string().contains("title"), "{err}");
}

/// One hit per kind, each with its best hits by views as typed inner hits.
#[tokio::test]
async fn collapse_returns_one_hit_per_group_with_typed_inner_hits() {
    let server = search_server();
    let (repo, index) = seeded(&server, "collapse", 12).await;
    let request = SearchRequest::new().sort(Sort::asc("kind")).collapse(
        Collapse::new("kind")
            .inner_hits(InnerHits::new("top").size(2).sort(Sort::desc("views")))
            .inner_hits(InnerHits::new("first").size(1).sort(Sort::asc("views")))
            .max_concurrent_group_searches(2),
    );
    let found = repo.search::<Asset>(&index, &request).await.unwrap();
    let keys: Vec<&str> = found
        .hits
        .hits
        .iter()
        .map(|h| h.collapse_key("kind").and_then(|k| k.as_str()).unwrap())
        .collect();
    assert_eq!(keys, ["audio", "image", "video"]);
    for hit in &found.hits.hits {
        let kind = hit.collapse_key("kind").unwrap().as_str().unwrap();
        let top = hit.inner_hits::<Asset>("top").unwrap();
        assert_eq!(top.total.unwrap().value, 4, "{kind}");
        let views: Vec<i64> = top.sources().map(|a| a.views).collect();
        assert_eq!(views.len(), 2);
        assert!(views[0] > views[1], "{views:?}");
        assert!(top.sources().all(|a| a.kind == kind));
        let first = hit.inner_hits::<Asset>("first").unwrap();
        assert_eq!(first.hits.len(), 1);
        // A name that was not requested, and a type the sources do not decode as: errors.
        let err = hit.inner_hits::<Asset>("nope").unwrap_err();
        assert!(err.to_string().contains("top"), "{err}");
        assert!(hit.inner_hits::<Vec<u8>>("top").is_err());
    }
}

/// `post_filter` narrows the hits, not the aggregations (typed form of the raw key).
#[tokio::test]
async fn post_filter_narrows_hits_but_not_aggregations() {
    let server = search_server();
    let (repo, index) = seeded(&server, "post-filter", 12).await;
    let request = SearchRequest::new()
        .size(50)
        .post_filter(Query::term("kind", "video"))
        .agg("kinds", Aggregation::terms("kind"));
    let found = repo.search::<Asset>(&index, &request).await.unwrap();
    assert_eq!(found.hits.hits.len(), 4);
    assert!(found.hits.sources().all(|a| a.kind == "video"));
    let buckets = found.aggregations.terms("kinds").unwrap();
    assert_eq!(buckets.len(), 3);
    assert_eq!(buckets.iter().map(|b| b.doc_count).sum::<u64>(), 12);
}

/// Tags, fragment size, whole-field fragments, the plain highlighter and
/// `require_field_match: false` reach the engine and come back as per-field fragments.
#[tokio::test]
async fn highlight_options_shape_the_fragments() {
    let server = search_server();
    let (repo, index) = seeded_articles(&server, "highlight").await;
    let f = Article::fields();
    let query = Query::matches("title", "rust");
    let request = SearchRequest::new().query(query.clone()).highlight(
        Highlight::new()
            .field("title")
            .field("body")
            .tags("<mark>", "</mark>")
            .highlighter(Highlighter::Plain)
            .number_of_fragments(0),
    );
    let found = repo.search::<Article>(&index, &request).await.unwrap();
    assert_eq!(found.hits.hits.len(), 2);
    for hit in &found.hits.hits {
        let title = hit.fragments_of(&f.title());
        assert_eq!(title.len(), 1);
        assert!(title[0].starts_with("<mark>rust</mark> "), "{title:?}");
        // require_field_match defaults to true: body matched no query clause.
        assert!(hit.fragments("body").is_empty());
    }

    let request = SearchRequest::new().query(query.clone()).highlight(
        Highlight::new()
            .field("title")
            .field_with(
                "body",
                HighlightField::new()
                    .fragment_size(18)
                    .number_of_fragments(1),
            )
            .require_field_match(false)
            .html_encoder(),
    );
    let found = repo.search::<Article>(&index, &request).await.unwrap();
    let tokio = found.hits.hits.iter().find(|h| h.id == "1").unwrap();
    let body = tokio.fragments("body");
    assert_eq!(body.len(), 1, "{body:?}");
    assert!(body[0].contains("<em>rust</em>"), "{body:?}");
    assert!(body[0].len() < "tokio is a rust runtime for async io".len() + 9);

    // no_match_size: a field without matches still returns its start.
    let request = SearchRequest::new()
        .query(query.clone())
        .highlight(Highlight::new().field("body").no_match_size(5));
    let found = repo.search::<Article>(&index, &request).await.unwrap();
    assert!(
        found
            .hits
            .hits
            .iter()
            .all(|h| h.fragments("body").len() == 1)
    );

    // Hostile: the fast vector highlighter on a field without term vectors is refused, with
    // the cause in the message.
    let request = SearchRequest::new().query(query).highlight(
        Highlight::new()
            .field("title")
            .highlighter(Highlighter::FastVector),
    );
    let err = repo.search::<Article>(&index, &request).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("term vector"), "{err}");
}

/// Term, phrase and completion suggesters decode into typed options. (Lucene's suggesters:
/// osmem-server's phrase suggester ranks differently.)
#[tokio::test]
async fn term_phrase_and_completion_suggestions_are_typed() {
    let server = search_server();
    if !server.engine().is_real() {
        return;
    }
    let (repo, index) = seeded_articles(&server, "suggest").await;
    let request = SearchRequest::new()
        .size(0)
        .suggest(
            "spelling",
            Suggester::term("title", "rsut mountian").size(2),
        )
        .suggest(
            "phrase",
            Suggester::phrase("body", "rust runtme").highlight("<b>", "</b>"),
        )
        .suggest(
            "complete",
            Suggester::completion("title_suggest", "ru").skip_duplicates(true),
        )
        .suggest(
            "fuzzy",
            Suggester::completion("title_suggest", "rsu").fuzzy(1),
        );
    let found = repo.search::<Article>(&index, &request).await.unwrap();
    assert!(found.hits.hits.is_empty());

    let spelling = found.suggest.term("spelling").unwrap();
    assert_eq!(spelling.len(), 2);
    assert_eq!((spelling[0].text.as_str(), spelling[0].offset), ("rsut", 0));
    assert_eq!(spelling[0].best().unwrap().text, "rust");
    assert!(spelling[0].best().unwrap().freq >= 2);
    assert_eq!(spelling[1].best().unwrap().text, "mountain");

    let phrase = found.suggest.phrase("phrase").unwrap();
    assert_eq!(phrase.len(), 1);
    let best = phrase[0].best().unwrap();
    assert_eq!(best.text, "rust runtime");
    assert_eq!(best.highlighted.as_deref(), Some("rust <b>runtime</b>"));

    let complete = found.suggest.completion::<Article>("complete").unwrap();
    let mut texts: Vec<&str> = complete[0]
        .options
        .iter()
        .map(|o| o.text.as_str())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "rust async runtime",
            "rust error handling",
            "rusty bicycles"
        ]
    );
    for option in &complete[0].options {
        let source = option.source.as_ref().unwrap();
        assert_eq!(source.id, option.id);
        assert_eq!(option.index, index);
    }
    let fuzzy = found.suggest.completion::<Article>("fuzzy").unwrap();
    assert!(!fuzzy[0].options.is_empty());

    // Decoding under the wrong suggester type or an absent name is an error, not a panic.
    assert!(found.suggest.term("complete").is_err());
    let err = found.suggest.phrase("absent").unwrap_err();
    assert!(err.to_string().contains("spelling"), "{err}");
}

/// Hostile suggesters: a completion on a field that is not a completion field, a term
/// suggester on a missing field.
#[tokio::test]
async fn suggesters_on_wrong_or_missing_fields_fail_clearly() {
    let server = search_server();
    let (repo, index) = seeded_articles(&server, "suggest-bad").await;
    let request = SearchRequest::new()
        .size(0)
        .suggest("c", Suggester::completion("title", "ru"));
    let err = repo.search::<Article>(&index, &request).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("title"), "{err}");

    let request = SearchRequest::new()
        .size(0)
        .suggest("t", Suggester::term("nope", "rust"));
    let err = repo.search::<Article>(&index, &request).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.to_string().contains("field [nope]"), "{err}");
}

/// `match_bool_prefix`: the terms as a bool query, the last one as a prefix.
#[tokio::test]
async fn match_bool_prefix_matches_the_last_term_as_a_prefix() {
    let server = search_server();
    let (repo, index) = seeded_articles(&server, "bool-prefix").await;
    let request =
        SearchRequest::new().query(Query::match_bool_prefix("title", "rust run").operator("and"));
    let found = repo.search::<Article>(&index, &request).await.unwrap();
    let ids: Vec<&str> = found.hits.sources().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["1"]);
    let request = SearchRequest::new().query(Query::match_bool_prefix("title", "rus"));
    let found = repo.search::<Article>(&index, &request).await.unwrap();
    let mut ids: Vec<&str> = found.hits.sources().map(|a| a.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"]);
}
