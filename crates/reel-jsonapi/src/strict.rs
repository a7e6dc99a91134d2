//! Reading JSON text into a [`Value`] the way every consumer would agree on: a member name that
//! appears twice in one object is an error (with the pointer of the second copy) instead of the
//! last copy silently winning, which is what `serde_json::Value` does and what a proxy or another
//! parser in front of the server may not do.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::model::ErrorObject;

/// Where the reader is; rendered into a JSON Pointer only for an error.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render_into(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
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
            Path::Index(parent, index) => {
                parent.render_into(out);
                out.push('/');
                out.push_str(&index.to_string());
            }
        }
    }
}

struct Seed<'a> {
    path: Path<'a>,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let seed = Seed {
                path: Path::Index(&self.path, items.len()),
                duplicate: self.duplicate,
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let here = Path::Key(&self.path, &key);
            if object.contains_key(&key) {
                let mut pointer = String::new();
                here.render_into(&mut pointer);
                *self.duplicate.borrow_mut() = Some(pointer);
                return Err(A::Error::custom(format!("duplicate member `{key}`")));
            }
            let value = map.next_value_seed(Seed {
                path: here,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Parses JSON text into a [`Value`], refusing duplicate member names. The error is a 400
/// error object: `Duplicate member` pointing at the second copy, or `Malformed JSON` at `""`.
pub(crate) fn parse_value(bytes: &[u8]) -> Result<Value, ErrorObject> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = Seed {
        path: Path::Root,
        duplicate: &duplicate,
    };
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    result.map_err(|error| {
        let error = parse_error(error, duplicate.into_inner());
        crate::metrics::validation_errors(std::slice::from_ref(&error));
        error
    })
}

fn parse_error(error: serde_json::Error, duplicate: Option<String>) -> ErrorObject {
    match duplicate {
        Some(pointer) => ErrorObject::new(400, "Duplicate member")
            .with_detail(format!(
                "{error}: a member name may appear only once in an object"
            ))
            .with_pointer(pointer),
        None => ErrorObject::new(400, "Malformed JSON")
            .with_detail(error.to_string())
            .with_pointer(""),
    }
}

/// A seed reading one JSON value strictly (duplicate member names are an error), for the
/// one-pass reader's free-form parts.
pub(crate) struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let duplicate = RefCell::new(None);
        Seed {
            path: Path::Root,
            duplicate: &duplicate,
        }
        .deserialize(deserializer)
    }
}
