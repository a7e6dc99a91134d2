//! Request documents into typed values, query parameters, and round trips (proptest).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proptest::prelude::*;
use reel_jsonapi::de::{ClientIds, Create, RelationshipUpdate, Update, from_response};
use reel_jsonapi::query::{Query, QueryRules};
use reel_jsonapi::validate::{DocumentKind, validate_slice};
use reel_jsonapi::{Context, IncludeTree, ResourceIdentifier, ResourceType, collection, document};

#[test]
fn create_without_and_with_client_id() {
    let body = br#"{"data":{"type":"posts","attributes":{"title":"Hi","labels":["a"]},
        "relationships":{"author":{"data":{"type":"people","id":"9"}},"tags":{"data":[{"type":"tags","id":"x"}]}}}}"#;
    let create = Create::<Post>::from_slice(body, ClientIds::Forbidden).unwrap();
    assert_eq!(
        create.resource,
        Post {
            id: 0,
            title: "Hi".into(),
            rating: None,
            labels: vec!["a".into()],
            author: 9,
            editor_id: None,
            tags: vec!["x".into()]
        }
    );
    assert_eq!(create.client_id, None);

    let with_id = br#"{"data":{"type":"posts","id":"77","attributes":{"title":"Hi","labels":[]},"relationships":{"author":{"data":{"type":"people","id":"1"}}}}}"#;
    let error = Create::<Post>::from_slice(with_id, ClientIds::Forbidden).unwrap_err();
    assert_eq!(error.status(), 403);
    assert_eq!(error.errors[0].pointer(), Some("/data/id"));
    let create = Create::<Post>::from_slice(with_id, ClientIds::Allowed).unwrap();
    assert_eq!(
        (create.resource.id, create.client_id.as_deref()),
        (77, Some("77"))
    );
    let error = Create::<Post>::from_slice(body, ClientIds::Required).unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data"));
}

#[test]
fn typed_errors_point_at_the_member() {
    let body = br#"{"data":{"type":"posts","attributes":{"title":5,"colour":"red"},
        "relationships":{"author":{"data":{"type":"users","id":"9"}},"editor":{"data":{"type":"people","id":"abc"}},"tags":{"data":{"type":"tags","id":"1"}}}}}"#;
    let error = Create::<Post>::from_slice(body, ClientIds::Forbidden).unwrap_err();
    let mut pointers: Vec<&str> = error.errors.iter().filter_map(|e| e.pointer()).collect();
    pointers.sort();
    assert_eq!(
        pointers,
        [
            "/data/attributes",
            "/data/attributes/colour",
            "/data/attributes/title",
            "/data/relationships/author/data/type",
            "/data/relationships/editor/data/id",
            "/data/relationships/tags/data",
        ]
    );
    let wrong_type = br#"{"data":{"type":"people","attributes":{}}}"#;
    let error = Create::<Post>::from_slice(wrong_type, ClientIds::Forbidden).unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data/type"));
    assert_eq!(error.errors[0].status_code(), Some(409));
    let malformed = Create::<Post>::from_slice(b"{", ClientIds::Forbidden).unwrap_err();
    assert_eq!(malformed.errors[0].pointer(), Some(""));
}

#[test]
fn update_checks_the_url_id() {
    let body = br#"{"data":{"type":"posts","id":"4","attributes":{"title":"New","labels":[]},"relationships":{"author":{"data":{"type":"people","id":"1"}}}}}"#;
    let update = Update::<Post>::from_slice(body, Some("4")).unwrap();
    let current = Post {
        id: 4,
        title: "Old".into(),
        rating: Some(3),
        labels: vec!["a".into()],
        author: 2,
        editor_id: None,
        tags: vec![],
    };
    assert_eq!(update.apply(current).unwrap().title, "New");
    assert!(
        update.is_present("title") && update.is_present("author") && !update.is_present("rating")
    );
    let conflict = Update::<Post>::from_slice(body, Some("5")).unwrap_err();
    assert_eq!(conflict.status(), 409);
    let no_id = br#"{"data":{"type":"posts","attributes":{"title":"New"}}}"#;
    assert_eq!(
        Update::<Post>::from_slice(no_id, None).unwrap_err().errors[0].pointer(),
        Some("/data")
    );
}

#[test]
fn relationship_updates() {
    assert_eq!(
        RelationshipUpdate::from_slice(br#"{"data":null}"#, "people").unwrap(),
        RelationshipUpdate::ToOne(None)
    );
    assert_eq!(
        RelationshipUpdate::from_slice(
            br#"{"data":[{"type":"tags","id":"2"},{"type":"tags","lid":"new"}]}"#,
            "tags"
        )
        .unwrap(),
        RelationshipUpdate::ToMany(vec![
            ResourceIdentifier::new("tags", "2"),
            ResourceIdentifier::local("tags", "new")
        ])
    );
    let error = RelationshipUpdate::from_slice(
        br#"{"data":[{"type":"tags","id":"2"},{"type":"people","id":"3"}]}"#,
        "tags",
    )
    .unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data/1/type"));
    assert_eq!(error.status(), 409);
}

#[test]
fn query_parameters_are_validated() {
    let rules = QueryRules::for_resource::<Article>()
        .filters(&["author"])
        .page(&["number", "size"])
        .max_page_size(50);
    let query = Query::parse(
        "include=comments.author&fields%5Bpeople%5D=first-name&fields[articles]=title,comments&sort=-wordCount,title&page[number]=3&page[size]=20&filter[author]=Dan+G&camelCase=1",
        &rules,
    )
    .unwrap();
    assert_eq!(
        query.include,
        IncludeTree::parse("comments.author", Article::meta()).unwrap()
    );
    assert_eq!(query.fields.get("people").unwrap(), ["first-name"]);
    assert_eq!(query.sort.len(), 2);
    assert!(query.sort[0].descending && query.sort[0].field == "wordCount");
    assert_eq!(query.filter["author"], "Dan G");
    assert_eq!(query.other, [("camelCase".to_owned(), "1".to_owned())]);
    let page = query.number_page(10, Some(100)).unwrap();
    assert_eq!(
        page,
        reel_jsonapi::Page::Number {
            number: 3,
            size: 20,
            total: Some(100)
        }
    );

    let error = Query::parse(
        "include=tags&fields[users]=x&fields[people]=age&sort=body&page[offset]=1&page[size]=500&filter[title]=x&unknown=1",
        &rules,
    )
    .unwrap_err();
    let parameters: Vec<&str> = error.errors.iter().filter_map(|e| e.parameter()).collect();
    assert_eq!(
        parameters,
        [
            "include",
            "fields[users]",
            "fields[people]",
            "sort",
            "page[offset]",
            "page[size]",
            "filter[title]",
            "unknown"
        ]
    );
    assert!(error.errors.iter().all(|e| e.status_code() == Some(400)));
}

#[test]
fn response_round_trip_of_a_collection() {
    let posts = vec![
        Post {
            id: 1,
            title: "a".into(),
            rating: Some(-3),
            labels: vec![],
            author: 4,
            editor_id: Some(5),
            tags: vec!["t".into()],
        },
        Post {
            id: 2,
            title: "b".into(),
            rating: None,
            labels: vec!["x".into()],
            author: 4,
            editor_id: None,
            tags: vec![],
        },
    ];
    let ctx = Context::empty().with_base_url("https://x.test");
    let json = collection(&posts, &ctx).to_vec().unwrap();
    assert_eq!(from_response::<Post>(&json).unwrap(), posts);
}

fn post_strategy() -> impl Strategy<Value = Post> {
    (
        any::<u64>(),
        ".{0,12}",
        proptest::option::of(any::<i32>()),
        proptest::collection::vec("[a-z]{0,5}", 0..3),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::collection::vec("[a-zA-Z0-9]{1,6}", 0..4),
    )
        .prop_map(
            |(id, title, rating, labels, author, editor_id, tags)| Post {
                id,
                title,
                rating,
                labels,
                author,
                editor_id,
                tags,
            },
        )
}

fn person_strategy() -> impl Strategy<Value = Person> {
    (
        0u64..6,
        "[A-Za-z]{1,8}",
        "[A-Za-z ]{0,8}",
        proptest::option::of("\\PC{0,6}"),
    )
        .prop_map(|(id, first_name, last_name, twitter)| Person {
            id,
            first_name,
            last_name,
            twitter,
        })
}

fn comment_strategy() -> impl Strategy<Value = Comment> {
    (
        "[0-9]{1,2}",
        ".{0,10}",
        proptest::option::of(person_strategy()),
    )
        .prop_map(|(id, body, author)| Comment {
            id,
            body,
            author: author.map(Box::new),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn posts_round_trip_through_create_update_and_response(post in post_strategy()) {
        let json = document(&post, &Context::empty()).to_vec().unwrap();
        prop_assert!(validate_slice(&json, DocumentKind::Response).is_empty());
        prop_assert_eq!(from_response::<Post>(&json).unwrap(), vec![post.clone()]);
        let update = Update::<Post>::from_slice(&json, Some(&post.id.to_string())).unwrap();
        let stale = Post { title: format!("{} (old)", post.title), labels: vec![], rating: None, ..post.clone() };
        prop_assert_eq!(&update.apply(stale).unwrap(), &post);
        let create = Create::<Post>::from_slice(&json, ClientIds::Allowed).unwrap();
        prop_assert_eq!(create.resource, post);
    }

    #[test]
    fn compound_documents_are_valid_and_deduplicated(
        comments in proptest::collection::vec(comment_strategy(), 0..8),
        include_author in any::<bool>(),
    ) {
        // Comments with the same id must be the same resource for a valid document.
        let mut seen = std::collections::HashSet::new();
        let comments: Vec<Comment> = comments.into_iter().filter(|c| seen.insert(c.id.clone())).collect();
        let mut people = std::collections::HashMap::new();
        let comments: Vec<Comment> = comments.into_iter().map(|mut c| {
            if let Some(author) = &c.author {
                let canonical = people.entry(author.id).or_insert_with(|| author.clone()).clone();
                c.author = Some(canonical);
            }
            c
        }).collect();
        let include = if include_author { IncludeTree::parse("author", Comment::meta()).unwrap() } else { IncludeTree::none() };
        let json = collection(&comments, &Context::empty()).include(&include).to_vec().unwrap();
        let errors = validate_slice(&json, DocumentKind::Response);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        if include_author {
            let included = doc["included"].as_array().unwrap();
            let linked: std::collections::HashSet<u64> = comments.iter().filter_map(|c| c.author.as_ref().map(|a| a.id)).collect();
            prop_assert_eq!(included.len(), linked.len());
        } else {
            prop_assert!(doc.get("included").is_none());
        }
    }

    #[test]
    fn include_paths_round_trip(paths in proptest::collection::vec(prop_oneof![Just("author"), Just("comments"), Just("comments.author")], 0..4)) {
        let raw = paths.join(",");
        let tree = IncludeTree::parse(&raw, Article::meta()).unwrap();
        let again = IncludeTree::parse(&tree.to_paths().join(","), Article::meta()).unwrap();
        prop_assert_eq!(tree, again);
    }

    #[test]
    fn validator_never_panics_on_arbitrary_json(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = validate_slice(&bytes, DocumentKind::Response);
    }
}

/// The generated documents also pass npm jsonapi-validator (one node run for all of them).
#[test]
fn generated_documents_conform_to_the_json_api_schema() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut docs = Vec::new();
    let include = IncludeTree::parse("author", Comment::meta()).unwrap();
    for _ in 0..40 {
        let post = post_strategy().new_tree(&mut runner).unwrap().current();
        docs.push(
            document(&post, &Context::empty().with_base_url("https://x.test"))
                .to_string()
                .unwrap(),
        );
        let comment = comment_strategy().new_tree(&mut runner).unwrap().current();
        docs.push(
            collection(std::slice::from_ref(&comment), &Context::empty())
                .include(&include)
                .to_string()
                .unwrap(),
        );
    }
    for doc in &docs {
        assert!(
            validate_slice(doc.as_bytes(), DocumentKind::Response).is_empty(),
            "{doc}"
        );
    }
    assert_conforms(&docs);
}

/// Fields (and functions) named like the variables the derive generates: none may shadow
/// another, in either direction.
#[derive(reel_jsonapi::Resource, Debug, Clone, PartialEq, Default)]
#[jsonapi(type = "reports")]
#[jsonapi(computed(name = "total", with = map))]
struct Report {
    #[jsonapi(id)]
    id: u32,
    errors: Vec<String>,
    object: String,
    pointer: String,
    attributes: u8,
    #[jsonapi(visible_if = fields)]
    context: String,
    #[jsonapi(skip)]
    include: bool,
    #[jsonapi(relationship, type = "people")]
    sink: Option<u32>,
    #[jsonapi(relationship, type = "people", rename = "members")]
    relationships: Vec<u32>,
}

fn map<A>(report: &Report, _: &Context<A>) -> usize {
    report.errors.len()
}

fn fields<A>(report: &Report, _: &Context<A>) -> bool {
    !report.context.is_empty()
}

#[test]
fn fields_named_like_generated_variables_read_and_write() {
    let body = br#"{"data":{"type":"reports","attributes":{"errors":["e1","e2"],"object":"o",
        "pointer":"/p","attributes":3,"context":"c"},
        "relationships":{"sink":{"data":{"type":"people","id":"4"}},"members":{"data":[]}}}}"#;
    let report = Create::<Report>::from_slice(body, ClientIds::Forbidden)
        .unwrap()
        .resource;
    let expected = Report {
        errors: vec!["e1".into(), "e2".into()],
        object: "o".into(),
        pointer: "/p".into(),
        attributes: 3,
        context: "c".into(),
        sink: Some(4),
        ..Report::default()
    };
    assert_eq!(report, expected);
    let written: serde_json::Value =
        serde_json::from_slice(&document(&report, &Context::empty()).to_vec().unwrap()).unwrap();
    assert_eq!(written["data"]["attributes"]["total"], 2);
    assert_eq!(written["data"]["attributes"]["context"], "c");
    assert_eq!(written["data"]["relationships"]["sink"]["data"]["id"], "4");
    // A wrong member still points at itself.
    let bad = br#"{"data":{"type":"reports","attributes":{"errors":7}}}"#;
    let error = Create::<Report>::from_slice(bad, ClientIds::Forbidden).unwrap_err();
    assert_eq!(error.errors[0].pointer(), Some("/data/attributes/errors"));
}
