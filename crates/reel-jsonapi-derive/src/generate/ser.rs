//! The writing half of a struct's `Resource` impl: attributes, relationships, `included`,
//! links and `meta`.

use proc_macro2::TokenStream as Tokens;
use quote::quote;

use super::krate;
use crate::parse::{Field, Kind, Resource, Shape, shape_of};

/// `&& visible_if(self, context)` for a member with `visible_if`, nothing otherwise.
fn visibility(f: &Field, context: Tokens) -> Tokens {
    match &f.visible_if {
        Some(path) => quote!(&& (#path)(self, #context)),
        None => quote!(),
    }
}

/// The body of `serialize_attributes`: each selected, visible attribute, then each computed one.
pub(super) fn serialize_attributes(r: &Resource<'_>) -> Vec<Tokens> {
    let krate = krate();
    r.attributes()
        .map(|f| {
            let name = &f.name;
            let field = &f.ident;
            let visible = visibility(f, quote!(__context));
            quote! {
                if #krate::ser::selected(__fields, #name) #visible {
                    __map.serialize_entry(#name, &self.#field)?;
                }
            }
        })
        .chain(r.computed.iter().map(|c| {
            let name = &c.name;
            let with = &c.with;
            quote! {
                if #krate::ser::selected(__fields, #name) {
                    __map.serialize_entry(#name, &(#with)(self, __context))?;
                }
            }
        }))
        .collect()
}

/// The body of `serialize_relationships`: each selected, visible relationship with its linkage.
pub(super) fn serialize_relationships(r: &Resource<'_>) -> Vec<Tokens> {
    let krate = krate();
    let type_name = &r.type_name;
    r.fields
        .iter()
        .filter_map(|f| {
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
                (Some(t), Shape::Optional) => {
                    quote!(#krate::ser::ToOne(#t, self.#field.as_ref()))
                }
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
            let visible = visibility(f, quote!(__context));
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
        })
        .collect()
}

/// The body of `collect_included`: the related resources each requested include path names.
pub(super) fn collect_included(r: &Resource<'_>) -> Vec<Tokens> {
    r.fields
        .iter()
        .filter_map(|f| {
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
            let visible = visibility(f, quote!(__sink.context()));
            Some(quote! {
                if let Some(__sub) = __include.child(#name) #visible {
                    #add
                }
            })
        })
        .collect()
}

/// `has_attributes` (or, with `relationships`, `has_relationships`) when a member has
/// `visible_if`: whether any member is written then depends on the context, and the generated
/// check keeps an empty `attributes`/`relationships` object out of the document.
pub(super) fn has_members(r: &Resource<'_>, relationships: bool) -> Tokens {
    let krate = krate();
    let assigns = r.assigns();
    let members: Vec<&Field> = r
        .fields
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
        r.computed
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
}

/// `serialize_meta` for the resource object's `meta` (`#[jsonapi(meta)]`): an `Option` that is
/// `None` writes none.
pub(super) fn serialize_meta(r: &Resource<'_>) -> Tokens {
    let krate = krate();
    let assigns = r.assigns();
    let Some(f) = r.fields.iter().find(|f| matches!(f.kind, Kind::Meta)) else {
        return quote!();
    };
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

/// `resource_links` for the resource's own links (`link(name = .., with = ..)`); a `None`
/// leaves the link out.
pub(super) fn resource_links(r: &Resource<'_>) -> Tokens {
    if r.links.is_empty() {
        return quote!();
    }
    let krate = krate();
    let assigns = r.assigns();
    let count = r.links.len();
    let pushes = r.links.iter().map(|l| {
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
}
