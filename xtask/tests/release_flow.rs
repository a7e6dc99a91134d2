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
        also: Vec::new(),
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
            "crates/beta/CHANGELOG.md",
            "crates/beta/Cargo.toml"
        ]
    );
    // The plan: alpha's minor bump is breaking for beta, which gets a patch release.
    assert!(
        outcome
            .steps
            .iter()
            .any(|s| s == "release beta 0.3.0 -> 0.3.1 (tag beta-v0.3.1) (depends on alpha, whose new version its requirement does not accept)"),
        "{:#?}",
        outcome.steps
    );
    assert!(
        outcome
            .steps
            .iter()
            .any(|s| s == "git tag -a beta-v0.3.1 -m \"beta 0.3.1\"")
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
fn releasing_the_current_unreleased_version_is_a_first_release() {
    let (_scratch, repo, sh) = scratch_workspace("first-release");
    // Neither crate was ever released.
    write(
        &repo.join("crates/alpha/CHANGELOG.md"),
        "# Changelog\n\n## [Unreleased]\n\n- First.\n",
    );
    cmd!(sh, "git commit --quiet -am unreleased").run().unwrap();
    // beta 0.3.0 has never been tagged: releasing 0.3.0 keeps the version, moves the notes
    // and tags it, and alpha, which it needs on crates.io, has its first release with it.
    let outcome = release(&sh, &options(&repo, "beta", "0.3.0", false)).unwrap();
    let tags: Vec<String> = outcome.releases.iter().map(|r| r.tag.clone()).collect();
    assert_eq!(tags, ["alpha-v0.1.0", "beta-v0.3.0"]);
    assert_eq!(outcome.previous, Version::new(0, 3, 0));
    assert_eq!(outcome.version, Version::new(0, 3, 0));
    assert_eq!(outcome.tag, "beta-v0.3.0");
    assert!(read(&repo.join("crates/beta/Cargo.toml")).contains("version = \"0.3.0\""));
    assert_eq!(
        read(&repo.join("crates/beta/CHANGELOG.md")),
        "# Changelog\n\n## [Unreleased]\n\n## [0.3.0] - 2026-11-23\n\n- Beta.\n"
    );
    assert_eq!(
        cmd!(sh, "git tag --points-at HEAD").read().unwrap(),
        "alpha-v0.1.0\nbeta-v0.3.0"
    );
    assert!(
        read(&repo.join("crates/alpha/CHANGELOG.md"))
            .contains("## [0.1.0] - 2026-11-23\n\n- First.")
    );
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
    // Once tagged, the same version is refused.
    let err = release(&sh, &options(&repo, "beta", "0.3.0", false)).unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
}

/// Adds `gamma` and its derive crate `gamma-derive`, pinned with `=`, and commits them.
fn add_derive_pair(sh: &Shell, repo: &Path) {
    write(
        &repo.join("crates/gamma-derive/Cargo.toml"),
        "[package]\nname = \"gamma-derive\"\nversion = \"0.1.0\"\nedition = \"2024\"\nlicense = \"MIT\"\ndescription = \"Scratch derive.\"\n\n[lib]\nproc-macro = true\n",
    );
    write(
        &repo.join("crates/gamma-derive/src/lib.rs"),
        "//! Gamma derive.\n\nuse proc_macro::TokenStream;\n\n/// Nothing.\n#[proc_macro_derive(Gamma)]\npub fn gamma(_input: TokenStream) -> TokenStream {\n    TokenStream::new()\n}\n",
    );
    write(
        &repo.join("crates/gamma-derive/CHANGELOG.md"),
        "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-01-01\n\n- First.\n",
    );
    write(
        &repo.join("crates/gamma/Cargo.toml"),
        "[package]\nname = \"gamma\"\nversion = \"0.1.0\"\nedition = \"2024\"\nlicense = \"MIT\"\ndescription = \"Scratch crate.\"\n\n[dependencies]\ngamma-derive = { path = \"../gamma-derive\", version = \"=0.1.0\" }\n",
    );
    write(
        &repo.join("crates/gamma/src/lib.rs"),
        "//! Gamma.\n\npub use gamma_derive::Gamma;\n",
    );
    write(
        &repo.join("crates/gamma/CHANGELOG.md"),
        "# Changelog\n\n## [Unreleased]\n\n### Changed\n- Gamma.\n\n## [0.1.0] - 2026-01-01\n\n- First.\n",
    );
    cmd!(sh, "cargo generate-lockfile --offline --quiet")
        .run()
        .unwrap();
    cmd!(sh, "git add -A").run().unwrap();
    cmd!(sh, "git commit --quiet -m gamma").run().unwrap();
    cmd!(sh, "git tag gamma-v0.1.0").run().unwrap();
    cmd!(sh, "git tag gamma-derive-v0.1.0").run().unwrap();
}

#[test]
fn a_derive_crate_is_released_with_its_runtime_crate_and_pinned_exactly() {
    let (_scratch, repo, sh) = scratch_workspace("derive-pair");
    add_derive_pair(&sh, &repo);

    // Asking for the derive crate alone plans the pair (a dry run, which allows the notes
    // written here without a commit, and changes nothing).
    let derive_notes = repo.join("crates/gamma-derive/CHANGELOG.md");
    write(
        &derive_notes,
        &read(&derive_notes).replace("## [Unreleased]\n", "## [Unreleased]\n\n- Fix.\n"),
    );
    let outcome = release(&sh, &options(&repo, "gamma-derive", "minor", true)).unwrap();
    let planned: Vec<String> = outcome.releases.iter().map(|r| r.tag.clone()).collect();
    assert_eq!(planned, ["gamma-derive-v0.2.0", "gamma-v0.2.0"]);
    assert!(
        outcome.steps.iter().any(|s| s.contains("with its pair")),
        "{:#?}",
        outcome.steps
    );
    cmd!(sh, "git checkout -- .").run().unwrap();
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");

    let outcome = release(&sh, &options(&repo, "gamma", "minor", false)).unwrap();
    let tags: Vec<String> = outcome.releases.iter().map(|r| r.tag.clone()).collect();
    assert_eq!(tags, ["gamma-derive-v0.2.0", "gamma-v0.2.0"]);
    let gamma = read(&repo.join("crates/gamma/Cargo.toml"));
    assert!(gamma.contains("version = \"0.2.0\""), "{gamma}");
    assert!(
        gamma.contains("gamma-derive = { path = \"../gamma-derive\", version = \"=0.2.0\" }"),
        "{gamma}"
    );
    assert!(read(&repo.join("crates/gamma-derive/Cargo.toml")).contains("version = \"0.2.0\""));
    // The derive crate had no notes of its own: it gets one saying why it was released.
    let notes = read(&repo.join("crates/gamma-derive/CHANGELOG.md"));
    assert!(
        notes.contains(
            "## [0.2.0] - 2026-11-23\n\n### Changed\n- Released together with gamma 0.2.0"
        ),
        "{notes}"
    );
    assert_eq!(
        cmd!(sh, "git tag --points-at HEAD").read().unwrap(),
        "gamma-derive-v0.2.0\ngamma-v0.2.0"
    );
    assert_eq!(
        cmd!(sh, "git log -1 --format=%s").read().unwrap(),
        "gamma-derive v0.2.0, gamma v0.2.0"
    );
    assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
}

#[test]
fn a_breaking_bump_releases_dependents_with_a_changelog_line() {
    let (_scratch, repo, sh) = scratch_workspace("dependents");
    let outcome = release(&sh, &options(&repo, "alpha", "minor", false)).unwrap();
    let tags: Vec<String> = outcome.releases.iter().map(|r| r.tag.clone()).collect();
    // beta's API does not mention alpha: a patch release that accepts alpha 0.2.
    assert_eq!(tags, ["alpha-v0.2.0", "beta-v0.3.1"]);
    let beta = read(&repo.join("crates/beta/Cargo.toml"));
    assert!(beta.contains("version = \"0.3.1\""), "{beta}");
    assert!(
        beta.contains("version = \"0.2.0\" } # keep in step"),
        "{beta}"
    );
    let notes = read(&repo.join("crates/beta/CHANGELOG.md"));
    assert!(
        notes.contains(
            "## [0.3.1] - 2026-11-23\n\n- Beta.\n\n### Changed\n- Requires alpha 0.2.0 (was 0.1.0)"
        ),
        "{notes}"
    );
    assert_eq!(
        cmd!(sh, "git tag --points-at HEAD").read().unwrap(),
        "alpha-v0.2.0\nbeta-v0.3.1"
    );

    // Once beta's API shows alpha (a re-export), alpha's break is beta's break too.
    write(
        &repo.join("crates/beta/src/lib.rs"),
        "//! Beta.\n\npub use alpha;\n\n/// Two.\npub fn two() -> u32 {\n    alpha::one() + 1\n}\n",
    );
    let changelog = repo.join("crates/beta/CHANGELOG.md");
    write(
        &changelog,
        &read(&changelog).replace(
            "## [Unreleased]\n",
            "## [Unreleased]\n\n- Re-export alpha.\n",
        ),
    );
    write(
        &repo.join("crates/alpha/CHANGELOG.md"),
        &read(&repo.join("crates/alpha/CHANGELOG.md"))
            .replace("## [Unreleased]\n", "## [Unreleased]\n\n- Breaking.\n"),
    );
    cmd!(sh, "git commit --quiet -am reexport").run().unwrap();
    let outcome = release(&sh, &options(&repo, "alpha", "minor", false)).unwrap();
    let tags: Vec<String> = outcome.releases.iter().map(|r| r.tag.clone()).collect();
    assert_eq!(tags, ["alpha-v0.3.0", "beta-v0.4.0"]);
    let notes = read(&repo.join("crates/beta/CHANGELOG.md"));
    assert!(
        notes.contains("- Requires alpha 0.3.0 (was 0.2.0); alpha's breaking changes reach this crate's public API"),
        "{notes}"
    );
}
