//! The guide's Rust blocks stay compiled: `docs/guide-tests` includes every chapter of
//! `docs/src` that has a ```` ```rust ```` block (so its blocks are doctests), and a block kept
//! out with `ignore` says why on the line before it (`<!-- ignore: reason -->`).

// Helpers as well as tests may panic: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.md` file under `dir`, as paths relative to `base`, sorted.
fn chapters(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            chapters(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            let relative = path.strip_prefix(base).unwrap();
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    out.sort();
}

/// The info string of each fenced Rust block (`rust`, `rust,no_run`, `rust,ignore`) with the
/// 1-based line of its fence and the line before it.
fn rust_blocks(text: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut in_block = false;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        if in_block {
            in_block = false;
            continue;
        }
        in_block = true;
        let info = info.trim();
        if info == "rust" || info.starts_with("rust,") {
            let before = if i == 0 { "" } else { lines[i - 1].trim() };
            out.push((i + 1, info.to_owned(), before.to_owned()));
        }
    }
    out
}

/// Every chapter with a Rust block is compiled by `docs/guide-tests` (`include_str!` of it).
#[test]
fn every_chapter_with_rust_blocks_is_compiled_by_guide_tests() {
    let root = workspace_root();
    let src = root.join("docs/src");
    let lib = std::fs::read_to_string(root.join("docs/guide-tests/src/lib.rs")).unwrap();
    let mut all = Vec::new();
    chapters(&src, &src, &mut all);
    let missing: Vec<&String> = all
        .iter()
        .filter(|chapter| {
            let text = std::fs::read_to_string(src.join(chapter)).unwrap();
            !rust_blocks(&text).is_empty()
                && !lib.contains(&format!("include_str!(\"../../src/{chapter}\")"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "these chapters have Rust blocks that nothing compiles; add \
         `#[doc = include_str!(\"../../src/<chapter>\")] mod <name> {{}}` to \
         docs/guide-tests/src/lib.rs for each: {missing:?}"
    );
}

/// A block marked `ignore` is never compiled, so it says why: `<!-- ignore: reason -->` on the
/// line before its fence. Blocks that need a server are `no_run`, not `ignore`.
#[test]
fn ignored_guide_blocks_say_why() {
    let root = workspace_root();
    let src = root.join("docs/src");
    let mut all = Vec::new();
    chapters(&src, &src, &mut all);
    let mut unexplained = Vec::new();
    for chapter in &all {
        let text = std::fs::read_to_string(src.join(chapter)).unwrap();
        for (line, info, before) in rust_blocks(&text) {
            let ignored = info.split(',').any(|attr| attr.trim() == "ignore");
            let reason = before
                .strip_prefix("<!-- ignore:")
                .and_then(|r| r.strip_suffix("-->"))
                .map(str::trim)
                .unwrap_or("");
            if ignored && reason.is_empty() {
                unexplained.push(format!("docs/src/{chapter}:{line}"));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "these Rust blocks are `ignore` without a reason: compile them (`no_run` and hidden `# ` \
         lines for the setup) or write `<!-- ignore: why -->` on the line before: {unexplained:?}"
    );
}

#[test]
fn finds_fences_and_their_reasons() {
    let text = "x\n<!-- ignore: needs your type -->\n```rust,ignore\nlet a;\n```\n\n   \
                ```rust,no_run\n   # fn f() {}\n   ```\n```sh\nls\n```\n```rust\n```\n";
    let blocks = rust_blocks(text);
    assert_eq!(
        blocks,
        [
            (
                3,
                "rust,ignore".to_owned(),
                "<!-- ignore: needs your type -->".to_owned()
            ),
            (7, "rust,no_run".to_owned(), String::new()),
            (13, "rust".to_owned(), "```".to_owned()),
        ]
    );
}
