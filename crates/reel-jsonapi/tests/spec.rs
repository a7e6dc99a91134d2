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
