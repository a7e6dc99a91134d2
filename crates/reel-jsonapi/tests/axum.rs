//! The axum integration over real HTTP on loopback: content negotiation (415/406), error
//! documents as responses, typed request bodies and query validation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

mod common;

use axum::routing::{get, post};
use axum::{Extension, Router};
use common::*;
use reel_jsonapi::axum::{
    BodyLimit, JsonApiBody, JsonApiQuery, JsonApiRequest, Negotiated, SupportedExtensions,
    check_accept, render, render_negotiated,
};
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
    vary: Option<String>,
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
    let vary = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("vary: ")
            .map(str::to_owned)
    });
    Reply {
        status,
        content_type,
        vary,
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
    let mut produced = get_requests(port).await;
    produced.extend(post_requests(port).await);
    produced.extend(invalid_requests(port).await);

    server.abort();
    for doc in &produced {
        assert!(
            validate_slice(doc.as_bytes(), DocumentKind::Response).is_empty(),
            "{doc}"
        );
    }
    assert_conforms(&produced);
}

/// GETs with and without Accept, refused media types and a bad query; the documents served.
async fn get_requests(port: u16) -> Vec<String> {
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
    produced
}

/// POSTs with refused and accepted Content-Types; the documents served.
async fn post_requests(port: u16) -> Vec<String> {
    let jsonapi = "application/vnd.api+json";
    let mut produced = Vec::new();
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
    produced
}

/// Invalid request documents, answered with error documents; the documents served.
async fn invalid_requests(port: u16) -> Vec<String> {
    let jsonapi = "application/vnd.api+json";
    let mut produced = Vec::new();
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
    // A request document is read by request rules: `data` is required...
    let reply = send(
        port,
        "POST",
        "/echo",
        &[("Content-Type", jsonapi)],
        r#"{"meta":{"ok":true}}"#,
    )
    .await;
    assert_eq!(reply.status, 400);
    produced
}

fn accept(value: &str) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("accept", value.parse().unwrap());
    headers
}

#[test]
fn accept_is_negotiated_with_weights_and_wildcards() {
    let supported = [ATOMIC.to_owned()];
    let jsonapi = "application/vnd.api+json";
    // (Accept, Ok(profile chosen) or Err(status))
    let cases: &[(&str, Result<Option<&str>, u16>)] = &[
        // A browser-style header: `q` is a weight, not a media-type parameter.
        ("application/vnd.api+json;q=0.9, */*;q=0.1", Ok(None)),
        ("application/vnd.api+json; q=0.5", Ok(None)),
        // A refused ext variant falls back to the plain media type the client also allows...
        (
            "application/vnd.api+json; ext=\"https://example.com/x\", application/vnd.api+json;q=0.2",
            Ok(None),
        ),
        // ...or to a wildcard.
        (
            "application/vnd.api+json; ext=\"https://example.com/x\", */*;q=0.1",
            Ok(None),
        ),
        (
            "application/vnd.api+json; charset=utf-8, application/*;q=0.5",
            Ok(None),
        ),
        // The highest weight wins.
        (
            "application/vnd.api+json; profile=\"https://p/1\";q=0.4, application/vnd.api+json; profile=\"https://p/2\";q=0.8",
            Ok(Some("https://p/2")),
        ),
        ("text/html, application/xml;q=0.9, */*;q=0.8", Ok(None)),
        // q=0 means "not acceptable".
        ("application/vnd.api+json;q=0", Err(406)),
        ("application/vnd.api+json; charset=utf-8", Err(406)),
        (
            "application/vnd.api+json; ext=\"https://example.com/x\"",
            Err(406),
        ),
        ("application/vnd.api+json;q=0, */*;q=0", Err(406)),
    ];
    for (value, expected) in cases {
        let got = check_accept(&accept(value), &supported)
            .map(|media| media.and_then(|m| m.profile.first().cloned()))
            .map_err(|e| e.status_code().unwrap_or(0));
        let expected = expected.map(|p| p.map(str::to_owned));
        assert_eq!(got, expected, "Accept: {value}");
    }
    // The supported extension is chosen when asked for.
    let media = check_accept(&accept(&format!("{jsonapi}; ext=\"{ATOMIC}\"")), &supported)
        .unwrap()
        .unwrap();
    assert_eq!(media.ext, [ATOMIC]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_accept_headers_and_request_rules_over_http() {
    let app = Router::new()
        .route("/articles", get(list))
        .route("/echo", post(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let jsonapi = "application/vnd.api+json";
    let reply = send(
        port,
        "GET",
        "/articles",
        &[("Accept", "application/vnd.api+json;q=0.9, */*;q=0.1")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);

    // A request with a `lid` is a valid request document...
    let reply = send(
        port,
        "POST",
        "/echo",
        &[("Content-Type", jsonapi)],
        r#"{"data":{"type":"people","lid":"new-1","attributes":{"name":"Ada"}}}"#,
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    // ...an `errors`-only body is not.
    let reply = send(
        port,
        "POST",
        "/echo",
        &[("Content-Type", jsonapi)],
        r#"{"errors":[{"title":"nope"}]}"#,
    )
    .await;
    assert_eq!(reply.status, 400);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(doc["errors"][0]["source"]["pointer"], "");
    server.abort();
}

async fn extract_body(
    body: Vec<u8>,
    declare_length: bool,
    limit: Option<usize>,
) -> Result<usize, u16> {
    use axum::extract::FromRequest;
    let length = body.len();
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri("/echo")
        .header("content-type", "application/vnd.api+json");
    if declare_length {
        request = request.header("content-length", length.to_string());
    }
    if let Some(limit) = limit {
        request = request.extension(BodyLimit(limit));
    }
    let request = request.body(axum::body::Body::from(body)).unwrap();
    match JsonApiBody::from_request(request, &()).await {
        Ok(JsonApiBody(bytes, _)) => Ok(bytes.len()),
        Err(rejection) => Err(rejection.0.status()),
    }
}

#[tokio::test]
async fn request_bodies_are_limited_in_size() {
    let mib = 1024 * 1024;
    // The default limit is 1 MiB, whether the length is declared or not.
    assert_eq!(extract_body(vec![b' '; mib], true, None).await, Ok(mib));
    assert_eq!(
        extract_body(vec![b' '; mib + mib / 2], true, None).await,
        Err(413)
    );
    assert_eq!(
        extract_body(vec![b' '; mib + mib / 2], false, None).await,
        Err(413)
    );
    // A configured limit applies both ways.
    assert_eq!(
        extract_body(vec![b' '; 2000], false, Some(1000)).await,
        Err(413)
    );
    assert_eq!(
        extract_body(vec![b' '; 2000], true, Some(1000)).await,
        Err(413)
    );
    assert_eq!(
        extract_body(vec![b' '; 3 * mib], true, Some(4 * mib)).await,
        Ok(3 * mib)
    );
}

async fn negotiated(Negotiated(media): Negotiated) -> axum::response::Response {
    let people = vec![dan()];
    render_negotiated(200, &collection(&people, &Context::empty()), media.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_name_the_applied_profile_and_vary_on_accept() {
    let app = Router::new().route("/people", get(negotiated));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let profile = "application/vnd.api+json; profile=\"https://example.com/p\"";
    let reply = send(port, "GET", "/people", &[("Accept", profile)], "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, profile.to_ascii_lowercase());
    assert_eq!(reply.vary.as_deref(), Some("accept"));
    let reply = send(port, "GET", "/people", &[("Accept", "*/*")], "").await;
    assert_eq!(reply.content_type, "application/vnd.api+json");
    assert_eq!(reply.vary.as_deref(), Some("accept"));
    server.abort();
}

mod atomic_route {
    //! An Atomic Operations endpoint: the batch runs on a copy of the store that replaces it
    //! only when every operation succeeded (all-or-nothing, as a database transaction would).

    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use reel_jsonapi::atomic::{AtomicResult, AtomicResults, OperationKind};
    use reel_jsonapi::axum::AtomicRequest;
    use reel_jsonapi::{ErrorDocument, ErrorObject, Resource};

    #[derive(Resource, Debug, Clone, PartialEq)]
    #[jsonapi(type = "authors")]
    pub(crate) struct Author {
        #[jsonapi(id)]
        pub(crate) id: u64,
        pub(crate) name: String,
    }

    #[derive(Resource, Debug, Clone, PartialEq)]
    #[jsonapi(type = "books")]
    pub(crate) struct Book {
        #[jsonapi(id)]
        pub(crate) id: u64,
        pub(crate) title: String,
        #[jsonapi(relationship, type = "authors")]
        pub(crate) author: Option<u64>,
    }

    #[derive(Debug, Clone, Default)]
    pub(crate) struct Store {
        pub(crate) next_id: u64,
        pub(crate) authors: Vec<Author>,
        pub(crate) books: Vec<Book>,
    }

    pub(crate) type Shared = Arc<Mutex<Store>>;

    fn not_found(pointer: String) -> ErrorDocument {
        ErrorObject::new(404, "Not Found")
            .with_pointer(pointer)
            .into()
    }

    pub(crate) async fn operations(
        State(store): State<Shared>,
        AtomicRequest(operations): AtomicRequest,
    ) -> Result<AtomicResults, ErrorDocument> {
        let mut guard = store
            .lock()
            .map_err(|_| ErrorDocument::from(ErrorObject::new(500, "Store poisoned")))?;
        let mut draft = guard.clone();
        let context = reel_jsonapi::Context::empty();
        let results = operations.execute(|operation| {
            let id = operation
                .resource_id()
                .and_then(|id| id.parse::<u64>().ok());
            match (operation.kind(), operation.resource_type()) {
                (OperationKind::AddResource, Some("authors")) => {
                    draft.next_id += 1;
                    let author = Author {
                        id: draft.next_id,
                        ..operation.resource::<Author>()?
                    };
                    draft.authors.push(author.clone());
                    Ok(AtomicResult::resource(&author, &context))
                }
                (OperationKind::AddResource, Some("books")) => {
                    draft.next_id += 1;
                    let book = Book {
                        id: draft.next_id,
                        ..operation.resource::<Book>()?
                    };
                    draft.books.push(book.clone());
                    Ok(AtomicResult::resource(&book, &context))
                }
                (OperationKind::UpdateResource, Some("books")) => {
                    let index = draft
                        .books
                        .iter()
                        .position(|b| Some(b.id) == id)
                        .ok_or_else(|| not_found(operation.pointer()))?;
                    let updated = operation.apply(draft.books[index].clone())?;
                    draft.books[index] = updated.clone();
                    Ok(AtomicResult::resource(&updated, &context))
                }
                (OperationKind::RemoveResource, Some("books")) => {
                    let before = draft.books.len();
                    draft.books.retain(|b| Some(b.id) != id);
                    if draft.books.len() == before {
                        return Err(not_found(operation.pointer()));
                    }
                    Ok(AtomicResult::empty())
                }
                _ => Err(ErrorObject::new(403, "Forbidden")
                    .with_detail("operation not supported here")
                    .with_pointer(operation.pointer())
                    .into()),
            }
        })?;
        *guard = draft;
        Ok(results)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_operations_over_http_all_or_nothing() {
    let store = atomic_route::Shared::default();
    let app = Router::new()
        .route("/operations", post(atomic_route::operations))
        .route("/echo", post(echo))
        .with_state(store.clone())
        .layer(Extension(SupportedExtensions(vec![ATOMIC.to_owned()])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let atomic = format!("application/vnd.api+json; ext=\"{ATOMIC}\"");
    let headers = [
        ("Content-Type", atomic.as_str()),
        ("Accept", atomic.as_str()),
    ];

    // Two adds tied by a lid: 200, the ext in Content-Type, both stored.
    let body = r#"{"atomic:operations":[
        {"op":"add","data":{"type":"authors","lid":"a","attributes":{"name":"Ada"}}},
        {"op":"add","data":{"type":"books","lid":"b","attributes":{"title":"Notes"},
          "relationships":{"author":{"data":{"type":"authors","lid":"a"}}}}},
        {"op":"update","data":{"type":"books","lid":"b","attributes":{"title":"Notes, 2nd ed."}}}]}"#;
    let reply = send(port, "POST", "/operations", &headers, body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type, atomic.to_ascii_lowercase());
    assert!(validate_slice(&reply.body, DocumentKind::AtomicResults).is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(doc["atomic:results"][0]["data"]["id"], "1");
    assert_eq!(
        doc["atomic:results"][1]["data"]["relationships"]["author"]["data"]["id"],
        "1"
    );
    assert_eq!(
        doc["atomic:results"][2]["data"]["attributes"]["title"],
        "Notes, 2nd ed."
    );
    {
        let store = store.lock().unwrap();
        assert_eq!(store.books[0].author, Some(1));
        assert_eq!(store.books[0].title, "Notes, 2nd ed.");
    }

    // The second operation fails: 422 pointing into it, and the first one is not kept.
    let body = r#"{"atomic:operations":[
        {"op":"add","data":{"type":"authors","attributes":{"name":"Bob"}}},
        {"op":"add","data":{"type":"books","attributes":{"title":5}}}]}"#;
    let reply = send(port, "POST", "/operations", &headers, body).await;
    assert_eq!(reply.status, 422);
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        doc["errors"][0]["source"]["pointer"],
        "/atomic:operations/1/data/attributes/title"
    );
    assert_eq!(store.lock().unwrap().authors.len(), 1, "all or nothing");

    // A removal has no result data: 204.
    let body = r#"{"atomic:operations":[{"op":"remove","ref":{"type":"books","id":"2"}}]}"#;
    let reply = send(port, "POST", "/operations", &headers, body).await;
    assert_eq!(reply.status, 204);
    assert!(store.lock().unwrap().books.is_empty());

    // Without the ext in Content-Type: 415; a structural error: 400 with the operation's pointer.
    let plain = [("Content-Type", "application/vnd.api+json")];
    let reply = send(port, "POST", "/operations", &plain, body).await;
    assert_eq!(reply.status, 415);
    let reply = send(
        port,
        "POST",
        "/operations",
        &headers,
        r#"{"atomic:operations":[{"op":"move"}]}"#,
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        error_pointer(&reply).as_deref(),
        Some("/atomic:operations/0/op")
    );

    server.abort();
}

fn error_pointer(reply: &Reply) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    doc["errors"][0]["source"]["pointer"]
        .as_str()
        .map(str::to_owned)
}
