//! Suggesters (`term`, `phrase`, `completion`) and their typed results.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::search::to_json;
use crate::{Error, SearchRequest};

/// A suggester of a search's `suggest` section (add it with [`SearchRequest::suggest`]).
///
/// ```
/// use reel_search::{SearchRequest, Suggester};
///
/// let req = SearchRequest::new()
///     .size(0)
///     .suggest("spelling", Suggester::term("title", "mountian").size(3))
///     .suggest("phrase", Suggester::phrase("title", "asset beech").highlight("<b>", "</b>"))
///     .suggest("complete", Suggester::completion("title_suggest", "mou").skip_duplicates(true));
/// let body = req.to_value();
/// assert_eq!(body["suggest"]["spelling"]["term"]["field"], "title");
/// assert_eq!(body["suggest"]["spelling"]["text"], "mountian");
/// assert_eq!(body["suggest"]["complete"]["prefix"], "mou");
/// assert_eq!(body["suggest"]["complete"]["completion"]["skip_duplicates"], true);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Suggester {
    kind: &'static str,
    /// `text`, `prefix` or `regex`, and its value.
    input: (&'static str, String),
    body: Map<String, Value>,
}

impl Suggester {
    fn new(kind: &'static str, field: &str, input: (&'static str, String)) -> Self {
        let mut body = Map::new();
        body.insert("field".into(), field.into());
        Self { kind, input, body }
    }

    /// Corrections of each term of `text` from the terms of `field` (edit distance).
    pub fn term(field: impl AsRef<str>, text: impl Into<String>) -> Self {
        Self::new("term", field.as_ref(), ("text", text.into()))
    }

    /// Whole-phrase corrections of `text` from `field` (an n-gram language model; works best on
    /// a field with a `shingle` analyzer, plain text fields work too).
    pub fn phrase(field: impl AsRef<str>, text: impl Into<String>) -> Self {
        Self::new("phrase", field.as_ref(), ("text", text.into()))
    }

    /// Search-as-you-type completions of `prefix` from a `completion` field (map one with
    /// `#[search(type = "completion")]`); the options carry their documents.
    pub fn completion(field: impl AsRef<str>, prefix: impl Into<String>) -> Self {
        Self::new("completion", field.as_ref(), ("prefix", prefix.into()))
    }

    /// Completions matching a regular expression instead of a prefix.
    pub fn completion_regex(field: impl AsRef<str>, regex: impl Into<String>) -> Self {
        Self::new("completion", field.as_ref(), ("regex", regex.into()))
    }

    /// Sets an option of the suggester by its JSON name (`suggest_mode`, `max_errors`,
    /// `direct_generator`, `contexts`, ...).
    pub fn option(mut self, key: &str, value: impl Serialize) -> Self {
        self.body.insert(key.to_owned(), to_json(value));
        self
    }

    /// Options per entry (default 5).
    pub fn size(self, size: u32) -> Self {
        self.option("size", size)
    }

    /// `term`: when to suggest — `missing` (the default: only for terms not in the index),
    /// `popular` or `always`.
    pub fn suggest_mode(self, mode: &str) -> Self {
        self.option("suggest_mode", mode)
    }

    /// `phrase`: tags around the corrected terms, in [`PhraseOption::highlighted`].
    pub fn highlight(self, pre: &str, post: &str) -> Self {
        self.option("highlight", json!({"pre_tag": pre, "post_tag": post}))
    }

    /// `completion`: one option per distinct text.
    pub fn skip_duplicates(self, skip: bool) -> Self {
        self.option("skip_duplicates", skip)
    }

    /// `completion`: tolerate `fuzziness` edits in the prefix (`0`, `1`, `2`).
    pub fn fuzzy(self, fuzziness: u8) -> Self {
        self.option("fuzzy", json!({ "fuzziness": fuzziness }))
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert(self.input.0.to_owned(), self.input.1.clone().into());
        m.insert(self.kind.to_owned(), Value::Object(self.body.clone()));
        Value::Object(m)
    }
}

impl SearchRequest {
    /// Adds a named suggester; read its result from [`SearchResponse::suggest`](crate::SearchResponse::suggest)
    /// with [`Suggestions::term`], [`Suggestions::phrase`] or [`Suggestions::completion`].
    /// Use `size(0)` when only the suggestions are wanted.
    pub fn suggest(mut self, name: impl Into<String>, suggester: Suggester) -> Self {
        let entry = self.raw_entry("suggest");
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(m) = entry {
            m.insert(name.into(), suggester.to_value());
        }
        self
    }
}

/// Suggester results by name, decoded on demand.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Suggestions(Map<String, Value>);

/// The suggestions for one piece of the input (one term for `term`, the whole text otherwise).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SuggestEntry<O> {
    /// The input piece.
    pub text: String,
    /// Its offset in the input, in characters.
    #[serde(default)]
    pub offset: u64,
    /// Its length.
    #[serde(default)]
    pub length: u64,
    /// The suggestions, best first.
    #[serde(default = "Vec::new")]
    pub options: Vec<O>,
}

/// A `term` suggestion.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TermOption {
    /// The suggested term.
    pub text: String,
    /// Its score (similarity to the input).
    pub score: f64,
    /// Documents containing it.
    #[serde(default)]
    pub freq: u64,
}

/// A `phrase` suggestion.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PhraseOption {
    /// The suggested phrase.
    pub text: String,
    /// Its score.
    pub score: f64,
    /// The phrase with the corrections tagged (with [`Suggester::highlight`]).
    #[serde(default)]
    pub highlighted: Option<String>,
    /// Whether the `collate` query matched (with a `collate` option and `prune: true`).
    #[serde(default)]
    pub collate_match: Option<bool>,
}

/// A `completion` suggestion and its document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletionOption<T> {
    /// The completed input.
    pub text: String,
    /// Its weight.
    #[serde(rename = "_score", alias = "score", default)]
    pub score: f64,
    /// The physical index of the document.
    #[serde(rename = "_index", default)]
    pub index: String,
    /// The document id.
    #[serde(rename = "_id", default)]
    pub id: String,
    /// The decoded `_source` (absent when `_source` was disabled).
    #[serde(rename = "_source", default = "none")]
    pub source: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl Suggestions {
    /// The names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The raw JSON of one suggester's result.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    fn decode<O: DeserializeOwned>(&self, name: &str) -> Result<Vec<SuggestEntry<O>>, Error> {
        let value = self.0.get(name).ok_or_else(|| Error::Decode {
            what: format!("suggester `{name}`"),
            reason: format!(
                "not in the response (present: {:?})",
                self.0.keys().collect::<Vec<_>>()
            ),
        })?;
        Vec::<SuggestEntry<O>>::deserialize(value).map_err(|e| Error::Decode {
            what: format!("suggester `{name}`"),
            reason: e.to_string(),
        })
    }

    /// The entries of a `term` suggester, one per input term.
    pub fn term(&self, name: &str) -> Result<Vec<SuggestEntry<TermOption>>, Error> {
        self.decode(name)
    }

    /// The entry of a `phrase` suggester.
    pub fn phrase(&self, name: &str) -> Result<Vec<SuggestEntry<PhraseOption>>, Error> {
        self.decode(name)
    }

    /// The entry of a `completion` suggester, its documents decoded as `T`.
    pub fn completion<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Vec<SuggestEntry<CompletionOption<T>>>, Error> {
        self.decode(name)
    }
}

impl<O> SuggestEntry<O> {
    /// The best option, if any.
    pub fn best(&self) -> Option<&O> {
        self.options.first()
    }
}
