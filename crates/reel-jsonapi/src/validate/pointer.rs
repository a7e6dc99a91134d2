//! JSON Pointers of the validator, built as it descends and rendered only for an error.

use serde_json::Value;

/// Where a resource object was first seen; rendered into a JSON Pointer only for an error.
pub(super) enum FirstAt {
    /// `/<member>/<index>` (`/data/3`, `/included/0`), the usual case.
    Indexed(&'static str, usize),
    /// Any other place, rendered.
    Rendered(String),
}

impl FirstAt {
    pub(super) fn of(pointer: &Ptr<'_>) -> FirstAt {
        match pointer {
            Ptr::Index(Ptr::Key(Ptr::Root, "data"), index) => FirstAt::Indexed("data", *index),
            Ptr::Index(Ptr::Key(Ptr::Root, "included"), index) => {
                FirstAt::Indexed("included", *index)
            }
            other => FirstAt::Rendered(other.render()),
        }
    }
}

impl std::fmt::Display for FirstAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirstAt::Indexed(member, index) => {
                let mut out = String::new();
                Ptr::Root.key(member).index(*index).render_into(&mut out);
                f.write_str(&out)
            }
            FirstAt::Rendered(pointer) => f.write_str(pointer),
        }
    }
}

/// A JSON Pointer under construction; rendered only when an error needs it.
#[derive(Clone, Copy)]
pub(super) enum Ptr<'a> {
    Root,
    Key(&'a Ptr<'a>, &'a str),
    Index(&'a Ptr<'a>, usize),
}

impl<'a> Ptr<'a> {
    pub(super) fn key(&'a self, key: &'a str) -> Ptr<'a> {
        Ptr::Key(self, key)
    }

    pub(super) fn index(&'a self, index: usize) -> Ptr<'a> {
        Ptr::Index(self, index)
    }

    pub(super) fn is_data(&self) -> bool {
        matches!(self, Ptr::Key(Ptr::Root, "data"))
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    pub(super) fn render_into(&self, out: &mut String) {
        match self {
            Ptr::Root => {}
            Ptr::Key(parent, key) => {
                parent.render_into(out);
                out.push('/');
                for c in key.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Ptr::Index(parent, index) => {
                parent.render_into(out);
                out.push('/');
                out.push_str(&index.to_string());
            }
        }
    }
}

pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) trait IntoPointer {
    fn into_pointer(self) -> String;
}

impl IntoPointer for String {
    fn into_pointer(self) -> String {
        self
    }
}

impl IntoPointer for Ptr<'_> {
    fn into_pointer(self) -> String {
        self.render()
    }
}
