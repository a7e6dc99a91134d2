//! edge-api end to end: the app built in-process against real memcached, redis, PostgreSQL
//! and the search server, served on a loopback port and driven over HTTP; and the
//! zero-configuration mode (SQLite, memory store).

// Test helpers (outside `#[test]` functions, which clippy.toml already covers) may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;

use example_edge_api::downloads::DEV_PUBLIC_KEY_FILE;
use example_edge_api::{Config, app};
use reel_cloudfront::{HashAlgorithm, PublicKey, cloudfront_base64_decode};
use reel_testkit::{Memcached, Postgres, Redis, Search};
use serde_json::{Value, json};

mod support;

use support::{
    Downloads, JSON_API, Reply, maxmind_config, maxmind_service, scratch_dir, send, start,
};

/// A GET as the client at `client` (a trusted loopback proxy forwards for it).
async fn get(http: &reqwest::Client, url: &str, client: &str) -> Reply {
    send(http.get(url).header("X-Forwarded-For", client)).await
}

async fn write(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    client: &str,
    body: Value,
) -> Reply {
    send(
        http.request(method, url)
            .header("X-Forwarded-For", client)
            .header("Content-Type", JSON_API)
            .body(body.to_string()),
    )
    .await
}

fn pointers(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["source"]["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a canned-policy signed URL against the public key, as CloudFront does.
fn verifies(url: &str, public: &PublicKey) -> bool {
    let Some((resource, query)) = url.split_once('?') else {
        return false;
    };
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
    };
    let (Some(expires), Some(signature)) = (param("Expires"), param("Signature")) else {
        return false;
    };
    let policy = format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    );
    let Some(signature) = cloudfront_base64_decode(signature) else {
        return false;
    };
    public.verify(policy.as_bytes(), &signature, HashAlgorithm::Sha1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_stack_over_http() {
    let memcached = Memcached::start().unwrap();
    let redis = Redis::start().unwrap();
    let postgres = Postgres::start().unwrap();
    let search = Search::start().unwrap();
    let data_dir = scratch_dir("test");
    let config = Config {
        database_url: Some(postgres.url().to_owned()),
        redis_url: Some(redis.url()),
        memcache_servers: Some(memcached.host_port()),
        search_url: Some(search.url().to_owned()),
        search_index: search.index("edge-assets"),
        quota: "60/min burst 20".parse().unwrap(),
        data_dir: data_dir.clone(),
        ..Config::default()
    };
    let base = start(config).await;
    let http = reqwest::Client::new();
    let london = "81.2.69.160";

    reads_are_compound_sparse_cached_and_signed(&http, &base, london, &data_dir).await;
    let new_id = writes_invalidate_the_cache_and_are_validated(&http, &base, london).await;
    search_follows_the_writes(&http, &base, london, search.url(), &new_id).await;
    health_and_quotas(&http, &base, london).await;

    let _ = std::fs::remove_dir_all(&data_dir);
}

/// `full_stack_over_http`, reads: a compound document, sparse fieldsets, the cache, the
/// signed download link.
async fn reads_are_compound_sparse_cached_and_signed(
    http: &reqwest::Client,
    base: &str,
    london: &str,
    data_dir: &std::path::Path,
) {
    // A compound, sorted, paginated collection.
    let list = get(
        http,
        &format!("{base}/v2/assets?include=owner&sort=-sizeBytes&page%5Bsize%5D=3"),
        london,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.header("content-type"), Some(JSON_API));
    assert!(list.header("x-ratelimit-remaining").is_some());
    assert!(list.header("ratelimit-policy").is_some());
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["attributes"]["sizeBytes"], json!(912_004_771));
    assert!(
        list.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["type"] == "owners")
    );
    assert_eq!(list.body["meta"]["page"]["total"], json!(8));
    assert!(list.body["links"]["next"].as_str().is_some());
    assert_eq!(list.body["meta"]["country"], json!("GB"));
    // Every asset in a collection carries its own signed link next to `self`; owners do not.
    for asset in data {
        let id = asset["id"].as_str().unwrap();
        assert_eq!(
            asset["links"]["self"],
            json!(format!("{base}/v2/assets/{id}"))
        );
        let download = asset["links"]["download"].as_str().unwrap();
        assert!(download.contains(&format!("/assets/{id}/")), "{download}");
    }
    assert!(
        list.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .all(|owner| owner["links"].get("download").is_none())
    );

    // Sparse fieldsets and a spec error for an unknown sort field.
    let sparse = get(
        http,
        &format!("{base}/v2/assets?fields%5Bassets%5D=title"),
        london,
    )
    .await;
    let attributes = sparse.body["data"][0]["attributes"].as_object().unwrap();
    assert_eq!(attributes.keys().collect::<Vec<_>>(), ["title"]);
    let bad_sort = get(http, &format!("{base}/v2/assets?sort=colour"), london).await;
    assert_eq!(bad_sort.status, 400);
    assert_eq!(bad_sort.body["errors"][0]["source"]["parameter"], "sort");
    assert_eq!(bad_sort.body["meta"]["country"], json!("GB"));

    // A read is cached; the second one is a hit with the same document.
    let first = get(http, &format!("{base}/v2/assets/1"), london).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache"), Some("miss"));
    let second = get(http, &format!("{base}/v2/assets/1"), london).await;
    assert_eq!(second.header("x-cache"), Some("hit"));
    assert_eq!(second.body["data"], first.body["data"]);

    // The download link is a CloudFront URL signed with the development key.
    let download = first.body["data"]["links"]["download"].as_str().unwrap();
    assert!(download.starts_with("https://d111111abcdef8.cloudfront.net/assets/1/"));
    assert!(download.contains("Key-Pair-Id=KDEVELOPMENT0"));
    let public_pem = std::fs::read_to_string(data_dir.join(DEV_PUBLIC_KEY_FILE)).unwrap();
    let public = PublicKey::from_pem(&public_pem).unwrap();
    assert!(verifies(download, &public), "{download}");
    let tampered = download.replace("/assets/1/", "/assets/2/");
    assert!(!verifies(&tampered, &public));
}

/// `full_stack_over_http`, writes: invalidation, validation errors, creation; returns the
/// new asset's id.
async fn writes_invalidate_the_cache_and_are_validated(
    http: &reqwest::Client,
    base: &str,
    london: &str,
) -> String {
    // A write invalidates the cache: the next read is a miss with the new value.
    let patched = write(
        http,
        reqwest::Method::PATCH,
        &format!("{base}/v2/assets/1"),
        london,
        json!({"data": {"type": "assets", "id": "1", "attributes": {"title": "Sunrise over the bay"}}}),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let after = get(http, &format!("{base}/v2/assets/1"), london).await;
    assert_eq!(after.header("x-cache"), Some("miss"));
    assert_eq!(
        after.body["data"]["attributes"]["title"],
        "Sunrise over the bay"
    );
    assert_eq!(after.body["data"]["attributes"]["kind"], "video");

    // Validation errors are JSON:API error objects pointing at the members.
    let invalid = write(
        http,
        reqwest::Method::PATCH,
        &format!("{base}/v2/assets/1"),
        london,
        json!({"data": {"type": "assets", "id": "1", "attributes": {"kind": "hologram", "sizeBytes": -1}}}),
    )
    .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        pointers(&invalid),
        ["/data/attributes/kind", "/data/attributes/sizeBytes"]
    );

    // Create.
    let created = write(
        http,
        reqwest::Method::POST,
        &format!("{base}/v2/assets"),
        london,
        json!({"data": {"type": "assets",
            "attributes": {"title": "Lighthouse at night", "kind": "image", "fileName": "lighthouse.jpg", "sizeBytes": 1234},
            "relationships": {"owner": {"data": {"type": "owners", "id": "2"}}}}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let new_id = created.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("{base}/v2/assets/{new_id}").as_str())
    );
    let rejected = write(
        http,
        reqwest::Method::POST,
        &format!("{base}/v2/assets"),
        london,
        json!({"data": {"type": "assets",
            "attributes": {"kind": "image", "fileName": "x.jpg", "sizeBytes": 1},
            "relationships": {"owner": {"data": {"type": "owners", "id": "99"}}}}}),
    )
    .await;
    assert_eq!(rejected.status, 422);
    assert_eq!(pointers(&rejected), ["/data/attributes/title"]);
    let unknown_owner = write(
        http,
        reqwest::Method::POST,
        &format!("{base}/v2/assets"),
        london,
        json!({"data": {"type": "assets",
            "attributes": {"title": "t", "kind": "image", "fileName": "x.jpg", "sizeBytes": 1},
            "relationships": {"owner": {"data": {"type": "owners", "id": "99"}}}}}),
    )
    .await;
    // A reference to a related resource that does not exist is a 404 (JSON:API 1.1).
    assert_eq!(unknown_owner.status, 404, "{}", unknown_owner.body);
    assert_eq!(pointers(&unknown_owner), ["/data/relationships/owner/data"]);
    // PostgreSQL cannot store NUL in text: a 422 pointing at the title, not a 500.
    let nul = write(
        http,
        reqwest::Method::POST,
        &format!("{base}/v2/assets"),
        london,
        json!({"data": {"type": "assets",
            "attributes": {"title": "nul\u{0}byte", "kind": "image", "fileName": "x.jpg", "sizeBytes": 1},
            "relationships": {"owner": {"data": {"type": "owners", "id": "1"}}}}}),
    )
    .await;
    assert_eq!(nul.status, 422, "{}", nul.body);
    assert_eq!(pointers(&nul), ["/data/attributes/title"]);
    new_id
}

/// `full_stack_over_http`, search: it sees the seeded data and the writes, and survives
/// its index being deleted.
async fn search_follows_the_writes(
    http: &reqwest::Client,
    base: &str,
    london: &str,
    search_url: &str,
    new_id: &str,
) {
    // Search sees the seeded data, the update and the new asset.
    let found = get(http, &format!("{base}/v2/search?q=lighthouse"), london).await;
    assert_eq!(found.status, 200, "{}", found.body);
    let ids: Vec<&str> = found.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, [new_id]);
    let sunrise = get(http, &format!("{base}/v2/search?q=sunrise"), london).await;
    assert_eq!(sunrise.body["data"][0]["id"], "1");
    // Keyword search on `kind` ignores case.
    let videos = get(http, &format!("{base}/v2/search?q=VIDEO"), london).await;
    assert_eq!(videos.status, 200, "{}", videos.body);
    assert_eq!(videos.body["meta"]["total"], json!(3), "{}", videos.body);
    // An index deleted behind the API's back is rebuilt by the next search.
    let target =
        get(http, &format!("{base}/healthz"), london).await.body["backends"]["search"]["target"]
            .as_str()
            .unwrap()
            .to_owned();
    let deleted = http
        .delete(format!("{search_url}/{target}"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{deleted:?}");
    let again = get(http, &format!("{base}/v2/search?q=lighthouse"), london).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["data"][0]["id"], json!(new_id));
    let no_text = get(http, &format!("{base}/v2/search"), london).await;
    assert_eq!(no_text.status, 400);
    assert_eq!(no_text.body["errors"][0]["source"]["parameter"], "q");
}

/// `full_stack_over_http`, `/healthz` and the rate limit.
async fn health_and_quotas(http: &reqwest::Client, base: &str, london: &str) {
    // Health reports every backend.
    let health = get(http, &format!("{base}/healthz"), london).await;
    assert_eq!(health.status, 200, "{}", health.body);
    let backends = &health.body["backends"];
    assert_eq!(backends["database"]["kind"], "postgres");
    assert_eq!(backends["rateLimit"]["store"], "redis");
    assert_eq!(backends["cache"]["nodes"].as_array().unwrap().len(), 1);
    assert!(backends["search"]["target"].as_str().is_some());
    assert_eq!(backends["geoip"]["databaseType"], "GeoLite2-City");

    // A client over its quota gets a JSON:API 429 with Retry-After; others do not.
    let mut limited = None;
    for _ in 0..40 {
        let reply = get(http, &format!("{base}/v2/assets/404404"), "203.0.113.50").await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
        assert_eq!(reply.status, 404);
    }
    let limited = limited.expect("the quota (burst 20) runs out within 40 requests");
    assert_eq!(limited.body["errors"][0]["status"], "429");
    assert!(limited.header("retry-after").is_some());
    let other = get(http, &format!("{base}/v2/assets/1"), london).await;
    assert_eq!(other.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_serves_assets_from_sqlite() {
    let data_dir = scratch_dir("test");
    let base = start(Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let list = send(
        http.get(format!("{base}/v2/assets?include=owner"))
            .header("Accept", JSON_API),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.header("content-type"), Some(JSON_API));
    assert_eq!(list.body["data"].as_array().unwrap().len(), 8);
    assert_eq!(list.body["included"].as_array().unwrap().len(), 3);
    assert_eq!(list.body["meta"]["cache"], "off");
    assert!(list.header("x-ratelimit-limit").is_some());
    // The peer is loopback, which the demo database does not cover.
    assert_eq!(list.body["meta"]["country"], Value::Null);

    let search = send(http.get(format!("{base}/v2/search?q=beach"))).await;
    assert_eq!(search.status, 503);
    assert_eq!(search.header("content-type"), Some(JSON_API));
    assert_eq!(search.body["errors"][0]["status"], "503");

    let missing = send(http.get(format!("{base}/v2/assets/77"))).await;
    assert_eq!(missing.status, 404);
    let wrong_type = send(
        http.post(format!("{base}/v2/assets"))
            .header("Content-Type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(wrong_type.status, 415);

    // Every link the documents carry leads somewhere.
    let asset = &list.body["data"][0];
    for link in [
        asset["links"]["self"].as_str().unwrap(),
        asset["relationships"]["owner"]["links"]["related"]
            .as_str()
            .unwrap(),
        asset["relationships"]["owner"]["links"]["self"]
            .as_str()
            .unwrap(),
        list.body["included"][0]["links"]["self"].as_str().unwrap(),
    ] {
        let reply = send(http.get(link)).await;
        assert_eq!(reply.status, 200, "{link}: {}", reply.body);
        assert!(reply.body["data"]["type"].as_str().is_some(), "{link}");
    }
    let owner = send(
        http.get(
            asset["relationships"]["owner"]["links"]["related"]
                .as_str()
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(owner.body["data"]["type"], "owners");
    assert_eq!(
        owner.body["data"]["id"],
        asset["relationships"]["owner"]["data"]["id"]
    );

    let health = send(http.get(format!("{base}/healthz"))).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["backends"]["database"]["kind"], "sqlite");
    assert_eq!(health.body["backends"]["rateLimit"]["store"], "memory");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The evidence of issue 15: behind a proxy that appends to `X-Forwarded-For` and passes a
/// client-sent `Forwarded` through untouched (AWS ALB, a default nginx), the client must not
/// pick its own address. Loopback is the trusted proxy here; 216.160.83.56 is a US address and
/// 81.2.69.160 a GB one in the demo database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sent_forwarded_header_does_not_pick_the_country() {
    let data_dir = scratch_dir("test");
    let base = start(Config {
        data_dir: data_dir.clone(),
        quota: "60/min burst 2".parse().unwrap(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let spoofed = |url: String, claimed: &str| {
        http.get(url)
            .header("Forwarded", format!("for={claimed}"))
            .header("X-Forwarded-For", "216.160.83.56")
    };
    let reply = send(spoofed(format!("{base}/v2/assets"), "81.2.69.160")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["meta"]["country"], json!("US"));
    // Nor its rate-limit bucket: a new `Forwarded` address each time is still one client.
    let statuses = [
        send(spoofed(format!("{base}/v2/assets/1"), "89.160.20.128"))
            .await
            .status,
        send(spoofed(format!("{base}/v2/assets/1"), "175.16.199.7"))
            .await
            .status,
    ];
    assert_eq!(statuses, [200, 429]);
    let _ = std::fs::remove_dir_all(&data_dir);

    // Behind nginx setting X-Real-IP (REEL_CLIENT_IP=nginx-real-ip): that header only.
    let data_dir = scratch_dir("test");
    let config = Config::from_lookup(|name| match name {
        "REEL_CLIENT_IP" => Some("nginx-real-ip".to_owned()),
        "REEL_TRUSTED_PROXIES" => Some("127.0.0.1, ::1".to_owned()),
        "REEL_DATA_DIR" => Some(data_dir.to_string_lossy().into_owned()),
        _ => None,
    })
    .unwrap();
    let base = start(config).await;
    let reply = send(
        http.get(format!("{base}/v2/assets"))
            .header("X-Real-IP", "216.160.83.56")
            .header("X-Forwarded-For", "81.2.69.160")
            .header("Forwarded", "for=81.2.69.160"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["meta"]["country"], json!("US"));
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_in_memcached() {
    let memcached = Memcached::start().unwrap();
    let data_dir = scratch_dir("test");
    let base = start(Config {
        memcache_servers: Some(memcached.host_port()),
        rate_limit_in_memcache: true,
        quota: "60/min burst 3".parse().unwrap(),
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for _ in 0..6 {
            out.push(
                get(&http, &format!("{base}/v2/assets/1"), "203.0.113.9")
                    .await
                    .status,
            );
        }
        out
    };
    assert_eq!(statuses[..3], [200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    let health = send(http.get(format!("{base}/healthz"))).await;
    assert_eq!(health.body["backends"]["rateLimit"]["store"], "memcache");
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// Polls `/healthz` until the geo database is loaded; returns its report.
async fn loaded_geo(http: &reqwest::Client, base: &str) -> Value {
    for _ in 0..500 {
        let health = send(http.get(format!("{base}/healthz"))).await;
        if health.body["backends"]["geoip"]["ok"] == json!(true) {
            return health.body["backends"]["geoip"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the MaxMind download never loaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geo_data_from_the_maxmind_download_service_survives_its_outage() {
    let mmdb = reel_geoip::testdata::CityDatabase::new().build().unwrap();
    let downloads = Downloads::of(&mmdb);
    let service = maxmind_service(downloads.clone()).await;
    let data_dir = scratch_dir("test");
    let config = || Config {
        data_dir: data_dir.clone(),
        maxmind: Some(maxmind_config(&service)),
        ..Config::default()
    };
    let http = reqwest::Client::new();

    // First start: nothing cached, the download lands in the background.
    let base = start(config()).await;
    let geo = loaded_geo(&http, &base).await;
    // From the download, not the demo database the zero-config mode would generate.
    assert!(
        geo["source"].as_str().unwrap().starts_with(&service),
        "{geo}"
    );
    assert_eq!(geo["databaseType"], "GeoLite2-City");
    assert!(
        downloads.requests.load(Ordering::SeqCst) >= 2,
        "archive and checksum"
    );
    let london = get(&http, &format!("{base}/v2/assets"), "81.2.69.160").await;
    assert_eq!(london.status, 200, "{}", london.body);
    assert_eq!(london.body["meta"]["country"], json!("GB"));

    // MaxMind is down: a restart serves the cached copy before any request succeeds.
    downloads.failing.store(true, Ordering::SeqCst);
    let restarted = start(config()).await;
    let health = send(http.get(format!("{restarted}/healthz"))).await;
    let geo = &health.body["backends"]["geoip"];
    assert_eq!(geo["ok"], json!(true), "{}", health.body);
    assert!(
        geo["source"]
            .as_str()
            .unwrap()
            .starts_with(data_dir.join("geoip").to_str().unwrap()),
        "{geo}"
    );
    let again = get(&http, &format!("{restarted}/v2/assets"), "81.2.69.160").await;
    assert_eq!(again.body["meta"]["country"], json!("GB"));

    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ejected_cache_node_makes_the_service_degraded() {
    let first = Memcached::start().unwrap();
    let mut second = Memcached::start().unwrap();
    let data_dir = scratch_dir("test");
    let base = start(Config {
        memcache_servers: Some(format!("{},{}", first.host_port(), second.host_port())),
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let health = send(http.get(format!("{base}/healthz"))).await;
    assert_eq!(health.status, 200, "{}", health.body);
    second.kill();
    // Reads spread over both nodes; herd ejects the dead one after a few failures.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let health = loop {
        for id in 1..=8 {
            let reply =
                send(http.get(format!("{base}/v2/assets/{id}?fields%5Bassets%5D=title"))).await;
            assert_eq!(reply.status, 200, "reads keep working: {}", reply.body);
        }
        let health = send(http.get(format!("{base}/healthz"))).await;
        let ejected = health.body["backends"]["cache"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|node| node["ejected"] == json!(true));
        if ejected {
            break health;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no node ejected: {}",
            health.body
        );
    };
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["status"], "degraded");
    assert_eq!(health.body["backends"]["cache"]["ok"], json!(false));
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_memcached_stops_start_up_unless_told_to_start_degraded() {
    // A port nobody listens on: bound, then released.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let data_dir = scratch_dir("test");
    let config = Config {
        memcache_servers: Some(dead.clone()),
        data_dir: data_dir.clone(),
        ..Config::default()
    };
    let error = app(config.clone()).await.expect_err("start-up fails");
    let message = error.to_string();
    assert!(message.contains("REEL_MEMCACHE_SERVERS"), "{message}");
    assert!(message.contains(&dead), "{message}");
    assert!(message.contains("REEL_START_DEGRADED"), "{message}");
    let base = start(Config {
        start_degraded: true,
        ..config
    })
    .await;
    let http = reqwest::Client::new();
    let list = send(http.get(format!("{base}/v2/assets"))).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_stops_start_up_naming_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let data_dir = scratch_dir("test");
    let error = app(Config {
        redis_url: Some(url.clone()),
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await
    .expect_err("start-up fails");
    let message = error.to_string();
    assert!(message.contains("REEL_REDIS_URL"), "{message}");
    assert!(message.contains(&url), "{message}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_postgres_database_is_named_without_source_lines() {
    let postgres = Postgres::start().unwrap();
    let url = format!("{}_missing", postgres.url());
    let data_dir = scratch_dir("test");
    let error = app(Config {
        database_url: Some(url),
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await
    .expect_err("start-up fails");
    let message = error.to_string();
    assert!(
        message.starts_with("database (REEL_DATABASE_URL)"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains("createdb"), "{message}");
    // sqlx appends the line of PostgreSQL's C source: noise for whoever reads this.
    assert!(!message.contains(" at line "), "{message}");
    let _ = std::fs::remove_dir_all(&data_dir);
}
