//! The Atomic Operations extension: the examples of https://jsonapi.org/ext/atomic/, `lid`
//! resolution across operations, and errors pointing into `/atomic:operations/N`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

mod common;

use reel_jsonapi::atomic::{
    AtomicResult, AtomicResults, Op, OperationData, OperationKind, Operations, Target,
};
use reel_jsonapi::validate::{DocumentKind, validate_slice};
use reel_jsonapi::{Context, Linkage, Resource, ResourceIdentifier};
use serde_json::{Value, json};

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "authors")]
struct Author {
    #[jsonapi(id)]
    id: u64,
    name: String,
}

#[derive(Resource, Debug, Clone, PartialEq)]
#[jsonapi(type = "articles")]
struct Article {
    #[jsonapi(id)]
    id: u64,
    title: String,
    #[jsonapi(relationship, type = "authors")]
    author: Option<u64>,
    #[jsonapi(relationship, type = "tags")]
    tags: Vec<u64>,
}

fn parse(value: Value) -> Operations {
    let bytes = serde_json::to_vec(&value).unwrap();
    assert!(validate_slice(&bytes, DocumentKind::AtomicOperations).is_empty());
    Operations::from_slice(&bytes).unwrap()
}

fn pointers(error: &reel_jsonapi::ErrorDocument) -> Vec<&str> {
    error.errors.iter().filter_map(|e| e.pointer()).collect()
}

#[test]
fn the_specs_examples_are_read() {
    // Creating a resource.
    let ops = parse(json!({"atomic:operations": [{
        "op": "add", "href": "/blogPosts",
        "data": {"type": "articles", "attributes": {"title": "JSON API paints my bikeshed!"}}
    }]}));
    let add = &ops.operations[0];
    assert_eq!(add.kind(), OperationKind::AddResource);
    assert_eq!(add.target, Some(Target::Href("/blogPosts".into())));
    assert_eq!(
        add.resource::<Article>().unwrap().title,
        "JSON API paints my bikeshed!"
    );

    // Updating a resource.
    let ops = parse(json!({"atomic:operations": [{
        "op": "update",
        "data": {"type": "articles", "id": "13", "attributes": {"title": "To TDD or Not"}}
    }]}));
    let update = &ops.operations[0];
    assert_eq!(update.kind(), OperationKind::UpdateResource);
    assert_eq!(
        (update.resource_type(), update.resource_id()),
        (Some("articles"), Some("13"))
    );
    let current = Article {
        id: 13,
        title: "old".into(),
        author: Some(9),
        tags: vec![1],
    };
    let updated = update.apply(current.clone()).unwrap();
    assert_eq!(
        updated,
        Article {
            title: "To TDD or Not".into(),
            ..current
        }
    );

    // Removing a resource.
    let ops = parse(
        json!({"atomic:operations": [{"op": "remove", "ref": {"type": "articles", "id": "13"}}]}),
    );
    assert_eq!(ops.operations[0].kind(), OperationKind::RemoveResource);
    assert_eq!(ops.operations[0].resource_id(), Some("13"));

    // Relationships: to-one update and clear, to-many replace, add and remove.
    let ops = parse(json!({"atomic:operations": [
        {"op": "update", "ref": {"type": "articles", "id": "13", "relationship": "author"},
         "data": {"type": "people", "id": "9"}},
        {"op": "update", "ref": {"type": "articles", "id": "13", "relationship": "author"}, "data": null},
        {"op": "update", "ref": {"type": "articles", "id": "1", "relationship": "tags"},
         "data": [{"type": "tags", "id": "2"}, {"type": "tags", "id": "3"}]},
        {"op": "add", "ref": {"type": "articles", "id": "1", "relationship": "comments"},
         "data": [{"type": "comments", "id": "123"}]},
        {"op": "remove", "ref": {"type": "articles", "id": "1", "relationship": "comments"},
         "data": [{"type": "comments", "id": "12"}, {"type": "comments", "id": "13"}]}
    ]}));
    let kinds: Vec<_> = ops.operations.iter().map(|o| o.kind()).collect();
    assert_eq!(
        kinds,
        [
            OperationKind::UpdateRelationship,
            OperationKind::UpdateRelationship,
            OperationKind::UpdateRelationship,
            OperationKind::AddToRelationship,
            OperationKind::RemoveFromRelationship,
        ]
    );
    assert_eq!(ops.operations[0].relationship(), Some("author"));
    assert_eq!(
        ops.operations[0].linkage(),
        Some(&Linkage::ToOne(Some(ResourceIdentifier::new(
            "people", "9"
        ))))
    );
    assert_eq!(ops.operations[1].linkage(), Some(&Linkage::ToOne(None)));
    assert_eq!(ops.operations[4].op, Op::Remove);
}

#[test]
fn local_ids_are_resolved_across_operations() {
    // The spec's lid example, followed by a relationship update that targets the new article
    // by its lid.
    let ops = parse(json!({"atomic:operations": [
        {"op": "add", "data": {"type": "authors", "lid": "a", "attributes": {"name": "dgeb"}}},
        {"op": "add", "data": {"type": "articles", "lid": "b",
            "attributes": {"title": "JSON API paints my bikeshed!"},
            "relationships": {"author": {"data": {"type": "authors", "lid": "a"}}}}},
        {"op": "update", "ref": {"type": "articles", "lid": "b", "relationship": "author"},
         "data": {"type": "authors", "lid": "a"}}
    ]}));
    let mut authors = Vec::new();
    let mut articles = Vec::new();
    let mut seen_updates = Vec::new();
    let results = ops
        .execute(
            |operation| match (operation.kind(), operation.resource_type()) {
                (OperationKind::AddResource, Some("authors")) => {
                    let author = Author {
                        id: 100 + authors.len() as u64,
                        ..operation.resource::<Author>()?
                    };
                    authors.push(author.clone());
                    Ok(AtomicResult::resource(&author, &Context::empty()))
                }
                (OperationKind::AddResource, Some("articles")) => {
                    let article = Article {
                        id: 200,
                        ..operation.resource::<Article>()?
                    };
                    articles.push(article.clone());
                    Ok(AtomicResult::resource(&article, &Context::empty()))
                }
                (OperationKind::UpdateRelationship, _) => {
                    seen_updates.push((
                        operation.resource_id().map(str::to_owned),
                        operation.linkage().cloned(),
                    ));
                    Ok(AtomicResult::empty())
                }
                other => panic!("unexpected {other:?}"),
            },
        )
        .unwrap();
    assert_eq!(
        articles[0].author,
        Some(100),
        "lid `a` resolved to the new author's id"
    );
    assert_eq!(
        seen_updates,
        [(
            Some("200".to_owned()),
            Some(Linkage::ToOne(Some(ResourceIdentifier::new(
                "authors", "100"
            ))))
        )]
    );
    let json = serde_json::to_value(&results).unwrap();
    assert_eq!(json["atomic:results"][0]["data"]["id"], "100");
    assert_eq!(
        json["atomic:results"][1]["data"]["relationships"]["author"]["data"]["id"],
        "100"
    );
    assert_eq!(json["atomic:results"][2], json!({}));
    let bytes = serde_json::to_vec(&results).unwrap();
    assert!(validate_slice(&bytes, DocumentKind::AtomicResults).is_empty());
    assert_eq!(AtomicResults::from_slice(&bytes).unwrap(), results);
    // npm jsonapi-validator does not know the extension; every result's resource is checked
    // as the primary data of a plain document.
    let plain: Vec<String> = json["atomic:results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("data"))
        .map(|data| json!({ "data": data }).to_string())
        .collect();
    assert_eq!(plain.len(), 2);
    common::assert_conforms(&plain);
}

#[test]
fn a_lid_must_be_introduced_by_an_earlier_add() {
    let body = json!({"atomic:operations": [
        {"op": "update", "ref": {"type": "articles", "lid": "b", "relationship": "author"},
         "data": {"type": "authors", "lid": "a"}},
        {"op": "add", "data": {"type": "authors", "lid": "a", "attributes": {"name": "x"}}},
        // Same lid, another type: not the same resource.
        {"op": "remove", "ref": {"type": "articles", "lid": "a"}}
    ]});
    let error = Operations::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    assert_eq!(
        pointers(&error),
        [
            "/atomic:operations/0/ref/lid",
            "/atomic:operations/0/data/lid",
            "/atomic:operations/2/ref/lid"
        ]
    );
    assert_eq!(error.status(), 400);
}

#[test]
fn errors_point_into_the_operation() {
    // Structural errors, from the validator.
    let body = json!({"atomic:operations": [
        {"op": "add", "data": {"type": "articles", "attributes": {"title": "ok"}}},
        {"op": "replace", "data": {"type": "articles", "id": "1"}},
        {"op": "update", "ref": {"type": "articles", "id": "1"}, "href": "/articles/1",
         "data": {"type": "articles", "id": "1", "attributes": {"links": 1}}},
        {"op": "remove"},
        {"op": "add", "ref": {"type": "articles", "id": "1", "relationship": "tags"}, "data": {"type": "tags", "id": "1"}},
        {"op": "add", "data": {"type": "articles", "relationships": {"author": {"meta": {}}}}}
    ], "data": null});
    let bytes = serde_json::to_vec(&body).unwrap();
    let error = Operations::from_slice(&bytes).unwrap_err();
    assert_eq!(
        pointers(&error),
        [
            "/atomic:operations/1/op",
            "/atomic:operations/2/href",
            "/atomic:operations/2/data/attributes/links",
            "/atomic:operations/3",
            "/atomic:operations/4/data",
            "/atomic:operations/5/data/relationships/author",
            "/data"
        ],
        "{error:?}"
    );
    // Typed errors, from the derived reader.
    let ops = parse(json!({"atomic:operations": [
        {"op": "add", "data": {"type": "articles", "attributes": {"title": "ok"}}},
        {"op": "add", "data": {"type": "articles", "attributes": {"title": 5}}}
    ]}));
    let error = ops
        .execute(|operation| {
            operation
                .resource::<Article>()
                .map(|a| AtomicResult::resource(&a, &Context::empty()))
        })
        .unwrap_err();
    assert_eq!(
        pointers(&error),
        ["/atomic:operations/1/data/attributes/title"]
    );
    assert_eq!(error.status(), 422);
}

#[test]
fn a_plain_document_is_not_an_operations_document_and_back() {
    let plain = br#"{"data":{"type":"articles","attributes":{"title":"x"}}}"#;
    let error = Operations::from_slice(plain).unwrap_err();
    assert_eq!(pointers(&error), ["", "/data"]);
    let atomic = br#"{"atomic:operations":[{"op":"remove","ref":{"type":"articles","id":"1"}}]}"#;
    // Read as a plain request it lacks `data`.
    assert!(!validate_slice(atomic, DocumentKind::Request).is_empty());
    assert!(validate_slice(atomic, DocumentKind::AtomicOperations).is_empty());
    // Results must not carry operations.
    let results = br#"{"atomic:results":[{}],"atomic:operations":[]}"#;
    let errors = validate_slice(results, DocumentKind::AtomicResults);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pointer(), Some("/atomic:operations"));
    let _ = OperationData::None;
}
