//! The file edits, checks, commit and tags of a release: planned first (each step printed and
//! recorded), then carried out unless it is a dry run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use super::{CrateRelease, Reason, ReleaseOptions, changelog, latest_tag, manifest, read, write};
use crate::workspace::{self, Metadata};

/// The plan, one line per step: printed as it is made and kept for the outcome.
pub(super) struct Steps {
    dry_run: bool,
    lines: Vec<String>,
}

impl Steps {
    pub(super) fn new(dry_run: bool) -> Self {
        Self {
            dry_run,
            lines: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, text: String) {
        if self.dry_run {
            println!("[dry-run] {text}");
        } else {
            println!("{text}");
        }
        self.lines.push(text);
    }

    pub(super) fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// Every file edit, computed before any is written so a refusal leaves the tree untouched:
/// each path with its original and its edited text.
pub(super) struct Edits {
    root: PathBuf,
    files: BTreeMap<PathBuf, (String, String)>,
}

impl Edits {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
        }
    }

    /// `path` relative to the workspace root.
    pub(super) fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).unwrap_or(path).to_path_buf()
    }

    /// Applies `change` to the text of `path` as edited so far; true when it changed it.
    fn edit(
        &mut self,
        path: &Path,
        change: &mut dyn FnMut(&str) -> Result<String>,
    ) -> Result<bool> {
        let (original, current) = match self.files.get(path) {
            Some((original, edited)) => (original.clone(), edited.clone()),
            None => {
                let text = read(path)?;
                (text.clone(), text)
            }
        };
        let updated = change(&current).with_context(|| format!("in {}", path.display()))?;
        let changed = updated != current;
        if changed {
            self.files.insert(path.to_path_buf(), (original, updated));
        }
        Ok(changed)
    }

    /// The edited files, relative to the root.
    pub(super) fn paths(&self) -> Vec<PathBuf> {
        self.files.keys().map(|p| self.rel(p)).collect()
    }

    /// Writes the edited texts.
    pub(super) fn write_edited(&self) -> Result<()> {
        for (path, (_, edited)) in &self.files {
            write(path, edited)?;
        }
        Ok(())
    }

    /// Writes the original texts back.
    pub(super) fn restore(&self) -> Result<()> {
        for (path, (original, _)) in &self.files {
            write(path, original)?;
        }
        Ok(())
    }
}

/// Plans the edits of every release: its version, every requirement on it, its changelog.
pub(super) fn edit_files(
    meta: &Metadata,
    releases: &[CrateRelease],
    options: &ReleaseOptions,
    edits: &mut Edits,
    steps: &mut Steps,
) -> Result<()> {
    let mut manifests: Vec<PathBuf> = meta
        .packages
        .iter()
        .map(|p| p.manifest_path.clone())
        .collect();
    manifests.push(options.root.join("Cargo.toml"));
    manifests.sort();
    manifests.dedup();
    for r in releases {
        let own = meta.package(&r.name)?;
        if r.previous != r.version {
            let version = r.version.clone();
            edits.edit(&own.manifest_path, &mut |text| {
                manifest::set_package_version(text, &version)
            })?;
            steps.push(format!(
                "set version = \"{}\" in {}",
                r.version,
                edits.rel(&own.manifest_path).display()
            ));
        }
        for path in &manifests {
            edit_requirements(r, path, edits, steps)?;
        }
        edit_changelog(
            r,
            &own.dir().join("CHANGELOG.md"),
            releases,
            options,
            edits,
            steps,
        )?;
    }
    Ok(())
}

/// Updates the requirements on `r`'s crate in the manifest at `path`.
fn edit_requirements(
    r: &CrateRelease,
    path: &Path,
    edits: &mut Edits,
    steps: &mut Steps,
) -> Result<()> {
    let mut found = Vec::new();
    edits.edit(path, &mut |text| {
        let (updated, changes) = manifest::update_requirements(text, &r.name, &r.version)?;
        found = changes;
        Ok(updated)
    })?;
    for change in &found {
        let place = format!("{} [{}]", edits.rel(path).display(), change.table);
        if change.is_change() {
            steps.push(format!(
                "update the requirement on {} in {place}: \"{}\" -> \"{}\"",
                r.name, change.old, change.new
            ));
        } else {
            steps.push(format!(
                "keep the requirement on {} in {place}: \"{}\" already accepts {}",
                r.name, change.old, r.version
            ));
        }
    }
    Ok(())
}

/// The changelog line a crate released for another's sake gets, and whether it is only added
/// when the crate has no notes of its own.
fn changelog_line(r: &CrateRelease, releases: &[CrateRelease]) -> Option<(String, bool)> {
    match &r.reason {
        Reason::Requested | Reason::Unreleased(_) => None,
        Reason::Pair(partner) => {
            let partner_version = releases
                .iter()
                .find(|p| p.name == *partner)
                .map(|p| p.version.to_string())
                .unwrap_or_default();
            Some((
                format!(
                    "- Released together with {partner} {partner_version}: the derive and its \
runtime crate are pinned to each other with `=`."
                ),
                true,
            ))
        }
        Reason::Dependent {
            dependency,
            was,
            now,
            leaks,
        } => Some((
            if *leaks {
                format!(
                    "- Requires {dependency} {now} (was {was}); {dependency}'s breaking \
changes reach this crate's public API, which shows its types."
                )
            } else {
                format!(
                    "- Requires {dependency} {now} (was {was}); this crate's own API is unchanged."
                )
            },
            false,
        )),
    }
}

/// Moves `r`'s `Unreleased` notes under its new version, after adding its line when it is
/// released for another crate's sake.
fn edit_changelog(
    r: &CrateRelease,
    changelog_path: &Path,
    releases: &[CrateRelease],
    options: &ReleaseOptions,
    edits: &mut Edits,
    steps: &mut Steps,
) -> Result<()> {
    let line = changelog_line(r, releases);
    let date = options.date.clone();
    let version = r.version.to_string();
    edits.edit(changelog_path, &mut |text| {
        let text = match &line {
            // A pair partner only needs its line when it has no notes of its own.
            Some((entry, only_if_empty)) => {
                if *only_if_empty && changelog::unreleased_has_entries(text) {
                    text.to_owned()
                } else {
                    changelog::add_unreleased_entry(text, "### Changed", entry)?
                }
            }
            None => text.to_owned(),
        };
        changelog::release_unreleased(&text, &version, &date)
    })?;
    if let Some((entry, _)) = &line {
        steps.push(format!(
            "add to {}: {entry}",
            edits.rel(changelog_path).display()
        ));
    }
    steps.push(format!(
        "move the Unreleased notes of {} under `## [{}] - {}`",
        edits.rel(changelog_path).display(),
        r.version,
        options.date
    ));
    Ok(())
}

/// The checks a release runs before it commits: `cargo package` of every crate, and
/// `cargo semver-checks` against each one's previous tag when it is installed.
pub(super) struct Checks {
    selection: Vec<String>,
    semver_runs: Vec<(String, String)>,
}

impl Checks {
    pub(super) fn plan(sh: &Shell, releases: &[CrateRelease], steps: &mut Steps) -> Result<Self> {
        let selection: Vec<String> = releases
            .iter()
            .flat_map(|r| ["-p".to_owned(), r.name.clone()])
            .collect();
        steps.push(format!(
            "cargo package {} --allow-dirty (build and verify each .crate, in dependency order)",
            selection.join(" ")
        ));
        let semver_checks = workspace::has_cargo_subcommand(sh, "semver-checks");
        let mut semver_runs: Vec<(String, String)> = Vec::new();
        for r in releases {
            let name = &r.name;
            match (latest_tag(sh, name)?, semver_checks) {
                (Some((prev, _)), true) => {
                    steps.push(format!(
                        "cargo semver-checks check-release -p {name} --baseline-rev {prev}"
                    ));
                    semver_runs.push((name.clone(), prev));
                }
                (None, _) => steps.push(format!(
                    "skip cargo semver-checks of {name}: no earlier {name}-v* tag to compare with"
                )),
                (Some(_), false) => steps.push(format!(
                    "skip cargo semver-checks of {name}: not installed (cargo install cargo-semver-checks)"
                )),
            }
        }
        Ok(Self {
            selection,
            semver_runs,
        })
    }

    pub(super) fn run(&self, sh: &Shell) -> Result<()> {
        let selection = &self.selection;
        cmd!(sh, "cargo package {selection...} --allow-dirty")
            .run()
            .context("`cargo package` failed")?;
        for (name, prev) in &self.semver_runs {
            cmd!(
                sh,
                "cargo semver-checks check-release -p {name} --baseline-rev {prev}"
            )
            .run()
            .with_context(|| {
                format!("`cargo semver-checks` found a problem in {name}: its bump is too small")
            })?;
        }
        Ok(())
    }
}

/// The release commit (the edited files, and the lock file when it is tracked) and its tags.
pub(super) struct Commit {
    pub(super) files: Vec<PathBuf>,
    pub(super) lock_tracked: bool,
    message: String,
}

impl Commit {
    pub(super) fn plan(
        sh: &Shell,
        releases: &[CrateRelease],
        edits: &Edits,
        steps: &mut Steps,
    ) -> Result<Self> {
        let files = edits.paths();
        let lock_tracked = !cmd!(sh, "git ls-files Cargo.lock")
            .quiet()
            .read()?
            .trim()
            .is_empty();
        let listed: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let message: Vec<String> = releases
            .iter()
            .map(|r| format!("{} v{}", r.name, r.version))
            .collect();
        let message = message.join(", ");
        steps.push(format!(
            "git commit -m \"{message}\" ({}{})",
            listed.join(", "),
            if lock_tracked { ", Cargo.lock" } else { "" }
        ));
        for r in releases {
            steps.push(format!(
                "git tag -a {} -m \"{} {}\"",
                r.tag, r.name, r.version
            ));
        }
        Ok(Self {
            files,
            lock_tracked,
            message,
        })
    }

    /// Commits, tags and prints how to push.
    pub(super) fn run(&self, sh: &Shell, releases: &[CrateRelease]) -> Result<()> {
        let message = &self.message;
        let mut to_add: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
        if self.lock_tracked {
            to_add.push("Cargo.lock".into());
        }
        cmd!(sh, "git add -- {to_add...}").quiet().run()?;
        cmd!(sh, "git commit --quiet -m {message}")
            .run()
            .context("`git commit` failed")?;
        for r in releases {
            let tag = &r.tag;
            let tag_message = format!("{} {}", r.name, r.version);
            cmd!(sh, "git tag -a {tag} -m {tag_message}")
                .run()
                .context("`git tag` failed")?;
        }
        let tags: Vec<&str> = releases.iter().map(|r| r.tag.as_str()).collect();
        println!(
            "released {message}: committed and tagged {}",
            tags.join(" ")
        );
        println!(
            "push with: git push --atomic origin HEAD:main {}   (once CI passes on it, the release workflow publishes them in this order)",
            tags.join(" ")
        );
        Ok(())
    }
}
