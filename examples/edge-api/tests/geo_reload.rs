//! A `REEL_GEOIP_DB` file replaced while the service runs is loaded within seconds (file-system
//! events), not at the next 60 s poll: an updater that renames a new release over the file
//! is seen at once, as the guide says ("reloaded when the file changes").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use example_edge_api::{Config, app, serve};
use reel_geoip::testdata::CityDatabase;
use serde_json::Value;

/// How long the reload may take; the file source's poll interval in the edge API is 60 s, so
/// only file-system events can meet it.
const RELOAD_DEADLINE: Duration = Duration::from_secs(10);

async fn geo_status(http: &reqwest::Client, base: &str) -> Value {
    let body: Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["backends"]["geoip"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geo_database_renamed_over_the_file_is_loaded_within_seconds() {
    let dir = std::env::temp_dir().join(format!("edge-api-geo-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("GeoLite2-City.mmdb");
    std::fs::write(&path, CityDatabase::new().version(1).build().unwrap()).unwrap();
    let config = Config {
        geoip_db: Some(path.clone()),
        data_dir: dir.join("data"),
        ..Config::default()
    };
    let router = app(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router, std::future::pending()));
    let http = reqwest::Client::new();
    let before = geo_status(&http, &base).await;
    assert_eq!(before["ok"], true, "{before}");
    let reloads = before["reloads"].as_u64().unwrap();

    // A new release, written next to the file and renamed over it, as geoipupdate does.
    let tmp = dir.join("GeoLite2-City.mmdb.tmp");
    std::fs::write(&tmp, CityDatabase::new().version(2).build().unwrap()).unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    let deadline = Instant::now() + RELOAD_DEADLINE;
    let mut now = geo_status(&http, &base).await;
    while now["reloads"].as_u64().unwrap() <= reloads {
        assert!(
            Instant::now() < deadline,
            "the replaced database was not loaded within {RELOAD_DEADLINE:?}: {now}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = geo_status(&http, &base).await;
    }
    assert_eq!(now["ok"], true, "{now}");
    let _ = std::fs::remove_dir_all(&dir);
}
