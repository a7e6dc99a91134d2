//! The [`Resource`] trait that `#[derive(Resource)]` implements, its static description
//! ([`ResourceMeta`]) and the per-request [`Context`].

use std::fmt;

use serde::ser::SerializeMap;

use crate::model::{ErrorObject, Link, ResourceObject};
use crate::ser::IncludedSink;

/// Per-request state that serializers can read: the base URL for links and your own typed
/// `assigns` (the current user, permissions, feature flags...).
///
/// Computed attributes receive `&Context<A>`; a resource that needs a particular assigns type
/// declares it with `#[jsonapi(context = MyAssigns)]`.
#[derive(Debug, Clone, Default)]
pub struct Context<A = ()> {
    base_url: Option<String>,
    assigns: A,
}

impl Context<()> {
    /// A context without a base URL (no links are written) and no assigns.
    pub fn empty() -> Self {
        Self::default()
    }
}

impl<A> Context<A> {
    /// A context carrying `assigns`.
    pub fn new(assigns: A) -> Self {
        Self {
            base_url: None,
            assigns,
        }
    }

    /// Sets the base URL; resource and relationship links are written below it
    /// (`{base}/{type}/{id}`). A trailing `/` is removed.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        self.base_url = Some(base_url);
        self
    }

    /// The base URL for links, if any.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// Your per-request values.
    pub fn assigns(&self) -> &A {
        &self.assigns
    }
}

/// The static description of a resource type: its name, attributes and relationships.
#[derive(Debug)]
pub struct ResourceMeta {
    /// The JSON:API `type`.
    pub type_name: &'static str,
    /// Attribute member names (after the key-case policy), computed attributes included.
    pub attributes: &'static [&'static str],
    /// Attribute member names accepted in requests (no computed ones).
    pub writable_attributes: &'static [&'static str],
    /// Attribute member names a client may sort by unless the endpoint says otherwise: stored
    /// attributes that are always visible (no computed attributes, no `visible_if` ones, since
    /// sorting by a hidden value would reveal its order).
    pub sortable_attributes: &'static [&'static str],
    /// Relationships.
    pub relationships: &'static [RelationshipMeta],
}

/// The static description of one relationship.
#[derive(Debug)]
pub struct RelationshipMeta {
    /// The relationship's member name.
    pub name: &'static str,
    /// `true` for to-many relationships.
    pub to_many: bool,
    /// The related resource type.
    pub target_type: &'static str,
    /// The related resource's description, if the relationship holds resources (and so can be
    /// included); `None` for linkage-only relationships.
    pub target: Option<fn() -> &'static ResourceMeta>,
}

impl ResourceMeta {
    /// The relationship called `name`.
    pub fn relationship(&self, name: &str) -> Option<&RelationshipMeta> {
        self.relationships.iter().find(|r| r.name == name)
    }

    /// Whether `name` is an attribute or a relationship (a "field").
    pub fn has_field(&self, name: &str) -> bool {
        self.attributes.contains(&name) || self.relationship(name).is_some()
    }

    /// This type and every resource type reachable through includable relationships.
    pub fn reachable(&'static self) -> Vec<&'static ResourceMeta> {
        let mut seen: Vec<&'static ResourceMeta> = vec![self];
        let mut next = 0;
        while next < seen.len() {
            let meta = seen[next];
            next += 1;
            for rel in meta.relationships {
                if let Some(target) = rel.target {
                    let target = target();
                    if !seen.iter().any(|m| m.type_name == target.type_name) {
                        seen.push(target);
                    }
                }
            }
        }
        seen
    }
}

/// A type with a JSON:API resource type name and a static description. Implemented by
/// `#[derive(Resource)]`.
pub trait ResourceType {
    /// The JSON:API `type`.
    const TYPE: &'static str;

    /// The static description of this resource type.
    fn meta() -> &'static ResourceMeta;

    /// The `type` of this value: [`Self::TYPE`], except for a polymorphic resource (an enum
    /// deriving `Resource`), whose value has its variant's type.
    fn type_of(&self) -> &'static str {
        Self::TYPE
    }

    /// Whether a resource of type `type_name` can be read as this type: [`Self::TYPE`], or any
    /// variant's type for a polymorphic resource.
    fn accepts_type(type_name: &str) -> bool
    where
        Self: Sized,
    {
        type_name == Self::TYPE
    }
}

/// The id of a resource, independent of any context. Implemented by `#[derive(Resource)]`.
pub trait ResourceId {
    /// The id, written with `Display`.
    fn resource_id(&self) -> impl fmt::Display + '_;

    /// The id as an exact key for deduplication; by default its `Display` text.
    fn id_key(&self) -> crate::ser::IdKey {
        crate::ser::IdKey::from_text(&self.resource_id().to_string())
    }
}

/// A value that can be written as a JSON:API resource object with the context `A`.
///
/// Implemented by `#[derive(Resource)]`; writing it by hand is possible but rarely needed.
pub trait Resource<A = ()>: ResourceType + ResourceId {
    /// Writes the attributes as map entries, leaving out those not in `fields` (when given).
    fn serialize_attributes<M: SerializeMap>(
        &self,
        map: &mut M,
        fields: Option<&[String]>,
        context: &Context<A>,
    ) -> Result<(), M::Error>;

    /// Writes the relationships as map entries, leaving out those not in `fields`.
    fn serialize_relationships<M: SerializeMap>(
        &self,
        map: &mut M,
        fields: Option<&[String]>,
        context: &Context<A>,
    ) -> Result<(), M::Error>;

    /// Writes the resource object's own `meta` entry, if it has one (`#[jsonapi(meta)]`); by
    /// default none.
    fn serialize_meta<M: SerializeMap>(
        &self,
        map: &mut M,
        context: &Context<A>,
    ) -> Result<(), M::Error> {
        let _ = (map, context);
        Ok(())
    }

    /// Whether [`serialize_attributes`](Self::serialize_attributes) writes at least one entry
    /// with these `fields` and `context`; when it would write none, the `attributes` member is
    /// left out. By default: whether `fields` selects any declared attribute.
    /// `#[derive(Resource)]` also asks `visible_if`.
    fn has_attributes(&self, fields: Option<&[String]>, context: &Context<A>) -> bool {
        let _ = context;
        crate::ser::any_selected(fields, Self::meta().attributes)
    }

    /// Whether [`serialize_relationships`](Self::serialize_relationships) writes at least one
    /// entry; when it would write none, the `relationships` member is left out (never an empty
    /// `{}`). By default: whether `fields` selects any declared relationship.
    /// `#[derive(Resource)]` also asks `visible_if`.
    fn has_relationships(&self, fields: Option<&[String]>, context: &Context<A>) -> bool {
        let _ = context;
        Self::meta()
            .relationships
            .iter()
            .any(|r| crate::ser::selected(fields, r.name))
    }

    /// Adds the resources named by `include` (and, recursively, their includes) to `sink`.
    /// A relationship that is not visible with `sink.context()` (`visible_if`) adds nothing.
    fn collect_included<'a>(&'a self, include: &IncludeTree, sink: &mut IncludedSink<'a, A>);

    /// The resource object's own links, written after `self` in its `links` member (for
    /// example a signed `download` URL). `#[derive(Resource)]` fills it from
    /// `#[jsonapi(link(name = "..", with = path))]`; by default there are none.
    fn resource_links(&self, context: &Context<A>) -> Vec<(&'static str, Link)> {
        let _ = context;
        Vec::new()
    }
}

/// Builds a typed value from a resource object of a request. Implemented by
/// `#[derive(Resource)]`.
pub trait FromResourceObject: ResourceType + Sized {
    /// Converts `object`; every problem becomes an error object whose pointer starts with
    /// `pointer` (for example `/data`).
    fn from_resource_object(
        object: ResourceObject,
        pointer: &str,
    ) -> Result<Self, Vec<ErrorObject>>;

    /// Applies `object` (an update request's resource) onto `self`: every attribute and
    /// relationship the object carries replaces the current value (an explicit `null` sets an
    /// `Option` to `None`), everything it leaves out keeps its current value, as JSON:API
    /// updates require. `#[derive(Resource)]` implements it field by field; the default reads
    /// the object as a whole with [`from_resource_object`](Self::from_resource_object).
    fn merge_resource_object(
        self,
        object: ResourceObject,
        pointer: &str,
    ) -> Result<Self, Vec<ErrorObject>> {
        let _ = self;
        Self::from_resource_object(object, pointer)
    }

    /// Converts `object` of a response, filling relationships that hold full resources from
    /// `included` (see [`crate::de::Included`]). `#[derive(Resource)]` implements it; the
    /// default ignores `included`.
    fn from_included(
        object: ResourceObject,
        pointer: &str,
        included: &mut crate::de::Included,
    ) -> Result<Self, Vec<ErrorObject>> {
        let _ = included;
        Self::from_resource_object(object, pointer)
    }
}

/// A validated tree of `include` paths, for example `author,comments.author`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncludeTree {
    children: Vec<(String, IncludeTree)>,
}

impl IncludeTree {
    /// No includes.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether nothing is included.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// The subtree below relationship `name`, if it is included.
    pub fn child(&self, name: &str) -> Option<&IncludeTree> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, tree)| tree)
    }

    /// The included relationship names at this level and their subtrees.
    pub fn children(&self) -> impl Iterator<Item = (&str, &IncludeTree)> {
        self.children.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Parses a comma-separated `include` value and checks every path against the relationships
    /// `meta` declares (and those of the related types). Errors carry `source.parameter`
    /// `include`.
    ///
    /// ```
    /// # use reel_jsonapi::{IncludeTree, ResourceType, Resource};
    /// #[derive(Resource)]
    /// #[jsonapi(type = "people")]
    /// struct Person { #[jsonapi(id)] id: u32, name: String }
    /// #[derive(Resource)]
    /// #[jsonapi(type = "articles")]
    /// struct Article {
    ///     #[jsonapi(id)] id: u32,
    ///     #[jsonapi(relationship)] author: Option<Person>,
    /// }
    /// assert!(IncludeTree::parse("author", Article::meta()).is_ok());
    /// let error = IncludeTree::parse("author.employer", Article::meta()).unwrap_err();
    /// assert_eq!(error.parameter(), Some("include"));
    /// ```
    pub fn parse(value: &str, meta: &'static ResourceMeta) -> Result<Self, ErrorObject> {
        let mut tree = IncludeTree::default();
        for path in value.split(',') {
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let mut node = &mut tree;
            let mut current = meta;
            for segment in path.split('.') {
                let Some(rel) = current.relationship(segment) else {
                    return Err(ErrorObject::new(400, "Invalid include path")
                        .with_detail(format!(
                            "`{path}`: `{}` has no relationship `{segment}`",
                            current.type_name
                        ))
                        .with_parameter("include"));
                };
                let Some(target) = rel.target else {
                    return Err(ErrorObject::new(400, "Relationship cannot be included")
                        .with_detail(format!(
                            "`{path}`: relationship `{segment}` of `{}` holds only linkage",
                            current.type_name
                        ))
                        .with_parameter("include"));
                };
                current = target();
                let index = match node.children.iter().position(|(n, _)| n == segment) {
                    Some(index) => index,
                    None => {
                        node.children
                            .push((segment.to_owned(), IncludeTree::default()));
                        node.children.len() - 1
                    }
                };
                node = &mut node.children[index].1;
            }
        }
        Ok(tree)
    }

    /// The comma-separated paths, as they would appear in a query string.
    pub fn to_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(tree: &IncludeTree, prefix: &str, out: &mut Vec<String>) {
            for (name, child) in &tree.children {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                if child.is_empty() {
                    out.push(path);
                } else {
                    walk(child, &path, out);
                }
            }
        }
        walk(self, "", &mut out);
        out
    }
}
