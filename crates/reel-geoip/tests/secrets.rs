//! Credentials never appear in an error, status, event, log line or `Debug` output: mirror
//! URLs with user info and query tokens, a proxy base URL with user info, the license key,
//! and the storage host's presigned signature after MaxMind's redirect.
//!
//! Its own test binary: it installs a global tracing subscriber that records every log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_core::{Backoff, Jitter, SecretSource};
use reel_geoip::testdata::CityDatabase;
use reel_geoip::{DownloadSource, GeoIp, Slot};
use support::maxmind_standin::{
    ACCOUNT, ETAG, STORAGE_SIGNATURE, maxmind_archive, publish, server, sha256,
};

const SECRETS: [&str; 4] = ["pw-secret", "query-secret", "base-secret", "lic-secret"];

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS.iter().chain([&STORAGE_SIGNATURE]) {
        assert!(!text.contains(secret), "{what} leaks {secret}: {text}");
    }
}

fn quick() -> Backoff {
    Backoff::new(Duration::from_millis(1), Duration::from_millis(5))
        .with_jitter(Jitter::None)
        .with_max_retries(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_errors_status_events_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let (base, served) = server().await;
    let db = CityDatabase::new().version(1).build().unwrap();
    publish(&served, maxmind_archive(&db), ETAG);
    served
        .lock()
        .unwrap()
        .files
        .push(("city.mmdb".into(), db.clone()));
    served.lock().unwrap().files.push((
        "city.mmdb.sha256".into(),
        format!("{}  city.mmdb\n", sha256(&db)).into_bytes(),
    ));
    let host = base.trim_start_matches("http://");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };

    let geoip = GeoIp::new();
    let mut events = geoip.events();
    let sources = [
        // A mirror with credentials in user info and query: 404, then a good file.
        DownloadSource::url(format!(
            "http://user:pw-secret@{host}/files/missing.mmdb?token=query-secret"
        )),
        DownloadSource::url(format!("http://{closed}/city.mmdb?token=query-secret")),
        DownloadSource::url(format!(
            "http://user:pw-secret@{host}/files/city.mmdb?token=query-secret"
        ))
        .sha256_url(format!(
            "http://{host}/files/wrong.sha256?token=query-secret"
        )),
        DownloadSource::url(format!(
            "http://user:pw-secret@{host}/files/city.mmdb?token=query-secret"
        )),
        // MaxMind through a proxy base URL with user info, a wrong key (401), then through
        // the redirect to the storage host.
        DownloadSource::maxmind(
            ACCOUNT,
            SecretSource::literal("lic-secret"),
            "GeoLite2-City",
        )
        .base_url(format!("http://proxy:base-secret@{host}")),
        DownloadSource::maxmind(
            ACCOUNT,
            SecretSource::literal(support::maxmind_standin::KEY),
            "GeoLite2-City",
        )
        .base_url(&base),
    ];
    let mut outcomes = Vec::new();
    for source in sources {
        let source = source.backoff(quick());
        assert_clean("Debug", &format!("{source:?}"));
        let result = source.check_now(&geoip).await;
        if let Err(error) = &result {
            assert_clean("error", &error.to_string());
            assert_clean("error Debug", &format!("{error:?}"));
        }
        outcomes.push(result.is_ok());
        assert_clean(
            "status",
            &format!("{:?}", geoip.status(&Slot::Location).unwrap()),
        );
        let task = source.spawn(geoip.clone());
        assert_clean("task name", task.name());
        task.shutdown().await.unwrap();
    }
    assert_eq!(
        outcomes,
        [false, false, false, true, false, true],
        "{outcomes:?}"
    );
    while let Ok(event) = events.try_recv() {
        assert_clean("event", &format!("{event:?}"));
    }
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("geoip"),
        "the subscriber saw the logs: {logged}"
    );
    assert_clean("logs", &logged);
}
