//! The API conventions of the guide's architecture chapter ("API conventions"), checked from
//! the public API snapshots (`crates/*/api.txt`, written by `cargo xtask api`): one error
//! enum named `Error` per crate, one setter style per type, clock setters taking
//! `impl Clock`, typed errors in events, module names that follow feature names, and
//! constructors named `connect` only when they connect.

// Helpers as well as tests may panic: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A crate with a public API snapshot.
struct Snapshot {
    /// The package name (`reel-herd`).
    name: String,
    /// Its path prefix in the snapshot (`reel_herd`).
    ident: String,
    /// Every line, with the leading `#[...]` markers split off.
    items: Vec<Item>,
}

struct Item {
    /// The `#[cfg(feature = "x")]` feature, when the line has exactly that marker.
    feature: Option<String>,
    /// The line without its markers.
    text: String,
}

fn snapshots() -> Vec<Snapshot> {
    let crates = workspace_root().join("crates");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(api) = std::fs::read_to_string(dir.join("api.txt")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let items = api
            .lines()
            .filter(|line| !line.starts_with("# "))
            .map(split_markers)
            .collect();
        out.push(Snapshot {
            ident: name.replace('-', "_"),
            name,
            items,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 7,
        "expected the api.txt of every publishable crate"
    );
    out
}

fn split_markers(line: &str) -> Item {
    let mut rest = line;
    let mut feature = None;
    while rest.starts_with("#[") {
        let end = rest.find("] ").unwrap();
        let marker = &rest[2..end];
        if let Some(name) = marker
            .strip_prefix("cfg(feature = \"")
            .and_then(|m| m.strip_suffix("\")"))
        {
            feature = Some(name.to_owned());
        }
        rest = &rest[end + 2..];
    }
    Item {
        feature,
        text: rest.to_owned(),
    }
}

fn is_proc_macro(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .unwrap()
        .contains("proc-macro = true")
}

/// A method line: `pub [async ]fn <path>::<Type>::<name>[<generics>](<params>)[ -> <ret>]`.
struct Method {
    type_name: String,
    name: String,
    params: String,
    ret: String,
    is_async: bool,
}

fn method(text: &str) -> Option<Method> {
    let (is_async, rest) = match text.strip_prefix("pub async fn ") {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix("pub fn ")?),
    };
    let open = rest.find(['(', '<'])?;
    let path = &rest[..open];
    let mut segments = path.rsplit("::");
    let name = segments.next()?.to_owned();
    let type_name = segments.next()?.to_owned();
    if !type_name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    let params_start = rest.find('(')?;
    let mut depth = 0;
    let mut params_end = None;
    for (at, c) in rest.char_indices().skip(params_start) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    params_end = Some(at);
                    break;
                }
            }
            _ => {}
        }
    }
    let params_end = params_end?;
    let params = rest[params_start + 1..params_end].to_owned();
    let ret = rest[params_end + 1..]
        .strip_prefix(" -> ")
        .map(|r| {
            r.split(" where ")
                .next()
                .unwrap()
                .trim_end_matches(" (provided)")
        })
        .unwrap_or_default()
        .to_owned();
    Some(Method {
        type_name,
        name,
        params,
        ret,
        is_async,
    })
}

impl Method {
    /// A setter: takes `self` by value and at least one value, and returns the type.
    fn is_setter(&self) -> bool {
        (self.params.starts_with("self,") || self.params.starts_with("mut self,"))
            && (self.ret == "Self" || self.ret.starts_with("Result<Self,"))
    }

    fn is_getter(&self) -> bool {
        self.params == "&self"
    }
}

/// Each publishable library crate has one error enum named `Error`, and no crate-named
/// error (`HerdError`, `TestkitError`). reel-core (a vocabulary crate: `SecretError`,
/// `TaskError`, `RetryError`) and reel-jsonapi (failures are JSON:API error documents) have
/// only specific errors, as the architecture chapter says; proc-macro crates export macros
/// only. reel-testkit has no snapshot (`publish = false`), so its crate root is read.
#[test]
fn every_crate_has_one_error_enum_named_error() {
    const WITHOUT_A_CRATE_ERROR: &[&str] = &["reel-core", "reel-jsonapi"];
    let crates = workspace_root().join("crates");
    let mut problems = Vec::new();
    for snapshot in snapshots() {
        if is_proc_macro(&crates.join(&snapshot.name)) {
            continue;
        }
        let own = format!("pub enum {}::Error", snapshot.ident);
        let has_error = snapshot.items.iter().any(|i| i.text == own);
        if !has_error && !WITHOUT_A_CRATE_ERROR.contains(&snapshot.name.as_str()) {
            problems.push(format!("{}: no `pub enum Error`", snapshot.name));
        }
        let short = snapshot.name.trim_start_matches("reel-").replace('-', "");
        for item in &snapshot.items {
            for kind in ["pub enum ", "pub struct "] {
                let Some(path) = item.text.strip_prefix(kind) else {
                    continue;
                };
                let last = path.rsplit("::").next().unwrap();
                if last.to_lowercase() == format!("{short}error") {
                    problems.push(format!(
                        "{}: `{last}` is named after the crate; call it `Error`",
                        snapshot.name
                    ));
                }
            }
        }
    }
    let testkit = std::fs::read_to_string(crates.join("reel-testkit/src/lib.rs")).unwrap();
    if !testkit.contains("pub use error::Error;") {
        problems.push("reel-testkit: no `pub use error::Error;` at the crate root".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Setters are named after what they set; `with_*` only on a built value that can be read
/// back (a getter or public field its `with_*` setters pair with), never on a `*Builder`,
/// and a type does not mix the two styles.
#[test]
fn setters_follow_one_style_per_type() {
    let mut problems = Vec::new();
    for snapshot in snapshots() {
        let mut setters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut readable: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for item in &snapshot.items {
            if let Some(m) = method(&item.text) {
                if m.is_setter() {
                    setters
                        .entry(m.type_name.clone())
                        .or_default()
                        .insert(m.name);
                } else if m.is_getter() {
                    readable.entry(m.type_name).or_default().insert(m.name);
                }
            } else if let Some(field) = public_field(&item.text) {
                readable.entry(field.0).or_default().insert(field.1);
            }
        }
        for (type_name, names) in &setters {
            let with: Vec<&String> = names.iter().filter(|n| n.starts_with("with_")).collect();
            if with.is_empty() {
                continue;
            }
            let krate = &snapshot.name;
            if type_name.ends_with("Builder") {
                problems.push(format!(
                    "{krate}: {type_name} is a builder; name its setters after the field, \
                     not {with:?}"
                ));
                continue;
            }
            let bare: Vec<&String> = names.iter().filter(|n| !n.starts_with("with_")).collect();
            if !bare.is_empty() {
                problems.push(format!(
                    "{krate}: {type_name} mixes `with_*` setters {with:?} and bare ones {bare:?}"
                ));
            }
            let getters = readable.get(type_name).cloned().unwrap_or_default();
            let pairs = with
                .iter()
                .any(|n| getters.contains(n.trim_start_matches("with_")));
            if !pairs {
                problems.push(format!(
                    "{krate}: {type_name} has `with_*` setters {with:?} but no getter they pair \
                     with; name them after the field"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `pub <crate>::<Type>::<field>: <type>` (a public field, not a variant).
fn public_field(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix("pub ")?;
    let (path, _) = rest.split_once(": ")?;
    if path.contains(' ') || path.contains('{') || path.contains('(') {
        return None;
    }
    let mut segments = path.rsplit("::");
    let field = segments.next()?;
    let type_name = segments.next()?;
    (field.starts_with(|c: char| c.is_ascii_lowercase())
        && type_name.starts_with(|c: char| c.is_ascii_uppercase()))
    .then(|| (type_name.to_owned(), field.to_owned()))
}

/// Every clock setter takes `impl Clock`; deadlines take a `Duration` and backoffs a
/// `Backoff`, whatever the setter's style.
#[test]
fn clock_timeout_and_backoff_setters_take_one_type() {
    let mut problems = Vec::new();
    for snapshot in snapshots() {
        for item in &snapshot.items {
            let Some(m) = method(&item.text) else {
                continue;
            };
            if !m.is_setter() {
                continue;
            }
            let field = m.name.trim_start_matches("with_");
            let value = m.params.split_once(", ").map(|(_, v)| v).unwrap_or("");
            let expected = if field == "clock" {
                "impl Clock"
            } else if field == "timeout" || field.ends_with("_timeout") {
                "Duration"
            } else if field == "backoff" || field.ends_with("_backoff") {
                "Backoff"
            } else {
                continue;
            };
            let ty = value.split_once(": ").map(|(_, t)| t).unwrap_or("");
            if ty != expected {
                problems.push(format!(
                    "{}: {}::{} takes `{ty}`, the convention is `{expected}`",
                    snapshot.name, m.type_name, m.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Events and outcomes carry the error type, not its text: no `error`/`reason` field of type
/// `String` outside an error type, and no `Result<_, String>`.
#[test]
fn errors_stay_typed_in_events_and_results() {
    // Text that comes from a server as data, not a Rust error turned into a string:
    // Elasticsearch's `reason` for one rejected document (beside its `type` and status).
    const SERVER_TEXT: &[&str] = &["pub reel_search::FailedItem::reason: String"];
    let mut problems = Vec::new();
    for snapshot in snapshots() {
        for item in &snapshot.items {
            let text = &item.text;
            if SERVER_TEXT.contains(&text.as_str()) {
                continue;
            }
            if let Some(m) = method(text)
                && m.ret.starts_with("Result<")
                && m.ret.ends_with(", String>")
            {
                problems.push(format!("{}: {text}", snapshot.name));
            }
            let Some(rest) = text.strip_prefix("pub ") else {
                continue;
            };
            // `<crate>::<Type>::<variant or field>...`: the type that owns the line.
            let owner = rest
                .split(' ')
                .next()
                .unwrap_or("")
                .split("::")
                .find(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
                .unwrap_or("");
            if owner.ends_with("Error") {
                continue;
            }
            let owner_is_event = owner.ends_with("Event") || owner.ends_with("Outcome");
            let string_error = ["error: String", "reason: String", "cause: String"]
                .iter()
                .any(|f| text.contains(f))
                || (owner_is_event && text.contains("::Failed(String)"));
            if string_error {
                problems.push(format!("{}: {text}", snapshot.name));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "carry the error type (e.g. `Arc<Error>`), not its text:\n{}",
        problems.join("\n")
    );
}

/// A public module whose items all need one feature has that feature's name (`-` as `_`).
#[test]
fn modules_follow_feature_names() {
    let mut problems = Vec::new();
    for snapshot in snapshots() {
        let prefix = format!("{}::", snapshot.ident);
        // Top-level module -> the features its items need (None: no feature).
        let mut modules: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
        for item in &snapshot.items {
            let Some(at) = item.text.find(&prefix) else {
                continue;
            };
            let path = &item.text[at + prefix.len()..];
            let Some((first, _)) = path.split_once("::") else {
                continue;
            };
            if first.starts_with(|c: char| c.is_ascii_lowercase()) {
                modules
                    .entry(first.to_owned())
                    .or_default()
                    .insert(item.feature.clone());
            }
        }
        for (module, features) in modules {
            let features: Vec<Option<String>> = features.into_iter().collect();
            let [Some(feature)] = features.as_slice() else {
                continue;
            };
            if module != feature.replace('-', "_") {
                problems.push(format!(
                    "{}: module `{module}` needs feature `{feature}`; name it after the feature",
                    snapshot.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `connect` opens a connection, so it is async; a constructor that connects to nothing is
/// `new`/`from_*`.
#[test]
fn connect_is_async() {
    let mut problems = Vec::new();
    for snapshot in snapshots() {
        for item in &snapshot.items {
            if let Some(m) = method(&item.text)
                && m.name == "connect"
                && !m.is_async
            {
                problems.push(format!(
                    "{}: {}::connect is not async; a constructor that does not connect is \
                     `new` or `from_*`",
                    snapshot.name, m.type_name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
