//! Metrics (feature `metrics`, through a `metrics-util` debugging recorder) and tracing spans
//! (captured by a subscriber layer) of real requests to the search node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use common::{Asset, asset};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use reel_search::{Document, Indexer, Query, SearchRequest, VersionedIndex};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One global recorder per test binary (handles are bound when a `Repo` is built).
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        reel_search::describe_metrics();
        snapshotter
    })
}

type Key = (String, Vec<(String, String)>);

/// A metric's accumulated value.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Counter(u64),
    Gauge(f64),
    Histogram(Vec<f64>),
}

/// Every metric as (name, sorted labels) -> value, accumulated over snapshots (a snapshot
/// drains the debugging recorder: counters add up, histograms gather, gauges keep the last).
fn metrics() -> HashMap<Key, V> {
    static SEEN: OnceLock<Mutex<HashMap<Key, V>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Mutex::default).lock().unwrap();
    for (key, _unit, _desc, value) in snapshotter().snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        let entry = (key.name().to_owned(), labels);
        match (seen.get_mut(&entry), value) {
            (Some(V::Counter(total)), DebugValue::Counter(n)) => *total += n,
            (Some(V::Histogram(all)), DebugValue::Histogram(more)) => {
                all.extend(more.into_iter().map(|v| v.into_inner()))
            }
            (_, DebugValue::Counter(n)) => {
                seen.insert(entry, V::Counter(n));
            }
            (_, DebugValue::Gauge(g)) => {
                seen.insert(entry, V::Gauge(g.into_inner()));
            }
            (_, DebugValue::Histogram(h)) => {
                seen.insert(
                    entry,
                    V::Histogram(h.into_iter().map(|v| v.into_inner()).collect()),
                );
            }
        }
    }
    seen.clone()
}

fn value(name: &str, labels: &[(&str, &str)]) -> Option<V> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    metrics().remove(&(name.to_owned(), labels))
}

fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    match value(name, labels) {
        Some(V::Counter(n)) => n,
        other => panic!("{name}{labels:?}: {other:?}"),
    }
}

#[tokio::test]
async fn requests_bulk_items_indexer_rows_and_migration_phase_are_counted() {
    snapshotter();
    spans();
    let server = common::search_server();
    let repo = common::repo(&server);
    let alias = server.index("metrics");
    let searches_ok = || {
        counter_or_zero(
            "reel_search_requests_total",
            &[("operation", "search"), ("outcome", "ok")],
        )
    };
    let before_ok = searches_ok();
    let before_created = counter_or_zero("reel_search_bulk_items_total", &[("result", "created")]);

    let index = VersionedIndex::<Asset>::with_definition(
        repo.clone(),
        Asset::definition().with_name(&alias),
    );
    let source = futures::stream::iter((0..7).map(|i| Ok::<_, std::io::Error>(asset(i))));
    index.ensure_current(source).await.unwrap();
    let physical = format!("{alias}_v1");
    assert_eq!(
        counter("reel_search_indexer_rows_total", &[("index", &physical)]),
        7
    );
    assert!(matches!(
        value("reel_search_migration_phase", &[("alias", &alias)]),
        Some(V::Gauge(g)) if g == 0.0
    ));
    assert!(
        counter_or_zero("reel_search_bulk_items_total", &[("result", "created")])
            >= before_created + 7
    );

    repo.search::<Asset>(&alias, &SearchRequest::new().query(Query::match_all()))
        .await
        .unwrap();
    assert!(searches_ok() > before_ok);
    repo.search::<Asset>(&server.index("missing"), &SearchRequest::new())
        .await
        .unwrap_err();
    assert!(
        counter(
            "reel_search_requests_total",
            &[("operation", "search"), ("outcome", "error")]
        ) >= 1
    );
    match value(
        "reel_search_request_duration_seconds",
        &[("operation", "search")],
    ) {
        Some(V::Histogram(samples)) => assert!(samples.len() >= 2),
        other => panic!("{other:?}"),
    }
    // The indexer alone, into a plain index.
    let plain = server.index("metrics_plain");
    repo.create_index(&plain, &Asset::definition())
        .await
        .unwrap();
    Indexer::new(repo.clone(), &plain)
        .run(futures::stream::iter(
            (0..3).map(|i| Ok::<_, std::io::Error>(asset(i))),
        ))
        .await
        .unwrap();
    assert_eq!(
        counter("reel_search_indexer_rows_total", &[("index", &plain)]),
        3
    );
}

fn counter_or_zero(name: &str, labels: &[(&str, &str)]) -> u64 {
    match value(name, labels) {
        Some(V::Counter(n)) => n,
        _ => 0,
    }
}

/// The fields of every span created, by span name.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SpanFields>>>);

/// The thread a span was created on, its name and its fields.
type SpanFields = (std::thread::ThreadId, String, HashMap<String, String>);

/// The span capture, installed as the global subscriber once per test binary before any
/// test sends a request. (A thread-local `set_default` is not enough: when another test
/// thread without a subscriber registers a span's callsite while the default is being set,
/// tracing can cache "never interested" for that callsite, and the span is never seen.)
/// Each test reads only the spans created on its own thread (`#[tokio::test]` runs on a
/// current-thread runtime).
fn spans() -> &'static Spans {
    static SPANS: OnceLock<Spans> = OnceLock::new();
    SPANS.get_or_init(|| {
        let spans = Spans::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans.clone()))
            .unwrap();
        spans
    })
}

impl Spans {
    /// The spans created on the calling thread.
    fn on_this_thread(&self) -> Vec<(String, HashMap<String, String>)> {
        let me = std::thread::current().id();
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(thread, _, _)| *thread == me)
            .map(|(_, name, fields)| (name.clone(), fields.clone()))
            .collect()
    }
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        // Declared fields, recorded or not.
        for field in attrs.metadata().fields() {
            fields.entry(field.name().to_owned()).or_default();
        }
        let mut spans = self.0.lock().unwrap();
        spans.push((
            std::thread::current().id(),
            attrs.metadata().name().to_owned(),
            fields,
        ));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(spans.len() - 1);
        }
    }
    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let Some(&i) = span.extensions().get::<usize>() else {
            return;
        };
        let mut spans = self.0.lock().unwrap();
        values.record(&mut Fields(&mut spans[i].2));
    }
}

#[tokio::test]
async fn every_request_runs_in_a_span_with_the_semantic_convention_fields() {
    let spans = spans();
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("spans");

    repo.create_index(&index, &Asset::definition())
        .await
        .unwrap();
    repo.search::<Asset>(&index, &SearchRequest::new())
        .await
        .unwrap();
    repo.search::<Asset>(&server.index("nowhere"), &SearchRequest::new())
        .await
        .unwrap_err();

    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let spans = spans.on_this_thread();
    let requests: Vec<&HashMap<String, String>> = spans
        .iter()
        .filter(|(name, _)| name == "elasticsearch")
        .map(|(_, f)| f)
        .collect();
    assert!(requests.len() >= 3, "{spans:?}");
    for fields in &requests {
        assert_eq!(fields["db.system.name"], "elasticsearch", "{fields:?}");
        assert_eq!(fields["server.address"], "127.0.0.1", "{fields:?}");
        assert_eq!(fields["server.port"], port, "{fields:?}");
        assert!(fields.contains_key("error.type"), "{fields:?}");
    }
    let ops: Vec<&str> = requests
        .iter()
        .map(|f| f["db.operation.name"].as_str())
        .collect();
    assert!(ops.contains(&"create_index"), "{ops:?}");
    let searches: Vec<&&HashMap<String, String>> = requests
        .iter()
        .filter(|f| f["db.operation.name"] == "search")
        .collect();
    assert_eq!(searches.len(), 2, "{searches:?}");
    assert_eq!(searches[0]["error.type"], "", "{searches:?}");
    assert_eq!(searches[1]["error.type"], "404", "{searches:?}");
}
