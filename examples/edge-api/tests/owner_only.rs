//! A relationship hidden by who asks, through the edge API (issue 15): an asset's `uploader`
//! contact is visible only to its owner, authenticated with `Authorization: Bearer`. Without
//! that identity it never appears in linkage, `included` or sort, whether the answer comes
//! from the database or from the response cache (a real memcached).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use example_edge_api::{Config, app, serve};
use reel_testkit::Memcached;
use serde_json::Value;

const ADA: &str = "ada-token-1";
const GRACE: &str = "grace-token-2";

async fn start(config: Config) -> String {
    let router = app(config).await.expect("the app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, std::future::pending()));
    format!("http://{address}")
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

async fn get(http: &reqwest::Client, url: &str, token: Option<&str>) -> Reply {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        text,
        body,
    }
}

/// Every resource object of a document (primary and included).
fn resources(body: &Value) -> Vec<&Value> {
    let mut all: Vec<&Value> = match &body["data"] {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![&body["data"]],
        _ => Vec::new(),
    };
    if let Some(included) = body["included"].as_array() {
        all.extend(included);
    }
    all
}

/// Asserts that nothing of any uploader is in `reply`: no linkage, no contact, no address.
fn shows_no_uploader(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 200, "{what}: {}", reply.body);
    for resource in resources(&reply.body) {
        assert_ne!(resource["type"], "contacts", "{what}: {}", reply.body);
        assert!(
            resource["relationships"].get("uploader").is_none(),
            "{what}: {}",
            reply.body
        );
    }
    assert!(
        !reply.text.contains("@example.com"),
        "{what}: {}",
        reply.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploader_is_seen_by_its_owner_only() {
    let memcached = Memcached::start().unwrap();
    let data_dir = std::env::temp_dir().join(format!("edge-api-owner-{}", std::process::id()));
    let base = start(Config {
        memcache_servers: Some(memcached.host_port()),
        api_tokens: vec![(1, ADA.to_owned()), (2, GRACE.to_owned())],
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();

    // Asset 1 is Ada's (owner 1). Ada asks first, so her answer is the one cached...
    let url = format!("{base}/v2/assets/1?include=uploader,owner");
    let ada = get(&http, &url, Some(ADA)).await;
    assert_eq!(ada.status, 200, "{}", ada.body);
    assert_eq!(ada.headers["x-cache"], "miss");
    assert_eq!(
        ada.body["data"]["relationships"]["uploader"]["data"],
        serde_json::json!({"type": "contacts", "id": "1"}),
        "{}",
        ada.body
    );
    let contact = resources(&ada.body)
        .into_iter()
        .find(|r| r["type"] == "contacts")
        .cloned()
        .expect("the contact is included for its owner");
    assert_eq!(contact["attributes"]["email"], "ada@example.com");
    assert_eq!(
        get(&http, &url, Some(ADA)).await.headers["x-cache"],
        "hit",
        "the owner's answer is cached for the owner"
    );

    // ...and neither an anonymous caller nor another owner is served it.
    let anonymous = get(&http, &url, None).await;
    shows_no_uploader(&anonymous, "anonymous, same URL");
    // The owner (public) is still included, without the private address.
    assert!(
        resources(&anonymous.body)
            .iter()
            .any(|r| r["type"] == "owners" && r["id"] == "1"),
        "{}",
        anonymous.body
    );
    shows_no_uploader(&get(&http, &url, Some(GRACE)).await, "another owner");
    shows_no_uploader(
        &get(&http, &format!("{base}/v2/owners/1"), None).await,
        "the owner resource",
    );

    // Collections: each owner sees the uploader of their own assets only.
    let list = format!("{base}/v2/assets?include=uploader&page[size]=100");
    shows_no_uploader(&get(&http, &list, None).await, "anonymous collection");
    let mine = get(&http, &list, Some(ADA)).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let assets = mine.body["data"].as_array().unwrap();
    let with_uploader: Vec<&Value> = assets
        .iter()
        .filter(|asset| asset["relationships"].get("uploader").is_some())
        .collect();
    assert!(!with_uploader.is_empty(), "{}", mine.body);
    for asset in &with_uploader {
        assert_eq!(
            asset["relationships"]["owner"]["data"]["id"], "1",
            "{asset}"
        );
    }
    let contacts: Vec<&Value> = resources(&mine.body)
        .into_iter()
        .filter(|r| r["type"] == "contacts")
        .collect();
    assert_eq!(contacts.len(), 1, "only Ada's own contact: {}", mine.body);
    assert!(!mine.text.contains("grace@example.com"), "{}", mine.text);

    // Sorting by the hidden relationship is refused for everyone (no ordering side channel),
    // and sparse fieldsets do not bring it back.
    for token in [None, Some(ADA)] {
        let sorted = get(
            &http,
            &format!("{base}/v2/assets?sort=uploader.email"),
            token,
        )
        .await;
        assert_eq!(sorted.status, 400, "{token:?}: {}", sorted.body);
        assert_eq!(sorted.body["errors"][0]["source"]["parameter"], "sort");
    }
    shows_no_uploader(
        &get(
            &http,
            &format!("{base}/v2/assets/1?include=uploader&fields[assets]=uploader"),
            None,
        )
        .await,
        "anonymous sparse fieldset",
    );

    // A token that matches no one is a 401 (not an anonymous answer).
    let wrong = get(&http, &url, Some("not-a-known-token")).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.headers.contains_key("www-authenticate"));
    assert_eq!(wrong.body["errors"][0]["status"], "401");
    let _ = std::fs::remove_dir_all(&data_dir);
}
