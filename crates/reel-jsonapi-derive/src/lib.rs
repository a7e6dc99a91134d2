#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use syn::{Data, DeriveInput, Fields, parse_macro_input};

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

mod generate;
mod parse;

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Resource)] does not support generic structs",
        ));
    }
    if let Data::Enum(data) = &input.data {
        return Ok(generate::polymorphic(&parse::parse_enum(input, data)?));
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
    generate::resource(&parse::parse_struct(input, named)?)
}
