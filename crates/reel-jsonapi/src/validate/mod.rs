//! The untyped validator: accepts any JSON and reports every JSON:API 1.1 violation as an error
//! object whose `source.pointer` points at the offending member.

mod atomic;
mod linkage;
mod links;
mod pointer;

use std::collections::{HashMap, HashSet};

/// Hash maps keyed by (type, id) of untrusted documents: foldhash is several times faster than
/// SipHash on short strings and still seeded per process, so colliding ids cannot be precomputed.
type IdentityMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type IdentitySet<K> = HashSet<K, foldhash::fast::RandomState>;

use serde_json::{Map, Value};

use crate::model::{Document, ErrorDocument, ErrorObject};
use crate::names::{MemberName, member_name};

use pointer::{FirstAt, IntoPointer, Ptr, type_name};

/// What a document is supposed to be; requests have stricter shapes than responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DocumentKind {
    /// Any response document (data, errors or meta).
    #[default]
    Response,
    /// A create request: one resource object, `id` optional (client-generated), `lid` allowed.
    Create,
    /// An update request: one resource object with `id`.
    Update,
    /// A relationship request: `null`, one identifier or an array of identifiers.
    Relationship,
    /// Any request document whose shape the endpoint decides later: `data` is required
    /// (`null`, a resource object or an array of them), `errors` is refused, `lid` is allowed
    /// and primary resources need no `id`.
    Request,
    /// An Atomic Operations request (`ext="https://jsonapi.org/ext/atomic"`): a top-level
    /// `atomic:operations` array of operation objects instead of `data`; errors point into
    /// `/atomic:operations/N`. See [`crate::atomic`].
    AtomicOperations,
    /// An Atomic Operations response: a top-level `atomic:results` array of result objects.
    AtomicResults,
}

impl DocumentKind {
    /// Whether documents of this kind are requests (`lid` allowed, relationships need `data`).
    fn is_request(self) -> bool {
        !matches!(self, DocumentKind::Response | DocumentKind::AtomicResults)
    }
}

impl Document {
    /// Parses any JSON:API response document and validates it. Included resources that no
    /// resource identifier names are accepted, as sparse fieldsets may have removed the
    /// linkage (use [`validate_slice`] for the strict full-linkage check).
    ///
    /// ```
    /// use reel_jsonapi::Document;
    /// let error = Document::parse(br#"{"data":{"type":"people"},"errors":[]}"#).unwrap_err();
    /// let pointers: Vec<_> = error.errors.iter().filter_map(|e| e.pointer()).collect();
    /// assert_eq!(pointers, ["/errors", "/data"]);
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Document, ErrorDocument> {
        Self::parse_as(bytes, DocumentKind::Response)
    }

    /// Parses a document of the given kind and validates it.
    pub fn parse_as(bytes: &[u8], kind: DocumentKind) -> Result<Document, ErrorDocument> {
        // One pass for valid responses; anything else is read the thorough way, which also
        // writes the error objects.
        if kind == DocumentKind::Response
            && let Some(document) = crate::fast::parse_response(bytes)
        {
            return Ok(document);
        }
        Self::parse_thorough(bytes, kind)
    }

    /// The one-pass reader alone: `Some` only for a valid response document it read by itself.
    /// Used by the tests and fuzz targets to check that both paths agree.
    #[doc(hidden)]
    pub fn parse_one_pass(bytes: &[u8]) -> Option<Document> {
        crate::fast::parse_response(bytes)
    }

    /// The thorough path of [`Document::parse_as`]: a strict `Value`, the validator, then the
    /// model. Used by the tests to check that both paths agree.
    #[doc(hidden)]
    pub fn parse_thorough(bytes: &[u8], kind: DocumentKind) -> Result<Document, ErrorDocument> {
        let value: Value = crate::strict::parse_value(bytes).map_err(ErrorDocument::from)?;
        // A reader cannot know whether the writer applied sparse fieldsets, which exempt a
        // document from full linkage: it must accept such a (valid) document.
        let errors = validate_value_with(
            &value,
            kind,
            ValidateOptions::default().sparse_fieldsets(true),
        );
        if !errors.is_empty() {
            return Err(ErrorDocument::new(errors));
        }
        let mut value = value;
        drop_extension_relationships(&mut value);
        serde_json::from_value(value).map_err(|error| {
            ErrorDocument::from(
                ErrorObject::new(400, "Invalid document")
                    .with_detail(error.to_string())
                    .with_pointer(""),
            )
        })
    }
}

/// Extension (`ns:name`) and `@`-members of a `relationships` object are not relationships; their
/// shape belongs to their extension, so the owned model leaves them out.
fn drop_extension_relationships(document: &mut Value) {
    let strip = |resource: &mut Value| {
        if let Some(Value::Object(relationships)) = resource.get_mut("relationships") {
            relationships.retain(|name, _| !name.contains(':') && !name.starts_with('@'));
        }
    };
    for member in ["data", "included"] {
        match document.get_mut(member) {
            Some(Value::Array(items)) => items.iter_mut().for_each(strip),
            Some(one @ Value::Object(_)) => strip(one),
            _ => {}
        }
    }
}

/// How strictly [`validate_value_with`] judges what a document alone cannot show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    sparse_fieldsets: bool,
}

impl ValidateOptions {
    /// The document may have been written with sparse fieldsets (`fields[TYPE]`), which the
    /// spec exempts from full linkage: an included resource that no resource identifier names
    /// is then not reported. A reader of responses uses this (as [`Document::parse`] does);
    /// a linter of documents known to be unfiltered does not.
    pub fn sparse_fieldsets(mut self, yes: bool) -> Self {
        self.sparse_fieldsets = yes;
        self
    }
}

/// Validates a parsed JSON value as a document of `kind`; returns every violation found.
/// Full linkage is checked strictly (no sparse fieldsets assumed).
pub fn validate_value(value: &Value, kind: DocumentKind) -> Vec<ErrorObject> {
    validate_value_with(value, kind, ValidateOptions::default())
}

/// Validates a parsed JSON value as a document of `kind` with `options`.
pub fn validate_value_with(
    value: &Value,
    kind: DocumentKind,
    options: ValidateOptions,
) -> Vec<ErrorObject> {
    let mut validator = Validator {
        kind,
        options,
        errors: Vec::new(),
        identities: IdentityMap::default(),
        valid_types: Vec::new(),
        id_optional: false,
    };
    validator.document(value);
    crate::metrics::validation_errors(&validator.errors);
    validator.errors
}

/// Validates JSON bytes as a document of `kind`; malformed JSON is one error at pointer `""`,
/// a member name repeated in one object one error pointing at its second copy.
pub fn validate_slice(bytes: &[u8], kind: DocumentKind) -> Vec<ErrorObject> {
    validate_slice_with(bytes, kind, ValidateOptions::default())
}

/// [`validate_slice`] with `options`.
pub fn validate_slice_with(
    bytes: &[u8],
    kind: DocumentKind,
    options: ValidateOptions,
) -> Vec<ErrorObject> {
    match crate::strict::parse_value(bytes) {
        Ok(value) => validate_value_with(&value, kind, options),
        Err(error) => vec![error],
    }
}

/// The validator's checks of free-form parts, for the one-pass reader ([`crate::fast`]): each
/// answers only whether the part is valid in a response document.
pub(crate) struct SubValidator;

impl SubValidator {
    pub(crate) fn new() -> Self {
        SubValidator
    }

    fn validator<'v>() -> Validator<'v> {
        Validator {
            kind: DocumentKind::Response,
            options: ValidateOptions::default().sparse_fieldsets(true),
            errors: Vec::new(),
            identities: IdentityMap::default(),
            valid_types: Vec::new(),
            id_optional: false,
        }
    }

    /// A `links` object.
    pub(crate) fn links(&self, value: &Value) -> bool {
        let mut validator = Self::validator();
        validator.links(value, &Ptr::Root);
        validator.errors.is_empty()
    }

    /// The `jsonapi` object.
    pub(crate) fn jsonapi(&self, value: &Value) -> bool {
        let mut validator = Self::validator();
        validator.jsonapi(value, &Ptr::Root);
        validator.errors.is_empty()
    }

    /// An `attributes` object: field names, and no `links`/`relationships` inside values.
    pub(crate) fn attributes(&self, attributes: &Map<String, Value>) -> bool {
        let mut validator = Self::validator();
        validator.fields(attributes, &Ptr::Root, "attributes");
        for value in attributes.values() {
            validator.attribute_value(value, &Ptr::Root);
        }
        validator.errors.is_empty()
    }
}

struct Validator<'v> {
    kind: DocumentKind,
    options: ValidateOptions,
    errors: Vec<ErrorObject>,
    /// (type, id) → pointer of the first resource object with that identity.
    identities: IdentityMap<(&'v str, &'v str), FirstAt>,
    /// Resource types already found valid member names.
    valid_types: Vec<&'v str>,
    /// The resource object being checked may leave out both `id` and `lid` (the data of an
    /// Atomic Operations `add`).
    id_optional: bool,
}

impl<'v> Validator<'v> {
    fn error(&mut self, pointer: impl IntoPointer, title: &str, detail: String) {
        self.errors.push(
            ErrorObject::new(400, title)
                .with_detail(detail)
                .with_pointer(pointer.into_pointer()),
        );
    }

    fn expect_object<'x>(
        &mut self,
        value: &'x Value,
        pointer: &Ptr<'_>,
        what: &str,
    ) -> Option<&'x Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.error(
                    pointer.render(),
                    "Wrong type",
                    format!("{what} must be an object, not {}", type_name(other)),
                );
                None
            }
        }
    }

    fn expect_string(&mut self, value: &'v Value, pointer: &Ptr<'_>, what: &str) {
        if !value.is_string() {
            self.error(
                pointer.render(),
                "Wrong type",
                format!("{what} must be a string, not {}", type_name(value)),
            );
        }
    }

    /// Checks a member name; returns its kind if valid.
    fn name(&mut self, name: &str, pointer: &Ptr<'_>) -> Option<MemberName> {
        let kind = member_name(name);
        if kind.is_none() {
            self.error(
                pointer.render(),
                "Illegal member name",
                format!("`{name}` breaks the member-name rules (allowed: a-z, A-Z, 0-9, non-ASCII; `-`, `_` and space only inside)"),
            );
        }
        kind
    }

    /// Checks an attribute value: any object in it (a complex attribute) must not contain
    /// `links` or `relationships`, which the spec reserves. Its keys are the application's
    /// data (a map keyed by `"a.b"`) and are not held to the member-name rules.
    fn attribute_value(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let here = pointer.key(key);
                    if matches!(key.as_str(), "links" | "relationships") {
                        self.error(
                            here.render(),
                            "Reserved member in attribute",
                            format!("an object inside an attribute value must not contain `{key}`"),
                        );
                    }
                    self.attribute_value(value, &here);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.attribute_value(item, &pointer.index(i));
                }
            }
            _ => {}
        }
    }

    /// `meta` is free-form: only its shape (an object) is checked.
    fn meta(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let _ = self.expect_object(value, pointer, "`meta`");
    }

    /// Standard members (`allowed`) plus @-members and extension members are fine; anything
    /// else is reported. Returns false when the member was reported.
    fn member(&mut self, key: &str, pointer: &Ptr<'_>, allowed: &[&str], container: &str) -> bool {
        if allowed.contains(&key) {
            return true;
        }
        match self.name(key, pointer) {
            Some(MemberName::At | MemberName::Extension) => false,
            Some(_) => {
                self.error(
                    pointer.render(),
                    "Unknown member",
                    format!("`{key}` is not allowed in {container}"),
                );
                false
            }
            None => false,
        }
    }

    fn document(&mut self, value: &'v Value) {
        let Some(top) = self.expect_object(value, &Ptr::Root, "A JSON:API document") else {
            return;
        };
        if matches!(
            self.kind,
            DocumentKind::AtomicOperations | DocumentKind::AtomicResults
        ) {
            self.atomic_document(top);
            return;
        }
        let request = self.kind.is_request();
        if request {
            if !top.contains_key("data") {
                self.error(
                    String::new(),
                    "Missing data",
                    "a request document must contain `data`".into(),
                );
            }
        } else if !(top.contains_key("data")
            || top.contains_key("errors")
            || top.contains_key("meta"))
        {
            self.error(
                String::new(),
                "Missing top-level member",
                "a document must contain at least one of `data`, `errors` or `meta`".into(),
            );
        }
        if top.contains_key("data") && top.contains_key("errors") {
            self.error(
                "/errors".to_owned(),
                "Conflicting members",
                "`data` and `errors` must not coexist in the same document".into(),
            );
        }
        if top.contains_key("included") && !top.contains_key("data") {
            self.error(
                "/included".to_owned(),
                "Included without data",
                "`included` is only allowed together with `data`".into(),
            );
        }
        for (key, value) in top {
            let pointer = Ptr::Root.key(key);
            match key.as_str() {
                "data" => self.data(value, &pointer),
                "errors" if request => self.error(
                    pointer,
                    "Unknown member",
                    "a request document must not contain `errors`".into(),
                ),
                "errors" => self.errors_member(value, &pointer),
                "meta" => self.meta(value, &pointer),
                "links" => self.links(value, &pointer),
                "included" => self.included(value, &pointer),
                "jsonapi" => self.jsonapi(value, &pointer),
                _ => {
                    self.member(key, &pointer, &[], "the top level");
                }
            }
        }
        self.full_linkage(top);
    }

    fn data(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        match self.kind {
            DocumentKind::Relationship => match value {
                Value::Null => {}
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.identifier(item, &pointer.index(i), false);
                    }
                }
                other => self.identifier(other, pointer, false),
            },
            DocumentKind::Create | DocumentKind::Update => match value {
                Value::Object(_) => self.resource(value, pointer),
                other => self.error(
                    pointer.render(),
                    "Wrong type",
                    format!(
                        "the primary data of this request must be one resource object, not {}",
                        type_name(other)
                    ),
                ),
            },
            DocumentKind::Response
            | DocumentKind::Request
            | DocumentKind::AtomicOperations
            | DocumentKind::AtomicResults => match value {
                Value::Null => {}
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.resource(item, &pointer.index(i));
                    }
                }
                other => self.resource(other, pointer),
            },
        }
    }

    fn included(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Value::Array(items) = value else {
            self.error(
                pointer.render(),
                "Wrong type",
                format!("`included` must be an array, not {}", type_name(value)),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            self.resource(item, &pointer.index(i));
        }
    }

    /// Checks `type` and `id`/`lid`; returns the identity when it has an `id`.
    fn identity(
        &mut self,
        map: &'v Map<String, Value>,
        pointer: &Ptr<'_>,
        id_required: bool,
        lid_allowed: bool,
        what: &str,
    ) -> Option<(&'v str, &'v str)> {
        // One pass over the members instead of a lookup per member: this runs for every
        // resource object and identifier of the document.
        let (mut type_member, mut id_member, mut lid_member) = (None, None, None);
        for (key, value) in map {
            match key.as_str() {
                "type" => type_member = Some(value),
                "id" => id_member = Some(value),
                "lid" => lid_member = Some(value),
                _ => {}
            }
        }
        let type_value = match type_member {
            None => {
                self.error(
                    pointer.render(),
                    "Missing type",
                    format!("{what} must contain `type`"),
                );
                None
            }
            Some(Value::String(t)) => {
                // A document has few types: each is checked against the member-name rules once.
                if self.valid_types.contains(&t.as_str()) {
                    Some(t.as_str())
                } else if self.name(t, &pointer.key("type")).is_none() {
                    None
                } else {
                    if self.valid_types.len() < 16 {
                        self.valid_types.push(t.as_str());
                    }
                    Some(t.as_str())
                }
            }
            Some(other) => {
                self.expect_string(other, &pointer.key("type"), "`type`");
                None
            }
        };
        let id = match id_member {
            Some(Value::String(id)) => Some(id.as_str()),
            Some(other) => {
                self.expect_string(other, &pointer.key("id"), "`id`");
                None
            }
            None => None,
        };
        match lid_member {
            Some(_) if !lid_allowed => {
                self.error(
                    pointer.key("lid"),
                    "Unexpected lid",
                    "`lid` is only allowed in requests".into(),
                );
            }
            Some(lid) => self.expect_string(lid, &pointer.key("lid"), "`lid`"),
            None => {}
        }
        if id_required && id_member.is_none() {
            let lid_ok = lid_allowed
                && lid_member.is_some()
                && !(self.kind == DocumentKind::Update && pointer.is_data());
            if !lid_ok {
                self.error(
                    pointer.render(),
                    "Missing id",
                    format!("{what} must contain `id`"),
                );
            }
        }
        Some((type_value?, id?))
    }

    fn resource(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "A resource object") else {
            return;
        };
        let is_primary_request = self.kind.is_request() && pointer.is_data();
        let primary_of_any_request = self.kind == DocumentKind::Request
            && (pointer.is_data() || matches!(pointer, Ptr::Index(parent, _) if parent.is_data()));
        let id_required = !(self.id_optional
            || primary_of_any_request
            || (self.kind == DocumentKind::Create && is_primary_request));
        let lid_allowed = self.kind.is_request();
        if let Some(identity) =
            self.identity(map, pointer, id_required, lid_allowed, "a resource object")
        {
            if let Some(first) = self.identities.get(&identity) {
                let detail = format!(
                    "resource `{}`/`{}` appears more than once (first at {first})",
                    identity.0, identity.1
                );
                self.error(pointer.render(), "Duplicate resource", detail);
            } else {
                self.identities.insert(identity, FirstAt::of(pointer));
            }
        }
        let allowed = [
            "type",
            "id",
            "lid",
            "attributes",
            "relationships",
            "links",
            "meta",
        ];
        let mut attribute_names: Vec<&str> = Vec::new();
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "type" | "id" | "lid" => {}
                "attributes" => {
                    if let Some(attributes) = self.expect_object(value, &here, "`attributes`") {
                        attribute_names = attributes.keys().map(String::as_str).collect();
                        self.fields(attributes, &here, "attributes");
                        for (name, value) in attributes {
                            self.attribute_value(value, &here.key(name));
                        }
                    }
                }
                "relationships" => {
                    if let Some(relationships) = self.expect_object(value, &here, "`relationships`")
                    {
                        self.fields(relationships, &here, "relationships");
                        for (name, relationship) in relationships {
                            if name.contains(':') || name.starts_with('@') {
                                continue;
                            }
                            self.relationship(relationship, &here.key(name));
                        }
                    }
                }
                "links" => self.links(value, &here),
                "meta" => self.meta(value, &here),
                _ => {
                    self.member(key, &here, &allowed, "a resource object");
                }
            }
        }
        if let Some(Value::Object(relationships)) = map.get("relationships") {
            for name in relationships.keys() {
                if attribute_names.contains(&name.as_str()) {
                    self.error(
                        pointer.key("relationships").key(name).render(),
                        "Field name clash",
                        format!("`{name}` is both an attribute and a relationship"),
                    );
                }
            }
        }
    }

    /// Attribute and relationship names: valid, and not `id`, `type`, `links`, `relationships`.
    fn fields(&mut self, map: &'v Map<String, Value>, pointer: &Ptr<'_>, container: &str) {
        for key in map.keys() {
            let here = pointer.key(key);
            if self.name(key, &here).is_none() {
                continue;
            }
            if matches!(key.as_str(), "id" | "type" | "links" | "relationships") {
                self.error(
                    here,
                    "Reserved field name",
                    format!("`{key}` must not be used as a member of `{container}`"),
                );
            }
        }
    }

    fn relationship(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "A relationship") else {
            return;
        };
        if self.kind.is_request() && !map.contains_key("data") {
            // A relationship in a POST/PATCH MUST carry `data`; without it a handler would
            // read "no linkage" and could wipe the relationship.
            self.error(
                pointer.render(),
                "Missing relationship data",
                "a relationship in a request must contain `data` (null or [] to clear it)".into(),
            );
        } else if !(map.contains_key("data")
            || map.contains_key("links")
            || map.contains_key("meta"))
        {
            self.error(
                pointer.render(),
                "Empty relationship",
                "a relationship must contain at least one of `data`, `links` or `meta`".into(),
            );
        }
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "data" => match value {
                    Value::Null => {}
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.identifier(item, &here.index(i), true);
                        }
                    }
                    other => self.identifier(other, &here, true),
                },
                "links" => {
                    self.links(value, &here);
                    if let Value::Object(links) = value
                        && !links
                            .keys()
                            .any(|k| k == "self" || k == "related" || k.contains(':'))
                    {
                        self.error(
                            here,
                            "Incomplete relationship links",
                            "relationship links must contain `self` or `related`".into(),
                        );
                    }
                }
                "meta" => self.meta(value, &here),
                _ => {
                    self.member(key, &here, &[], "a relationship object");
                }
            }
        }
    }

    fn identifier(&mut self, value: &'v Value, pointer: &Ptr<'_>, in_relationship: bool) {
        let Some(map) = self.expect_object(value, pointer, "A resource identifier") else {
            return;
        };
        let lid_allowed = self.kind.is_request();
        let _ = in_relationship;
        self.identity(map, pointer, true, lid_allowed, "a resource identifier");
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "type" | "id" | "lid" => {}
                "meta" => self.meta(value, &here),
                _ => {
                    self.member(key, &here, &[], "a resource identifier");
                }
            }
        }
    }
}
