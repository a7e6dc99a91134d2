//! Writing the trait impls of `#[derive(Resource)]` from the checked model of [`crate::parse`].

mod de;
mod poly;
mod ser;

use proc_macro2::TokenStream as Tokens;
use quote::quote;

use crate::parse::{Field, Kind, Resource, Shape};

pub(crate) use poly::polymorphic;

/// The path generated code names the runtime crate by.
fn krate() -> Tokens {
    quote!(::reel_jsonapi)
}

impl Resource<'_> {
    /// The assigns type of the impls: `context = ..`, or the impl's generic `__A`.
    fn assigns(&self) -> Tokens {
        match &self.context {
            Some(ty) => quote!(#ty),
            None => quote!(__A),
        }
    }

    fn attributes(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| matches!(f.kind, Kind::Attribute))
    }
}

/// Every impl for a struct resource: `ResourceType`, `ResourceId`, `Resource` and
/// `FromResourceObject`.
pub(crate) fn resource(r: &Resource<'_>) -> syn::Result<Tokens> {
    let Some(id_field) = r.id_field() else {
        return Err(syn::Error::new_spanned(
            r.ident,
            "exactly one field must be marked #[jsonapi(id)]",
        ));
    };
    let ident = r.ident;
    let krate = krate();
    let id_ident = &id_field.ident;
    let resource_type = resource_type(r);
    let resource_impl = resource_impl(r, id_ident);
    let from_resource_object = de::from_resource_object(r, &id_field.ty);
    Ok(quote! {
        #resource_type

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

        #resource_impl

        #from_resource_object
    })
}

/// `ResourceType`: the type name and the member lists of its `ResourceMeta`.
fn resource_type(r: &Resource<'_>) -> Tokens {
    let ident = r.ident;
    let krate = krate();
    let type_name = &r.type_name;
    let attribute_names: Vec<&str> = r.attributes().map(|f| f.name.as_str()).collect();
    let sortable_attribute_names: Vec<&str> = r
        .attributes()
        .filter(|f| f.visible_if.is_none())
        .map(|f| f.name.as_str())
        .collect();
    let all_attribute_names: Vec<&str> = attribute_names
        .iter()
        .copied()
        .chain(r.computed.iter().map(|c| c.name.as_str()))
        .collect();
    let relationship_metas = r.fields.iter().filter_map(|f| {
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
    quote! {
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
    }
}

/// `Resource<A>`: writing the members and collecting `included`.
///
/// No where-clauses on related types: unconditional impls let mutually related resources
/// prove each other's impls without a cycle. A resource related to one with a specific
/// `context` must declare the same `context`.
fn resource_impl(r: &Resource<'_>, id_ident: &syn::Ident) -> Tokens {
    let ident = r.ident;
    let krate = krate();
    let assigns = r.assigns();
    let impl_generics = if r.context.is_some() {
        quote!()
    } else {
        quote!(<__A>)
    };
    let serialize_attributes = ser::serialize_attributes(r);
    let serialize_relationships = ser::serialize_relationships(r);
    let collect_included = ser::collect_included(r);
    let resource_links = ser::resource_links(r);
    let has_attributes = ser::has_members(r, false);
    let has_relationships = ser::has_members(r, true);
    let serialize_meta = ser::serialize_meta(r);
    quote! {
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
    }
}
