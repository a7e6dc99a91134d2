//! Each HTTP request of a download runs in a span with OpenTelemetry's HTTP client fields
//! (`http.request.method`, `server.address`, `server.port`, `url.full`,
//! `http.response.status_code`, `error.type`), captured by a recording layer, with no
//! credential in any of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_core::{Backoff, Jitter, SecretSource};
use reel_geoip::testdata::CityDatabase;
use reel_geoip::{DownloadSource, GeoIp};
use support::maxmind_standin::{ACCOUNT, ETAG, KEY, maxmind_archive, publish, server};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

/// Every span named `geoip.download.request`, with its fields as recorded.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(Id, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
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

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() != "geoip.download.request" {
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        self.0.lock().unwrap().push((id.clone(), fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, fields)) = spans.iter_mut().find(|(i, _)| i == id) {
            values.record(&mut Collect(fields));
        }
    }
}

fn take(captured: &Captured) -> Vec<Fields> {
    captured
        .0
        .lock()
        .unwrap()
        .drain(..)
        .map(|(_, fields)| fields)
        .collect()
}

// A current-thread runtime: the subscriber set for this thread sees every span.
#[tokio::test]
async fn download_requests_carry_http_client_fields() {
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let (base, served) = server().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let geoip = GeoIp::new();
    let source = DownloadSource::maxmind(ACCOUNT, SecretSource::literal(KEY), "GeoLite2-City")
        .base_url(&base)
        .backoff(
            Backoff::new(Duration::from_millis(1), Duration::from_millis(2))
                .with_jitter(Jitter::None)
                .with_max_retries(0),
        );

    // Quota exhausted: one request, answered 429.
    served.lock().unwrap().status = Some(429);
    assert!(source.check_now(&geoip).await.is_err());
    let spans = take(&captured);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span["http.request.method"], "GET");
    assert_eq!(span["server.address"], "127.0.0.1");
    assert_eq!(span["server.port"], port);
    assert_eq!(span["http.response.status_code"], "429");
    assert_eq!(span["error.type"], "429");
    assert!(span["url.full"].contains("/geoip/databases/GeoLite2-City/download"));

    // A release: the archive and its checksum file, each a request of its own, no error.
    served.lock().unwrap().status = None;
    publish(
        &served,
        maxmind_archive(&CityDatabase::new().version(1).build().unwrap()),
        ETAG,
    );
    source.check_now(&geoip).await.unwrap();
    let spans = take(&captured);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    for span in &spans {
        assert_eq!(span["http.response.status_code"], "200", "{span:?}");
        assert!(!span.contains_key("error.type"), "{span:?}");
        for value in span.values() {
            assert!(!value.contains(KEY), "credential in a span: {span:?}");
        }
    }
    assert!(spans[1]["url.full"].contains("suffix=tar.gz.sha256"));

    // A closed port: no status, `error.type` names the failure.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let offline = DownloadSource::url(format!("http://{closed}/db.mmdb")).backoff(
        Backoff::new(Duration::from_millis(1), Duration::from_millis(2)).with_max_retries(0),
    );
    assert!(offline.check_now(&geoip).await.is_err());
    let spans = take(&captured);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0]["error.type"], "network");
    assert!(!spans[0].contains_key("http.response.status_code"));
}
