//! The redis and memcache stores' spans carry the OpenTelemetry database fields, captured by a
//! tracing-subscriber layer from real redis-server and memcached processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "redis", feature = "memcache"))]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_herd::{ClusterBuilder, StaticDiscovery};
use reel_ratelimit::{MemcacheStore, Quota, RedisStore, Store};
use reel_testkit::{Memcached, Redis};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

type Fields = BTreeMap<String, String>;
/// A captured span: the names of its declared fields, and its values.
type Captured = (Vec<&'static str>, Fields);

/// Every span named `rate-limit store`: the fields declared at creation and the values
/// recorded (at creation or later), in creation order.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<Captured>>>,
    index: Arc<Mutex<HashMap<u64, usize>>>,
}

struct Values<'a>(&'a mut Fields);

impl Visit for Values<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        if attrs.metadata().name() != "rate-limit store" {
            return;
        }
        let declared = attrs.metadata().fields().iter().map(|f| f.name()).collect();
        let mut fields = Fields::new();
        attrs.record(&mut Values(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        self.index
            .lock()
            .unwrap()
            .insert(id.into_u64(), spans.len());
        spans.push((declared, fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(&i) = self.index.lock().unwrap().get(&id.into_u64()) {
            values.record(&mut Values(&mut self.spans.lock().unwrap()[i].1));
        }
    }
}

impl Capture {
    fn take(&self) -> Vec<Fields> {
        let mut spans = self.spans.lock().unwrap();
        for (declared, _) in spans.iter() {
            for name in [
                "db.system.name",
                "db.operation.name",
                "server.address",
                "server.port",
                "error.type",
            ] {
                assert!(
                    declared.contains(&name),
                    "{name} not declared: {declared:?}"
                );
            }
        }
        self.index.lock().unwrap().clear();
        spans.drain(..).map(|(_, fields)| fields).collect()
    }
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn redis_store_spans_carry_the_semantic_convention_fields() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let mut server = Redis::start().unwrap();
    let port = server.port().to_string();
    let client = redis::Client::open(server.url()).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(300)))
        .set_number_of_retries(0);
    let connection = redis::aio::ConnectionManager::new_with_config(client, config)
        .await
        .unwrap();
    let store = RedisStore::new(connection).server_address("127.0.0.1", server.port());
    let quota: Quota = "10/s".parse().unwrap();

    store.decide("k", &quota, 1).await.unwrap();
    store.peek("k", &quota).await.unwrap();
    store.reset("k").await.unwrap();
    let ok = |op| {
        fields(&[
            ("db.system.name", "redis"),
            ("db.operation.name", op),
            ("server.address", "127.0.0.1"),
            ("server.port", &port),
        ])
    };
    assert_eq!(capture.take(), [ok("EVALSHA"), ok("EVALSHA"), ok("DEL")]);

    server.kill();
    let error = store.decide("k", &quota, 1).await.unwrap_err();
    let mut failed = ok("EVALSHA");
    failed.insert("error.type".into(), "backend".into());
    assert_eq!(capture.take(), [failed], "{error}");
}

#[tokio::test]
async fn memcache_store_spans_carry_the_semantic_convention_fields() {
    let capture = Capture::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));
    let mut server = Memcached::start().unwrap();
    let port = server.port().to_string();
    let cluster = ClusterBuilder::new(StaticDiscovery::parse(&server.host_port()).unwrap())
        .command_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(200))
        .build_memcache()
        .await
        .unwrap();
    let store = MemcacheStore::new(cluster);
    let quota: Quota = "10/s".parse().unwrap();

    store.decide("k", &quota, 1).await.unwrap(); // cold key: gets + add
    store.decide("k", &quota, 1).await.unwrap(); // known token: cas
    store.reset("k").await.unwrap();
    let ok = |op| {
        fields(&[
            ("db.system.name", "memcached"),
            ("db.operation.name", op),
            ("server.address", "127.0.0.1"),
            ("server.port", &port),
        ])
    };
    assert_eq!(
        capture.take(),
        [ok("gets"), ok("add"), ok("cas"), ok("delete")]
    );

    server.kill();
    store.decide("k", &quota, 1).await.unwrap_err();
    let spans = capture.take();
    assert!(!spans.is_empty());
    let last = spans.last().unwrap();
    assert_eq!(
        last.get("db.system.name").map(String::as_str),
        Some("memcached")
    );
    assert_eq!(
        last.get("error.type").map(String::as_str),
        Some("backend"),
        "{spans:?}"
    );
}
