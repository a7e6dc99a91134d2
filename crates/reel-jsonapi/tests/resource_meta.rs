//! Per-resource `meta` (`#[jsonapi(meta)]`): written into the resource object, primary and
//! included alike, and read back by `from_response`, create and update requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reel_jsonapi::de::{ClientIds, Create, Update, from_response};
use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, collection};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Revision {
    revision: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    editor: Option<String>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "people")]
struct Person {
    #[jsonapi(id)]
    id: u64,
    name: String,
    #[jsonapi(meta)]
    meta: Option<Revision>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "articles")]
struct Article {
    #[jsonapi(id)]
    id: u64,
    title: String,
    #[jsonapi(meta)]
    info: serde_json::Map<String, Value>,
    #[jsonapi(relationship)]
    author: Option<Person>,
}

fn articles() -> Vec<Article> {
    let mut info = serde_json::Map::new();
    info.insert("views".into(), 7.into());
    vec![
        Article {
            id: 1,
            title: "a".into(),
            info,
            author: Some(Person {
                id: 9,
                name: "Dan".into(),
                meta: Some(Revision {
                    revision: 3,
                    editor: Some("x".into()),
                }),
            }),
        },
        Article {
            id: 2,
            title: "b".into(),
            info: serde_json::Map::new(),
            author: Some(Person {
                id: 10,
                name: "Ada".into(),
                meta: None,
            }),
        },
    ]
}

#[test]
fn meta_is_written_and_read_back() {
    let articles = articles();
    let include = IncludeTree::parse("author", Article::meta()).unwrap();
    let json = collection(&articles, &Context::empty())
        .include(&include)
        .to_vec()
        .unwrap();
    let doc: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["data"][0]["meta"], serde_json::json!({"views": 7}));
    assert_eq!(
        doc["included"][0]["meta"],
        serde_json::json!({"revision": 3, "editor": "x"})
    );
    // `None` writes no `meta` member at all.
    assert_eq!(doc["included"][1].get("meta"), None);
    common::assert_conforms(&[String::from_utf8(json.clone()).unwrap()]);
    assert_eq!(from_response::<Article>(&json).unwrap(), articles);
}

#[test]
fn requests_carry_meta_and_updates_keep_it_when_absent() {
    let body = br#"{"data":{"type":"people","attributes":{"name":"Ada"},"meta":{"revision":1}}}"#;
    let create = Create::<Person>::from_slice(body, ClientIds::Forbidden).unwrap();
    assert_eq!(
        create.resource.meta,
        Some(Revision {
            revision: 1,
            editor: None
        })
    );

    let current = Person {
        id: 4,
        name: "Ada".into(),
        meta: Some(Revision {
            revision: 5,
            editor: None,
        }),
    };
    let body = br#"{"data":{"type":"people","id":"4","attributes":{"name":"Ada L."}}}"#;
    let updated = Update::<Person>::from_slice(body, Some("4"))
        .unwrap()
        .apply(current.clone())
        .unwrap();
    assert_eq!(updated.meta, current.meta, "absent meta keeps its value");
    let body = br#"{"data":{"type":"people","id":"4","meta":{"revision":6}}}"#;
    let updated = Update::<Person>::from_slice(body, Some("4"))
        .unwrap()
        .apply(current)
        .unwrap();
    assert_eq!(
        updated.meta,
        Some(Revision {
            revision: 6,
            editor: None
        })
    );

    let body =
        br#"{"data":{"type":"people","attributes":{"name":"Ada"},"meta":{"revision":"one"}}}"#;
    let error = Create::<Person>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data/meta"));
    assert_eq!(error.status(), 422);
}
