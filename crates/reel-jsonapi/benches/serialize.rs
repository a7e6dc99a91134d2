//! A 10k-article compound document (author + tags, both included) written by reel-jsonapi,
//! by hand-written serde_json producing the same bytes, and by jsonapi_core; plus reading the
//! document back.
//!
//! `cargo bench -p reel-jsonapi --bench serialize`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
#![allow(missing_docs)]

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use reel_jsonapi::{Context, IncludeTree, Resource, ResourceType, collection};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

const ARTICLES: u64 = 10_000;
const PEOPLE: u64 = 100;
const TAGS: u64 = 50;

#[derive(Resource, Clone)]
#[jsonapi(type = "people", rename_all = "camelCase")]
struct Person {
    #[jsonapi(id)]
    id: u64,
    first_name: String,
    last_name: String,
}

#[derive(Resource, Clone)]
#[jsonapi(type = "tags")]
struct Tag {
    #[jsonapi(id)]
    id: u64,
    label: String,
}

#[derive(Resource, Clone)]
#[jsonapi(type = "articles", rename_all = "camelCase")]
struct Article {
    #[jsonapi(id)]
    id: u64,
    title: String,
    body: String,
    word_count: u32,
    #[jsonapi(relationship)]
    author: std::sync::Arc<Person>,
    #[jsonapi(relationship)]
    tags: Vec<std::sync::Arc<Tag>>,
}

/// The same articles as a request-side type: relationships as ids.
#[derive(Resource)]
#[jsonapi(type = "articles", rename_all = "camelCase")]
struct ArticleIn {
    #[jsonapi(id)]
    id: u64,
    title: String,
    body: String,
    word_count: u32,
    #[jsonapi(relationship, type = "people")]
    author: u64,
    #[jsonapi(relationship, type = "tags")]
    tags: Vec<u64>,
}

fn articles() -> Vec<Article> {
    let people: Vec<_> = (0..PEOPLE)
        .map(|id| {
            std::sync::Arc::new(Person {
                id,
                first_name: format!("First{id}"),
                last_name: format!("Last {id}"),
            })
        })
        .collect();
    let tags: Vec<_> = (0..TAGS)
        .map(|id| {
            std::sync::Arc::new(Tag {
                id,
                label: format!("tag-{id}"),
            })
        })
        .collect();
    (0..ARTICLES)
        .map(|id| Article {
            id,
            title: format!("Article number {id}"),
            body: "JSON:API paints my bikeshed, \"quoted\" and long enough to matter.".into(),
            word_count: (id % 1000) as u32,
            author: people[(id % PEOPLE) as usize].clone(),
            tags: vec![
                tags[(id % TAGS) as usize].clone(),
                tags[((id * 7 + 3) % TAGS) as usize].clone(),
            ],
        })
        .collect()
}

// ---- Hand-written serde_json: the same bytes, written directly. ----

struct Id(u64);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

struct Ident(&'static str, u64);

impl Serialize for Ident {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", self.0)?;
        map.serialize_entry("id", &Id(self.1))?;
        map.end()
    }
}

struct Linkage<'a>(&'a Article);

impl Serialize for Linkage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One(u64);
        impl Serialize for One {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("data", &Ident("people", self.0))?;
                map.end()
            }
        }
        struct Many<'a>(&'a [std::sync::Arc<Tag>]);
        impl Serialize for Many<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                struct Ids<'a>(&'a [std::sync::Arc<Tag>]);
                impl Serialize for Ids<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut seq = s.serialize_seq(Some(self.0.len()))?;
                        for tag in self.0 {
                            seq.serialize_element(&Ident("tags", tag.id))?;
                        }
                        seq.end()
                    }
                }
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("data", &Ids(self.0))?;
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("author", &One(self.0.author.id))?;
        map.serialize_entry("tags", &Many(&self.0.tags))?;
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArticleAttributes<'a> {
    title: &'a str,
    body: &'a str,
    word_count: u32,
}

struct HandArticle<'a>(&'a Article);

impl Serialize for HandArticle<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("type", "articles")?;
        map.serialize_entry("id", &Id(a.id))?;
        map.serialize_entry(
            "attributes",
            &ArticleAttributes {
                title: &a.title,
                body: &a.body,
                word_count: a.word_count,
            },
        )?;
        map.serialize_entry("relationships", &Linkage(a))?;
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PersonAttributes<'a> {
    first_name: &'a str,
    last_name: &'a str,
}

#[derive(Serialize)]
struct TagAttributes<'a> {
    label: &'a str,
}

enum Included<'a> {
    Person(&'a Person),
    Tag(&'a Tag),
}

impl Serialize for Included<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        match self {
            Included::Person(p) => {
                map.serialize_entry("type", "people")?;
                map.serialize_entry("id", &Id(p.id))?;
                map.serialize_entry(
                    "attributes",
                    &PersonAttributes {
                        first_name: &p.first_name,
                        last_name: &p.last_name,
                    },
                )?;
            }
            Included::Tag(t) => {
                map.serialize_entry("type", "tags")?;
                map.serialize_entry("id", &Id(t.id))?;
                map.serialize_entry("attributes", &TagAttributes { label: &t.label })?;
            }
        }
        map.end()
    }
}

struct HandDocument<'a>(&'a [Article]);

impl Serialize for HandDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Data<'a>(&'a [Article]);
        impl Serialize for Data<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for a in self.0 {
                    seq.serialize_element(&HandArticle(a))?;
                }
                seq.end()
            }
        }
        // Deduplicate related resources in first-reached order.
        let mut seen_people = HashSet::new();
        let mut seen_tags = HashSet::new();
        let mut included = Vec::new();
        for a in self.0 {
            if seen_people.insert(a.author.id) {
                included.push(Included::Person(&a.author));
            }
            for t in &a.tags {
                if seen_tags.insert(t.id) {
                    included.push(Included::Tag(t));
                }
            }
        }
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("data", &Data(self.0))?;
        map.serialize_entry("included", &included)?;
        map.end()
    }
}

// ---- jsonapi_core: its derive and document model. ----

mod peer {
    use jsonapi_core::{JsonApi, Relationship, RelationshipData, ResourceIdentifier};
    use serde::Serialize;

    #[derive(Debug, Clone, PartialEq, JsonApi)]
    #[jsonapi(type = "people")]
    pub(crate) struct Person {
        #[jsonapi(id)]
        pub(crate) id: String,
        pub(crate) first_name: String,
        pub(crate) last_name: String,
    }

    #[derive(Debug, Clone, PartialEq, JsonApi)]
    #[jsonapi(type = "tags")]
    pub(crate) struct Tag {
        #[jsonapi(id)]
        pub(crate) id: String,
        pub(crate) label: String,
    }

    #[derive(Debug, Clone, PartialEq, JsonApi)]
    #[jsonapi(type = "articles")]
    pub(crate) struct Article {
        #[jsonapi(id)]
        pub(crate) id: String,
        pub(crate) title: String,
        pub(crate) body: String,
        pub(crate) word_count: u32,
        #[jsonapi(relationship, type = "people")]
        pub(crate) author: Relationship<Person>,
        #[jsonapi(relationship, type = "tags")]
        pub(crate) tags: Relationship<Tag>,
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    pub(crate) enum Included {
        Person(Person),
        Tag(Tag),
    }

    pub(crate) type Doc = jsonapi_core::Document<Article, Included>;

    pub(crate) fn document(articles: &[super::Article]) -> Doc {
        let mut seen = std::collections::HashSet::new();
        let mut included = Vec::new();
        let data = articles
            .iter()
            .map(|a| {
                if seen.insert(("people", a.author.id)) {
                    included.push(Included::Person(Person {
                        id: a.author.id.to_string(),
                        first_name: a.author.first_name.clone(),
                        last_name: a.author.last_name.clone(),
                    }));
                }
                for t in &a.tags {
                    if seen.insert(("tags", t.id)) {
                        included.push(Included::Tag(Tag {
                            id: t.id.to_string(),
                            label: t.label.clone(),
                        }));
                    }
                }
                Article {
                    id: a.id.to_string(),
                    title: a.title.clone(),
                    body: a.body.clone(),
                    word_count: a.word_count,
                    author: Relationship::new(RelationshipData::ToOne(Some(
                        ResourceIdentifier::new("people", a.author.id.to_string()),
                    ))),
                    tags: Relationship::new(RelationshipData::ToMany(
                        a.tags
                            .iter()
                            .map(|t| ResourceIdentifier::new("tags", t.id.to_string()))
                            .collect(),
                    )),
                }
            })
            .collect();
        jsonapi_core::Document::Data {
            data: jsonapi_core::PrimaryData::Many(data),
            included,
            meta: None,
            jsonapi: None,
            links: None,
        }
    }
}

fn serialize(c: &mut Criterion) {
    let articles = articles();
    let context = Context::empty();
    let include = IncludeTree::parse("author,tags", Article::meta()).unwrap();

    let ours = serde_json::to_vec(&collection(&articles, &context).include(&include)).unwrap();
    let hand = serde_json::to_vec(&HandDocument(&articles)).unwrap();
    assert_eq!(
        ours, hand,
        "reel-jsonapi and the hand-written serializer must agree byte for byte"
    );
    let peer_doc = peer::document(&articles);
    let peer_bytes = serde_json::to_vec(&peer_doc).unwrap();
    assert!(reel_jsonapi::Document::parse(&peer_bytes).is_ok());

    let mut group = c.benchmark_group("jsonapi/serialize_10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("reel", |b| {
        let mut out = Vec::with_capacity(ours.len());
        b.iter(|| {
            out.clear();
            serde_json::to_writer(
                &mut out,
                &collection(black_box(&articles), &context).include(&include),
            )
            .unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("serde_json_handwritten", |b| {
        let mut out = Vec::with_capacity(hand.len());
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, &HandDocument(black_box(&articles))).unwrap();
            black_box(out.len())
        })
    });
    group.bench_function("jsonapi_core", |b| {
        // jsonapi_core has no builder for includes from typed values: the document (with the
        // included list) is built from the same articles inside the timed loop, as a user would.
        let mut out = Vec::with_capacity(peer_bytes.len());
        b.iter(|| {
            out.clear();
            let doc = peer::document(black_box(&articles));
            serde_json::to_writer(&mut out, &doc).unwrap();
            black_box(out.len())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("jsonapi/deserialize_10k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("reel", |b| {
        b.iter(|| reel_jsonapi::de::from_response::<ArticleIn>(black_box(&ours)).map(|v| v.len()))
    });
    group.bench_function("reel_untyped_document", |b| {
        b.iter(|| {
            reel_jsonapi::Document::parse(black_box(&ours)).map(|d| d.primary_resources().len())
        })
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Value>(black_box(&ours)).map(|v| v.is_object())
        })
    });
    let text = std::str::from_utf8(&ours).unwrap();
    group.bench_function("jsonapi_core", |b| {
        // Its validating parse (member checks, full linkage), the peer of Document::parse.
        b.iter(|| {
            let doc =
                jsonapi_core::Document::<jsonapi_core::Resource>::parse(black_box(text)).unwrap();
            black_box(doc)
        })
    });
    group.finish();
}

criterion_group!(benches, serialize);

/// With `REEL_JSONAPI_READ_ONCE=reel|reel_untyped_document|reel_thorough|serde_json_value|jsonapi_core|none`
/// (or `write_reel|write_hand|write_none`: ten writes of the document; `validate_errors`)
/// the bench builds the 10k document, reads it once with that reader and exits: instruction
/// counts under `valgrind --tool=callgrind` (minus the `none` run, which only builds the
/// document) give reading ratios that a loaded machine cannot disturb. Otherwise it runs the
/// criterion benchmarks.
fn main() {
    // With `--features metrics` a real recorder is installed, so the counters cost what they
    // cost in production.
    #[cfg(feature = "metrics")]
    {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("install the Prometheus recorder");
        reel_jsonapi::describe_metrics();
    }
    if let Ok(which) = std::env::var("REEL_JSONAPI_READ_ONCE") {
        read_once(&which);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

fn read_once(which: &str) {
    let source = articles();
    let include = IncludeTree::parse("author,tags", Article::meta()).unwrap();
    let ours =
        serde_json::to_vec(&collection(&source, &Context::empty()).include(&include)).unwrap();
    drop(source);
    let count = match which {
        "reel" => reel_jsonapi::de::from_response::<ArticleIn>(black_box(&ours))
            .unwrap()
            .len(),
        "reel_untyped_document" => reel_jsonapi::Document::parse(black_box(&ours))
            .unwrap()
            .primary_resources()
            .len(),
        // The thorough path alone (strict `Value`, validator, model): the reader before the
        // one-pass reader, kept for invalid documents.
        "reel_thorough" => reel_jsonapi::Document::parse_thorough(
            black_box(&ours),
            reel_jsonapi::DocumentKind::Response,
        )
        .unwrap()
        .primary_resources()
        .len(),
        "serde_json_value" => serde_json::from_slice::<serde_json::Value>(black_box(&ours))
            .unwrap()["data"]
            .as_array()
            .unwrap()
            .len(),
        "jsonapi_core" => {
            let text = std::str::from_utf8(&ours).unwrap();
            let doc =
                jsonapi_core::Document::<jsonapi_core::Resource>::parse(black_box(text)).unwrap();
            black_box(doc);
            ARTICLES as usize
        }
        "write_reel" => {
            let articles = articles();
            let mut count = 0;
            for _ in 0..10 {
                count += serde_json::to_vec(
                    &collection(black_box(&articles), &Context::empty()).include(&include),
                )
                .unwrap()
                .len();
            }
            black_box(count);
            ARTICLES as usize
        }
        "write_hand" => {
            let articles = articles();
            let mut count = 0;
            for _ in 0..10 {
                count += serde_json::to_vec(&HandDocument(black_box(&articles)))
                    .unwrap()
                    .len();
            }
            black_box(count);
            ARTICLES as usize
        }
        "write_none" => {
            black_box(articles());
            ARTICLES as usize
        }
        // 10 000 validations of a document with 6 violations: the path that counts
        // `reel_jsonapi_validation_errors_total` (compare with and without `--features metrics`).
        "validate_errors" => {
            let bad =
                br#"{"data":{"type":1,"id":2,"attributes":{"a.b":1,"links":2},"bogus":1},"x":1}"#;
            let mut errors = 0;
            for _ in 0..10_000 {
                errors += reel_jsonapi::validate::validate_slice(
                    black_box(bad),
                    reel_jsonapi::DocumentKind::Response,
                )
                .len();
            }
            black_box(errors);
            ARTICLES as usize
        }
        "none" => ARTICLES as usize,
        other => panic!("unknown reader `{other}`"),
    };
    assert_eq!(count, ARTICLES as usize);
}
