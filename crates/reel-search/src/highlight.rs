//! Highlighting: the request options and the fragments of each hit.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::search::to_json;
use crate::{Field, Hit, Query};

/// Which highlighter runs (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Highlighter {
    /// The default: Lucene's unified highlighter (BM25 on sentences).
    Unified,
    /// The plain highlighter (re-analyses the field; small fields, exact phrase rendering).
    Plain,
    /// The fast vector highlighter; the field must map `term_vector: with_positions_offsets`
    /// (the engine refuses it otherwise).
    FastVector,
}

impl Highlighter {
    fn name(self) -> &'static str {
        match self {
            Self::Unified => "unified",
            Self::Plain => "plain",
            Self::FastVector => "fvh",
        }
    }
}

/// Options shared by [`Highlight`] (for every field) and [`HighlightField`] (one field).
macro_rules! highlight_options {
    () => {
        /// Tags around each match (default `<em>` … `</em>`).
        pub fn tags(mut self, pre: &str, post: &str) -> Self {
            self.options.insert("pre_tags".into(), json!([pre]));
            self.options.insert("post_tags".into(), json!([post]));
            self
        }
        /// Characters per fragment (default 100).
        pub fn fragment_size(mut self, size: u32) -> Self {
            self.options.insert("fragment_size".into(), size.into());
            self
        }
        /// Fragments per field (default 5; 0 = the whole field as one fragment).
        pub fn number_of_fragments(mut self, n: u32) -> Self {
            self.options.insert("number_of_fragments".into(), n.into());
            self
        }
        /// The highlighter (`type`).
        pub fn highlighter(mut self, highlighter: Highlighter) -> Self {
            self.options
                .insert("type".into(), highlighter.name().into());
            self
        }
        /// Highlight only fields the query searched (`true`, the default) or matches of the
        /// query's terms in any highlighted field (`false`).
        pub fn require_field_match(mut self, require: bool) -> Self {
            self.options
                .insert("require_field_match".into(), require.into());
            self
        }
        /// Characters from the field's start to return when nothing matched (default 0: no
        /// fragment at all).
        pub fn no_match_size(mut self, size: u32) -> Self {
            self.options.insert("no_match_size".into(), size.into());
            self
        }
        /// Order fragments by score instead of by position.
        pub fn order_by_score(mut self) -> Self {
            self.options.insert("order".into(), "score".into());
            self
        }
        /// HTML-escape the text around the tags (`encoder: html`); use this when the fragments
        /// are rendered as HTML.
        pub fn html_encoder(mut self) -> Self {
            self.options.insert("encoder".into(), "html".into());
            self
        }
        /// Highlight the matches of `query` rather than of the search's query.
        pub fn highlight_query(mut self, query: impl Into<Query>) -> Self {
            self.options
                .insert("highlight_query".into(), query.into().to_value());
            self
        }
        /// Sets any other option by its JSON name (`boundary_scanner`, `phrase_limit`, ...).
        pub fn option(mut self, key: &str, value: impl Serialize) -> Self {
            self.options.insert(key.to_owned(), to_json(value));
            self
        }
    };
}

/// Highlighting of matched terms; the fragments come back in [`Hit::highlight`] (read them with
/// [`Hit::fragments`]).
///
/// ```
/// use reel_search::{Highlight, HighlightField, Highlighter, SearchRequest};
///
/// let req = SearchRequest::new().highlight(
///     Highlight::new()
///         .field("title")
///         .field_with("body", HighlightField::new().fragment_size(60).number_of_fragments(2))
///         .tags("<mark>", "</mark>")
///         .highlighter(Highlighter::Plain)
///         .require_field_match(false),
/// );
/// let body = req.to_value();
/// assert_eq!(body["highlight"]["pre_tags"][0], "<mark>");
/// assert_eq!(body["highlight"]["type"], "plain");
/// assert_eq!(body["highlight"]["fields"]["body"]["fragment_size"], 60);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Highlight {
    fields: Map<String, Value>,
    #[serde(flatten)]
    options: Map<String, Value>,
}

impl Highlight {
    /// No fields yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Highlight this field (wildcards allowed) with the request-wide options.
    pub fn field(mut self, field: impl AsRef<str>) -> Self {
        self.fields.insert(field.as_ref().to_owned(), json!({}));
        self
    }
    /// Highlight this field with its own options (they override the request-wide ones).
    pub fn field_with(mut self, field: impl AsRef<str>, options: HighlightField) -> Self {
        self.fields
            .insert(field.as_ref().to_owned(), Value::Object(options.options));
        self
    }
    highlight_options!();
}

/// The options of one highlighted field (see [`Highlight::field_with`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HighlightField {
    options: Map<String, Value>,
}

impl HighlightField {
    /// The request-wide options.
    pub fn new() -> Self {
        Self::default()
    }
    /// Also combine the matches of these fields (multi-fields of the same source, fast vector
    /// highlighter only; `matched_fields`).
    pub fn matched_fields<F: AsRef<str>>(mut self, fields: impl IntoIterator<Item = F>) -> Self {
        let fields: Vec<String> = fields.into_iter().map(|f| f.as_ref().to_owned()).collect();
        self.options
            .insert("matched_fields".into(), to_json(fields));
        self
    }
    highlight_options!();
}

impl<T> Hit<T> {
    /// The highlighted fragments of `field` (empty when it had none).
    pub fn fragments(&self, field: impl AsRef<str>) -> &[String] {
        self.highlight
            .get(field.as_ref())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The highlighted fragments of a typed field path (empty when it had none).
    pub fn fragments_of<F, K>(&self, field: &Field<F, K>) -> &[String] {
        self.fragments(field.path())
    }
}
