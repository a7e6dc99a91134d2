//! Query parameters: `include`, `fields[TYPE]`, `sort`, `page[...]` and `filter[...]`, parsed and
//! validated against what a resource allows. Errors carry `source.parameter`.

use std::collections::BTreeMap;

use crate::model::{ErrorDocument, ErrorObject};
use crate::resource::{IncludeTree, ResourceMeta, ResourceType};
use crate::ser::{Fieldsets, Page};

/// The largest `page[size]`/`page[limit]` [`QueryRules`] accept unless told otherwise.
pub const DEFAULT_MAX_PAGE_SIZE: u64 = 100;

/// The deepest `include` path (in relationships) [`QueryRules`] accept unless told otherwise.
pub const DEFAULT_MAX_INCLUDE_DEPTH: usize = 3;

/// What an endpoint accepts in its query string.
#[derive(Debug, Clone)]
pub struct QueryRules {
    meta: &'static ResourceMeta,
    sort: Vec<String>,
    filters: Vec<String>,
    page: Vec<String>,
    max_page_size: u64,
    max_include_depth: usize,
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
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            max_include_depth: DEFAULT_MAX_INCLUDE_DEPTH,
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

    /// The largest `page[size]`/`page[limit]` accepted (default [`DEFAULT_MAX_PAGE_SIZE`]);
    /// a larger value, `0` or a non-number is a 400 naming the parameter.
    pub fn max_page_size(mut self, max: u64) -> Self {
        self.max_page_size = max;
        self
    }

    /// The deepest `include` path accepted, in relationships (default
    /// [`DEFAULT_MAX_INCLUDE_DEPTH`]; `author.employer` is 2). Deeper paths are a 400 with
    /// `source.parameter` `include`.
    pub fn max_include_depth(mut self, max: usize) -> Self {
        self.max_include_depth = max;
        self
    }

    /// The largest `page[size]`/`page[limit]` accepted.
    pub fn page_size_limit(&self) -> u64 {
        self.max_page_size
    }
}

/// The value of a `filter[...]` parameter: `filter[name]=v` is a [`FilterValue::Value`], and
/// `filter[author][name]=v` nests: `filter["author"]` is a [`FilterValue::Nested`] map whose
/// `"name"` is `v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// A plain value.
    Value(String),
    /// Keys one bracket deeper.
    Nested(BTreeMap<String, FilterValue>),
}

impl FilterValue {
    /// The plain value, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FilterValue::Value(value) => Some(value),
            FilterValue::Nested(_) => None,
        }
    }

    /// The value one key deeper, if this is nested and has `key`.
    pub fn get(&self, key: &str) -> Option<&FilterValue> {
        match self {
            FilterValue::Value(_) => None,
            FilterValue::Nested(map) => map.get(key),
        }
    }
}

impl PartialEq<str> for FilterValue {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for FilterValue {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
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
    /// `filter[NAME]` values; `filter[a][b]` nests (see [`FilterValue`]).
    pub filter: BTreeMap<String, FilterValue>,
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

/// Splits `base[a][b]` into `base` and `[a, b]`; `None` when the brackets are malformed.
fn family(name: &str) -> Option<(&str, Vec<&str>)> {
    let Some(open) = name.find('[') else {
        return Some((name, Vec::new()));
    };
    let mut keys = Vec::new();
    let mut rest = &name[open..];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        let key = &inner[..close];
        if key.contains('[') {
            return None;
        }
        keys.push(key);
        rest = &inner[close + 1..];
    }
    Some((&name[..open], keys))
}

/// Inserts `value` at `path` below `map`; `false` if the path clashes with a value already
/// there (`filter[a]=1&filter[a][b]=2`, or the same path twice).
fn insert_filter(map: &mut BTreeMap<String, FilterValue>, path: &[&str], value: String) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        if map.contains_key(*first) {
            return false;
        }
        map.insert((*first).to_owned(), FilterValue::Value(value));
        return true;
    }
    match map
        .entry((*first).to_owned())
        .or_insert_with(|| FilterValue::Nested(BTreeMap::new()))
    {
        FilterValue::Nested(inner) => insert_filter(inner, rest, value),
        FilterValue::Value(_) => false,
    }
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
        let mut seen: Vec<String> = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name);
            let value = percent_decode(value);
            let Some((base, keys)) = family(&name) else {
                errors.push(bad(
                    &name,
                    "Malformed query parameter",
                    format!("`{name}` has unbalanced brackets"),
                ));
                continue;
            };
            let reserved = base.chars().all(|c| c.is_ascii_lowercase());
            // A JSON:API parameter given twice would be read one way here and possibly another
            // way by a proxy or cache in front: refuse it instead of guessing.
            if reserved && !base.is_empty() {
                if seen.contains(&name) {
                    errors.push(bad(
                        &name,
                        "Repeated query parameter",
                        format!("`{name}` appears more than once; send it once, with comma-separated values where it takes a list"),
                    ));
                    continue;
                }
                seen.push(name.clone());
            }
            match (base, keys.as_slice()) {
                ("include", []) => query.read_include(&value, rules, &mut errors),
                ("fields", [type_name]) => {
                    query.read_fields(&name, type_name, &value, rules, &mut errors);
                }
                ("sort", []) => query.read_sort(&value, rules, &mut errors),
                ("page", [key]) => query.read_page(&name, key, value, rules, &mut errors),
                ("filter", [key, ..]) => {
                    if !rules.filters.iter().any(|f| f == key) {
                        errors.push(bad(
                            &name,
                            "Unsupported filter",
                            format!("cannot filter by `{key}`"),
                        ));
                    } else if !insert_filter(&mut query.filter, &keys, value) {
                        errors.push(bad(
                            &name,
                            "Conflicting filter",
                            format!("`{name}` clashes with another filter parameter"),
                        ));
                    }
                }
                _ if reserved => {
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

    /// `include`: the include tree, no deeper than the rules allow.
    fn read_include(&mut self, value: &str, rules: &QueryRules, errors: &mut Vec<ErrorObject>) {
        match IncludeTree::parse(value, rules.meta) {
            Ok(tree) => {
                if let Some(path) = tree
                    .to_paths()
                    .into_iter()
                    .find(|p| p.split('.').count() > rules.max_include_depth)
                {
                    errors.push(bad(
                        "include",
                        "Include path too deep",
                        format!(
                            "`{path}` is deeper than {} relationships",
                            rules.max_include_depth
                        ),
                    ));
                } else {
                    self.include = tree;
                }
            }
            Err(error) => errors.push(error),
        }
    }

    /// `fields[type]`: a sparse fieldset of a type the endpoint returns, of its own fields.
    fn read_fields(
        &mut self,
        name: &str,
        type_name: &str,
        value: &str,
        rules: &QueryRules,
        errors: &mut Vec<ErrorObject>,
    ) {
        let reachable = rules.meta.reachable();
        let Some(meta) = reachable.iter().find(|m| m.type_name == type_name) else {
            errors.push(bad(
                name,
                "Unknown resource type",
                format!("`{type_name}` is not a type this endpoint returns"),
            ));
            return;
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
                    name,
                    "Unknown field",
                    format!("`{type_name}` has no field `{field}`"),
                ));
            }
        }
        self.fields.insert(type_name.to_owned(), fields);
    }

    /// `sort`: comma-separated fields the rules allow, `-` first for descending.
    fn read_sort(&mut self, value: &str, rules: &QueryRules, errors: &mut Vec<ErrorObject>) {
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (field, descending) = match item.strip_prefix('-') {
                Some(field) => (field, true),
                None => (item, false),
            };
            if rules.sort.iter().any(|s| s == field) {
                self.sort.push(SortField {
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

    /// `page[key]`: a key the rules allow; a size or limit from 1 to the largest page.
    fn read_page(
        &mut self,
        name: &str,
        key: &str,
        value: String,
        rules: &QueryRules,
        errors: &mut Vec<ErrorObject>,
    ) {
        if !rules.page.iter().any(|p| p == key) {
            errors.push(bad(
                name,
                "Unsupported page parameter",
                format!("allowed page parameters: {}", rules.page.join(", ")),
            ));
            return;
        }
        if matches!(key, "size" | "limit") {
            let max = rules.max_page_size;
            match value.parse::<u64>() {
                Ok(size) if size <= max && size > 0 => {}
                _ => {
                    errors.push(bad(
                        name,
                        "Invalid page size",
                        format!("must be a number from 1 to {max}"),
                    ));
                    return;
                }
            }
        }
        self.page.insert(key.to_owned(), value);
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
    /// `default_size`), with the total count once known. A page whose first resource would lie
    /// beyond `u64::MAX` (`(number - 1) * size` overflows) is a 400 naming `page[number]`.
    pub fn number_page(&self, default_size: u64, total: Option<u64>) -> Result<Page, ErrorObject> {
        let number = self.page_number("number")?.unwrap_or(1).max(1);
        let size = self.page_number("size")?.unwrap_or(default_size).max(1);
        if (number - 1).checked_mul(size).is_none() {
            return Err(bad(
                "page[number]",
                "Invalid page parameter",
                format!("page {number} of size {size} is out of range"),
            ));
        }
        Ok(Page::Number {
            number,
            size,
            total,
        })
    }

    /// The number of resources to skip for this query's page: `page[offset]`, or
    /// `(page[number] - 1) * page[size]` (with `default_size`), checked: an overflow is a 400
    /// naming the parameter.
    pub fn page_offset(&self, default_size: u64) -> Result<u64, ErrorObject> {
        if let Some(offset) = self.page_number("offset")? {
            return Ok(offset);
        }
        match self.number_page(default_size, None)? {
            Page::Number { number, size, .. } => Ok((number - 1).saturating_mul(size)),
            _ => Ok(0),
        }
    }
}
