//! `cargo xtask docs [--no-book]`: API docs with warnings denied, then the mdBook guide.
//!
//! The guide in `docs/` is built with `mdbook` into `docs/book`. When mdbook is missing it is
//! installed with `cargo install mdbook --locked`, except with `--no-book` or under CI (`CI`
//! set), where building mdbook would cost minutes: then the book is skipped, loudly.

use anyhow::{Context, Result};
use xshell::cmd;

use crate::workspace;
use clap::ArgMatches;

/// `cargo xtask docs`
pub fn run(args: &ArgMatches) -> Result<()> {
    let no_book = args.get_flag("no-book");
    let root = workspace::project_root()?;
    let sh = workspace::shell_at(&root)?;
    {
        let _flags = sh.push_env("RUSTDOCFLAGS", "-D warnings");
        cmd!(sh, "cargo doc --workspace --all-features --no-deps")
            .run()
            .context("`cargo doc` failed (warnings are errors)")?;
    }
    if no_book {
        println!("docs: skipped the mdBook guide (--no-book)");
        return Ok(());
    }
    if !workspace::has_program("mdbook") {
        if std::env::var_os("CI").is_some() {
            println!("docs: mdbook is not installed and CI is set; skipped the guide");
            return Ok(());
        }
        println!("docs: installing mdbook (cargo install mdbook --locked)");
        cmd!(sh, "cargo install mdbook --locked")
            .run()
            .context("cannot install mdbook")?;
    }
    let book = root.join("docs");
    cmd!(sh, "mdbook build {book}")
        .run()
        .context("`mdbook build docs` failed")?;
    println!("docs: API docs in <target dir>/doc, the guide in docs/book");
    Ok(())
}
