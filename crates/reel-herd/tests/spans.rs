//! Every command runs in a span with the OpenTelemetry database fields, checked with a
//! subscriber layer that captures span fields (real memcached and redis servers).
#![cfg(all(feature = "memcache", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_testkit::{Memcached, Redis};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

/// Captures the name and fields of every span, with values recorded after creation.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, Fields)>>>);

struct FieldVisitor<'a>(&'a mut Fields);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").replace('"', ""),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Index of a span in the capture list, kept in the span's extensions.
struct Slot(usize);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        // Declared fields without a value (`Empty`) are listed as declared.
        for field in attrs.metadata().fields() {
            fields.insert(field.name().to_owned(), "<empty>".to_owned());
        }
        attrs.record(&mut FieldVisitor(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Slot(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(Slot(slot)) = span.extensions().get::<Slot>().map(|s| Slot(s.0)) else {
            return;
        };
        let mut spans = self.0.lock().unwrap();
        values.record(&mut FieldVisitor(&mut spans[slot].1));
    }
}

impl Capture {
    fn commands(&self) -> Vec<Fields> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| name == "herd.command")
            .map(|(_, fields)| fields.clone())
            .collect()
    }
}

fn expected(
    system: &str,
    operation: &str,
    host: &str,
    port: u16,
    error: &str,
) -> BTreeMap<String, String> {
    [
        ("db.system.name", system),
        ("db.operation.name", operation),
        ("server.address", host),
        ("server.port", &port.to_string()),
        ("error.type", error),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

// The current-thread runtime keeps every span on the thread the subscriber is set for.
#[tokio::test]
async fn commands_run_in_spans_with_the_opentelemetry_database_fields() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));

    let mut memcached = Memcached::start().unwrap();
    let port = memcached.port();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&memcached.host_port()).unwrap())
        .build_memcache()
        .await
        .unwrap();
    cache
        .set("span:key", b"value", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(cache.get("span:key").await.unwrap().is_some());
    memcached.kill();
    assert!(cache.get("span:key").await.is_err());

    let redis = Redis::start().unwrap();
    let redis_cluster = ClusterBuilder::new(StaticDiscovery::parse(&redis.host_port()).unwrap())
        .build_redis()
        .await
        .unwrap();
    let () = redis_cluster
        .query("span:key", redis::cmd("SET").arg("span:key").arg("v"))
        .await
        .unwrap();

    let spans = capture.commands();
    let memcached_port = port;
    assert_eq!(
        spans,
        vec![
            expected("memcached", "set", "127.0.0.1", memcached_port, "<empty>"),
            expected("memcached", "get", "127.0.0.1", memcached_port, "<empty>"),
            // The killed server: the read and its retry (on the same, only node) fail.
            expected("memcached", "get", "127.0.0.1", memcached_port, "io"),
            expected("memcached", "get", "127.0.0.1", memcached_port, "io"),
            expected("redis", "query", "127.0.0.1", redis.port(), "<empty>"),
        ]
    );
}

#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn redis_cluster_commands_run_in_spans_too() {
    use reel_herd::{Node, RedisClusterBuilder};

    let cluster = reel_testkit::RedisCluster::start().unwrap();
    let seeds: Vec<Node> = cluster
        .host_ports()
        .iter()
        .map(|s| Node::parse(s).unwrap())
        .collect();
    let client = RedisClusterBuilder::new(seeds).connect().await.unwrap();
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let () = client
        .query(redis::cmd("set").arg("{span}:a").arg("1"))
        .await
        .unwrap();
    let script = redis::Script::new("return redis.call('GET', KEYS[1])");
    let value: String = client.invoke_script(&script.key("{span}:a")).await.unwrap();
    assert_eq!(value, "1");
    // A wrong-type error from the server: error.type recorded.
    assert!(
        client
            .query::<i64>(redis::cmd("INCR").arg("{span}:a").arg("extra"))
            .await
            .is_err()
    );
    let spans = capture.commands();
    let field = |i: usize, name: &str| spans[i].get(name).cloned().unwrap_or_default();
    assert_eq!(spans.len(), 3, "{spans:?}");
    for i in 0..3 {
        assert_eq!(field(i, "db.system.name"), "redis");
        assert_eq!(field(i, "server.address"), "<empty>");
    }
    assert_eq!(
        (0..3)
            .map(|i| field(i, "db.operation.name"))
            .collect::<Vec<_>>(),
        ["SET", "EVALSHA", "INCR"]
    );
    assert_eq!(
        (0..3).map(|i| field(i, "error.type")).collect::<Vec<_>>(),
        ["<empty>", "<empty>", "redis"]
    );
}
