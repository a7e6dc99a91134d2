//! `cargo xtask docs [--no-book]`: API docs with warnings denied, then the mdBook guide.
//!
//! The guide in `docs/` is built with `mdbook` into `docs/book`, with the pinned version that
//! `cargo xtask setup` installs ([`crate::mdbook`]). Without it the command fails and says what
//! to run; `--no-book` builds only the API docs. (The guide's Rust blocks are compiled by the
//! doctests of `docs/guide-tests`, which `cargo xtask test` runs.)

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
    crate::mdbook::require(&sh)?;
    let book = root.join("docs");
    cmd!(sh, "mdbook build {book}")
        .run()
        .context("`mdbook build docs` failed")?;
    println!("docs: API docs in <target dir>/doc, the guide in docs/book");
    Ok(())
}
