//! The Atomic Operations extension of JSON:API 1.1 (`ext="https://jsonapi.org/ext/atomic"`):
//! several writes in one request, `atomic:operations` in, `atomic:results` out.
//!
//! - [`Operations::from_slice`] validates an `atomic:operations` document (every problem an
//!   error object pointing into `/atomic:operations/N/...`) and reads it into [`Operation`]s:
//!   `add`, `update` and `remove` on resources and relationships, targeted by `ref` (`type` with
//!   `id` or `lid`, maybe `relationship`) or `href`. A `lid` must be introduced by an earlier
//!   `add` of the same type.
//! - [`Operations::execute`] runs the operations in order through your handler, resolving every
//!   `lid` to the id an earlier `add` produced ([`LocalIds`]), and collects
//!   [`AtomicResults`]. The first error stops the batch; making the batch all-or-nothing (a
//!   database transaction) is the handler's job.
//! - [`Operation::resource`] / [`Operation::apply`] read an operation's resource into your
//!   derived type with pointers into the operation.
//!
//! ```
//! use reel_jsonapi::atomic::{AtomicResult, Operations, OperationKind};
//! use reel_jsonapi::{Context, Resource};
//!
//! #[derive(Resource, Debug, Clone, PartialEq)]
//! #[jsonapi(type = "people")]
//! struct Person { #[jsonapi(id)] id: u64, name: String }
//!
//! #[derive(Resource, Debug, Clone, PartialEq)]
//! #[jsonapi(type = "articles")]
//! struct Article {
//!     #[jsonapi(id)] id: u64,
//!     title: String,
//!     #[jsonapi(relationship, type = "people")] author: Option<u64>,
//! }
//!
//! let body = br#"{"atomic:operations": [
//!   {"op": "add", "data": {"type": "people", "lid": "a", "attributes": {"name": "Ada"}}},
//!   {"op": "add", "data": {"type": "articles", "attributes": {"title": "Hi"},
//!     "relationships": {"author": {"data": {"type": "people", "lid": "a"}}}}}
//! ]}"#;
//! let operations = Operations::from_slice(body).unwrap();
//! let mut next_id = 40;
//! let results = operations
//!     .execute(|operation| {
//!         next_id += 1;
//!         match (operation.kind(), operation.resource_type()) {
//!             (OperationKind::AddResource, Some("people")) => {
//!                 let person = Person { id: next_id, ..operation.resource::<Person>()? };
//!                 Ok(AtomicResult::resource(&person, &Context::empty()))
//!             }
//!             (OperationKind::AddResource, Some("articles")) => {
//!                 // The `lid` "a" was resolved to the id the first operation produced.
//!                 let article = Article { id: next_id, ..operation.resource::<Article>()? };
//!                 assert_eq!(article.author, Some(41));
//!                 Ok(AtomicResult::resource(&article, &Context::empty()))
//!             }
//!             _ => Ok(AtomicResult::empty()),
//!         }
//!     })
//!     .unwrap();
//! let json = serde_json::to_value(&results).unwrap();
//! assert_eq!(json["atomic:results"][0]["data"]["id"], "41");
//! assert_eq!(json["atomic:results"][1]["data"]["relationships"]["author"]["data"]["id"], "41");
//! ```

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ErrorDocument, ErrorObject, Linkage, Meta, Relationship, ResourceIdentifier, ResourceObject,
};
use crate::resource::{Context, FromResourceObject, Resource};
use crate::validate::{DocumentKind, validate_value};

/// The URI of the Atomic Operations extension, for `ext` media type parameters.
pub const ATOMIC_EXT: &str = "https://jsonapi.org/ext/atomic";

/// The media type of Atomic Operations requests and responses:
/// `application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"`.
pub fn media_type() -> crate::names::MediaType {
    crate::names::MediaType {
        ext: vec![ATOMIC_EXT.to_owned()],
        profile: Vec::new(),
    }
}

/// The operation code (`op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `add`: create a resource, or add members to a to-many relationship.
    Add,
    /// `update`: update a resource, or replace a relationship.
    Update,
    /// `remove`: delete a resource, or remove members from a to-many relationship.
    Remove,
}

/// The `ref` of an operation: the resource (and maybe relationship) it targets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ref {
    /// The resource type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The resource id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The local id of a resource added earlier in the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lid: Option<String>,
    /// The relationship, for relationship operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
}

/// What an operation targets: a `ref` or an `href`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A `ref` object.
    Ref(Ref),
    /// An `href` URI-reference (as a client would use for the single-operation request).
    Href(String),
}

/// The `data` of an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationData {
    /// No `data` member (removing a resource).
    None,
    /// A resource object (adding or updating a resource).
    Resource(Box<ResourceObject>),
    /// Resource linkage (relationship operations).
    Linkage(Linkage),
}

/// What an operation does, from its `op`, target and `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationKind {
    /// `add` with a resource object: create it.
    AddResource,
    /// `update` with a resource object: update the members it carries.
    UpdateResource,
    /// `remove` of a resource.
    RemoveResource,
    /// `update` of a relationship: replace its linkage (to-one or to-many).
    UpdateRelationship,
    /// `add` to a to-many relationship.
    AddToRelationship,
    /// `remove` from a to-many relationship.
    RemoveFromRelationship,
}

/// One operation of an `atomic:operations` document.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Its index in `atomic:operations`.
    pub index: usize,
    /// The operation code.
    pub op: Op,
    /// `ref` or `href`, if given.
    pub target: Option<Target>,
    /// The operation's data.
    pub data: OperationData,
    /// The operation's `meta`.
    pub meta: Option<Meta>,
}

impl Operation {
    /// The JSON Pointer of this operation, `/atomic:operations/N`.
    pub fn pointer(&self) -> String {
        format!("/atomic:operations/{}", self.index)
    }

    /// What the operation does.
    pub fn kind(&self) -> OperationKind {
        match (&self.data, self.op) {
            (OperationData::Resource(_), Op::Add) => OperationKind::AddResource,
            (OperationData::Resource(_), _) => OperationKind::UpdateResource,
            (OperationData::None, _) => OperationKind::RemoveResource,
            (OperationData::Linkage(_), Op::Add) => OperationKind::AddToRelationship,
            (OperationData::Linkage(_), Op::Update) => OperationKind::UpdateRelationship,
            (OperationData::Linkage(_), Op::Remove) => OperationKind::RemoveFromRelationship,
        }
    }

    /// The `ref`, if the operation has one.
    pub fn reference(&self) -> Option<&Ref> {
        match &self.target {
            Some(Target::Ref(reference)) => Some(reference),
            _ => None,
        }
    }

    /// The `href`, if the operation has one.
    pub fn href(&self) -> Option<&str> {
        match &self.target {
            Some(Target::Href(href)) => Some(href),
            _ => None,
        }
    }

    /// The resource type the operation is about: the `ref`'s, else the data resource's.
    pub fn resource_type(&self) -> Option<&str> {
        self.reference()
            .map(|r| r.type_name.as_str())
            .or(match &self.data {
                OperationData::Resource(object) => Some(object.type_name.as_str()),
                _ => None,
            })
    }

    /// The id of the target resource: the `ref`'s, else the data resource's (after
    /// [`LocalIds`] resolution, a `lid` target has its id here).
    pub fn resource_id(&self) -> Option<&str> {
        self.reference()
            .and_then(|r| r.id.as_deref())
            .or(match &self.data {
                OperationData::Resource(object) => object.id.as_deref(),
                _ => None,
            })
    }

    /// The relationship a relationship operation targets (from `ref`).
    pub fn relationship(&self) -> Option<&str> {
        self.reference().and_then(|r| r.relationship.as_deref())
    }

    /// The linkage of a relationship operation.
    pub fn linkage(&self) -> Option<&Linkage> {
        match &self.data {
            OperationData::Linkage(linkage) => Some(linkage),
            _ => None,
        }
    }

    /// Reads the resource of an `add` (or the whole resource of an `update`) into `T`; errors
    /// point at `/atomic:operations/N/data/...`.
    pub fn resource<T: FromResourceObject>(&self) -> Result<T, ErrorDocument> {
        let OperationData::Resource(object) = &self.data else {
            return Err(ErrorObject::new(400, "Expected a resource object")
                .with_detail("this operation carries no resource object")
                .with_pointer(self.pointer())
                .into());
        };
        T::from_resource_object((**object).clone(), &format!("{}/data", self.pointer()))
            .map_err(ErrorDocument::new)
    }

    /// Applies an `update` onto `current`: members the operation leaves out keep their values
    /// (as [`crate::de::Update::apply`]); errors point into the operation.
    pub fn apply<T: FromResourceObject>(&self, current: T) -> Result<T, ErrorDocument> {
        let OperationData::Resource(object) = &self.data else {
            return Err(ErrorObject::new(400, "Expected a resource object")
                .with_detail("this operation carries no resource object")
                .with_pointer(self.pointer())
                .into());
        };
        current
            .merge_resource_object((**object).clone(), &format!("{}/data", self.pointer()))
            .map_err(ErrorDocument::new)
    }

    /// Replaces every `lid` (in `ref`, in the data resource and in all linkage) by the id
    /// `ids` holds for it; an unknown `lid` is a 400 pointing at it.
    pub fn resolve(&mut self, ids: &LocalIds) -> Result<(), ErrorDocument> {
        let base = self.pointer();
        let mut errors = Vec::new();
        let add = self.op == Op::Add;
        if let Some(Target::Ref(reference)) = &mut self.target
            && let Some(lid) = reference.lid.take()
        {
            match ids.get(&reference.type_name, &lid) {
                Some(id) => reference.id = Some(id.to_owned()),
                None => {
                    errors.push(unknown_lid(
                        &reference.type_name,
                        &lid,
                        format!("{base}/ref/lid"),
                    ));
                    reference.lid = Some(lid);
                }
            }
        }
        match &mut self.data {
            OperationData::None => {}
            OperationData::Linkage(linkage) => {
                resolve_linkage(linkage, ids, &format!("{base}/data"), &mut errors);
            }
            OperationData::Resource(object) => {
                // The `lid` of an added resource names it; it is what `ids` will learn.
                if !add
                    && object.id.is_none()
                    && let Some(lid) = object.lid.clone()
                {
                    match ids.get(&object.type_name, &lid) {
                        Some(id) => {
                            object.id = Some(id.to_owned());
                            object.lid = None;
                        }
                        None => errors.push(unknown_lid(
                            &object.type_name,
                            &lid,
                            format!("{base}/data/lid"),
                        )),
                    }
                }
                for (name, relationship) in object.relationships.iter_mut().flatten() {
                    if let Some(linkage) = &mut relationship.data {
                        let at = format!(
                            "{base}/data/relationships/{}/data",
                            name.replace('~', "~0").replace('/', "~1")
                        );
                        resolve_linkage(linkage, ids, &at, &mut errors);
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ErrorDocument::new(errors))
        }
    }
}

fn unknown_lid(type_name: &str, lid: &str, pointer: String) -> ErrorObject {
    ErrorObject::new(400, "Unknown lid")
        .with_detail(format!(
            "no earlier `add` operation of this request created `{type_name}` with lid `{lid}`"
        ))
        .with_pointer(pointer)
}

fn resolve_identifier(
    identifier: &mut ResourceIdentifier,
    ids: &LocalIds,
    pointer: String,
    errors: &mut Vec<ErrorObject>,
) {
    if identifier.id.is_some() {
        return;
    }
    if let Some(lid) = &identifier.lid {
        match ids.get(&identifier.type_name, lid) {
            Some(id) => {
                identifier.id = Some(id.to_owned());
                identifier.lid = None;
            }
            None => errors.push(unknown_lid(
                &identifier.type_name,
                lid,
                format!("{pointer}/lid"),
            )),
        }
    }
}

fn resolve_linkage(
    linkage: &mut Linkage,
    ids: &LocalIds,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) {
    match linkage {
        Linkage::ToOne(None) => {}
        Linkage::ToOne(Some(identifier)) => {
            resolve_identifier(identifier, ids, pointer.to_owned(), errors);
        }
        Linkage::ToMany(identifiers) => {
            for (i, identifier) in identifiers.iter_mut().enumerate() {
                resolve_identifier(identifier, ids, format!("{pointer}/{i}"), errors);
            }
        }
    }
}

/// The ids the resources added with a `lid` received, for resolving later operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalIds {
    ids: HashMap<(String, String), String>,
}

impl LocalIds {
    /// No local ids yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the resource `type_name` added with `lid` has the id `id`.
    pub fn assign(
        &mut self,
        type_name: impl Into<String>,
        lid: impl Into<String>,
        id: impl Into<String>,
    ) {
        self.ids.insert((type_name.into(), lid.into()), id.into());
    }

    /// The id of the resource `type_name` added with `lid`.
    pub fn get(&self, type_name: &str, lid: &str) -> Option<&str> {
        self.ids
            .get(&(type_name.to_owned(), lid.to_owned()))
            .map(String::as_str)
    }
}

/// A validated `atomic:operations` request document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Operations {
    /// The operations, in order.
    pub operations: Vec<Operation>,
    /// The document's top-level `meta`.
    pub meta: Option<Meta>,
}

#[derive(Deserialize)]
struct RawOperation {
    op: Op,
    #[serde(rename = "ref", default)]
    reference: Option<Ref>,
    #[serde(default)]
    href: Option<String>,
    #[serde(default, deserialize_with = "present")]
    data: Option<Value>,
    #[serde(default)]
    meta: Option<Meta>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Operations {
    /// Parses and validates an `atomic:operations` document. Every violation is reported with
    /// a pointer into `/atomic:operations/N/...`; a `lid` used before an `add` of the same type
    /// introduced it is a 400 `Unknown lid`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ErrorDocument> {
        let value = crate::strict::parse_value(bytes).map_err(ErrorDocument::from)?;
        let errors = validate_value(&value, DocumentKind::AtomicOperations);
        if !errors.is_empty() {
            return Err(ErrorDocument::new(errors));
        }
        let Value::Object(mut top) = value else {
            return Err(ErrorObject::new(400, "Invalid document")
                .with_pointer("")
                .into());
        };
        let meta = match top.remove("meta") {
            Some(Value::Object(meta)) => Some(meta),
            _ => None,
        };
        let items = match top.remove("atomic:operations") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let mut operations = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        let mut lids: HashSet<(String, String)> = HashSet::new();
        for (index, item) in items.into_iter().enumerate() {
            let pointer = format!("/atomic:operations/{index}");
            let invalid = |error: serde_json::Error, at: &str| {
                ErrorObject::new(400, "Invalid operation")
                    .with_detail(error.to_string())
                    .with_pointer(at.to_owned())
            };
            let raw: RawOperation = match serde_json::from_value(item) {
                Ok(raw) => raw,
                Err(error) => {
                    errors.push(invalid(error, &pointer));
                    continue;
                }
            };
            let relationship = raw
                .reference
                .as_ref()
                .is_some_and(|r| r.relationship.is_some())
                || (raw.reference.is_none()
                    && raw.href.is_some()
                    && matches!(
                        (raw.op, &raw.data),
                        (Op::Update, Some(Value::Null | Value::Array(_)))
                            | (Op::Add | Op::Remove, Some(Value::Array(_)))
                    ));
            let data = match raw.data {
                None => OperationData::None,
                Some(data) if relationship => match serde_json::from_value(data) {
                    Ok(linkage) => OperationData::Linkage(linkage),
                    Err(error) => {
                        errors.push(invalid(error, &format!("{pointer}/data")));
                        continue;
                    }
                },
                Some(mut data) => {
                    if let Some(Value::Object(relationships)) = data.get_mut("relationships") {
                        relationships
                            .retain(|name, _| !name.contains(':') && !name.starts_with('@'));
                    }
                    match serde_json::from_value(data) {
                        Ok(object) => OperationData::Resource(Box::new(object)),
                        Err(error) => {
                            errors.push(invalid(error, &format!("{pointer}/data")));
                            continue;
                        }
                    }
                }
            };
            let target = match (raw.reference, raw.href) {
                (Some(reference), _) => Some(Target::Ref(reference)),
                (None, Some(href)) => Some(Target::Href(href)),
                (None, None) => None,
            };
            let operation = Operation {
                index,
                op: raw.op,
                target,
                data,
                meta: raw.meta,
            };
            check_lids(&operation, &lids, &mut errors);
            if operation.op == Op::Add
                && let OperationData::Resource(object) = &operation.data
                && let Some(lid) = &object.lid
            {
                lids.insert((object.type_name.clone(), lid.clone()));
            }
            operations.push(operation);
        }
        if errors.is_empty() {
            Ok(Self { operations, meta })
        } else {
            Err(ErrorDocument::new(errors))
        }
    }

    /// Runs the operations in order: each has its `lid`s resolved to the ids earlier `add`
    /// operations produced, then goes to `handler`. The id of the resource an `add` with a
    /// `lid` returns (in its result's `data`) is recorded for later operations. The first error
    /// stops the batch and is returned (its pointers already point into the operation when it
    /// comes from [`Operation::resource`] / [`Operation::apply`]); roll back what earlier
    /// operations did (for example by running the batch in one database transaction).
    pub fn execute<F>(self, mut handler: F) -> Result<AtomicResults, ErrorDocument>
    where
        F: FnMut(&Operation) -> Result<AtomicResult, ErrorDocument>,
    {
        let mut ids = LocalIds::new();
        let mut results = Vec::with_capacity(self.operations.len());
        for mut operation in self.operations {
            operation.resolve(&ids)?;
            let result = handler(&operation)?;
            if operation.op == Op::Add
                && let OperationData::Resource(object) = &operation.data
                && let Some(lid) = &object.lid
            {
                match result.data_identity() {
                    Some((type_name, id)) if type_name == object.type_name => {
                        ids.assign(type_name, lid.clone(), id);
                    }
                    _ => {
                        return Err(ErrorObject::new(500, "Missing result")
                            .with_detail(format!(
                                "the `add` with lid `{lid}` returned no `{}` resource to resolve it",
                                object.type_name
                            ))
                            .with_pointer(format!("{}/data/lid", operation.pointer()))
                            .into());
                    }
                }
            }
            results.push(result);
        }
        Ok(AtomicResults {
            results,
            meta: None,
        })
    }
}

/// Every `lid` an operation uses must have been introduced by an earlier `add`.
fn check_lids(
    operation: &Operation,
    known: &HashSet<(String, String)>,
    errors: &mut Vec<ErrorObject>,
) {
    let base = operation.pointer();
    let mut check = |type_name: &str, lid: &str, pointer: String| {
        if !known.contains(&(type_name.to_owned(), lid.to_owned())) {
            errors.push(unknown_lid(type_name, lid, pointer));
        }
    };
    if let Some(reference) = operation.reference()
        && let Some(lid) = &reference.lid
    {
        check(&reference.type_name, lid, format!("{base}/ref/lid"));
    }
    let linkage = |linkage: &Linkage, at: &str, check: &mut dyn FnMut(&str, &str, String)| {
        let one = |identifier: &ResourceIdentifier,
                   at: String,
                   check: &mut dyn FnMut(&str, &str, String)| {
            if identifier.id.is_none()
                && let Some(lid) = &identifier.lid
            {
                check(&identifier.type_name, lid, format!("{at}/lid"));
            }
        };
        match linkage {
            Linkage::ToOne(None) => {}
            Linkage::ToOne(Some(identifier)) => one(identifier, at.to_owned(), check),
            Linkage::ToMany(identifiers) => {
                for (i, identifier) in identifiers.iter().enumerate() {
                    one(identifier, format!("{at}/{i}"), check);
                }
            }
        }
    };
    match &operation.data {
        OperationData::None => {}
        OperationData::Linkage(l) => linkage(l, &format!("{base}/data"), &mut check),
        OperationData::Resource(object) => {
            if operation.op != Op::Add
                && object.id.is_none()
                && let Some(lid) = &object.lid
            {
                check(&object.type_name, lid, format!("{base}/data/lid"));
            }
            for (name, relationship) in object.relationships.iter().flatten() {
                if let Relationship {
                    data: Some(data), ..
                } = relationship
                {
                    let at = format!(
                        "{base}/data/relationships/{}/data",
                        name.replace('~', "~0").replace('/', "~1")
                    );
                    linkage(data, &at, &mut check);
                }
            }
        }
    }
}

/// One result of `atomic:results`: the resource an `add`/`update` produced, or nothing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AtomicResult {
    /// The resulting resource object (written with [`AtomicResult::resource`]), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Non-standard meta-information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl AtomicResult {
    /// An empty result `{}` (a removal, a relationship change, an update without changes the
    /// client does not know about).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A result carrying `resource` as written by [`crate::document`] with `context` (links
    /// included). A resource that fails to serialize gives an empty result.
    pub fn resource<R: Resource<A>, A>(resource: &R, context: &Context<A>) -> Self {
        let data = crate::ser::document(resource, context)
            .to_vec()
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|mut document| document.get_mut("data").map(Value::take));
        Self { data, meta: None }
    }

    /// `(type, id)` of the result's resource, if it has one.
    fn data_identity(&self) -> Option<(String, String)> {
        let data = self.data.as_ref()?;
        Some((
            data.get("type")?.as_str()?.to_owned(),
            data.get("id")?.as_str()?.to_owned(),
        ))
    }
}

/// An `atomic:results` response document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AtomicResults {
    /// One result per operation, in order.
    #[serde(rename = "atomic:results")]
    pub results: Vec<AtomicResult>,
    /// Non-standard meta-information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl AtomicResults {
    /// Whether no result carries data or meta (the server may then answer 204 No Content).
    pub fn is_empty(&self) -> bool {
        self.meta.is_none()
            && self
                .results
                .iter()
                .all(|r| r.data.is_none() && r.meta.is_none())
    }

    /// Parses and validates an `atomic:results` document (a client reading the response).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ErrorDocument> {
        let value = crate::strict::parse_value(bytes).map_err(ErrorDocument::from)?;
        let errors = validate_value(&value, DocumentKind::AtomicResults);
        if !errors.is_empty() {
            return Err(ErrorDocument::new(errors));
        }
        serde_json::from_value(value).map_err(|error| {
            ErrorObject::new(400, "Invalid document")
                .with_detail(error.to_string())
                .with_pointer("")
                .into()
        })
    }
}
