//! `cargo xtask release`: independent releases of one crate, and the plan of what to release.
//!
//! A release bumps the crate's version, updates the requirement every workspace manifest has on
//! it, moves its changelog's `Unreleased` notes under the new version, checks the package
//! (`cargo package`, and `cargo semver-checks` against the previous tag when installed), then
//! commits and tags `<crate>-v<version>`. Pushing the tag starts the release workflow, which
//! publishes. Nothing is pushed from here.

pub mod changelog;
pub mod manifest;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::cli::Args;
use crate::workspace::{self, Metadata, Package};
use version::{Bump, Version};

/// What to release and how.
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    /// The workspace root (a git work tree).
    pub root: PathBuf,
    /// The crate to release.
    pub crate_name: String,
    /// How to choose the new version.
    pub bump: Bump,
    /// Print every step and change nothing.
    pub dry_run: bool,
    /// The release date written to the changelog, `YYYY-MM-DD`.
    pub date: String,
}

/// What a release did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// The version before.
    pub previous: Version,
    /// The new version.
    pub version: Version,
    /// The tag, `<crate>-v<version>`.
    pub tag: String,
    /// Files written, relative to the root.
    pub files: Vec<PathBuf>,
}

/// `cargo xtask release ...`
pub fn run(mut args: Args) -> Result<()> {
    let root = workspace::project_root()?;
    if args.flag("--plan") {
        args.finish()?;
        let sh = workspace::shell_at(&root)?;
        print!("{}", render_plan(&plan(&sh)?));
        return Ok(());
    }
    if let Some(crate_name) = args.value("--notes")? {
        let version = args.required("the version whose notes to print")?;
        args.finish()?;
        let sh = workspace::shell_at(&root)?;
        let meta = Metadata::load(&sh)?;
        let path = meta.package(&crate_name)?.dir().join("CHANGELOG.md");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let notes = changelog::section(&text, &version)
            .with_context(|| format!("{} has no section for {version}", path.display()))?;
        println!("{notes}");
        return Ok(());
    }
    let dry_run = args.flag("--dry-run");
    let crate_name = args.required("the crate to release (usage: cargo xtask release <crate> <patch|minor|major|X.Y.Z> [--dry-run] | --plan)")?;
    let bump: Bump = args
        .required("the version bump: patch, minor, major or X.Y.Z")?
        .parse()?;
    args.finish()?;
    let sh = workspace::shell_at(&root)?;
    let options = ReleaseOptions {
        root,
        crate_name,
        bump,
        dry_run,
        date: today(),
    };
    release(&sh, &options)?;
    Ok(())
}

/// Runs a release (see the module docs) with commands run in `sh`, whose working directory
/// must be `options.root`. On a failed check the files are restored.
pub fn release(sh: &Shell, options: &ReleaseOptions) -> Result<ReleaseOutcome> {
    let dry = options.dry_run;
    let step = |text: String| {
        if dry {
            println!("[dry-run] {text}");
        } else {
            println!("{text}");
        }
    };

    let meta = Metadata::load(sh)?;
    let package = meta.package(&options.crate_name)?;
    if !package.publishable {
        bail!(
            "{} has `publish = false`: it is never released",
            package.name
        );
    }
    let status = cmd!(sh, "git status --porcelain")
        .quiet()
        .read()
        .context("`git status` failed")?;
    if !status.trim().is_empty() {
        if dry {
            println!(
                "[dry-run] warning: the work tree is dirty; a real release refuses to start:\n{status}"
            );
        } else {
            bail!("the work tree has uncommitted changes; commit or stash them first:\n{status}");
        }
    }

    let previous: Version = package.version.parse()?;
    if options.bump == Bump::Exact(previous.clone()) {
        let first_tag = format!("{}-v{previous}", package.name);
        if !tag_exists(sh, &first_tag)? {
            bail!(
                "{name} is already at {previous}, which has never been released (no tag {first_tag}). \
A release bumps the version; to publish {previous} itself as the first release, check it \
(`cargo publish -p {name} --dry-run`), then tag the commit: `git tag {first_tag} && git push \
origin {first_tag}` (the release workflow publishes tagged versions). To release the next \
version instead: `cargo xtask release {name} patch`.",
                name = package.name
            );
        }
    }
    let version = options.bump.apply(&previous)?;
    let tag = format!("{}-v{version}", package.name);
    if tag_exists(sh, &tag)? {
        bail!("the tag {tag} already exists");
    }
    step(format!(
        "release {} {previous} -> {version} (tag {tag})",
        package.name
    ));

    // Compute every edit first, so a refusal leaves the tree untouched.
    let rel = |path: &Path| {
        path.strip_prefix(&options.root)
            .unwrap_or(path)
            .to_path_buf()
    };
    let mut edits: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    let own_manifest = package.manifest_path.clone();
    let text = read(&own_manifest)?;
    let bumped = manifest::set_package_version(&text, &version)?;
    step(format!(
        "set version = \"{version}\" in {}",
        rel(&own_manifest).display()
    ));
    edits.insert(own_manifest.clone(), (text, bumped));

    let mut manifests: Vec<PathBuf> = meta
        .packages
        .iter()
        .map(|p| p.manifest_path.clone())
        .collect();
    manifests.push(options.root.join("Cargo.toml"));
    manifests.sort();
    manifests.dedup();
    for path in manifests {
        let original = match edits.get(&path) {
            Some((original, edited)) => (original.clone(), edited.clone()),
            None => {
                let text = read(&path)?;
                (text.clone(), text)
            }
        };
        let (updated, changes) =
            manifest::update_requirements(&original.1, &package.name, &version)
                .with_context(|| format!("in {}", path.display()))?;
        for change in &changes {
            let place = format!("{} [{}]", rel(&path).display(), change.table);
            if change.is_change() {
                step(format!(
                    "update the requirement on {} in {place}: \"{}\" -> \"{}\"",
                    package.name, change.old, change.new
                ));
            } else {
                step(format!(
                    "keep the requirement on {} in {place}: \"{}\" already accepts {version}",
                    package.name, change.old
                ));
            }
        }
        if changes.iter().any(|c| c.is_change()) {
            edits.insert(path, (original.0, updated));
        }
    }

    let changelog_path = package.dir().join("CHANGELOG.md");
    let text = read(&changelog_path)?;
    let released = changelog::release_unreleased(&text, &version.to_string(), &options.date)
        .with_context(|| format!("in {}", changelog_path.display()))?;
    step(format!(
        "move the Unreleased notes of {} under `## [{version}] - {}`",
        rel(&changelog_path).display(),
        options.date
    ));
    edits.insert(changelog_path, (text, released));

    let name = package.name.clone();
    let previous_tag = latest_tag(sh, &name)?;
    let semver_checks = workspace::has_cargo_subcommand(sh, "semver-checks");
    step(format!(
        "cargo package -p {name} --allow-dirty (build and verify the .crate)"
    ));
    match (&previous_tag, semver_checks) {
        (Some((prev, _)), true) => step(format!(
            "cargo semver-checks check-release -p {name} --baseline-rev {prev}"
        )),
        (None, _) => step(format!(
            "skip cargo semver-checks: no earlier {name}-v* tag to compare with"
        )),
        (Some(_), false) => step(
            "skip cargo semver-checks: not installed (cargo install cargo-semver-checks)".into(),
        ),
    }
    let files: Vec<PathBuf> = edits.keys().map(|p| rel(p)).collect();
    let lock_tracked = !cmd!(sh, "git ls-files Cargo.lock")
        .quiet()
        .read()?
        .trim()
        .is_empty();
    let listed: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    step(format!(
        "git commit -m \"{name} v{version}\" ({}{})",
        listed.join(", "),
        if lock_tracked { ", Cargo.lock" } else { "" }
    ));
    step(format!("git tag -a {tag} -m \"{name} {version}\""));

    let outcome = ReleaseOutcome {
        previous,
        version: version.clone(),
        tag: tag.clone(),
        files,
    };
    if dry {
        println!("[dry-run] nothing was changed");
        return Ok(outcome);
    }

    for (path, (_, edited)) in &edits {
        write(path, edited)?;
    }
    let checks = (|| -> Result<()> {
        cmd!(sh, "cargo package -p {name} --allow-dirty")
            .run()
            .context("`cargo package` failed")?;
        if let (Some((prev, _)), true) = (&previous_tag, semver_checks) {
            cmd!(
                sh,
                "cargo semver-checks check-release -p {name} --baseline-rev {prev}"
            )
            .run()
            .context("`cargo semver-checks` found a problem")?;
        }
        Ok(())
    })();
    if let Err(err) = checks {
        for (path, (original, _)) in &edits {
            write(path, original)?;
        }
        if lock_tracked {
            // cargo rewrote the lock file for the new version; the tree was clean before.
            cmd!(sh, "git checkout -- Cargo.lock").quiet().run()?;
        }
        return Err(err.context("the release checks failed; the files were restored"));
    }

    let mut to_add: Vec<String> = outcome
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    if lock_tracked {
        to_add.push("Cargo.lock".into());
    }
    cmd!(sh, "git add -- {to_add...}").quiet().run()?;
    let message = format!("{name} v{version}");
    cmd!(sh, "git commit --quiet -m {message}")
        .run()
        .context("`git commit` failed")?;
    let tag_message = format!("{name} {version}");
    cmd!(sh, "git tag -a {tag} -m {tag_message}")
        .run()
        .context("`git tag` failed")?;
    println!("released {name} {version}: committed and tagged {tag}");
    println!("push with: git push origin HEAD {tag}   (the release workflow publishes the crate)");
    Ok(outcome)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn tag_exists(sh: &Shell, tag: &str) -> Result<bool> {
    let reference = format!("refs/tags/{tag}");
    Ok(cmd!(sh, "git rev-parse --quiet --verify {reference}")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok())
}

/// The highest `<crate>-v<version>` tag and its version.
fn latest_tag(sh: &Shell, crate_name: &str) -> Result<Option<(String, Version)>> {
    let pattern = format!("{crate_name}-v*");
    let tags = cmd!(sh, "git tag --list {pattern}")
        .quiet()
        .read()
        .context("`git tag` failed")?;
    Ok(latest_version_tag(crate_name, tags.lines()))
}

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
