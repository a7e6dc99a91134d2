//! Generated mappings meet the real engine: every document is indexed under
//! `dynamic = "strict"`, read back and queried, so a mapping that disagrees with what serde
//! writes fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reel_search::{Document, Query, SearchRequest, Sort};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "named", shards = 1, replicas = 0, dynamic = "strict")]
#[serde(rename_all(serialize = "camelCase", deserialize = "camelCase"))]
struct Named {
    #[search(id, keyword)]
    doc_id: String,
    #[serde(rename(serialize = "heading", deserialize = "heading"))]
    title: String,
    #[serde(rename = "viewCount")]
    #[search(rename = "viewCount")]
    views: i64,
    created_by: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Video,
    Image,
}

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "builtins", shards = 1, replicas = 0, dynamic = "strict")]
struct Builtins {
    #[search(id, keyword)]
    id: String,
    #[search(keyword)]
    kind: Kind,
    at: std::time::SystemTime,
    when: chrono::DateTime<chrono::Utc>,
    day: chrono::NaiveDate,
    extra: Value,
    ip: std::net::IpAddr,
    count: u64,
    ratio: f32,
    #[search(raw)]
    title: String,
}

async fn index_and_read_back<D>(
    server: &reel_testkit::Search,
    name: &str,
    docs: &[D],
) -> (reel_search::Repo, String)
where
    D: Document
        + reel_search::Indexable
        + Serialize
        + serde::de::DeserializeOwned
        + PartialEq
        + std::fmt::Debug,
{
    let repo = common::repo(server);
    let index = server.index(name);
    repo.create_index(&index, &D::definition()).await.unwrap();
    for doc in docs {
        repo.index(&index, doc)
            .await
            .unwrap_or_else(|e| panic!("{name}: indexing {doc:?} failed: {e}"));
    }
    repo.refresh(&index).await.unwrap();
    for doc in docs {
        let back: D = repo.get(&index, &doc.document_id()).await.unwrap().unwrap();
        assert_eq!(&back, doc);
    }
    (repo, index)
}

#[tokio::test]
async fn serde_names_and_mapping_names_agree() {
    let server = common::search_server();
    let doc = Named {
        doc_id: "n1".into(),
        title: "a beach".into(),
        views: 3,
        created_by: Some("ann".into()),
    };
    let (repo, index) = index_and_read_back(&server, "named", std::slice::from_ref(&doc)).await;
    let f = Named::fields();
    assert_eq!(f.title().path(), "heading");
    assert_eq!(f.created_by().path(), "createdBy");
    let found = repo
        .search::<Named>(
            &index,
            &SearchRequest::new().query(
                Query::bool()
                    .must(f.title().matches("beach"))
                    .filter(f.views().range().gte(3))
                    .filter(Query::term(f.created_by().path(), "ann")),
            ),
        )
        .await
        .unwrap();
    assert_eq!(found.hits.hits.len(), 1);
}

fn builtins(i: u32) -> Builtins {
    Builtins {
        id: format!("b{i}"),
        kind: if i.is_multiple_of(2) {
            Kind::Video
        } else {
            Kind::Image
        },
        at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + u64::from(i)),
        when: chrono::DateTime::from_timestamp(1_700_000_000 + i64::from(i) * 86_400, 0).unwrap(),
        day: chrono::NaiveDate::from_ymd_opt(2024, 1, 1 + i).unwrap(),
        extra: match i {
            0 => json!("a string"),
            1 => json!(42),
            _ => json!({"nested": [1, 2, {"deep": true}]}),
        },
        ip: std::net::IpAddr::from([10, 0, 0, i as u8]),
        // Near the top of u64, a million apart (values 1 apart tied in OpenSearch 2.19.6 sorts).
        count: u64::MAX - u64::from(i) * 1_000_000,
        ratio: i as f32 / 2.0,
        title: if i == 2 {
            // Over Lucene's 32,766-byte term limit: the raw keyword must skip it, not reject
            // the document.
            "x".repeat(40_000)
        } else {
            format!("title {i}")
        },
    }
}

#[tokio::test]
async fn every_builtin_mapping_indexes_reads_back_and_queries() {
    let server = common::search_server();
    let docs: Vec<Builtins> = (0..3).map(builtins).collect();
    let (repo, index) = index_and_read_back(&server, "builtins", &docs).await;
    let f = Builtins::fields();
    let ids = |r: reel_search::SearchResponse<Builtins>| -> Vec<String> {
        r.hits.hits.into_iter().map(|h| h.id).collect()
    };
    // keyword enum: typed term with the enum itself
    let r = repo
        .search::<Builtins>(
            &index,
            &SearchRequest::new()
                .query(f.kind().term(Kind::Video))
                .sort(Sort::asc("id")),
        )
        .await
        .unwrap();
    assert_eq!(ids(r), ["b0", "b2"]);
    // date range on chrono
    let r = repo
        .search::<Builtins>(
            &index,
            &SearchRequest::new()
                .query(Query::range("when").gte("2023-11-15T22:13:20Z"))
                .sort(f.when().desc()),
        )
        .await
        .unwrap();
    assert_eq!(ids(r), ["b2", "b1"]);
    // sort on numbers, including unsigned_long near its top
    let r = repo
        .search::<Builtins>(&index, &SearchRequest::new().sort(f.count().asc()))
        .await
        .unwrap();
    assert_eq!(ids(r), ["b2", "b1", "b0"]);
    // term on the raw keyword
    let r = repo
        .search::<Builtins>(
            &index,
            &SearchRequest::new().query(f.title_raw().term("title 1")),
        )
        .await
        .unwrap();
    assert_eq!(ids(r), ["b1"]);
    // SystemTime as serde writes it
    let r = repo
        .search::<Builtins>(
            &index,
            &SearchRequest::new().query(Query::range("at.secs_since_epoch").gte(1_700_000_001)),
        )
        .await
        .unwrap();
    assert_eq!(r.hits.hits.len(), 2);
}

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(index = "scalars", shards = 1, replicas = 0, dynamic = "strict")]
struct Scalars {
    #[search(id, keyword)]
    id: String,
    tiny: i8,
    small: i16,
    int: i32,
    byte: u8,
    word: u16,
    dword: u32,
    size: isize,
    usize: usize,
    double: f64,
    flag: bool,
    letter: char,
    v4: std::net::Ipv4Addr,
    v6: std::net::Ipv6Addr,
    uuid: uuid::Uuid,
    price: rust_decimal::Decimal,
    naive: chrono::NaiveDateTime,
    tags: Vec<String>,
}

fn scalars(i: u8) -> Scalars {
    let n = i64::from(i);
    Scalars {
        id: format!("s{i}"),
        tiny: -100 + i as i8 * 50,
        small: -30_000 + i16::from(i) * 15_000,
        int: -2_000_000_000 + i32::from(i) * 1_000_000_000,
        byte: 200 + i * 20,
        word: 60_000 + u16::from(i) * 2_000,
        dword: 4_000_000_000 + u32::from(i) * 100_000_000,
        size: -(n as isize) * 1_000,
        usize: usize::from(i) * 1_000,
        double: 0.5 + f64::from(i) * 1e10,
        flag: i == 1,
        letter: char::from(b'a' + i),
        v4: std::net::Ipv4Addr::new(192, 168, 1, 10 + i),
        v6: std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i)),
        uuid: uuid::Uuid::from_u128(u128::from(i) << 64 | 7),
        price: rust_decimal::Decimal::new(1999 + n * 1000, 2),
        naive: chrono::DateTime::from_timestamp(1_700_000_000 + n * 86_400, 0)
            .unwrap()
            .naive_utc(),
        tags: vec![format!("tag {i}")],
    }
}

/// The remaining built-in mappings: every number sorts numerically at the edges of its range,
/// and booleans, chars, addresses and UUIDs match a typed term.
#[tokio::test]
async fn every_scalar_mapping_sorts_and_matches() {
    let server = common::search_server();
    let docs: Vec<Scalars> = (0..3).map(scalars).collect();
    let (repo, index) = index_and_read_back(&server, "scalars", &docs).await;
    let f = Scalars::fields();
    let ids = |r: reel_search::SearchResponse<Scalars>| -> Vec<String> {
        r.hits.hits.into_iter().map(|h| h.id).collect()
    };
    for sort in [
        f.tiny().desc(),
        f.small().desc(),
        f.int().desc(),
        f.byte().desc(),
        f.word().desc(),
        f.dword().desc(),
        f.size().asc(),
        f.usize().desc(),
        f.double().desc(),
        f.price().desc(),
        f.naive().desc(),
    ] {
        let r = repo
            .search::<Scalars>(&index, &SearchRequest::new().sort(sort.clone()))
            .await
            .unwrap();
        assert_eq!(ids(r), ["s2", "s1", "s0"], "{sort:?}");
    }
    let one = scalars(1);
    for query in [
        Query::from(f.flag().term(true)),
        Query::from(f.letter().term('b')),
        Query::from(f.v4().term(one.v4)),
        Query::from(f.v6().term(one.v6)),
        Query::from(f.uuid().term(one.uuid)),
        Query::from(f.price().range().gte(one.price).lt(scalars(2).price)),
        Query::from(Query::term("v4", "192.168.1.11/32")),
    ] {
        let r = repo
            .search::<Scalars>(&index, &SearchRequest::new().query(query.clone()))
            .await
            .unwrap();
        assert_eq!(ids(r), ["s1"], "{query:?}");
    }
}
