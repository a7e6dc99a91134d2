//! `cargo xtask <command>`: project automation for reel. See the `xtask` library for details.

use anyhow::Result;

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
    let matches = xtask::cli::command().get_matches();
    match matches.subcommand() {
        Some(("setup", _)) => xtask::setup::run(),
        Some(("test", args)) => xtask::test::run(args),
        Some(("docs", args)) => xtask::docs::run(args),
        Some(("release", args)) => xtask::release::run(args),
        Some(("bench", args)) => xtask::bench::run(args),
        Some(("ci", args)) => xtask::ci::run(args),
        Some(("dev", args)) => xtask::dev::run(args),
        Some(("drill", args)) => xtask::drill::run(args),
        Some(("api", args)) => xtask::api::run(args.get_flag("check")),
        // clap refuses unknown commands and prints the help when none is given.
        _ => Ok(()),
    }
}
