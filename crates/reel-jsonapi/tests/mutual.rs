//! Resources that refer to each other (author ↔ books) include each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, document};

#[derive(Resource, Clone)]
#[jsonapi(type = "writers")]
struct Writer {
    #[jsonapi(id)]
    id: u32,
    name: String,
    #[jsonapi(relationship)]
    books: Vec<Book>,
}

#[derive(Resource, Clone)]
#[jsonapi(type = "books")]
struct Book {
    #[jsonapi(id)]
    id: u32,
    title: String,
    #[jsonapi(relationship)]
    writer: Option<Box<Writer>>,
}

#[test]
fn mutually_related_resources_include_each_other() {
    let ursula = Writer {
        id: 1,
        name: "Ursula".into(),
        books: vec![],
    };
    let book = Book {
        id: 7,
        title: "The Dispossessed".into(),
        writer: Some(Box::new(ursula.clone())),
    };
    let writer = Writer {
        id: 1,
        name: "Ursula".into(),
        books: vec![book],
    };
    let include = IncludeTree::parse("books.writer", Writer::meta()).unwrap();
    let json = document(&writer, &Context::empty())
        .include(&include)
        .to_string()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    // The book is included; its writer is the primary resource and is not repeated.
    assert_eq!(doc["included"].as_array().unwrap().len(), 1);
    assert_eq!(doc["included"][0]["type"], "books");
}
