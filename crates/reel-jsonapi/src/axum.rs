//! axum integration (feature `axum`): responses with `application/vnd.api+json`, extractors
//! that enforce the spec's content negotiation, and error documents as responses.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use reel_jsonapi::axum::{JsonApiQuery, JsonApiRequest, Negotiated, render};
//! use reel_jsonapi::de::Create;
//! use reel_jsonapi::{collection, document, Context, Resource};
//!
//! #[derive(Resource, Clone)]
//! #[jsonapi(type = "people")]
//! struct Person { #[jsonapi(id)] id: u64, name: String }
//!
//! async fn list(_: Negotiated, JsonApiQuery(query, _): JsonApiQuery<Person>) -> axum::response::Response {
//!     let people = vec![Person { id: 1, name: "Ada".into() }];
//!     let context = Context::empty().with_base_url("https://api.example.com");
//!     render(200, &collection(&people, &context).query(&query))
//! }
//!
//! async fn create(JsonApiRequest(body): JsonApiRequest<Create<Person>>) -> axum::response::Response {
//!     let mut person = body.resource;
//!     person.id = 2;
//!     render(201, &document(&person, &Context::empty()))
//! }
//!
//! # async fn run() {
//! let app = Router::new().route("/people", get(list).post(create));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::atomic::{ATOMIC_EXT, AtomicResults, Operations};
use crate::de::{ClientIds, Create, Update};
use crate::model::{Document, ErrorDocument, ErrorObject};
use crate::names::{MEDIA_TYPE, MediaType, MediaTypeError};
use crate::query::{Query, QueryRules};
use crate::resource::{FromResourceObject, ResourceType};

/// The largest request body [`JsonApiBody`] and [`JsonApiRequest`] read unless a
/// [`BodyLimit`] extension says otherwise: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The largest request body, in bytes, the extractors here read; add it with
/// `axum::Extension(BodyLimit(..))`. A larger body is answered with a 413 error document
/// before it is read in full. Without it, [`DEFAULT_BODY_LIMIT`] applies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The extensions this server supports; add it with `axum::Extension(SupportedExtensions(..))`
/// to accept requests that use them. Without it, any `ext` is refused (415/406).
#[derive(Debug, Clone, Default)]
pub struct SupportedExtensions(pub Vec<String>);

/// Serializes `body` into a response with `status` and `Content-Type: application/vnd.api+json`.
/// A serialization failure becomes a 500 error document.
pub fn render<T: Serialize + ?Sized>(status: u16, body: &T) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE))],
            bytes,
        )
            .into_response(),
        Err(error) => ErrorDocument::from(
            ErrorObject::new(500, "Serialization failed").with_detail(error.to_string()),
        )
        .into_response(),
    }
}

/// Like [`render`], for a request whose `Accept` was negotiated (see [`Negotiated`]): the
/// `Content-Type` names the applied extensions and profiles (`application/vnd.api+json;
/// ext="…"`), as the spec asks, and `Vary: Accept` tells caches that the answer depends on
/// the request's `Accept`.
pub fn render_negotiated<T: Serialize + ?Sized>(
    status: u16,
    body: &T,
    media: Option<&MediaType>,
) -> Response {
    let mut response = render(status, body);
    if let Some(media) = media.filter(|m| !m.ext.is_empty() || !m.profile.is_empty())
        && let Ok(value) = HeaderValue::from_str(&media.to_string())
    {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("accept"));
    response
}

/// A `200 OK` JSON:API response of any serializable document.
#[derive(Debug, Clone)]
pub struct JsonApi<T>(pub T);

impl<T: Serialize> IntoResponse for JsonApi<T> {
    fn into_response(self) -> Response {
        render(200, &self.0)
    }
}

impl IntoResponse for ErrorDocument {
    fn into_response(self) -> Response {
        render(self.status(), &self)
    }
}

impl IntoResponse for ErrorObject {
    fn into_response(self) -> Response {
        ErrorDocument::from(self).into_response()
    }
}

/// The rejection of every extractor here: a JSON:API error document.
#[derive(Debug, Clone)]
pub struct JsonApiRejection(pub ErrorDocument);

impl IntoResponse for JsonApiRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<ErrorDocument> for JsonApiRejection {
    fn from(document: ErrorDocument) -> Self {
        Self(document)
    }
}

impl From<ErrorObject> for JsonApiRejection {
    fn from(error: ErrorObject) -> Self {
        Self(error.into())
    }
}

fn supported(parts_extensions: &axum::http::Extensions) -> Vec<String> {
    parts_extensions
        .get::<SupportedExtensions>()
        .map(|s| s.0.clone())
        .unwrap_or_default()
}

/// Splits a media range into the media type with its own parameters and its weight (`q`, RFC
/// 9110 §12.4.2). Parameters after `q` are accept extensions and are ignored. `None` for a
/// malformed weight.
fn split_weight(range: &str) -> Option<(String, f32)> {
    let mut media = String::with_capacity(range.len());
    let mut weight = 1.0;
    for (i, param) in split_semicolons(range).into_iter().enumerate() {
        if i > 0
            && let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("q")
        {
            let value = value.trim();
            let valid = !value.is_empty()
                && value.len() <= 5
                && value.chars().all(|c| c.is_ascii_digit() || c == '.');
            weight = value
                .parse::<f32>()
                .ok()
                .filter(|q| valid && (0.0..=1.0).contains(q))?;
            break;
        }
        if i > 0 {
            media.push(';');
        }
        media.push_str(param);
    }
    Some((media, weight))
}

/// Splits at `;` outside double quotes.
fn split_semicolons(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// Negotiates `Accept` per RFC 9110 and the JSON:API rules.
///
/// Each media range carries a weight (`q`, default 1; `q=0` means "not acceptable"). The
/// acceptable JSON:API range with the highest weight wins: one whose only parameters are `ext`
/// (every extension supported) and `profile`. When none is acceptable but the client also
/// accepts `*/*` or `application/*`, the plain media type is used (`Ok(None)`), so a refused
/// `ext` variant falls back to the plain media type the client allowed. 406 only when the
/// client named the JSON:API media type, no instance of it is acceptable and no wildcard
/// allows another answer. No `Accept` at all is `Ok(None)`.
pub fn check_accept(
    headers: &HeaderMap,
    supported_ext: &[String],
) -> Result<Option<MediaType>, ErrorObject> {
    let mut saw_json_api = false;
    let mut wildcard = false;
    let mut last_problem = None;
    let mut best: Option<(f32, MediaType)> = None;
    for value in headers.get_all(ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in split_ranges(value) {
            if range.is_empty() {
                continue;
            }
            let Some((media_range, weight)) = split_weight(range) else {
                // A malformed weight makes the range unusable; say so if nothing else fits.
                last_problem = Some(format!("malformed weight in `{range}`"));
                continue;
            };
            let essence = media_range
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence == "*/*" || essence == "application/*" {
                wildcard |= weight > 0.0;
                continue;
            }
            match MediaType::parse(&media_range) {
                Ok(media) => {
                    saw_json_api = true;
                    if weight <= 0.0 {
                        continue;
                    }
                    if !media.ext.iter().all(|e| supported_ext.contains(e)) {
                        last_problem = Some("an extension in `ext` is not supported".to_owned());
                        continue;
                    }
                    if best.as_ref().is_none_or(|(w, _)| weight > *w) {
                        best = Some((weight, media));
                    }
                }
                Err(MediaTypeError::NotJsonApi) => {}
                Err(error) => {
                    saw_json_api = true;
                    last_problem = Some(error.to_string());
                }
            }
        }
    }
    if let Some((_, media)) = best {
        return Ok(Some(media));
    }
    if saw_json_api && !wildcard {
        Err(ErrorObject::new(406, "Not Acceptable")
            .with_detail(
                last_problem
                    .unwrap_or_else(|| format!("every {MEDIA_TYPE} in `Accept` has weight 0")),
            )
            .with_header("Accept"))
    } else {
        Ok(None)
    }
}

/// Checks `Content-Type` for a request with a body: it must be the JSON:API media type with only
/// `ext`/`profile` parameters and supported extensions; otherwise 415.
pub fn check_content_type(
    headers: &HeaderMap,
    supported_ext: &[String],
) -> Result<MediaType, ErrorObject> {
    let unsupported = |detail: String| {
        ErrorObject::new(415, "Unsupported Media Type")
            .with_detail(detail)
            .with_header("Content-Type")
    };
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Err(unsupported(format!("send the body as {MEDIA_TYPE}")));
    };
    let media = MediaType::parse(value).map_err(|error| unsupported(error.to_string()))?;
    if let Some(ext) = media.ext.iter().find(|e| !supported_ext.contains(e)) {
        return Err(unsupported(format!("extension `{ext}` is not supported")));
    }
    Ok(media)
}

/// Splits an `Accept` value at commas outside quotes.
fn split_ranges(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// Extractor for requests without a body: enforces the `Accept` rules (406) and yields the
/// accepted JSON:API media type (with the profiles the client asked for), if it sent one.
#[derive(Debug, Clone)]
pub struct Negotiated(pub Option<MediaType>);

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = JsonApiRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ext = supported(&parts.extensions);
        Ok(Negotiated(check_accept(&parts.headers, &ext)?))
    }
}

/// A request body type the [`JsonApiRequest`] extractor can produce.
pub trait RequestBody: Sized {
    /// Parses and validates the body.
    fn from_body(bytes: &[u8]) -> Result<Self, ErrorDocument>;
}

impl RequestBody for Document {
    /// Validated by the rules for requests ([`DocumentKind::Request`](crate::DocumentKind)):
    /// `data` is required, `errors` refused, `lid` accepted.
    fn from_body(bytes: &[u8]) -> Result<Self, ErrorDocument> {
        Document::parse_as(bytes, crate::DocumentKind::Request)
    }
}

impl<T: FromResourceObject> RequestBody for Create<T> {
    /// Client-generated ids are refused with 403; read [`JsonApiBody`] and call
    /// [`Create::from_slice`] to allow them.
    fn from_body(bytes: &[u8]) -> Result<Self, ErrorDocument> {
        Create::from_slice(bytes, ClientIds::Forbidden)
    }
}

impl<T: FromResourceObject> RequestBody for Update<T> {
    /// The URL id is not checked here; compare `update.id` with your path parameter.
    fn from_body(bytes: &[u8]) -> Result<Self, ErrorDocument> {
        Update::from_slice(bytes, None)
    }
}

/// Extractor for a JSON:API request body: enforces `Content-Type` (415) and `Accept` (406),
/// then parses and validates the body (400/403/409/422 error documents).
#[derive(Debug, Clone)]
pub struct JsonApiRequest<T>(pub T);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for JsonApiRequest<T> {
    type Rejection = JsonApiRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonApiBody(bytes, _) = JsonApiBody::from_request(request, state).await?;
        Ok(JsonApiRequest(T::from_body(&bytes)?))
    }
}

/// Extractor for the raw body after content negotiation, with the request's media type.
#[derive(Debug, Clone)]
pub struct JsonApiBody(pub Bytes, pub MediaType);

impl<S: Send + Sync> FromRequest<S> for JsonApiBody {
    type Rejection = JsonApiRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let _ = state;
        let ext = supported(request.extensions());
        let media = check_content_type(request.headers(), &ext)?;
        check_accept(request.headers(), &ext)?;
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let too_large = || {
            ErrorObject::new(413, "Request body too large")
                .with_detail(format!("a request body may have at most {limit} bytes"))
        };
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large().into());
        }
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|error| {
                // `to_bytes` fails with a length-limit error once more than `limit` bytes
                // arrived; anything else is a broken body stream.
                if std::error::Error::source(&error)
                    .is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
                {
                    too_large()
                } else {
                    ErrorObject::new(400, "Unreadable body").with_detail(error.to_string())
                }
            })?;
        Ok(JsonApiBody(bytes, media))
    }
}

/// Extractor for the query string, validated with `QueryRules::for_resource::<R>()`; the
/// second field is the rules used. Errors are 400 documents with `source.parameter`.
#[derive(Debug, Clone)]
pub struct JsonApiQuery<R>(pub Query, pub PhantomData<fn() -> R>);

impl<S: Send + Sync, R: ResourceType> FromRequestParts<S> for JsonApiQuery<R> {
    type Rejection = JsonApiRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let rules = parts
            .extensions
            .get::<QueryRules>()
            .filter(|rules| rules.resource_type() == R::TYPE)
            .cloned()
            .unwrap_or_else(QueryRules::for_resource::<R>);
        let raw = parts.uri.query().unwrap_or("");
        Ok(JsonApiQuery(Query::parse(raw, &rules)?, PhantomData))
    }
}

/// Extractor for an Atomic Operations request (`POST` with
/// `Content-Type: application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"`): the
/// extension must be listed in [`SupportedExtensions`] and named in `Content-Type` (415
/// otherwise), `Accept` is checked (406), and the body is validated and read as
/// [`Operations`] (errors point into `/atomic:operations/N`). Run the batch with
/// [`Operations::execute`] inside your transaction and return the [`AtomicResults`].
///
/// ```no_run
/// use axum::{routing::post, Extension, Router};
/// use reel_jsonapi::atomic::{ATOMIC_EXT, AtomicResult, AtomicResults};
/// use reel_jsonapi::axum::{AtomicRequest, SupportedExtensions};
/// use reel_jsonapi::ErrorDocument;
///
/// async fn operations(AtomicRequest(operations): AtomicRequest) -> Result<AtomicResults, ErrorDocument> {
///     // Begin a transaction; commit if `execute` succeeds, roll back otherwise.
///     operations.execute(|_operation| Ok(AtomicResult::empty()))
/// }
///
/// let app: Router = Router::new()
///     .route("/operations", post(operations))
///     .layer(Extension(SupportedExtensions(vec![ATOMIC_EXT.to_owned()])));
/// ```
#[derive(Debug, Clone)]
pub struct AtomicRequest(pub Operations);

impl<S: Send + Sync> FromRequest<S> for AtomicRequest {
    type Rejection = JsonApiRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonApiBody(bytes, media) = JsonApiBody::from_request(request, state).await?;
        if !media.ext.iter().any(|e| e == ATOMIC_EXT) {
            return Err(ErrorObject::new(415, "Unsupported Media Type")
                .with_detail(format!(
                    "Atomic Operations requests must be sent as {}",
                    crate::atomic::media_type()
                ))
                .with_header("Content-Type")
                .into());
        }
        Ok(AtomicRequest(Operations::from_slice(&bytes)?))
    }
}

impl IntoResponse for AtomicResults {
    /// `200 OK` with the results and
    /// `Content-Type: application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"`, or
    /// `204 No Content` when no result carries data or meta (as the extension allows).
    fn into_response(self) -> Response {
        if self.is_empty() {
            let mut response = StatusCode::NO_CONTENT.into_response();
            response
                .headers_mut()
                .append(VARY, HeaderValue::from_static("accept"));
            return response;
        }
        render_negotiated(200, &self, Some(&crate::atomic::media_type()))
    }
}
