#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, Path, Type, parse_macro_input};

/// Implements the reel-jsonapi resource traits for a struct, or for an enum of resources (a
/// polymorphic relationship target).
///
/// An enum `#[jsonapi(type = "attachments")] enum Attachment { Image(Image), Video(Video) }`
/// (each variant wrapping one resource type) can be the target of `#[jsonapi(relationship)]`
/// fields (`Option<Attachment>`, `Vec<Attachment>`): each value is written with its variant's
/// type and included as such, linkage of any variant's type is accepted in requests, and
/// `from_response` builds the variant the included resource's type names. The enum's own
/// `type` only names it in error messages; include paths stop at it (`attachments` can be
/// included, `attachments.x` cannot).
///
/// Struct attributes: `#[jsonapi(type = "articles")]` (required),
/// `rename_all = "camelCase" | "kebab-case" | "snake_case" | "as-is"`, `context = Type` (the
/// assigns type computed attributes need; otherwise the impl is generic over it), and any number
/// of `computed(name = "slug", with = path::to_fn)` where `fn(&Self, &Context<A>) -> impl Serialize`
/// and of `link(name = "download", with = path::to_fn)` where
/// `fn(&Self, &Context<A>) -> Option<impl Into<Link>>` (a resource link written after `self`;
/// `None` leaves it out).
///
/// Field attributes: `id` (exactly one field; `Display + FromStr`), `meta` (at most one field:
/// the resource object's own `meta`, any `Serialize + DeserializeOwned + Default` value that
/// serializes to an object; an `Option` that is `None` writes none), `rename = "name"`, `skip`,
/// `visible_if = path::to_fn` (`fn(&Self, &Context<A>) -> bool`), `relationship` (the field
/// holds related resources: `R`, `Option<R>`, `Vec<R>`, with `R` possibly in a `Box`, `Arc` or
/// `Rc`) and `relationship, type = "people"` (the field holds ids only: `I`, `Option<I>`,
/// `Vec<I>`).
///
/// `FromResourceObject` (reading requests and responses) is always implemented. Skipped fields
/// are `Default` when read; the id is `Default` when a create request carries none. Fields
/// holding related resources are filled from `included` when a response is read
/// (`de::from_response`); a request carries linkage only, so they stay empty there (`None`,
/// `[]`) and a single, non-optional related resource in a request is a 422 error. Without `context`, the impl is generic over the assigns type, so every related
/// resource must be too; a resource related to one with a specific `context` declares the same
/// `context`. Related resources may refer to each other (writer ↔ books).
#[proc_macro_derive(Resource, attributes(jsonapi))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Case {
    AsIs,
    Camel,
    Kebab,
    Snake,
}

impl Case {
    fn apply(self, name: &str) -> String {
        match self {
            Case::AsIs | Case::Snake => name.to_owned(),
            Case::Kebab => name.replace('_', "-"),
            Case::Camel => {
                let mut out = String::with_capacity(name.len());
                let mut upper = false;
                for c in name.chars() {
                    if c == '_' {
                        upper = !out.is_empty();
                    } else if upper {
                        out.extend(c.to_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// A member written by a function: a `computed(..)` attribute or a `link(..)`.
struct NamedFn {
    name: String,
    with: Path,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    One,
    Optional,
    Many,
}

enum Kind {
    Id,
    Attribute,
    Skip,
    /// The resource object's own `meta`.
    Meta,
    Relationship {
        /// `Some(type)` for id-only linkage.
        id_type: Option<String>,
        shape: Shape,
        /// The related resource type (resource relationships) or the id type.
        inner: Box<Type>,
    },
}

struct Field {
    ident: syn::Ident,
    ty: Type,
    name: String,
    kind: Kind,
    visible_if: Option<Path>,
}

fn shape_of(ty: &Type) -> (Shape, Type) {
    if let Type::Path(path) = ty
        && path.qself.is_none()
        && let Some(last) = path.path.segments.last()
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && args.args.len() == 1
        && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
    {
        let shape = match last.ident.to_string().as_str() {
            "Option" => Some(Shape::Optional),
            "Vec" => Some(Shape::Many),
            _ => None,
        };
        if let Some(shape) = shape {
            return (shape, inner.clone());
        }
    }
    (Shape::One, ty.clone())
}

/// Strips `Box`, `Arc` and `Rc` to find the related resource type.
fn unbox(ty: &Type) -> Type {
    if let Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
        && matches!(last.ident.to_string().as_str(), "Box" | "Arc" | "Rc")
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(syn::GenericArgument::Type(inner)) = args.args.first()
    {
        return unbox(inner);
    }
    ty.clone()
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Resource)] does not support generic structs",
        ));
    }
    if let Data::Enum(data) = &input.data {
        return expand_enum(input, data);
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Resource)] needs a struct",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            input,
            "#[derive(Resource)] needs named fields",
        ));
    };

    let mut type_name: Option<String> = None;
    let mut case = Case::AsIs;
    let mut context: Option<Type> = None;
    let mut computed = Vec::new();
    let mut links = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("jsonapi")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("type") {
                type_name = Some(meta.value()?.parse::<LitStr>()?.value());
            } else if meta.path.is_ident("rename_all") {
                let lit = meta.value()?.parse::<LitStr>()?;
                case = match lit.value().as_str() {
                    "as-is" => Case::AsIs,
                    "camelCase" => Case::Camel,
                    "kebab-case" => Case::Kebab,
                    "snake_case" => Case::Snake,
                    other => {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            format!(
                                "unknown rename_all `{other}`; use as-is, camelCase, kebab-case or snake_case"
                            ),
                        ));
                    }
                };
            } else if meta.path.is_ident("context") {
                context = Some(meta.value()?.parse::<Type>()?);
            } else if meta.path.is_ident("computed") || meta.path.is_ident("link") {
                let what = if meta.path.is_ident("link") { "link" } else { "computed" };
                let mut name = None;
                let mut with = None;
                meta.parse_nested_meta(|inner| {
                    if inner.path.is_ident("name") {
                        name = Some(inner.value()?.parse::<LitStr>()?);
                    } else if inner.path.is_ident("with") {
                        with = Some(inner.value()?.parse::<Path>()?);
                    } else {
                        return Err(inner.error("expected `name` or `with`"));
                    }
                    Ok(())
                })?;
                let (Some(name), Some(with)) = (name, with) else {
                    return Err(meta.error(format!(
                        "{what} needs `name = \"..\"` and `with = path`"
                    )));
                };
                if what == "computed" {
                    let value = name.value();
                    if !valid_member_name(&value) {
                        return Err(syn::Error::new_spanned(
                            &name,
                            format!("`{value}` is not a valid JSON:API member name"),
                        ));
                    }
                    if matches!(value.as_str(), "id" | "type" | "links" | "relationships") {
                        return Err(syn::Error::new_spanned(
                            &name,
                            format!("`{value}` is reserved by JSON:API and cannot be a field name"),
                        ));
                    }
                    computed.push(NamedFn { name: value, with });
                } else {
                    let value = name.value();
                    if !valid_member_name(&value) {
                        return Err(syn::Error::new_spanned(
                            &name,
                            format!("`{value}` is not a valid JSON:API member name"),
                        ));
                    }
                    if value == "self" {
                        return Err(syn::Error::new_spanned(
                            &name,
                            "`self` is written from the context's base URL; give this link another name",
                        ));
                    }
                    if links.iter().any(|l: &NamedFn| l.name == value) {
                        return Err(syn::Error::new_spanned(
                            &name,
                            format!("link `{value}` is declared twice"),
                        ));
                    }
                    links.push(NamedFn { name: value, with });
                }
            } else {
                return Err(meta.error(
                    "expected `type`, `rename_all`, `context`, `computed(...)` or `link(...)`",
                ));
            }
            Ok(())
        })?;
    }
    let Some(type_name) = type_name else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "missing #[jsonapi(type = \"...\")]",
        ));
    };
    if !valid_member_name(&type_name) {
        return Err(syn::Error::new_spanned(
            &input.ident,
            format!("`{type_name}` is not a valid JSON:API member name"),
        ));
    }

    let mut fields = Vec::new();
    for field in &named.named {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let mut is_id = false;
        let mut is_meta = false;
        let mut skip = false;
        let mut relationship = false;
        let mut id_type = None;
        let mut rename = None;
        let mut visible_if = None;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("jsonapi")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("id") {
                    is_id = true;
                } else if meta.path.is_ident("skip") {
                    skip = true;
                } else if meta.path.is_ident("meta") {
                    is_meta = true;
                } else if meta.path.is_ident("relationship") {
                    relationship = true;
                } else if meta.path.is_ident("type") {
                    id_type = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("rename") {
                    rename = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("visible_if") {
                    visible_if = Some(meta.value()?.parse::<Path>()?);
                } else {
                    return Err(meta.error(
                        "expected `id`, `meta`, `skip`, `relationship`, `type`, `rename` or `visible_if`",
                    ));
                }
                Ok(())
            })?;
        }
        let rust_name = ident.to_string();
        let rust_name = rust_name
            .strip_prefix("r#")
            .unwrap_or(&rust_name)
            .to_owned();
        let name = rename.unwrap_or_else(|| case.apply(&rust_name));
        let kind = if is_id {
            Kind::Id
        } else if is_meta {
            Kind::Meta
        } else if skip {
            Kind::Skip
        } else if relationship {
            let (shape, inner) = shape_of(&field.ty);
            let inner = if id_type.is_some() {
                inner
            } else {
                unbox(&inner)
            };
            Kind::Relationship {
                id_type,
                shape,
                inner: Box::new(inner),
            }
        } else {
            if id_type.is_some() {
                return Err(syn::Error::new_spanned(
                    &ident,
                    "`type = ..` belongs to `relationship` fields",
                ));
            }
            Kind::Attribute
        };
        if !matches!(kind, Kind::Id | Kind::Skip | Kind::Meta) && !valid_member_name(&name) {
            return Err(syn::Error::new_spanned(
                &ident,
                format!("`{name}` is not a valid JSON:API member name"),
            ));
        }
        if !matches!(kind, Kind::Id | Kind::Skip | Kind::Meta)
            && matches!(name.as_str(), "id" | "type" | "links" | "relationships")
        {
            return Err(syn::Error::new_spanned(
                &ident,
                format!("`{name}` is reserved by JSON:API and cannot be a field name"),
            ));
        }
        fields.push(Field {
            ident,
            ty: field.ty.clone(),
            name,
            kind,
            visible_if,
        });
    }
    let ids: Vec<&Field> = fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Id))
        .collect();
    if fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Meta))
        .count()
        > 1
    {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "at most one field may be marked #[jsonapi(meta)]",
        ));
    }
    let [id_field] = ids.as_slice() else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "exactly one field must be marked #[jsonapi(id)]",
        ));
    };
    let mut seen = std::collections::HashSet::new();
    for name in fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Attribute | Kind::Relationship { .. }))
        .map(|f| f.name.clone())
        .chain(computed.iter().map(|c| c.name.clone()))
    {
        if !seen.insert(name.clone()) {
            return Err(syn::Error::new_spanned(
                &input.ident,
                format!("field name `{name}` is used twice"),
            ));
        }
    }

    let ident = &input.ident;
    let krate = quote!(::reel_jsonapi);
    let id_ident = &id_field.ident;
    let id_ty = &id_field.ty;

    let attribute_names: Vec<&str> = fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Attribute))
        .map(|f| f.name.as_str())
        .collect();
    let sortable_attribute_names: Vec<&str> = fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Attribute) && f.visible_if.is_none())
        .map(|f| f.name.as_str())
        .collect();
    let all_attribute_names: Vec<&str> = attribute_names
        .iter()
        .copied()
        .chain(computed.iter().map(|c| c.name.as_str()))
        .collect();

    let relationship_metas = fields.iter().filter_map(|f| {
        let Kind::Relationship {
            id_type,
            shape,
            inner,
        } = &f.kind
        else {
            return None;
        };
        let name = &f.name;
        let to_many = *shape == Shape::Many;
        Some(match id_type {
            Some(t) => quote! {
                #krate::RelationshipMeta { name: #name, to_many: #to_many, target_type: #t, target: None }
            },
            None => quote! {
                #krate::RelationshipMeta {
                    name: #name,
                    to_many: #to_many,
                    target_type: <#inner as #krate::ResourceType>::TYPE,
                    target: Some(<#inner as #krate::ResourceType>::meta),
                }
            },
        })
    });

    let assigns: Tokens = match &context {
        Some(ty) => quote!(#ty),
        None => quote!(__A),
    };
    let impl_generics = if context.is_some() {
        quote!()
    } else {
        quote!(<__A>)
    };
    // No where-clauses on related types: unconditional impls let mutually related resources
    // prove each other's impls without a cycle. A resource related to one with a specific
    // `context` must declare the same `context`.
    let serialize_attributes = fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Attribute))
        .map(|f| {
            let name = &f.name;
            let field = &f.ident;
            let visible = match &f.visible_if {
                Some(path) => quote!(&& (#path)(self, __context)),
                None => quote!(),
            };
            quote! {
                if #krate::ser::selected(__fields, #name) #visible {
                    __map.serialize_entry(#name, &self.#field)?;
                }
            }
        })
        .chain(computed.iter().map(|c| {
            let name = &c.name;
            let with = &c.with;
            quote! {
                if #krate::ser::selected(__fields, #name) {
                    __map.serialize_entry(#name, &(#with)(self, __context))?;
                }
            }
        }));

    let serialize_relationships = fields.iter().filter_map(|f| {
        let Kind::Relationship {
            id_type,
            shape,
            inner,
        } = &f.kind
        else {
            return None;
        };
        let name = &f.name;
        let field = &f.ident;
        let linkage = match (id_type, shape) {
            (Some(t), Shape::One) => quote!(#krate::ser::ToOne(#t, Some(&self.#field))),
            (Some(t), Shape::Optional) => quote!(#krate::ser::ToOne(#t, self.#field.as_ref())),
            (Some(t), Shape::Many) => quote!(#krate::ser::ToManyIds(#t, &self.#field)),
            (None, Shape::One) => quote!(#krate::ser::ToOneResource::<#inner>(Some(
                ::std::borrow::Borrow::<#inner>::borrow(&self.#field)
            ))),
            (None, Shape::Optional) => quote!(#krate::ser::ToOneResource::<#inner>(
                self.#field.as_ref().map(::std::borrow::Borrow::<#inner>::borrow)
            )),
            (None, Shape::Many) => quote!(#krate::ser::ToManyResources::<_, #inner>(
                &self.#field, ::std::marker::PhantomData
            )),
        };
        let visible = match &f.visible_if {
            Some(path) => quote!(&& (#path)(self, __context)),
            None => quote!(),
        };
        Some(quote! {
            if #krate::ser::selected(__fields, #name) #visible {
                __map.serialize_entry(#name, &#krate::ser::RelationshipSer {
                    owner_type: #type_name,
                    owner_id: __owner_id,
                    name: #name,
                    base_url: __base_url,
                    linkage: #linkage,
                })?;
            }
        })
    });

    let collect_included = fields.iter().filter_map(|f| {
        let Kind::Relationship {
            id_type: None,
            shape,
            inner,
        } = &f.kind
        else {
            return None;
        };
        let name = &f.name;
        let field = &f.ident;
        let add = match shape {
            Shape::One => quote! {
                __sink.add(::std::borrow::Borrow::<#inner>::borrow(&self.#field), __sub);
            },
            Shape::Optional => quote! {
                if let Some(__related) = self.#field.as_ref() {
                    __sink.add(::std::borrow::Borrow::<#inner>::borrow(__related), __sub);
                }
            },
            Shape::Many => quote! {
                for __related in self.#field.iter() {
                    __sink.add(::std::borrow::Borrow::<#inner>::borrow(__related), __sub);
                }
            },
        };
        // A relationship hidden from this request contributes nothing to `included`.
        let visible = match &f.visible_if {
            Some(path) => quote!(&& (#path)(self, __sink.context())),
            None => quote!(),
        };
        Some(quote! {
            if let Some(__sub) = __include.child(#name) #visible {
                #add
            }
        })
    });

    // With `visible_if` members, whether any member is written depends on the context: the
    // generated check keeps an empty `attributes`/`relationships` object out of the document.
    let has_members = |relationships: bool| {
        let members: Vec<&Field> = fields
            .iter()
            .filter(|f| {
                if relationships {
                    matches!(f.kind, Kind::Relationship { .. })
                } else {
                    matches!(f.kind, Kind::Attribute)
                }
            })
            .collect();
        if members.iter().all(|f| f.visible_if.is_none()) {
            return quote!();
        }
        let checks = members.iter().map(|f| {
            let name = &f.name;
            match &f.visible_if {
                Some(path) => {
                    quote!(|| (#krate::ser::selected(__fields, #name) && (#path)(self, __context)))
                }
                None => quote!(|| #krate::ser::selected(__fields, #name)),
            }
        });
        let computed_checks = if relationships {
            Vec::new()
        } else {
            computed
                .iter()
                .map(|c| {
                    let name = &c.name;
                    quote!(|| #krate::ser::selected(__fields, #name))
                })
                .collect()
        };
        let method = if relationships {
            quote!(has_relationships)
        } else {
            quote!(has_attributes)
        };
        quote! {
            fn #method(
                &self,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<#assigns>,
            ) -> bool {
                false #(#checks)* #(#computed_checks)*
            }
        }
    };
    // The resource object's `meta` (`#[jsonapi(meta)]`): an `Option` that is `None` writes none.
    let serialize_meta = match fields.iter().find(|f| matches!(f.kind, Kind::Meta)) {
        None => quote!(),
        Some(f) => {
            let field = &f.ident;
            let write = if shape_of(&f.ty).0 == Shape::Optional {
                quote! {
                    if let ::std::option::Option::Some(__meta) = &self.#field {
                        __map.serialize_entry("meta", __meta)?;
                    }
                }
            } else {
                quote!(__map.serialize_entry("meta", &self.#field)?;)
            };
            quote! {
                fn serialize_meta<__M: #krate::__private::serde::ser::SerializeMap>(
                    &self,
                    __map: &mut __M,
                    __context: &#krate::Context<#assigns>,
                ) -> ::std::result::Result<(), __M::Error> {
                    let _ = __context;
                    #write
                    Ok(())
                }
            }
        }
    };
    let has_attributes = has_members(false);
    let has_relationships = has_members(true);

    // The resource's own links (`link(name = .., with = ..)`); a `None` leaves the link out.
    let resource_links = if links.is_empty() {
        quote!()
    } else {
        let count = links.len();
        let pushes = links.iter().map(|l| {
            let name = &l.name;
            let with = &l.with;
            quote! {
                if let ::std::option::Option::Some(__link) = (#with)(self, __context) {
                    __links.push((#name, ::std::convert::Into::<#krate::Link>::into(__link)));
                }
            }
        });
        quote! {
            fn resource_links(
                &self,
                __context: &#krate::Context<#assigns>,
            ) -> ::std::vec::Vec<(&'static str, #krate::Link)> {
                let mut __links = ::std::vec::Vec::with_capacity(#count);
                #(#pushes)*
                __links
            }
        }
    };

    // Deserialization.
    let mut de_lets = Vec::new();
    let mut de_unwraps = Vec::new();
    let mut de_fields = Vec::new();
    let mut known_relationships = Vec::new();
    let mut merges = Vec::new();
    for f in &fields {
        let field = &f.ident;
        // Locals get a prefix so a field named like one of the generated variables
        // (`errors`, `pointer`, ...) cannot shadow it.
        let local = quote::format_ident!("__field_{}", f.ident);
        let ty = &f.ty;
        let name = &f.name;
        match &f.kind {
            Kind::Id => {
                de_lets.push(quote! {
                    let #local: Option<#ty> = #krate::de::id(__object.id.as_deref(), __pointer, &mut __errors);
                });
                de_unwraps.push(quote!(let Some(#local) = #local else { return Err(__errors) };));
            }
            Kind::Skip => {
                de_lets.push(quote!(let #local: #ty = ::std::default::Default::default();));
            }
            Kind::Meta => {
                de_lets.push(quote! {
                    let #local: Option<#ty> = #krate::de::resource_meta(__meta.take(), __pointer, &mut __errors);
                });
                de_unwraps.push(quote!(let Some(#local) = #local else { return Err(__errors) };));
                merges.push(quote! {
                    if __meta.is_some()
                        && let Some(__value) = #krate::de::resource_meta::<#ty>(__meta.take(), __pointer, &mut __errors)
                    {
                        self.#field = __value;
                    }
                });
            }
            Kind::Attribute => {
                de_lets.push(quote! {
                    let #local: Option<#ty> = #krate::de::attribute(&mut __attributes, #name, __pointer, &mut __errors);
                });
                de_unwraps.push(quote!(let Some(#local) = #local else { return Err(__errors) };));
                merges.push(quote! {
                    if let Some(__value) = #krate::de::attribute_patch::<#ty>(&mut __attributes, #name, __pointer, &mut __errors) {
                        self.#field = __value;
                    }
                });
            }
            Kind::Relationship {
                id_type: Some(t),
                shape,
                inner,
            } => {
                known_relationships.push(name.clone());
                let call = match shape {
                    Shape::One => {
                        quote!(#krate::de::to_one_required::<#inner>(&mut __relationships, #name, #t, __pointer, &mut __errors))
                    }
                    Shape::Optional => {
                        quote!(#krate::de::to_one::<#inner>(&mut __relationships, #name, #t, __pointer, &mut __errors))
                    }
                    Shape::Many => {
                        quote!(#krate::de::to_many::<#inner>(&mut __relationships, #name, #t, __pointer, &mut __errors))
                    }
                };
                de_lets.push(quote!(let #local: Option<#ty> = #call;));
                de_unwraps.push(quote!(let Some(#local) = #local else { return Err(__errors) };));
                merges.push(quote! {
                    if __relationships.contains_key(#name)
                        && let Some(__value) = #call
                    {
                        self.#field = __value;
                    }
                });
            }
            Kind::Relationship {
                id_type: None,
                shape,
                inner,
            } => {
                known_relationships.push(name.clone());
                let to_many = *shape == Shape::Many;
                let check = quote! {
                    #krate::de::resource_linkage(
                        &mut __relationships,
                        #name,
                        <#inner as #krate::ResourceType>::TYPE,
                        <#inner as #krate::ResourceType>::accepts_type,
                        #to_many,
                        __pointer,
                        &mut __errors,
                    )
                };
                // Requests read with `Included::none()`: the linkage is checked, the field stays
                // empty. Responses fill it from `included`.
                match shape {
                    Shape::Optional => de_lets.push(quote! {
                        let #local: #ty = {
                            let __ids = #check;
                            __ids
                                .first()
                                .and_then(|__id| #krate::de::related::<#inner>(__included, __id, &mut __errors))
                                .map(::std::convert::From::from)
                        };
                    }),
                    Shape::Many => de_lets.push(quote! {
                        let #local: #ty = {
                            let __ids = #check;
                            __ids
                                .iter()
                                .filter_map(|__id| #krate::de::related::<#inner>(__included, __id, &mut __errors))
                                .map(::std::convert::From::from)
                                .collect()
                        };
                    }),
                    Shape::One => {
                        de_lets.push(quote! {
                            let #local: ::std::option::Option<#ty> = {
                                let __before = __errors.len();
                                let __ids = #check;
                                match __ids
                                    .first()
                                    .and_then(|__id| #krate::de::related::<#inner>(__included, __id, &mut __errors))
                                {
                                    ::std::option::Option::Some(__value) => {
                                        ::std::option::Option::Some(::std::convert::From::from(__value))
                                    }
                                    ::std::option::Option::None => {
                                        if __errors.len() == __before {
                                            #krate::de::missing_related(#name, __included, __pointer, &mut __errors);
                                        }
                                        ::std::option::Option::None
                                    }
                                }
                            };
                        });
                        de_unwraps.push(quote!(let Some(#local) = #local else { return Err(__errors) };));
                    }
                }
                merges.push(quote!(let _ = #check;));
            }
        }
        de_fields.push(quote!(#field: #local));
    }

    // A plain related resource cannot be filled from a request, which carries linkage only:
    // reading one from a request is a 422 at run time; a response fills it from `included`.
    let from_resource_object = quote! {
        impl #krate::FromResourceObject for #ident
        where
            #id_ty: ::std::default::Default + ::std::str::FromStr,
        {
            fn from_resource_object(
                __object: #krate::model::ResourceObject,
                __pointer: &str,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<#krate::model::ErrorObject>> {
                Self::from_included(__object, __pointer, &mut #krate::de::Included::none())
            }

            fn from_included(
                __object: #krate::model::ResourceObject,
                __pointer: &str,
                __included: &mut #krate::de::Included,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<#krate::model::ErrorObject>> {
                let _ = &__included;
                let mut __errors = ::std::vec::Vec::new();
                #krate::de::check_type(&__object.type_name, #type_name, __pointer, &mut __errors);
                let mut __attributes = __object.attributes.unwrap_or_default();
                let mut __relationships = __object.relationships.unwrap_or_default();
                let mut __meta = __object.meta;
                let _ = &mut __meta;
                #(#de_lets)*
                #krate::de::reject_unknown(&__attributes, &__relationships, __pointer, &mut __errors);
                if !__errors.is_empty() {
                    return Err(__errors);
                }
                #(#de_unwraps)*
                Ok(Self { #(#de_fields),* })
            }

            fn merge_resource_object(
                mut self,
                __object: #krate::model::ResourceObject,
                __pointer: &str,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<#krate::model::ErrorObject>> {
                let mut __errors = ::std::vec::Vec::new();
                #krate::de::check_type(&__object.type_name, #type_name, __pointer, &mut __errors);
                let mut __attributes = __object.attributes.unwrap_or_default();
                let mut __relationships = __object.relationships.unwrap_or_default();
                let mut __meta = __object.meta;
                let _ = &mut __meta;
                #(#merges)*
                #krate::de::reject_unknown(&__attributes, &__relationships, __pointer, &mut __errors);
                if __errors.is_empty() {
                    Ok(self)
                } else {
                    Err(__errors)
                }
            }
        }
    };

    Ok(quote! {
        impl #krate::ResourceType for #ident {
            const TYPE: &'static str = #type_name;

            fn meta() -> &'static #krate::ResourceMeta {
                static META: #krate::ResourceMeta = #krate::ResourceMeta {
                    type_name: #type_name,
                    attributes: &[#(#all_attribute_names),*],
                    writable_attributes: &[#(#attribute_names),*],
                    sortable_attributes: &[#(#sortable_attribute_names),*],
                    relationships: &[#(#relationship_metas),*],
                };
                &META
            }
        }

        impl #krate::ResourceId for #ident {
            #[inline]
            fn resource_id(&self) -> impl ::std::fmt::Display + '_ {
                &self.#id_ident
            }

            #[inline]
            fn id_key(&self) -> #krate::ser::IdKey {
                #[allow(unused_imports)]
                use #krate::ser::{IdKeyExact as _, IdKeyFallback as _};
                (&#krate::ser::IdProbe(&self.#id_ident)).id_key()
            }
        }

        impl #impl_generics #krate::Resource<#assigns> for #ident {
            fn serialize_attributes<__M: #krate::__private::serde::ser::SerializeMap>(
                &self,
                __map: &mut __M,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<#assigns>,
            ) -> ::std::result::Result<(), __M::Error> {
                let _ = __context;
                #(#serialize_attributes)*
                Ok(())
            }

            fn serialize_relationships<__M: #krate::__private::serde::ser::SerializeMap>(
                &self,
                __map: &mut __M,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<#assigns>,
            ) -> ::std::result::Result<(), __M::Error> {
                let __base_url = __context.base_url();
                let __owner_id = &self.#id_ident;
                let _ = (__base_url, __owner_id);
                #(#serialize_relationships)*
                Ok(())
            }

            fn collect_included<'__a>(
                &'__a self,
                __include: &#krate::IncludeTree,
                __sink: &mut #krate::ser::IncludedSink<'__a, #assigns>,
            ) {
                let _ = (__include, &__sink);
                #(#collect_included)*
            }

            #resource_links

            #has_attributes

            #has_relationships

            #serialize_meta
        }

        #from_resource_object
    })
}

/// A polymorphic resource: an enum whose variants each wrap one resource type. Every trait
/// delegates to the variant; `type_of` is the variant's type, `accepts_type` any variant's.
fn expand_enum(input: &DeriveInput, data: &syn::DataEnum) -> syn::Result<Tokens> {
    let mut type_name: Option<String> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("jsonapi")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("type") {
                type_name = Some(meta.value()?.parse::<LitStr>()?.value());
                Ok(())
            } else {
                Err(meta.error("a polymorphic resource (an enum) takes only `type = \"..\"`"))
            }
        })?;
    }
    let Some(type_name) = type_name else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "missing #[jsonapi(type = \"...\")]: the name of this polymorphic relationship target, used in error messages",
        ));
    };
    let mut variants = Vec::new();
    for variant in &data.variants {
        let Fields::Unnamed(fields) = &variant.fields else {
            return Err(syn::Error::new_spanned(
                variant,
                "each variant of a polymorphic resource wraps one resource: `Variant(Type)`",
            ));
        };
        let Some(field) = fields.unnamed.first().filter(|_| fields.unnamed.len() == 1) else {
            return Err(syn::Error::new_spanned(
                variant,
                "each variant of a polymorphic resource wraps one resource: `Variant(Type)`",
            ));
        };
        variants.push((
            variant.ident.clone(),
            unbox(&field.ty),
            unbox(&field.ty) != field.ty,
        ));
    }
    if variants.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "a polymorphic resource needs at least one variant",
        ));
    }
    let ident = &input.ident;
    let krate = quote!(::reel_jsonapi);
    let names: Vec<&syn::Ident> = variants.iter().map(|(v, _, _)| v).collect();
    // The resource types, with `Box`/`Arc`/`Rc` stripped; values are reached with `Borrow`.
    let types: Vec<&Type> = variants.iter().map(|(_, t, _)| t).collect();
    let plain_names: Vec<&syn::Ident> = variants
        .iter()
        .filter(|v| !v.2)
        .map(|(v, _, _)| v)
        .collect();
    let plain_types: Vec<&Type> = variants
        .iter()
        .filter(|v| !v.2)
        .map(|(_, t, _)| t)
        .collect();
    let bounds = quote!(#(#types: #krate::Resource<__A>,)*);
    Ok(quote! {
        impl #krate::ResourceType for #ident {
            const TYPE: &'static str = #type_name;

            fn meta() -> &'static #krate::ResourceMeta {
                static META: #krate::ResourceMeta = #krate::ResourceMeta {
                    type_name: #type_name,
                    attributes: &[],
                    writable_attributes: &[],
                    sortable_attributes: &[],
                    relationships: &[],
                };
                &META
            }

            fn type_of(&self) -> &'static str {
                match self {
                    #(Self::#names(__v) => #krate::ResourceType::type_of(::std::borrow::Borrow::<#types>::borrow(__v)),)*
                }
            }

            fn accepts_type(__type_name: &str) -> bool {
                #(<#types as #krate::ResourceType>::accepts_type(__type_name))||*
            }
        }

        impl #krate::ResourceId for #ident {
            fn resource_id(&self) -> impl ::std::fmt::Display + '_ {
                #krate::ser::DisplayWith(move |__f: &mut ::std::fmt::Formatter<'_>| match self {
                    #(Self::#names(__v) => ::std::fmt::Display::fmt(&#krate::ResourceId::resource_id(::std::borrow::Borrow::<#types>::borrow(__v)), __f),)*
                })
            }

            fn id_key(&self) -> #krate::ser::IdKey {
                match self {
                    #(Self::#names(__v) => #krate::ResourceId::id_key(::std::borrow::Borrow::<#types>::borrow(__v)),)*
                }
            }
        }

        impl<__A> #krate::Resource<__A> for #ident
        where
            #bounds
        {
            fn serialize_attributes<__M: #krate::__private::serde::ser::SerializeMap>(
                &self,
                __map: &mut __M,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<__A>,
            ) -> ::std::result::Result<(), __M::Error> {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::serialize_attributes(::std::borrow::Borrow::<#types>::borrow(__v), __map, __fields, __context),)*
                }
            }

            fn serialize_relationships<__M: #krate::__private::serde::ser::SerializeMap>(
                &self,
                __map: &mut __M,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<__A>,
            ) -> ::std::result::Result<(), __M::Error> {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::serialize_relationships(::std::borrow::Borrow::<#types>::borrow(__v), __map, __fields, __context),)*
                }
            }

            fn collect_included<'__a>(
                &'__a self,
                __include: &#krate::IncludeTree,
                __sink: &mut #krate::ser::IncludedSink<'__a, __A>,
            ) {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::collect_included(::std::borrow::Borrow::<#types>::borrow(__v), __include, __sink),)*
                }
            }

            fn resource_links(
                &self,
                __context: &#krate::Context<__A>,
            ) -> ::std::vec::Vec<(&'static str, #krate::Link)> {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::resource_links(::std::borrow::Borrow::<#types>::borrow(__v), __context),)*
                }
            }

            fn serialize_meta<__M: #krate::__private::serde::ser::SerializeMap>(
                &self,
                __map: &mut __M,
                __context: &#krate::Context<__A>,
            ) -> ::std::result::Result<(), __M::Error> {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::serialize_meta(::std::borrow::Borrow::<#types>::borrow(__v), __map, __context),)*
                }
            }

            fn has_attributes(
                &self,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<__A>,
            ) -> bool {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::has_attributes(::std::borrow::Borrow::<#types>::borrow(__v), __fields, __context),)*
                }
            }

            fn has_relationships(
                &self,
                __fields: ::std::option::Option<&[::std::string::String]>,
                __context: &#krate::Context<__A>,
            ) -> bool {
                match self {
                    #(Self::#names(__v) => #krate::Resource::<__A>::has_relationships(::std::borrow::Borrow::<#types>::borrow(__v), __fields, __context),)*
                }
            }
        }

        impl #krate::FromResourceObject for #ident {
            fn from_resource_object(
                __object: #krate::model::ResourceObject,
                __pointer: &str,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<#krate::model::ErrorObject>> {
                Self::from_included(__object, __pointer, &mut #krate::de::Included::none())
            }

            fn from_included(
                __object: #krate::model::ResourceObject,
                __pointer: &str,
                __included: &mut #krate::de::Included,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<#krate::model::ErrorObject>> {
                #(
                    if <#types as #krate::ResourceType>::accepts_type(&__object.type_name) {
                        return <#types as #krate::FromResourceObject>::from_included(__object, __pointer, __included)
                            .map(|__v| Self::#names(::std::convert::From::from(__v)));
                    }
                )*
                let mut __errors = ::std::vec::Vec::new();
                #krate::de::check_type(&__object.type_name, #type_name, __pointer, &mut __errors);
                Err(__errors)
            }

            fn merge_resource_object(
                self,
                __object: #krate::model::ResourceObject,
                __pointer: &str,
            ) -> ::std::result::Result<Self, ::std::vec::Vec<#krate::model::ErrorObject>> {
                match self {
                    #(
                        Self::#plain_names(__v) if <#plain_types as #krate::ResourceType>::accepts_type(&__object.type_name) => {
                            <#plain_types as #krate::FromResourceObject>::merge_resource_object(__v, __object, __pointer).map(Self::#plain_names)
                        }
                    )*
                    // A boxed variant, or another variant's type: read the object whole.
                    _ => Self::from_resource_object(__object, __pointer),
                }
            }
        }
    })
}

fn valid_member_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c as u32 >= 0x80;
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().next_back()) else {
        return false;
    };
    allowed(first)
        && allowed(last)
        && name
            .chars()
            .all(|c| allowed(c) || c == '-' || c == '_' || c == ' ')
}
