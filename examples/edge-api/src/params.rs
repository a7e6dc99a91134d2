//! The query string of each route, checked by JSON:API 1.1's rules.

use axum::http::Uri;
use reel_jsonapi::query::{Query, QueryRules, percent_decode};
use reel_jsonapi::{ErrorDocument, ErrorObject, ResourceType};

/// The query string without its `page[...]` parameters, for pagination links.
pub(crate) fn without_page(raw: &str) -> String {
    let kept: Vec<&str> = raw
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && !percent_decode(name).starts_with("page[")
        })
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// What a route does with the query string besides `include` and `fields[TYPE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A collection: `sort` and `page[number]`/`page[size]` apply too.
    Collection,
    /// One resource (or a write answering with one): `sort` and `page[...]` are refused.
    Single,
    /// A relationship's linkage: no query parameter applies.
    Linkage,
}

/// Parses and checks the query string of a route returning `R` by JSON:API 1.1's rules:
/// every parameter this API does not act on is a 400 naming it in `source.parameter`, so that
/// none is silently ignored (including implementation-specific names such as `fooBar`).
pub(crate) fn checked_query<R: ResourceType>(
    uri: &Uri,
    rules: Option<&QueryRules>,
    shape: Shape,
) -> Result<Query, ErrorDocument> {
    let raw = uri.query().unwrap_or_default();
    let mut errors = Vec::new();
    let mut kept = Vec::new();
    for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
        let name = percent_decode(pair.split('=').next().unwrap_or_default());
        let base = name.split('[').next().unwrap_or_default();
        let refused = match (shape, base) {
            (Shape::Linkage, _) => Some("a relationship's linkage takes no query parameters"),
            (Shape::Single, "sort") => {
                Some("`sort` applies to collections; this endpoint returns one resource")
            }
            (Shape::Single, "page") => {
                Some("`page[...]` applies to collections; this endpoint returns one resource")
            }
            (_, "filter") => Some("this API has no filters; use /v2/search?q= to find assets"),
            _ => None,
        };
        match refused {
            Some(detail) => errors.push(
                ErrorObject::new(400, "Unsupported query parameter")
                    .with_detail(detail)
                    .with_parameter(name),
            ),
            None => kept.push(pair),
        }
    }
    let default_rules;
    let rules = match rules.filter(|rules| rules.resource_type() == R::TYPE) {
        Some(rules) => rules,
        None => {
            default_rules = QueryRules::for_resource::<R>();
            &default_rules
        }
    };
    let query = match Query::parse(&kept.join("&"), rules) {
        Ok(query) => Some(query),
        Err(document) => {
            errors.extend(document.errors);
            None
        }
    };
    if let Some(query) = &query {
        for (name, _) in &query.other {
            errors.push(
                ErrorObject::new(400, "Unsupported query parameter")
                    .with_detail(format!("this API does not support `{name}`"))
                    .with_parameter(name.clone()),
            );
        }
        if let Some(number) = query.page.get("number")
            && number.parse::<u64>().is_ok_and(|n| n == 0)
        {
            errors.push(
                ErrorObject::new(400, "Invalid page number")
                    .with_detail("pages are numbered from 1")
                    .with_parameter("page[number]"),
            );
        }
        for key in ["number", "size"] {
            if let Err(error) = query.page_number(key) {
                errors.push(error);
            }
        }
    }
    match query {
        Some(query) if errors.is_empty() => Ok(query),
        _ => Err(ErrorDocument::new(errors)),
    }
}
