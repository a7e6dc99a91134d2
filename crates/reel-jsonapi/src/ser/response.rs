//! Top-level response documents: single resources, collections, `included` and `meta`.

use super::*;

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
