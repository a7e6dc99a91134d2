//! Security rules of issue 15: context-based visibility applies to linkage, `included` and
//! sorting alike; query limits; checked page arithmetic; nested filters; strict request reading.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reel_jsonapi::query::{Query, QueryRules};
use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, collection, document};
use serde_json::Value;

#[derive(Debug, Clone, Default)]
struct Viewer {
    admin: bool,
}

#[derive(Resource, Debug, Clone)]
#[jsonapi(type = "users", context = Viewer)]
struct User {
    #[jsonapi(id)]
    id: u64,
    email: String,
}

#[derive(Resource, Debug, Clone)]
#[jsonapi(type = "articles", context = Viewer)]
#[jsonapi(computed(name = "score", with = score))]
struct Article {
    #[jsonapi(id)]
    id: u64,
    title: String,
    #[jsonapi(visible_if = is_admin)]
    salary: u64,
    #[jsonapi(relationship, visible_if = is_admin)]
    owner: Option<User>,
    #[jsonapi(relationship)]
    editor: Option<User>,
}

fn score(article: &Article, _: &Context<Viewer>) -> u64 {
    article.salary / 2
}

fn is_admin(_: &Article, context: &Context<Viewer>) -> bool {
    context.assigns().admin
}

fn article() -> Article {
    Article {
        id: 1,
        title: "Hello".into(),
        salary: 100,
        owner: Some(User {
            id: 7,
            email: "owner@example.com".into(),
        }),
        editor: Some(User {
            id: 8,
            email: "editor@example.com".into(),
        }),
    }
}

fn render(admin: bool, include: &str) -> Value {
    let include = IncludeTree::parse(include, Article::meta()).unwrap();
    let context = Context::new(Viewer { admin });
    let article = article();
    let bytes = document(&article, &context)
        .include(&include)
        .to_vec()
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_hidden_relationship_never_appears_in_included_or_linkage() {
    let doc = render(false, "owner,editor");
    let text = doc.to_string();
    assert!(
        !text.contains("owner@example.com"),
        "hidden owner leaked: {text}"
    );
    assert!(
        doc["data"]["relationships"].get("owner").is_none(),
        "{text}"
    );
    let included: Vec<&str> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(included, ["8"], "{text}");

    // An admin sees both.
    let doc = render(true, "owner,editor");
    assert_eq!(doc["data"]["relationships"]["owner"]["data"]["id"], "7");
    assert_eq!(doc["included"].as_array().unwrap().len(), 2);
}

#[test]
fn a_sparse_fieldset_of_only_hidden_members_writes_no_empty_objects() {
    // `fields[articles]=owner` selects only a relationship the viewer may not see: the
    // resource object has no `relationships` member at all, not an empty `{}`; the same for a
    // hidden attribute and `attributes`.
    let context = Context::new(Viewer { admin: false });
    let article = article();
    for (field, member) in [("owner", "relationships"), ("salary", "attributes")] {
        let query = Query::parse(
            &format!("fields[articles]={field}"),
            &QueryRules::for_resource::<Article>(),
        )
        .unwrap();
        let bytes = document(&article, &context).query(&query).to_vec().unwrap();
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["data"].get(member), None, "{field}: {doc}");
        common::assert_conforms(&[String::from_utf8(bytes).unwrap()]);
    }
    // An admin sees them.
    let admin = Context::new(Viewer { admin: true });
    let query = Query::parse(
        "fields[articles]=owner",
        &QueryRules::for_resource::<Article>(),
    )
    .unwrap();
    let doc: Value =
        serde_json::from_slice(&document(&article, &admin).query(&query).to_vec().unwrap())
            .unwrap();
    assert_eq!(doc["data"]["relationships"]["owner"]["data"]["id"], "7");
}

#[test]
fn a_hidden_relationship_is_not_included_in_a_collection_either() {
    let include = IncludeTree::parse("owner", Article::meta()).unwrap();
    let context = Context::new(Viewer { admin: false });
    let articles = vec![article(), article()];
    let json = collection(&articles, &context)
        .include(&include)
        .to_string()
        .unwrap();
    assert!(!json.contains("owner@example.com"), "{json}");
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["included"], Value::Array(vec![]));
}

#[test]
fn sorting_by_hidden_or_computed_attributes_is_refused_by_default() {
    let rules = QueryRules::for_resource::<Article>();
    for field in ["salary", "-salary", "score"] {
        let error = Query::parse(&format!("sort={field}"), &rules).unwrap_err();
        assert_eq!(error.errors[0].parameter(), Some("sort"), "{field}");
    }
    let query = Query::parse("sort=-title", &rules).unwrap();
    assert_eq!(query.sort[0].field, "title");
    assert_eq!(Article::meta().sortable_attributes, ["title"]);
}

#[test]
fn page_sizes_and_include_depth_are_bounded_by_default() {
    let rules = QueryRules::for_resource::<common::Article>();
    let error = Query::parse("page[size]=1000000", &rules).unwrap_err();
    assert_eq!(error.errors[0].parameter(), Some("page[size]"));
    assert!(Query::parse("page[size]=100", &rules).is_ok());
    assert!(Query::parse("page[size]=0", &rules).is_err());
    // Configurable both ways.
    let roomy = rules.clone().max_page_size(5000);
    assert!(Query::parse("page[size]=1000", &roomy).is_ok());

    #[derive(Resource, Debug, Clone)]
    #[jsonapi(type = "nodes")]
    struct Node {
        #[jsonapi(id)]
        id: u32,
        #[jsonapi(relationship)]
        parent: Option<Box<Node>>,
    }
    let rules = QueryRules::for_resource::<Node>();
    assert!(Query::parse("include=parent.parent.parent", &rules).is_ok());
    let error = Query::parse("include=parent.parent.parent.parent", &rules).unwrap_err();
    assert_eq!(error.errors[0].parameter(), Some("include"));
    let deep = rules.max_include_depth(5);
    assert!(Query::parse("include=parent.parent.parent.parent.parent", &deep).is_ok());
}

#[test]
fn page_arithmetic_on_client_numbers_never_overflows() {
    let max = u64::MAX;
    let links = reel_jsonapi::Page::Offset {
        offset: max - 5,
        limit: 10,
        total: None,
    }
    .links("/articles");
    assert!(links.iter().all(|(name, _)| *name != "next"), "{links:?}");
    let links = reel_jsonapi::Page::Number {
        number: max,
        size: 10,
        total: None,
    }
    .links("/articles");
    assert!(links.iter().all(|(name, _)| *name != "next"), "{links:?}");

    let rules = QueryRules::for_resource::<common::Article>();
    let query = Query::parse(&format!("page[number]={max}&page[size]=100"), &rules).unwrap();
    let error = query.number_page(10, None).unwrap_err();
    assert_eq!(error.parameter(), Some("page[number]"));
}

#[test]
fn nested_filters_are_parsed_into_keys() {
    let rules = QueryRules::for_resource::<common::Article>().filters(&["author", "title"]);
    let query = Query::parse(
        "filter[author][name]=Dan&filter%5Bauthor%5D%5Bcountry%5D=NL&filter[title]=Hi",
        &rules,
    )
    .unwrap();
    let author = &query.filter["author"];
    assert_eq!(author.get("name").and_then(|v| v.as_str()), Some("Dan"));
    assert_eq!(author.get("country").and_then(|v| v.as_str()), Some("NL"));
    assert_eq!(query.filter["title"], "Hi");
    // A value and a nested key at the same place clash; an unknown top key is refused.
    let error = Query::parse("filter[title]=a&filter[title][x]=b", &rules).unwrap_err();
    assert_eq!(error.errors[0].parameter(), Some("filter[title][x]"));
    let error = Query::parse("filter[owner][name]=x", &rules).unwrap_err();
    assert_eq!(error.errors[0].parameter(), Some("filter[owner][name]"));
}

#[test]
fn repeated_query_parameters_are_refused_consistently() {
    let rules = QueryRules::for_resource::<common::Article>();
    for query in [
        "include=author&include=comments",
        "sort=title&sort=-title",
        "fields[articles]=title&fields[articles]=wordCount",
        "page[size]=5&page[size]=6",
    ] {
        let error = Query::parse(query, &rules).unwrap_err();
        assert_eq!(
            error.errors[0].title.as_deref(),
            Some("Repeated query parameter"),
            "{query}"
        );
    }
}

#[test]
fn duplicate_member_names_are_refused_with_a_pointer() {
    use reel_jsonapi::Document;
    use reel_jsonapi::de::{ClientIds, Create, RelationshipUpdate};
    use reel_jsonapi::validate::{DocumentKind, validate_slice};

    let body = br#"{"data":{"type":"people","attributes":{"first-name":"a","last-name":"b","first-name":"c"}}}"#;
    let error = Create::<common::Person>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    assert_eq!(
        error.errors[0].pointer(),
        Some("/data/attributes/first-name")
    );
    assert_eq!(error.errors[0].title.as_deref(), Some("Duplicate member"));
    assert_eq!(error.status(), 400);

    let body = br#"{"data":{"type":"articles","id":"1","type":"people"}}"#;
    let errors = validate_slice(body, DocumentKind::Response);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pointer(), Some("/data/type"));
    assert!(Document::parse(body).is_err());

    let body = br#"{"data":[{"type":"tags","id":"1"},{"type":"tags","id":"2","id":"3"}]}"#;
    let error = RelationshipUpdate::from_slice(body, "tags").unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data/1/id"));

    // Equal names in different objects are fine; malformed JSON is still reported as such.
    assert!(
        validate_slice(
            br#"{"meta":{"a":{"a":1},"b":{"a":2}}}"#,
            DocumentKind::Response
        )
        .is_empty()
    );
    let errors = validate_slice(br#"{"meta":"#, DocumentKind::Response);
    assert_eq!(errors[0].title.as_deref(), Some("Malformed JSON"));
}
