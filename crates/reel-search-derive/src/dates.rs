//! Dates whose JSON the field's type alone does not tell: serde's `with` modules of `time` and
//! `chrono`, and `time` types without one.

use syn::{LitStr, Type, spanned::Spanned};

/// The `#[serde(with = "..")]` modules whose JSON reel knows (the date modules of `time` and
/// `chrono`): the module, the mapping of what it writes, and the type of the values typed
/// queries on the field take. `::option` variants and `serialize_with = "<module>::serialize"`
/// are recognised too.
const KNOWN_SERDE_WITH: &[(&str, &str, &str)] = &[
    (
        "time::serde::rfc3339",
        r#"{"type": "date", "format": "strict_date_optional_time"}"#,
        "::std::string::String",
    ),
    (
        "time::serde::timestamp",
        r#"{"type": "date", "format": "epoch_second||strict_date_optional_time"}"#,
        "i64",
    ),
    (
        "time::serde::timestamp::milliseconds",
        r#"{"type": "date", "format": "epoch_millis||strict_date_optional_time"}"#,
        "i64",
    ),
    (
        "time::serde::timestamp::milliseconds_i64",
        r#"{"type": "date", "format": "epoch_millis||strict_date_optional_time"}"#,
        "i64",
    ),
    (
        "chrono::serde::ts_seconds",
        r#"{"type": "date", "format": "epoch_second||strict_date_optional_time"}"#,
        "i64",
    ),
    (
        "chrono::serde::ts_seconds_option",
        r#"{"type": "date", "format": "epoch_second||strict_date_optional_time"}"#,
        "i64",
    ),
    (
        "chrono::serde::ts_milliseconds",
        r#"{"type": "date", "format": "epoch_millis||strict_date_optional_time"}"#,
        "i64",
    ),
    (
        "chrono::serde::ts_milliseconds_option",
        r#"{"type": "date", "format": "epoch_millis||strict_date_optional_time"}"#,
        "i64",
    ),
];

/// The mapping JSON a known `serde(with)` module calls for, and the scalar type typed
/// queries on the field take.
pub(crate) type WithMapping = (LitStr, Type);

/// The mapping and query value type of a field serde writes with a known `with` module, or an
/// error for one reel cannot know (the field's type alone would map JSON serde never writes:
/// `ts_seconds` read as epoch milliseconds lands in 1970). `None` without `with` or when the
/// field's type is given explicitly (`explicit_type`).
pub(crate) fn serde_with_mapping(
    with: Option<&LitStr>,
    explicit_type: bool,
) -> syn::Result<Option<WithMapping>> {
    let Some(with) = with else {
        return Ok(None);
    };
    if explicit_type {
        return Ok(None);
    }
    let path: String = with
        .value()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let path = path.trim_start_matches("::");
    let known = KNOWN_SERDE_WITH.iter().find(|(module, ..)| {
        path.strip_prefix(module).is_some_and(|rest| {
            ["", "::option", "::serialize", "::option::serialize"].contains(&rest)
        })
    });
    match known {
        Some((_, mapping, scalar)) => Ok(Some((
            LitStr::new(mapping, with.span()),
            syn::parse_str(scalar)?,
        ))),
        None => Err(syn::Error::new(
            with.span(),
            format!(
                "serde writes this field with `{path}`, so #[derive(Document)] cannot know the \
                 JSON the mapping must index; give the field's type: `#[search(type = \"..\")]` \
                 (with `format = \"..\"` for a date), `#[search(keyword)]` or \
                 `#[search(mapping = \"..\")]`. Known date modules: {}",
                KNOWN_SERDE_WITH
                    .iter()
                    .map(|(module, ..)| *module)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A `time` date or date-time without `#[serde(with = "..")]` is refused: serde writes it as a
/// tuple of integers (`[2023, 318, 22, 13, 20, 0, 0, 0, 0]`; the engine reads each as a
/// date, 2023-01-01 among them) or, with time's `serde-human-readable` feature, as a string
/// no search engine parses as a date. `written_as_told`: the field has `serde(with)` or a
/// whole `mapping`.
pub(crate) fn check_time_type(elem: &Type, written_as_told: bool) -> syn::Result<()> {
    if written_as_told {
        return Ok(());
    }
    let Type::Path(path) = elem else {
        return Ok(());
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let Some(last) = segments.last().map(String::as_str) else {
        return Ok(());
    };
    let in_time = segments.len() > 1 && segments.first().is_some_and(|s| s == "time");
    if !(["OffsetDateTime", "PrimitiveDateTime", "UtcDateTime"].contains(&last)
        || (in_time && ["Date", "Time", "UtcOffset"].contains(&last)))
    {
        return Ok(());
    }
    Err(syn::Error::new(
        elem.span(),
        format!(
            "serde writes a `time::{last}` as a tuple of integers (or, with time's \
             `serde-human-readable` feature, a string search engines do not parse as a date), \
             which the engine would index as wrong dates. Say how it is written: \
             `#[serde(with = \"time::serde::rfc3339\")]` (mapped as a `date`), \
             `time::serde::timestamp` (epoch seconds) or `time::serde::timestamp::milliseconds`, \
             or give your own `#[serde(with = \"..\")]` with `#[search(type = \"date\", format = \"..\")]`"
        ),
    ))
}
