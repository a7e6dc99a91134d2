//! One-pass reading of response documents: the bytes are deserialized straight into the owned
//! model ([`Document`]) while every JSON:API rule is checked on the way, without building a
//! `serde_json::Value` tree of the whole document first.
//!
//! The fast path only answers "valid, here is the document" or "not sure": anything unusual
//! (an error, an `errors` document, a member it does not handle itself, a possible duplicate)
//! makes it give up, and the caller reads the document again the thorough way
//! ([`crate::strict`] + [`crate::validate`]), which produces the error objects with their
//! pointers. So a valid document costs one pass, an invalid one two, and both paths accept the
//! same documents (checked by `tests/one_pass.rs` and the fuzz targets).
//!
//! Small free-form parts (attribute values, `meta`, `links`, `jsonapi`) are read as strict
//! values (duplicate member names refused) and checked with the same validator code the
//! thorough path uses.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::model::{
    Document, JsonApiObject, Linkage, Links, PrimaryData, Relationship, ResourceIdentifier,
    ResourceObject,
};
use crate::names::{MemberName, member_name};
use crate::strict::StrictValue;
use crate::validate::SubValidator;

/// Reads a response document in one pass; `None` when the document needs the thorough path
/// (it is invalid, or uses something the fast path leaves to it).
pub(crate) fn parse_response(bytes: &[u8]) -> Option<Document> {
    let mut state = State {
        seen: std::collections::HashSet::with_capacity_and_hasher(
            64,
            foldhash::fast::FixedState::default(),
        ),
        hasher: foldhash::fast::FixedState::default(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document = DocumentSeed { state: &mut state }
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    Some(document)
}

struct State {
    /// Hashes of the (type, id) of every resource object so far. A repeated hash gives up (a
    /// duplicate resource, or a collision the thorough path settles).
    seen: std::collections::HashSet<u64, foldhash::fast::FixedState>,
    hasher: foldhash::fast::FixedState,
}

impl State {
    fn first_time(&mut self, type_name: &str, id: &str) -> bool {
        let mut hasher = self.hasher.build_hasher();
        type_name.hash(&mut hasher);
        id.hash(&mut hasher);
        self.seen.insert(hasher.finish())
    }
}

/// "Not handled here": the thorough path decides.
fn give_up<E: serde::de::Error>() -> E {
    E::custom("one-pass reader gives up")
}

/// A member name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Whether a member this object does not define may be present: extension and @-members may
/// (their content is consumed strictly, so a duplicate inside still gives up).
fn foreign_member_allowed(name: &str) -> bool {
    matches!(
        member_name(name),
        Some(MemberName::At | MemberName::Extension)
    )
}

/// Marks member `bit` as seen; a second copy gives up.
fn once<E: serde::de::Error>(seen: &mut u32, bit: u32) -> Result<(), E> {
    if *seen & bit != 0 {
        return Err(give_up());
    }
    *seen |= bit;
    Ok(())
}

/// Extension/@-members seen in one object (rare; a repeated one gives up).
fn foreign_once<E: serde::de::Error>(seen: &mut Vec<String>, name: &str) -> Result<(), E> {
    if seen.iter().any(|n| n == name) {
        return Err(give_up());
    }
    seen.push(name.to_owned());
    Ok(())
}

fn string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<String, A::Error> {
    map.next_value::<String>()
}

fn strict<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Value, A::Error> {
    map.next_value_seed(StrictValue)
}

fn strict_object<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Map<String, Value>, A::Error> {
    match strict(map)? {
        Value::Object(object) => Ok(object),
        _ => Err(give_up()),
    }
}

struct DocumentSeed<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = Document;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Document, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON:API document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut document = Document::default();
        let (mut seen, mut foreign) = (0u32, Vec::new());
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "data" => {
                    once(&mut seen, 1)?;
                    document.data = Some(map.next_value_seed(DataSeed {
                        state: &mut *self.state,
                    })?);
                }
                "included" => {
                    once(&mut seen, 2)?;
                    document.included = Some(map.next_value_seed(ResourcesSeed {
                        state: &mut *self.state,
                    })?);
                }
                "meta" => {
                    once(&mut seen, 4)?;
                    document.meta = Some(strict_object(&mut map)?);
                }
                "links" => {
                    once(&mut seen, 8)?;
                    document.links = Some(links(strict(&mut map)?)?);
                }
                "jsonapi" => {
                    once(&mut seen, 16)?;
                    let value = strict(&mut map)?;
                    if !SubValidator::new().jsonapi(&value) {
                        return Err(give_up());
                    }
                    document.jsonapi = Some(
                        serde_json::from_value::<JsonApiObject>(value).map_err(|_| give_up())?,
                    );
                }
                other if foreign_member_allowed(other) => {
                    foreign_once(&mut foreign, other)?;
                    strict(&mut map)?;
                }
                // `errors` documents and unknown members: the thorough path.
                _ => return Err(give_up()),
            }
        }
        if seen & (1 | 4) == 0 || (seen & 2 != 0 && seen & 1 == 0) {
            return Err(give_up());
        }
        Ok(document)
    }
}

/// A `links` object, checked like the thorough path does, then read into the model.
fn links<E: serde::de::Error>(value: Value) -> Result<Links, E> {
    if !SubValidator::new().links(&value) {
        return Err(give_up());
    }
    serde_json::from_value(value).map_err(|_| give_up())
}

struct DataSeed<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = PrimaryData;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<PrimaryData, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = PrimaryData;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("primary data")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<PrimaryData, E> {
        Ok(PrimaryData::One(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PrimaryData, A::Error> {
        ResourcesSeed { state: self.state }
            .visit_seq(seq)
            .map(PrimaryData::Many)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PrimaryData, A::Error> {
        ResourceSeed { state: self.state }
            .visit_map(map)
            .map(|one| PrimaryData::One(Some(Box::new(one))))
    }
}

struct ResourcesSeed<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for ResourcesSeed<'_> {
    type Value = Vec<ResourceObject>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<ResourceObject>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResourcesSeed<'_> {
    type Value = Vec<ResourceObject>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of resource objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<ResourceObject>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(resource) = seq.next_element_seed(ResourceSeed {
            state: &mut *self.state,
        })? {
            out.push(resource);
        }
        Ok(out)
    }
}

struct ResourceSeed<'s> {
    state: &'s mut State,
}

impl<'de> DeserializeSeed<'de> for ResourceSeed<'_> {
    type Value = ResourceObject;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<ResourceObject, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResourceSeed<'_> {
    type Value = ResourceObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResourceObject, A::Error> {
        let mut object = ResourceObject::default();
        let (mut seen, mut foreign) = (0u32, Vec::new());
        let mut type_name = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "type" => {
                    once(&mut seen, 1)?;
                    type_name = Some(string(&mut map)?);
                }
                "id" => {
                    once(&mut seen, 2)?;
                    object.id = Some(string(&mut map)?);
                }
                "attributes" => {
                    once(&mut seen, 4)?;
                    let attributes = strict_object(&mut map)?;
                    if !SubValidator::new().attributes(&attributes) {
                        return Err(give_up());
                    }
                    object.attributes = Some(attributes);
                }
                "relationships" => {
                    once(&mut seen, 8)?;
                    object.relationships = Some(map.next_value_seed(RelationshipsSeed)?);
                }
                "links" => {
                    once(&mut seen, 16)?;
                    object.links = Some(links(strict(&mut map)?)?);
                }
                "meta" => {
                    once(&mut seen, 32)?;
                    object.meta = Some(strict_object(&mut map)?);
                }
                // `lid` is for requests; anything else unknown is the thorough path's.
                other if foreign_member_allowed(other) => {
                    foreign_once(&mut foreign, other)?;
                    strict(&mut map)?;
                }
                _ => return Err(give_up()),
            }
        }
        let (Some(type_name), Some(id)) = (type_name, object.id.as_deref()) else {
            return Err(give_up());
        };
        if member_name(&type_name).is_none() || !self.state.first_time(&type_name, id) {
            return Err(give_up());
        }
        if let (Some(attributes), Some(relationships)) = (&object.attributes, &object.relationships)
            && relationships
                .keys()
                .any(|name| attributes.contains_key(name))
        {
            return Err(give_up());
        }
        object.type_name = type_name;
        Ok(object)
    }
}

struct RelationshipsSeed;

impl<'de> DeserializeSeed<'de> for RelationshipsSeed {
    type Value = BTreeMap<String, Relationship>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<BTreeMap<String, Relationship>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RelationshipsSeed {
    type Value = BTreeMap<String, Relationship>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a relationships object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<BTreeMap<String, Relationship>, A::Error> {
        let mut out = BTreeMap::new();
        let mut foreign = Vec::new();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            match member_name(&name) {
                // Extension and @-members are not relationships: consumed, left out.
                Some(MemberName::At | MemberName::Extension) => {
                    foreign_once(&mut foreign, &name)?;
                    strict(&mut map)?;
                }
                Some(MemberName::Plain)
                    if !matches!(&*name, "id" | "type" | "links" | "relationships") =>
                {
                    let relationship = map.next_value_seed(RelationshipSeed)?;
                    if out.insert(name.into_owned(), relationship).is_some() {
                        return Err(give_up());
                    }
                }
                _ => return Err(give_up()),
            }
        }
        Ok(out)
    }
}

struct RelationshipSeed;

impl<'de> DeserializeSeed<'de> for RelationshipSeed {
    type Value = Relationship;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Relationship, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RelationshipSeed {
    type Value = Relationship;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a relationship object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Relationship, A::Error> {
        let mut relationship = Relationship::default();
        let (mut seen, mut foreign) = (0u32, Vec::new());
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "data" => {
                    once(&mut seen, 1)?;
                    relationship.data = Some(map.next_value_seed(LinkageSeed)?);
                }
                "links" => {
                    once(&mut seen, 2)?;
                    let value = strict(&mut map)?;
                    let complete = value.as_object().is_some_and(|links| {
                        links
                            .keys()
                            .any(|k| k == "self" || k == "related" || k.contains(':'))
                    });
                    if !complete {
                        return Err(give_up());
                    }
                    relationship.links = Some(links(value)?);
                }
                "meta" => {
                    once(&mut seen, 4)?;
                    relationship.meta = Some(strict_object(&mut map)?);
                }
                other if foreign_member_allowed(other) => {
                    foreign_once(&mut foreign, other)?;
                    strict(&mut map)?;
                }
                _ => return Err(give_up()),
            }
        }
        if seen == 0 {
            return Err(give_up());
        }
        Ok(relationship)
    }
}

struct LinkageSeed;

impl<'de> DeserializeSeed<'de> for LinkageSeed {
    type Value = Linkage;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Linkage, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LinkageSeed {
    type Value = Linkage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("resource linkage")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Linkage, E> {
        Ok(Linkage::ToOne(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Linkage, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(identifier) = seq.next_element_seed(IdentifierSeed)? {
            out.push(identifier);
        }
        Ok(Linkage::ToMany(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Linkage, A::Error> {
        IdentifierSeed
            .visit_map(map)
            .map(|one| Linkage::ToOne(Some(one)))
    }
}

struct IdentifierSeed;

impl<'de> DeserializeSeed<'de> for IdentifierSeed {
    type Value = ResourceIdentifier;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<ResourceIdentifier, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdentifierSeed {
    type Value = ResourceIdentifier;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource identifier")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResourceIdentifier, A::Error> {
        let mut identifier = ResourceIdentifier::default();
        let (mut seen, mut foreign) = (0u32, Vec::new());
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "type" => {
                    once(&mut seen, 1)?;
                    identifier.type_name = string(&mut map)?;
                }
                "id" => {
                    once(&mut seen, 2)?;
                    identifier.id = Some(string(&mut map)?);
                }
                "meta" => {
                    once(&mut seen, 4)?;
                    identifier.meta = Some(crate::model::MetaEq(strict_object(&mut map)?));
                }
                other if foreign_member_allowed(other) => {
                    foreign_once(&mut foreign, other)?;
                    strict(&mut map)?;
                }
                _ => return Err(give_up()),
            }
        }
        if seen & 3 != 3 || member_name(&identifier.type_name).is_none() {
            return Err(give_up());
        }
        Ok(identifier)
    }
}
