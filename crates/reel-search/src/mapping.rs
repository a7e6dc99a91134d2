//! Index definitions: field types inferred from Rust types, settings and typed field paths.

use std::marker::PhantomData;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The Elasticsearch mapping of a Rust type, used by `#[derive(Document)]` to infer each
/// field's type. Implement it for your own types to control how they are mapped.
///
/// ```
/// use reel_search::FieldMapping;
/// use serde_json::{Value, json};
///
/// struct Location { lat: f64, lon: f64 }
///
/// impl FieldMapping for Location {
///     type Scalar = Location;
///     fn field_mapping() -> Value { json!({"type": "geo_point"}) }
/// }
/// assert_eq!(<Option<Location>>::field_mapping(), json!({"type": "geo_point"}));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no default search mapping",
    label = "no `FieldMapping` for `{Self}`",
    note = "choose the field's type with `#[search(keyword)]`, `#[search(type = \"..\")]` or `#[search(mapping = \"..\")]`, or implement `reel_search::FieldMapping` for it",
    note = "a `time` date-time is mapped through how serde writes it: `#[serde(with = \"time::serde::rfc3339\")]` (or `time::serde::timestamp`)"
)]
pub trait FieldMapping {
    /// The value type of a single element (`Option<T>` and `Vec<T>` map to `T`'s scalar), used
    /// to type query values on [`Field`].
    type Scalar;
    /// The field's mapping, for example `{"type": "keyword"}`.
    fn field_mapping() -> Value;
}

macro_rules! scalar_mapping {
    ($ty:literal => $($t:ty),+) => {$(
        impl FieldMapping for $t {
            type Scalar = $t;
            fn field_mapping() -> Value { json!({"type": $ty}) }
        }
    )+};
}

scalar_mapping!("text" => String);

impl FieldMapping for str {
    type Scalar = String;
    fn field_mapping() -> Value {
        json!({"type": "text"})
    }
}

impl FieldMapping for std::borrow::Cow<'_, str> {
    type Scalar = String;
    fn field_mapping() -> Value {
        json!({"type": "text"})
    }
}
scalar_mapping!("keyword" => char);
scalar_mapping!("byte" => i8);
scalar_mapping!("short" => i16, u8);
scalar_mapping!("integer" => i32, u16);
scalar_mapping!("long" => i64, u32, isize);
scalar_mapping!("unsigned_long" => u64, usize);
// i128/u128 have no default: no numeric type holds them, a keyword sorts them as strings
// ("10" < "9"), and serde_json cannot put values past 64 bits in a document. Choose with
// `#[search(keyword)]` or `#[search(type = "double")]` (and a serde representation).
scalar_mapping!("float" => f32);
scalar_mapping!("double" => f64);
scalar_mapping!("boolean" => bool);
scalar_mapping!("ip" => std::net::IpAddr, std::net::Ipv4Addr, std::net::Ipv6Addr);

/// Any JSON (scalars, arrays, objects): kept in `_source`, not indexed (`enabled: false`),
/// so no value is ever rejected.
impl FieldMapping for Value {
    type Scalar = Value;
    fn field_mapping() -> Value {
        json!({"type": "object", "enabled": false})
    }
}

/// serde writes a `SystemTime` as `{"secs_since_epoch": .., "nanos_since_epoch": ..}`; the
/// mapping indexes exactly that (range queries on `<field>.secs_since_epoch`). Store a
/// `chrono`/`time` date-time instead for a `date` field.
impl FieldMapping for std::time::SystemTime {
    type Scalar = std::time::SystemTime;
    fn field_mapping() -> Value {
        json!({"properties": {
            "secs_since_epoch": {"type": "long"},
            "nanos_since_epoch": {"type": "long"}
        }})
    }
}

macro_rules! wrapper_mapping {
    ($($w:ident),+) => {$(
        impl<T: FieldMapping + ?Sized> FieldMapping for $w<T> {
            type Scalar = T::Scalar;
            fn field_mapping() -> Value { T::field_mapping() }
        }
    )+};
}
use std::boxed::Box;
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
wrapper_mapping!(Box, Arc, Rc);

macro_rules! sized_wrapper_mapping {
    ($($w:ident),+) => {$(
        impl<T: FieldMapping> FieldMapping for $w<T> {
            type Scalar = T::Scalar;
            fn field_mapping() -> Value { T::field_mapping() }
        }
    )+};
}
sized_wrapper_mapping!(Option, Vec, VecDeque, HashSet, BTreeSet);

impl<T: FieldMapping> FieldMapping for [T] {
    type Scalar = T::Scalar;
    fn field_mapping() -> Value {
        T::field_mapping()
    }
}

impl<T: FieldMapping, const N: usize> FieldMapping for [T; N] {
    type Scalar = T::Scalar;
    fn field_mapping() -> Value {
        T::field_mapping()
    }
}

impl<T: FieldMapping + ?Sized> FieldMapping for &T {
    type Scalar = T::Scalar;
    fn field_mapping() -> Value {
        T::field_mapping()
    }
}

#[cfg(feature = "chrono")]
mod chrono_impls {
    use super::*;
    impl<Tz: chrono::TimeZone> FieldMapping for chrono::DateTime<Tz> {
        type Scalar = chrono::DateTime<Tz>;
        fn field_mapping() -> Value {
            json!({"type": "date"})
        }
    }
    impl FieldMapping for chrono::NaiveDateTime {
        type Scalar = chrono::NaiveDateTime;
        fn field_mapping() -> Value {
            json!({"type": "date"})
        }
    }
    impl FieldMapping for chrono::NaiveDate {
        type Scalar = chrono::NaiveDate;
        fn field_mapping() -> Value {
            json!({"type": "date", "format": "strict_date"})
        }
    }
}

// `time` types have no `FieldMapping`: serde writes them as integer tuples (or, with time's
// `serde-human-readable` feature, strings no engine parses as dates), so `#[derive(Document)]`
// asks for `#[serde(with = "time::serde::rfc3339")]` (or `timestamp`) and maps that.

#[cfg(feature = "uuid")]
impl FieldMapping for uuid::Uuid {
    type Scalar = uuid::Uuid;
    fn field_mapping() -> Value {
        json!({"type": "keyword"})
    }
}

#[cfg(feature = "decimal")]
impl FieldMapping for rust_decimal::Decimal {
    type Scalar = rust_decimal::Decimal;
    /// `scaled_float` would round; `double` keeps range queries and aggregations working.
    /// Override with `#[search(type = "scaled_float")]` + `mapping` for money columns.
    fn field_mapping() -> Value {
        json!({"type": "double"})
    }
}

/// A typed path to a field, generated by `#[derive(Document)]` (`Asset::fields().title()`),
/// so a misspelt field does not compile. `T` is the field's scalar type and types the values
/// of term and range queries built from it; `K` is [`Exact`] or, for an analysed `text`
/// field, [`Text`], on which `term`/`terms` do not compile (they would never match).
#[derive(Debug)]
pub struct Field<T, K = Exact> {
    path: String,
    _type: PhantomData<fn() -> (T, K)>,
}

/// The kind of a [`Field`] whose values are indexed as they are (keywords, numbers, dates,
/// the `raw` keyword sub-field of a text field): `term` and `terms` apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Exact;

/// The kind of a [`Field`] mapped as analysed `text` (a `String` without
/// `#[search(keyword)]`, or `type = "text"`). Its indexed terms are the analyser's tokens
/// (lower-cased words), so a `term` query with the original value never matches: `term` and
/// `terms` do not compile on it. Use `matches`/`match_phrase`, or `#[search(raw)]` and the
/// `<field>_raw()` keyword path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Text;

impl<T, K> Clone for Field<T, K> {
    fn clone(&self) -> Self {
        Self::new(self.path.clone())
    }
}

impl<T, K> Field<T, K> {
    /// A field at `path` (dotted for object fields).
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            _type: PhantomData,
        }
    }

    /// The dotted path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl<T, K> AsRef<str> for Field<T, K> {
    fn as_ref(&self) -> &str {
        &self.path
    }
}

impl<T, K> std::fmt::Display for Field<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

/// The generated set of field paths of a document (`<Name>Fields`).
pub trait FieldSet: Default {
    /// The set for a document embedded at `prefix` (an object or nested field).
    fn with_prefix(prefix: String) -> Self;
    /// The dotted prefix ("" at the root).
    fn prefix(&self) -> &str;
}

/// A type stored in an index: its name, settings and mappings. Derive it with
/// `#[derive(Document)]`.
pub trait Document {
    /// The generated typed field paths.
    type Fields: FieldSet;
    /// The index name (the read alias when migrations are used).
    const INDEX: &'static str;
    /// The mapping `properties`.
    fn properties() -> Map<String, Value>;
    /// Settings and mappings of the index.
    fn definition() -> IndexDefinition;
    /// Typed field paths for the query DSL.
    fn fields() -> Self::Fields {
        Self::Fields::default()
    }
}

/// What is sent to Elasticsearch for a document: its id and its `_source`.
///
/// `#[derive(Document)]` implements it (serde body) when a field is marked `#[search(id)]`;
/// implement it by hand for a custom body.
pub trait Indexable: Send + Sync {
    /// The document `_id`.
    fn document_id(&self) -> String;
    /// The document `_source`.
    fn document_body(&self) -> Result<Value, serde_json::Error>;
    /// Appends the document `_source` as compact JSON to `out` (the [`Indexer`](crate::Indexer)
    /// writes it straight into its bulk body). The default serializes
    /// [`document_body`](Self::document_body); `#[derive(Document)]` serializes the struct
    /// itself, without building a `Value`. On error, `out` may hold a partial document.
    fn write_document_body(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, &self.document_body()?)
    }
}

/// An index's settings and mappings, with a fingerprint for change detection.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDefinition {
    name: String,
    settings: Map<String, Value>,
    mappings: Map<String, Value>,
}

impl IndexDefinition {
    /// A definition from explicit settings and mappings objects.
    pub fn new(name: impl Into<String>, settings: Value, mappings: Value) -> Self {
        Self {
            name: name.into(),
            settings: into_map(settings),
            mappings: into_map(mappings),
        }
    }

    /// The definition of a document type.
    pub fn of<D: Document>() -> Self {
        D::definition()
    }

    #[doc(hidden)]
    pub fn __from_derive(
        name: &str,
        shards: Option<u32>,
        replicas: Option<u32>,
        dynamic: Option<&str>,
        analysis: Option<&str>,
        extra: Option<&str>,
        properties: Map<String, Value>,
    ) -> Self {
        let mut settings = Map::new();
        if let Some(extra) = extra {
            settings.extend(crate::__private::parse_object(extra));
        }
        if let Some(shards) = shards {
            settings.insert("number_of_shards".into(), shards.into());
        }
        if let Some(replicas) = replicas {
            settings.insert("number_of_replicas".into(), replicas.into());
        }
        if let Some(analysis) = analysis {
            settings.insert(
                "analysis".into(),
                Value::Object(crate::__private::parse_object(analysis)),
            );
        }
        let mut mappings = Map::new();
        if let Some(dynamic) = dynamic {
            mappings.insert("dynamic".into(), dynamic.into());
        }
        mappings.insert("properties".into(), Value::Object(properties));
        Self {
            name: name.to_owned(),
            settings,
            mappings,
        }
    }

    /// The logical index name (alias).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A copy with another logical name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The index settings (`number_of_shards`, `analysis`, ...).
    pub fn settings(&self) -> &Map<String, Value> {
        &self.settings
    }

    /// Sets one index setting, e.g. `("refresh_interval", "1s")`.
    pub fn with_setting(mut self, key: &str, value: impl Serialize) -> Self {
        self.settings.insert(
            key.into(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// The mappings (`dynamic`, `properties`, `_meta`).
    pub fn mappings(&self) -> &Map<String, Value> {
        &self.mappings
    }

    /// A SHA-256 over the canonical JSON of settings and mappings (`_meta` excluded), used to
    /// tell whether a live index still matches this definition.
    pub fn fingerprint(&self) -> String {
        let mut mappings = self.mappings.clone();
        mappings.remove("_meta");
        let canonical = canonical(&json!({"settings": self.settings, "mappings": mappings}));
        let digest = Sha256::digest(canonical.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The index-creation body: `{"settings": .., "mappings": ..}` with the fingerprint in
    /// `mappings._meta.reel_fingerprint`.
    pub fn body(&self) -> Value {
        let mut mappings = self.mappings.clone();
        let mut meta = match mappings.remove("_meta") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        meta.insert(
            crate::migrate::FINGERPRINT_META.into(),
            self.fingerprint().into(),
        );
        mappings.insert("_meta".into(), Value::Object(meta));
        json!({"settings": self.settings, "mappings": mappings})
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// JSON with object keys sorted at every level, so equal definitions hash equally.
fn canonical(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}
