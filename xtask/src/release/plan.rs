//! The order crates are released in, the plan of what changed since the last tags, and dates.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use super::latest_tag;
use super::version::Version;
use crate::workspace::{Metadata, Package};

/// Picks the highest version among tags named `<crate>-v<version>`, ignoring other tags
/// (`reel-search-v1` must not count for `reel-search-derive` and the other way round).
pub fn latest_version_tag<'a>(
    crate_name: &str,
    tags: impl IntoIterator<Item = &'a str>,
) -> Option<(String, Version)> {
    let prefix = format!("{crate_name}-v");
    tags.into_iter()
        .filter_map(|tag| {
            let version: Version = tag.trim().strip_prefix(&prefix)?.parse().ok()?;
            Some((tag.trim().to_owned(), version))
        })
        .max_by(|a, b| a.1.cmp(&b.1))
}

/// Orders crates so that each comes after the crates it depends on; ties go by name.
/// `dependencies` maps each crate to its dependencies (others are ignored). Crates caught in a
/// cycle come last, by name.
pub fn dependency_order(dependencies: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = dependencies
        .iter()
        .map(|(name, deps)| {
            let deps = deps
                .iter()
                .filter(|d| *d != name && dependencies.contains_key(*d))
                .map(String::as_str)
                .collect();
            (name.as_str(), deps)
        })
        .collect();
    let mut order = Vec::new();
    while !remaining.is_empty() {
        let ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            order.extend(remaining.keys().map(|n| n.to_string()));
            break;
        }
        for name in ready {
            remaining.remove(name);
            for deps in remaining.values_mut() {
                deps.remove(name);
            }
            order.push(name.to_owned());
        }
    }
    order
}

/// One line of the release plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// The crate.
    pub name: String,
    /// Its version in the manifest.
    pub version: String,
    /// Its latest tag, if it was ever released.
    pub last_tag: Option<String>,
    /// Commits touching its directory since that tag (all commits when never released).
    pub commits: usize,
    /// Workspace crates in this plan that it depends on.
    pub after: Vec<String>,
}

/// Publishable crates changed since their last tag, in dependency order.
pub fn plan(sh: &Shell) -> Result<Vec<PlanEntry>> {
    let meta = Metadata::load(sh)?;
    let publishable: Vec<&Package> = meta.packages.iter().filter(|p| p.publishable).collect();
    let mut changed: BTreeMap<String, PlanEntry> = BTreeMap::new();
    for package in &publishable {
        let last = latest_tag(sh, &package.name)?.map(|(tag, _)| tag);
        let dir = package.dir().to_path_buf();
        let range = match &last {
            Some(tag) => format!("{tag}..HEAD"),
            None => "HEAD".to_owned(),
        };
        let commits = cmd!(sh, "git rev-list --count {range} -- {dir}")
            .quiet()
            .read()
            .context("`git rev-list` failed")?
            .trim()
            .parse::<usize>()
            .unwrap_or(0);
        if commits > 0 {
            changed.insert(
                package.name.clone(),
                PlanEntry {
                    name: package.name.clone(),
                    version: package.version.clone(),
                    last_tag: last,
                    commits,
                    after: Vec::new(),
                },
            );
        }
    }
    let graph: BTreeMap<String, BTreeSet<String>> = publishable
        .iter()
        .filter(|p| changed.contains_key(&p.name))
        .map(|p| {
            let deps = p
                .dependencies
                .iter()
                .filter(|d| changed.contains_key(*d))
                .cloned();
            (p.name.clone(), deps.collect())
        })
        .collect();
    Ok(dependency_order(&graph)
        .into_iter()
        .filter_map(|name| {
            let mut entry = changed.remove(&name)?;
            entry.after = graph
                .get(&name)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default();
            Some(entry)
        })
        .collect())
}

/// The plan as printed by `cargo xtask release --plan`.
pub fn render_plan(entries: &[PlanEntry]) -> String {
    if entries.is_empty() {
        return "Nothing to release: no crate changed since its last tag.\n".into();
    }
    let mut out = String::from("Crates changed since their last release, in release order:\n");
    for (i, e) in entries.iter().enumerate() {
        let since = match &e.last_tag {
            Some(tag) => format!("{} commit(s) since {tag}", e.commits),
            None => "never released".to_owned(),
        };
        let after = if e.after.is_empty() {
            String::new()
        } else {
            format!("; after {}", e.after.join(", "))
        };
        out.push_str(&format!(
            "{:>3}. {} {} ({since}{after})\n",
            i + 1,
            e.name,
            e.version
        ));
    }
    out.push_str("Release each with: cargo xtask release <crate> <patch|minor|major|X.Y.Z>\n");
    out
}

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date(seconds)
}

/// The UTC calendar date of a Unix time, `YYYY-MM-DD` (Howard Hinnant's days-to-civil).
pub fn civil_date(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
        assert_eq!(civil_date(1_795_392_000 + 86_399), "2026-11-23");
        assert_eq!(civil_date(4_107_542_400), "2100-03-01");
    }

    #[test]
    fn orders_by_dependencies_then_name() {
        let graph: BTreeMap<String, BTreeSet<String>> = [
            ("reel-herd", vec!["reel-core"]),
            ("reel-search", vec!["reel-core", "reel-search-derive"]),
            ("reel-search-derive", vec![]),
            ("reel-core", vec!["serde"]),
            ("reel-geoip", vec!["reel-core"]),
        ]
        .into_iter()
        .map(|(n, d)| (n.to_owned(), d.into_iter().map(str::to_owned).collect()))
        .collect();
        assert_eq!(
            dependency_order(&graph),
            [
                "reel-core",
                "reel-search-derive",
                "reel-geoip",
                "reel-herd",
                "reel-search"
            ]
        );
    }

    #[test]
    fn cycles_do_not_loop_forever() {
        let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "a"), ("c", "x")]
            .into_iter()
            .map(|(n, d)| (n.to_owned(), BTreeSet::from([d.to_owned()])))
            .collect();
        assert_eq!(dependency_order(&graph), ["c", "a", "b"]);
    }

    #[test]
    fn picks_the_highest_tag_of_the_right_crate() {
        let tags = [
            "reel-search-v0.2.0",
            "reel-search-derive-v0.9.0",
            "reel-search-v0.10.0",
            "junk",
        ];
        let (tag, version) = latest_version_tag("reel-search", tags).unwrap();
        assert_eq!(tag, "reel-search-v0.10.0");
        assert_eq!(version, Version::new(0, 10, 0));
        assert_eq!(
            latest_version_tag("reel-search-derive", tags).unwrap().0,
            "reel-search-derive-v0.9.0"
        );
        assert!(latest_version_tag("reel-core", tags).is_none());
    }

    #[test]
    fn renders_the_plan() {
        let entries = vec![
            PlanEntry {
                name: "a".into(),
                version: "0.1.0".into(),
                last_tag: None,
                commits: 3,
                after: vec![],
            },
            PlanEntry {
                name: "b".into(),
                version: "0.2.0".into(),
                last_tag: Some("b-v0.1.0".into()),
                commits: 2,
                after: vec!["a".into()],
            },
        ];
        let text = render_plan(&entries);
        assert!(text.contains("  1. a 0.1.0 (never released)"), "{text}");
        assert!(
            text.contains("  2. b 0.2.0 (2 commit(s) since b-v0.1.0; after a)"),
            "{text}"
        );
        assert!(render_plan(&[]).starts_with("Nothing to release"));
    }
}
