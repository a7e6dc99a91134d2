//! `/metrics` after real traffic: the edge API against real memcached nodes, redis and the
//! search server, a known set of requests, then a scrape whose series must count exactly
//! those requests; then the events the other metrics need (a cache node ejected, redis lost,
//! the geo database replaced and downloaded, a search server unreachable, a rejected body),
//! and a scrape that must hold every metric of the guide's tables
//! (`docs/src/ops/metrics.md`), with values that match what was done.
//!
//! Its own test binary: the Prometheus recorder is process-wide, so no other test may add to
//! the counts this one checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use example_edge_api::{Config, telemetry};
use reel_geoip::testdata::CityDatabase;
use reel_testkit::{Memcached, Redis, Search};

mod support;

use support::{Downloads, eventually, maxmind_config, maxmind_service, scratch_dir, send, start};

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

/// Metrics of the guide's tables that cannot occur in the edge API, and why (the guide's
/// table says so too).
const CANNOT_OCCUR: &[(&str, &str)] = &[(
    "reel_herd_multi_get_keys_total",
    "the response cache reads one key per request (`get`), never `get_multi`/`mget`",
)];

/// Every metric of the guide's tables (`| `name` | type | ...` rows), with its type.
fn guide_metrics() -> Vec<(String, String)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/ops/metrics.md");
    let guide = std::fs::read_to_string(&path).unwrap();
    guide
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect()
}

/// The sum of `name`'s samples whose `label` is `wanted`.
fn sum(samples: &BTreeMap<Series, f64>, name: &str, label: &str, wanted: &str) -> f64 {
    samples
        .iter()
        .filter(|((n, labels), _)| {
            n == name && labels.get(label).map(String::as_str) == Some(wanted)
        })
        .map(|(_, v)| *v)
        .sum()
}

/// The sum of all of `name`'s samples.
fn total(samples: &BTreeMap<Series, f64>, name: &str) -> f64 {
    samples
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| *v)
        .sum()
}

async fn scrape(http: &reqwest::Client, metrics_url: &str) -> String {
    let response = http.get(metrics_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_in_the_guide_is_scraped_with_values_from_the_actions_taken() {
    let handle = telemetry::install_recorder().unwrap();
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", metrics_listener.local_addr().unwrap());
    tokio::spawn(telemetry::serve_metrics(
        metrics_listener,
        handle,
        std::future::pending(),
    ));

    let first = Memcached::start().unwrap();
    let mut second = Memcached::start().unwrap();
    let mut redis = Redis::start().unwrap();
    let search = Search::start().unwrap();
    let dir = scratch_dir("metrics");
    std::fs::create_dir_all(&dir).unwrap();
    let geo_file = dir.join("GeoLite2-City.mmdb");
    std::fs::write(&geo_file, CityDatabase::new().version(1).build().unwrap()).unwrap();
    let base = start(Config {
        memcache_servers: Some(format!("{},{}", first.host_port(), second.host_port())),
        redis_url: Some(redis.url()),
        search_url: Some(search.url().to_owned()),
        search_index: search.index("edge-metrics"),
        geoip_db: Some(geo_file.clone()),
        data_dir: dir.join("data"),
        // A loaded machine may take longer than the start-up limit to build the index: it is
        // built in the background, and the test waits for it.
        start_degraded: true,
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    eventually(
        Duration::from_secs(90),
        "the search index is built",
        async || {
            let health = send(http.get(format!("{base}/healthz"))).await;
            health.body["backends"]["search"]["ok"] == true
        },
    )
    .await;

    let known = Known {
        memcached_nodes: vec![first.host_port(), second.host_port()],
    };
    known_requests(&http, &base).await;
    let text = scrape(&http, &metrics_url).await;
    known_requests_are_counted(&text, &known);

    let done = events(
        &http,
        &base,
        &metrics_url,
        &mut second,
        &mut redis,
        &geo_file,
    )
    .await;
    let text = scrape(&http, &metrics_url).await;
    every_guide_metric_is_there(&text);
    events_are_counted(&text, &done);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What [`known_requests`] saw that the counts depend on.
struct Known {
    memcached_nodes: Vec<String>,
}

/// One miss then two hits of the same read; two bad sorts; one unknown route; and one read of
/// a second service without a cache (`off`).
async fn known_requests(http: &reqwest::Client, base: &str) {
    let status = async |url: String| http.get(url).send().await.unwrap().status().as_u16();
    for _ in 0..3 {
        assert_eq!(status(format!("{base}/v2/assets/1")).await, 200);
    }
    for _ in 0..2 {
        assert_eq!(status(format!("{base}/v2/assets?sort=bogus")).await, 400);
    }
    assert_eq!(status(format!("{base}/nowhere")).await, 404);
    let uncached = start(Config {
        data_dir: scratch_dir("metrics"),
        ..Config::default()
    })
    .await;
    assert_eq!(status(format!("{uncached}/v2/assets")).await, 200);
}

/// The first scrape counts exactly [`known_requests`].
fn known_requests_are_counted(text: &str, known: &Known) {
    let samples = samples(text);
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
    let sum = |name: &str, label: &str, wanted: &str| sum(&samples, name, label, wanted);
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
            && labels
                .get("node")
                .is_some_and(|node| known.memcached_nodes.contains(node))),
        "herd labels its series with the node:\n{text}"
    );
    let decisions = "reel_ratelimit_decisions_total";
    assert!(
        sum(decisions, "outcome", "allowed") >= 6.0,
        "every request of this test was allowed by the rate limiter:\n{text}"
    );
    assert_eq!(
        sum(decisions, "outcome", "denied"),
        0.0,
        "nothing was denied:\n{text}"
    );
}

/// What [`events`] did, for the values checked against it.
struct Done {
    ejected_node: String,
}

/// The events the other metrics need: a geo database replaced (a reload), a body that is not
/// JSON:API (a validation error), a cache node killed until herd ejects it, redis killed until
/// the limiter's breaker opens, a service that downloads its geo database from the MaxMind
/// stand-in, and one whose search server cannot be reached (retries).
async fn events(
    http: &reqwest::Client,
    base: &str,
    metrics_url: &str,
    second: &mut Memcached,
    redis: &mut Redis,
    geo_file: &std::path::Path,
) -> Done {
    let reloads = async || {
        send(http.get(format!("{base}/healthz"))).await.body["backends"]["geoip"]["reloads"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = reloads().await;
    let tmp = geo_file.with_extension("mmdb.tmp");
    std::fs::write(&tmp, CityDatabase::new().version(2).build().unwrap()).unwrap();
    std::fs::rename(&tmp, geo_file).unwrap();
    eventually(
        Duration::from_secs(20),
        "the geo database reloads",
        async || reloads().await > before,
    )
    .await;

    let invalid = send(
        http.post(format!("{base}/v2/assets"))
            .header("content-type", support::JSON_API)
            .body(r#"{"data": {"type": "assets", "attributes": {"title": "x"}, "colour": "red"}}"#),
    )
    .await;
    assert!((400..500).contains(&invalid.status), "{}", invalid.body);
    let found = send(http.get(format!("{base}/v2/search?q=beach"))).await;
    assert_eq!(found.status, 200, "{}", found.body);

    let ejected_node = second.host_port();
    second.kill();
    eventually(
        Duration::from_secs(30),
        "herd ejects the killed node",
        async || {
            // 64 cache keys (ids past 8 answer 404, after asking the cache), so that some of
            // them live on the killed node whatever port the service got: with the 8 demo
            // assets alone, every key hashed to the surviving node in some runs, and nothing
            // ever failed on the killed one.
            for id in 1..=64 {
                let url = format!("{base}/v2/assets/{id}?fields%5Bassets%5D=title");
                let _ = http.get(url).send().await;
            }
            let health = send(http.get(format!("{base}/healthz"))).await;
            health.body["backends"]["cache"]["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.iter().any(|node| node["ejected"] == true))
        },
    )
    .await;

    redis.kill();
    eventually(
        Duration::from_secs(30),
        "the limiter's breaker opens",
        async || {
            let _ = http.get(format!("{base}/v2/owners/1")).send().await;
            let samples = samples(&scrape(http, metrics_url).await);
            total(&samples, "reel_ratelimit_breaker_state") == 1.0
        },
    )
    .await;

    other_services(http).await;
    Done { ejected_node }
}

/// A service whose geo database comes from the MaxMind stand-in (a download), and one whose
/// search server cannot be reached (its requests fail and are retried).
async fn other_services(http: &reqwest::Client) {
    let downloads = Downloads::of(&CityDatabase::new().build().unwrap());
    let service = maxmind_service(downloads).await;
    let downloading = start(Config {
        maxmind: Some(maxmind_config(&service)),
        data_dir: scratch_dir("metrics"),
        ..Config::default()
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "the download is loaded",
        async || {
            let health = send(http.get(format!("{downloading}/healthz"))).await;
            health.body["backends"]["geoip"]["ok"] == true
        },
    )
    .await;

    let unreachable = format!("http://127.0.0.1:{}", reel_testkit::free_port().unwrap());
    let without_search = start(Config {
        search_url: Some(unreachable),
        start_degraded: true,
        data_dir: scratch_dir("metrics"),
        ..Config::default()
    })
    .await;
    let reply = send(http.get(format!("{without_search}/v2/search?q=beach"))).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
}

/// Every metric of the guide's tables is in the scrape (a histogram by its `_count`), apart
/// from [`CANNOT_OCCUR`], each with HELP and TYPE lines.
fn every_guide_metric_is_there(text: &str) {
    let samples = samples(text);
    let metrics = guide_metrics();
    assert!(
        metrics.len() >= 30,
        "the guide's tables were not read: {metrics:?}"
    );
    let mut missing = Vec::new();
    for (name, kind) in &metrics {
        if let Some((_, reason)) = CANNOT_OCCUR.iter().find(|(n, _)| n == name) {
            assert!(
                !samples.keys().any(|(n, _)| n == name),
                "{name} is listed as impossible ({reason}) but was recorded"
            );
            continue;
        }
        let series = if kind == "histogram" {
            format!("{name}_count")
        } else {
            name.clone()
        };
        if !samples.keys().any(|(n, _)| *n == series)
            || !text.contains(&format!("# TYPE {name} {kind}"))
        {
            missing.push(format!("{name} ({kind})"));
        }
    }
    assert!(missing.is_empty(), "not in the scrape: {missing:?}\n{text}");
}

/// A few values against what [`events`] did.
fn events_are_counted(text: &str, done: &Done) {
    let samples = samples(text);
    let ejections = sum(
        &samples,
        "reel_herd_ejections_total",
        "node",
        &done.ejected_node,
    );
    assert_eq!(ejections, 1.0, "the killed node was ejected once:\n{text}");
    assert!(
        sum(
            &samples,
            "reel_herd_errors_total",
            "node",
            &done.ejected_node
        ) >= 1.0
    );
    assert_eq!(
        sum(&samples, "reel_herd_nodes", "state", "ejected"),
        1.0,
        "{text}"
    );
    assert!(
        sum(&samples, "reel_geoip_reloads_total", "result", "ok") >= 1.0,
        "{text}"
    );
    assert!(
        sum(&samples, "reel_geoip_downloads_total", "result", "updated") >= 1.0,
        "{text}"
    );
    assert!(
        total(&samples, "reel_jsonapi_validation_errors_total") >= 1.0,
        "{text}"
    );
    assert!(
        sum(
            &samples,
            "reel_ratelimit_breaker_transitions_total",
            "to",
            "open"
        ) >= 1.0
    );
    assert!(
        sum(
            &samples,
            "reel_ratelimit_decisions_total",
            "outcome",
            "failed_open"
        ) >= 1.0
    );
    assert!(
        total(&samples, "reel_ratelimit_store_errors_total") >= 1.0,
        "{text}"
    );
    assert!(
        sum(&samples, "reel_search_requests_total", "outcome", "error") >= 1.0,
        "{text}"
    );
    assert!(
        total(&samples, "reel_search_indexer_rows_total") >= 8.0,
        "the 8 demo assets were indexed:\n{text}"
    );
    assert!(
        total(&samples, "reel_cloudfront_signatures_total") >= 1.0,
        "{text}"
    );
    assert!(
        sum(&samples, "reel_cloudfront_cache_total", "outcome", "miss") >= 1.0,
        "{text}"
    );
    // The database stayed up: its breaker is closed.
    assert_eq!(total(&samples, "reel_edge_db_breaker_state"), 0.0, "{text}");
}
