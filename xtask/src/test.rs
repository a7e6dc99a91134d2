//! `cargo xtask test [ARGS...]`: setup, then every test of the workspace.
//!
//! Runs `cargo test --doc --workspace --all-features`, then `cargo nextest run --workspace
//! --all-features` (or `cargo test` when nextest is not installed), with `REEL_TOOLS_DIR` set so
//! the tests find the venv and npm packages that setup installed. Extra arguments go to the
//! test runner; `-p/--package` selections replace `--workspace` in both runs.
//!
//! The doc tests include the guide's Rust blocks: `docs/guide-tests` (a workspace member,
//! `publish = false`) includes each chapter of `docs/src` as module docs, so `--workspace`
//! compiles them (`cargo xtask test -p reel-guide-tests` runs only those).

use anyhow::{Context, Result};
use xshell::cmd;

use crate::{setup, workspace};
use clap::ArgMatches;

/// Package selections (`-p X`, `--package X`, `--package=X`) and the other arguments.
pub fn split_packages(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut packages = Vec::new();
    let mut rest = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        if arg == "-p" || arg == "--package" {
            if let Some(name) = iter.next() {
                packages.push(name);
            }
        } else if let Some(name) = arg.strip_prefix("--package=") {
            packages.push(name.to_owned());
        } else if let Some(name) = arg.strip_prefix("-p").filter(|n| !n.is_empty()) {
            packages.push(name.to_owned());
        } else {
            rest.push(arg);
        }
    }
    (packages, rest)
}

/// The `-p X ...` arguments for the selected packages, or `--workspace`.
fn selection(packages: &[String]) -> Vec<String> {
    if packages.is_empty() {
        return vec!["--workspace".into()];
    }
    packages
        .iter()
        .flat_map(|p| ["-p".to_owned(), p.clone()])
        .collect()
}

/// `cargo xtask test`
pub fn run(args: &ArgMatches) -> Result<()> {
    let rest: Vec<String> = args
        .get_many::<String>("args")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let (packages, extra) = split_packages(rest);
    let root = workspace::project_root()?;
    setup::setup(&root)?;
    let sh = workspace::shell_at(&root)?;
    let tools = workspace::tools_dir(&root);
    let _tools = sh.push_env("REEL_TOOLS_DIR", &tools);
    let select = &selection(&packages);
    // Doc tests first, the main run last: its summary line closes the output, which is what
    // CI reads to count the tests.
    cmd!(sh, "cargo test --doc {select...} --all-features")
        .run()
        .context("doc tests failed")?;
    if workspace::has_cargo_subcommand(&sh, "nextest") {
        cmd!(
            sh,
            "cargo nextest run {select...} --all-features --no-tests=warn {extra...}"
        )
        .run()
        .context("tests failed")?;
    } else {
        println!("test: cargo-nextest is not installed; using cargo test");
        cmd!(sh, "cargo test {select...} --all-features {extra...}")
            .run()
            .context("tests failed")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_package_selections_from_runner_arguments() {
        let args = [
            "-p",
            "reel-core",
            "--package=reel-herd",
            "-preel-geoip",
            "--no-fail-fast",
            "backoff",
        ]
        .map(String::from)
        .to_vec();
        let (packages, rest) = split_packages(args);
        assert_eq!(packages, ["reel-core", "reel-herd", "reel-geoip"]);
        assert_eq!(rest, ["--no-fail-fast", "backoff"]);
        assert_eq!(selection(&packages)[..2], ["-p", "reel-core"]);
        assert_eq!(selection(&[]), ["--workspace"]);
    }
}
