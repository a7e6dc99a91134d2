//! The pinned mdBook that builds the guide: `cargo xtask setup` installs it, `cargo xtask docs`
//! requires it.
//!
//! One version for every machine and the GitHub workflow, so the book renders the same
//! everywhere and a new mdBook release cannot break a build that passed yesterday. Bump
//! [`MDBOOK_VERSION`] (and the `mdbook@` pin in `.github/workflows/ci.yml`) together.

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::workspace;

/// The mdBook release the guide is built with.
pub const MDBOOK_VERSION: &str = "0.5.4";

/// The version in `mdbook --version` output (`mdbook v0.5.4`).
pub fn parse_version(output: &str) -> Option<&str> {
    let word = output.split_whitespace().nth(1)?;
    Some(word.strip_prefix('v').unwrap_or(word))
}

/// The installed mdBook's version, if one is on `PATH`.
pub fn installed_version(sh: &Shell) -> Option<String> {
    if !workspace::has_program("mdbook") {
        return None;
    }
    let output = cmd!(sh, "mdbook --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    parse_version(&output).map(str::to_owned)
}

/// Installs mdBook [`MDBOOK_VERSION`] with `cargo install --locked` unless that version is
/// already on `PATH`; prints one line either way.
pub fn install(sh: &Shell) -> Result<()> {
    match installed_version(sh) {
        Some(version) if version == MDBOOK_VERSION => {
            println!("setup: mdbook {MDBOOK_VERSION} present");
            return Ok(());
        }
        Some(other) => println!("setup: mdbook {other} found, the guide needs {MDBOOK_VERSION}"),
        None => {}
    }
    println!("setup: installing mdbook {MDBOOK_VERSION} (cargo install mdbook --locked)");
    let started = std::time::Instant::now();
    cmd!(
        sh,
        "cargo install mdbook --locked --version {MDBOOK_VERSION}"
    )
    .run()
    .with_context(|| format!("`cargo install mdbook --version {MDBOOK_VERSION}` failed"))?;
    println!(
        "setup: mdbook {MDBOOK_VERSION} installed in {} s",
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Fails with what to run unless mdBook [`MDBOOK_VERSION`] is on `PATH`.
pub fn require(sh: &Shell) -> Result<()> {
    match installed_version(sh) {
        Some(version) if version == MDBOOK_VERSION => Ok(()),
        Some(other) => bail!(
            "mdbook {other} is installed, the guide is built with {MDBOOK_VERSION}: run \
             `cargo xtask setup` (or cargo install mdbook --locked --version {MDBOOK_VERSION})"
        ),
        None => bail!(
            "mdbook is not installed (or not on PATH): run `cargo xtask setup` (or cargo \
             install mdbook --locked --version {MDBOOK_VERSION}), or pass --no-book"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_line() {
        assert_eq!(parse_version("mdbook v0.5.4\n"), Some("0.5.4"));
        assert_eq!(parse_version("mdbook 0.4.52"), Some("0.4.52"));
        assert_eq!(parse_version("mdbook"), None);
        assert_eq!(parse_version(""), None);
    }
}
