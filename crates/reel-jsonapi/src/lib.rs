#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
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
