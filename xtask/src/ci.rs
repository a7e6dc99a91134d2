//! `cargo xtask ci [--quick] [--only STEP[,STEP...]] [--skip STEP[,STEP...]]`: the release-safety
//! checks that build what users build, one step at a time.
//!
//! `.ci/run` and the GitHub workflow run only the all-features workspace; users depend on one
//! crate with the features they pick. These steps build each publishable crate alone, on its
//! default features and on each feature (and the powerset at depth 2 for the crates with many
//! optional integrations), package every crate the way crates.io will see it, check the
//! licenses and advisories, lint the workflows and compare each released crate's API with its
//! last release. Missing tools are installed from crates.io (or the Go module proxy for
//! actionlint) on first use, so a developer runs the same checks as CI with one command.
//!
//! `--quick` keeps the steps that fit in `.ci/run`'s time budget (each crate alone on its
//! default features and with no features, and `cargo package`); the full run is for the GitHub
//! workflow and before a release.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use clap::ArgMatches;

use crate::cli;
use crate::workspace::{self, Metadata, Package};

/// Crates whose optional integrations interact (a store and a layer, a source and a format):
/// checked on every pair of features, not only one at a time.
const POWERSET_CRATES: &[&str] = &["reel-herd", "reel-ratelimit", "reel-geoip", "reel-search"];

/// The actionlint release the `workflows` step installs when none is on `PATH`.
const ACTIONLINT: &str = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12";

/// One check: its name (for `--only`/`--skip`) and whether `--quick` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Each publishable crate alone: `cargo check` with default features and with none.
    Alone,
    /// `cargo hack check --each-feature --no-dev-deps` per crate.
    Features,
    /// `cargo hack check --feature-powerset --depth 2` for [`POWERSET_CRATES`].
    Powerset,
    /// `cargo package` of every publishable crate, in dependency order.
    Package,
    /// `cargo deny check` (advisories, licenses, bans, sources).
    Deny,
    /// actionlint (with shellcheck when present) over `.github/workflows`.
    Workflows,
    /// `cargo semver-checks` of each released crate against its last `<crate>-v*` tag.
    Semver,
    /// The fuzz targets type-check (`cargo check` of each fuzz crate).
    Fuzz,
    /// Every `crates/*/api.txt` matches the source (`cargo xtask api --check`).
    Api,
    /// Each crate's `rust-version` covers its dependencies' and its README states it.
    Msrv,
    /// `cargo +<rust-version> check` of each crate on the toolchain it declares.
    MsrvBuild,
}

impl Step {
    /// Every step, in the order they run: cheap and decisive first.
    pub const ALL: [Step; 11] = [
        Step::Api,
        Step::Msrv,
        Step::Alone,
        Step::Package,
        Step::Workflows,
        Step::Deny,
        Step::Features,
        Step::Powerset,
        Step::Semver,
        Step::Fuzz,
        Step::MsrvBuild,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Step::Alone => "alone",
            Step::Features => "features",
            Step::Powerset => "powerset",
            Step::Package => "package",
            Step::Deny => "deny",
            Step::Workflows => "workflows",
            Step::Semver => "semver",
            Step::Fuzz => "fuzz",
            Step::Api => "api",
            Step::Msrv => "msrv",
            Step::MsrvBuild => "msrv-build",
        }
    }

    /// Whether `--quick` (what `.ci/run` uses) keeps this step.
    pub fn quick(self) -> bool {
        matches!(
            self,
            Step::Api | Step::Msrv | Step::Alone | Step::Package | Step::Workflows
        )
    }

    /// The step named `name`.
    pub fn parse(name: &str) -> Result<Step> {
        Step::ALL
            .into_iter()
            .find(|step| step.name() == name)
            .with_context(|| {
                let names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
                format!("unknown step `{name}`; the steps are {}", names.join(", "))
            })
    }
}

/// Which steps a command line selects.
pub fn selected_steps(quick: bool, only: Option<&str>, skip: Option<&str>) -> Result<Vec<Step>> {
    let list = |text: Option<&str>| -> Result<Vec<Step>> {
        text.map(|t| {
            t.split(',')
                .filter(|s| !s.is_empty())
                .map(Step::parse)
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
    };
    let only = list(only)?;
    let skip = list(skip)?;
    Ok(Step::ALL
        .into_iter()
        .filter(|step| only.is_empty() || only.contains(step))
        .filter(|step| !quick || !only.is_empty() || step.quick())
        .filter(|step| !skip.contains(step))
        .collect())
}

/// `cargo xtask ci`
pub fn run(args: &ArgMatches) -> Result<()> {
    let quick = args.get_flag("quick");
    let only = cli::value(args, "only");
    let skip = cli::value(args, "skip");
    let steps = selected_steps(quick, only.as_deref(), skip.as_deref())?;
    let root = workspace::project_root()?;
    let sh = workspace::shell_at(&root)?;
    let metadata = Metadata::load(&sh)?;
    let publishable: Vec<Package> = crate::release::all::publish_order(&metadata)
        .into_iter()
        .cloned()
        .collect();
    let mut failed = Vec::new();
    for step in steps {
        let started = Instant::now();
        println!("==> ci: {}", step.name());
        let result = match step {
            Step::Alone => alone(&sh, &publishable),
            Step::Features => each_feature(&sh, &publishable),
            Step::Powerset => powerset(&sh, &publishable),
            Step::Package => package(&sh, &publishable),
            Step::Deny => deny(&sh),
            Step::Workflows => workflows(&sh),
            Step::Semver => semver(&sh, &publishable),
            Step::Fuzz => fuzz(&sh, &metadata),
            Step::Api => crate::api::check(&root, &metadata),
            Step::Msrv => crate::msrv::check(&sh, &publishable),
            Step::MsrvBuild => crate::msrv::build(&sh, &publishable),
        };
        let seconds = started.elapsed().as_secs();
        match result {
            Ok(()) => println!("ci: {} passed in {seconds} s", step.name()),
            Err(err) => {
                println!("ci: {} FAILED in {seconds} s: {err:#}", step.name());
                failed.push(step.name());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("ci steps failed: {}", failed.join(", "))
    }
}

/// Installs `cargo <subcommand>` from crates.io when it is missing.
fn ensure_cargo_tool(sh: &Shell, subcommand: &str, krate: &str) -> Result<()> {
    if workspace::has_cargo_subcommand(sh, subcommand) {
        return Ok(());
    }
    println!("ci: installing {krate} (cargo install --locked {krate})");
    cmd!(sh, "cargo install --locked {krate}")
        .run()
        .with_context(|| format!("installing {krate} failed"))
}

fn alone(sh: &Shell, packages: &[Package]) -> Result<()> {
    for package in packages {
        let name = &package.name;
        // Outside the workspace's feature unification: what a user who depends on this crate
        // alone compiles, on its defaults and with every optional integration off.
        cmd!(sh, "cargo check --quiet -p {name} --lib")
            .run()
            .with_context(|| format!("{name} does not build alone on its default features"))?;
        cmd!(
            sh,
            "cargo check --quiet -p {name} --lib --no-default-features"
        )
        .run()
        .with_context(|| format!("{name} does not build alone without default features"))?;
    }
    Ok(())
}

fn each_feature(sh: &Shell, packages: &[Package]) -> Result<()> {
    ensure_cargo_tool(sh, "hack", "cargo-hack")?;
    for package in packages {
        let name = &package.name;
        cmd!(
            sh,
            "cargo hack check --quiet -p {name} --each-feature --no-dev-deps"
        )
        .run()
        .with_context(|| format!("{name}: a single feature does not build"))?;
    }
    Ok(())
}

fn powerset(sh: &Shell, packages: &[Package]) -> Result<()> {
    ensure_cargo_tool(sh, "hack", "cargo-hack")?;
    for package in packages
        .iter()
        .filter(|p| POWERSET_CRATES.contains(&p.name.as_str()))
    {
        let name = &package.name;
        cmd!(
            sh,
            "cargo hack check --quiet -p {name} --feature-powerset --depth 2 --no-dev-deps"
        )
        .run()
        .with_context(|| format!("{name}: a pair of features does not build"))?;
    }
    Ok(())
}

fn package(sh: &Shell, packages: &[Package]) -> Result<()> {
    // One `cargo package` over all of them: cargo (1.90+) packages in dependency order and
    // verifies each tarball against the ones before it, so unreleased reel-core versions
    // resolve without a registry.
    let selection: Vec<String> = packages
        .iter()
        .flat_map(|p| ["-p".to_owned(), p.name.clone()])
        .collect();
    // Tarballs of an earlier run are not always rewritten, and a verification build then
    // unpacks an old reel-core next to a new dependent ("could not find `breaker` in
    // `reel_core`" with a shared target directory): start from an empty package directory.
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => sh.current_dir().join("target"),
    };
    let stale = target.join("package");
    if stale.exists() {
        std::fs::remove_dir_all(&stale)
            .with_context(|| format!("cannot empty {}", stale.display()))?;
    }
    // Cargo also unpacks those tarballs under $CARGO_HOME/registry/src/<overlay>/ and never
    // unpacks the same name and version again: an old `reel-core-0.1.0` there is what the
    // verification builds. No reel crate comes from a real registry, so remove them all.
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        for kind in ["src", "cache"] {
            let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
                continue;
            };
            for registry in registries.flatten() {
                let Ok(entries) = std::fs::read_dir(registry.path()) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let ours = packages
                        .iter()
                        .any(|p| name.starts_with(&format!("{}-{}", p.name, p.version)));
                    if ours {
                        let path = entry.path();
                        let removed = if path.is_dir() {
                            std::fs::remove_dir_all(&path)
                        } else {
                            std::fs::remove_file(&path)
                        };
                        removed.with_context(|| format!("cannot remove {}", path.display()))?;
                    }
                }
            }
        }
    }
    cmd!(sh, "cargo package --quiet --allow-dirty {selection...}")
        .run()
        .context("a crate does not package or its tarball does not build alone")
}

fn deny(sh: &Shell) -> Result<()> {
    ensure_cargo_tool(sh, "deny", "cargo-deny")?;
    // The advisory database is a git repository on github.com; machines that reach only the
    // package registries cannot fetch it, so there the GitHub workflow's deny job is the one
    // that checks advisories. Licenses, bans and sources need nothing but the lock file.
    let mut checks = vec!["licenses", "bans", "sources"];
    if std::env::var_os("GITHUB_ACTIONS").is_some()
        || std::env::var_os("REEL_DENY_ADVISORIES").is_some()
    {
        checks.insert(0, "advisories");
    } else {
        println!(
            "ci: deny: advisories skipped here (the RustSec database is fetched from github.com; \
             the GitHub workflow checks them, or set REEL_DENY_ADVISORIES=1)"
        );
    }
    cmd!(sh, "cargo deny --all-features check {checks...}")
        .run()
        .context("cargo deny found a problem")
}

fn workflows(sh: &Shell) -> Result<()> {
    let program = if workspace::has_program("actionlint") {
        "actionlint".to_owned()
    } else {
        let go = if workspace::has_program("go") {
            "go"
        } else if std::path::Path::new("/usr/local/go/bin/go").is_file() {
            // Go's own installer puts it here, often outside a non-login shell's PATH.
            "/usr/local/go/bin/go"
        } else {
            bail!(
                "actionlint is not installed and Go is missing to install it: install Go, \
                 or actionlint itself (go install {ACTIONLINT}), or skip this step with \
                 --skip workflows"
            );
        };
        let gopath = cmd!(sh, "{go} env GOPATH")
            .quiet()
            .read()
            .context("`go env GOPATH` failed")?;
        let installed = format!("{}/bin/actionlint", gopath.trim());
        if !std::path::Path::new(&installed).is_file() {
            println!("ci: installing actionlint (go install {ACTIONLINT})");
            cmd!(sh, "{go} install {ACTIONLINT}")
                .run()
                .context("go install actionlint failed")?;
        }
        installed
    };
    cmd!(sh, "{program}")
        .run()
        .context("actionlint found problems in .github/workflows")
}

fn semver(sh: &Shell, packages: &[Package]) -> Result<()> {
    let tags = cmd!(sh, "git tag --list *-v*")
        .quiet()
        .read()
        .context("git tag failed")?;
    let mut checked = 0;
    for package in packages {
        let name = &package.name;
        let Some(baseline) = last_release_tag(&tags, name) else {
            println!("ci: semver: {name} has no release tag yet; nothing to compare against");
            continue;
        };
        ensure_cargo_tool(sh, "semver-checks", "cargo-semver-checks")?;
        cmd!(
            sh,
            "cargo semver-checks check-release -p {name} --baseline-rev {baseline}"
        )
        .run()
        .with_context(|| format!("{name}: its API breaks semver against {baseline}"))?;
        checked += 1;
    }
    println!("ci: semver: {checked} released crate(s) checked");
    Ok(())
}

/// The newest `<crate>-vX.Y.Z` tag in `tags` (one per line), by version.
pub fn last_release_tag(tags: &str, krate: &str) -> Option<String> {
    let prefix = format!("{krate}-v");
    tags.lines()
        .filter_map(|tag| {
            let version = tag.trim().strip_prefix(&prefix)?;
            let parts: Vec<u64> = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            (parts.len() == 3).then(|| (parts, tag.trim().to_owned()))
        })
        .max()
        .map(|(_, tag)| tag)
}

fn fuzz(sh: &Shell, metadata: &Metadata) -> Result<()> {
    // Fuzz crates are outside the workspace (cargo-fuzz builds them on nightly with
    // sanitizers); a stable `cargo check` still catches a target that no longer compiles
    // against the crate's API.
    let mut found = 0;
    for package in &metadata.packages {
        let manifest = package.dir().join("fuzz").join("Cargo.toml");
        if manifest.is_file() {
            found += 1;
            cmd!(sh, "cargo check --quiet --manifest-path {manifest} --bins")
                .run()
                .with_context(|| format!("the fuzz targets of {} do not build", package.name))?;
        }
    }
    println!("ci: fuzz: {found} fuzz crate(s) checked");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_keeps_only_the_cheap_steps_and_only_overrides_it() {
        let quick = selected_steps(true, None, None).unwrap();
        assert!(quick.iter().all(|s| s.quick()));
        assert!(quick.contains(&Step::Package));
        let only = selected_steps(true, Some("deny,fuzz"), None).unwrap();
        assert_eq!(only, vec![Step::Deny, Step::Fuzz]);
        let skip = selected_steps(false, None, Some("semver")).unwrap();
        assert_eq!(skip.len(), Step::ALL.len() - 1);
        assert!(selected_steps(false, Some("bogus"), None).is_err());
    }

    #[test]
    fn the_last_release_tag_is_the_highest_version_of_that_crate() {
        let tags = "reel-core-v0.1.0\nreel-core-v0.10.0\nreel-core-v0.9.3\nreel-core-derive-v9.0.0\n\
                    reel-herd-v1.0.0\nreel-core-vbogus\n";
        assert_eq!(
            last_release_tag(tags, "reel-core").as_deref(),
            Some("reel-core-v0.10.0")
        );
        assert_eq!(last_release_tag(tags, "reel-search"), None);
    }
}
