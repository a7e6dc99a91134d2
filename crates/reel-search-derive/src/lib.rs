#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod dates;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{
    Data, DeriveInput, Expr, ExprLit, Fields, GenericArgument, Lit, LitStr, PathArguments, Type,
    parse_macro_input, spanned::Spanned,
};

/// Derives `reel_search::Document` (index name, settings, mappings, typed field paths) and,
/// when a field is marked `#[search(id)]`, `reel_search::Indexable` (serde body).
///
/// Container attributes (`#[search(...)]` on the struct):
/// - `index = "name"` — the index (alias) name; default: the type name in snake_case;
/// - `shards = 1`, `replicas = 0` — `number_of_shards` / `number_of_replicas`;
/// - `dynamic = "strict"` — `true`, `false`, `strict` or `runtime`;
/// - `analysis = "<json>"` — the `analysis` settings (analyzers, tokenizers, filters);
/// - `settings = "<json>"` — any other index settings.
///
/// serde's `rename_all` is followed.
///
/// Field attributes:
/// - `id` — the document `_id` (the field must implement `Display`);
/// - `keyword` or `type = "geo_point"` — the field type instead of the inferred one;
/// - `analyzer = ".."`, `search_analyzer = ".."`, `format = ".."`;
/// - `raw` — adds a `raw` keyword sub-field (and a `<field>_raw()` typed path);
/// - `index = false` — stored in `_source` but not searchable;
/// - `rename = ".."` — must equal the name serde writes (a mismatch does not compile: rename
///   with `#[serde(rename = "..")]`, which reel follows, including `rename(serialize = "..")`
///   and the container's `rename_all`); `#[serde(flatten)]` and a struct containing itself
///   as `object`/`nested` do not compile either;
/// - `skip` — not mapped (serde's `skip` / `skip_serializing` too);
/// - `object` / `nested` — the field's type (or element type) is itself a `Document`;
/// - `mapping = "<json>"` — the full mapping of the field.
#[proc_macro_derive(Document, attributes(search))]
pub fn derive_document(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

#[derive(Default)]
struct ContainerAttrs {
    index: Option<LitStr>,
    shards: Option<u32>,
    replicas: Option<u32>,
    dynamic: Option<LitStr>,
    analysis: Option<LitStr>,
    settings: Option<LitStr>,
    rename_all: Option<String>,
}

#[derive(Default)]
struct FieldAttrs {
    keyword: bool,
    ty: Option<LitStr>,
    analyzer: Option<LitStr>,
    search_analyzer: Option<LitStr>,
    raw: bool,
    index: Option<bool>,
    rename: Option<LitStr>,
    skip: bool,
    object: bool,
    nested: bool,
    id: bool,
    mapping: Option<LitStr>,
    format: Option<LitStr>,
    /// serde's serialized name (`rename = ".."` or `rename(serialize = "..")`).
    serde_rename: Option<LitStr>,
    /// Where `#[serde(flatten)]` was seen.
    flatten: Option<Span>,
    /// serde's `with = ".."` or `serialize_with = ".."`: the field is written by that code.
    serde_with: Option<LitStr>,
}

/// serde's `rename_all` rules the derive applies to field names.
const RENAME_RULES: &[&str] = &[
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

/// The serialized name of serde's `rename = ".."` or `rename(serialize = "..", ..)`.
fn serialize_name(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Option<LitStr>> {
    if meta.input.peek(syn::Token![=]) {
        return Ok(Some(meta.value()?.parse()?));
    }
    let mut name = None;
    if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| {
            if inner.path.is_ident("serialize") {
                name = Some(inner.value()?.parse::<LitStr>()?);
            } else if inner.input.peek(syn::Token![=]) {
                let _: Expr = inner.value()?.parse()?;
            }
            Ok(())
        })?;
    }
    Ok(name)
}

fn lit_str(expr: &Expr) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    }
}

fn lit_u32(expr: &Expr) -> syn::Result<u32> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse(),
        other => Err(syn::Error::new(other.span(), "expected an integer literal")),
    }
}

fn lit_bool(expr: &Expr) -> syn::Result<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        other => Err(syn::Error::new(other.span(), "expected `true` or `false`")),
    }
}

fn parse_container(input: &DeriveInput) -> syn::Result<ContainerAttrs> {
    let mut out = ContainerAttrs::default();
    for attr in &input.attrs {
        if attr.path().is_ident("serde") {
            // Follow serde's container renaming so mappings match the serialized documents.
            let mut rename_all: Option<LitStr> = None;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    rename_all = serialize_name(&meta)?.or(rename_all.take());
                } else if meta.input.peek(syn::Token![=]) {
                    let _: Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let _: TokenStream2 = content.parse()?;
                }
                Ok(())
            });
            if let Some(rule) = rename_all {
                if !RENAME_RULES.contains(&rule.value().as_str()) {
                    return Err(syn::Error::new(
                        rule.span(),
                        format!(
                            "#[derive(Document)] does not know serde's rename rule {:?}; use one of {}",
                            rule.value(),
                            RENAME_RULES.join(", ")
                        ),
                    ));
                }
                out.rename_all = Some(rule.value());
            }
            continue;
        }
        if !attr.path().is_ident("search") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let value: Expr = meta.value()?.parse()?;
            match key.as_str() {
                "index" => out.index = Some(lit_str(&value)?),
                "shards" => out.shards = Some(lit_u32(&value)?),
                "replicas" => out.replicas = Some(lit_u32(&value)?),
                "dynamic" => {
                    let s = lit_str(&value)?;
                    if !["true", "false", "strict", "runtime"].contains(&s.value().as_str()) {
                        return Err(syn::Error::new(
                            s.span(),
                            "`dynamic` is one of \"true\", \"false\", \"strict\", \"runtime\"",
                        ));
                    }
                    out.dynamic = Some(s);
                }
                "analysis" => out.analysis = Some(json_lit(&value)?),
                "settings" => out.settings = Some(json_lit(&value)?),
                _ => {
                    return Err(meta.error(
                        "unknown container attribute; expected one of index, shards, replicas, dynamic, analysis, settings",
                    ));
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// A string literal that must hold a JSON object (checked at compile time).
fn json_lit(expr: &Expr) -> syn::Result<LitStr> {
    let s = lit_str(expr)?;
    let text = s.value();
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}') && balanced(trimmed)) {
        return Err(syn::Error::new(
            s.span(),
            "expected a JSON object in a string",
        ));
    }
    Ok(s)
}

/// A cheap structural check (brackets balance outside strings); the full parse happens in the
/// generated code's unit tests and at index creation.
fn balanced(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && !in_string
}

fn parse_field(field: &syn::Field) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in &field.attrs {
        if attr.path().is_ident("serde") {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if let Some(name) = serialize_name(&meta)? {
                        out.serde_rename = Some(name);
                    }
                } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                    out.skip = true;
                } else if meta.path.is_ident("flatten") {
                    out.flatten = Some(meta.path.span());
                } else if meta.path.is_ident("with") || meta.path.is_ident("serialize_with") {
                    out.serde_with = Some(meta.value()?.parse()?);
                } else if meta.input.peek(syn::Token![=]) {
                    let _: Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let _: TokenStream2 = content.parse()?;
                }
                Ok(())
            });
            continue;
        }
        if !attr.path().is_ident("search") {
            continue;
        }
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let has_value = meta.input.peek(syn::Token![=]);
            let value = if has_value {
                Some(meta.value()?.parse::<Expr>()?)
            } else {
                None
            };
            let need = |v: &Option<Expr>| -> syn::Result<Expr> {
                v.clone()
                    .ok_or_else(|| meta.error(format!("`{key}` needs a value: `{key} = ...`")))
            };
            match key.as_str() {
                "keyword" => out.keyword = true,
                "raw" => out.raw = true,
                "skip" => out.skip = true,
                "object" => out.object = true,
                "nested" => out.nested = true,
                "id" => out.id = true,
                "type" => out.ty = Some(lit_str(&need(&value)?)?),
                "analyzer" => out.analyzer = Some(lit_str(&need(&value)?)?),
                "search_analyzer" => out.search_analyzer = Some(lit_str(&need(&value)?)?),
                "format" => out.format = Some(lit_str(&need(&value)?)?),
                "rename" => out.rename = Some(lit_str(&need(&value)?)?),
                "mapping" => out.mapping = Some(json_lit(&need(&value)?)?),
                "index" => {
                    out.index = Some(match &value {
                        Some(v) => lit_bool(v)?,
                        None => true,
                    })
                }
                _ => {
                    return Err(meta.error(
                        "unknown field attribute; expected one of keyword, type, analyzer, search_analyzer, raw, index, rename, skip, object, nested, id, mapping, format",
                    ));
                }
            }
            Ok(())
        })?;
    }
    if out.object && out.nested {
        return Err(syn::Error::new(
            field.span(),
            "a field is either `object` or `nested`, not both",
        ));
    }
    if out.keyword && out.ty.is_some() {
        return Err(syn::Error::new(
            field.span(),
            "`keyword` and `type` both set the field type; keep one",
        ));
    }
    Ok(out)
}

/// `Option<T>`, `Vec<T>`, `Box<T>`, `Arc<T>`, `[T; N]` and `&[T]` unwrapped to the element type.
/// Whether `ty` (an element type) is one the default mapping makes `text`.
fn is_string_type(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|last| {
            ["String", "str", "Cow"].contains(&last.ident.to_string().as_str())
        }),
        _ => false,
    }
}

fn element_type(ty: &Type) -> &Type {
    match ty {
        Type::Path(path) => {
            if let Some(last) = path.path.segments.last()
                && [
                    "Option", "Vec", "Box", "Arc", "Rc", "VecDeque", "HashSet", "BTreeSet",
                ]
                .contains(&last.ident.to_string().as_str())
                && let PathArguments::AngleBracketed(args) = &last.arguments
                && let Some(GenericArgument::Type(inner)) = args.args.first()
            {
                return element_type(inner);
            }
            ty
        }
        Type::Array(array) => element_type(&array.elem),
        Type::Slice(slice) => element_type(&slice.elem),
        Type::Reference(reference) => element_type(&reference.elem),
        Type::Paren(paren) => element_type(&paren.elem),
        Type::Group(group) => element_type(&group.elem),
        other => other,
    }
}

fn rename(name: &str, rule: Option<&str>) -> String {
    let words = split_words(name);
    match rule {
        Some("lowercase") => name.to_lowercase(),
        Some("UPPERCASE") => name.to_uppercase(),
        Some("camelCase") => words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.clone() } else { capitalize(w) })
            .collect(),
        Some("PascalCase") => words.iter().map(|w| capitalize(w)).collect(),
        Some("kebab-case") => words.join("-"),
        Some("SCREAMING_SNAKE_CASE") => words.join("_").to_uppercase(),
        Some("SCREAMING-KEBAB-CASE") => words.join("-").to_uppercase(),
        _ => name.to_owned(),
    }
}

fn split_words(name: &str) -> Vec<String> {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let krate = quote!(::reel_search);
    let name = &input.ident;
    let container = parse_container(input)?;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.span(),
            "#[derive(Document)] supports structs with named fields",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(
            input.span(),
            "#[derive(Document)] supports structs with named fields",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "#[derive(Document)] does not support generic structs",
        ));
    }

    let mut properties = Vec::new();
    let mut path_methods = Vec::new();
    let mut id_field = None;
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let attrs = parse_field(field)?;
        if attrs.id {
            if id_field.is_some() {
                return Err(syn::Error::new(
                    field.span(),
                    "only one field can be `#[search(id)]`",
                ));
            }
            id_field = Some(ident.clone());
        }
        if attrs.skip {
            continue;
        }
        let raw_ident = ident.to_string();
        let raw_ident = raw_ident.trim_start_matches("r#");
        // The name serde writes; the mapping must use exactly that name.
        let json_name = match &attrs.serde_rename {
            Some(lit) => lit.value(),
            None => rename(raw_ident, container.rename_all.as_deref()),
        };
        let with_mapping = check_field(name, field, &attrs, &json_name)?;
        properties.push(property(field, &attrs, &json_name, with_mapping.as_ref()));
        path_methods.extend(field_paths(
            field,
            ident,
            &attrs,
            &json_name,
            with_mapping.as_ref(),
        ));
    }

    let fields_struct = fields_struct(input, &path_methods);
    let document = document_impls(name, &container, &properties);
    let indexable = id_field.map(|id| {
        quote! {
            impl #krate::Indexable for #name {
                fn document_id(&self) -> ::std::string::String {
                    ::std::string::ToString::to_string(&self.#id)
                }
                fn document_body(&self) -> ::core::result::Result<#krate::__private::Value, #krate::__private::JsonError> {
                    #krate::__private::to_value(self)
                }
                fn write_document_body(&self, out: &mut ::std::vec::Vec<u8>) -> ::core::result::Result<(), #krate::__private::JsonError> {
                    #krate::__private::to_writer(out, self)
                }
            }
        }
    });
    Ok(quote! {
        #fields_struct

        #document

        #indexable
    })
}

/// Refuses a field the mapping would get wrong: a `rename` serde does not follow, a
/// `#[serde(flatten)]` field, a document containing itself as `object`/`nested`.
fn check_field(
    name: &syn::Ident,
    field: &syn::Field,
    attrs: &FieldAttrs,
    json_name: &str,
) -> syn::Result<Option<dates::WithMapping>> {
    if let Some(lit) = &attrs.rename
        && lit.value() != json_name
    {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`#[search(rename = {:?})]` would map a field serde writes as {json_name:?}, \
                 so documents would not match the mapping; rename it for serde instead: \
                 `#[serde(rename = {:?})]` (reel follows it)",
                lit.value(),
                lit.value()
            ),
        ));
    }
    if let Some(span) = attrs.flatten {
        return Err(syn::Error::new(
            span,
            "#[derive(Document)] cannot map `#[serde(flatten)]` fields: their keys are only \
             known at run time. Declare the fields in this struct, or mark the field \
             `#[search(skip)]` and map it with `dynamic` or `mapping`",
        ));
    }
    let elem = element_type(&field.ty);
    let explicit = attrs.keyword
        || attrs.ty.is_some()
        || attrs.mapping.is_some()
        || attrs.object
        || attrs.nested;
    dates::check_time_type(elem, attrs.serde_with.is_some() || attrs.mapping.is_some())?;
    let with_mapping = dates::serde_with_mapping(attrs.serde_with.as_ref(), explicit)?;
    if (attrs.object || attrs.nested)
        && let Type::Path(path) = elem
        && path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == *name || last.ident == "Self")
    {
        return Err(syn::Error::new(
            field.ty.span(),
            "a document cannot contain itself as an `object` or `nested` field: its mapping \
             would be infinite. Store the children by id, or give the field an explicit \
             `#[search(mapping = \"..\")]` of bounded depth",
        ));
    }
    Ok(with_mapping)
}

/// The statement of `properties()` inserting one field's mapping.
fn property(
    field: &syn::Field,
    attrs: &FieldAttrs,
    json_name: &str,
    with_mapping: Option<&dates::WithMapping>,
) -> TokenStream2 {
    let krate = quote!(::reel_search);
    let ty = &field.ty;
    let elem = element_type(ty);
    let base = if let Some(mapping) = &attrs.mapping {
        quote!(#krate::__private::parse_object(#mapping))
    } else if attrs.object || attrs.nested {
        let kind = if attrs.nested { "nested" } else { "object" };
        quote!({
            let mut m = #krate::__private::Map::new();
            m.insert("type".into(), #krate::__private::Value::from(#kind));
            m.insert(
                "properties".into(),
                #krate::__private::Value::Object(<#elem as #krate::Document>::properties()),
            );
            m
        })
    } else if let Some((json, _)) = with_mapping {
        quote!(#krate::__private::parse_object(#json))
    } else if attrs.keyword {
        quote!(#krate::__private::type_only("keyword"))
    } else if let Some(ty_lit) = &attrs.ty {
        quote!(#krate::__private::type_only(#ty_lit))
    } else {
        quote!(#krate::__private::object_of(<#ty as #krate::FieldMapping>::field_mapping()))
    };
    let mut tweaks = Vec::new();
    if let Some(a) = &attrs.analyzer {
        tweaks.push(quote!(m.insert("analyzer".into(), #krate::__private::Value::from(#a));));
    }
    if let Some(a) = &attrs.search_analyzer {
        tweaks
            .push(quote!(m.insert("search_analyzer".into(), #krate::__private::Value::from(#a));));
    }
    if let Some(f) = &attrs.format {
        tweaks.push(quote!(m.insert("format".into(), #krate::__private::Value::from(#f));));
    }
    if let Some(index) = attrs.index {
        tweaks.push(quote!(m.insert("index".into(), #krate::__private::Value::Bool(#index));));
    }
    if attrs.raw {
        tweaks.push(quote!(#krate::__private::add_raw_keyword(&mut m);));
    }
    quote! {
        {
            #[allow(unused_mut)]
            let mut m = #base;
            #(#tweaks)*
            props.insert(#json_name.into(), #krate::__private::Value::Object(m));
        }
    }
}

/// The typed path methods of one field: its sub-document's fields (`object`/`nested`), or a
/// `Field` (and, with `raw`, one for the keyword sub-field).
fn field_paths(
    field: &syn::Field,
    ident: &syn::Ident,
    attrs: &FieldAttrs,
    json_name: &str,
    with_mapping: Option<&dates::WithMapping>,
) -> Vec<TokenStream2> {
    let krate = quote!(::reel_search);
    let ty = &field.ty;
    let elem = element_type(ty);
    let doc = LitStr::new(&format!("The path of `{json_name}`."), Span::call_site());
    if attrs.object || attrs.nested {
        return vec![quote! {
            #[doc = #doc]
            pub fn #ident(&self) -> <#elem as #krate::Document>::Fields {
                <<#elem as #krate::Document>::Fields as #krate::FieldSet>::with_prefix(
                    #krate::__private::field_path(&self.prefix, #json_name),
                )
            }
        }];
    }
    // With an explicit type the Rust type need not implement `FieldMapping` (an enum
    // stored as a keyword): the path is typed by the element type itself.
    let scalar = if let Some((_, scalar)) = with_mapping {
        quote!(#scalar)
    } else if attrs.keyword || attrs.ty.is_some() || attrs.mapping.is_some() {
        quote!(#elem)
    } else {
        quote!(<#ty as #krate::FieldMapping>::Scalar)
    };
    // An analysed text field: `term` on it does not compile (it would never match).
    let text = attrs.ty.as_ref().is_some_and(|t| t.value() == "text")
        || (!attrs.keyword
            && attrs.ty.is_none()
            && attrs.mapping.is_none()
            && is_string_type(elem));
    let kind = if text {
        quote!(#krate::Text)
    } else {
        quote!(#krate::Exact)
    };
    let mut methods = vec![quote! {
        #[doc = #doc]
        pub fn #ident(&self) -> #krate::Field<#scalar, #kind> {
            #krate::Field::new(#krate::__private::field_path(&self.prefix, #json_name))
        }
    }];
    if attrs.raw {
        let raw_ident = format_ident!("{}_raw", ident);
        let raw_doc = LitStr::new(
            &format!("The path of the keyword sub-field `{json_name}.raw`."),
            Span::call_site(),
        );
        methods.push(quote! {
            #[doc = #raw_doc]
            pub fn #raw_ident(&self) -> #krate::Field<#scalar> {
                #krate::Field::new(#krate::__private::field_path(&self.prefix, concat!(#json_name, ".raw")))
            }
        });
    }
    methods
}

/// The `<Name>Fields` struct of typed field paths and its `FieldSet` impl.
fn fields_struct(input: &DeriveInput, path_methods: &[TokenStream2]) -> TokenStream2 {
    let krate = quote!(::reel_search);
    let name = &input.ident;
    let vis = &input.vis;
    let fields_struct = format_ident!("{}Fields", name);
    let fields_doc = LitStr::new(
        &format!("Typed field paths of [`{name}`], generated by `#[derive(Document)]`."),
        Span::call_site(),
    );
    quote! {
        #[doc = #fields_doc]
        #[derive(Debug, Clone, Default)]
        #vis struct #fields_struct {
            prefix: ::std::string::String,
        }

        impl #fields_struct {
            #(#path_methods)*
        }

        impl #krate::FieldSet for #fields_struct {
            fn with_prefix(prefix: ::std::string::String) -> Self {
                Self { prefix }
            }
            fn prefix(&self) -> &str {
                &self.prefix
            }
        }
    }
}

/// `Some(value)` or `None` as a `core::option::Option` expression.
fn option(value: Option<TokenStream2>) -> TokenStream2 {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// `Document` (index name, settings, properties) and `FieldMapping` (as an `object`).
fn document_impls(
    name: &syn::Ident,
    container: &ContainerAttrs,
    properties: &[TokenStream2],
) -> TokenStream2 {
    let krate = quote!(::reel_search);
    let fields_struct = format_ident!("{}Fields", name);
    let index_name = container
        .index
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| snake_case(&name.to_string()));
    let shards = option(container.shards.map(|n| quote!(#n)));
    let replicas = option(container.replicas.map(|n| quote!(#n)));
    let dynamic = option(container.dynamic.as_ref().map(|d| quote!(#d)));
    let analysis = option(container.analysis.as_ref().map(|a| quote!(#a)));
    let extra = option(container.settings.as_ref().map(|a| quote!(#a)));
    quote! {
        impl #krate::Document for #name {
            type Fields = #fields_struct;
            const INDEX: &'static str = #index_name;

            fn properties() -> #krate::__private::Map {
                let mut props = #krate::__private::Map::new();
                #(#properties)*
                props
            }

            fn definition() -> #krate::IndexDefinition {
                #krate::IndexDefinition::__from_derive(
                    #index_name,
                    #shards,
                    #replicas,
                    #dynamic,
                    #analysis,
                    #extra,
                    <Self as #krate::Document>::properties(),
                )
            }
        }

        impl #krate::FieldMapping for #name {
            type Scalar = #name;
            fn field_mapping() -> #krate::__private::Value {
                let mut m = #krate::__private::Map::new();
                m.insert("type".into(), #krate::__private::Value::from("object"));
                m.insert(
                    "properties".into(),
                    #krate::__private::Value::Object(<Self as #krate::Document>::properties()),
                );
                #krate::__private::Value::Object(m)
            }
        }
    }
}
