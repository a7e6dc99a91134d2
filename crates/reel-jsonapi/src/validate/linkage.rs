//! Full linkage: every included resource is identified somewhere in the document.

use serde_json::{Map, Value};

use super::{IdentitySet, Validator};

impl Validator<'_> {
    /// Full linkage (JSON:API 1.1): every included resource must be identified by at least one
    /// resource identifier in the document — primary data or the linkage of any primary or
    /// included resource. Skipped when sparse fieldsets may have removed that linkage.
    pub(super) fn full_linkage(&mut self, top: &Map<String, Value>) {
        if self.options.sparse_fieldsets {
            return;
        }
        let Some(Value::Array(included)) = top.get("included") else {
            return;
        };
        let mut identified: IdentitySet<(&str, &str)> = IdentitySet::default();
        let primary: &[Value] = match top.get("data") {
            Some(Value::Array(items)) => items,
            Some(other @ Value::Object(_)) => std::slice::from_ref(other),
            _ => &[],
        };
        let mut linkage = Vec::new();
        for resource in primary.iter().chain(included) {
            collect_linkage(resource, &mut linkage);
        }
        // Primary data of a relationship response are identifiers themselves.
        linkage.extend(primary.iter().filter_map(identity_of));
        identified.extend(linkage);
        for (i, item) in included.iter().enumerate() {
            if let Some((t, id)) = identity_of(item)
                && !identified.contains(&(t, id))
            {
                self.error(
                    format!("/included/{i}"),
                    "Missing linkage",
                    format!(
                        "included resource `{t}`/`{id}` is not identified by any resource identifier in the document (full linkage)"
                    ),
                );
            }
        }
    }
}

fn identity_of(resource: &Value) -> Option<(&str, &str)> {
    match (resource.get("type"), resource.get("id")) {
        (Some(Value::String(t)), Some(Value::String(id))) => Some((t, id)),
        _ => None,
    }
}

fn collect_linkage<'v>(resource: &'v Value, out: &mut Vec<(&'v str, &'v str)>) {
    let Some(Value::Object(relationships)) = resource.get("relationships") else {
        return;
    };
    // Extension and @-members are not relationships; their content is not linkage.
    for (_, relationship) in relationships
        .iter()
        .filter(|(name, _)| !name.contains(':') && !name.starts_with('@'))
    {
        match relationship.get("data") {
            Some(Value::Array(items)) => out.extend(items.iter().filter_map(identity_of)),
            Some(one @ Value::Object(_)) => out.extend(identity_of(one)),
            _ => {}
        }
    }
}
