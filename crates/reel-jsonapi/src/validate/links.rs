//! The validator's checks of `links`, `errors` and `jsonapi` objects.

use serde_json::Value;

use super::Validator;
use super::pointer::{Ptr, type_name};

impl<'v> Validator<'v> {
    pub(super) fn links(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "`links`") else {
            return;
        };
        for (key, link) in map {
            let here = pointer.key(key);
            if self.name(key, &here).is_none() {
                continue;
            }
            self.link(link, &here);
        }
    }

    pub(super) fn link(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        match value {
            Value::Null | Value::String(_) => {}
            Value::Object(map) => {
                if !map.contains_key("href") {
                    self.error(
                        pointer.render(),
                        "Missing href",
                        "a link object must contain `href`".into(),
                    );
                }
                for (key, value) in map {
                    let here = pointer.key(key);
                    match key.as_str() {
                        "href" | "rel" | "title" | "type" => {
                            self.expect_string(value, &here, &format!("`{key}`"));
                        }
                        "describedby" => self.link(value, &here),
                        "hreflang" => match value {
                            Value::String(_) => {}
                            Value::Array(items) if items.iter().all(Value::is_string) => {}
                            other => self.error(
                                here,
                                "Wrong type",
                                format!(
                                    "`hreflang` must be a string or an array of strings, not {}",
                                    type_name(other)
                                ),
                            ),
                        },
                        "meta" => self.meta(value, &here),
                        _ => {
                            self.member(key, &here, &[], "a link object");
                        }
                    }
                }
            }
            other => self.error(
                pointer.render(),
                "Wrong type",
                format!(
                    "a link must be a string, a link object or null, not {}",
                    type_name(other)
                ),
            ),
        }
    }

    pub(super) fn errors_member(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Value::Array(items) = value else {
            self.error(
                pointer.render(),
                "Wrong type",
                format!("`errors` must be an array, not {}", type_name(value)),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let here = pointer.index(i);
            let Some(map) = self.expect_object(item, &here, "An error object") else {
                continue;
            };
            for (key, value) in map {
                let member = here.key(key);
                match key.as_str() {
                    "id" | "status" | "code" | "title" | "detail" => {
                        self.expect_string(value, &member, &format!("`{key}`"));
                    }
                    "links" => {
                        self.links(value, &member);
                        if let Value::Object(links) = value {
                            for key in links.keys() {
                                if !matches!(key.as_str(), "about" | "type") && !key.contains(':') {
                                    self.error(
                                        member.key(key),
                                        "Unknown member",
                                        format!("error links may contain `about` and `type`, not `{key}`"),
                                    );
                                }
                            }
                        }
                    }
                    "source" => {
                        if let Some(source) = self.expect_object(value, &member, "`source`") {
                            for (key, value) in source {
                                let inner = member.key(key);
                                match key.as_str() {
                                    "pointer" => {
                                        self.expect_string(value, &inner, "`pointer`");
                                        if let Value::String(p) = value
                                            && !p.is_empty()
                                            && !p.starts_with('/')
                                        {
                                            self.error(
                                                inner,
                                                "Invalid JSON Pointer",
                                                format!("`{p}` is not a JSON Pointer (must start with `/`)"),
                                            );
                                        }
                                    }
                                    "parameter" | "header" => {
                                        self.expect_string(value, &inner, &format!("`{key}`"));
                                    }
                                    _ => {
                                        self.member(key, &inner, &[], "an error source");
                                    }
                                }
                            }
                        }
                    }
                    "meta" => self.meta(value, &member),
                    _ => {
                        self.member(key, &member, &[], "an error object");
                    }
                }
            }
        }
    }

    pub(super) fn jsonapi(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "`jsonapi`") else {
            return;
        };
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "version" => self.expect_string(value, &here, "`version`"),
                "ext" | "profile" => match value {
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.expect_string(item, &here.index(i), "a URI");
                        }
                    }
                    other => self.error(
                        here,
                        "Wrong type",
                        format!("`{key}` must be an array of URIs, not {}", type_name(other)),
                    ),
                },
                "meta" => self.meta(value, &here),
                _ => {
                    self.member(key, &here, &[], "the jsonapi object");
                }
            }
        }
    }
}
