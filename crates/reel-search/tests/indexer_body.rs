//! The bulk body the streaming indexer writes, against the real search server: documents are
//! serialized straight into the body, so a document that fails half-way must leave no trace,
//! ids must be escaped exactly, and operations keep their order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use reel_search::{Document, Indexable, Indexer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Value, json};

/// A label that refuses to be serialized when it says `poison`.
#[derive(Debug, Clone, Deserialize)]
struct Label(String);

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == "poison" {
            return Err(serde::ser::Error::custom(
                "label `poison` refuses to serialize",
            ));
        }
        s.serialize_str(&self.0)
    }
}

#[derive(Document, Serialize, Deserialize, Clone, Debug)]
#[search(index = "bodies", shards = 1, replicas = 0, dynamic = "strict")]
struct Doc {
    #[search(id, keyword)]
    id: String,
    title: String,
    // After `title`: a failing document has already written part of its body.
    #[search(type = "keyword")]
    label: Label,
}

fn doc(id: &str, title: &str, label: &str) -> Doc {
    Doc {
        id: id.to_owned(),
        title: title.to_owned(),
        label: Label(label.to_owned()),
    }
}

fn ok<T>(items: Vec<T>) -> impl futures::Stream<Item = Result<T, std::io::Error>> {
    futures::stream::iter(items.into_iter().map(Ok))
}

async fn source(repo: &reel_search::Repo, index: &str, id: &str) -> Option<Value> {
    repo.get::<Value>(index, id).await.unwrap()
}

#[tokio::test]
async fn a_document_failing_half_way_is_reported_and_its_batch_still_indexed() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("bodies");
    repo.create_index(&index, &Doc::definition()).await.unwrap();
    let docs = vec![
        doc("1", "first", "a"),
        doc("2", "second", "poison"),
        doc("3", "third", "c"),
        doc("4", "fourth", "poison"),
    ];
    let report = Indexer::new(repo.clone(), index.clone())
        .batch_size(10)
        .run(ok(docs))
        .await
        .unwrap();
    assert_eq!((report.read, report.indexed), (4, 2), "{report:?}");
    let failed: Vec<(&str, u16, &str)> = report
        .failed
        .iter()
        .map(|f| (f.id.as_str(), f.status, f.kind.as_str()))
        .collect();
    assert_eq!(
        failed,
        [("2", 0, "serialization"), ("4", 0, "serialization")]
    );
    assert!(
        report.failed[0].reason.contains("refuses to serialize"),
        "{:?}",
        report.failed[0]
    );
    repo.refresh(&index).await.unwrap();
    assert_eq!(repo.count(&index, None).await.unwrap(), 2);
    assert_eq!(
        source(&repo, &index, "3").await,
        Some(json!({"id": "3", "title": "third", "label": "c"}))
    );
    assert_eq!(source(&repo, &index, "2").await, None);
}

#[tokio::test]
async fn hostile_ids_are_escaped_exactly_and_the_last_version_of_an_id_wins() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("bodies");
    repo.create_index(&index, &Doc::definition()).await.unwrap();
    let hostile = [
        "quote\"d",
        "back\\slash",
        "new\nline",
        "tab\tand \u{1}control",
        "}}\n{\"delete\":{\"_id\":\"1\"}}",
        "ünïcödé 🦀",
        "slash/and?query=1&x#frag",
    ];
    let mut docs: Vec<Doc> = hostile
        .iter()
        .map(|id| doc(id, &format!("title of {id}"), "k"))
        .collect();
    docs.insert(0, doc("1", "must stay", "k"));
    // The same id three times in one batch, with the byte bound splitting them across
    // requests: the last one written must win.
    docs.push(doc("dup", "v1", "k"));
    docs.push(doc("dup", "v2", "k"));
    docs.push(doc("dup", "v3 \"final\"", "k"));
    let report = Indexer::new(repo.clone(), index.clone())
        .batch_size(100)
        .batch_bytes(160)
        .concurrency(1)
        .run(ok(docs))
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.indexed, hostile.len() as u64 + 4);
    assert!(
        report.batches > 2,
        "the byte bound split the batch: {report:?}"
    );
    repo.refresh(&index).await.unwrap();
    for id in hostile {
        let got = source(&repo, &index, id).await;
        assert_eq!(
            got,
            Some(json!({"id": id, "title": format!("title of {id}"), "label": "k"})),
            "{id:?}"
        );
    }
    assert_eq!(
        source(&repo, &index, "1").await.unwrap()["title"],
        "must stay"
    );
    assert_eq!(
        source(&repo, &index, "dup").await.unwrap()["title"],
        "v3 \"final\""
    );
    assert_eq!(
        repo.count(&index, None).await.unwrap(),
        hostile.len() as u64 + 2
    );
}

#[tokio::test]
async fn create_only_skips_existing_documents_and_never_overwrites_them() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("bodies");
    repo.create_index(&index, &Doc::definition()).await.unwrap();
    let first = Indexer::new(repo.clone(), index.clone())
        .run(ok(vec![doc("1", "newer", "a"), doc("2", "newer", "a")]))
        .await
        .unwrap();
    assert!(first.is_complete(), "{first:?}");
    let backfill = Indexer::new(repo.clone(), index.clone())
        .create_only(true)
        .run(ok((1..=5)
            .map(|i| doc(&i.to_string(), "older", "b"))
            .collect()))
        .await
        .unwrap();
    assert!(backfill.is_complete(), "{:?}", backfill.failed);
    assert_eq!(
        (backfill.read, backfill.indexed, backfill.skipped),
        (5, 3, 2)
    );
    repo.refresh(&index).await.unwrap();
    assert_eq!(source(&repo, &index, "1").await.unwrap()["title"], "newer");
    assert_eq!(source(&repo, &index, "5").await.unwrap()["title"], "older");
}

/// A hand-written body through the trait's default `write_document_body`.
struct Custom(u32, Value);

impl Indexable for Custom {
    fn document_id(&self) -> String {
        self.0.to_string()
    }
    fn document_body(&self) -> Result<Value, serde_json::Error> {
        Ok(self.1.clone())
    }
}

/// A hand-written body that spans two lines: it would corrupt the NDJSON stream.
struct Pretty(u32);

impl Indexable for Pretty {
    fn document_id(&self) -> String {
        self.0.to_string()
    }
    fn document_body(&self) -> Result<Value, serde_json::Error> {
        Ok(json!({"id": self.0.to_string(), "title": "pretty", "label": "p"}))
    }
    fn write_document_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer_pretty(out, &self.document_body()?)
    }
}

#[tokio::test]
async fn hand_written_bodies_are_indexed_and_multi_line_ones_refused() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("bodies");
    repo.create_index(&index, &Doc::definition()).await.unwrap();
    let custom = (1..=3)
        .map(|i| {
            Custom(
                i,
                json!({"id": i.to_string(), "title": "custom", "label": "x"}),
            )
        })
        .collect();
    let report = Indexer::new(repo.clone(), index.clone())
        .run(ok(custom))
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failed);
    let report = Indexer::new(repo.clone(), index.clone())
        .run(ok(vec![Pretty(7)]))
        .await
        .unwrap();
    assert_eq!(report.indexed, 0);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].kind == "serialization" && report.failed[0].reason.contains("one line"),
        "{:?}",
        report.failed[0]
    );
    repo.refresh(&index).await.unwrap();
    assert_eq!(repo.count(&index, None).await.unwrap(), 3);
}

/// The serializers that ran over a [`Traced`] value, by type name.
static SERIALIZERS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// A field that records which serializer wrote it.
#[derive(Debug, Clone, Deserialize)]
struct Traced(i64);

impl Serialize for Traced {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SERIALIZERS.lock().unwrap().push(std::any::type_name::<S>());
        s.serialize_i64(self.0)
    }
}

#[derive(Document, Serialize, Deserialize, Clone, Debug)]
#[search(index = "traced", shards = 1, replicas = 0, dynamic = "strict")]
struct TracedDoc {
    #[search(id)]
    id: i64,
    #[search(type = "long")]
    views: Traced,
}

#[tokio::test]
async fn each_document_is_serialized_once_straight_into_the_bulk_body() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("traced");
    repo.create_index(&index, &TracedDoc::definition())
        .await
        .unwrap();
    let docs: Vec<TracedDoc> = (1..=50)
        .map(|i| TracedDoc {
            id: i,
            views: Traced(i * 10),
        })
        .collect();
    let report = Indexer::new(repo.clone(), index.clone())
        .batch_size(20)
        .run(ok(docs))
        .await
        .unwrap();
    assert!(report.is_complete(), "{:?}", report.failed);
    let serializers = SERIALIZERS.lock().unwrap().clone();
    assert_eq!(serializers.len(), 50, "one serialization per document");
    assert!(
        serializers
            .iter()
            .all(|s| !s.contains("value::") && s.contains("Vec<u8>")),
        "documents must be written straight into the body, never through a `Value`: {:?}",
        serializers.first()
    );
    repo.refresh(&index).await.unwrap();
    assert_eq!(
        source(&repo, &index, "7").await,
        Some(json!({"id": 7, "views": 70}))
    );
}
