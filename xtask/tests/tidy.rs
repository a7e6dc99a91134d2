//! Workspace-wide rules that no compiler checks, kept as tests so a change that breaks one
//! fails `cargo xtask test`.

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
