//! Writing documents straight through serde: single resources, collections, compound documents
//! with deduplicated `included`, sparse fieldsets, links and pagination.

mod id;
mod linkage;
mod page;
mod response;

use id::FastSet;
pub use id::{IdKey, IdKeyExact, IdKeyFallback, IdProbe};
pub use linkage::{
    DisplayWith, IdentifierSer, LinkageSer, RelationshipSer, ToManyIds, ToManyResources, ToOne,
    ToOneResource,
};
pub use page::Page;
pub use response::{ResponseDocument, collection, document, null_document};

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Display, Write as _};

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use crate::model::{JsonApiObject, Link, Links, Meta};
use crate::resource::{Context, IncludeTree, Resource, ResourceId};

/// Sparse fieldsets: for each resource type, the fields (attributes and relationships) to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fieldsets {
    by_type: HashMap<String, Vec<String>>,
}

impl Fieldsets {
    /// No restrictions: every field of every type is written.
    pub fn all() -> Self {
        Self::default()
    }

    /// Restricts `type_name` to `fields`.
    pub fn with(mut self, type_name: impl Into<String>, fields: &[&str]) -> Self {
        self.insert(
            type_name.into(),
            fields.iter().map(|f| (*f).to_owned()).collect(),
        );
        self
    }

    /// Restricts `type_name` to `fields`.
    pub fn insert(&mut self, type_name: String, fields: Vec<String>) {
        self.by_type.insert(type_name, fields);
    }

    /// The fields selected for `type_name`, or `None` when all are.
    pub fn get(&self, type_name: &str) -> Option<&[String]> {
        if self.by_type.is_empty() {
            return None;
        }
        self.by_type.get(type_name).map(Vec::as_slice)
    }

    /// Whether no type is restricted.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// The restricted types and their fields.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.by_type.iter().map(|(t, f)| (t.as_str(), f.as_slice()))
    }
}

/// Whether field `name` is selected by `fields`. Used by derived code.
#[inline]
pub fn selected(fields: Option<&[String]>, name: &str) -> bool {
    match fields {
        None => true,
        Some(fields) => fields.iter().any(|f| f == name),
    }
}

/// Whether any of `names` is selected by `fields`.
#[inline]
pub fn any_selected(fields: Option<&[String]>, names: &[&str]) -> bool {
    match fields {
        None => !names.is_empty(),
        Some(fields) => names.iter().any(|n| fields.iter().any(|f| f == n)),
    }
}

/// Collects the resources of a compound document, each once, in the order first reached.
pub struct IncludedSink<'a, A> {
    seen: FastSet<(&'static str, IdKey)>,
    /// (type, id, include subtree address) already followed.
    walked: FastSet<(&'static str, IdKey, usize)>,
    items: Vec<&'a dyn ErasedResource<A>>,
    context: &'a Context<A>,
}

impl<A> fmt::Debug for IncludedSink<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncludedSink")
            .field("included", &self.items.len())
            .finish()
    }
}

impl<'a, A> IncludedSink<'a, A> {
    fn new(context: &'a Context<A>) -> Self {
        Self {
            seen: FastSet::default(),
            walked: FastSet::default(),
            items: Vec::new(),
            context,
        }
    }

    /// The context of the response being written: [`Resource::collect_included`] checks each
    /// relationship's visibility (`visible_if`) with it, so a relationship hidden from this
    /// request never contributes to `included`.
    pub fn context(&self) -> &'a Context<A> {
        self.context
    }

    /// Marks a resource as present (primary data) without including it. Returns `false` if it
    /// was already present.
    fn mark<R: Resource<A>>(&mut self, resource: &R) -> bool {
        self.seen.insert((resource.type_of(), resource.id_key()))
    }

    /// Includes `resource` (once) and follows `include` below it — once per resource and
    /// include subtree, however many paths lead to it (a graph of shared `Arc`s would otherwise
    /// be walked once per path, exponentially in the include depth).
    pub fn add<R: Resource<A>>(&mut self, resource: &'a R, include: &IncludeTree) {
        let key = resource.id_key();
        let type_name = resource.type_of();
        let new = self.seen.insert((type_name, key.clone()));
        if new {
            self.items.push(resource);
        }
        if !include.is_empty() {
            let subtree = std::ptr::from_ref(include) as usize;
            if new || self.walked.insert((type_name, key, subtree)) {
                if new {
                    self.walked.insert((type_name, resource.id_key(), subtree));
                }
                resource.collect_included(include, self);
            }
        }
    }

    /// The number of resources collected so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Whether a resource of type `type_name` can be reached through `include` from `meta`.
fn may_include(meta: &crate::ResourceMeta, include: &IncludeTree, type_name: &str) -> bool {
    include.children().any(|(name, child)| {
        meta.relationship(name)
            .and_then(|r| r.target)
            .is_some_and(|target| {
                let target = target();
                target.type_name == type_name || may_include(target, child, type_name)
            })
    })
}

/// Object-safe view of a [`Resource`], so that resources of different types can share the
/// `included` array.
pub trait ErasedResource<A> {
    /// A serializable resource object for this resource.
    fn resource_object<'s>(
        &'s self,
        context: &'s Context<A>,
        fields: &'s Fieldsets,
    ) -> Box<dyn erased_serde::Serialize + 's>;
}

impl<A, R: Resource<A>> ErasedResource<A> for R {
    fn resource_object<'s>(
        &'s self,
        context: &'s Context<A>,
        fields: &'s Fieldsets,
    ) -> Box<dyn erased_serde::Serialize + 's> {
        Box::new(ResourceSer {
            resource: self,
            context,
            fields,
        })
    }
}

/// A resource object written from a [`Resource`].
pub struct ResourceSer<'a, R, A> {
    resource: &'a R,
    context: &'a Context<A>,
    fields: &'a Fieldsets,
}

impl<R, A> fmt::Debug for ResourceSer<'_, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceSer").finish_non_exhaustive()
    }
}

struct Attributes<'a, R, A>(&'a R, Option<&'a [String]>, &'a Context<A>);

impl<R: Resource<A>, A> Serialize for Attributes<'_, R, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.0.serialize_attributes(&mut map, self.1, self.2)?;
        map.end()
    }
}

struct Relationships<'a, R, A>(&'a R, Option<&'a [String]>, &'a Context<A>);

impl<R: Resource<A>, A> Serialize for Relationships<'_, R, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        self.0.serialize_relationships(&mut map, self.1, self.2)?;
        map.end()
    }
}

/// Whether `byte` may appear as itself in a path segment or a query value: RFC 3986
/// unreserved characters. Everything else is percent-encoded.
#[inline]
fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes whatever is written through it (UTF-8 bytes outside the unreserved set).
struct EncodingWriter<'a, W: ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for EncodingWriter<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if text.bytes().all(unreserved) {
            return self.0.write_str(text);
        }
        let mut start = 0;
        for (i, byte) in text.bytes().enumerate() {
            if !unreserved(byte) {
                self.0.write_str(&text[start..i])?;
                write!(self.0, "%{byte:02X}")?;
                start = i + 1;
            }
        }
        self.0.write_str(&text[start..])
    }
}

/// Displays a value percent-encoded as one URL path segment or query value: an id `a/b` or a
/// cursor `a+b/c=` survives the trip through a link.
pub struct PercentEncoded<'a, D: ?Sized>(pub &'a D);

impl<D: ?Sized> fmt::Debug for PercentEncoded<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PercentEncoded")
    }
}

impl<D: Display + ?Sized> Display for PercentEncoded<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EncodingWriter(f), "{}", self.0)
    }
}

/// Writes `{base}/{type}/{id}` and an optional suffix without allocating; the id is
/// percent-encoded as a path segment.
struct PathLink<'a, I: ?Sized> {
    base: &'a str,
    type_name: &'a str,
    id: &'a I,
    suffix: &'a str,
    name: &'a str,
}

impl<I: Display + ?Sized> Display for PathLink<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.base,
            self.type_name,
            PercentEncoded(self.id)
        )?;
        if !self.name.is_empty() {
            write!(f, "{}{}", self.suffix, self.name)?;
        }
        Ok(())
    }
}

/// A resource object's `links`: `self` (when the context has a base URL) and the resource's
/// own links from [`Resource::resource_links`].
struct ResourceLinks<'a, I: ?Sized> {
    self_link: Option<PathLink<'a, I>>,
    extra: &'a [(&'static str, Link)],
}

impl<I: Display + ?Sized> Serialize for ResourceLinks<'_, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = usize::from(self.self_link.is_some()) + self.extra.len();
        let mut map = serializer.serialize_map(Some(len))?;
        if let Some(link) = &self.self_link {
            map.serialize_entry("self", &Collect(link))?;
        }
        for (name, link) in self.extra {
            map.serialize_entry(name, link)?;
        }
        map.end()
    }
}

/// Serializes a `Display` value as a string.
struct Collect<'a, D: ?Sized>(&'a D);

impl<D: Display + ?Sized> Serialize for Collect<'_, D> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

impl<R: Resource<A>, A> Serialize for ResourceSer<'_, R, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `type_of`, not `R::TYPE`: a polymorphic resource (an enum) has its variant's type.
        let type_name = self.resource.type_of();
        let fields = self.fields.get(type_name);
        let id = self.resource.resource_id();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", type_name)?;
        map.serialize_entry("id", &Collect(&id))?;
        if self.resource.has_attributes(fields, self.context) {
            map.serialize_entry(
                "attributes",
                &Attributes(self.resource, fields, self.context),
            )?;
        }
        if self.resource.has_relationships(fields, self.context) {
            map.serialize_entry(
                "relationships",
                &Relationships(self.resource, fields, self.context),
            )?;
        }
        let extra = self.resource.resource_links(self.context);
        let self_link = self.context.base_url().map(|base| PathLink {
            base,
            type_name,
            id: &id,
            suffix: "",
            name: "",
        });
        if self_link.is_some() || !extra.is_empty() {
            map.serialize_entry(
                "links",
                &ResourceLinks {
                    self_link,
                    extra: &extra,
                },
            )?;
        }
        self.resource.serialize_meta(&mut map, self.context)?;
        map.end()
    }
}
