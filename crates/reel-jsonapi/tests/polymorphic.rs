//! Polymorphic relationships: an enum of resources as the target of to-one and to-many
//! relationships — written with each value's own type, included, type-checked in requests and
//! read back from `included`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reel_jsonapi::de::{ClientIds, Create, from_response};
use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, collection};
use serde_json::Value;

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "images")]
struct Image {
    #[jsonapi(id)]
    id: u64,
    url: String,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "videos")]
struct Video {
    #[jsonapi(id)]
    id: u64,
    seconds: u32,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "attachments")]
enum Attachment {
    Image(Image),
    Video(Box<Video>),
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "posts")]
struct Post {
    #[jsonapi(id)]
    id: u64,
    title: String,
    #[jsonapi(relationship)]
    cover: Option<Attachment>,
    #[jsonapi(relationship)]
    attachments: Vec<Attachment>,
}

fn posts() -> Vec<Post> {
    let image = Attachment::Image(Image {
        id: 1,
        url: "/a.png".into(),
    });
    let video = Attachment::Video(Box::new(Video { id: 1, seconds: 30 }));
    vec![
        Post {
            id: 7,
            title: "a".into(),
            cover: Some(image.clone()),
            attachments: vec![image, video.clone()],
        },
        Post {
            id: 8,
            title: "b".into(),
            cover: Some(video),
            attachments: vec![],
        },
    ]
}

#[test]
fn each_value_is_written_with_its_own_type_and_read_back() {
    let posts = posts();
    let include = IncludeTree::parse("cover,attachments", Post::meta()).unwrap();
    let json = collection(&posts, &Context::empty())
        .include(&include)
        .to_vec()
        .unwrap();
    let doc: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        doc["data"][0]["relationships"]["cover"]["data"],
        serde_json::json!({"type": "images", "id": "1"})
    );
    assert_eq!(
        doc["data"][0]["relationships"]["attachments"]["data"],
        serde_json::json!([{"type": "images", "id": "1"}, {"type": "videos", "id": "1"}])
    );
    // Same id, different types: two included resources, each once.
    let included: Vec<(String, String)> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        included,
        [("images".into(), "1".into()), ("videos".into(), "1".into())]
    );
    common::assert_conforms(&[String::from_utf8(json.clone()).unwrap()]);
    assert_eq!(from_response::<Post>(&json).unwrap(), posts);
}

#[test]
fn requests_accept_any_variant_type_and_nothing_else() {
    let body = br#"{"data":{"type":"posts","attributes":{"title":"x"},"relationships":{
        "cover":{"data":{"type":"videos","id":"3"}},
        "attachments":{"data":[{"type":"images","id":"1"},{"type":"people","id":"2"}]}}}}"#;
    let error = Create::<Post>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    let pointers: Vec<_> = error.errors.iter().filter_map(|e| e.pointer()).collect();
    assert_eq!(pointers, ["/data/relationships/attachments/data/1/type"]);
    assert_eq!(error.status(), 409);
    // Reading an included resource of a type no variant has is a 409 too.
    let json = br#"{"data":{"type":"posts","id":"1","attributes":{"title":"x"},
        "relationships":{"cover":{"data":{"type":"images","id":"5"}}}},
        "included":[{"type":"images","id":"5","attributes":{"url":"/u"}}]}"#;
    let read = from_response::<Post>(json).unwrap();
    assert_eq!(
        read[0].cover,
        Some(Attachment::Image(Image {
            id: 5,
            url: "/u".into()
        }))
    );
    // Include paths stop at the polymorphic target.
    assert!(IncludeTree::parse("attachments.url", Post::meta()).is_err());
}
