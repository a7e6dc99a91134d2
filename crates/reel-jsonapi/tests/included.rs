//! `from_response` builds the typed graph from a compound document: relationships holding full
//! resources are filled from `included`, cycles are cut, missing resources stay out and the
//! depth is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reel_jsonapi::de::{Included, from_response};
use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, collection};

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "people")]
struct Author {
    #[jsonapi(id)]
    id: u64,
    name: String,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "comments")]
struct Note {
    #[jsonapi(id)]
    id: String,
    body: String,
    #[jsonapi(relationship)]
    author: Option<Box<Author>>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "articles")]
struct Story {
    #[jsonapi(id)]
    id: u64,
    title: String,
    #[jsonapi(relationship)]
    author: Option<Author>,
    #[jsonapi(relationship)]
    comments: Vec<Note>,
}

/// A plain (required) related resource: readable from a response that includes it.
#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "reviews")]
struct Review {
    #[jsonapi(id)]
    id: u64,
    #[jsonapi(relationship)]
    reviewer: std::sync::Arc<Author>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "writers")]
struct Writer {
    #[jsonapi(id)]
    id: u64,
    #[jsonapi(relationship)]
    books: Vec<Book>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "books")]
struct Book {
    #[jsonapi(id)]
    id: u64,
    #[jsonapi(relationship)]
    writer: Option<Writer>,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "nodes")]
struct Node {
    #[jsonapi(id)]
    id: u64,
    #[jsonapi(relationship)]
    next: Option<Box<Node>>,
}

fn stories() -> Vec<Story> {
    let ada = Author {
        id: 1,
        name: "Ada".into(),
    };
    let dan = Author {
        id: 2,
        name: "Dan".into(),
    };
    vec![
        Story {
            id: 10,
            title: "a".into(),
            author: Some(ada.clone()),
            comments: vec![
                Note {
                    id: "c1".into(),
                    body: "first".into(),
                    author: Some(Box::new(dan.clone())),
                },
                Note {
                    id: "c2".into(),
                    body: "second".into(),
                    author: None,
                },
            ],
        },
        Story {
            id: 11,
            title: "b".into(),
            author: Some(dan),
            comments: vec![Note {
                id: "c3".into(),
                body: "x".into(),
                author: Some(Box::new(ada)),
            }],
        },
    ]
}

#[test]
fn from_response_fills_relationships_from_included() {
    let stories = stories();
    let include = IncludeTree::parse("author,comments.author", Story::meta()).unwrap();
    let json = collection(&stories, &Context::empty())
        .include(&include)
        .to_vec()
        .unwrap();
    assert_eq!(from_response::<Story>(&json).unwrap(), stories);
}

#[test]
fn from_response_leaves_out_what_was_not_included() {
    let stories = stories();
    // Comments included but not their authors: the comments' authors stay `None`.
    let include = IncludeTree::parse("comments", Story::meta()).unwrap();
    let json = collection(&stories, &Context::empty())
        .include(&include)
        .to_vec()
        .unwrap();
    let read = from_response::<Story>(&json).unwrap();
    assert_eq!(read[0].author, None);
    assert_eq!(read[0].comments.len(), 2);
    assert!(
        read.iter()
            .flat_map(|s| &s.comments)
            .all(|c| c.author.is_none())
    );
    assert_eq!(read[0].comments[0].body, "first");
}

#[test]
fn from_response_reads_a_required_related_resource() {
    let review = Review {
        id: 3,
        reviewer: std::sync::Arc::new(Author {
            id: 1,
            name: "Ada".into(),
        }),
    };
    let include = IncludeTree::parse("reviewer", Review::meta()).unwrap();
    let json = reel_jsonapi::document(&review, &Context::empty())
        .include(&include)
        .to_vec()
        .unwrap();
    assert_eq!(
        from_response::<Review>(&json).unwrap(),
        vec![review.clone()]
    );

    // Without `include` the required resource cannot be filled: an error pointing at it.
    let json = reel_jsonapi::document(&review, &Context::empty())
        .to_vec()
        .unwrap();
    let error = from_response::<Review>(&json).unwrap_err();
    assert_eq!(
        error.errors[0].pointer(),
        Some("/data/relationships/reviewer/data")
    );
}

#[test]
fn cycles_are_cut_where_a_resource_repeats_on_its_own_path() {
    let json = br#"{
        "data": {"type": "writers", "id": "1", "relationships": {"books": {"data": [
            {"type": "books", "id": "7"}, {"type": "books", "id": "8"}]}}},
        "included": [
            {"type": "books", "id": "7", "relationships": {"writer": {"data": {"type": "writers", "id": "1"}}}},
            {"type": "books", "id": "8", "relationships": {"writer": {"data": {"type": "writers", "id": "2"}}}},
            {"type": "writers", "id": "2", "relationships": {"books": {"data": [{"type": "books", "id": "8"}]}}}
        ]}"#;
    let writers = from_response::<Writer>(json).unwrap();
    assert_eq!(
        writers,
        vec![Writer {
            id: 1,
            books: vec![
                // Writer 1 is being built: the back reference is left out.
                Book {
                    id: 7,
                    writer: None
                },
                // Writer 2 is new on this path; its book 8 is the one being built.
                Book {
                    id: 8,
                    writer: Some(Writer {
                        id: 2,
                        books: vec![]
                    })
                },
            ],
        }]
    );
}

#[test]
fn errors_in_included_resources_point_into_included() {
    let json = br#"{
        "data": {"type": "articles", "id": "1", "attributes": {"title": "t"},
                 "relationships": {"author": {"data": {"type": "people", "id": "5"}}}},
        "included": [{"type": "people", "id": "5", "attributes": {"name": 42}}]}"#;
    let error = from_response::<Story>(json).unwrap_err();
    let pointers: Vec<_> = error.errors.iter().filter_map(|e| e.pointer()).collect();
    assert_eq!(pointers, ["/included/0/attributes/name"]);
}

#[test]
fn depth_is_bounded() {
    let count = 200u64;
    let mut included = Vec::new();
    for id in 1..count {
        included.push(format!(
            r#"{{"type":"nodes","id":"{id}","relationships":{{"next":{{"data":{{"type":"nodes","id":"{}"}}}}}}}}"#,
            id + 1
        ));
    }
    included.push(format!(r#"{{"type":"nodes","id":"{count}"}}"#));
    let json = format!(
        r#"{{"data":{{"type":"nodes","id":"0","relationships":{{"next":{{"data":{{"type":"nodes","id":"1"}}}}}}}},"included":[{}]}}"#,
        included.join(",")
    );
    let nodes = from_response::<Node>(json.as_bytes()).unwrap();
    let mut depth = 0;
    let mut node = &nodes[0];
    while let Some(next) = &node.next {
        depth += 1;
        node = next;
    }
    assert_eq!(depth, Included::MAX_DEPTH);
}

#[test]
fn a_diamond_chain_cannot_explode_the_graph() {
    // Level i has two nodes, each pointing at both nodes of level i + 1: 2^30 paths to the
    // bottom. The build stops at its budget with an error instead of running for ever.
    let levels = 30;
    let mut included = Vec::new();
    for level in 1..=levels {
        for side in ["a", "b"] {
            let children = if level == levels {
                String::new()
            } else {
                format!(
                    r#","relationships":{{"children":{{"data":[{{"type":"nodes","id":"{0}a"}},{{"type":"nodes","id":"{0}b"}}]}}}}"#,
                    level + 1
                )
            };
            included.push(format!(
                r#"{{"type":"nodes","id":"{level}{side}"{children}}}"#
            ));
        }
    }
    let json = format!(
        r#"{{"data":{{"type":"nodes","id":"0","relationships":{{"children":{{"data":[{{"type":"nodes","id":"1a"}},{{"type":"nodes","id":"1b"}}]}}}}}},"included":[{}]}}"#,
        included.join(",")
    );
    let error = from_response::<Tree>(json.as_bytes()).unwrap_err();
    assert_eq!(error.errors.len(), 1);
    assert_eq!(error.errors[0].pointer(), Some("/included"));
    assert_eq!(error.status(), 400);
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "nodes")]
struct Tree {
    #[jsonapi(id)]
    id: String,
    #[jsonapi(relationship)]
    children: Vec<Tree>,
}
