//! Date fields on the real engine: whatever serde writes for a date (`chrono`, `time`, with or
//! without `#[serde(with = "..")]`), the mapping must parse it as that instant, so a range
//! query finds it. A mapping that reads epoch seconds as milliseconds, or a `time` tuple as
//! 1970, fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use reel_search::{Document, Indexable, Query, SearchRequest, Sort};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "dates", shards = 1, replicas = 0, dynamic = "strict")]
struct Dated {
    #[search(id, keyword)]
    id: String,
    when: DateTime<Utc>,
    naive: NaiveDateTime,
    day: NaiveDate,
    #[serde(with = "chrono::serde::ts_seconds")]
    secs: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_milliseconds")]
    millis: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_seconds_option")]
    maybe_secs: Option<DateTime<Utc>>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    maybe_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::timestamp")]
    stamp: OffsetDateTime,
    #[serde(with = "time::serde::timestamp::milliseconds")]
    stamp_ms: OffsetDateTime,
}

/// 2023-11-14T22:13:20Z plus `i` days (and some milliseconds where the format keeps them).
fn dated(i: i64) -> Dated {
    let secs = 1_700_000_000 + i * 86_400;
    let chrono_at = DateTime::from_timestamp(secs, 0).unwrap();
    let chrono_ms = DateTime::from_timestamp_millis(secs * 1000 + 250).unwrap();
    let time_at = OffsetDateTime::from_unix_timestamp(secs).unwrap();
    let time_ms =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs * 1000 + 250) * 1_000_000)
            .unwrap();
    Dated {
        id: format!("d{i}"),
        when: chrono_ms,
        naive: chrono_ms.naive_utc(),
        day: chrono_at.date_naive(),
        secs: chrono_at,
        millis: chrono_ms,
        maybe_secs: Some(chrono_at),
        at: time_ms,
        maybe_at: (i != 1).then_some(time_ms),
        stamp: time_at,
        stamp_ms: time_ms,
    }
}

async fn ids(
    repo: &reel_search::Repo,
    index: &str,
    query: impl Into<Query>,
    sort: Sort,
) -> Vec<String> {
    let r = repo
        .search::<Dated>(index, &SearchRequest::new().query(query).sort(sort))
        .await
        .unwrap();
    r.hits.hits.into_iter().map(|h| h.id).collect()
}

#[tokio::test]
async fn every_date_representation_is_the_instant_serde_wrote() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("dates");
    repo.create_index(&index, &Dated::definition())
        .await
        .unwrap();
    let docs: Vec<Dated> = (0..3).map(dated).collect();
    for doc in &docs {
        repo.index(&index, doc)
            .await
            .unwrap_or_else(|e| panic!("indexing {doc:?} failed: {e}"));
    }
    repo.refresh(&index).await.unwrap();
    for doc in &docs {
        let back: Dated = repo.get(&index, &doc.document_id()).await.unwrap().unwrap();
        assert_eq!(&back, doc);
    }
    let f = Dated::fields();
    // The first document is on 2023-11-14, the others on the 15th and 16th.
    for path in [
        f.when().path().to_owned(),
        f.naive().path().to_owned(),
        f.day().path().to_owned(),
        f.secs().path().to_owned(),
        f.millis().path().to_owned(),
        f.maybe_secs().path().to_owned(),
        f.at().path().to_owned(),
        f.stamp().path().to_owned(),
        f.stamp_ms().path().to_owned(),
    ] {
        let found = ids(
            &repo,
            &index,
            Query::range(&path).gte("2023-11-15").lt("2023-11-17"),
            Sort::desc(&path),
        )
        .await;
        assert_eq!(found, ["d2", "d1"], "range and sort on `{path}`");
    }
    let found = ids(
        &repo,
        &index,
        Query::range(f.maybe_at().path()).gte("2023-11-14T22:13:20.250Z"),
        Sort::asc("id"),
    )
    .await;
    assert_eq!(found, ["d0", "d2"], "optional rfc3339 keeps milliseconds");
    // Typed paths take what serde writes: epoch seconds and milliseconds as numbers, RFC 3339
    // as a string.
    let day2: i64 = 1_700_000_000 + 2 * 86_400;
    for query in [
        Query::from(f.secs().range().gte(day2)),
        Query::from(f.maybe_secs().range().gte(day2)),
        Query::from(f.stamp().range().gte(day2)),
        Query::from(f.millis().range().gte(day2 * 1000 + 250)),
        Query::from(f.stamp_ms().range().gte(day2 * 1000 + 250)),
        Query::from(f.at().range().gte("2023-11-16T22:13:20.250Z")),
    ] {
        assert_eq!(
            ids(&repo, &index, query.clone(), Sort::asc("id")).await,
            ["d2"],
            "{query:?}"
        );
    }
}
