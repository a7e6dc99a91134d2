//! Issue 18: requests and responses read the way the JSON:API 1.1 text says — writes that never
//! lose data, reel reading its own valid output, links that survive a round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reel_jsonapi::de::{ClientIds, Create, Update, from_response};
use reel_jsonapi::validate::{DocumentKind, validate_slice};
use reel_jsonapi::{Context, Document, Fieldsets, IncludeTree, ResourceType, collection};

fn pointers(errors: &reel_jsonapi::ErrorDocument) -> Vec<&str> {
    errors.errors.iter().filter_map(|e| e.pointer()).collect()
}

#[test]
fn a_request_relationship_without_data_is_refused() {
    let body = br#"{"data":{"type":"posts","id":"1","relationships":{"tags":{"meta":{}}}}}"#;
    let error = Update::<Post>::from_slice(body, Some("1")).unwrap_err();
    assert_eq!(pointers(&error), ["/data/relationships/tags"]);
    let body = br#"{"data":{"type":"posts","attributes":{"title":"x","labels":[]},"relationships":{"author":{"data":{"type":"people","id":"9"}},"tags":{"links":{"related":"/x"}}}}}"#;
    let error = Create::<Post>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    assert_eq!(pointers(&error), ["/data/relationships/tags"]);
    // The linter agrees, for both kinds.
    let errors = validate_slice(
        br#"{"data":{"type":"posts","id":"1","relationships":{"tags":{"meta":{}}}}}"#,
        DocumentKind::Update,
    );
    assert_eq!(errors.len(), 1);
    // Responses may still carry relationships with only links or meta.
    assert!(
        validate_slice(
            br#"{"data":{"type":"posts","id":"1","relationships":{"tags":{"meta":{"count":2}}}}}"#,
            DocumentKind::Response
        )
        .is_empty()
    );
}

#[test]
fn included_resources_that_identify_each_other_have_full_linkage() {
    // JSON:API 1.1: an included resource must be identified somewhere in the document, not
    // necessarily reachable from primary data.
    let doc = br#"{"data":[],"included":[
        {"type":"people","id":"1","relationships":{"friend":{"data":{"type":"people","id":"2"}}}},
        {"type":"people","id":"2","relationships":{"friend":{"data":{"type":"people","id":"1"}}}}
    ]}"#;
    let errors = validate_slice(doc, DocumentKind::Response);
    assert!(errors.is_empty(), "{errors:?}");
    // A resource nobody names is still a violation for the strict linter.
    let doc = br#"{"data":[],"included":[{"type":"people","id":"1"}]}"#;
    assert_eq!(validate_slice(doc, DocumentKind::Response).len(), 1);
}

#[test]
fn reel_reads_its_own_sparse_compound_output() {
    let articles = articles();
    let include = IncludeTree::parse("author", Article::meta()).unwrap();
    let fields = Fieldsets::all().with("articles", &["title"]);
    let json = collection(&articles, &Context::new(Viewer::default()))
        .include(&include)
        .fields(&fields)
        .to_vec()
        .unwrap();
    let document = Document::parse(&json).expect("Document::parse accepts reel's output");
    assert_eq!(document.included.map(|i| i.len()), Some(1));

    // A typed client reads the same document (attributes are all optional when sparse).
    #[derive(reel_jsonapi::Resource, Debug)]
    #[jsonapi(type = "articles")]
    struct Headline {
        #[jsonapi(id)]
        id: u64,
        title: String,
    }
    let headlines = from_response::<Headline>(&json).expect("from_response accepts it");
    assert_eq!(headlines.len(), 2);
    assert_eq!(headlines[1].title, "Rails is Omakase");
    assert_eq!(headlines[0].id, 1);
}

#[test]
fn cursors_and_ids_are_percent_encoded_in_links() {
    use reel_jsonapi::Page;
    use reel_jsonapi::query::{Query, QueryRules, percent_decode};

    let cursor = "a+b/c=";
    let links = Page::Cursor {
        size: 10,
        next: Some(cursor.into()),
        prev: Some("x y&z".into()),
    }
    .links("https://api.example.com/posts");
    let next = &links.iter().find(|(n, _)| *n == "next").unwrap().1;
    assert_eq!(
        next,
        "https://api.example.com/posts?page%5Bsize%5D=10&page%5Bafter%5D=a%2Bb%2Fc%3D"
    );
    // The link's query reads back to the same cursor.
    let rules = QueryRules::for_resource::<Post>().page(&["size", "after", "before"]);
    for (name, url) in &links {
        let query = Query::parse(url.split_once('?').unwrap().1, &rules).unwrap();
        match *name {
            "next" => assert_eq!(query.page["after"], cursor),
            "prev" => assert_eq!(query.page["before"], "x y&z"),
            _ => {}
        }
    }
    assert_eq!(percent_decode("a%2Bb%2Fc%3D"), cursor);

    // Ids are encoded as one path segment in self and relationship links.
    #[derive(reel_jsonapi::Resource, Debug)]
    #[jsonapi(type = "files")]
    struct File {
        #[jsonapi(id)]
        id: String,
        #[jsonapi(relationship, type = "people")]
        owner: Option<u64>,
    }
    let file = File {
        id: "a/b c?d".into(),
        owner: None,
    };
    let context = Context::empty().with_base_url("https://api.example.com");
    let json: serde_json::Value =
        serde_json::from_slice(&reel_jsonapi::document(&file, &context).to_vec().unwrap()).unwrap();
    assert_eq!(
        json["data"]["links"]["self"],
        "https://api.example.com/files/a%2Fb%20c%3Fd"
    );
    assert_eq!(
        json["data"]["relationships"]["owner"]["links"]["related"],
        "https://api.example.com/files/a%2Fb%20c%3Fd/owner"
    );
    assert_eq!(json["data"]["id"], "a/b c?d");
}

#[test]
fn linkage_of_resource_relationships_is_type_checked() {
    // `Comment.author` holds a full `Person`: a request names it by identifier only, and a
    // wrong type or shape is an error, not silently dropped.
    let body = br#"{"data":{"type":"comments","attributes":{"body":"hi"},"relationships":{"author":{"data":{"type":"cats","id":"1"}}}}}"#;
    let error = Create::<Comment>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    assert_eq!(pointers(&error), ["/data/relationships/author/data/type"]);
    assert_eq!(error.status(), 409);
    let body = br#"{"data":{"type":"comments","attributes":{"body":"hi"},"relationships":{"author":{"data":[{"type":"people","id":"1"}]}}}}"#;
    let error = Create::<Comment>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    assert_eq!(pointers(&error), ["/data/relationships/author/data"]);
    let body = br#"{"data":{"type":"comments","attributes":{"body":"hi"},"relationships":{"author":{"data":{"type":"people","id":"1"}}}}}"#;
    assert!(Create::<Comment>::from_slice(body, ClientIds::Forbidden).is_ok());
}

#[test]
fn updates_are_partial_and_tell_missing_from_null() {
    let current = Post {
        id: 4,
        title: "Old".into(),
        rating: Some(3),
        labels: vec!["a".into()],
        author: 2,
        editor_id: Some(7),
        tags: vec!["t1".into()],
    };
    // Only `rating` (to null) and `tags` are sent: the required `title`, `labels` and `author`
    // and the to-many `tags`' neighbours keep their values.
    let body = br#"{"data":{"type":"posts","id":"4","attributes":{"rating":null},"relationships":{"tags":{"data":[{"type":"tags","id":"t2"}]}}}}"#;
    let update = Update::<Post>::from_slice(body, Some("4")).unwrap();
    let updated = update.apply(current.clone()).unwrap();
    assert_eq!(
        updated,
        Post {
            rating: None,
            tags: vec!["t2".into()],
            ..current.clone()
        }
    );
    // An empty update changes nothing; a to-many left out is not emptied.
    let body = br#"{"data":{"type":"posts","id":"4"}}"#;
    let update = Update::<Post>::from_slice(body, Some("4")).unwrap();
    assert_eq!(update.apply(current.clone()).unwrap(), current);
    // Wrong values still point at themselves.
    let body = br#"{"data":{"type":"posts","id":"4","attributes":{"title":7,"nope":1}}}"#;
    let update = Update::<Post>::from_slice(body, Some("4")).unwrap();
    let error = update.apply(current).unwrap_err();
    assert_eq!(
        pointers(&error),
        ["/data/attributes/title", "/data/attributes/nope"]
    );
}

#[test]
fn attribute_values_are_the_applications_but_may_not_nest_links_or_relationships() {
    // A user map with keys like "a.b" is written by reel and must read back.
    let doc = br#"{"data":{"type":"people","id":"1","attributes":{"scores":{"a.b":1,"x+y":[{"@c d":2}]}},"meta":{"by.host":{"e/f":1}}}}"#;
    let errors = validate_slice(doc, DocumentKind::Response);
    assert!(errors.is_empty(), "{errors:?}");
    // Nested `links` / `relationships` in an attribute value are reserved by the spec.
    let doc = br#"{"data":{"type":"people","id":"1","attributes":{"address":{"links":{"self":"x"}},"tags":[{"relationships":{}}]}}}"#;
    let pointers: Vec<String> = validate_slice(doc, DocumentKind::Response)
        .iter()
        .filter_map(|e| e.pointer().map(str::to_owned))
        .collect();
    assert_eq!(
        pointers,
        [
            "/data/attributes/address/links",
            "/data/attributes/tags/0/relationships"
        ]
    );
}

#[test]
fn numeric_and_text_ids_deduplicate_alike() {
    // Person 9 reached with a u64 id and through a string-id type writing "9" are the same
    // resource identity `("people", "9")` and must appear in `included` once.
    #[derive(reel_jsonapi::Resource, Debug)]
    #[jsonapi(type = "people")]
    struct TextPerson {
        #[jsonapi(id)]
        id: String,
        name: String,
    }
    #[derive(reel_jsonapi::Resource, Debug)]
    #[jsonapi(type = "notes")]
    struct Note {
        #[jsonapi(id)]
        id: u32,
        #[jsonapi(relationship)]
        author: Option<Person>,
        #[jsonapi(relationship)]
        editor: Option<TextPerson>,
    }
    let note = Note {
        id: 1,
        author: Some(dan()),
        editor: Some(TextPerson {
            id: "9".into(),
            name: "Dan".into(),
        }),
    };
    let include = IncludeTree::parse("author,editor", Note::meta()).unwrap();
    let json = reel_jsonapi::document(&note, &Context::empty())
        .include(&include)
        .to_vec()
        .unwrap();
    let errors = validate_slice(&json, DocumentKind::Response);
    assert!(errors.is_empty(), "{errors:?}");
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["included"].as_array().unwrap().len(), 1);
}

mod shared_graph {
    use std::cell::Cell;
    use std::sync::Arc;

    use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, document};

    /// Counts how often the serializer looks at a `next` relationship.
    #[derive(Debug, Default)]
    struct Counter(Cell<usize>);

    #[derive(Resource, Debug)]
    #[jsonapi(type = "nodes", context = Counter)]
    struct Node {
        #[jsonapi(id)]
        id: u32,
        #[jsonapi(relationship, visible_if = counted)]
        next: Vec<Arc<Node>>,
    }

    fn counted(_: &Node, context: &Context<Counter>) -> bool {
        let counter = &context.assigns().0;
        counter.set(counter.get() + 1);
        true
    }

    #[test]
    fn an_included_subtree_is_walked_once_per_resource() {
        // 16 levels of two nodes, each linking to both nodes of the next level: 2^16 paths.
        let depth = 16;
        let mut level: Vec<Arc<Node>> = Vec::new();
        for d in (0..depth).rev() {
            level = (0..2)
                .map(|i| {
                    Arc::new(Node {
                        id: d * 2 + i,
                        next: level.clone(),
                    })
                })
                .collect();
        }
        let root = Node {
            id: 1000,
            next: level,
        };
        let path = vec!["next"; depth as usize].join(".");
        let include = IncludeTree::parse(&path, Node::meta()).unwrap();
        let context = Context::new(Counter::default());
        let json = document(&root, &context)
            .include(&include)
            .to_vec()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            doc["included"].as_array().unwrap().len(),
            2 * depth as usize
        );
        // One look per (node, include level) while collecting plus one per written node.
        let looks = context.assigns().0.get();
        assert!(looks < 200, "{looks} looks at `next`");
    }
}

#[test]
fn new_outputs_conform_to_the_reference_validator() {
    use reel_jsonapi::Page;
    let articles = articles();
    let include = IncludeTree::parse("author", Article::meta()).unwrap();
    let fields = Fieldsets::all().with("articles", &["title"]);
    let context = Context::new(Viewer::default()).with_base_url("https://api.example.com/v2");
    let sparse = collection(&articles, &context)
        .include(&include)
        .fields(&fields)
        .paginate(
            &Page::Cursor {
                size: 2,
                next: Some("a+b/c=".into()),
                prev: Some("x y".into()),
            },
            "https://api.example.com/v2/articles",
        )
        .to_string()
        .unwrap();
    #[derive(reel_jsonapi::Resource, Debug)]
    #[jsonapi(type = "files")]
    struct File {
        #[jsonapi(id)]
        id: String,
    }
    let file = File { id: "a/b c".into() };
    let encoded =
        reel_jsonapi::document(&file, &Context::empty().with_base_url("https://x.example"))
            .to_string()
            .unwrap();
    for doc in [&sparse, &encoded] {
        Document::parse(doc.as_bytes()).unwrap();
    }
    assert_conforms(&[sparse, encoded]);
}
