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
