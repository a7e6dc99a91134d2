//! Writing documents straight through serde: single resources, collections, compound documents
//! with deduplicated `included`, sparse fieldsets, links and pagination.

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

/// An exact, cheaply hashed form of a resource id, used to deduplicate `included`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKey {
    /// An unsigned integer id.
    Unsigned(u64),
    /// A signed integer id.
    Signed(i64),
    /// Any other id, by its `Display` form.
    Text(Box<str>),
}

/// Wraps an id for [`IdKeyExact`]/[`IdKeyFallback`] (derived code picks the exact impl for
/// integers and strings, and `Display` for everything else).
#[derive(Debug)]
pub struct IdProbe<'a, T: ?Sized>(pub &'a T);

/// The exact [`IdKey`] of common id types.
pub trait IdKeyExact {
    /// The key.
    fn id_key(&self) -> IdKey;
}

/// The [`IdKey`] of any `Display` id, by its text.
pub trait IdKeyFallback {
    /// The key.
    fn id_key(&self) -> IdKey;
}

macro_rules! exact_unsigned {
    ($($t:ty),*) => {$(
        impl IdKeyExact for IdProbe<'_, $t> {
            #[inline]
            fn id_key(&self) -> IdKey {
                IdKey::Unsigned(u64::from(*self.0))
            }
        }
    )*};
}
macro_rules! exact_signed {
    ($($t:ty),*) => {$(
        impl IdKeyExact for IdProbe<'_, $t> {
            #[inline]
            fn id_key(&self) -> IdKey {
                // A non-negative signed id is the same identity as the unsigned one.
                let value = i64::from(*self.0);
                match u64::try_from(value) {
                    Ok(unsigned) => IdKey::Unsigned(unsigned),
                    Err(_) => IdKey::Signed(value),
                }
            }
        }
    )*};
}
exact_unsigned!(u8, u16, u32, u64);
exact_signed!(i8, i16, i32, i64);

impl IdKeyExact for IdProbe<'_, String> {
    fn id_key(&self) -> IdKey {
        IdKey::from_text(self.0)
    }
}

impl<T: Display + ?Sized> IdKeyFallback for &IdProbe<'_, T> {
    fn id_key(&self) -> IdKey {
        IdKey::from_text(&self.0.to_string())
    }
}

impl IdKey {
    /// The key of an id written as `text`: the id's identity is its JSON:API string, so a text
    /// id `"9"` is the same resource as an integer id `9` (both are written `"9"`).
    pub fn from_text(text: &str) -> IdKey {
        let canonical = |digits: &str| {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'))
        };
        if canonical(text)
            && let Ok(value) = text.parse::<u64>()
        {
            return IdKey::Unsigned(value);
        }
        if let Some(digits) = text.strip_prefix('-')
            && canonical(digits)
            && digits != "0"
            && let Ok(value) = text.parse::<i64>()
        {
            return IdKey::Signed(value);
        }
        IdKey::Text(text.into())
    }
}

/// A small multiply-rotate hasher: the keys are our own ids, not attacker-chosen map keys
/// that could degrade a long-lived table, and the table lives for one response.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }
}

type FastSet<K> = HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;

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

/// A resource identifier `{"type":..,"id":..}` with the id written through `Display`.
#[derive(Debug)]
pub struct IdentifierSer<'a, I: ?Sized> {
    /// The resource type.
    pub type_name: &'a str,
    /// The id.
    pub id: &'a I,
}

impl<I: Display + ?Sized> Serialize for IdentifierSer<'_, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", self.type_name)?;
        map.serialize_entry("id", &Collect(self.id))?;
        map.end()
    }
}

/// Linkage of a relationship, written by derived code.
#[derive(Debug)]
pub enum LinkageSer<'a, I: ?Sized> {
    /// `null`.
    Null,
    /// One identifier.
    One(&'a str, &'a I),
    /// An array of identifiers.
    Many(&'a str, &'a [&'a I]),
}

/// A relationship object written by derived code: linkage plus `self`/`related` links when the
/// context has a base URL.
pub struct RelationshipSer<'a, L, P: ?Sized> {
    /// The owning resource's type.
    pub owner_type: &'a str,
    /// The owning resource's id.
    pub owner_id: &'a P,
    /// The relationship name.
    pub name: &'a str,
    /// The base URL for links.
    pub base_url: Option<&'a str>,
    /// The linkage (`data`) writer.
    pub linkage: L,
}

impl<L, P: ?Sized> fmt::Debug for RelationshipSer<'_, L, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelationshipSer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

struct RelationshipLinks<'a, P: ?Sized> {
    base: &'a str,
    owner_type: &'a str,
    owner_id: &'a P,
    name: &'a str,
}

impl<P: Display + ?Sized> Serialize for RelationshipLinks<'_, P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let link = |suffix| PathLink {
            base: self.base,
            type_name: self.owner_type,
            id: self.owner_id,
            suffix,
            name: self.name,
        };
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("self", &Collect(&link("/relationships/")))?;
        map.serialize_entry("related", &Collect(&link("/")))?;
        map.end()
    }
}

impl<L: Serialize, P: Display + ?Sized> Serialize for RelationshipSer<'_, L, P> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("data", &self.linkage)?;
        if let Some(base) = self.base_url {
            map.serialize_entry(
                "links",
                &RelationshipLinks {
                    base,
                    owner_type: self.owner_type,
                    owner_id: self.owner_id,
                    name: self.name,
                },
            )?;
        }
        map.end()
    }
}

/// To-one linkage: `null` or one identifier.
#[derive(Debug)]
pub struct ToOne<'a, I: ?Sized>(pub &'a str, pub Option<&'a I>);

impl<I: Display + ?Sized> Serialize for ToOne<'_, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            None => serializer.serialize_none(),
            Some(id) => IdentifierSer {
                type_name: self.0,
                id,
            }
            .serialize(serializer),
        }
    }
}

/// A `Display` written by a closure (derived code: the id of a polymorphic resource).
#[doc(hidden)]
pub struct DisplayWith<F>(pub F);

impl<F> fmt::Debug for DisplayWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DisplayWith")
    }
}

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> Display for DisplayWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// To-many linkage from a slice of ids.
#[derive(Debug)]
pub struct ToManyIds<'a, I>(pub &'a str, pub &'a [I]);

impl<I: Display> Serialize for ToManyIds<'_, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.1.len()))?;
        for id in self.1 {
            seq.serialize_element(&IdentifierSer {
                type_name: self.0,
                id,
            })?;
        }
        seq.end()
    }
}

/// To-one linkage from a related resource.
#[derive(Debug)]
pub struct ToOneResource<'a, R>(pub Option<&'a R>);

impl<R: crate::ResourceType + ResourceId> Serialize for ToOneResource<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => serializer.serialize_none(),
            Some(resource) => IdentifierSer {
                type_name: resource.type_of(),
                id: &resource.resource_id(),
            }
            .serialize(serializer),
        }
    }
}

/// To-many linkage from a slice of related resources (`Vec<R>`, `Vec<Box<R>>`, `Vec<Arc<R>>`).
pub struct ToManyResources<'a, E, R>(pub &'a [E], pub std::marker::PhantomData<fn() -> R>);

impl<E, R> fmt::Debug for ToManyResources<'_, E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ToManyResources")
            .field(&self.0.len())
            .finish()
    }
}

impl<E: std::borrow::Borrow<R>, R: crate::ResourceType + ResourceId> Serialize
    for ToManyResources<'_, E, R>
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for element in self.0 {
            let resource: &R = element.borrow();
            seq.serialize_element(&IdentifierSer {
                type_name: resource.type_of(),
                id: &resource.resource_id(),
            })?;
        }
        seq.end()
    }
}

/// Pagination state of a collection; becomes `first`/`prev`/`next`/`last` links and
/// `meta.page`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Page {
    /// `page[number]` (1-based) and `page[size]`.
    Number {
        /// The current page, starting at 1.
        number: u64,
        /// Resources per page.
        size: u64,
        /// Total resources, if known (enables `last`).
        total: Option<u64>,
    },
    /// `page[offset]` and `page[limit]`.
    Offset {
        /// Resources skipped.
        offset: u64,
        /// Resources per page.
        limit: u64,
        /// Total resources, if known (enables `last`).
        total: Option<u64>,
    },
    /// Cursor pagination (`page[after]`/`page[before]`, `page[size]`).
    Cursor {
        /// Resources per page.
        size: u64,
        /// The cursor of the last resource of this page, if there is a next page.
        next: Option<String>,
        /// The cursor of the first resource of this page, if there is a previous page.
        prev: Option<String>,
    },
}

fn page_url(base: &str, params: &[(&str, &dyn Display)]) -> String {
    let mut url = String::with_capacity(base.len() + 40);
    url.push_str(base);
    let mut separator = if base.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        let _ = write!(
            url,
            "{separator}page%5B{name}%5D={}",
            PercentEncoded(*value)
        );
        separator = '&';
    }
    url
}

impl Page {
    /// The pagination links for a collection at `base` (which may already carry a query).
    pub fn links(&self, base: &str) -> Vec<(&'static str, String)> {
        let mut links = Vec::with_capacity(4);
        match self {
            Page::Number {
                number,
                size,
                total,
            } => {
                let number = (*number).max(1);
                let url = |n: u64| page_url(base, &[("number", &n), ("size", size)]);
                links.push(("first", url(1)));
                if number > 1 {
                    links.push(("prev", url(number - 1)));
                }
                let last = total.map(|t| t.div_ceil((*size).max(1)).max(1));
                // Client-supplied numbers can be as large as u64 allows: no `next` past the end.
                if let Some(next) = number.checked_add(1)
                    && last.is_none_or(|last| number < last)
                {
                    links.push(("next", url(next)));
                }
                if let Some(last) = last {
                    links.push(("last", url(last)));
                }
            }
            Page::Offset {
                offset,
                limit,
                total,
            } => {
                let url = |o: u64| page_url(base, &[("offset", &o), ("limit", limit)]);
                links.push(("first", url(0)));
                if *offset > 0 {
                    links.push(("prev", url(offset.saturating_sub(*limit))));
                }
                if let Some(next) = offset.checked_add(*limit)
                    && total.is_none_or(|t| next < t)
                {
                    links.push(("next", url(next)));
                }
                if let Some(total) = total {
                    let limit = (*limit).max(1);
                    links.push(("last", url(total.saturating_sub(1) / limit * limit)));
                }
            }
            Page::Cursor { size, next, prev } => {
                links.push(("first", page_url(base, &[("size", size)])));
                if let Some(prev) = prev {
                    links.push(("prev", page_url(base, &[("size", size), ("before", prev)])));
                }
                if let Some(next) = next {
                    links.push(("next", page_url(base, &[("size", size), ("after", next)])));
                }
            }
        }
        links
    }

    /// The `meta.page` object.
    pub fn meta(&self) -> Meta {
        let mut page = Meta::new();
        match self {
            Page::Number {
                number,
                size,
                total,
            } => {
                page.insert("number".into(), (*number).into());
                page.insert("size".into(), (*size).into());
                if let Some(total) = total {
                    page.insert("total".into(), (*total).into());
                    page.insert("pages".into(), total.div_ceil((*size).max(1)).into());
                }
            }
            Page::Offset {
                offset,
                limit,
                total,
            } => {
                page.insert("offset".into(), (*offset).into());
                page.insert("limit".into(), (*limit).into());
                if let Some(total) = total {
                    page.insert("total".into(), (*total).into());
                }
            }
            Page::Cursor { size, .. } => {
                page.insert("size".into(), (*size).into());
            }
        }
        page
    }
}

enum Data<'a, R> {
    One(Option<&'a R>),
    Many(&'a [R]),
}

/// A response document ready to serialize: primary data plus options.
///
/// Build it with [`document`] or [`collection`], then hand it to any serde serializer (for
/// example `serde_json::to_vec`). Nothing is copied into an intermediate tree.
pub struct ResponseDocument<'a, R, A> {
    data: Data<'a, R>,
    context: &'a Context<A>,
    include: Option<&'a IncludeTree>,
    fields: Option<&'a Fieldsets>,
    links: Links,
    meta: Option<Meta>,
    jsonapi: Option<JsonApiObject>,
}

impl<R, A> fmt::Debug for ResponseDocument<'_, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseDocument")
            .field("include", &self.include)
            .field("fields", &self.fields)
            .field("links", &self.links)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A document whose primary data is one resource.
pub fn document<'a, R: Resource<A>, A>(
    resource: &'a R,
    context: &'a Context<A>,
) -> ResponseDocument<'a, R, A> {
    ResponseDocument::new(Data::One(Some(resource)), context)
}

/// A document whose primary data is `null` (for example an empty to-one relationship).
pub fn null_document<'a, R: Resource<A>, A>(context: &'a Context<A>) -> ResponseDocument<'a, R, A> {
    ResponseDocument::new(Data::One(None), context)
}

/// A document whose primary data is a collection.
pub fn collection<'a, R: Resource<A>, A>(
    resources: &'a [R],
    context: &'a Context<A>,
) -> ResponseDocument<'a, R, A> {
    ResponseDocument::new(Data::Many(resources), context)
}

static NO_FIELDSETS: std::sync::LazyLock<Fieldsets> = std::sync::LazyLock::new(Fieldsets::all);

impl<'a, R: Resource<A>, A> ResponseDocument<'a, R, A> {
    fn new(data: Data<'a, R>, context: &'a Context<A>) -> Self {
        Self {
            data,
            context,
            include: None,
            fields: None,
            links: Links::new(),
            meta: None,
            jsonapi: None,
        }
    }

    /// Includes related resources (a compound document).
    pub fn include(mut self, include: &'a IncludeTree) -> Self {
        self.include = Some(include).filter(|i| !i.is_empty());
        self
    }

    /// Applies sparse fieldsets.
    pub fn fields(mut self, fields: &'a Fieldsets) -> Self {
        self.fields = Some(fields).filter(|f| !f.is_empty());
        self
    }

    /// Applies the `include` and `fields` of a parsed query.
    pub fn query(self, query: &'a crate::query::Query) -> Self {
        self.include(&query.include).fields(&query.fields)
    }

    /// Adds a top-level link (for example `self`).
    pub fn link(mut self, name: impl Into<String>, link: impl Into<Link>) -> Self {
        self.links.insert(name.into(), Some(link.into()));
        self
    }

    /// Adds a top-level meta member.
    pub fn meta(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.meta
            .get_or_insert_with(Meta::new)
            .insert(name.into(), value.into());
        self
    }

    /// Adds pagination links below `base` (the collection URL) and `meta.page`.
    pub fn paginate(mut self, page: &Page, base: &str) -> Self {
        for (name, url) in page.links(base) {
            self.links.insert(name.to_owned(), Some(Link::Url(url)));
        }
        let page_meta = page.meta();
        self.meta
            .get_or_insert_with(Meta::new)
            .insert("page".into(), serde_json::Value::Object(page_meta));
        self
    }

    /// Adds the top-level `jsonapi` object.
    pub fn jsonapi(mut self, jsonapi: JsonApiObject) -> Self {
        self.jsonapi = Some(jsonapi);
        self
    }

    fn fieldsets(&self) -> &'a Fieldsets {
        match self.fields {
            Some(fields) => fields,
            None => &NO_FIELDSETS,
        }
    }

    /// Serializes to a JSON byte vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Serializes to a JSON string.
    pub fn to_string(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

struct ManySer<'a, R, A> {
    resources: &'a [R],
    context: &'a Context<A>,
    fields: &'a Fieldsets,
}

impl<R: Resource<A>, A> Serialize for ManySer<'_, R, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.resources.len()))?;
        for resource in self.resources {
            seq.serialize_element(&ResourceSer {
                resource,
                context: self.context,
                fields: self.fields,
            })?;
        }
        seq.end()
    }
}

struct IncludedSer<'s, 'a, A> {
    items: &'s [&'a dyn ErasedResource<A>],
    context: &'s Context<A>,
    fields: &'s Fieldsets,
}

impl<A> Serialize for IncludedSer<'_, '_, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.items.len()))?;
        for item in self.items {
            let object = item.resource_object(self.context, self.fields);
            seq.serialize_element(&*object)?;
        }
        seq.end()
    }
}

impl<R: Resource<A>, A> Serialize for ResponseDocument<'_, R, A> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.fieldsets();
        let mut map = serializer.serialize_map(None)?;
        if let Some(jsonapi) = &self.jsonapi {
            map.serialize_entry("jsonapi", jsonapi)?;
        }
        match self.data {
            Data::One(None) => map.serialize_entry("data", &())?,
            Data::One(Some(resource)) => map.serialize_entry(
                "data",
                &ResourceSer {
                    resource,
                    context: self.context,
                    fields,
                },
            )?,
            Data::Many(resources) => map.serialize_entry(
                "data",
                &ManySer {
                    resources,
                    context: self.context,
                    fields,
                },
            )?,
        }
        if let Some(include) = self.include {
            let mut sink = IncludedSink::new(self.context);
            let primary: &[R] = match &self.data {
                Data::One(None) => &[],
                Data::One(Some(resource)) => std::slice::from_ref(*resource),
                Data::Many(resources) => resources,
            };
            // Primary resources never repeat in `included`; recording them is only needed when
            // the include paths can lead back to the primary type.
            if may_include(R::meta(), include, R::TYPE) {
                for resource in primary {
                    sink.mark(resource);
                }
            }
            for resource in primary {
                resource.collect_included(include, &mut sink);
            }
            map.serialize_entry(
                "included",
                &IncludedSer {
                    items: &sink.items,
                    context: self.context,
                    fields,
                },
            )?;
        }
        if !self.links.is_empty() {
            map.serialize_entry("links", &self.links)?;
        }
        if let Some(meta) = &self.meta {
            map.serialize_entry("meta", meta)?;
        }
        map.end()
    }
}
