//! The axum integration over real HTTP on loopback: content negotiation (415/406), error
//! documents as responses, typed request bodies and query validation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::routing::{get, post};
use axum::{Extension, Router};
use common::*;
use reel_jsonapi::axum::{JsonApiQuery, JsonApiRequest, Negotiated, SupportedExtensions, render};
use reel_jsonapi::de::Create;
use reel_jsonapi::validate::{DocumentKind, validate_slice};
use reel_jsonapi::{Context, Document, collection, document};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ATOMIC: &str = "https://jsonapi.org/ext/atomic";

async fn list(
    _: Negotiated,
    JsonApiQuery(query, _): JsonApiQuery<Article>,
) -> axum::response::Response {
    let articles = articles();
    let context = Context::new(Viewer::default()).with_base_url("http://localhost");
    render(200, &collection(&articles, &context).query(&query))
}

async fn create(JsonApiRequest(body): JsonApiRequest<Create<Post>>) -> axum::response::Response {
    let mut post = body.resource;
    post.id = 42;
    render(201, &document(&post, &Context::empty()))
}

async fn echo(JsonApiRequest(doc): JsonApiRequest<Document>) -> axum::response::Response {
    render(200, &doc)
}

struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn send(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

fn error_header(reply: &Reply) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    doc["errors"][0]["source"]["header"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_negotiation_and_documents_over_http() {
    let app = Router::new()
        .route("/articles", get(list))
        .route("/posts", post(create))
        .route("/echo", post(echo))
        .layer(Extension(SupportedExtensions(vec![ATOMIC.to_owned()])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let jsonapi = "application/vnd.api+json";
    let mut produced = Vec::new();

    // GET with and without Accept; a compound document with sparse fieldsets.
    let reply = send(
        port,
        "GET",
        "/articles?include=author&fields%5Bpeople%5D=first-name",
        &[("Accept", jsonapi)],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, jsonapi);
    assert!(validate_slice(&reply.body, DocumentKind::Response).is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        doc["included"][0]["attributes"],
        serde_json::json!({"first-name": "Dan"})
    );
    produced.push(String::from_utf8(reply.body).unwrap());
    assert_eq!(
        send(port, "GET", "/articles", &[("Accept", "*/*")], "")
            .await
            .status,
        200
    );
    assert_eq!(send(port, "GET", "/articles", &[], "").await.status, 200);

    // 406: every JSON:API media type in Accept carries a forbidden parameter.
    let reply = send(
        port,
        "GET",
        "/articles",
        &[("Accept", "application/vnd.api+json; charset=utf-8")],
        "",
    )
    .await;
    assert_eq!(reply.status, 406);
    assert_eq!(reply.content_type, jsonapi);
    assert_eq!(error_header(&reply).as_deref(), Some("Accept"));
    produced.push(String::from_utf8(reply.body).unwrap());
    // ...but one acceptable instance is enough.
    let accept = "application/vnd.api+json; charset=utf-8, application/vnd.api+json; profile=\"https://example.com/p\"";
    assert_eq!(
        send(port, "GET", "/articles", &[("Accept", accept)], "")
            .await
            .status,
        200
    );
    let unsupported_ext = "application/vnd.api+json; ext=\"https://example.com/unknown\"";
    assert_eq!(
        send(port, "GET", "/articles", &[("Accept", unsupported_ext)], "")
            .await
            .status,
        406
    );

    // 400 with source.parameter for a bad query.
    let reply = send(port, "GET", "/articles?include=editor&sort=nope", &[], "").await;
    assert_eq!(reply.status, 400);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(doc["errors"][0]["source"]["parameter"], "include");
    assert_eq!(doc["errors"][1]["source"]["parameter"], "sort");
    produced.push(String::from_utf8(reply.body).unwrap());

    // POST: 415 for a wrong or parameterised Content-Type, 201 for a good request.
    let body = r#"{"data":{"type":"posts","attributes":{"title":"Hi","labels":[]},"relationships":{"author":{"data":{"type":"people","id":"9"}}}}}"#;
    for content_type in [
        "application/json",
        "application/vnd.api+json; charset=utf-8",
        "application/vnd.api+json; ext=\"https://example.com/unknown\"",
    ] {
        let reply = send(
            port,
            "POST",
            "/posts",
            &[("Content-Type", content_type)],
            body,
        )
        .await;
        assert_eq!(reply.status, 415, "{content_type}");
        assert_eq!(error_header(&reply).as_deref(), Some("Content-Type"));
    }
    let reply = send(port, "POST", "/posts", &[], body).await;
    assert_eq!(reply.status, 415);
    let with_ext = format!("application/vnd.api+json; ext=\"{ATOMIC}\"");
    let reply = send(
        port,
        "POST",
        "/posts",
        &[("Content-Type", &with_ext), ("Accept", jsonapi)],
        body,
    )
    .await;
    assert_eq!(reply.status, 201);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(doc["data"]["id"], "42");
    produced.push(String::from_utf8(reply.body).unwrap());

    // Invalid request documents come back as error documents with pointers.
    let reply = send(
        port,
        "POST",
        "/posts",
        &[("Content-Type", jsonapi)],
        r#"{"data":{"type":"posts","id":"1","attributes":{"title":"x","labels":[]}}}"#,
    )
    .await;
    assert_eq!(reply.status, 403);
    let reply = send(
        port,
        "POST",
        "/posts",
        &[("Content-Type", jsonapi)],
        r#"{"data":{"type":"posts","attributes":{"title":7}}}"#,
    )
    .await;
    assert_eq!(reply.status, 422);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let pointers: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["source"]["pointer"].as_str())
        .collect();
    assert!(pointers.contains(&"/data/attributes/title"), "{pointers:?}");
    produced.push(String::from_utf8(reply.body).unwrap());
    let reply = send(
        port,
        "POST",
        "/echo",
        &[("Content-Type", jsonapi)],
        r#"{"data":{"type":"a","id":"1"},"errors":[]}"#,
    )
    .await;
    assert_eq!(reply.status, 400);
    let reply = send(port, "POST", "/echo", &[("Content-Type", jsonapi)], "{oops").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type, jsonapi);
    produced.push(String::from_utf8(reply.body).unwrap());
    let reply = send(
        port,
        "POST",
        "/echo",
        &[("Content-Type", jsonapi)],
        r#"{"meta":{"ok":true}}"#,
    )
    .await;
    assert_eq!(reply.status, 200);

    server.abort();
    for doc in &produced {
        assert!(
            validate_slice(doc.as_bytes(), DocumentKind::Response).is_empty(),
            "{doc}"
        );
    }
    assert_conforms(&produced);
}
