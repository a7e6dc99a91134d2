//! Response documents: exact bytes, compound documents, sparse fieldsets, links, pagination —
//! and every document checked by our validator and by npm jsonapi-validator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reel_jsonapi::validate::{DocumentKind, validate_slice};
use reel_jsonapi::{
    Context, Fieldsets, IncludeTree, JsonApiObject, LinkObject, Page, Resource, ResourceType,
    collection, document, null_document,
};
use serde_json::{Value, json};

fn viewer(admin: bool) -> Context<Viewer> {
    Context::new(Viewer { admin })
}

fn parse(bytes: &[u8]) -> Value {
    parse_allowing(bytes, "")
}

/// Validates with our validator, ignoring errors titled `allowed` (sparse fieldsets may
/// legitimately break full linkage, which a document alone cannot show).
fn parse_allowing(bytes: &[u8], allowed: &str) -> Value {
    let mut errors = validate_slice(bytes, DocumentKind::Response);
    errors.retain(|e| e.title.as_deref() != Some(allowed));
    assert!(
        errors.is_empty(),
        "our validator rejects {}: {errors:?}",
        String::from_utf8_lossy(bytes)
    );
    serde_json::from_slice(bytes).unwrap()
}

/// What the link functions of [`File`] need: a CDN "signer" and whether to describe files.
#[derive(Debug, Clone)]
struct Cdn {
    signature: &'static str,
    describe: bool,
}

/// A resource with its own links besides `self`: a signed download URL (none for private
/// files) and a `describedby` link object.
#[derive(Resource, Debug, Clone)]
#[jsonapi(type = "files", context = Cdn)]
#[jsonapi(link(name = "download", with = download_link))]
#[jsonapi(link(name = "describedby", with = links))]
struct File {
    #[jsonapi(id)]
    id: u32,
    name: String,
    #[jsonapi(relationship)]
    thumbnail: Option<Box<File>>,
}

fn download_link(file: &File, context: &Context<Cdn>) -> Option<String> {
    (!file.name.starts_with("private")).then(|| {
        format!(
            "https://cdn.example.com/{}?Signature={}",
            file.name,
            context.assigns().signature
        )
    })
}

/// Named `links` on purpose: the derive's own local variables must not shadow it.
fn links(_file: &File, context: &Context<Cdn>) -> Option<LinkObject> {
    context.assigns().describe.then(|| LinkObject {
        href: "https://api.example.com/schemas/files".into(),
        title: Some("File schema".into()),
        ..LinkObject::default()
    })
}

fn files() -> Vec<File> {
    let thumb = File {
        id: 2,
        name: "cat-small.png".into(),
        thumbnail: None,
    };
    vec![
        File {
            id: 1,
            name: "cat.png".into(),
            thumbnail: Some(Box::new(thumb)),
        },
        File {
            id: 3,
            name: "private.pdf".into(),
            thumbnail: None,
        },
    ]
}

fn cdn(describe: bool) -> Context<Cdn> {
    Context::new(Cdn {
        signature: "abc",
        describe,
    })
}

/// All documents the serializer tests produce, for the conformance check.
fn produced_documents() -> Vec<String> {
    let articles = articles();
    let plain = viewer(false);
    let admin = viewer(true).with_base_url("https://api.example.com/");
    let include_all = IncludeTree::parse("author,comments.author", Article::meta()).unwrap();
    let include_comments = IncludeTree::parse("comments", Article::meta()).unwrap();
    let fields = Fieldsets::all()
        .with("articles", &["title", "comments"])
        .with("people", &["first-name"]);
    let page = Page::Number {
        number: 2,
        size: 2,
        total: Some(7),
    };
    let docs = vec![
        document(&articles[0], &plain).to_string().unwrap(),
        document(&articles[0], &admin)
            .include(&include_all)
            .to_string()
            .unwrap(),
        collection(&articles, &plain).to_string().unwrap(),
        collection(&articles, &admin)
            .include(&include_all)
            .to_string()
            .unwrap(),
        collection(&articles, &admin)
            .include(&include_comments)
            .fields(&fields)
            .to_string()
            .unwrap(),
        collection(&articles, &plain)
            .paginate(&page, "https://api.example.com/articles")
            .link(
                "self",
                "https://api.example.com/articles?page%5Bnumber%5D=2&page%5Bsize%5D=2",
            )
            .jsonapi(JsonApiObject::v1_1())
            .meta("generatedBy", "reel")
            .to_string()
            .unwrap(),
        collection(&articles, &plain)
            .paginate(
                &Page::Offset {
                    offset: 4,
                    limit: 2,
                    total: None,
                },
                "https://api.example.com/articles?sort=title",
            )
            .to_string()
            .unwrap(),
        collection(&articles, &plain)
            .paginate(
                &Page::Cursor {
                    size: 2,
                    next: Some("abc".into()),
                    prev: Some("xyz".into()),
                },
                "/articles",
            )
            .to_string()
            .unwrap(),
        collection::<Article, _>(&[], &plain).to_string().unwrap(),
        null_document::<Person, _>(&Context::empty())
            .to_string()
            .unwrap(),
        document(&dan(), &Context::empty()).to_string().unwrap(),
        collection(
            &files(),
            &cdn(true).with_base_url("https://api.example.com"),
        )
        .include(&IncludeTree::parse("thumbnail", File::meta()).unwrap())
        .to_string()
        .unwrap(),
        collection(&files(), &cdn(false)).to_string().unwrap(),
    ];
    for doc in &docs {
        parse(doc.as_bytes());
    }
    docs
}

#[test]
fn single_resource_is_exact() {
    let articles = articles();
    let json = document(&articles[0], &viewer(false)).to_string().unwrap();
    let expected = json!({
        "data": {
            "type": "articles", "id": "1",
            "attributes": {"title": "JSON:API paints my bikeshed!", "wordCount": 300, "titleLength": 28},
            "relationships": {
                "author": {"data": {"type": "people", "id": "9"}},
                "comments": {"data": [{"type": "comments", "id": "5"}, {"type": "comments", "id": "12"}]}
            }
        }
    });
    assert_eq!(parse(json.as_bytes()), expected);
    // Field order is declaration order, not alphabetical: the bytes are predictable.
    assert!(json.starts_with(r#"{"data":{"type":"articles","id":"1","attributes":{"title":"#));
}

#[test]
fn context_controls_visible_attributes_and_links() {
    let articles = articles();
    let context = viewer(true).with_base_url("https://api.example.com/");
    let doc = parse(
        document(&articles[0], &context)
            .to_string()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(doc["data"]["attributes"]["internalNotes"], "secret");
    assert_eq!(
        doc["data"]["links"]["self"],
        "https://api.example.com/articles/1"
    );
    assert_eq!(
        doc["data"]["relationships"]["author"]["links"],
        json!({
            "self": "https://api.example.com/articles/1/relationships/author",
            "related": "https://api.example.com/articles/1/author"
        })
    );
    assert!(
        doc["data"]["attributes"].get("cacheKey").is_none(),
        "skipped field leaked"
    );
    let plain = parse(
        document(&articles[0], &viewer(false))
            .to_string()
            .unwrap()
            .as_bytes(),
    );
    assert!(plain["data"]["attributes"].get("internalNotes").is_none());
    assert!(plain["data"].get("links").is_none());
}

#[test]
fn compound_document_includes_each_resource_once() {
    let articles = articles();
    let include = IncludeTree::parse("author,comments.author", Article::meta()).unwrap();
    let doc = parse(
        collection(&articles, &viewer(false))
            .include(&include)
            .to_string()
            .unwrap()
            .as_bytes(),
    );
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
    // dan (author of both articles and of comment 12), comment 5 (on both), comment 12, ada.
    assert_eq!(
        included,
        [
            ("people", "9"),
            ("comments", "5"),
            ("people", "10"),
            ("comments", "12")
        ]
        .map(|(t, i)| (t.to_owned(), i.to_owned()))
    );
    assert_eq!(doc["included"][0]["attributes"]["first-name"], "Dan");
}

#[test]
fn include_paths_only_follow_what_was_asked() {
    let articles = articles();
    let include = IncludeTree::parse("comments", Article::meta()).unwrap();
    let doc = parse(
        document(&articles[0], &viewer(false))
            .include(&include)
            .to_string()
            .unwrap()
            .as_bytes(),
    );
    let types: Vec<&str> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["comments", "comments"]);
    for bad in ["authors", "comments.article", "author.comments", "title"] {
        let error = IncludeTree::parse(bad, Article::meta()).unwrap_err();
        assert_eq!(error.parameter(), Some("include"), "{bad}");
        assert_eq!(error.status_code(), Some(400));
    }
    let nested = IncludeTree::parse("comments.author,author", Article::meta()).unwrap();
    assert_eq!(nested.to_paths(), ["comments.author", "author"]);
}

#[test]
fn primary_resources_are_not_repeated_in_included() {
    // A person whose comment is written by the same person: the primary person stays out.
    let people = vec![dan()];
    let comments = vec![Comment {
        id: "1".into(),
        body: "self".into(),
        author: Some(Box::new(dan())),
    }];
    let include = IncludeTree::parse("author", Comment::meta()).unwrap();
    let doc = parse(
        collection(&comments, &Context::empty())
            .include(&include)
            .to_string()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(doc["included"].as_array().unwrap().len(), 1);
    let _ = people;
}

#[test]
fn sparse_fieldsets_apply_to_primary_and_included() {
    let articles = articles();
    let include = IncludeTree::parse("author", Article::meta()).unwrap();
    let fields = Fieldsets::all()
        .with("articles", &["title"])
        .with("people", &["last-name"]);
    let json = collection(&articles, &viewer(false))
        .include(&include)
        .fields(&fields)
        .to_string()
        .unwrap();
    // Sparse fieldsets removed the linkage of `author`, which the spec exempts from full
    // linkage: reel reads its own output back, and only the strict linter (which assumes no
    // fieldsets) points at the gap.
    let strict = validate_slice(json.as_bytes(), DocumentKind::Response);
    assert_eq!(strict.len(), 1, "{strict:?}");
    assert_eq!(strict[0].pointer(), Some("/included/0"));
    let tolerant = reel_jsonapi::validate::validate_slice_with(
        json.as_bytes(),
        DocumentKind::Response,
        reel_jsonapi::validate::ValidateOptions::default().sparse_fieldsets(true),
    );
    assert!(tolerant.is_empty(), "{tolerant:?}");
    reel_jsonapi::Document::parse(json.as_bytes()).expect("reel reads its own sparse output");
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["data"][0]["attributes"],
        json!({"title": "JSON:API paints my bikeshed!"})
    );
    assert!(doc["data"][0].get("relationships").is_none());
    assert_eq!(
        doc["included"][0]["attributes"],
        json!({"last-name": "Gebhardt"})
    );
}

#[test]
fn pagination_links_and_meta() {
    let articles = articles();
    let page = Page::Number {
        number: 2,
        size: 2,
        total: Some(7),
    };
    let doc = parse(
        collection(&articles, &viewer(false))
            .paginate(&page, "/articles")
            .to_string()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(
        doc["links"]["first"],
        "/articles?page%5Bnumber%5D=1&page%5Bsize%5D=2"
    );
    assert_eq!(
        doc["links"]["prev"],
        "/articles?page%5Bnumber%5D=1&page%5Bsize%5D=2"
    );
    assert_eq!(
        doc["links"]["next"],
        "/articles?page%5Bnumber%5D=3&page%5Bsize%5D=2"
    );
    assert_eq!(
        doc["links"]["last"],
        "/articles?page%5Bnumber%5D=4&page%5Bsize%5D=2"
    );
    assert_eq!(
        doc["meta"]["page"],
        json!({"number": 2, "size": 2, "total": 7, "pages": 4})
    );

    let last = Page::Offset {
        offset: 6,
        limit: 2,
        total: Some(7),
    };
    let links = last.links("/a?x=1");
    assert_eq!(
        links,
        vec![
            (
                "first",
                "/a?x=1&page%5Boffset%5D=0&page%5Blimit%5D=2".to_owned()
            ),
            (
                "prev",
                "/a?x=1&page%5Boffset%5D=4&page%5Blimit%5D=2".to_owned()
            ),
            (
                "last",
                "/a?x=1&page%5Boffset%5D=6&page%5Blimit%5D=2".to_owned()
            ),
        ]
    );
    let cursor = Page::Cursor {
        size: 10,
        next: Some("c2".into()),
        prev: None,
    };
    let names: Vec<&str> = cursor.links("/a").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["first", "next"]);
}

#[test]
fn every_produced_document_conforms_to_the_json_api_schema() {
    let docs = produced_documents();
    assert_eq!(docs.len(), 13);
    assert_conforms(&docs);
}

/// A type may relate to itself; nested include paths follow it to any depth.
#[derive(reel_jsonapi::Resource)]
#[jsonapi(type = "employees")]
struct Employee {
    #[jsonapi(id)]
    id: u32,
    name: String,
    #[jsonapi(relationship)]
    manager: Option<Box<Employee>>,
}

#[test]
fn self_referential_includes_nest_to_any_depth() {
    let ceo = Employee {
        id: 1,
        name: "Ceo".into(),
        manager: None,
    };
    let vp = Employee {
        id: 2,
        name: "Vp".into(),
        manager: Some(Box::new(ceo)),
    };
    let dev = Employee {
        id: 3,
        name: "Dev".into(),
        manager: Some(Box::new(vp)),
    };
    let context = Context::empty();
    let one = IncludeTree::parse("manager", Employee::meta()).unwrap();
    let two = IncludeTree::parse("manager.manager", Employee::meta()).unwrap();
    let ids = |include: &IncludeTree| -> Vec<String> {
        let json = document(&dev, &context)
            .include(include)
            .to_string()
            .unwrap();
        parse(json.as_bytes())["included"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&one), ["2"]);
    assert_eq!(ids(&two), ["2", "1"]);
    assert!(IncludeTree::parse("manager.boss", Employee::meta()).is_err());
}

#[test]
fn resources_carry_their_own_links_after_self() {
    let files = files();
    let context = cdn(true).with_base_url("https://api.example.com/");
    let include = IncludeTree::parse("thumbnail", File::meta()).unwrap();
    let json = collection(&files, &context)
        .include(&include)
        .to_string()
        .unwrap();
    let doc = parse(json.as_bytes());
    let schema = json!({"href": "https://api.example.com/schemas/files", "title": "File schema"});
    assert_eq!(
        doc["data"][0]["links"],
        json!({
            "self": "https://api.example.com/files/1",
            "download": "https://cdn.example.com/cat.png?Signature=abc",
            "describedby": schema,
        })
    );
    // `self` first, then the declared order.
    assert!(json.contains(
        r#""links":{"self":"https://api.example.com/files/1","download":"https://cdn.example.com/cat.png?Signature=abc","describedby":{"#
    ));
    // A link function that answers `None` leaves its link out.
    assert_eq!(
        doc["data"][1]["links"],
        json!({"self": "https://api.example.com/files/3", "describedby": schema})
    );
    // Included resources are written the same way.
    assert_eq!(
        doc["included"][0]["links"]["download"],
        "https://cdn.example.com/cat-small.png?Signature=abc"
    );
}

#[test]
fn own_links_are_written_without_a_base_url_and_omitted_when_none_apply() {
    let files = files();
    let doc = parse(
        collection(&files, &cdn(false))
            .to_string()
            .unwrap()
            .as_bytes(),
    );
    assert_eq!(
        doc["data"][0]["links"],
        json!({"download": "https://cdn.example.com/cat.png?Signature=abc"})
    );
    // No base URL, no download, no schema: no empty `links` object.
    assert!(doc["data"][1].get("links").is_none(), "{}", doc["data"][1]);
    // The trait method is what the derive filled in; call it directly too.
    let links = files[0].resource_links(&cdn(true));
    let names: Vec<&str> = links.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["download", "describedby"]);
    assert_eq!(links[1].1.href(), "https://api.example.com/schemas/files");
}
