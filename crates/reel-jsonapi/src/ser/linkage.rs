//! Relationship objects and their linkage: identifiers, to-one and to-many, by id or resource.

use super::*;

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
