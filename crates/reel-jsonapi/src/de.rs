//! Request documents into typed values: create (with or without a client id), update and
//! relationship updates. Every document is validated first; every problem becomes an error
//! object with a `source.pointer`.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::model::{
    Document, ErrorDocument, ErrorObject, Linkage, PrimaryData, Relationship, ResourceIdentifier,
    ResourceObject,
};
use crate::resource::FromResourceObject;
use crate::validate::{DocumentKind, validate_value};

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Reads the id (derived code). A missing id (create without a client id) gives `Default`.
#[doc(hidden)]
pub fn id<I: FromStr + Default>(
    id: Option<&str>,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<I> {
    match id {
        None => Some(I::default()),
        Some(raw) => match raw.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(
                    ErrorObject::new(422, "Invalid id")
                        .with_detail(format!("`{raw}` is not a valid id for this resource"))
                        .with_pointer(format!("{pointer}/id")),
                );
                None
            }
        },
    }
}

/// Checks the resource type (derived code); a mismatch is a 409 Conflict per the spec.
#[doc(hidden)]
pub fn check_type(actual: &str, expected: &str, pointer: &str, errors: &mut Vec<ErrorObject>) {
    if actual != expected {
        errors.push(
            ErrorObject::new(409, "Wrong resource type")
                .with_detail(format!("expected type `{expected}`, got `{actual}`"))
                .with_pointer(format!("{pointer}/type")),
        );
    }
}

/// Takes and deserializes one attribute (derived code). A missing attribute is read as `null`,
/// so `Option` fields may be left out.
#[doc(hidden)]
pub fn attribute<T: DeserializeOwned>(
    attributes: &mut Map<String, Value>,
    name: &str,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<T> {
    match attributes.remove(name) {
        Some(value) => match serde_json::from_value(value) {
            Ok(value) => Some(value),
            Err(error) => {
                errors.push(
                    ErrorObject::new(422, "Invalid attribute")
                        .with_detail(format!("`{name}`: {error}"))
                        .with_pointer(format!("{pointer}/attributes/{}", escape(name))),
                );
                None
            }
        },
        None => match serde_json::from_value(Value::Null) {
            Ok(value) => Some(value),
            Err(_) => {
                errors.push(
                    ErrorObject::new(422, "Missing attribute")
                        .with_detail(format!("attribute `{name}` is required"))
                        .with_pointer(format!("{pointer}/attributes")),
                );
                None
            }
        },
    }
}

/// Reads the resource object's own `meta` into a `#[jsonapi(meta)]` field (derived code):
/// absent is `Default`, a value of the wrong shape a 422 pointing at `meta`.
#[doc(hidden)]
pub fn resource_meta<T: DeserializeOwned + Default>(
    meta: Option<crate::model::Meta>,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<T> {
    let Some(meta) = meta else {
        return Some(T::default());
    };
    match serde_json::from_value(Value::Object(meta)) {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(
                ErrorObject::new(422, "Invalid meta")
                    .with_detail(error.to_string())
                    .with_pointer(format!("{pointer}/meta")),
            );
            None
        }
    }
}

/// Takes and deserializes one attribute of an update (derived code): `None` when the attribute
/// is absent (the current value stays) or invalid (an error is recorded).
#[doc(hidden)]
pub fn attribute_patch<T: DeserializeOwned>(
    attributes: &mut Map<String, Value>,
    name: &str,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<T> {
    if attributes.contains_key(name) {
        attribute(attributes, name, pointer, errors)
    } else {
        None
    }
}

fn parse_identifier<I: FromStr>(
    identifier: &ResourceIdentifier,
    expected_type: &str,
    pointer: &dyn Fn() -> String,
    errors: &mut Vec<ErrorObject>,
) -> Option<I> {
    if identifier.type_name != expected_type {
        errors.push(
            ErrorObject::new(409, "Wrong related resource type")
                .with_detail(format!(
                    "expected type `{expected_type}`, got `{}`",
                    identifier.type_name
                ))
                .with_pointer(format!("{}/type", pointer())),
        );
        return None;
    }
    let Some(raw) = identifier.id.as_deref() else {
        errors.push(
            ErrorObject::new(422, "Missing id")
                .with_detail("related resources must be identified by `id`")
                .with_pointer(pointer()),
        );
        return None;
    };
    match raw.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(
                ErrorObject::new(422, "Invalid id")
                    .with_detail(format!("`{raw}` is not a valid id for `{expected_type}`"))
                    .with_pointer(format!("{}/id", pointer())),
            );
            None
        }
    }
}

fn take_linkage(
    relationships: &mut BTreeMap<String, Relationship>,
    name: &str,
) -> Option<Option<Linkage>> {
    relationships.remove(name).map(|r| r.data)
}

/// Reads an optional to-one relationship of ids (derived code).
#[doc(hidden)]
pub fn to_one<I: FromStr>(
    relationships: &mut BTreeMap<String, Relationship>,
    name: &str,
    expected_type: &str,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<Option<I>> {
    // Rendered only for an error: the success path allocates nothing here.
    let here = || format!("{pointer}/relationships/{}/data", escape(name));
    match take_linkage(relationships, name) {
        None | Some(None) | Some(Some(Linkage::ToOne(None))) => Some(None),
        Some(Some(Linkage::ToOne(Some(identifier)))) => {
            parse_identifier(&identifier, expected_type, &here, errors).map(Some)
        }
        Some(Some(Linkage::ToMany(_))) => {
            errors.push(
                ErrorObject::new(422, "Wrong linkage")
                    .with_detail(format!("`{name}` is a to-one relationship"))
                    .with_pointer(here()),
            );
            None
        }
    }
}

/// Reads a required to-one relationship of ids (derived code).
#[doc(hidden)]
pub fn to_one_required<I: FromStr>(
    relationships: &mut BTreeMap<String, Relationship>,
    name: &str,
    expected_type: &str,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<I> {
    match to_one(relationships, name, expected_type, pointer, errors)? {
        Some(id) => Some(id),
        None => {
            errors.push(
                ErrorObject::new(422, "Missing relationship")
                    .with_detail(format!("relationship `{name}` is required"))
                    .with_pointer(format!("{pointer}/relationships")),
            );
            None
        }
    }
}

/// Reads a to-many relationship of ids (derived code). Missing means empty.
#[doc(hidden)]
pub fn to_many<I: FromStr>(
    relationships: &mut BTreeMap<String, Relationship>,
    name: &str,
    expected_type: &str,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Option<Vec<I>> {
    // Rendered only for an error: the success path allocates nothing here.
    let here = || format!("{pointer}/relationships/{}/data", escape(name));
    match take_linkage(relationships, name) {
        None | Some(None) => Some(Vec::new()),
        Some(Some(Linkage::ToMany(identifiers))) => {
            let before = errors.len();
            let ids: Vec<I> = identifiers
                .iter()
                .enumerate()
                .filter_map(|(i, identifier)| {
                    parse_identifier(
                        identifier,
                        expected_type,
                        &|| format!("{}/{i}", here()),
                        errors,
                    )
                })
                .collect();
            (errors.len() == before).then_some(ids)
        }
        Some(Some(Linkage::ToOne(_))) => {
            errors.push(
                ErrorObject::new(422, "Wrong linkage")
                    .with_detail(format!("`{name}` is a to-many relationship"))
                    .with_pointer(here()),
            );
            None
        }
    }
}

/// Checks the linkage of a relationship whose field holds full related resources (derived
/// code) and returns its identifiers of the right type. A request carries only identifiers,
/// which cannot fill the field, but they must still have the right shape and type (409 for a
/// wrong type) instead of being dropped unseen; a response fills the field from `included`
/// through [`related`].
#[doc(hidden)]
pub fn resource_linkage(
    relationships: &mut BTreeMap<String, Relationship>,
    name: &str,
    expected_type: &str,
    accepts: fn(&str) -> bool,
    to_many: bool,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) -> Vec<ResourceIdentifier> {
    // Rendered only for an error: the success path allocates nothing here.
    let here = || format!("{pointer}/relationships/{}/data", escape(name));
    let check = |identifier: &ResourceIdentifier,
                 at: &dyn Fn() -> String,
                 errors: &mut Vec<ErrorObject>| {
        if !accepts(&identifier.type_name) {
            errors.push(
                ErrorObject::new(409, "Wrong related resource type")
                    .with_detail(format!(
                        "expected type `{expected_type}`, got `{}`",
                        identifier.type_name
                    ))
                    .with_pointer(format!("{}/type", at())),
            );
            false
        } else {
            true
        }
    };
    match (take_linkage(relationships, name), to_many) {
        (None | Some(None), _) | (Some(Some(Linkage::ToOne(None))), false) => Vec::new(),
        (Some(Some(Linkage::ToOne(Some(identifier)))), false) => {
            if check(&identifier, &here, errors) {
                vec![identifier]
            } else {
                Vec::new()
            }
        }
        (Some(Some(Linkage::ToMany(identifiers))), true) => identifiers
            .into_iter()
            .enumerate()
            .filter(|(i, identifier)| check(identifier, &|| format!("{}/{i}", here()), errors))
            .map(|(_, identifier)| identifier)
            .collect(),
        (Some(Some(_)), to_many) => {
            errors.push(
                ErrorObject::new(422, "Wrong linkage")
                    .with_detail(format!(
                        "`{name}` is a {} relationship",
                        if to_many { "to-many" } else { "to-one" }
                    ))
                    .with_pointer(here()),
            );
            Vec::new()
        }
    }
}

/// Reports a required related resource that could not be filled (derived code).
#[doc(hidden)]
pub fn missing_related(
    name: &str,
    included: &Included,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) {
    let detail = if included.is_active() {
        format!("relationship `{name}` names no resource of `included` (request it with `include`)")
    } else {
        format!(
            "relationship `{name}` holds a full resource, which a request (linkage only) cannot carry"
        )
    };
    errors.push(
        ErrorObject::new(422, "Missing related resource")
            .with_detail(detail)
            .with_pointer(format!("{pointer}/relationships/{}/data", escape(name))),
    );
}

/// The `included` resources of a response document, by identity, for building the typed graph
/// of a compound document ([`from_response`]).
///
/// A relationship holding full resources (`R`, `Option<R>`, `Vec<R>`, `R` possibly boxed) is
/// filled with the included resource each identifier names. What is not filled:
/// - a resource the document does not include (`None`, or left out of the `Vec`; a required
///   `R` is an error);
/// - a resource already being built on the current path (a cycle such as writer → book →
///   writer: the inner reference is left out, as owned values cannot loop);
/// - anything deeper than [`Included::MAX_DEPTH`] relationships below the primary data.
///
/// An included resource referenced from several places is built once per place.
#[derive(Debug, Default)]
pub struct Included {
    active: bool,
    /// (type, id) → (index in `included`, the resource object).
    resources: std::collections::HashMap<(String, String), (usize, ResourceObject)>,
    /// The (type, id) of every resource being built, outermost first.
    path: Vec<(String, String)>,
    /// How many relationships below the primary resource the current one is.
    depth: usize,
    /// How many more related resources may be built for this document.
    builds_left: usize,
    /// Whether running out of builds was reported.
    exhausted: bool,
}

impl Included {
    /// How many relationships below the primary data the typed graph is filled.
    pub const MAX_DEPTH: usize = 32;

    /// The typed graph builds a resource once per path that reaches it; a document whose
    /// included resources fan out and join again (a diamond chain) has exponentially many
    /// paths. Building stops with a 400 error after this many builds per included resource
    /// (or [`Self::MIN_BUILDS`], whichever is more).
    pub const MAX_BUILDS_PER_INCLUDED: usize = 64;

    /// The smallest build budget of a document.
    pub const MIN_BUILDS: usize = 10_000;

    /// No included resources: what a request reads with (related resources stay unfilled).
    pub fn none() -> Self {
        Self::default()
    }

    /// The included resources of a response, in document order. Resources without an `id`
    /// are ignored; the first of two with the same identity wins.
    pub fn new(included: Vec<ResourceObject>) -> Self {
        let mut resources = std::collections::HashMap::with_capacity(included.len());
        for (index, mut object) in included.into_iter().enumerate() {
            let Some(id) = object.id.clone() else {
                continue;
            };
            // Response documents carry links the typed value has no place for; `meta` is read
            // by a `#[jsonapi(meta)]` field, if there is one.
            object.links = None;
            resources
                .entry((object.type_name.clone(), id))
                .or_insert((index, object));
        }
        Self {
            active: true,
            builds_left: Self::MAX_BUILDS_PER_INCLUDED
                .saturating_mul(resources.len())
                .max(Self::MIN_BUILDS),
            resources,
            path: Vec::new(),
            depth: 0,
            exhausted: false,
        }
    }

    /// Whether related resources are filled (a response) or not (a request).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Marks the primary resource `(type, id)` as being built.
    fn enter_primary(&mut self, type_name: &str, id: Option<&str>) {
        self.path.clear();
        self.depth = 0;
        if self.resources.is_empty() {
            // Nothing to fill, so no cycle to cut: no need to remember the primary resource.
            return;
        }
        if let Some(id) = id {
            self.path.push((type_name.to_owned(), id.to_owned()));
        }
    }
}

/// Builds the included resource `identifier` names, if the document includes it and it is
/// neither on the current path (a cycle) nor too deep (derived code). Errors in it point into
/// `/included/N`.
#[doc(hidden)]
pub fn related<R: FromResourceObject>(
    included: &mut Included,
    identifier: &ResourceIdentifier,
    errors: &mut Vec<ErrorObject>,
) -> Option<R> {
    if !included.active || included.depth >= Included::MAX_DEPTH {
        return None;
    }
    let id = identifier.id.as_deref()?;
    let key = (identifier.type_name.clone(), id.to_owned());
    if included.path.contains(&key) {
        return None;
    }
    let (index, object) = included.resources.get(&key)?;
    let (index, object) = (*index, object.clone());
    if included.builds_left == 0 {
        if !included.exhausted {
            included.exhausted = true;
            errors.push(
                ErrorObject::new(400, "Included graph too large")
                    .with_detail(format!(
                        "building the related resources of this document takes more than {} steps (shared resources reached by exponentially many paths)",
                        Included::MAX_BUILDS_PER_INCLUDED
                            .saturating_mul(included.resources.len())
                            .max(Included::MIN_BUILDS)
                    ))
                    .with_pointer("/included"),
            );
        }
        return None;
    }
    included.builds_left -= 1;
    included.path.push(key);
    included.depth += 1;
    let built = R::from_included(object, &format!("/included/{index}"), included);
    included.depth -= 1;
    included.path.pop();
    match built {
        Ok(value) => Some(value),
        Err(mut inner) => {
            errors.append(&mut inner);
            None
        }
    }
}

/// Reports attributes and relationships the resource does not declare (derived code).
#[doc(hidden)]
pub fn reject_unknown(
    attributes: &Map<String, Value>,
    relationships: &BTreeMap<String, Relationship>,
    pointer: &str,
    errors: &mut Vec<ErrorObject>,
) {
    for name in attributes.keys() {
        errors.push(
            ErrorObject::new(422, "Unknown attribute")
                .with_detail(format!("this resource has no attribute `{name}`"))
                .with_pointer(format!("{pointer}/attributes/{}", escape(name))),
        );
    }
    for name in relationships.keys() {
        errors.push(
            ErrorObject::new(422, "Unknown relationship")
                .with_detail(format!("this resource has no relationship `{name}`"))
                .with_pointer(format!("{pointer}/relationships/{}", escape(name))),
        );
    }
}

/// Whether a create request may carry a client-generated id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientIds {
    /// Client ids are rejected with 403 Forbidden (the spec's answer).
    #[default]
    Forbidden,
    /// Client ids are accepted but not required.
    Allowed,
    /// Every create request must carry an id.
    Required,
}

fn parse_request(bytes: &[u8], kind: DocumentKind) -> Result<Document, ErrorDocument> {
    Document::parse_as(bytes, kind)
}

fn single_resource(document: Document) -> Result<ResourceObject, ErrorDocument> {
    match document.data {
        Some(PrimaryData::One(Some(object))) => Ok(*object),
        _ => Err(ErrorObject::new(400, "Expected one resource object")
            .with_pointer("/data")
            .into()),
    }
}

/// A create request (`POST /things`).
#[derive(Debug, Clone, PartialEq)]
pub struct Create<T> {
    /// The new resource. Its id field holds the client id, or `Default` when none was sent.
    pub resource: T,
    /// The client-generated id, if one was sent.
    pub client_id: Option<String>,
    /// The local id (`lid`), if one was sent.
    pub lid: Option<String>,
}

impl<T: FromResourceObject> Create<T> {
    /// Parses and validates a create request body.
    ///
    /// ```
    /// use reel_jsonapi::{de::{ClientIds, Create}, Resource};
    /// #[derive(Resource, Debug, PartialEq)]
    /// #[jsonapi(type = "people")]
    /// struct Person { #[jsonapi(id)] id: u64, name: String }
    /// let body = br#"{"data":{"type":"people","attributes":{"name":"Ada"}}}"#;
    /// let create = Create::<Person>::from_slice(body, ClientIds::Forbidden).unwrap();
    /// assert_eq!(create.resource.name, "Ada");
    /// assert_eq!(create.client_id, None);
    /// ```
    pub fn from_slice(bytes: &[u8], client_ids: ClientIds) -> Result<Self, ErrorDocument> {
        let object = single_resource(parse_request(bytes, DocumentKind::Create)?)?;
        match (client_ids, &object.id) {
            (ClientIds::Forbidden, Some(_)) => {
                return Err(
                    ErrorObject::new(403, "Client-generated ids are not supported")
                        .with_pointer("/data/id")
                        .into(),
                );
            }
            (ClientIds::Required, None) => {
                return Err(ErrorObject::new(422, "Missing id")
                    .with_detail("this endpoint requires a client-generated id")
                    .with_pointer("/data")
                    .into());
            }
            _ => {}
        }
        let client_id = object.id.clone();
        let lid = object.lid.clone();
        let resource = T::from_resource_object(object, "/data").map_err(ErrorDocument::new)?;
        Ok(Self {
            resource,
            client_id,
            lid,
        })
    }
}

/// An update request (`PATCH /things/{id}`): what the client sent, to apply onto the current
/// resource with [`Update::apply`]. Members left out keep their current values; an explicit
/// `null` clears an `Option`.
#[derive(Debug, Clone, PartialEq)]
pub struct Update<T> {
    /// The id from the document.
    pub id: String,
    /// The attribute and relationship names the client sent.
    pub present: Vec<String>,
    object: ResourceObject,
    resource: std::marker::PhantomData<fn() -> T>,
}

impl<T: FromResourceObject> Update<T> {
    /// Parses and validates an update request body; `url_id` is the id from the URL, which must
    /// match the document's (409 Conflict otherwise).
    pub fn from_slice(bytes: &[u8], url_id: Option<&str>) -> Result<Self, ErrorDocument> {
        let object = single_resource(parse_request(bytes, DocumentKind::Update)?)?;
        let id = object.id.clone().unwrap_or_default();
        if let Some(url_id) = url_id
            && url_id != id
        {
            return Err(ErrorObject::new(409, "Id mismatch")
                .with_detail(format!("the URL names `{url_id}`, the document `{id}`"))
                .with_pointer("/data/id")
                .into());
        }
        let mut present: Vec<String> = object
            .attributes
            .iter()
            .flat_map(|a| a.keys().cloned())
            .collect();
        present.extend(object.relationships.iter().flat_map(|r| r.keys().cloned()));
        Ok(Self {
            id,
            present,
            object,
            resource: std::marker::PhantomData,
        })
    }

    /// The updated resource: `current` with every member the client sent replaced. Errors
    /// (a value of the wrong type, an unknown member, a wrong related type) point into
    /// `/data`.
    ///
    /// ```
    /// use reel_jsonapi::{de::Update, Resource};
    /// #[derive(Resource, Debug, PartialEq)]
    /// #[jsonapi(type = "people")]
    /// struct Person { #[jsonapi(id)] id: u64, name: String, nickname: Option<String> }
    /// let current = Person { id: 1, name: "Ada".into(), nickname: Some("A".into()) };
    /// let body = br#"{"data":{"type":"people","id":"1","attributes":{"nickname":null}}}"#;
    /// let update = Update::<Person>::from_slice(body, Some("1")).unwrap();
    /// let updated = update.apply(current).unwrap();
    /// assert_eq!(updated, Person { id: 1, name: "Ada".into(), nickname: None });
    /// ```
    pub fn apply(&self, current: T) -> Result<T, ErrorDocument> {
        current
            .merge_resource_object(self.object.clone(), "/data")
            .map_err(ErrorDocument::new)
    }

    /// Whether the client sent the attribute or relationship `name`.
    pub fn is_present(&self, name: &str) -> bool {
        self.present.iter().any(|p| p == name)
    }
}

/// A relationship update (`PATCH/POST/DELETE /things/{id}/relationships/{name}`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RelationshipUpdate {
    /// A to-one relationship: `null` clears it.
    ToOne(Option<ResourceIdentifier>),
    /// A to-many relationship: the full set (PATCH) or members to add/remove (POST/DELETE).
    ToMany(Vec<ResourceIdentifier>),
}

impl RelationshipUpdate {
    /// Parses and validates a relationship document; every identifier must have type
    /// `expected_type` (409 otherwise).
    pub fn from_slice(bytes: &[u8], expected_type: &str) -> Result<Self, ErrorDocument> {
        let value: Value = crate::strict::parse_value(bytes).map_err(ErrorDocument::from)?;
        let errors = validate_value(&value, DocumentKind::Relationship);
        if !errors.is_empty() {
            return Err(ErrorDocument::new(errors));
        }
        let data = value.get("data").cloned().unwrap_or(Value::Null);
        let linkage: Linkage = serde_json::from_value(data).map_err(|error| {
            ErrorDocument::from(
                ErrorObject::new(400, "Invalid linkage")
                    .with_detail(error.to_string())
                    .with_pointer("/data"),
            )
        })?;
        let check = |identifier: &ResourceIdentifier, pointer: String| {
            (identifier.type_name != expected_type).then(|| {
                ErrorObject::new(409, "Wrong related resource type")
                    .with_detail(format!(
                        "expected `{expected_type}`, got `{}`",
                        identifier.type_name
                    ))
                    .with_pointer(pointer)
            })
        };
        let errors: Vec<ErrorObject> = match &linkage {
            Linkage::ToOne(None) => Vec::new(),
            Linkage::ToOne(Some(identifier)) => {
                check(identifier, "/data/type".into()).into_iter().collect()
            }
            Linkage::ToMany(identifiers) => identifiers
                .iter()
                .enumerate()
                .filter_map(|(i, identifier)| check(identifier, format!("/data/{i}/type")))
                .collect(),
        };
        if !errors.is_empty() {
            return Err(ErrorDocument::new(errors));
        }
        Ok(match linkage {
            Linkage::ToOne(one) => RelationshipUpdate::ToOne(one),
            Linkage::ToMany(many) => RelationshipUpdate::ToMany(many),
        })
    }
}

/// Reads a whole response document (for example from another JSON:API service) into typed
/// primary resources, after validating it. Relationships holding full resources are filled
/// from `included` (see [`Included`] for what is left out: resources not included, cycles,
/// depth).
///
/// ```
/// use reel_jsonapi::{de::from_response, Resource};
/// #[derive(Resource, Debug, PartialEq)]
/// #[jsonapi(type = "people")]
/// struct Person { #[jsonapi(id)] id: u64, name: String }
/// #[derive(Resource, Debug, PartialEq)]
/// #[jsonapi(type = "articles")]
/// struct Article { #[jsonapi(id)] id: u64, #[jsonapi(relationship)] author: Option<Person> }
/// let body = br#"{"data":{"type":"articles","id":"1","relationships":{"author":{"data":{"type":"people","id":"9"}}}},
///     "included":[{"type":"people","id":"9","attributes":{"name":"Dan"}}]}"#;
/// let articles = from_response::<Article>(body).unwrap();
/// assert_eq!(articles[0].author, Some(Person { id: 9, name: "Dan".into() }));
/// ```
pub fn from_response<T: FromResourceObject>(bytes: &[u8]) -> Result<Vec<T>, ErrorDocument> {
    let document = Document::parse(bytes)?;
    let many = matches!(document.data, Some(PrimaryData::Many(_)));
    let objects: Vec<ResourceObject> = match document.data {
        Some(PrimaryData::Many(many)) => many,
        Some(PrimaryData::One(Some(one))) => vec![*one],
        _ => Vec::new(),
    };
    let mut included = Included::new(document.included.unwrap_or_default());
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(objects.len());
    for (i, mut object) in objects.into_iter().enumerate() {
        let pointer = if many {
            format!("/data/{i}")
        } else {
            "/data".to_owned()
        };
        // Response documents carry links the typed value has no place for; `meta` is read by a
        // `#[jsonapi(meta)]` field, if there is one.
        object.links = None;
        included.enter_primary(&object.type_name, object.id.as_deref());
        match T::from_included(object, &pointer, &mut included) {
            Ok(value) => out.push(value),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ErrorDocument::new(errors))
    }
}
