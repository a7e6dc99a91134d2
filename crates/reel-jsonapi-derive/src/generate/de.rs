//! The reading half of a struct resource: `FromResourceObject` (requests, responses with
//! `included`, and merges into an existing value).

use proc_macro2::TokenStream as Tokens;
use quote::quote;

use super::krate;
use crate::parse::{Field, Kind, Resource, Shape};

/// What one field contributes to the generated readers.
#[derive(Default)]
struct FieldReader {
    /// Statements reading the field into its local (an `Option` when it can be missing).
    lets: Vec<Tokens>,
    /// Statements unwrapping that `Option` once no error was found.
    unwraps: Vec<Tokens>,
    /// Statements of `merge_resource_object` updating the field when the object has it.
    merges: Vec<Tokens>,
}

/// `let Some(local) = local else { return Err(errors) };`
fn unwrap(local: &syn::Ident) -> Tokens {
    quote!(let Some(#local) = #local else { return Err(__errors) };)
}

/// The reader of one field into `local`.
fn field_reader(f: &Field, local: &syn::Ident) -> FieldReader {
    let krate = krate();
    let field = &f.ident;
    let ty = &f.ty;
    let name = &f.name;
    let mut reader = FieldReader::default();
    match &f.kind {
        Kind::Id => {
            reader.lets.push(quote! {
                let #local: Option<#ty> = #krate::de::id(__object.id.as_deref(), __pointer, &mut __errors);
            });
            reader.unwraps.push(unwrap(local));
        }
        Kind::Skip => {
            reader
                .lets
                .push(quote!(let #local: #ty = ::std::default::Default::default();));
        }
        Kind::Meta => {
            reader.lets.push(quote! {
                let #local: Option<#ty> = #krate::de::resource_meta(__meta.take(), __pointer, &mut __errors);
            });
            reader.unwraps.push(unwrap(local));
            reader.merges.push(quote! {
                if __meta.is_some()
                    && let Some(__value) = #krate::de::resource_meta::<#ty>(__meta.take(), __pointer, &mut __errors)
                {
                    self.#field = __value;
                }
            });
        }
        Kind::Attribute => {
            reader.lets.push(quote! {
                let #local: Option<#ty> = #krate::de::attribute(&mut __attributes, #name, __pointer, &mut __errors);
            });
            reader.unwraps.push(unwrap(local));
            reader.merges.push(quote! {
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
            reader.lets.push(quote!(let #local: Option<#ty> = #call;));
            reader.unwraps.push(unwrap(local));
            reader.merges.push(quote! {
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
        } => related_reader(f, local, *shape, inner, &mut reader),
    }
    reader
}

/// A field holding related resources. Requests are read with `Included::none()`: the linkage
/// is checked and the field stays empty. Responses fill it from `included`.
fn related_reader(
    f: &Field,
    local: &syn::Ident,
    shape: Shape,
    inner: &syn::Type,
    reader: &mut FieldReader,
) {
    let krate = krate();
    let ty = &f.ty;
    let name = &f.name;
    let to_many = shape == Shape::Many;
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
    match shape {
        Shape::Optional => reader.lets.push(quote! {
            let #local: #ty = {
                let __ids = #check;
                __ids
                    .first()
                    .and_then(|__id| #krate::de::related::<#inner>(__included, __id, &mut __errors))
                    .map(::std::convert::From::from)
            };
        }),
        Shape::Many => reader.lets.push(quote! {
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
            reader.lets.push(quote! {
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
            reader.unwraps.push(unwrap(local));
        }
    }
    reader.merges.push(quote!(let _ = #check;));
}

/// `FromResourceObject`. A plain related resource cannot be filled from a request, which
/// carries linkage only: reading one from a request is a 422 at run time; a response fills it
/// from `included`.
pub(super) fn from_resource_object(r: &Resource<'_>, id_ty: &syn::Type) -> Tokens {
    let krate = krate();
    let ident = r.ident;
    let type_name = &r.type_name;
    let mut de_lets = Vec::new();
    let mut de_unwraps = Vec::new();
    let mut de_fields = Vec::new();
    let mut merges = Vec::new();
    for f in &r.fields {
        let field = &f.ident;
        // Locals get a prefix so a field named like one of the generated variables
        // (`errors`, `pointer`, ...) cannot shadow it.
        let local = quote::format_ident!("__field_{}", f.ident);
        let reader = field_reader(f, &local);
        de_lets.extend(reader.lets);
        de_unwraps.extend(reader.unwraps);
        merges.extend(reader.merges);
        de_fields.push(quote!(#field: #local));
    }
    quote! {
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
    }
}
