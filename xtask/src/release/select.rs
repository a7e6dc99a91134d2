//! Which crates a release holds, at which versions, in publishing order.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use xshell::Shell;

use super::version::{Bump, Version};
use super::{
    CrateRelease, Reason, ReleaseOptions, api_mentions, breaking_bump, compatible,
    dependency_order, latest_tag, pair_of, plan_one,
};
use crate::workspace::{Metadata, Package};

/// The requested crate, the other half of its pair, the dependents a breaking bump reaches and
/// the never-released dependencies of all of them, sorted so dependencies come first.
pub(super) fn crates_to_release(
    sh: &Shell,
    meta: &Metadata,
    package: &Package,
    options: &ReleaseOptions,
) -> Result<Vec<CrateRelease>> {
    let bump = &options.bump;
    let mut releases: Vec<CrateRelease> = Vec::new();
    let requested = plan_one(sh, package, bump, Reason::Requested)?;
    releases.push(requested);
    if let Some(partner) = pair_of(&package.name, &meta.packages) {
        let bump = match bump {
            Bump::Exact(_) => Bump::Exact(releases[0].version.clone()),
            other => other.clone(),
        };
        releases.push(plan_one(
            sh,
            partner,
            &bump,
            Reason::Pair(package.name.clone()),
        )?);
    }
    super::all::add_also(sh, meta, options, &mut releases)?;
    add_dependents(sh, meta, &mut releases)?;
    add_unreleased_dependencies(sh, meta, &mut releases)?;
    let graph: BTreeMap<String, BTreeSet<String>> = releases
        .iter()
        .map(|r| {
            let deps = meta
                .package(&r.name)
                .map(|p| p.dependencies.iter().cloned().collect())
                .unwrap_or_default();
            (r.name.clone(), deps)
        })
        .collect();
    let order = dependency_order(&graph);
    releases.sort_by_key(|r| order.iter().position(|n| *n == r.name));
    Ok(releases)
}

/// Adds every publishable crate whose requirement does not accept a new version in `releases`
/// (and its derive crate), transitively.
fn add_dependents(sh: &Shell, meta: &Metadata, releases: &mut Vec<CrateRelease>) -> Result<()> {
    let mut index = 0;
    while index < releases.len() {
        let current = releases[index].clone();
        index += 1;
        if compatible(&current.previous, &current.version) || current.previous == current.version {
            continue;
        }
        for dependent in meta
            .packages
            .iter()
            .filter(|p| p.publishable && p.dependencies.contains(&current.name))
        {
            if releases.iter().any(|r| r.name == dependent.name) {
                continue;
            }
            let leaks = api_mentions(dependent, &current.name);
            let own: Version = dependent.version.parse()?;
            let bump = if leaks {
                breaking_bump(&own)
            } else {
                Bump::Patch
            };
            let reason = Reason::Dependent {
                dependency: current.name.clone(),
                was: current.previous.clone(),
                now: current.version.clone(),
                leaks,
            };
            let planned = plan_one(sh, dependent, &bump, reason)?;
            releases.push(planned.clone());
            // Its derive crate goes with it, at the same kind of bump.
            if let Some(partner) = pair_of(&dependent.name, &meta.packages)
                && !releases.iter().any(|r| r.name == partner.name)
            {
                releases.push(plan_one(
                    sh,
                    partner,
                    &bump,
                    Reason::Pair(dependent.name.clone()),
                )?);
            }
        }
    }
    Ok(())
}

/// A workspace dependency that was never released cannot be on crates.io yet: its first
/// release goes out first, in the same commit.
fn add_unreleased_dependencies(
    sh: &Shell,
    meta: &Metadata,
    releases: &mut Vec<CrateRelease>,
) -> Result<()> {
    let mut index = 0;
    while index < releases.len() {
        let current = releases[index].clone();
        index += 1;
        let Ok(own) = meta.package(&current.name) else {
            continue;
        };
        for dependency in meta
            .packages
            .iter()
            .filter(|p| p.publishable && own.dependencies.contains(&p.name))
        {
            if releases.iter().any(|r| r.name == dependency.name)
                || latest_tag(sh, &dependency.name)?.is_some()
            {
                continue;
            }
            let version: Version = dependency.version.parse()?;
            releases.push(plan_one(
                sh,
                dependency,
                &Bump::Exact(version),
                Reason::Unreleased(current.name.clone()),
            )?);
        }
    }
    Ok(())
}

/// The plan's line for one crate: its versions, its tag and why it is released.
pub(super) fn describe(r: &CrateRelease) -> String {
    let why = match &r.reason {
        Reason::Requested => String::new(),
        Reason::Pair(partner) => format!(" (with its pair {partner})"),
        Reason::Unreleased(dependent) => {
            format!(" (never released, and {dependent} depends on it)")
        }
        Reason::Dependent {
            dependency, leaks, ..
        } => format!(
            " (depends on {dependency}, whose new version its requirement does not accept{})",
            if *leaks {
                "; its public API shows it, so the bump is breaking"
            } else {
                ""
            }
        ),
    };
    if r.previous == r.version {
        format!(
            "first release of {} {} (tag {}){why}",
            r.name, r.version, r.tag
        )
    } else {
        format!(
            "release {} {} -> {} (tag {}){why}",
            r.name, r.previous, r.version, r.tag
        )
    }
}
