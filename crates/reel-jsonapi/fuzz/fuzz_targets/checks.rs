//! The invariants the fuzz targets check, shared with `tests/fuzz_regressions.rs`, which
//! replays every kept crash input (`fuzz/regressions/`) through them as a normal test.
// Each target uses one of the checks.
#![allow(dead_code)]

use reel_jsonapi::Document;
use reel_jsonapi::atomic::{AtomicResults, Operations};
use reel_jsonapi::validate::{DocumentKind, ValidateOptions, validate_slice, validate_slice_with};

/// The untyped parser and validator, for every document kind: nothing panics, validator and
/// parser agree, the one-pass reader agrees with the thorough path, and an accepted document
/// stays valid after a round trip.
pub(crate) fn document_parser(data: &[u8]) {
    // The one-pass reader accepts only what the thorough path accepts, with the same result.
    if let Some(document) = Document::parse_one_pass(data) {
        assert_eq!(
            Document::parse_thorough(data, DocumentKind::Response).ok(),
            Some(document),
            "one pass and thorough path disagree"
        );
    }
    for kind in [
        DocumentKind::Response,
        DocumentKind::Create,
        DocumentKind::Update,
        DocumentKind::Relationship,
    ] {
        // `Document::parse_as` cannot know whether sparse fieldsets dropped linkage, so it is
        // compared with the validator in that mode (the strict mode also checks full linkage).
        let sparse = ValidateOptions::default().sparse_fieldsets(true);
        let errors = validate_slice_with(data, kind, sparse);
        let parsed = Document::parse_as(data, kind);
        assert_eq!(
            errors.is_empty(),
            parsed.is_ok(),
            "validator and parser disagree"
        );
        if let Ok(document) = parsed {
            let again = serde_json::to_vec(&document).expect("a parsed document serializes");
            let errors = validate_slice_with(&again, kind, sparse);
            assert!(
                errors.is_empty(),
                "round trip broke the document: {errors:?}"
            );
        }
    }
}

/// The readers added for issue 18: the typed graph reader (`from_response` over untyped
/// resources with `included`), Atomic Operations requests (with `lid` resolution) and results.
/// Nothing panics; an accepted operations document is accepted by the validator too and
/// executes without a panic.
pub(crate) fn typed_reader(data: &[u8]) {
    let _ = reel_jsonapi::de::from_response::<Node>(data);
    let errors = validate_slice(data, DocumentKind::AtomicOperations);
    if let Ok(operations) = Operations::from_slice(data) {
        {
            assert!(
                errors.is_empty(),
                "operations accepted but invalid: {errors:?}"
            );
            let mut next = 0u64;
            let _ = operations.execute(|operation| {
                next += 1;
                let _ = operation.kind();
                Ok(match (operation.kind(), operation.resource_type()) {
                    (reel_jsonapi::atomic::OperationKind::AddResource, Some(t)) => {
                        reel_jsonapi::atomic::AtomicResult {
                            data: Some(serde_json::json!({"type": t, "id": next.to_string()})),
                            meta: None,
                        }
                    }
                    _ => reel_jsonapi::atomic::AtomicResult::empty(),
                })
            });
        }
    }
    if let Ok(results) = AtomicResults::from_slice(data) {
        let again = serde_json::to_vec(&results).expect("results serialize");
        assert!(
            validate_slice(&again, DocumentKind::AtomicResults).is_empty(),
            "results round trip broke the document"
        );
    }
}

/// A self-referencing resource: the worst case for the graph reader (cycles, depth).
#[derive(reel_jsonapi::Resource, Debug)]
#[jsonapi(type = "nodes")]
pub(crate) struct Node {
    #[jsonapi(id)]
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    #[jsonapi(relationship)]
    pub(crate) next: Option<Box<Node>>,
    #[jsonapi(relationship)]
    pub(crate) children: Vec<Node>,
}
