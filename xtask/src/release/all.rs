//! `cargo xtask release --all <bump>`: every publishable crate in one release, in dependency
//! order (the 0.1.0 release of the whole workspace, or a coordinated bump of all of it).
//!
//! The first crate in publishing order is the requested one; every other publishable crate is
//! added with the same bump as if it had been named too ([`ReleaseOptions::also`]), and the
//! usual rules still apply: derive pairs go together, dependents are not added twice, and the
//! release is one commit with one tag per crate, ordered so that each crate comes after the
//! crates it depends on.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};
use xshell::Shell;

use super::version::Bump;
use super::{CrateRelease, Reason, ReleaseOptions, dependency_order, pair_of, plan_one};
use crate::workspace::{Metadata, Package};

/// The publishable crates of `meta`, dependencies first (ties by name).
pub fn publish_order(meta: &Metadata) -> Vec<&Package> {
    let publishable: BTreeMap<&str, &Package> = meta
        .packages
        .iter()
        .filter(|p| p.publishable)
        .map(|p| (p.name.as_str(), p))
        .collect();
    let graph: BTreeMap<String, BTreeSet<String>> = publishable
        .values()
        .map(|p| {
            let deps = p
                .dependencies
                .iter()
                .filter(|d| publishable.contains_key(d.as_str()))
                .cloned()
                .collect();
            (p.name.clone(), deps)
        })
        .collect();
    dependency_order(&graph)
        .into_iter()
        .filter_map(|name| publishable.get(name.as_str()).copied())
        .collect()
}

/// The options of `--all`: the first crate in publishing order requested, the others `also`.
pub fn options_for_all(
    meta: &Metadata,
    root: std::path::PathBuf,
    bump: Bump,
    dry_run: bool,
    date: String,
) -> Result<ReleaseOptions> {
    let order = publish_order(meta);
    let Some((first, rest)) = order.split_first() else {
        bail!("no publishable crate in the workspace");
    };
    Ok(ReleaseOptions {
        root,
        crate_name: first.name.clone(),
        bump,
        dry_run,
        date,
        also: rest.iter().map(|p| p.name.clone()).collect(),
    })
}

/// Adds each crate of `options.also` (and its derive pair) to `releases` as requested, with
/// the same bump, unless it is already there.
pub(super) fn add_also(
    sh: &Shell,
    meta: &Metadata,
    options: &ReleaseOptions,
    releases: &mut Vec<CrateRelease>,
) -> Result<()> {
    for name in &options.also {
        let package = meta.package(name)?;
        if !package.publishable {
            bail!("{name} has `publish = false`: it is never released");
        }
        if releases.iter().any(|r| r.name == *name) {
            continue;
        }
        releases.push(plan_one(sh, package, &options.bump, Reason::Requested)?);
        if let Some(partner) = pair_of(name, &meta.packages)
            && !releases.iter().any(|r| r.name == partner.name)
            && !options.also.contains(&partner.name)
        {
            releases.push(plan_one(
                sh,
                partner,
                &options.bump,
                Reason::Pair(name.clone()),
            )?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        let package = |name: &str, deps: &[&str], publish: &str| {
            let deps: Vec<String> = deps
                .iter()
                .map(|d| format!(r#"{{"name": "{d}", "kind": null}}"#))
                .collect();
            format!(
                r#"{{"name": "{name}", "version": "0.1.0", "manifest_path": "/w/{name}/Cargo.toml",
                    "publish": {publish}, "dependencies": [{}]}}"#,
                deps.join(",")
            )
        };
        let packages = [
            package(
                "reel-ratelimit",
                &["reel-core", "reel-herd", "serde"],
                "null",
            ),
            package("reel-herd", &["reel-core"], "null"),
            package("reel-search", &["reel-core", "reel-search-derive"], "null"),
            package("reel-search-derive", &[], "null"),
            package("reel-core", &["tokio"], "null"),
            package("reel-testkit", &["reel-core"], "[]"),
        ];
        let json = format!(
            r#"{{"workspace_root": "/w", "target_directory": "/w/target", "packages": [{}]}}"#,
            packages.join(",")
        );
        Metadata::parse(&json).unwrap()
    }

    #[test]
    fn every_publishable_crate_after_its_dependencies() {
        let meta = meta();
        let order: Vec<&str> = publish_order(&meta)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(
            order,
            [
                "reel-core",
                "reel-search-derive",
                "reel-herd",
                "reel-search",
                "reel-ratelimit"
            ]
        );
        let options = options_for_all(
            &meta,
            "/w".into(),
            "0.1.0".parse().unwrap(),
            true,
            "2026-12-04".into(),
        )
        .unwrap();
        assert_eq!(options.crate_name, "reel-core");
        assert_eq!(
            options.also,
            [
                "reel-search-derive",
                "reel-herd",
                "reel-search",
                "reel-ratelimit"
            ]
        );
    }
}
