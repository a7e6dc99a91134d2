//! The untyped validator: each spec rule for invalid documents, checked by pointer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reel_jsonapi::Document;
use reel_jsonapi::validate::{DocumentKind, validate_slice};

fn pointers(json: &str, kind: DocumentKind) -> Vec<String> {
    let mut found: Vec<String> = validate_slice(json.as_bytes(), kind)
        .iter()
        .map(|e| e.pointer().unwrap_or("<none>").to_owned())
        .collect();
    found.sort();
    found
}

#[track_caller]
fn rejects(json: &str, expected: &[&str]) {
    rejects_as(json, DocumentKind::Response, expected);
}

#[track_caller]
fn rejects_as(json: &str, kind: DocumentKind, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(pointers(json, kind), expected, "{json}");
}

#[test]
fn valid_documents_pass() {
    for json in [
        r#"{"meta":{"total":3}}"#,
        r#"{"data":null}"#,
        r#"{"data":[]}"#,
        r#"{"errors":[{"status":"404","title":"Not Found","source":{"pointer":"/data/id"}}]}"#,
        r#"{"data":{"type":"people","id":"1","attributes":{"name":"Ada","address":{"zip-code":"1"}},"links":{"self":{"href":"/people/1","title":"Ada","hreflang":["en","fr"],"describedby":"/schema"}}},"jsonapi":{"version":"1.1","ext":["https://jsonapi.org/ext/atomic"],"profile":[]}}"#,
        r#"{"data":{"type":"articles","id":"1","relationships":{"author":{"data":{"type":"people","id":"9"}}}},"included":[{"type":"people","id":"9"}]}"#,
        r#"{"data":{"type":"people","id":"1","version:id":"x","@context":"y"}}"#,
    ] {
        assert_eq!(
            pointers(json, DocumentKind::Response),
            Vec::<String>::new(),
            "{json}"
        );
        assert!(Document::parse(json.as_bytes()).is_ok(), "{json}");
    }
}

#[test]
fn top_level_rules() {
    rejects("[]", &[""]);
    rejects("{}", &[""]);
    rejects(r#"{"links":{"self":"/x"}}"#, &[""]);
    rejects(r#"{"data":null,"errors":[]}"#, &["/errors"]);
    rejects(r#"{"meta":{},"included":[]}"#, &["/included"]);
    rejects(r#"{"data":null,"extra":1}"#, &["/extra"]);
    rejects(r#"{"data":null,"meta":[]}"#, &["/meta"]);
    rejects(
        r#"{"data":null,"jsonapi":{"version":1,"ext":"x","other":true}}"#,
        &["/jsonapi/ext", "/jsonapi/other", "/jsonapi/version"],
    );
    rejects("not json", &[""]);
}

#[test]
fn resource_object_rules() {
    rejects(r#"{"data":{"id":"1"}}"#, &["/data"]);
    rejects(r#"{"data":{"type":"people"}}"#, &["/data"]);
    rejects(r#"{"data":{"type":"people","id":1}}"#, &["/data/id"]);
    rejects(
        r#"{"data":[{"type":"people","id":"1"},{"type":5,"id":"2"}]}"#,
        &["/data/1/type"],
    );
    rejects(
        r#"{"data":{"type":"people","id":"1","lid":"x"}}"#,
        &["/data/lid"],
    );
    rejects(
        r#"{"data":{"type":"people","id":"1","name":"Ada"}}"#,
        &["/data/name"],
    );
    rejects(
        r#"{"data":{"type":"people","id":"1","attributes":[]}}"#,
        &["/data/attributes"],
    );
    rejects(
        r#"{"data":{"type":"people","id":"1","attributes":{"id":"1","links":{},"first.name":"x","ok":{"bad+key":1}}}}"#,
        &[
            "/data/attributes/first.name",
            "/data/attributes/id",
            "/data/attributes/links",
        ],
    );
    rejects(
        r#"{"data":{"type":"people","id":"1","attributes":{"boss":1},"relationships":{"boss":{"meta":{}}}}}"#,
        &["/data/relationships/boss"],
    );
    rejects(r#"{"data":{"type":"bad type!","id":"1"}}"#, &["/data/type"]);
}

#[test]
fn relationship_and_identifier_rules() {
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"b":{}}}}"#,
        &["/data/relationships/b"],
    );
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"b":{"data":{"type":"c"}}}}}"#,
        &["/data/relationships/b/data"],
    );
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"b":{"data":[{"type":"c","id":"1","attributes":{}}]}}}}"#,
        &["/data/relationships/b/data/0/attributes"],
    );
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"b":{"links":{"first":"/x"}}}}}"#,
        &["/data/relationships/b/links"],
    );
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"b":{"data":null,"other":1}}}}"#,
        &["/data/relationships/b/other"],
    );
}

#[test]
fn links_rules() {
    rejects(r#"{"meta":{},"links":{"self":5}}"#, &["/links/self"]);
    rejects(
        r#"{"meta":{},"links":{"self":{"title":"x"}}}"#,
        &["/links/self"],
    );
    rejects(
        r#"{"meta":{},"links":{"self":{"href":"/x","hreflang":5,"bogus":1}}}"#,
        &["/links/self/bogus", "/links/self/hreflang"],
    );
    rejects(r#"{"meta":{},"links":[]}"#, &["/links"]);
}

#[test]
fn error_object_rules() {
    rejects(r#"{"errors":{}}"#, &["/errors"]);
    rejects(r#"{"errors":[5]}"#, &["/errors/0"]);
    rejects(
        r#"{"errors":[{"status":404,"code":1,"source":{"pointer":"data","parameter":1,"bad":1},"links":{"self":"/x"},"extra":1}]}"#,
        &[
            "/errors/0/code",
            "/errors/0/extra",
            "/errors/0/links/self",
            "/errors/0/source/bad",
            "/errors/0/source/parameter",
            "/errors/0/source/pointer",
            "/errors/0/status",
        ],
    );
}

#[test]
fn compound_document_rules() {
    // Duplicates across data and included.
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"b":{"data":{"type":"b","id":"1"}}}},"included":[{"type":"b","id":"1"},{"type":"b","id":"1"},{"type":"a","id":"1"}]}"#,
        &["/included/1", "/included/2"],
    );
    // Full linkage: the second included resource is reached from nothing.
    rejects(
        r#"{"data":[{"type":"a","id":"1","relationships":{"b":{"data":{"type":"b","id":"1"}}}}],"included":[{"type":"b","id":"1","relationships":{"c":{"data":[{"type":"c","id":"1"}]}}},{"type":"c","id":"1"},{"type":"c","id":"2"}]}"#,
        &["/included/2"],
    );
    rejects(r#"{"data":null,"included":{}}"#, &["/included"]);
}

#[test]
fn a_duplicate_names_where_its_first_copy_is() {
    let details = |json: &str| -> Vec<String> {
        validate_slice(json.as_bytes(), DocumentKind::Response)
            .into_iter()
            .filter_map(|e| e.detail)
            .collect()
    };
    assert_eq!(
        details(
            r#"{"data":[{"type":"a","id":"1"},{"type":"a","id":"2"}],"included":[{"type":"a","id":"2"}]}"#
        ),
        ["resource `a`/`2` appears more than once (first at /data/1)"]
    );
    assert_eq!(
        details(r#"{"data":{"type":"a","id":"7"},"included":[{"type":"a","id":"7"}]}"#),
        ["resource `a`/`7` appears more than once (first at /data)"]
    );
}

#[test]
fn request_rules() {
    rejects_as(
        r#"{"data":{"type":"people","attributes":{"name":"Ada"}}}"#,
        DocumentKind::Create,
        &[],
    );
    rejects_as(
        r#"{"data":{"type":"people","lid":"tmp-1"}}"#,
        DocumentKind::Create,
        &[],
    );
    rejects_as(
        r#"{"data":[{"type":"people"}]}"#,
        DocumentKind::Create,
        &["/data"],
    );
    rejects_as(r#"{"meta":{}}"#, DocumentKind::Create, &[""]);
    rejects_as(
        r#"{"data":{"type":"people"},"errors":[]}"#,
        DocumentKind::Create,
        &["/errors", "/errors"],
    );
    rejects_as(
        r#"{"data":{"type":"people","attributes":{}}}"#,
        DocumentKind::Update,
        &["/data"],
    );
    rejects_as(
        r#"{"data":{"type":"people","lid":"x"}}"#,
        DocumentKind::Update,
        &["/data"],
    );
    rejects_as(
        r#"{"data":[{"type":"tags","id":"2"},{"type":"tags","lid":"n1"}]}"#,
        DocumentKind::Relationship,
        &[],
    );
    rejects_as(r#"{"data":null}"#, DocumentKind::Relationship, &[]);
    rejects_as(
        r#"{"data":{"type":"tags"}}"#,
        DocumentKind::Relationship,
        &["/data"],
    );
    rejects_as(
        r#"{"data":[{"type":"tags","id":"1","attributes":{}}]}"#,
        DocumentKind::Relationship,
        &["/data/0/attributes"],
    );
}

#[test]
fn every_error_is_a_valid_error_object() {
    let errors = validate_slice(
        br#"{"data":{"type":"a"},"errors":[1]}"#,
        DocumentKind::Response,
    );
    assert!(errors.len() >= 2);
    let doc = reel_jsonapi::ErrorDocument::new(errors);
    let json = serde_json::to_vec(&doc).unwrap();
    assert!(validate_slice(&json, DocumentKind::Response).is_empty());
    assert_eq!(doc.status(), 400);
}

#[test]
fn the_reference_validator_agrees_on_invalid_documents() {
    // Each document breaks a rule both validators know; each is checked on its own.
    let invalid = [
        r#"{"data":{"type":"people"}}"#,
        r#"{"data":null,"errors":[]}"#,
        r#"{"data":{"type":"a","id":"1","name":"x"}}"#,
        r#"{"errors":[{"status":404}]}"#,
        r#"{"meta":{},"links":{"self":{"title":"no href"}}}"#,
    ];
    for doc in invalid {
        assert!(
            !validate_slice(doc.as_bytes(), DocumentKind::Response).is_empty(),
            "{doc}"
        );
        assert!(
            common::node_validate(&[doc.to_owned()]).is_err(),
            "jsonapi-validator accepted {doc}"
        );
    }
}

/// Found by the fuzzer: an extension member among relationships is not a relationship, so the
/// validator accepts it and the owned model must too.
#[test]
fn extension_members_in_relationships_are_left_to_their_extension() {
    let json = r#"{"data":{"type":"a","id":"1","relationships":{"ext:rel":{"data":{"no-type":1}},"b":{"data":null}}}}"#;
    assert!(validate_slice(json.as_bytes(), DocumentKind::Response).is_empty());
    let document = Document::parse(json.as_bytes()).unwrap();
    let relationships = document.primary_resources()[0]
        .relationships
        .as_ref()
        .unwrap();
    assert_eq!(relationships.keys().collect::<Vec<_>>(), ["b"]);
    // ...and what an extension member holds is not linkage for `included`.
    rejects(
        r#"{"data":{"type":"a","id":"1","relationships":{"ext:rel":{"data":{"type":"b","id":"1"}}}},"included":[{"type":"b","id":"1"}]}"#,
        &["/included/0"],
    );
}

#[test]
fn either_or_members_read_every_form() {
    use reel_jsonapi::{Hreflang, Link, Linkage, PrimaryData};
    let doc = Document::parse(
        br#"{"data":{"type":"a","id":"1","relationships":{
              "none":{"data":null},"one":{"data":{"type":"b","id":"2"}},
              "many":{"data":[{"type":"b","id":"2"},{"type":"b","id":"3"}]},"empty":{"data":[]},
              "absent":{"links":{"related":"/a/1/absent"}}}},
            "included":[{"type":"b","id":"2"},{"type":"b","id":"3"}],
            "links":{"self":"/a/1","prev":null,
              "one":{"href":"/x","hreflang":"en"},"many":{"href":"/y","hreflang":["en","fr"]}}}"#,
    )
    .unwrap();
    let Some(PrimaryData::One(Some(resource))) = &doc.data else {
        panic!("{:?}", doc.data)
    };
    let relationships = resource.relationships.as_ref().unwrap();
    let data = |name: &str| relationships[name].data.clone();
    assert_eq!(data("none"), Some(Linkage::ToOne(None)));
    let Some(Linkage::ToOne(Some(one))) = data("one") else {
        panic!()
    };
    assert_eq!(
        (one.type_name.as_str(), one.id.as_deref()),
        ("b", Some("2"))
    );
    let Some(Linkage::ToMany(many)) = data("many") else {
        panic!()
    };
    assert_eq!(many.len(), 2);
    assert_eq!(data("empty"), Some(Linkage::ToMany(Vec::new())));
    assert_eq!(data("absent"), None);
    let links = doc.links.as_ref().unwrap();
    assert_eq!(links["self"], Some(Link::Url("/a/1".into())));
    assert_eq!(links["prev"], None);
    let hreflang = |name: &str| match &links[name] {
        Some(Link::Object(object)) => object.hreflang.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(hreflang("one"), Some(Hreflang::One("en".into())));
    assert_eq!(
        hreflang("many"),
        Some(Hreflang::Many(vec!["en".into(), "fr".into()]))
    );

    // A collection, an empty one and null read as their variants; the model writes them back
    // as it read them.
    for (json, expected) in [
        (r#"{"data":[{"type":"a","id":"1"}]}"#, 1),
        (r#"{"data":[]}"#, 0),
        (r#"{"data":null}"#, 0),
    ] {
        let doc = Document::parse(json.as_bytes()).unwrap();
        assert_eq!(doc.primary_resources().len(), expected, "{json}");
        assert_eq!(serde_json::to_string(&doc).unwrap(), json);
    }
    assert!(matches!(
        Document::parse(br#"{"data":null}"#).unwrap().data,
        Some(PrimaryData::One(None))
    ));
    // A wrong shape is an error, not a panic.
    let error = serde_json::from_str::<Linkage>("5").unwrap_err();
    assert!(error.to_string().contains("resource linkage"), "{error}");
}
