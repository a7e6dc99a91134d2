//! The impls of a polymorphic resource: an enum whose variants each wrap one resource type.
//! Every trait delegates to the variant; `type_of` is the variant's type, `accepts_type` any
//! variant's.

use proc_macro2::TokenStream as Tokens;
use quote::quote;

use super::krate;
use crate::parse::Polymorphic;

/// The variants' names and their resource types (with `Box`/`Arc`/`Rc` stripped; values are
/// reached with `Borrow`).
fn names_and_types<'a>(p: &'a Polymorphic<'_>) -> (Vec<&'a syn::Ident>, Vec<&'a syn::Type>) {
    let names = p.variants.iter().map(|(v, _, _)| v).collect();
    let types = p.variants.iter().map(|(_, t, _)| t).collect();
    (names, types)
}

/// Every impl of a polymorphic resource.
pub(crate) fn polymorphic(p: &Polymorphic<'_>) -> Tokens {
    let identity = identity(p);
    let resource = resource(p);
    let from_resource_object = from_resource_object(p);
    quote! {
            #identity

            #resource

            #from_resource_object
    }
}

/// `ResourceType` and `ResourceId`.
fn identity(p: &Polymorphic<'_>) -> Tokens {
    let ident = p.ident;
    let krate = krate();
    let type_name = &p.type_name;
    let (names, types) = names_and_types(p);
    quote! {
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
    }
}

/// `Resource<A>`, for every assigns type all variants' resources accept.
fn resource(p: &Polymorphic<'_>) -> Tokens {
    let ident = p.ident;
    let krate = krate();
    let (names, types) = names_and_types(p);
    let bounds = quote!(#(#types: #krate::Resource<__A>,)*);
    quote! {
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
    }
}

/// `FromResourceObject`: the variant whose type the object names; a merge into a boxed variant
/// or another variant's type reads the object whole.
fn from_resource_object(p: &Polymorphic<'_>) -> Tokens {
    let ident = p.ident;
    let krate = krate();
    let type_name = &p.type_name;
    let (names, types) = names_and_types(p);
    let plain_names: Vec<&syn::Ident> = p
        .variants
        .iter()
        .filter(|v| !v.2)
        .map(|(v, _, _)| v)
        .collect();
    let plain_types: Vec<&syn::Type> = p
        .variants
        .iter()
        .filter(|v| !v.2)
        .map(|(_, t, _)| t)
        .collect();
    quote! {
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
    }
}
