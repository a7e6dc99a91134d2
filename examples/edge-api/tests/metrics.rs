//! `/metrics` after real traffic: the edge API against a real memcached, a known set of
//! requests, then one scrape whose series must count exactly those requests.
//!
//! Its own test binary: the Prometheus recorder is process-wide, so no other test may add to
//! the counts this one checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use example_edge_api::{Config, telemetry};
use reel_testkit::Memcached;

mod support;

use support::{scratch_dir, start};

/// One sample line of the text format: the metric name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// Parses Prometheus' text format into samples (comments skipped).
fn samples(text: &str) -> BTreeMap<Series, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').expect("label=value");
                (key.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect();
        samples.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    samples
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .get(&(name.to_owned(), labels.clone()))
        .copied()
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in the scrape"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_requests_that_were_made() {
    let handle = telemetry::install_recorder().unwrap();
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", metrics_listener.local_addr().unwrap());
    tokio::spawn(telemetry::serve_metrics(
        metrics_listener,
        handle,
        std::future::pending(),
    ));

    let memcached = Memcached::start().unwrap();
    let base = start(Config {
        memcache_servers: Some(memcached.host_port()),
        data_dir: scratch_dir("metrics"),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let status = async |url: String| http.get(url).send().await.unwrap().status().as_u16();

    // One miss then two hits of the same read; two bad sorts; one unknown route.
    for _ in 0..3 {
        assert_eq!(status(format!("{base}/v2/assets/1")).await, 200);
    }
    for _ in 0..2 {
        assert_eq!(status(format!("{base}/v2/assets?sort=bogus")).await, 400);
    }
    assert_eq!(status(format!("{base}/nowhere")).await, 404);
    // A second service without a cache: its read is `off`.
    let uncached = start(Config {
        data_dir: scratch_dir("metrics"),
        ..Config::default()
    })
    .await;
    assert_eq!(status(format!("{uncached}/v2/assets")).await, 200);

    let response = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    let samples = samples(&text);

    for (name, kind) in [
        ("http_server_request_duration_seconds", "histogram"),
        ("reel_edge_cache_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "{name} is not a {kind}:\n{text}"
        );
    }
    let count = "http_server_request_duration_seconds_count";
    let route = |route, code| {
        [
            ("http_request_method", "GET"),
            ("http_route", route),
            ("http_response_status_code", code),
        ]
    };
    assert_eq!(
        value(&samples, count, &route("/v2/assets/{id}", "200")),
        3.0
    );
    assert_eq!(value(&samples, count, &route("/v2/assets", "400")), 2.0);
    assert_eq!(value(&samples, count, &route("/v2/assets", "200")), 1.0);
    // No route matched: no `http_route` label (the raw path would be unbounded).
    assert_eq!(
        value(
            &samples,
            count,
            &[
                ("http_request_method", "GET"),
                ("http_response_status_code", "404")
            ]
        ),
        1.0
    );
    assert!(
        !text.contains("/nowhere"),
        "a raw path became a label:\n{text}"
    );
    // A real histogram (buckets, not a summary): +Inf holds every request.
    let mut inf = route("/v2/assets/{id}", "200").to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        value(
            &samples,
            "http_server_request_duration_seconds_bucket",
            &inf
        ),
        3.0
    );
    assert!(
        value(
            &samples,
            "http_server_request_duration_seconds_sum",
            &route("/v2/assets/{id}", "200")
        ) > 0.0
    );

    let cache = "reel_edge_cache_total";
    assert_eq!(value(&samples, cache, &[("outcome", "miss")]), 1.0);
    assert_eq!(value(&samples, cache, &[("outcome", "hit")]), 2.0);
    assert_eq!(value(&samples, cache, &[("outcome", "off")]), 1.0);
    assert!(
        !samples.keys().any(|(name, labels)| name == cache
            && labels.get("outcome").map(String::as_str) == Some("bypass")),
        "no read bypassed the cache:\n{text}"
    );

    // The reel crates' own metrics, recorded by the same recorder (their `metrics` features
    // are on in the edge API): the cache's memcached commands, and the rate limiter's
    // decisions.
    let sum = |name: &str, label: &str, wanted: &str| -> f64 {
        samples
            .iter()
            .filter(|((n, labels), _)| {
                n == name && labels.get(label).map(String::as_str) == Some(wanted)
            })
            .map(|(_, v)| *v)
            .sum()
    };
    let herd = "reel_herd_commands_total";
    assert!(
        text.contains(&format!("# HELP {herd} ")),
        "no HELP for {herd}:\n{text}"
    );
    assert_eq!(
        sum(herd, "outcome", "hit"),
        2.0,
        "two cached reads hit memcached:\n{text}"
    );
    assert!(
        sum(herd, "outcome", "miss") >= 1.0,
        "the first read missed:\n{text}"
    );
    assert!(
        samples.keys().any(|(n, labels)| n == herd
            && labels.get("node").map(String::as_str) == Some(memcached.host_port().as_str())),
        "herd labels its series with the node:\n{text}"
    );
    let decisions = "reel_ratelimit_decisions_total";
    assert!(
        sum(decisions, "outcome", "allowed") >= 7.0,
        "every request of this test was allowed by the rate limiter:\n{text}"
    );
    assert_eq!(
        sum(decisions, "outcome", "denied"),
        0.0,
        "nothing was denied:\n{text}"
    );
}
