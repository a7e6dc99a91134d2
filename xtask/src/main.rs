//! `cargo xtask <command>`: project automation for reel. See the `xtask` library for details.

use anyhow::{Result, bail};
use xtask::cli::Args;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  setup                     install what the tests need (Debian packages, Python venv, npm)
  test [ARGS...]            setup, then nextest and doc tests for the workspace
                            (ARGS go to the test runner, e.g. -p reel-core)
  dev [--run] [--database NAME] [--admin-url URL] [--geoip-db FILE]
                            start memcached x2, redis, a search server and a PostgreSQL
                            database (created if missing) on free loopback ports, print the
                            REEL_* lines (or run the edge API with them); Ctrl-C stops them
  docs [--no-book]          cargo doc with warnings denied, then the mdBook guide in docs/
  release <crate> <patch|minor|major|X.Y.Z> [--dry-run]
                            bump, update dependents, changelog, check, commit and tag
  release --plan            crates changed since their last tag, in dependency order
  release --notes <crate> <version>
                            print a version's CHANGELOG section (used by the release workflow)
  ci [--quick] [--only STEPS] [--skip STEPS]
                            build what users build: each crate alone and per feature,
                            cargo package, cargo-deny, actionlint, semver-checks, fuzz
                            (STEPS: comma-separated; --quick: what .ci/run runs)
  api [--check]             write each publishable crate's public API to crates/*/api.txt
                            (--check: fail with the diff when one is stale)
  bench [--crate X] [--quick] [--write] [--report-only]
                            run criterion benches and print the ratio table (X: reel-ratelimit
                            or ratelimit); --write also rewrites docs/src/benchmarks.md and
                            its charts, --report-only rewrites them from results on disk
";

fn main() -> std::process::ExitCode {
    // Print the error chain ourselves: anyhow's default report adds a backtrace whenever
    // RUST_BACKTRACE is set, which buries the one line that says what to do.
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest = Args::new(args);
    match command.as_deref() {
        Some("setup") => xtask::setup::run(rest),
        Some("test") => xtask::test::run(rest),
        Some("docs") => xtask::docs::run(rest),
        Some("release") => xtask::release::run(rest),
        Some("bench") => xtask::bench::run(rest),
        Some("ci") => xtask::ci::run(rest),
        Some("api") => {
            let mut rest = rest;
            let check = rest.flag("--check");
            rest.finish()?;
            xtask::api::run(check)
        }
        Some("dev") => xtask::dev::run(rest),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
