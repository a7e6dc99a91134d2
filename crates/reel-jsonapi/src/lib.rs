//! JSON:API 1.1 documents: serialize, deserialize, validate, errors and query parameters.
//!
//! reel-jsonapi writes spec-exact JSON:API responses straight from your types through serde —
//! single resources, collections and compound documents with a deduplicated `included`, sparse
//! fieldsets, links and pagination — and reads request documents back into typed values after
//! validating them against the spec. It provides:
//!
//! - [`derive@Resource`]: resource type, id, attributes (rename, skip, computed, visible-if),
//!   to-one/to-many relationships (linkage only, or includable resources), key-case policy,
//!   per-resource links besides `self` and a typed per-request [`Context`].
//! - [`document`] / [`collection`]: response documents with [`IncludeTree`], [`Fieldsets`],
//!   links, [`Page`] pagination and meta.
//! - [`de`]: typed [`Create`](de::Create), [`Update`](de::Update) and
//!   [`RelationshipUpdate`](de::RelationshipUpdate) requests.
//! - [`Document::parse`] and [`validate`]: an untyped document that reports every violation as
//!   an [`ErrorObject`] with `source.pointer`.
//! - [`query`]: `include`, `fields[TYPE]`, `sort`, `page[...]`, `filter[...]` validated against a
//!   resource; errors carry `source.parameter`.
//! - [`atomic`]: the Atomic Operations extension (`atomic:operations` requests with `lid`
//!   resolution, `atomic:results` responses).
//! - [`model`]: the document model, [`names`]: member-name rules and the media type.
//! - `axum` (feature): response type, content-negotiating extractor, error responses.
//!
//! # Example
//!
//! ```
//! use reel_jsonapi::{collection, Context, IncludeTree, Resource, ResourceType};
//!
//! #[derive(Resource)]
//! #[jsonapi(type = "people", rename_all = "camelCase")]
//! struct Person {
//!     #[jsonapi(id)]
//!     id: u64,
//!     first_name: String,
//! }
//!
//! #[derive(Resource)]
//! #[jsonapi(type = "articles")]
//! struct Article {
//!     #[jsonapi(id)]
//!     id: u64,
//!     title: String,
//!     #[jsonapi(relationship)]
//!     author: Person,
//!     #[jsonapi(relationship, type = "tags")]
//!     tags: Vec<u32>,
//! }
//!
//! let articles = vec![Article {
//!     id: 1,
//!     title: "JSON:API paints my bikeshed!".into(),
//!     author: Person { id: 9, first_name: "Dan".into() },
//!     tags: vec![2, 3],
//! }];
//! let context = Context::empty();
//! let include = IncludeTree::parse("author", Article::meta()).unwrap();
//! let json = collection(&articles, &context).include(&include).to_string().unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"data":[{"type":"articles","id":"1","attributes":{"title":"JSON:API paints my bikeshed!"},"relationships":{"author":{"data":{"type":"people","id":"9"}},"tags":{"data":[{"type":"tags","id":"2"},{"type":"tags","id":"3"}]}}}],"included":[{"type":"people","id":"9","attributes":{"firstName":"Dan"}}]}"#
//! );
//! ```
//!
//! # Errors
//!
//! Every problem found in a request is an [`ErrorObject`] pointing at its source; an
//! [`ErrorDocument`] collects them and knows the response status.
//!
//! ```
//! use reel_jsonapi::{de::{ClientIds, Create}, ErrorDocument, ErrorObject, Resource};
//!
//! #[derive(Resource, Debug)]
//! #[jsonapi(type = "people")]
//! struct Person { #[jsonapi(id)] id: u64, name: String, age: Option<u8> }
//!
//! let body = br#"{"data":{"type":"people","attributes":{"name":7,"age":300}}}"#;
//! let errors: ErrorDocument = Create::<Person>::from_slice(body, ClientIds::Forbidden).unwrap_err();
//! let pointers: Vec<_> = errors.errors.iter().filter_map(|e| e.pointer()).collect();
//! assert_eq!(pointers, ["/data/attributes/name", "/data/attributes/age"]);
//! assert_eq!(errors.status(), 422);
//!
//! // Your own errors: a document a client can act on.
//! let not_found = ErrorDocument::from(
//!     ErrorObject::new(404, "Not Found").with_detail("no person 7").with_parameter("filter[id]"),
//! );
//! assert_eq!(
//!     serde_json::to_string(&not_found).unwrap(),
//!     r#"{"errors":[{"status":"404","title":"Not Found","detail":"no person 7","source":{"parameter":"filter[id]"}}]}"#
//! );
//! ```
//!
//! An axum handler is shown in the `axum` module (feature `axum`).
//!
//! Member names are checked when the derive runs, computed ones included:
//!
//! ```
//! use reel_jsonapi::{Context, Resource};
//! #[derive(Resource)]
//! #[jsonapi(type = "people", computed(name = "full-name", with = full_name))]
//! struct Person { #[jsonapi(id)] id: u64 }
//! fn full_name<A>(_: &Person, _: &Context<A>) -> &'static str { "" }
//! ```
//!
//! ```compile_fail
//! use reel_jsonapi::{Context, Resource};
//! #[derive(Resource)]
//! #[jsonapi(type = "people", computed(name = "full.name", with = full_name))]
//! struct Person { #[jsonapi(id)] id: u64 }
//! fn full_name<A>(_: &Person, _: &Context<A>) -> &'static str { "" }
//! ```
//!
//! ```compile_fail
//! use reel_jsonapi::{Context, Resource};
//! #[derive(Resource)]
//! #[jsonapi(type = "people", computed(name = "links", with = links))]
//! struct Person { #[jsonapi(id)] id: u64 }
//! fn links<A>(_: &Person, _: &Context<A>) -> &'static str { "" }
//! ```
//!
//! # Feature flags
//!
//! | Feature  | Default | What it enables |
//! |----------|---------|-----------------|
//! | `derive` | yes     | `#[derive(Resource)]` (reel-jsonapi-derive) |
//! | `axum`   | no      | `axum` module: `JsonApi` responses, the `JsonApiRequest` extractor, error responses |
//! | `metrics` | no     | `reel_jsonapi_validation_errors_total{rule}` through the `metrics` facade; [`describe_metrics`](metrics) |
//!
//! # MSRV
//!
//! Rust 1.94.1.

// Error objects mirror the spec's members, so they are large; they only travel on the error
// path of request handling, where moving them costs nothing measurable.
#![allow(clippy::result_large_err)]

pub mod atomic;
pub mod de;
mod fast;
pub mod metrics;
pub mod model;
pub mod names;
pub mod query;
mod resource;
pub mod ser;
mod strict;
pub mod validate;

#[cfg(feature = "axum")]
pub mod axum;

pub use model::{
    Document, ErrorDocument, ErrorObject, ErrorSource, Hreflang, JsonApiObject, Link, LinkObject,
    Linkage, Links, Meta, PrimaryData, Relationship, ResourceIdentifier, ResourceObject,
};
pub use names::{MEDIA_TYPE, MediaType};
pub use resource::{
    Context, FromResourceObject, IncludeTree, RelationshipMeta, Resource, ResourceId, ResourceMeta,
    ResourceType,
};
pub use ser::{Fieldsets, Page, ResponseDocument, collection, document, null_document};
pub use validate::DocumentKind;

#[cfg(feature = "metrics")]
pub use metrics::describe_metrics;

#[cfg(feature = "derive")]
pub use reel_jsonapi_derive::Resource;

#[doc(hidden)]
pub mod __private {
    pub use serde;
}
