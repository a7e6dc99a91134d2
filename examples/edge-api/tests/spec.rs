//! edge-api against JSON:API 1.1, table-driven: every route × method × bad query parameter,
//! bad bodies (NUL bytes, `..`, owners that do not exist) and unsupported methods. Every answer
//! must be a 4xx JSON:API error document with the right status and a `source.pointer` or
//! `source.parameter` naming the culprit, and the same `meta` as every other error: no 5xx and
//! no silently ignored parameter. Runs the zero-configuration service (SQLite, memory store).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use example_edge_api::{Config, app, serve};
use serde_json::{Value, json};

const JSON_API: &str = "application/vnd.api+json";

fn scratch_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "edge-api-spec-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

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
    body: Value,
}

async fn send(http: &reqwest::Client, method: &str, url: &str, body: Option<&Value>) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http.request(method, url).header("Accept", JSON_API);
    if let Some(body) = body {
        request = request
            .header("Content-Type", JSON_API)
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Checks that `reply` is a JSON:API error document with `status` in every error object and
/// in the response, and the `meta.country` every error carries; `what` names the request.
fn assert_error_document(reply: &Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some(JSON_API),
        "{what}"
    );
    let errors = reply.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors array in {}", reply.body));
    assert!(!errors.is_empty(), "{what}");
    for error in errors {
        assert_eq!(error["status"], status.to_string(), "{what}: {error}");
        assert!(error["title"].is_string(), "{what}: {error}");
        assert!(error["detail"].is_string(), "{what}: {error}");
    }
    assert!(
        reply.body["meta"]
            .as_object()
            .is_some_and(|meta| meta.contains_key("country")),
        "{what}: the error document lacks meta.country: {}",
        reply.body
    );
}

fn parameters(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["source"]["parameter"].as_str().map(str::to_owned))
        .collect()
}

fn pointers(reply: &Reply) -> Vec<String> {
    reply.body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["source"]["pointer"].as_str().map(str::to_owned))
        .collect()
}

fn create_body(title: &str, file_name: &str, owner: &str) -> Value {
    json!({"data": {
        "type": "assets",
        "attributes": {"title": title, "kind": "image", "fileName": file_name, "sizeBytes": 10},
        "relationships": {"owner": {"data": {"type": "owners", "id": owner}}},
    }})
}

fn update_body(attributes: Value, relationships: Option<Value>) -> Value {
    let mut data = json!({"type": "assets", "id": "1", "attributes": attributes});
    if let Some(relationships) = relationships {
        data["relationships"] = relationships;
    }
    json!({ "data": data })
}

/// A route, the methods it supports (with a valid body for writes), and what it returns.
struct Route {
    path: &'static str,
    methods: &'static [&'static str],
    /// `true` for a collection (sort and page apply), `false` for one resource.
    collection: bool,
    /// The resource type returned (`None`: linkage or search, which take no JSON:API
    /// parameters).
    returns: Option<&'static str>,
}

const ROUTES: [Route; 7] = [
    Route {
        path: "/v2/assets",
        methods: &["GET", "POST"],
        collection: true,
        returns: Some("assets"),
    },
    Route {
        path: "/v2/assets/1",
        methods: &["GET", "PATCH"],
        collection: false,
        returns: Some("assets"),
    },
    Route {
        path: "/v2/assets/1/owner",
        methods: &["GET"],
        collection: false,
        returns: Some("owners"),
    },
    Route {
        path: "/v2/assets/1/relationships/owner",
        methods: &["GET"],
        collection: false,
        returns: None,
    },
    Route {
        path: "/v2/owners/1",
        methods: &["GET"],
        collection: false,
        returns: Some("owners"),
    },
    Route {
        path: "/v2/search",
        methods: &["GET"],
        collection: true,
        returns: None,
    },
    Route {
        path: "/v2/search?q=beach",
        methods: &["GET"],
        collection: true,
        returns: None,
    },
];

/// Query parameters that no route accepts, with the `source.parameter` expected.
const BAD_EVERYWHERE: [(&str, &str); 9] = [
    ("include=foo", "include"),
    ("sort=bogus", "sort"),
    ("foo=bar", "foo"),
    ("fooBar=1", "fooBar"),
    ("fields[nope]=title", "fields[nope]"),
    ("page[number]=0", "page[number]"),
    ("page[size]=0", "page[size]"),
    ("page[bogus]=1", "page[bogus]"),
    ("filter[kind]=video", "filter[kind]"),
];

fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", _) => Some(create_body("Spec test", "spec.jpg", "1")),
        ("PATCH", _) => Some(update_body(json!({"title": "Spec test"}), None)),
        _ => None,
    }
}

fn url(base: &str, path: &str, extra: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{base}{path}{separator}{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_rejects_every_bad_query_parameter() {
    let data_dir = scratch_dir();
    let base = start(Config {
        data_dir: data_dir.clone(),
        // Room for the whole table from one address.
        quota: "100000/min burst 10000".parse().unwrap(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    for route in &ROUTES {
        for method in route.methods {
            let body = body_for(method, route.path);
            let mut table: Vec<(String, String)> = BAD_EVERYWHERE
                .iter()
                .map(|(query, parameter)| ((*query).to_owned(), (*parameter).to_owned()))
                .collect();
            // `fields[TYPE]` naming a field the type lacks.
            if let Some(returns) = route.returns {
                table.push((
                    format!("fields[{returns}]=nope"),
                    format!("fields[{returns}]"),
                ));
            } else {
                // Linkage and search take no JSON:API parameters at all.
                table.push(("include=owner".into(), "include".into()));
                table.push(("fields[assets]=title".into(), "fields[assets]".into()));
            }
            // Collection parameters on an endpoint returning one resource.
            if !route.collection || *method != "GET" {
                table.push(("sort=title".into(), "sort".into()));
                table.push(("page[number]=1".into(), "page[number]".into()));
            }
            for (query, parameter) in table {
                let what = format!("{method} {} + {query}", route.path);
                let reply = send(
                    &http,
                    method,
                    &url(&base, route.path, &query),
                    body.as_ref(),
                )
                .await;
                assert_error_document(&reply, 400, &what);
                assert!(
                    parameters(&reply).contains(&parameter),
                    "{what}: expected source.parameter {parameter}: {}",
                    reply.body
                );
            }
        }
    }
    // The parameters a route supports are honoured, on writes too.
    let created = send(
        &http,
        "POST",
        &format!("{base}/v2/assets?include=owner&fields[assets]=title,owner"),
        Some(&create_body("With its owner", "owner.jpg", "2")),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["included"][0]["type"], "owners");
    assert!(created.body["data"]["attributes"]["kind"].is_null());
    let owner = send(
        &http,
        "GET",
        &format!("{base}/v2/owners/1?fields[owners]=name"),
        None,
    )
    .await;
    assert_eq!(owner.status, 200, "{}", owner.body);
    assert!(owner.body["data"]["attributes"]["email"].is_null());
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_4xx_with_a_pointer() {
    let data_dir = scratch_dir();
    let base = start(Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let assets = format!("{base}/v2/assets");
    let one = format!("{base}/v2/assets/1");
    let cases: Vec<(&str, &str, Value, u16, &str)> = vec![
        (
            "POST",
            &assets,
            create_body("nul\u{0}byte", "a.jpg", "1"),
            422,
            "/data/attributes/title",
        ),
        (
            "POST",
            &assets,
            create_body("Dots", "..", "1"),
            422,
            "/data/attributes/fileName",
        ),
        (
            "POST",
            &assets,
            create_body("Dot", ".", "1"),
            422,
            "/data/attributes/fileName",
        ),
        (
            "POST",
            &assets,
            create_body("Nobody's", "a.jpg", "999"),
            404,
            "/data/relationships/owner/data",
        ),
        (
            "PATCH",
            &one,
            update_body(json!({"title": "tab\there"}), None),
            422,
            "/data/attributes/title",
        ),
        (
            "PATCH",
            &one,
            update_body(json!({"fileName": ".."}), None),
            422,
            "/data/attributes/fileName",
        ),
        (
            "PATCH",
            &one,
            update_body(
                json!({}),
                Some(json!({"owner": {"data": {"type": "owners", "id": "999"}}})),
            ),
            404,
            "/data/relationships/owner/data",
        ),
    ];
    for (method, url, body, status, pointer) in cases {
        let what = format!("{method} {url} {body}");
        let reply = send(&http, method, url, Some(&body)).await;
        assert_error_document(&reply, status, &what);
        assert!(
            pointers(&reply).iter().any(|p| p == pointer),
            "{what}: expected source.pointer {pointer}: {}",
            reply.body
        );
    }
    // Nothing of the above was stored.
    let list = send(&http, "GET", &format!("{assets}?page[size]=100"), None).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 8);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_methods_are_405_documents_with_allow() {
    let data_dir = scratch_dir();
    let base = start(Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    for route in &ROUTES {
        for method in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
            if route.methods.contains(&method) {
                continue;
            }
            let what = format!("{method} {}", route.path);
            let reply = send(
                &http,
                method,
                &format!("{base}{}", route.path),
                Some(&json!({})),
            )
            .await;
            assert_error_document(&reply, 405, &what);
            let allow = reply
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{what}: no Allow header"));
            for supported in route.methods {
                assert!(allow.contains(supported), "{what}: Allow: {allow}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_rate_limits_carry_the_same_meta() {
    let data_dir = scratch_dir();
    let base = start(Config {
        data_dir: data_dir.clone(),
        quota: "1/min".parse().unwrap(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let unknown = send(&http, "GET", &format!("{base}/v2/nothing-here"), None).await;
    assert_error_document(&unknown, 404, "unknown route");
    // The quota of one is spent: the next request is refused.
    let limited = send(&http, "GET", &format!("{base}/v2/assets"), None).await;
    assert_error_document(&limited, 429, "rate limited");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_past_the_end_lead_back_to_the_last_page() {
    let data_dir = scratch_dir();
    let base = start(Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    // Eight demo assets in pages of three: the last page is 3.
    let past = send(
        &http,
        "GET",
        &format!("{base}/v2/assets?page[number]=7&page[size]=3"),
        None,
    )
    .await;
    assert_eq!(past.status, 200, "{}", past.body);
    assert_eq!(past.body["data"].as_array().unwrap().len(), 0);
    let last = past.body["links"]["last"].as_str().unwrap();
    assert!(
        last.contains("page[number]=3") || last.contains("page%5Bnumber%5D=3"),
        "{last}"
    );
    assert_eq!(past.body["links"]["prev"], past.body["links"]["last"]);
    assert!(past.body["links"]["next"].is_null());
    let _ = std::fs::remove_dir_all(&data_dir);
}
