//! Pagination: `page[..]` state as `first`/`prev`/`next`/`last` links and `meta.page`.

use super::*;

/// Pagination state of a collection; becomes `first`/`prev`/`next`/`last` links and
/// `meta.page`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Page {
    /// `page[number]` (1-based) and `page[size]`.
    Number {
        /// The current page, starting at 1.
        number: u64,
        /// Resources per page.
        size: u64,
        /// Total resources, if known (enables `last`).
        total: Option<u64>,
    },
    /// `page[offset]` and `page[limit]`.
    Offset {
        /// Resources skipped.
        offset: u64,
        /// Resources per page.
        limit: u64,
        /// Total resources, if known (enables `last`).
        total: Option<u64>,
    },
    /// Cursor pagination (`page[after]`/`page[before]`, `page[size]`).
    Cursor {
        /// Resources per page.
        size: u64,
        /// The cursor of the last resource of this page, if there is a next page.
        next: Option<String>,
        /// The cursor of the first resource of this page, if there is a previous page.
        prev: Option<String>,
    },
}

fn page_url(base: &str, params: &[(&str, &dyn Display)]) -> String {
    let mut url = String::with_capacity(base.len() + 40);
    url.push_str(base);
    let mut separator = if base.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        let _ = write!(
            url,
            "{separator}page%5B{name}%5D={}",
            PercentEncoded(*value)
        );
        separator = '&';
    }
    url
}

impl Page {
    /// The pagination links for a collection at `base` (which may already carry a query).
    pub fn links(&self, base: &str) -> Vec<(&'static str, String)> {
        let mut links = Vec::with_capacity(4);
        match self {
            Page::Number {
                number,
                size,
                total,
            } => {
                let number = (*number).max(1);
                let url = |n: u64| page_url(base, &[("number", &n), ("size", size)]);
                links.push(("first", url(1)));
                if number > 1 {
                    links.push(("prev", url(number - 1)));
                }
                let last = total.map(|t| t.div_ceil((*size).max(1)).max(1));
                // Client-supplied numbers can be as large as u64 allows: no `next` past the end.
                if let Some(next) = number.checked_add(1)
                    && last.is_none_or(|last| number < last)
                {
                    links.push(("next", url(next)));
                }
                if let Some(last) = last {
                    links.push(("last", url(last)));
                }
            }
            Page::Offset {
                offset,
                limit,
                total,
            } => {
                let url = |o: u64| page_url(base, &[("offset", &o), ("limit", limit)]);
                links.push(("first", url(0)));
                if *offset > 0 {
                    links.push(("prev", url(offset.saturating_sub(*limit))));
                }
                if let Some(next) = offset.checked_add(*limit)
                    && total.is_none_or(|t| next < t)
                {
                    links.push(("next", url(next)));
                }
                if let Some(total) = total {
                    let limit = (*limit).max(1);
                    links.push(("last", url(total.saturating_sub(1) / limit * limit)));
                }
            }
            Page::Cursor { size, next, prev } => {
                links.push(("first", page_url(base, &[("size", size)])));
                if let Some(prev) = prev {
                    links.push(("prev", page_url(base, &[("size", size), ("before", prev)])));
                }
                if let Some(next) = next {
                    links.push(("next", page_url(base, &[("size", size), ("after", next)])));
                }
            }
        }
        links
    }

    /// The `meta.page` object.
    pub fn meta(&self) -> Meta {
        let mut page = Meta::new();
        match self {
            Page::Number {
                number,
                size,
                total,
            } => {
                page.insert("number".into(), (*number).into());
                page.insert("size".into(), (*size).into());
                if let Some(total) = total {
                    page.insert("total".into(), (*total).into());
                    page.insert("pages".into(), total.div_ceil((*size).max(1)).into());
                }
            }
            Page::Offset {
                offset,
                limit,
                total,
            } => {
                page.insert("offset".into(), (*offset).into());
                page.insert("limit".into(), (*limit).into());
                if let Some(total) = total {
                    page.insert("total".into(), (*total).into());
                }
            }
            Page::Cursor { size, .. } => {
                page.insert("size".into(), (*size).into());
            }
        }
        page
    }
}
