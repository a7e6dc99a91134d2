//! The command line of `cargo xtask`, declared with clap's builder (no derive: clap is already
//! built for the examples with these features, and the derive would add a proc-macro build).
//!
//! Each command's module reads its options from the [`clap::ArgMatches`] of its subcommand.

use clap::{Arg, ArgAction, ArgMatches, Command};

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn option(name: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name(value).help(help)
}

/// The whole command line: `xtask <command> [options]`.
pub fn command() -> Command {
    Command::new("xtask")
        .bin_name("cargo xtask")
        .about("Project automation for reel: setup, test, bench, docs, release, ci, api.")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("setup")
                .about("Install what the tests need (Debian packages, Python venv, npm)"),
        )
        .subcommand(
            Command::new("test")
                .about("Setup, then nextest and doc tests for the workspace")
                .arg(
                    Arg::new("args")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .value_name("ARGS")
                        .help("Passed to the test runner, e.g. -p reel-core"),
                ),
        )
        .subcommand(
            Command::new("dev")
                .about(
                    "Start memcached x2, redis, a search server and a PostgreSQL database on \
                     free loopback ports and print the REEL_* lines; Ctrl-C stops them",
                )
                .arg(flag("run", "Run the edge API with them"))
                .arg(option("database", "NAME", "The PostgreSQL database (created if missing)"))
                .arg(option("admin-url", "URL", "A PostgreSQL URL with rights to create it"))
                .arg(option("geoip-db", "FILE", "A MaxMind database for the edge API")),
        )
        .subcommand(
            Command::new("drill")
                .about(
                    "Outage drill: the edge API on real backends under load while each backend \
                     is killed and restored; fails when a promise breaks",
                )
                .arg(flag("short", "The compressed form .ci/run runs"))
                .arg(flag(
                    "write-report",
                    "Rewrite docs/src/ops/drill.md, its chart and the dashboard drawing \
                     (docs/src/ops/dashboard.svg; implies --dashboard)",
                ))
                .arg(flag(
                    "dashboard",
                    "Run Prometheus beside the drill (built on first use) and draw \
                     docs/grafana/reel.json from it; lists panels without data",
                ))
                .arg(option("concurrency", "N", "Closed-loop clients (1 to 256, default 8)")),
        )
        .subcommand(
            Command::new("docs")
                .about("cargo doc with warnings denied, then the mdBook guide in docs/")
                .arg(flag("no-book", "Skip the mdBook guide")),
        )
        .subcommand(
            Command::new("release")
                .about(
                    "Bump, update dependents, changelog, check, commit and tag (with its derive \
                     pair, the dependents a breaking bump leaves behind and never-released \
                     dependencies)",
                )
                .arg(Arg::new("crate").value_name("CRATE").help("The crate to release"))
                .arg(
                    Arg::new("bump")
                        .value_name("BUMP")
                        .help("patch, minor, major or X.Y.Z (the current version of a crate that was never tagged is its first release)"),
                )
                .arg(flag("dry-run", "Print every step and change nothing"))
                .arg(
                    flag("plan", "Crates changed since their last tag, in dependency order")
                        .conflicts_with_all(["crate", "bump", "dry-run", "notes", "all"]),
                )
                .arg(
                    option(
                        "all",
                        "BUMP",
                        "Release every publishable crate, in dependency order, in one commit \
                         (e.g. --all 0.1.0 --dry-run)",
                    )
                    .conflicts_with_all(["crate", "bump", "notes"]),
                )
                .arg(
                    flag(
                        "publish-order",
                        "Print the publishable crates, dependencies first (the release workflow's order)",
                    )
                    .conflicts_with_all(["crate", "bump", "dry-run", "notes", "all", "plan"]),
                )
                .arg(
                    option(
                        "notes",
                        "CRATE",
                        "Print a version's CHANGELOG section (the version is the next argument)",
                    )
                    .conflicts_with_all(["dry-run"]),
                ),
        )
        .subcommand(
            Command::new("ci")
                .about(
                    "Build what users build: each crate alone and per feature, cargo package, \
                     cargo-deny, actionlint, semver-checks, fuzz, the API snapshots",
                )
                .arg(flag("quick", "Only what .ci/run runs"))
                .arg(option("only", "STEPS", "Comma-separated steps to run"))
                .arg(option("skip", "STEPS", "Comma-separated steps to skip")),
        )
        .subcommand(
            Command::new("api")
                .about("Write each publishable crate's public API to crates/*/api.txt")
                .arg(flag("check", "Fail with the diff when one is stale")),
        )
        .subcommand(
            Command::new("bench")
                .about("Run criterion benches and print the ratio table")
                .arg(option(
                    "crate",
                    "X",
                    "Only this crate (reel-ratelimit or ratelimit)",
                ))
                .arg(flag("quick", "Short measurement times"))
                .arg(flag(
                    "write",
                    "Also rewrite docs/src/benchmarks.md and its charts",
                ))
                .arg(flag(
                    "report-only",
                    "Rewrite the report from results on disk",
                ))
                .arg(flag(
                    "metrics-cost",
                    "What feature `metrics` costs: herd get, ratelimit check, geoip lookup, \
                     benched off then on",
                ))
                .arg(flag(
                    "instructions",
                    "With --metrics-cost: count instructions under callgrind instead of timing",
                )),
        )
}

/// A string option's value, if given.
pub fn value(matches: &ArgMatches, name: &str) -> Option<String> {
    matches.get_one::<String>(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ArgMatches, clap::Error> {
        command().try_get_matches_from(std::iter::once("xtask").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn flags_values_and_positionals_are_taken_in_any_order() {
        let m = parse(&["release", "--dry-run", "reel-core", "patch"]).unwrap();
        let (name, m) = m.subcommand().unwrap();
        assert_eq!(name, "release");
        assert!(m.get_flag("dry-run"));
        assert_eq!(value(m, "crate").as_deref(), Some("reel-core"));
        assert_eq!(value(m, "bump").as_deref(), Some("patch"));
        let m = parse(&["ci", "--only=deny,fuzz", "--quick"]).unwrap();
        let m = m.subcommand_matches("ci").unwrap();
        assert_eq!(value(m, "only").as_deref(), Some("deny,fuzz"));
        assert!(m.get_flag("quick"));
        let m = parse(&["test", "-p", "reel-core", "--", "--nocapture"]).unwrap();
        let rest: Vec<&String> = m
            .subcommand_matches("test")
            .unwrap()
            .get_many::<String>("args")
            .unwrap()
            .collect();
        assert_eq!(rest, ["-p", "reel-core", "--", "--nocapture"]);
    }

    #[test]
    fn typos_and_conflicts_are_errors() {
        let err = parse(&["ci", "--bogus"]).unwrap_err().to_string();
        assert!(err.contains("--bogus"), "{err}");
        assert!(parse(&["release", "--plan", "reel-core"]).is_err());
        assert!(parse(&["nope"]).is_err());
        assert!(parse(&["bench", "--crate"]).is_err());
    }
}
