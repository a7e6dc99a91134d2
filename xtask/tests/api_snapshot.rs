//! `cargo xtask api` on a scratch crate: what the listing sees and how it writes it.

// Helpers as well as tests may panic: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// A temporary directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn scratch(name: &str) -> Scratch {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Scratch(std::env::temp_dir().join(format!("xtask-api-{name}-{}-{nanos}", std::process::id())))
}

#[test]
fn lists_public_items_reexports_methods_and_cfgs() {
    let dir = scratch("crate");
    write(
        &dir.0.join("src/lib.rs"),
        r#"//! Demo.
mod private;
pub mod open;
#[cfg(feature = "extra")]
pub mod extra;
pub use private::{Hidden as Shown, helper};
pub use other_crate::Thing;
pub use open::nested::*;

/// A function.
pub fn top<T: Clone>(value: &T, count: usize) -> Vec<T> { vec![value.clone(); count] }
fn not_public() {}
pub(crate) fn crate_only() {}
"#,
    );
    write(
        &dir.0.join("src/private.rs"),
        r#"
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Hidden { pub size: u32, secret: u8 }
impl Hidden {
    pub fn new() -> Self { Hidden { size: 0, secret: 0 } }
    fn internal(&self) {}
}
impl std::fmt::Display for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) }
}
pub fn helper() {}
pub struct NeverExported;
"#,
    );
    write(
        &dir.0.join("src/open/mod.rs"),
        r#"
pub mod nested;
pub enum Mode { Fast, Slow { by: u32 }, Custom(String) }
pub trait Store: Send { fn get(&self, key: &str) -> Option<u64>; fn name(&self) -> &str { "x" } }
"#,
    );
    write(
        &dir.0.join("src/open/nested.rs"),
        "pub const LIMIT: usize = 3;\n",
    );
    write(&dir.0.join("src/extra.rs"), "pub struct Extra;\n");
    let text = xtask::api::snapshot(&dir.0, "demo-crate").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], xtask::api::HEADER);
    for expected in [
        "pub fn demo_crate::top<T: Clone>(value: &T, count: usize) -> Vec<T>",
        "#[non_exhaustive] pub struct demo_crate::Shown",
        "pub demo_crate::Shown::size: u32",
        "pub fn demo_crate::Shown::new() -> Self",
        "impl std::fmt::Display for demo_crate::Shown",
        "impl Debug for demo_crate::Shown (derived)",
        "pub fn demo_crate::helper()",
        "pub use demo_crate::Thing (from other_crate::Thing)",
        "pub const demo_crate::LIMIT: usize",
        "pub const demo_crate::open::nested::LIMIT: usize",
        "pub enum demo_crate::open::Mode",
        "pub demo_crate::open::Mode::Slow { by: u32 }",
        "pub demo_crate::open::Mode::Custom(String)",
        "pub trait demo_crate::open::Store: Send",
        "fn demo_crate::open::Store::get(&self, key: &str) -> Option<u64>",
        "fn demo_crate::open::Store::name(&self) -> &str (provided)",
        "#[cfg(feature = \"extra\")] pub struct demo_crate::extra::Extra",
    ] {
        assert!(lines.contains(&expected), "missing `{expected}` in\n{text}");
    }
    for absent in [
        "not_public",
        "crate_only",
        "secret",
        "internal",
        "NeverExported",
        "Hidden",
    ] {
        assert!(
            !text.contains(absent),
            "`{absent}` is not public API:\n{text}"
        );
    }
    let mut sorted = lines[1..].to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted, lines[1..], "the lines are sorted");
}

#[test]
fn the_diff_names_what_changed() {
    let dir = scratch("diff");
    write(&dir.0.join("src/lib.rs"), "pub fn a() {}\npub fn b() {}\n");
    let before = xtask::api::snapshot(&dir.0, "d").unwrap();
    write(
        &dir.0.join("src/lib.rs"),
        "pub fn a(x: u8) {}\npub fn b() {}\n",
    );
    let after = xtask::api::snapshot(&dir.0, "d").unwrap();
    assert_eq!(
        xtask::api::diff(&before, &after),
        "- pub fn d::a()\n+ pub fn d::a(x: u8)\n"
    );
}
