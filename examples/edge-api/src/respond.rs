//! Responses and the middleware around every route: JSON:API documents with `meta.cache` and
//! `meta.country`, the error documents every layer shares, and the request log.

use std::time::Instant;

use axum::Extension;
use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reel_geoip::tower::ClientGeo;
use reel_jsonapi::axum::render;
use reel_jsonapi::{ErrorDocument, ErrorObject, MEDIA_TYPE};
use serde_json::Value;

pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Adds `meta.country` to JSON:API error documents too (documents get it in [`respond`]),
/// whichever extractor, handler, layer or fallback wrote them; and turns axum's empty 405
/// into an error document (keeping its `Allow` header).
pub(crate) async fn country_on_errors(request: Request, next: Next) -> Response {
    let geo: Geo = request
        .extensions()
        .get::<ClientGeo>()
        .cloned()
        .map(Extension);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(CONTENT_TYPE).is_none()
    {
        let allow = response.headers().get(ALLOW).cloned();
        let allowed = allow
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut replaced = ErrorDocument::from(
            ErrorObject::new(405, "Method Not Allowed").with_detail(format!(
                "`{path}` does not support {method}; it supports {allowed}"
            )),
        )
        .into_response();
        if let Some(allow) = allow {
            replaced.headers_mut().insert(ALLOW, allow);
        }
        response = replaced;
    }
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    let is_json_api = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == MEDIA_TYPE.as_bytes());
    if response.status().as_u16() < 400 || !is_json_api {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error documents are small and written in one piece; anything else passes untouched.
    const LIMIT: u64 = 64 * 1024;
    if axum::body::HttpBody::size_hint(&body)
        .exact()
        .is_none_or(|length| length > LIMIT)
    {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, LIMIT as usize).await else {
        return internal("an error document could not be read").into_response();
    };
    let Ok(mut document) = serde_json::from_slice::<ErrorDocument>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    document.meta.get_or_insert_with(Default::default).insert(
        "country".into(),
        country(&geo).map_or(Value::Null, Value::String),
    );
    match serde_json::to_vec(&document) {
        Ok(body) => {
            parts.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(body))
        }
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

fn country(geo: &Geo) -> Option<String> {
    geo.as_ref()
        .and_then(|Extension(geo)| geo.location.as_ref()?.country.as_ref()?.iso_code.clone())
}

pub(crate) fn internal(error: impl std::fmt::Display) -> ErrorDocument {
    tracing::error!(%error, "request failed");
    ErrorObject::new(500, "Internal Server Error")
        .with_detail("the database could not answer; try again")
        .into()
}

/// How many seconds a 503 asks clients to wait (`Retry-After`).
const RETRY_AFTER_SECONDS: &str = "5";

pub(crate) async fn not_found(uri: Uri) -> ErrorDocument {
    ErrorObject::new(404, "Not Found")
        .with_detail(format!(
            "no route for `{}`; try /v2/assets, /v2/search?q= or /healthz",
            uri.path()
        ))
        .into()
}

/// The request's client as reel-geoip saw it.
pub(crate) type Geo = Option<Extension<ClientGeo>>;

/// A JSON:API response of `body` with `meta.cache` and `x-cache` set to `cache`, and the
/// client's country (ISO code, `null` when unknown) in `meta.country`.
pub(crate) fn respond(status: u16, mut body: Value, cache: &str, geo: &Geo) -> Response {
    let country = country(geo);
    if let Some(object) = body.as_object_mut() {
        let meta = object
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("cache".into(), cache.into());
            meta.insert("country".into(), country.map_or(Value::Null, Value::String));
        }
    }
    let mut response = render(status, &body);
    if let Ok(value) = HeaderValue::from_str(cache) {
        response.headers_mut().insert("x-cache", value);
    }
    response
}

pub(crate) fn to_value(
    document: Result<Vec<u8>, serde_json::Error>,
) -> Result<Value, ErrorDocument> {
    document
        .and_then(|bytes| serde_json::from_slice(&bytes))
        .map_err(internal)
}
