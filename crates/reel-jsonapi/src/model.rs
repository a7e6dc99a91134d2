//! The JSON:API 1.1 document model as owned values: what a parsed document looks like.
//!
//! These types are for reading documents and for building small ones by hand (error documents,
//! relationship responses). Large responses are written by [`crate::ser`] straight from your
//! resources without building these values.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A `meta` object: free-form, non-standard information.
pub type Meta = serde_json::Map<String, Value>;

/// A `links` object. A link may be `null` (for example a `prev` link on the first page).
pub type Links = BTreeMap<String, Option<Link>>;

/// A link: either a URI string or a link object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Link {
    /// A URI-reference string.
    Url(String),
    /// A link object with `href` and optional details.
    Object(Box<LinkObject>),
}

impl From<&str> for Link {
    fn from(url: &str) -> Self {
        Link::Url(url.to_owned())
    }
}

impl From<String> for Link {
    fn from(url: String) -> Self {
        Link::Url(url)
    }
}

impl From<LinkObject> for Link {
    fn from(object: LinkObject) -> Self {
        Link::Object(Box::new(object))
    }
}

impl Link {
    /// The target URI, whichever form the link takes.
    pub fn href(&self) -> &str {
        match self {
            Link::Url(url) => url,
            Link::Object(object) => &object.href,
        }
    }
}

/// A link object (JSON:API 1.1 §7.6.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LinkObject {
    /// The link's target URI-reference. Required.
    pub href: String,
    /// The link relation type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    /// A link to a description document (for example OpenAPI) for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describedby: Option<Link>,
    /// A human-readable label for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The media type of the target.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The language(s) of the target (a string or an array of strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hreflang: Option<Hreflang>,
    /// Non-standard meta-information about the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// The `hreflang` member of a link object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Hreflang {
    /// One language tag.
    One(String),
    /// Several language tags.
    Many(Vec<String>),
}

/// A resource identifier object: `type` plus `id` (or a local `lid` in requests).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ResourceIdentifier {
    /// The resource type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The server-assigned (or client-generated) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A local id identifying a resource created in the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// Non-standard meta-information about the linkage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<MetaEq>,
}

/// A `meta` object that can be compared and hashed by its content.
///
/// Resource identifiers are used as keys; their meta is compared by content. The hash does not
/// depend on member order, so it agrees with `==` also when serde_json's `preserve_order`
/// feature (which another crate in the build may turn on) keeps maps in insertion order: equal
/// maps built in different orders hash alike.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MetaEq(pub Meta);

impl Eq for MetaEq {}

impl std::hash::Hash for MetaEq {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        hash_object(&self.0, state);
    }
}

/// Hashes an object's members in key order, whatever order the map keeps them in.
fn hash_object<H: std::hash::Hasher>(object: &serde_json::Map<String, Value>, state: &mut H) {
    use std::hash::Hash;
    let mut members: Vec<(&String, &Value)> = object.iter().collect();
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    members.len().hash(state);
    for (key, value) in members {
        key.hash(state);
        hash_value(value, state);
    }
}

fn hash_value<H: std::hash::Hasher>(value: &Value, state: &mut H) {
    use std::hash::Hash;
    std::mem::discriminant(value).hash(state);
    match value {
        Value::Null => {}
        Value::Bool(b) => b.hash(state),
        // `Number` equality compares the representation; so does its `Hash`.
        Value::Number(n) => n.hash(state),
        Value::String(s) => s.hash(state),
        Value::Array(items) => {
            items.len().hash(state);
            for item in items {
                hash_value(item, state);
            }
        }
        Value::Object(object) => hash_object(object, state),
    }
}

impl ResourceIdentifier {
    /// An identifier with a server id.
    pub fn new(type_name: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            type_name: type_name.into(),
            id: Some(id.into()),
            lid: None,
            meta: None,
        }
    }

    /// An identifier with a local id (`lid`), for resources created in the same request.
    pub fn local(type_name: impl Into<String>, lid: impl Into<String>) -> Self {
        Self {
            type_name: type_name.into(),
            id: None,
            lid: Some(lid.into()),
            meta: None,
        }
    }
}

/// Resource linkage: to-one (`null` or an identifier) or to-many (an array of identifiers).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Linkage {
    /// An array of identifiers (possibly empty).
    ToMany(Vec<ResourceIdentifier>),
    /// `null` or one identifier.
    ToOne(Option<ResourceIdentifier>),
}

/// A relationship object: linkage, links and/or meta (at least one of them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Relationship {
    /// Resource linkage. `None` means the member is absent; `Some(Linkage::ToOne(None))` is an
    /// explicit `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Linkage>,
    /// `self` and `related` links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    /// Non-standard meta-information about the relationship.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Tells "member present with `null`" apart from "member absent".
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Linkage>, D::Error> {
    Linkage::deserialize(deserializer).map(Some)
}

/// A resource object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceObject {
    /// The resource type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The id; absent only in create requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A local id for resources created in the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// The resource's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Map<String, Value>>,
    /// The resource's relationships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationships: Option<BTreeMap<String, Relationship>>,
    /// Links of the resource (usually `self`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    /// Non-standard meta-information about the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ResourceObject {
    /// The identifier of this resource object.
    pub fn identifier(&self) -> ResourceIdentifier {
        ResourceIdentifier {
            type_name: self.type_name.clone(),
            id: self.id.clone(),
            lid: self.lid.clone(),
            meta: None,
        }
    }
}

/// The primary data of a document: `null`, one resource, or an array of resources.
///
/// Resource identifiers (relationship documents) are resource objects without attributes or
/// relationships.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PrimaryData {
    /// An array of resource objects (a collection, possibly empty).
    Many(Vec<ResourceObject>),
    /// `null` or a single resource object.
    One(Option<Box<ResourceObject>>),
}

/// The `source` member of an error object: what in the request caused the error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorSource {
    /// A JSON Pointer (RFC 6901) into the request document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The query parameter that caused the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The request header that caused the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// An error object (JSON:API 1.1 §11.2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorObject {
    /// A unique identifier for this occurrence of the problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `about` and `type` links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    /// The HTTP status code, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// An application-specific error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A short summary that does not change between occurrences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// An explanation specific to this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What in the request caused the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
    /// Non-standard meta-information about the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ErrorObject {
    /// An error with an HTTP status and a title.
    pub fn new(status: u16, title: impl Into<String>) -> Self {
        Self {
            status: Some(status.to_string()),
            title: Some(title.into()),
            ..Self::default()
        }
    }

    /// Sets `detail`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets `code`.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets `source.pointer` (a JSON Pointer into the request document).
    pub fn with_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.source.get_or_insert_with(ErrorSource::default).pointer = Some(pointer.into());
        self
    }

    /// Sets `source.parameter` (the offending query parameter).
    pub fn with_parameter(mut self, parameter: impl Into<String>) -> Self {
        self.source
            .get_or_insert_with(ErrorSource::default)
            .parameter = Some(parameter.into());
        self
    }

    /// Sets `source.header` (the offending request header).
    pub fn with_header(mut self, header: impl Into<String>) -> Self {
        self.source.get_or_insert_with(ErrorSource::default).header = Some(header.into());
        self
    }

    /// The HTTP status as a number, if present and valid.
    pub fn status_code(&self) -> Option<u16> {
        self.status.as_deref().and_then(|s| s.parse().ok())
    }

    /// `source.pointer`, if any.
    pub fn pointer(&self) -> Option<&str> {
        self.source.as_ref().and_then(|s| s.pointer.as_deref())
    }

    /// `source.parameter`, if any.
    pub fn parameter(&self) -> Option<&str> {
        self.source.as_ref().and_then(|s| s.parameter.as_deref())
    }
}

/// The `jsonapi` object: the implementation's version, extensions and profiles.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JsonApiObject {
    /// The highest JSON:API version supported, for example `"1.1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// URIs of the applied extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ext: Vec<String>,
    /// URIs of the applied profiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    /// Non-standard meta-information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl JsonApiObject {
    /// `{"version":"1.1"}`.
    pub fn v1_1() -> Self {
        Self {
            version: Some("1.1".to_owned()),
            ..Self::default()
        }
    }
}

/// A whole JSON:API document as owned values.
///
/// Use [`Document::parse`] to read and validate any document, or build one by hand.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Document {
    /// The primary data. `None` means the member is absent.
    #[serde(
        default,
        deserialize_with = "present_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<PrimaryData>,
    /// Error objects (never together with `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorObject>>,
    /// Non-standard meta-information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Top-level links (`self`, `related`, `describedby`, pagination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Links>,
    /// Resources related to the primary data (compound documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<ResourceObject>>,
    /// The server's implementation information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonapi: Option<JsonApiObject>,
}

fn present_data<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PrimaryData>, D::Error> {
    PrimaryData::deserialize(deserializer).map(Some)
}

impl Document {
    /// A document carrying only errors.
    pub fn from_errors(errors: Vec<ErrorObject>) -> Self {
        Self {
            errors: Some(errors),
            ..Self::default()
        }
    }

    /// Every resource object in `data` (one, many or none).
    pub fn primary_resources(&self) -> &[ResourceObject] {
        match &self.data {
            Some(PrimaryData::Many(many)) => many,
            Some(PrimaryData::One(Some(one))) => std::slice::from_ref(one),
            _ => &[],
        }
    }
}

/// A document that carries errors; the usual body of a 4xx/5xx response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorDocument {
    /// The errors, at least one.
    pub errors: Vec<ErrorObject>,
    /// Non-standard meta-information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// The server's implementation information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonapi: Option<JsonApiObject>,
}

impl ErrorDocument {
    /// A document with these errors.
    pub fn new(errors: Vec<ErrorObject>) -> Self {
        Self {
            errors,
            meta: None,
            jsonapi: None,
        }
    }

    /// The HTTP status a response carrying these errors should have: the common status of all
    /// errors, else the most general class (`400` for mixed 4xx, `500` if any 5xx).
    pub fn status(&self) -> u16 {
        let mut codes = self.errors.iter().filter_map(ErrorObject::status_code);
        let Some(first) = codes.next() else {
            return 400;
        };
        let mut all_same = true;
        let mut any_server = first >= 500;
        for code in codes {
            all_same &= code == first;
            any_server |= code >= 500;
        }
        match (all_same, any_server) {
            (true, _) => first,
            (false, true) => 500,
            (false, false) => 400,
        }
    }
}

impl From<ErrorObject> for ErrorDocument {
    fn from(error: ErrorObject) -> Self {
        Self::new(vec![error])
    }
}

impl From<Vec<ErrorObject>> for ErrorDocument {
    fn from(errors: Vec<ErrorObject>) -> Self {
        Self::new(errors)
    }
}

impl std::fmt::Display for ErrorDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if let Some(pointer) = error.pointer() {
                write!(f, "{pointer}: ")?;
            } else if let Some(parameter) = error.parameter() {
                write!(f, "parameter {parameter}: ")?;
            }
            let text = error
                .detail
                .as_deref()
                .or(error.title.as_deref())
                .unwrap_or("error");
            f.write_str(text)?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorDocument {}

// The four either-or members are read by hand: serde's `untagged` derive buffers the whole value
// (for `data`, every resource of a collection) into an intermediate tree before trying each
// variant, which cost more than the rest of a typed read. These visitors pick the variant from
// the JSON type they are handed and read it once.

/// Deserializes `T` from the map a visitor was handed.
fn from_map<'de, T: Deserialize<'de>, A: serde::de::MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
}

/// Deserializes `T` from the sequence a visitor was handed.
fn from_seq<'de, T: Deserialize<'de>, A: serde::de::SeqAccess<'de>>(seq: A) -> Result<T, A::Error> {
    T::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
}

macro_rules! either_visitor {
    ($visitor:ident, $target:ty, $expecting:literal, { $($method:item)* }) => {
        struct $visitor;

        impl<'de> serde::de::Visitor<'de> for $visitor {
            type Value = $target;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($expecting)
            }

            $($method)*
        }

        impl<'de> Deserialize<'de> for $target {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_any($visitor)
            }
        }
    };
}

either_visitor!(
    LinkVisitor,
    Link,
    "a link (a URI string or a link object)",
    {
        fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Link, E> {
            Ok(Link::Url(url.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, url: String) -> Result<Link, E> {
            Ok(Link::Url(url))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Link, A::Error> {
            from_map(map).map(|object| Link::Object(Box::new(object)))
        }
    }
);

either_visitor!(
    HreflangVisitor,
    Hreflang,
    "a language tag or an array of language tags",
    {
        fn visit_str<E: serde::de::Error>(self, tag: &str) -> Result<Hreflang, E> {
            Ok(Hreflang::One(tag.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, tag: String) -> Result<Hreflang, E> {
            Ok(Hreflang::One(tag))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Hreflang, A::Error> {
            from_seq(seq).map(Hreflang::Many)
        }
    }
);

either_visitor!(
    LinkageVisitor,
    Linkage,
    "resource linkage (null, a resource identifier or an array of them)",
    {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Linkage, E> {
            Ok(Linkage::ToOne(None))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Linkage, E> {
            Ok(Linkage::ToOne(None))
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Linkage, D::Error> {
            Linkage::deserialize(deserializer)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Linkage, A::Error> {
            from_seq(seq).map(Linkage::ToMany)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Linkage, A::Error> {
            from_map(map).map(|one| Linkage::ToOne(Some(one)))
        }
    }
);

either_visitor!(
    PrimaryDataVisitor,
    PrimaryData,
    "primary data (null, a resource object or an array of them)",
    {
        fn visit_unit<E: serde::de::Error>(self) -> Result<PrimaryData, E> {
            Ok(PrimaryData::One(None))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<PrimaryData, E> {
            Ok(PrimaryData::One(None))
        }
        fn visit_some<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<PrimaryData, D::Error> {
            PrimaryData::deserialize(deserializer)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<PrimaryData, A::Error> {
            from_seq(seq).map(PrimaryData::Many)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<PrimaryData, A::Error> {
            from_map(map).map(|one| PrimaryData::One(Some(Box::new(one))))
        }
    }
);

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn hash_of(meta: &MetaEq) -> u64 {
        // One fixed state for both values.
        foldhash::fast::FixedState::with_seed(7).hash_one(meta)
    }

    #[test]
    fn meta_hash_follows_content_not_member_order() {
        // With `preserve_order` these two maps keep different orders yet compare equal; the
        // hash must agree. Without it they are the same map, and the test still holds.
        let mut a = Meta::new();
        a.insert("x".into(), 1.into());
        a.insert(
            "y".into(),
            serde_json::json!({"q": [1, {"r": null, "s": true}], "p": "t"}),
        );
        let mut b = Meta::new();
        b.insert(
            "y".into(),
            serde_json::json!({"p": "t", "q": [1, {"s": true, "r": null}]}),
        );
        b.insert("x".into(), 1.into());
        let (a, b) = (MetaEq(a), MetaEq(b));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        let mut c = b.clone();
        c.0.insert("x".into(), 2.into());
        assert_ne!(hash_of(&a), hash_of(&c));
    }
}
