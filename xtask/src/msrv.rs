//! The `msrv` and `msrv-build` steps of `cargo xtask ci`: each publishable crate's own
//! `rust-version`, checked.
//!
//! Every crate declares the lowest Rust it needs (`rust-version` in its `Cargo.toml`), which is
//! never lower than what its dependencies declare: a user on that toolchain who depends on the
//! crate, with any of its features, must be able to build every package it pulls in.
//!
//! - `msrv` (fast, part of `--quick`): for each crate, the packages of its normal and build
//!   dependency closure with all its features on, on every target platform (`cargo tree`), and
//!   the highest `rust-version` among them; the crate's own must be at least that, at least
//!   1.85 (edition 2024), and its README's "Minimum supported Rust version" line must say it.
//! - `msrv-build` (slow): `cargo +<rust-version> check` of each crate, with all its features,
//!   on that exact toolchain (installed with rustup, minimal profile, when missing). This is
//!   what catches language and standard-library features newer than the declared version,
//!   which no manifest shows. clippy's `incompatible_msrv` lint (on in the workspace clippy
//!   run, which reads each crate's `rust-version`) catches the standard-library part earlier.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::workspace::Package;

/// Edition 2024, which every crate uses, needs Rust 1.85.
pub const EDITION_FLOOR: &str = "1.85";

/// A Rust version as manifests write it: `1.85` or `1.94.1` (a missing patch is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RustVersion(pub u64, pub u64, pub u64);

impl RustVersion {
    /// Parses `1.85` or `1.94.1`.
    pub fn parse(text: &str) -> Result<RustVersion> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u64>());
        let bad = || format!("`{text}` is not a Rust version (1.85 or 1.94.1)");
        let major = parts.next().with_context(bad)?.ok().with_context(bad)?;
        let minor = parts.next().with_context(bad)?.ok().with_context(bad)?;
        let patch = match parts.next() {
            Some(p) => p.ok().with_context(bad)?,
            None => 0,
        };
        if parts.next().is_some() {
            bail!(bad());
        }
        Ok(RustVersion(major, minor, patch))
    }
}

impl std::fmt::Display for RustVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{}.{}.{}", self.0, self.1, self.2))
    }
}

/// The `rust-version` of every package cargo knows (`name version` → version), from
/// `cargo metadata` with all features.
fn declared_rust_versions(sh: &Shell) -> Result<BTreeMap<String, RustVersion>> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --all-features")
        .quiet()
        .read()
        .context("`cargo metadata` failed")?;
    let value: Value = serde_json::from_str(&json).context("cargo metadata printed bad JSON")?;
    let mut out = BTreeMap::new();
    for package in value["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(version)) = (package["name"].as_str(), package["version"].as_str())
        else {
            continue;
        };
        if let Some(rust) = package["rust_version"].as_str() {
            out.insert(format!("{name} {version}"), RustVersion::parse(rust)?);
        }
    }
    Ok(out)
}

/// `name version` of each package in `cargo tree --prefix none -f '{p}'` output, deduplicated
/// (`tokio v1.54.1`, `reel-core v0.1.0 (/path)`, `serde_derive v1.0.228 (proc-macro) (*)`).
pub fn tree_packages(tree: &str) -> Vec<String> {
    let mut out: Vec<String> = tree
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some(format!("{name} {version}"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What a crate needs: the highest `rust-version` in its closure and the package that sets it.
pub fn needed<'a>(
    closure: &'a [String],
    declared: &BTreeMap<String, RustVersion>,
) -> (RustVersion, &'a str) {
    let floor = RustVersion::parse(EDITION_FLOOR).unwrap_or(RustVersion(1, 85, 0));
    closure
        .iter()
        .filter_map(|p| declared.get(p).map(|v| (*v, p.as_str())))
        .fold((floor, "edition 2024"), |best, candidate| {
            if candidate.0 > best.0 {
                candidate
            } else {
                best
            }
        })
}

/// The version a README states in its "Minimum supported Rust version: X." line.
pub fn readme_msrv(readme: &str) -> Option<&str> {
    let (_, rest) = readme.split_once("Minimum supported Rust version: ")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches('.'))
}

/// The `msrv` step: every crate's `rust-version` covers its dependency closure and its README.
pub fn check(sh: &Shell, packages: &[Package]) -> Result<()> {
    let declared = declared_rust_versions(sh)?;
    let mut problems = Vec::new();
    println!("{:<22} {:>9} {:>9}  set by", "crate", "declared", "needed");
    for package in packages {
        let name = &package.name;
        let key = format!("{name} {}", package.version);
        let Some(own) = declared.get(&key).copied() else {
            problems.push(format!("{name} has no `rust-version` in its Cargo.toml"));
            continue;
        };
        let format = "{p}";
        let tree = cmd!(
            sh,
            "cargo tree -q -p {name} --all-features -e normal,build --target all --prefix none -f {format}"
        )
        .quiet()
        .read()
        .with_context(|| format!("`cargo tree -p {name}` failed"))?;
        let closure: Vec<String> = tree_packages(&tree)
            .into_iter()
            .filter(|p| *p != key)
            .collect();
        let (need, by) = needed(&closure, &declared);
        println!("{name:<22} {own:>9} {need:>9}  {by}");
        if own < need {
            problems.push(format!(
                "{name} declares rust-version {own} but {by} needs {need}: raise it to {need}"
            ));
        }
        let readme_path = package.dir().join("README.md");
        if let Ok(readme) = std::fs::read_to_string(&readme_path) {
            check_readme(name, own, &readme, &readme_path, &mut problems);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}

fn check_readme(
    name: &str,
    own: RustVersion,
    readme: &str,
    path: &Path,
    problems: &mut Vec<String>,
) {
    match readme_msrv(readme).map(RustVersion::parse) {
        Some(Ok(stated)) if stated == own => {}
        Some(Ok(stated)) => problems.push(format!(
            "{} says the minimum supported Rust version is {stated}, {name}'s rust-version is {own}",
            path.display()
        )),
        _ => problems.push(format!(
            "{} has no \"Minimum supported Rust version: {own}.\" line",
            path.display()
        )),
    }
}

/// The `msrv-build` step: `cargo +<rust-version> check` of each crate, all features on.
pub fn build(sh: &Shell, packages: &[Package]) -> Result<()> {
    if !crate::workspace::has_program("rustup") {
        bail!(
            "rustup is missing: the msrv-build step installs each crate's declared toolchain \
             with it (skip the step with --skip msrv-build)"
        );
    }
    let declared = declared_rust_versions(sh)?;
    let installed = cmd!(sh, "rustup toolchain list")
        .quiet()
        .read()
        .context("`rustup toolchain list` failed")?;
    let mut failed = Vec::new();
    for package in packages {
        let name = &package.name;
        let key = format!("{name} {}", package.version);
        let own = declared
            .get(&key)
            .with_context(|| format!("{name} has no `rust-version`"))?;
        // rustup names a toolchain by what was asked for: `1.85` and `1.85.0` are both fine,
        // but `1.85` means the latest 1.85.x; the declared version is exact.
        let toolchain = own.to_string();
        if !installed
            .lines()
            .any(|l| l.starts_with(&format!("{toolchain}-")))
        {
            println!("ci: msrv-build: installing Rust {toolchain} (rustup, minimal profile)");
            cmd!(
                sh,
                "rustup toolchain install {toolchain} --profile minimal --no-self-update"
            )
            .run()
            .with_context(|| format!("cannot install Rust {toolchain} with rustup"))?;
        }
        let plus = format!("+{toolchain}");
        println!("ci: msrv-build: cargo {plus} check -p {name} --lib --all-features");
        if cmd!(
            sh,
            "cargo {plus} check --quiet --locked -p {name} --lib --all-features"
        )
        .run()
        .is_err()
        {
            failed.push(format!("{name} on Rust {toolchain}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "these do not build on the Rust version they declare: {} (raise their rust-version \
             or avoid the newer feature)",
            failed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rust_versions() {
        assert_eq!(RustVersion::parse("1.85").unwrap(), RustVersion(1, 85, 0));
        assert_eq!(RustVersion::parse("1.94.1").unwrap(), RustVersion(1, 94, 1));
        assert!(RustVersion::parse("1.94.1").unwrap() > RustVersion::parse("1.94").unwrap());
        for bad in ["", "1", "1.x", "1.2.3.4", "v1.85", "1.85-beta"] {
            assert!(RustVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_cargo_tree_lines() {
        let tree = "reel-core v0.1.0 (/w/crates/reel-core)\ntokio v1.54.1\n\
                    serde_derive v1.0.228 (proc-macro)\ntokio v1.54.1 (*)\n\nnot-a-line\n";
        assert_eq!(
            tree_packages(tree),
            ["reel-core 0.1.0", "serde_derive 1.0.228", "tokio 1.54.1"]
        );
    }

    #[test]
    fn the_highest_declared_version_wins_over_the_edition_floor() {
        let declared: BTreeMap<String, RustVersion> = [
            ("tokio 1.54.1", "1.85"),
            ("sqlx 0.9.0", "1.94.0"),
            ("syn 2.0.0", "1.71"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), RustVersion::parse(v).unwrap()))
        .collect();
        let closure = ["syn 2.0.0".to_owned(), "unknown 1.0.0".to_owned()];
        assert_eq!(
            needed(&closure, &declared),
            (RustVersion(1, 85, 0), "edition 2024")
        );
        let closure = ["sqlx 0.9.0".to_owned(), "tokio 1.54.1".to_owned()];
        assert_eq!(
            needed(&closure, &declared),
            (RustVersion(1, 94, 0), "sqlx 0.9.0")
        );
    }

    #[test]
    fn finds_the_readme_line() {
        let readme = "x\nPart of reel. Minimum supported Rust version: 1.89.\n";
        assert_eq!(readme_msrv(readme), Some("1.89"));
        assert_eq!(
            readme_msrv("Minimum supported Rust version: 1.94.1 (sqlx)"),
            Some("1.94.1")
        );
        assert_eq!(readme_msrv("no such line"), None);
        let mut problems = Vec::new();
        check_readme(
            "c",
            RustVersion(1, 85, 0),
            "Minimum supported Rust version: 1.94.1.",
            Path::new("README.md"),
            &mut problems,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        check_readme(
            "c",
            RustVersion(1, 85, 0),
            "Minimum supported Rust version: 1.85.",
            Path::new("README.md"),
            &mut problems,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
