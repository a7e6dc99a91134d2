//! Reading `#[derive(Resource)]` input: the `jsonapi` attributes of a struct and its fields (or
//! of a polymorphic enum) into a checked model the generator writes code from.

use syn::meta::ParseNestedMeta;
use syn::{DeriveInput, Fields, LitStr, Path, Type};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Case {
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
pub(crate) struct NamedFn {
    pub(crate) name: String,
    pub(crate) with: Path,
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Shape {
    One,
    Optional,
    Many,
}

pub(crate) enum Kind {
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

pub(crate) struct Field {
    pub(crate) ident: syn::Ident,
    pub(crate) ty: Type,
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) visible_if: Option<Path>,
}

/// A struct resource, checked: one id field, at most one meta field, unique member names.
pub(crate) struct Resource<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) type_name: String,
    /// The assigns type of `context = ..`; without it the impl is generic over it.
    pub(crate) context: Option<Type>,
    pub(crate) computed: Vec<NamedFn>,
    pub(crate) links: Vec<NamedFn>,
    pub(crate) fields: Vec<Field>,
}

impl Resource<'_> {
    /// The id field (the model guarantees exactly one).
    pub(crate) fn id_field(&self) -> Option<&Field> {
        self.fields.iter().find(|f| matches!(f.kind, Kind::Id))
    }
}

/// A polymorphic resource: an enum whose variants each wrap one resource.
pub(crate) struct Polymorphic<'a> {
    pub(crate) ident: &'a syn::Ident,
    pub(crate) type_name: String,
    /// Each variant, its resource type with `Box`/`Arc`/`Rc` stripped, and whether it was.
    pub(crate) variants: Vec<(syn::Ident, Type, bool)>,
}

pub(crate) fn shape_of(ty: &Type) -> (Shape, Type) {
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

/// The struct-level `jsonapi` attributes.
#[derive(Default)]
struct StructAttrs {
    type_name: Option<String>,
    case: Option<Case>,
    context: Option<Type>,
    computed: Vec<NamedFn>,
    links: Vec<NamedFn>,
}

fn parse_case(lit: &LitStr) -> syn::Result<Case> {
    Ok(match lit.value().as_str() {
        "as-is" => Case::AsIs,
        "camelCase" => Case::Camel,
        "kebab-case" => Case::Kebab,
        "snake_case" => Case::Snake,
        other => {
            return Err(syn::Error::new_spanned(
                lit,
                format!(
                    "unknown rename_all `{other}`; use as-is, camelCase, kebab-case or snake_case"
                ),
            ));
        }
    })
}

/// `computed(name = "..", with = path)` or `link(name = "..", with = path)`.
fn parse_named_fn(meta: &ParseNestedMeta<'_>, what: &str) -> syn::Result<(LitStr, Path)> {
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
        return Err(meta.error(format!("{what} needs `name = \"..\"` and `with = path`")));
    };
    Ok((name, with))
}

fn check_member_name(name: &LitStr) -> syn::Result<String> {
    let value = name.value();
    if !valid_member_name(&value) {
        return Err(syn::Error::new_spanned(
            name,
            format!("`{value}` is not a valid JSON:API member name"),
        ));
    }
    Ok(value)
}

impl StructAttrs {
    fn parse(input: &DeriveInput) -> syn::Result<Self> {
        let mut attrs = StructAttrs::default();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("jsonapi")) {
            attr.parse_nested_meta(|meta| attrs.parse_one(&meta))?;
        }
        Ok(attrs)
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        if meta.path.is_ident("type") {
            self.type_name = Some(meta.value()?.parse::<LitStr>()?.value());
        } else if meta.path.is_ident("rename_all") {
            self.case = Some(parse_case(&meta.value()?.parse::<LitStr>()?)?);
        } else if meta.path.is_ident("context") {
            self.context = Some(meta.value()?.parse::<Type>()?);
        } else if meta.path.is_ident("computed") {
            let (name, with) = parse_named_fn(meta, "computed")?;
            let value = check_member_name(&name)?;
            if matches!(value.as_str(), "id" | "type" | "links" | "relationships") {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!("`{value}` is reserved by JSON:API and cannot be a field name"),
                ));
            }
            self.computed.push(NamedFn { name: value, with });
        } else if meta.path.is_ident("link") {
            let (name, with) = parse_named_fn(meta, "link")?;
            let value = check_member_name(&name)?;
            if value == "self" {
                return Err(syn::Error::new_spanned(
                    &name,
                    "`self` is written from the context's base URL; give this link another name",
                ));
            }
            if self.links.iter().any(|l| l.name == value) {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!("link `{value}` is declared twice"),
                ));
            }
            self.links.push(NamedFn { name: value, with });
        } else {
            return Err(meta.error(
                "expected `type`, `rename_all`, `context`, `computed(...)` or `link(...)`",
            ));
        }
        Ok(())
    }
}

/// The field-level `jsonapi` attributes.
#[derive(Default)]
struct FieldAttrs {
    is_id: bool,
    is_meta: bool,
    skip: bool,
    relationship: bool,
    id_type: Option<String>,
    rename: Option<String>,
    visible_if: Option<Path>,
}

impl FieldAttrs {
    fn parse(field: &syn::Field) -> syn::Result<Self> {
        let mut attrs = FieldAttrs::default();
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("jsonapi")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("id") {
                    attrs.is_id = true;
                } else if meta.path.is_ident("skip") {
                    attrs.skip = true;
                } else if meta.path.is_ident("meta") {
                    attrs.is_meta = true;
                } else if meta.path.is_ident("relationship") {
                    attrs.relationship = true;
                } else if meta.path.is_ident("type") {
                    attrs.id_type = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("rename") {
                    attrs.rename = Some(meta.value()?.parse::<LitStr>()?.value());
                } else if meta.path.is_ident("visible_if") {
                    attrs.visible_if = Some(meta.value()?.parse::<Path>()?);
                } else {
                    return Err(meta.error(
                        "expected `id`, `meta`, `skip`, `relationship`, `type`, `rename` or `visible_if`",
                    ));
                }
                Ok(())
            })?;
        }
        Ok(attrs)
    }
}

/// One named field with its attributes, named by `case` unless renamed.
fn parse_field(field: &syn::Field, ident: syn::Ident, case: Case) -> syn::Result<Field> {
    let attrs = FieldAttrs::parse(field)?;
    let rust_name = ident.to_string();
    let rust_name = rust_name
        .strip_prefix("r#")
        .unwrap_or(&rust_name)
        .to_owned();
    let name = attrs.rename.unwrap_or_else(|| case.apply(&rust_name));
    let kind = if attrs.is_id {
        Kind::Id
    } else if attrs.is_meta {
        Kind::Meta
    } else if attrs.skip {
        Kind::Skip
    } else if attrs.relationship {
        let (shape, inner) = shape_of(&field.ty);
        let inner = if attrs.id_type.is_some() {
            inner
        } else {
            unbox(&inner)
        };
        Kind::Relationship {
            id_type: attrs.id_type,
            shape,
            inner: Box::new(inner),
        }
    } else {
        if attrs.id_type.is_some() {
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
    Ok(Field {
        ident,
        ty: field.ty.clone(),
        name,
        kind,
        visible_if: attrs.visible_if,
    })
}

/// One id field, at most one meta field, and no member name twice.
fn check_fields(ident: &syn::Ident, fields: &[Field], computed: &[NamedFn]) -> syn::Result<()> {
    if fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Meta))
        .count()
        > 1
    {
        return Err(syn::Error::new_spanned(
            ident,
            "at most one field may be marked #[jsonapi(meta)]",
        ));
    }
    if fields.iter().filter(|f| matches!(f.kind, Kind::Id)).count() != 1 {
        return Err(syn::Error::new_spanned(
            ident,
            "exactly one field must be marked #[jsonapi(id)]",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for name in fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Attribute | Kind::Relationship { .. }))
        .map(|f| f.name.clone())
        .chain(computed.iter().map(|c| c.name.clone()))
    {
        if !seen.insert(name.clone()) {
            return Err(syn::Error::new_spanned(
                ident,
                format!("field name `{name}` is used twice"),
            ));
        }
    }
    Ok(())
}

/// Reads a struct with named fields into a checked [`Resource`].
pub(crate) fn parse_struct<'a>(
    input: &'a DeriveInput,
    named: &syn::FieldsNamed,
) -> syn::Result<Resource<'a>> {
    let attrs = StructAttrs::parse(input)?;
    let Some(type_name) = attrs.type_name else {
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
    let case = attrs.case.unwrap_or(Case::AsIs);
    let mut fields = Vec::new();
    for field in &named.named {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        fields.push(parse_field(field, ident, case)?);
    }
    check_fields(&input.ident, &fields, &attrs.computed)?;
    Ok(Resource {
        ident: &input.ident,
        type_name,
        context: attrs.context,
        computed: attrs.computed,
        links: attrs.links,
        fields,
    })
}

/// Reads an enum whose variants each wrap one resource into a [`Polymorphic`].
pub(crate) fn parse_enum<'a>(
    input: &'a DeriveInput,
    data: &syn::DataEnum,
) -> syn::Result<Polymorphic<'a>> {
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
    Ok(Polymorphic {
        ident: &input.ident,
        type_name,
        variants,
    })
}

pub(crate) fn valid_member_name(name: &str) -> bool {
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
