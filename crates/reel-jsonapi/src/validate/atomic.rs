//! The validator's checks of Atomic Operations documents (the `atomic` extension).

use serde_json::{Map, Value};

use super::pointer::{Ptr, type_name};
use super::{DocumentKind, Validator};

impl<'v> Validator<'v> {
    /// An Atomic Operations request or response document (the `atomic` extension).
    pub(super) fn atomic_document(&mut self, top: &'v Map<String, Value>) {
        let (list, other) = if self.kind == DocumentKind::AtomicOperations {
            ("atomic:operations", "atomic:results")
        } else {
            ("atomic:results", "atomic:operations")
        };
        if !top.contains_key(list) {
            self.error(
                String::new(),
                "Missing data",
                format!("an Atomic Operations document must contain `{list}`"),
            );
        }
        for (key, value) in top {
            let pointer = Ptr::Root.key(key);
            match key.as_str() {
                "atomic:operations" if self.kind == DocumentKind::AtomicOperations => {
                    let Value::Array(items) = value else {
                        self.error(
                            pointer.render(),
                            "Wrong type",
                            format!("`{list}` must be an array, not {}", type_name(value)),
                        );
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        // Each operation stands alone: the same resource may be touched twice.
                        self.identities.clear();
                        self.operation(item, &pointer.index(i));
                    }
                }
                "atomic:results" if self.kind == DocumentKind::AtomicResults => {
                    let Value::Array(items) = value else {
                        self.error(
                            pointer.render(),
                            "Wrong type",
                            format!("`{list}` must be an array, not {}", type_name(value)),
                        );
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        self.identities.clear();
                        self.result(item, &pointer.index(i));
                    }
                }
                "meta" => self.meta(value, &pointer),
                "links" => self.links(value, &pointer),
                "jsonapi" => self.jsonapi(value, &pointer),
                _ if key == other => self.error(
                    pointer,
                    "Unknown member",
                    format!("`{key}` does not belong in this document"),
                ),
                _ => {
                    self.member(
                        key,
                        &pointer,
                        &[],
                        "the top level of an Atomic Operations document",
                    );
                }
            }
        }
    }

    /// One operation object: `op`, `ref` or `href`, `data`, `meta`.
    pub(super) fn operation(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "An operation") else {
            return;
        };
        let op = match map.get("op") {
            Some(Value::String(op)) if matches!(op.as_str(), "add" | "update" | "remove") => {
                Some(op.as_str())
            }
            Some(other) => {
                self.error(
                    pointer.key("op"),
                    "Invalid operation",
                    format!(
                        "`op` must be \"add\", \"update\" or \"remove\", not {}",
                        match other {
                            Value::String(s) => format!("\"{s}\""),
                            other => type_name(other).to_owned(),
                        }
                    ),
                );
                None
            }
            None => {
                self.error(
                    pointer.render(),
                    "Invalid operation",
                    "an operation must contain `op`".into(),
                );
                None
            }
        };
        if map.contains_key("ref") && map.contains_key("href") {
            self.error(
                pointer.key("href"),
                "Conflicting members",
                "an operation must not contain both `ref` and `href`".into(),
            );
        }
        let relationship = match map.get("ref") {
            Some(Value::Object(reference)) => reference.contains_key("relationship"),
            _ => false,
        };
        // With `href` only, the shape of `data` tells a relationship operation apart.
        let relationship = relationship
            || (!map.contains_key("ref")
                && map.contains_key("href")
                && matches!(
                    (op, map.get("data")),
                    (Some("update"), Some(Value::Null | Value::Array(_)))
                        | (Some("add" | "remove"), Some(Value::Array(_)))
                ));
        if op == Some("remove")
            && !relationship
            && !map.contains_key("ref")
            && !map.contains_key("href")
        {
            self.error(
                pointer.render(),
                "Invalid operation",
                "a `remove` operation must contain `ref` (or `href`) naming its target".into(),
            );
        }
        let needs_data = relationship || matches!(op, Some("add" | "update"));
        if needs_data && !map.contains_key("data") {
            self.error(
                pointer.render(),
                "Missing data",
                "this operation must contain `data`".into(),
            );
        }
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "op" => {}
                "ref" => self.operation_ref(value, &here),
                "href" => self.expect_string(value, &here, "`href`"),
                "meta" => self.meta(value, &here),
                "data" if relationship && op.is_some() => match (op, value) {
                    (Some("update"), Value::Null) => {}
                    (_, Value::Array(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            self.identifier(item, &here.index(i), true);
                        }
                    }
                    (Some("update"), other) => self.identifier(other, &here, true),
                    (_, other) => self.error(
                        here,
                        "Wrong type",
                        format!(
                            "the data of a to-many relationship operation must be an array, not {}",
                            type_name(other)
                        ),
                    ),
                },
                // Without a valid `op`, the shape `data` must have is unknown.
                "data" if op.is_none() => {}
                "data" => match (op, value) {
                    (Some("add" | "update"), Value::Object(_)) => {
                        self.id_optional = op == Some("add");
                        self.resource(value, &here);
                        self.id_optional = false;
                    }
                    (Some("remove"), _) => self.error(
                        here,
                        "Unknown member",
                        "removing a resource takes no `data`".into(),
                    ),
                    (_, other) => self.error(
                        here,
                        "Wrong type",
                        format!(
                            "the data of this operation must be a resource object, not {}",
                            type_name(other)
                        ),
                    ),
                },
                _ => {
                    self.member(key, &here, &[], "an operation");
                }
            }
        }
    }

    /// The `ref` of an operation: `type` with `id` or `lid`, and maybe `relationship`.
    pub(super) fn operation_ref(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "`ref`") else {
            return;
        };
        self.identity(map, pointer, true, true, "`ref`");
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "type" | "id" | "lid" => {}
                "relationship" => match value {
                    Value::String(name) => {
                        let _ = self.name(name, &here);
                    }
                    other => self.expect_string(other, &here, "`relationship`"),
                },
                _ => {
                    self.member(key, &here, &[], "`ref`");
                }
            }
        }
    }

    /// One result object of `atomic:results`: `data` (a resource object or `null`) and `meta`.
    pub(super) fn result(&mut self, value: &'v Value, pointer: &Ptr<'_>) {
        let Some(map) = self.expect_object(value, pointer, "A result") else {
            return;
        };
        for (key, value) in map {
            let here = pointer.key(key);
            match key.as_str() {
                "data" => match value {
                    Value::Null => {}
                    Value::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.resource(item, &here.index(i));
                        }
                    }
                    other => self.resource(other, &here),
                },
                "meta" => self.meta(value, &here),
                "links" => self.links(value, &here),
                _ => {
                    self.member(key, &here, &[], "a result");
                }
            }
        }
    }
}
