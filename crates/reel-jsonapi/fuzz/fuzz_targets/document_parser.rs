//! Feeds arbitrary bytes to the untyped document parser and validator, for every document kind.
//! Invariants: nothing panics, and a document accepted once is accepted again after a round trip
//! through the owned model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_jsonapi::Document;
use reel_jsonapi::validate::{DocumentKind, validate_slice};

fuzz_target!(|data: &[u8]| {
    for kind in [
        DocumentKind::Response,
        DocumentKind::Create,
        DocumentKind::Update,
        DocumentKind::Relationship,
    ] {
        let errors = validate_slice(data, kind);
        let parsed = Document::parse_as(data, kind);
        assert_eq!(
            errors.is_empty(),
            parsed.is_ok(),
            "validator and parser disagree"
        );
        if let Ok(document) = parsed {
            let again = serde_json::to_vec(&document).expect("a parsed document serializes");
            let errors = validate_slice(&again, kind);
            assert!(
                errors.is_empty(),
                "round trip broke the document: {errors:?}"
            );
        }
    }
});
