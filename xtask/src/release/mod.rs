//! `cargo xtask release`: independent releases of one crate, and the plan of what to release.
//!
//! A release bumps the crate's version, updates the requirement every workspace manifest has on
//! it, moves its changelog's `Unreleased` notes under the new version, checks the packages
//! (`cargo package`, and `cargo semver-checks` against the previous tag when installed), then
//! commits and tags `<crate>-v<version>`. Pushing the tags starts the release workflow, which
//! publishes. Nothing is pushed from here.
//!
//! One command releases everything that must go out together, in one commit with one tag per
//! crate, in publishing order:
//! - a runtime crate and its derive crate (`x` and `x-derive`), which pin each other with `=`;
//! - when the new version is breaking (a `^` requirement on the old one does not accept it),
//!   every publishable crate that depends on it: a patch release, or a breaking one when its
//!   public API (its `api.txt` snapshot) shows the dependency, each with a changelog line that
//!   says so;
//! - the first release of any workspace dependency that was never released (no tag).
//!
//! Asking for the current version of a crate that has no tag is its first release: the
//! version stays, the notes move under it and the tag is made.

pub mod all;
mod apply;
pub mod changelog;
pub mod manifest;
mod plan;
mod select;
pub mod version;

pub use plan::{
    PlanEntry, civil_date, dependency_order, latest_version_tag, plan, render_plan, today,
};

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use clap::ArgMatches;

use crate::cli;
use crate::workspace::{self, Metadata, Package};
use apply::{Checks, Commit, Edits, Steps};
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
    /// More crates released in the same commit as if each had been named too, with the same
    /// bump (`--all` lists every other publishable crate here).
    pub also: Vec<String>,
}

/// Why a crate is part of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The crate named on the command line.
    Requested,
    /// The other half of a runtime/derive pair: the derive's generated code calls helpers of
    /// the runtime crate it was released with, so the two always go out together.
    Pair(String),
    /// A never-released workspace crate that the named crate depends on: its first release
    /// goes out with it (crates.io refuses a crate whose dependencies it does not have).
    Unreleased(String),
    /// A workspace crate that depends on `dependency`, whose new version its requirement did
    /// not accept. `leaks` when its public API shows the dependency (then the break is its own).
    Dependent {
        /// The released crate it depends on.
        dependency: String,
        /// The dependency's version before.
        was: Version,
        /// The dependency's new version.
        now: Version,
        /// Whether the dependency appears in this crate's public API.
        leaks: bool,
    },
}

/// One crate of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateRelease {
    /// The crate.
    pub name: String,
    /// The version before (equal to `version` for a first release).
    pub previous: Version,
    /// The new version.
    pub version: Version,
    /// The tag, `<crate>-v<version>`.
    pub tag: String,
    /// Why it is released.
    pub reason: Reason,
}

/// What a release did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// The requested crate's version before.
    pub previous: Version,
    /// The requested crate's new version.
    pub version: Version,
    /// The requested crate's tag, `<crate>-v<version>`.
    pub tag: String,
    /// Every crate released, in publishing order (dependencies first).
    pub releases: Vec<CrateRelease>,
    /// Files written, relative to the root.
    pub files: Vec<PathBuf>,
    /// The plan, one line per step, as printed.
    pub steps: Vec<String>,
}

/// Whether a crate at `new` is semver-compatible with `old` in Cargo's sense (a `^old`
/// requirement accepts it): same major, or same minor for 0.x, or same patch for 0.0.x.
pub fn compatible(old: &Version, new: &Version) -> bool {
    if old.pre.is_some() || new.pre.is_some() {
        return old == new;
    }
    match (old.major, old.minor) {
        (0, 0) => new.major == 0 && new.minor == 0 && new.patch == old.patch,
        (0, minor) => new.major == 0 && new.minor == minor,
        (major, _) => new.major == major,
    }
}

/// The bump that is breaking for a crate at `current`: minor for 0.x, major from 1.0.
pub fn breaking_bump(current: &Version) -> Bump {
    if current.major == 0 {
        Bump::Minor
    } else {
        Bump::Major
    }
}

/// The other half of `name`'s runtime/derive pair among `packages`, if any: `x` for
/// `x-derive`, `x-derive` for `x`.
pub fn pair_of<'a>(name: &str, packages: &'a [Package]) -> Option<&'a Package> {
    let partner = match name.strip_suffix("-derive") {
        Some(runtime) => runtime.to_owned(),
        None => format!("{name}-derive"),
    };
    packages.iter().find(|p| p.name == partner && p.publishable)
}

/// Whether `package`'s public API mentions `dependency`: its `api.txt` snapshot (see
/// [`crate::api`]) names a path in it, or, without a snapshot, a `pub` line of its sources does.
pub fn api_mentions(package: &Package, dependency: &str) -> bool {
    let ident = dependency.replace('-', "_");
    let mentions = |line: &str| {
        line.contains(&format!("{ident}::"))
            || line.contains(&format!("use {ident};"))
            || line.contains(&format!("use {ident} as"))
    };
    if let Ok(api) = std::fs::read_to_string(package.dir().join("api.txt")) {
        return api.lines().any(mentions);
    }
    let mut stack = vec![package.dir().join("src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path).is_ok_and(|text| {
                    text.lines()
                        .any(|l| l.trim_start().starts_with("pub") && mentions(l))
                })
            {
                return true;
            }
        }
    }
    false
}

/// `cargo xtask release ...`
pub fn run(args: &ArgMatches) -> Result<()> {
    let root = workspace::project_root()?;
    if args.get_flag("plan") {
        let sh = workspace::shell_at(&root)?;
        print!("{}", render_plan(&plan(&sh)?));
        return Ok(());
    }
    if args.get_flag("publish-order") {
        let sh = workspace::shell_at(&root)?;
        let meta = Metadata::load(&sh)?;
        for package in all::publish_order(&meta) {
            println!("{}", package.name);
        }
        return Ok(());
    }
    if let Some(crate_name) = cli::value(args, "notes") {
        let version = cli::value(args, "crate")
            .context("missing the version whose notes to print (--notes <crate> <version>)")?;
        if args.contains_id("bump") && cli::value(args, "bump").is_some() {
            bail!("--notes takes a crate and a version, nothing more");
        }
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
    let dry_run = args.get_flag("dry-run");
    if let Some(bump) = cli::value(args, "all") {
        let sh = workspace::shell_at(&root)?;
        let meta = Metadata::load(&sh)?;
        let options = all::options_for_all(&meta, root, bump.parse()?, dry_run, today())?;
        release(&sh, &options)?;
        return Ok(());
    }
    let crate_name = cli::value(args, "crate").context(
        "missing the crate to release (usage: cargo xtask release <crate> <patch|minor|major|X.Y.Z> [--dry-run] | --plan)",
    )?;
    let bump: Bump = cli::value(args, "bump")
        .context("missing the version bump: patch, minor, major or X.Y.Z")?
        .parse()?;
    let sh = workspace::shell_at(&root)?;
    let options = ReleaseOptions {
        root,
        crate_name,
        bump,
        dry_run,
        date: today(),
        also: Vec::new(),
    };
    release(&sh, &options)?;
    Ok(())
}

/// Runs a release (see the module docs) with commands run in `sh`, whose working directory
/// must be `options.root`. On a failed check the files are restored.
///
/// Besides the requested crate, the release holds the other half of its runtime/derive pair
/// and every workspace crate whose requirement does not accept a new version (a breaking
/// bump): those get a patch release, or a breaking one when their public API shows the
/// dependency, each with a changelog line saying why. All of it is one commit with one tag per
/// crate, in publishing order.
pub fn release(sh: &Shell, options: &ReleaseOptions) -> Result<ReleaseOutcome> {
    let dry = options.dry_run;
    let mut steps = Steps::new(dry);
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
            bail!("the work tree has uncommitted changes; commit them first:\n{status}");
        }
    }

    let releases = select::crates_to_release(sh, &meta, package, options)?;
    for r in &releases {
        steps.push(select::describe(r));
    }
    let mut edits = Edits::new(&options.root);
    apply::edit_files(&meta, &releases, options, &mut edits, &mut steps)?;
    let checks = Checks::plan(sh, &releases, &mut steps)?;
    let commit = Commit::plan(sh, &releases, &edits, &mut steps)?;

    let first = releases[0].clone();
    let requested = releases
        .iter()
        .find(|r| r.reason == Reason::Requested)
        .unwrap_or(&first)
        .clone();
    let outcome = ReleaseOutcome {
        previous: requested.previous,
        version: requested.version,
        tag: requested.tag,
        releases: releases.clone(),
        files: commit.files.clone(),
        steps: steps.into_lines(),
    };
    if dry {
        println!("[dry-run] nothing was changed");
        return Ok(outcome);
    }

    edits.write_edited()?;
    if let Err(err) = checks.run(sh) {
        edits.restore()?;
        if commit.lock_tracked {
            // cargo rewrote the lock file for the new version; the tree was clean before.
            cmd!(sh, "git checkout -- Cargo.lock").quiet().run()?;
        }
        return Err(err.context("the release checks failed; the files were restored"));
    }
    commit.run(sh, &releases)?;
    Ok(outcome)
}

/// The version `package` goes to under `bump`. Asking for its current version is its first
/// release when it was never tagged.
fn plan_one(sh: &Shell, package: &Package, bump: &Bump, reason: Reason) -> Result<CrateRelease> {
    let previous: Version = package.version.parse()?;
    let version = if *bump == Bump::Exact(previous.clone()) {
        previous.clone()
    } else {
        bump.apply(&previous)
            .with_context(|| format!("cannot bump {}", package.name))?
    };
    let tag = format!("{}-v{version}", package.name);
    if tag_exists(sh, &tag)? {
        bail!(
            "the tag {tag} already exists: {} {version} was released; choose a higher version",
            package.name
        );
    }
    if version == previous && latest_tag(sh, &package.name)?.is_some() {
        bail!(
            "{} {previous} is not its first release (it has earlier tags); bump it instead",
            package.name
        );
    }
    Ok(CrateRelease {
        name: package.name.clone(),
        previous,
        version,
        tag,
        reason,
    })
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
