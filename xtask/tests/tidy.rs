//! Workspace-wide rules that no compiler checks, kept as tests so a change that breaks one
//! fails `cargo xtask test`.

// Helpers as well as tests may panic: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A derive crate's generated code calls `__private` helpers of the runtime crate it was
/// released with: a newer derive with an older runtime would not compile. So each runtime crate
/// requires its derive crate with `=` (the exact version), and the two are released together.
#[test]
fn runtime_crates_pin_their_derive_crate_exactly() {
    let crates = workspace_root().join("crates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let derive = format!("{name}-derive");
        if !crates.join(&derive).is_dir() {
            continue;
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let doc: toml_edit::DocumentMut = manifest.parse().unwrap();
        let requirement = doc["dependencies"][derive.as_str()]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} does not depend on {derive} with a version"));
        assert!(
            requirement.starts_with('='),
            "{name} requires {derive} as \"{requirement}\"; pin it with \"=X.Y.Z\""
        );
        let derive_manifest = std::fs::read_to_string(crates.join(&derive).join("Cargo.toml"))
            .unwrap()
            .parse::<toml_edit::DocumentMut>()
            .unwrap();
        let derive_version = derive_manifest["package"]["version"].as_str().unwrap();
        assert_eq!(
            requirement.trim_start_matches('='),
            derive_version,
            "{name} pins {derive} at {requirement} but {derive} is at {derive_version}"
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the jsonapi and search derive pairs, found {checked}"
    );
}

/// Each publishable crate's `api.txt` is what `cargo xtask api` writes from today's source:
/// a change to the public API shows in review as a diff of that file.
#[test]
fn public_api_snapshots_are_up_to_date() {
    let crates = workspace_root().join("crates");
    let mut stale = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let doc: toml_edit::DocumentMut = manifest.parse().unwrap();
        if doc["package"].get("publish").and_then(|p| p.as_bool()) == Some(false) {
            continue;
        }
        let name = doc["package"]["name"].as_str().unwrap().to_owned();
        let fresh = xtask::api::snapshot(&dir, &name).unwrap();
        let current = std::fs::read_to_string(dir.join("api.txt")).unwrap_or_default();
        if current != fresh {
            stale.push(format!("{name}:\n{}", xtask::api::diff(&current, &fresh)));
        }
        checked += 1;
    }
    assert!(
        checked >= 9,
        "expected every publishable crate, found {checked}"
    );
    assert!(
        stale.is_empty(),
        "run `cargo xtask api` and commit the api.txt files:\n{}",
        stale.join("\n")
    );
}

/// The reel-core types (and the `elasticsearch` crate) that appear in a crate's public API are
/// re-exported by that crate, so a user can name each from the crate alone: a direct
/// dependency on reel-core at a version that happens to match is never needed. Read from the
/// `api.txt` snapshots (see `public_api_snapshots_are_up_to_date`).
#[test]
fn foreign_types_in_a_public_api_are_reexported() {
    let crates = workspace_root().join("crates");
    let core_api = std::fs::read_to_string(crates.join("reel-core/api.txt")).unwrap();
    // Every type, trait and alias reel-core exports, by its last name.
    let mut core_types: Vec<String> = core_api
        .lines()
        .filter_map(|line| {
            let rest = ["pub struct ", "pub enum ", "pub trait ", "pub type "]
                .iter()
                .find_map(|kw| line.split_once(kw).map(|(_, r)| r))?;
            let path = rest.split(['<', ' ']).next()?.trim_end_matches(':');
            Some(path.rsplit("::").next()?.to_owned())
        })
        .collect();
    core_types.push("IpNet".to_owned());
    core_types.sort();
    core_types.dedup();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(api) = std::fs::read_to_string(dir.join("api.txt")) else {
            continue;
        };
        if name == "reel-core" {
            continue;
        }
        let ident = name.replace('-', "_");
        let own_path = regex_free_strip(&ident);
        for type_name in &core_types {
            let used = api
                .lines()
                .filter(|line| !line.contains(" pub use ") && !line.starts_with("pub use "))
                .any(|line| mentions_word(&own_path(line), type_name));
            if !used {
                continue;
            }
            let reexported = api.lines().any(|line| {
                line.contains(&format!("pub use {ident}::{type_name} (from reel_core::"))
                    || line.contains(&format!("::{type_name} (from reel_core::"))
            });
            if !reexported {
                missing.push(format!("{name}: reel_core's {type_name}"));
            }
        }
    }
    let search = std::fs::read_to_string(crates.join("reel-search/api.txt")).unwrap();
    if !search
        .lines()
        .any(|l| l == "pub use reel_search::elasticsearch (from elasticsearch)")
    {
        missing.push("reel-search: the elasticsearch crate (`pub use elasticsearch;`)".into());
    }
    assert!(
        missing.is_empty(),
        "these appear in a crate's public API without a re-export (add `pub use reel_core::X;` \
         to the crate root, then `cargo xtask api`):\n{}",
        missing.join("\n")
    );
}

/// Removes the crate's own item paths (`reel_geoip::Error::Secret`) from a line, so that an
/// item named like a reel-core type does not count as a use of it.
fn regex_free_strip(ident: &str) -> impl Fn(&str) -> String {
    let prefix = format!("{ident}::");
    move |line: &str| {
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find(&prefix) {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    }
}

fn mentions_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        // `reel_core::X` counts; `other::X` is another crate's type of the same name.
        let qualified_elsewhere =
            line[..at].ends_with("::") && !line[..at].ends_with("reel_core::");
        boundary(before) && boundary(after) && !qualified_elsewhere
    })
}

/// The publishable crates, whose docs are their README.
fn documented_crates() -> Vec<PathBuf> {
    let crates = workspace_root().join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| {
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
            !manifest.is_empty() && !manifest.contains("publish = false")
        })
        .collect();
    dirs.sort();
    dirs
}

/// Docs from one source: each crate's README is its crate-level documentation (so its
/// examples are doctests), the feature list comes from the `##` comments in Cargo.toml
/// (document-features), docs.rs builds with `--cfg docsrs`, and README links are absolute
/// (relative ones break on crates.io).
#[test]
fn readmes_are_the_crate_docs_and_every_feature_is_documented() {
    let mut problems = Vec::new();
    let dirs = documented_crates();
    assert!(
        dirs.len() >= 7,
        "expected the seven library crates, found {dirs:?}"
    );
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        if !lib.starts_with("#![doc = include_str!(\"../README.md\")]") {
            problems.push(format!(
                "{name}: src/lib.rs does not start with #![doc = include_str!(\"../README.md\")]"
            ));
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let has_features = manifest.lines().any(|l| l.trim() == "[features]");
        if has_features && !lib.contains("#![doc = document_features::document_features!()]") {
            problems.push(format!("{name}: no document_features!() feature list"));
        }
        if !lib.contains("#![cfg_attr(docsrs, feature(doc_cfg))]") {
            problems.push(format!("{name}: no docsrs feature badges"));
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        for relative in [
            "](../",
            "](./",
            "](src/",
            "](tests/",
            "](benches/",
            "](examples/",
        ] {
            if readme.contains(relative) {
                problems.push(format!(
                    "{name}: README.md has a relative link `{relative}`"
                ));
            }
        }
        let doc: toml_edit::DocumentMut = manifest.parse().unwrap();
        let docs_rs = &doc["package"]["metadata"]["docs"]["rs"];
        if docs_rs.get("all-features").and_then(|v| v.as_bool()) != Some(true)
            || !docs_rs
                .get("rustdoc-args")
                .map(|v| v.to_string())
                .unwrap_or_default()
                .contains("docsrs")
        {
            problems.push(format!(
                "{name}: [package.metadata.docs.rs] needs all-features and --cfg docsrs"
            ));
        }
        // Every feature but `default` has a `## ` comment right above it.
        let lines: Vec<&str> = manifest.lines().collect();
        let Some(start) = lines.iter().position(|l| l.trim() == "[features]") else {
            continue;
        };
        for (index, line) in lines.iter().enumerate().skip(start + 1) {
            let line = line.trim();
            if line.starts_with('[') {
                break;
            }
            let Some((feature, _)) = line.split_once('=') else {
                continue;
            };
            let feature = feature.trim();
            if feature == "default" || feature.starts_with('#') {
                continue;
            }
            if !lines[index - 1].trim_start().starts_with("##") {
                problems.push(format!(
                    "{name}: feature `{feature}` has no `## ` doc comment above it in Cargo.toml"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Source files past this many lines are listed, with a ceiling, in `xtask/long-files.txt`.
const LONG_FILE: usize = 800;

fn rust_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Code that reads in one sitting: no source file grows past 800 lines unless it is listed in
/// `xtask/long-files.txt`, and no listed file grows past its recorded ceiling. Files over the
/// limit are printed as a warning on every run.
#[test]
fn no_source_file_grows_past_its_recorded_ceiling() {
    let root = workspace_root();
    let listed = std::fs::read_to_string(root.join("xtask/long-files.txt")).unwrap();
    let mut ceilings: std::collections::BTreeMap<String, usize> = Default::default();
    for line in listed.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (ceiling, path) = line.split_once(' ').unwrap();
        ceilings.insert(path.trim().to_owned(), ceiling.parse().unwrap());
    }
    let mut files = Vec::new();
    for dir in ["crates", "examples", "xtask"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    let mut long = Vec::new();
    let mut seen = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        if lines <= LONG_FILE {
            continue;
        }
        seen.push(relative.clone());
        match ceilings.get(&relative) {
            Some(&ceiling) if lines <= ceiling => {
                long.push(format!("{lines:>6} {relative} (ceiling {ceiling})"));
            }
            Some(&ceiling) => problems.push(format!(
                "{relative} has {lines} lines, past its ceiling of {ceiling}: split it by concern \
                 (or, if the growth is justified, raise its line in xtask/long-files.txt)"
            )),
            None => problems.push(format!(
                "{relative} has {lines} lines (more than {LONG_FILE}): split it by concern \
                 (or list it in xtask/long-files.txt with a reason)"
            )),
        }
    }
    for path in ceilings.keys() {
        if !seen.contains(path) {
            problems.push(format!(
                "{path} is listed in xtask/long-files.txt but is no longer over {LONG_FILE} \
                 lines (or is gone): remove its line so it cannot grow back"
            ));
        }
    }
    if !long.is_empty() {
        eprintln!(
            "warning: source files over {LONG_FILE} lines:\n{}",
            long.join("\n")
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Functions past this many lines are listed, with a ceiling, in `xtask/long-fns.txt`.
const LONG_FN: usize = 150;

/// The workspace's tracked Rust files (every `.rs` file under crates/, examples/ and xtask/
/// when git is not at hand), relative to the root.
fn tracked_rust_files(root: &std::path::Path) -> Vec<String> {
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z", "--", "*.rs"])
        .current_dir(root)
        .output();
    match listed {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|p| !p.is_empty() && root.join(p).is_file())
            .map(str::to_owned)
            .collect(),
        _ => {
            let mut files = Vec::new();
            for dir in ["crates", "examples", "xtask"] {
                rust_files(&root.join(dir), &mut files);
            }
            files
                .iter()
                .map(|f| {
                    f.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/")
                })
                .collect()
        }
    }
}

/// Every fn with a body in one file (free fns, methods, trait methods with a default body, fns
/// inside fns and inline modules), named by its path within the file (`Type::method`,
/// `tests::case`) with its length in lines, from the `fn` line to the closing brace.
#[derive(Default)]
struct FnLengths {
    scope: Vec<String>,
    found: Vec<(String, usize)>,
}

impl FnLengths {
    fn record(&mut self, sig: &syn::Signature, block: &syn::Block) {
        use syn::spanned::Spanned;
        let first = sig.span().start().line;
        let last = block.brace_token.span.close().end().line;
        let mut name = self.scope.clone();
        name.push(sig.ident.to_string());
        self.found.push((name.join("::"), last + 1 - first));
    }

    fn within(&mut self, scope: String, visit: impl FnOnce(&mut Self)) {
        self.scope.push(scope);
        visit(self);
        self.scope.pop();
    }
}

impl<'ast> syn::visit::Visit<'ast> for FnLengths {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.record(&item.sig, &item.block);
        self.within(item.sig.ident.to_string(), |v| {
            syn::visit::visit_item_fn(v, item)
        });
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.record(&item.sig, &item.block);
        self.within(item.sig.ident.to_string(), |v| {
            syn::visit::visit_impl_item_fn(v, item)
        });
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.record(&item.sig, block);
        }
        self.within(item.sig.ident.to_string(), |v| {
            syn::visit::visit_trait_item_fn(v, item)
        });
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let name = match &*item.self_ty {
            syn::Type::Path(path) => path
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default(),
            _ => "impl".to_owned(),
        };
        self.within(name, |v| syn::visit::visit_item_impl(v, item));
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        self.within(item.ident.to_string(), |v| {
            syn::visit::visit_item_trait(v, item)
        });
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.within(item.ident.to_string(), |v| {
            syn::visit::visit_item_mod(v, item)
        });
    }
}

/// Code that reads in one sitting: no fn (free, method, test, bench, example or xtask) in the
/// workspace's tracked Rust files grows past 150 lines unless it is listed in
/// `xtask/long-fns.txt`, and no listed fn grows past its recorded ceiling. The list may only
/// shrink: a listed fn that is split (or gone) must leave it.
#[test]
fn no_fn_grows_past_its_recorded_ceiling() {
    use syn::visit::Visit;
    let root = workspace_root();
    let listed = std::fs::read_to_string(root.join("xtask/long-fns.txt")).unwrap();
    let mut ceilings: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for line in listed.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(ceiling), Some(path), Some(name), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            panic!("xtask/long-fns.txt: `{line}` is not `<ceiling> <path> <fn>`");
        };
        ceilings.insert((path.to_owned(), name.to_owned()), ceiling.parse().unwrap());
    }
    let files = tracked_rust_files(&root);
    assert!(files.len() > 100, "found only {} Rust files", files.len());
    let mut problems = Vec::new();
    let mut long = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for relative in files {
        let text = std::fs::read_to_string(root.join(&relative)).unwrap();
        let file = match syn::parse_file(&text) {
            Ok(file) => file,
            Err(err) => {
                let at = err.span().start();
                problems.push(format!(
                    "{relative}:{}:{}: cannot parse it to measure its fns: {err}",
                    at.line, at.column
                ));
                continue;
            }
        };
        let mut lengths = FnLengths::default();
        lengths.visit_file(&file);
        for (name, lines) in lengths.found {
            if lines <= LONG_FN {
                continue;
            }
            let key = (relative.clone(), name.clone());
            seen.insert(key.clone());
            match ceilings.get(&key) {
                Some(&ceiling) if lines <= ceiling => {
                    long.push(format!("{lines:>6} {relative} {name} (ceiling {ceiling})"));
                }
                Some(&ceiling) => problems.push(format!(
                    "{relative}: fn {name} has {lines} lines, past its ceiling of {ceiling} in \
                     xtask/long-fns.txt: split it into fns that each do one thing"
                )),
                None => problems.push(format!(
                    "{relative}: fn {name} has {lines} lines (more than {LONG_FN}): split it \
                     into fns that each do one thing"
                )),
            }
        }
    }
    for (path, name) in ceilings.keys() {
        if !seen.contains(&(path.clone(), name.clone())) {
            problems.push(format!(
                "{path}: fn {name} is listed in xtask/long-fns.txt but is no longer over \
                 {LONG_FN} lines (or is gone): remove its line so it cannot grow back"
            ));
        }
    }
    if !long.is_empty() {
        eprintln!("warning: fns over {LONG_FN} lines:\n{}", long.join("\n"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
