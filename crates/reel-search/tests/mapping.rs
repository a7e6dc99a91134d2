//! The JSON that `#[derive(Document)]` generates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use reel_search::{Document, FieldMapping, FieldSet, IndexDefinition, Indexable, Query};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Owner {
    #[search(keyword)]
    name: String,
    #[serde(rename = "mail")]
    #[search(keyword)]
    email: Option<String>,
}

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Comment {
    body: String,
    stars: u8,
}

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[search(
    index = "assets",
    shards = 2,
    replicas = 1,
    dynamic = "strict",
    analysis = r#"{"analyzer": {"folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}}"#,
    settings = r#"{"refresh_interval": "5s"}"#
)]
struct Asset {
    #[search(id, keyword)]
    id: i64,
    #[search(raw, analyzer = "folded", search_analyzer = "standard")]
    title: String,
    #[search(type = "match_only_text")]
    body: String,
    small: i8,
    medium: i16,
    count: i32,
    big: i64,
    unsigned: u64,
    ratio: f32,
    score: f64,
    public: bool,
    ip: IpAddr,
    tags: Vec<String>,
    duration: Option<f32>,
    extra: Value,
    created_at: chrono::DateTime<chrono::Utc>,
    day: chrono::NaiveDate,
    uid: uuid::Uuid,
    price: rust_decimal::Decimal,
    #[search(index = false)]
    thumbnail: String,
    #[serde(rename = "kind_name")]
    #[search(rename = "kind_name", keyword)]
    kind: String,
    #[search(skip)]
    #[serde(skip)]
    cached: Option<String>,
    #[search(object)]
    owner: Owner,
    #[search(nested)]
    comments: Vec<Comment>,
    #[search(mapping = r#"{"type": "geo_point"}"#)]
    location: String,
}

#[test]
fn infers_types_and_applies_overrides() {
    let body = Asset::definition().body();
    let props = &body["mappings"]["properties"];
    let expect = json!({
        "id": {"type": "keyword"},
        "title": {"type": "text", "analyzer": "folded", "search_analyzer": "standard", "fields": {"raw": {"type": "keyword", "ignore_above": 8191}}},
        "body": {"type": "match_only_text"},
        "small": {"type": "byte"},
        "medium": {"type": "short"},
        "count": {"type": "integer"},
        "big": {"type": "long"},
        "unsigned": {"type": "unsigned_long"},
        "ratio": {"type": "float"},
        "score": {"type": "double"},
        "public": {"type": "boolean"},
        "ip": {"type": "ip"},
        "tags": {"type": "text"},
        "duration": {"type": "float"},
        "extra": {"type": "object", "enabled": false},
        "created_at": {"type": "date"},
        "day": {"type": "date", "format": "strict_date"},
        "uid": {"type": "keyword"},
        "price": {"type": "double"},
        "thumbnail": {"type": "text", "index": false},
        "kind_name": {"type": "keyword"},
        "owner": {"type": "object", "properties": {"name": {"type": "keyword"}, "mail": {"type": "keyword"}}},
        "comments": {"type": "nested", "properties": {"body": {"type": "text"}, "stars": {"type": "short"}}},
        "location": {"type": "geo_point"},
    });
    assert_eq!(props, &expect);
    assert_eq!(body["mappings"]["dynamic"], "strict");
    assert_eq!(
        body["settings"],
        json!({
            "refresh_interval": "5s",
            "number_of_shards": 2,
            "number_of_replicas": 1,
            "analysis": {"analyzer": {"folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}}
        })
    );
    assert_eq!(Asset::INDEX, "assets");
    let fingerprint = Asset::definition().fingerprint();
    assert_eq!(
        body["mappings"]["_meta"]["reel_fingerprint"],
        Value::from(fingerprint.clone())
    );
    assert_eq!(fingerprint.len(), 64);
}

#[test]
fn fingerprint_changes_with_the_definition_only() {
    let a = Asset::definition();
    assert_eq!(a.fingerprint(), Asset::definition().fingerprint());
    let b = a.clone().with_setting("refresh_interval", "1s");
    assert_ne!(a.fingerprint(), b.fingerprint());
    // The name is not part of the fingerprint: versions of one index share it.
    assert_eq!(
        a.fingerprint(),
        a.clone().with_name("assets_v2").fingerprint()
    );
}

#[test]
fn typed_field_paths_follow_renames_and_nesting() {
    let f = Asset::fields();
    assert_eq!(f.title().path(), "title");
    assert_eq!(f.title_raw().path(), "title.raw");
    assert_eq!(f.kind().path(), "kind_name");
    assert_eq!(f.owner().email().path(), "owner.mail");
    assert_eq!(f.comments().stars().path(), "comments.stars");
    assert_eq!(f.owner().prefix(), "owner");
    // Typed values: `big` is i64, so `term(5)` is i64 and a range takes i64 bounds.
    let q: Query = f.big().range().gte(5).lt(10).into();
    assert_eq!(
        q.to_value(),
        json!({"range": {"big": {"gte": 5, "lt": 10}}})
    );
    // `tags` is analysed text: `f.tags().term("x")` does not compile (see the crate docs);
    // a keyword path takes it.
    let q: Query = f.kind().term("x").into();
    assert_eq!(q.to_value(), json!({"term": {"kind_name": {"value": "x"}}}));
}

#[test]
fn indexable_uses_the_id_field_and_serde_body() {
    let asset = Asset {
        id: 42,
        title: "t".into(),
        body: "b".into(),
        small: 1,
        medium: 2,
        count: 3,
        big: 4,
        unsigned: 5,
        ratio: 0.5,
        score: 1.5,
        public: true,
        ip: "10.0.0.1".parse().unwrap(),
        tags: vec!["a".into()],
        duration: None,
        extra: json!({"k": 1}),
        created_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
        day: chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
        uid: uuid::Uuid::nil(),
        price: rust_decimal::Decimal::new(1234, 2),
        thumbnail: "x.png".into(),
        kind: "video".into(),
        cached: Some("never sent".into()),
        owner: Owner {
            name: "o".into(),
            email: None,
        },
        comments: vec![],
        location: "1,2".into(),
    };
    assert_eq!(asset.document_id(), "42");
    let body = asset.document_body().unwrap();
    assert_eq!(body["owner"]["mail"], Value::Null);
    assert!(body.get("cached").is_none());
    assert_eq!(body["day"], "2024-01-02");
}

#[derive(Document, Serialize)]
#[serde(rename_all = "camelCase")]
struct Camel {
    created_by: String,
    #[serde(rename = "X")]
    renamed: bool,
}

#[test]
fn follows_serde_rename_all() {
    let props = Camel::properties();
    assert!(props.contains_key("createdBy"), "{props:?}");
    assert!(props.contains_key("X"));
    assert_eq!(Camel::INDEX, "camel");
    assert_eq!(Camel::fields().created_by().path(), "createdBy");
}

#[test]
fn field_mapping_is_open_to_user_types() {
    struct Point;
    impl FieldMapping for Point {
        type Scalar = Point;
        fn field_mapping() -> Value {
            json!({"type": "geo_point"})
        }
    }
    assert_eq!(
        <Vec<Option<Point>>>::field_mapping(),
        json!({"type": "geo_point"})
    );
    let def = IndexDefinition::new("x", json!({}), json!({"properties": {}}));
    assert_eq!(def.body()["settings"], json!({}));
}

/// Fields named like the generated path struct's own members.
#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct StoredFile {
    path: String,
    prefix: String,
    with_prefix: String,
    #[search(object)]
    parent: Folder,
}

#[derive(Document, Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Folder {
    path: String,
}

#[test]
fn fields_named_path_or_prefix_have_their_own_paths() {
    let f = StoredFile::fields();
    assert_eq!(f.path().path(), "path");
    assert_eq!(f.prefix().path(), "prefix");
    assert_eq!(f.with_prefix().path(), "with_prefix");
    assert_eq!(f.parent().path().path(), "parent.path");
    assert_eq!(FieldSet::prefix(&f.parent()), "parent");
    let body = StoredFile::definition().body();
    let parent = &body["mappings"]["properties"]["parent"];
    assert_eq!(parent["properties"]["path"]["type"], "text");
}
