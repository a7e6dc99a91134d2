//! Query parameters: `include`, `fields[TYPE]`, `sort`, `page[...]` and `filter[...]`, parsed and
//! validated against what a resource allows. Errors carry `source.parameter`.

use std::collections::BTreeMap;

use crate::model::{ErrorDocument, ErrorObject};
use crate::resource::{IncludeTree, ResourceMeta, ResourceType};
use crate::ser::{Fieldsets, Page};

/// What an endpoint accepts in its query string.
#[derive(Debug, Clone)]
pub struct QueryRules {
    meta: &'static ResourceMeta,
    sort: Vec<String>,
    filters: Vec<String>,
    page: Vec<String>,
    max_page_size: Option<u64>,
}

impl QueryRules {
    /// Rules for a collection of `R`: includes and fieldsets from its declared relationships,
    /// sorting by its stored, always-visible attributes (never a computed or `visible_if` one,
    /// whose order would leak what is hidden), `page[number]`/`page[size]`, no filters.
    pub fn for_resource<R: ResourceType>() -> Self {
        let meta = R::meta();
        Self {
            meta,
            sort: meta
                .sortable_attributes
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            filters: Vec::new(),
            page: vec!["number".into(), "size".into()],
            max_page_size: None,
        }
    }

    /// The resource type these rules are for.
    pub fn resource_type(&self) -> &'static str {
        self.meta.type_name
    }

    /// The fields that may appear in `sort`.
    pub fn sort(mut self, fields: &[&str]) -> Self {
        self.sort = fields.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// The names allowed in `filter[NAME]`.
    pub fn filters(mut self, names: &[&str]) -> Self {
        self.filters = names.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// The keys allowed in `page[KEY]` (for example `offset`, `limit`, or `size`, `after`,
    /// `before`).
    pub fn page(mut self, keys: &[&str]) -> Self {
        self.page = keys.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    /// The largest `page[size]`/`page[limit]` accepted.
    pub fn max_page_size(mut self, max: u64) -> Self {
        self.max_page_size = Some(max);
        self
    }
}

/// One `sort` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortField {
    /// The field name.
    pub field: String,
    /// `true` for `-field`.
    pub descending: bool,
}

/// A parsed, validated query string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// `include`.
    pub include: IncludeTree,
    /// `fields[TYPE]`.
    pub fields: Fieldsets,
    /// `sort`, in order.
    pub sort: Vec<SortField>,
    /// `page[KEY]` values.
    pub page: BTreeMap<String, String>,
    /// `filter[NAME]` values.
    pub filter: BTreeMap<String, String>,
    /// Implementation-specific parameters (names with a character outside `a-z`).
    pub other: Vec<(String, String)>,
}

fn bad(parameter: &str, title: &str, detail: String) -> ErrorObject {
    ErrorObject::new(400, title)
        .with_detail(detail)
        .with_parameter(parameter)
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn family(name: &str) -> (&str, Option<&str>) {
    if let Some(open) = name.find('[')
        && let Some(inner) = name[open + 1..].strip_suffix(']')
    {
        return (&name[..open], Some(inner));
    }
    (name, None)
}

impl Query {
    /// Parses the raw query string (without `?`) and validates it against `rules`.
    ///
    /// ```
    /// use reel_jsonapi::{query::{Query, QueryRules}, Resource};
    /// #[derive(Resource)]
    /// #[jsonapi(type = "people")]
    /// struct Person { #[jsonapi(id)] id: u32, name: String, age: u8 }
    /// let rules = QueryRules::for_resource::<Person>().filters(&["name"]);
    /// let query = Query::parse("sort=-age,name&fields[people]=name&filter[name]=Ada&page[size]=10", &rules).unwrap();
    /// assert!(query.sort[0].descending);
    /// assert_eq!(query.page_number("size").unwrap(), Some(10));
    /// let error = Query::parse("sort=height", &rules).unwrap_err();
    /// assert_eq!(error.errors[0].parameter(), Some("sort"));
    /// ```
    pub fn parse(raw: &str, rules: &QueryRules) -> Result<Self, ErrorDocument> {
        let mut query = Query::default();
        let mut errors = Vec::new();
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name);
            let value = percent_decode(value);
            let (base, key) = family(&name);
            match (base, key) {
                ("include", None) => match IncludeTree::parse(&value, rules.meta) {
                    Ok(tree) => query.include = tree,
                    Err(error) => errors.push(error),
                },
                ("fields", Some(type_name)) => {
                    let reachable = rules.meta.reachable();
                    let Some(meta) = reachable.iter().find(|m| m.type_name == type_name) else {
                        errors.push(bad(
                            &name,
                            "Unknown resource type",
                            format!("`{type_name}` is not a type this endpoint returns"),
                        ));
                        continue;
                    };
                    let fields: Vec<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect();
                    for field in &fields {
                        if !meta.has_field(field) {
                            errors.push(bad(
                                &name,
                                "Unknown field",
                                format!("`{type_name}` has no field `{field}`"),
                            ));
                        }
                    }
                    query.fields.insert(type_name.to_owned(), fields);
                }
                ("sort", None) => {
                    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let (field, descending) = match item.strip_prefix('-') {
                            Some(field) => (field, true),
                            None => (item, false),
                        };
                        if rules.sort.iter().any(|s| s == field) {
                            query.sort.push(SortField {
                                field: field.to_owned(),
                                descending,
                            });
                        } else {
                            errors.push(bad(
                                "sort",
                                "Unsupported sort field",
                                format!(
                                    "cannot sort by `{field}`; allowed: {}",
                                    rules.sort.join(", ")
                                ),
                            ));
                        }
                    }
                }
                ("page", Some(key)) => {
                    if !rules.page.iter().any(|p| p == key) {
                        errors.push(bad(
                            &name,
                            "Unsupported page parameter",
                            format!("allowed page parameters: {}", rules.page.join(", ")),
                        ));
                        continue;
                    }
                    if matches!(key, "size" | "limit")
                        && let Some(max) = rules.max_page_size
                    {
                        match value.parse::<u64>() {
                            Ok(size) if size <= max && size > 0 => {}
                            _ => {
                                errors.push(bad(
                                    &name,
                                    "Invalid page size",
                                    format!("must be a number from 1 to {max}"),
                                ));
                                continue;
                            }
                        }
                    }
                    query.page.insert(key.to_owned(), value);
                }
                ("filter", Some(key)) => {
                    if rules.filters.iter().any(|f| f == key) {
                        query.filter.insert(key.to_owned(), value);
                    } else {
                        errors.push(bad(
                            &name,
                            "Unsupported filter",
                            format!("cannot filter by `{key}`"),
                        ));
                    }
                }
                _ if base.chars().all(|c| c.is_ascii_lowercase()) => {
                    errors.push(bad(
                        &name,
                        "Unsupported query parameter",
                        format!(
                            "`{name}` is not supported (names of only a-z are reserved by JSON:API)"
                        ),
                    ));
                }
                _ => query.other.push((name.clone(), value)),
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ErrorDocument::new(errors))
        }
    }

    /// `page[key]` as a number; an error (with `source.parameter`) if it is not one.
    pub fn page_number(&self, key: &str) -> Result<Option<u64>, ErrorObject> {
        match self.page.get(key) {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| {
                bad(
                    &format!("page[{key}]"),
                    "Invalid page parameter",
                    format!("`{raw}` is not a non-negative integer"),
                )
            }),
        }
    }

    /// A [`Page::Number`] from `page[number]` (default 1) and `page[size]` (default
    /// `default_size`), with the total count once known.
    pub fn number_page(&self, default_size: u64, total: Option<u64>) -> Result<Page, ErrorObject> {
        Ok(Page::Number {
            number: self.page_number("number")?.unwrap_or(1).max(1),
            size: self.page_number("size")?.unwrap_or(default_size).max(1),
            total,
        })
    }
}
