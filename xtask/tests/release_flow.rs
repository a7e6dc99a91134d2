//! The release flow on a scratch git repository holding a two-crate workspace: `alpha`, and
//! `beta` which depends on it. Nothing here touches the reel repository itself.

// Helpers as well as tests may panic: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use xshell::{Shell, cmd};
use xtask::release::version::{Bump, Version};
use xtask::release::{ReleaseOptions, plan, release};

/// A temporary directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ALPHA_CHANGELOG: &str = "# Changelog\n\n## [Unreleased]\n\n### Added\n- The alpha function.\n\n## [0.1.0] - 2026-01-01\n\n### Added\n- First release.\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Creates the workspace, commits it, and returns a shell in it whose cargo builds into the
/// scratch directory (not the repository).
fn scratch_workspace(name: &str) -> (Scratch, PathBuf, Shell) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let base = std::env::temp_dir().join(format!("xtask-{name}-{}-{nanos}", std::process::id()));
    let repo = base.join("repo");
    write(
        &repo.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n",
    );
    write(
        &repo.join("crates/alpha/Cargo.toml"),
        "[package]\nname = \"alpha\"\nversion = \"0.1.0\" # the released version\nedition = \"2024\"\nlicense = \"MIT\"\ndescription = \"Scratch crate.\"\n",
    );
    write(
        &repo.join("crates/alpha/src/lib.rs"),
        "//! Alpha.\n\n/// One.\npub fn one() -> u32 {\n    1\n}\n",
    );
    write(&repo.join("crates/alpha/CHANGELOG.md"), ALPHA_CHANGELOG);
    write(
        &repo.join("crates/beta/Cargo.toml"),
        "[package]\nname = \"beta\"\nversion = \"0.3.0\"\nedition = \"2024\"\nlicense = \"MIT\"\ndescription = \"Scratch crate.\"\n\n[dependencies]\nalpha = { path = \"../alpha\", version = \"0.1.0\" } # keep in step\n",
    );
    write(
        &repo.join("crates/beta/src/lib.rs"),
        "//! Beta.\n\n/// Two.\npub fn two() -> u32 {\n    alpha::one() + 1\n}\n",
    );
    write(
        &repo.join("crates/beta/CHANGELOG.md"),
        "# Changelog\n\n## [Unreleased]\n\n- Beta.\n",
    );

    let sh = Shell::new().unwrap();
    sh.change_dir(&repo);
    sh.set_var("CARGO_TARGET_DIR", base.join("target"));
    sh.set_var("GIT_AUTHOR_NAME", "xtask test");
    sh.set_var("GIT_AUTHOR_EMAIL", "xtask@example.invalid");
    sh.set_var("GIT_COMMITTER_NAME", "xtask test");
    sh.set_var("GIT_COMMITTER_EMAIL", "xtask@example.invalid");
    cmd!(sh, "git init --quiet --initial-branch=main")
        .run()
        .unwrap();
    cmd!(sh, "git config commit.gpgsign false").run().unwrap();
    cmd!(sh, "git config tag.gpgsign false").run().unwrap();
    cmd!(sh, "cargo generate-lockfile --offline --quiet")
        .run()
        .unwrap();
    cmd!(sh, "git add -A").run().unwrap();
    cmd!(sh, "git commit --quiet -m initial").run().unwrap();
    (Scratch(base), repo, sh)
}

fn options(repo: &Path, crate_name: &str, bump: &str, dry_run: bool) -> ReleaseOptions {
    ReleaseOptions {
        root: repo.to_path_buf(),
        crate_name: crate_name.to_owned(),
        bump: bump.parse::<Bump>().unwrap(),
        dry_run,
        date: "2026-11-23".to_owned(),
    }
}

fn snapshot(sh: &Shell, repo: &Path) -> (String, String, String, String) {
    (
        cmd!(sh, "git rev-parse HEAD").read().unwrap(),
        cmd!(sh, "git tag --list").read().unwrap(),
        read(&repo.join("crates/alpha/Cargo.toml")) + &read(&repo.join("crates/beta/Cargo.toml")),
        read(&repo.join("crates/alpha/CHANGELOG.md")),
    )
}

#[test]
fn dry_run_plans_and_changes_nothing() {
    let (_scratch, repo, sh) = scratch_workspace("dry-run");
    let before = snapshot(&sh, &repo);
    let outcome = release(&sh, &options(&repo, "alpha", "minor", true)).unwrap();
    assert_eq!(outcome.previous, Version::new(0, 1, 0));
    assert_eq!(outcome.version, Version::new(0, 2, 0));
    assert_eq!(outcome.tag, "alpha-v0.2.0");
    let files: Vec<String> = outcome
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "crates/alpha/CHANGELOG.md",
            "crates/alpha/Cargo.toml",
            "crates/beta/Cargo.toml"
        ]
    );
    assert_eq!(snapshot(&sh, &repo), before);
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
}

#[test]
fn release_bumps_updates_dependents_commits_and_tags() {
    let (_scratch, repo, sh) = scratch_workspace("release");
    let outcome = release(&sh, &options(&repo, "alpha", "patch", false)).unwrap();
    assert_eq!(outcome.version, Version::new(0, 1, 1));

    // The version and the dependent's requirement changed, and nothing else in the manifests.
    assert!(
        read(&repo.join("crates/alpha/Cargo.toml"))
            .contains("version = \"0.1.1\" # the released version\n")
    );
    assert!(
        read(&repo.join("crates/beta/Cargo.toml"))
            .contains("alpha = { path = \"../alpha\", version = \"0.1.1\" } # keep in step\n")
    );
    assert!(read(&repo.join("crates/beta/Cargo.toml")).contains("version = \"0.3.0\""));
    assert_eq!(
        read(&repo.join("crates/alpha/CHANGELOG.md")),
        "# Changelog\n\n## [Unreleased]\n\n## [0.1.1] - 2026-11-23\n\n### Added\n- The alpha function.\n\n## [0.1.0] - 2026-01-01\n\n### Added\n- First release.\n"
    );

    // One commit holding all of it (Cargo.lock included), tagged, and a clean tree.
    assert_eq!(
        cmd!(sh, "git log -1 --format=%s").read().unwrap(),
        "alpha v0.1.1"
    );
    let changed = cmd!(sh, "git show --name-only --format= HEAD")
        .read()
        .unwrap();
    let mut changed: Vec<&str> = changed.lines().collect();
    changed.sort_unstable();
    assert_eq!(
        changed,
        [
            "Cargo.lock",
            "crates/alpha/CHANGELOG.md",
            "crates/alpha/Cargo.toml",
            "crates/beta/Cargo.toml"
        ]
    );
    assert!(
        cmd!(sh, "git show HEAD:Cargo.lock")
            .read()
            .unwrap()
            .contains("name = \"alpha\"\nversion = \"0.1.1\"")
    );
    let tagged_commit = "alpha-v0.1.1^{commit}";
    assert_eq!(
        cmd!(sh, "git rev-parse {tagged_commit}").read().unwrap(),
        cmd!(sh, "git rev-parse HEAD").read().unwrap()
    );
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
    // `cargo package` really ran and left the packaged crate in the scratch target dir.
    assert!(repo.join("../target/package/alpha-0.1.1.crate").is_file());

    // The plan now lists beta (never released, and its manifest changed) but not alpha.
    let entries = plan(&sh).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["beta"]);
    assert_eq!(entries[0].last_tag, None);

    // A change to alpha puts it back in the plan, before beta, which depends on it.
    write(
        &repo.join("crates/alpha/src/lib.rs"),
        "//! Alpha, changed.\n\n/// One.\npub fn one() -> u32 {\n    1\n}\n",
    );
    cmd!(sh, "git commit --quiet -am change-alpha")
        .run()
        .unwrap();
    let entries = plan(&sh).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(entries[0].last_tag.as_deref(), Some("alpha-v0.1.1"));
    assert_eq!(entries[0].commits, 1);
    assert_eq!(entries[1].after, ["alpha"]);

    // The fresh Unreleased section is empty: a second release is refused, and changes nothing.
    let head = cmd!(sh, "git rev-parse HEAD").read().unwrap();
    let err = release(&sh, &options(&repo, "alpha", "patch", false)).unwrap_err();
    assert!(format!("{err:#}").contains("empty"), "{err:#}");
    assert_eq!(cmd!(sh, "git rev-parse HEAD").read().unwrap(), head);
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
}

#[test]
fn refuses_a_dirty_tree_an_existing_tag_and_unpublishable_crates() {
    let (_scratch, repo, sh) = scratch_workspace("refusals");

    cmd!(sh, "git tag alpha-v0.2.0").run().unwrap();
    let err = release(&sh, &options(&repo, "alpha", "minor", false)).unwrap_err();
    assert!(
        format!("{err:#}").contains("alpha-v0.2.0 already exists"),
        "{err:#}"
    );

    write(&repo.join("crates/alpha/src/lib.rs"), "//! Edited.\n");
    let err = release(&sh, &options(&repo, "alpha", "patch", false)).unwrap_err();
    assert!(
        format!("{err:#}").contains("uncommitted changes"),
        "{err:#}"
    );
    // A dry run only warns about the dirty tree.
    assert!(release(&sh, &options(&repo, "alpha", "patch", true)).is_ok());
    cmd!(sh, "git checkout -- .").run().unwrap();

    // A crate that does not build fails `cargo package`: nothing is committed or tagged, and
    // the manifests, changelog and lock file are restored.
    write(
        &repo.join("crates/alpha/src/lib.rs"),
        "//! Broken.\n\n/// One.\npub fn one() -> u32 {\n    \"one\"\n}\n",
    );
    cmd!(sh, "git commit --quiet -am broken-alpha")
        .run()
        .unwrap();
    let head = cmd!(sh, "git rev-parse HEAD").read().unwrap();
    let err = release(&sh, &options(&repo, "alpha", "patch", false)).unwrap_err();
    assert!(
        format!("{err:#}").contains("the files were restored"),
        "{err:#}"
    );
    assert!(format!("{err:#}").contains("cargo package"), "{err:#}");
    assert_eq!(cmd!(sh, "git rev-parse HEAD").read().unwrap(), head);
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
    assert_eq!(cmd!(sh, "git tag --list alpha-v0.1.1").read().unwrap(), "");
    assert_eq!(
        read(&repo.join("crates/alpha/CHANGELOG.md")),
        ALPHA_CHANGELOG
    );

    let err = release(&sh, &options(&repo, "gamma", "patch", false)).unwrap_err();
    assert!(
        format!("{err:#}").contains("no workspace crate named `gamma`"),
        "{err:#}"
    );

    let beta = repo.join("crates/beta/Cargo.toml");
    write(
        &beta,
        &read(&beta).replace("description", "publish = false\ndescription"),
    );
    cmd!(sh, "git commit --quiet -am private-beta")
        .run()
        .unwrap();
    let err = release(&sh, &options(&repo, "beta", "patch", false)).unwrap_err();
    assert!(format!("{err:#}").contains("publish = false"), "{err:#}");
}

#[test]
fn releasing_the_current_unreleased_version_explains_the_first_release() {
    let (_scratch, repo, sh) = scratch_workspace("first-release");
    let error = release(&sh, &options(&repo, "alpha", "0.1.0", true))
        .unwrap_err()
        .to_string();
    assert!(error.contains("never been released"), "{error}");
    assert!(error.contains("git tag alpha-v0.1.0"), "{error}");
    assert!(error.contains("cargo xtask release alpha patch"), "{error}");
}
