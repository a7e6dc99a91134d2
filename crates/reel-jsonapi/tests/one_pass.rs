//! The one-pass response reader and the thorough path (strict `Value` + validator) accept the
//! same documents and build the same model; valid documents written by reel take the one pass.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

mod common;

use common::*;
use reel_jsonapi::validate::DocumentKind;
use reel_jsonapi::{Context, Document, IncludeTree, ResourceType, collection};

/// The one pass never accepts what the thorough path refuses, and reads the same document.
fn agree(bytes: &[u8]) -> bool {
    let thorough = Document::parse_thorough(bytes, DocumentKind::Response);
    match Document::parse_one_pass(bytes) {
        Some(document) => {
            assert_eq!(
                thorough.as_ref().ok(),
                Some(&document),
                "one pass accepted {}; thorough: {thorough:?}",
                String::from_utf8_lossy(bytes)
            );
            true
        }
        None => false,
    }
}

#[test]
fn documents_reel_writes_take_the_one_pass() {
    let articles = articles();
    let include = IncludeTree::parse("author,comments.author", Article::meta()).unwrap();
    for context in [
        Context::new(Viewer { admin: true }),
        Context::new(Viewer { admin: false }).with_base_url("https://example.com/api"),
    ] {
        let many = collection(&articles, &context)
            .include(&include)
            .to_vec()
            .unwrap();
        assert!(agree(&many), "{}", String::from_utf8_lossy(&many));
        let one = reel_jsonapi::document(&articles[0], &context)
            .to_vec()
            .unwrap();
        assert!(agree(&one));
    }
}

#[test]
fn both_paths_agree_on_valid_and_invalid_documents() {
    let valid = [
        r#"{"data":null}"#,
        r#"{"meta":{"a":1}}"#,
        r#"{"data":[],"jsonapi":{"version":"1.1","ext":["https://jsonapi.org/ext/atomic"]}}"#,
        r#"{"data":{"type":"a","id":"1","attributes":{"x":{"a.b":1,"n":[{"k":null}]}},"relationships":{"r":{"links":{"related":"/r"}},"s":{"meta":{}},"t":{"data":[{"type":"b","id":"2","meta":{"m":1}}]},"ext:x":{"anything":true}},"links":{"self":{"href":"/a/1","meta":{}}},"meta":{"m":[1,2]},"@ctx":1,"ext:y":2},"included":[{"type":"b","id":"2"}],"links":{"next":null},"ext:top":{"q":1}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"r":{"data":null}}},"included":[{"type":"b","id":"7"}]}"#,
    ];
    for doc in valid {
        assert!(agree(doc.as_bytes()), "one pass should read {doc}");
    }
    let invalid = [
        r#"{}"#,
        r#"[]"#,
        r#"{"data":1}"#,
        r#"{"data":{"type":"a"}}"#,
        r#"{"data":{"id":"1"}}"#,
        r#"{"data":{"type":"a","id":1}}"#,
        r#"{"data":{"type":"a.b","id":"1"}}"#,
        r#"{"data":{"type":"a","id":"1","lid":"x"}}"#,
        r#"{"data":{"type":"a","id":"1","bogus":1}}"#,
        r#"{"data":{"type":"a","id":"1","type":"b"}}"#,
        r#"{"data":{"type":"a","id":"1","attributes":{"x":1,"x":2}}}"#,
        r#"{"data":{"type":"a","id":"1","attributes":{"id":1}}}"#,
        r#"{"data":{"type":"a","id":"1","attributes":{"x":{"links":{}}}}}"#,
        r#"{"data":{"type":"a","id":"1","attributes":{"r":1},"relationships":{"r":{"data":null}}}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"r":{}}}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"r":{"links":{"next":"/x"}}}}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"r":{"data":{"type":"b"}}}}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"r":{"data":{"type":"b","id":"1","lid":"z"}}}}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"r":{"data":{"type":"b","id":"1","x":1}}}}}"#,
        r#"{"data":{"type":"a","id":"1","relationships":{"type":{"data":null}}}}"#,
        r#"{"data":{"type":"a","id":"1","links":{"self":{"title":"no href"}}}}"#,
        r#"{"data":{"type":"a","id":"1","meta":[]}}"#,
        r#"{"data":[{"type":"a","id":"1"},{"type":"a","id":"1"}]}"#,
        r#"{"data":{"type":"a","id":"1"},"included":[{"type":"a","id":"1"}]}"#,
        r#"{"included":[]}"#,
        r#"{"data":null,"errors":[]}"#,
        r#"{"errors":[{"status":"400"}]}"#,
        r#"{"data":null,"data":null}"#,
        r#"{"data":null,"jsonapi":{"version":1}}"#,
        r#"{"data":null,"ext:a":{"k":1,"k":2}}"#,
        r#"{"data":null} trailing"#,
    ];
    for doc in invalid {
        agree(doc.as_bytes());
        assert!(
            Document::parse_one_pass(doc.as_bytes()).is_none()
                || Document::parse(doc.as_bytes()).is_ok(),
            "{doc}"
        );
    }
    // The public entry point still reports the thorough path's errors.
    let error = Document::parse(br#"{"data":{"type":"a","id":"1","bogus":1}}"#).unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data/bogus"));
}
