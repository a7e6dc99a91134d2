//! `jsonapi-lint`: reads a JSON:API document on stdin and checks it against the spec.
//!
//! ```text
//! jsonapi-lint [--as response|create|update|relationship|request|atomic|atomic-results] < document.json
//! ```
//!
//! Prints `ok` and exits 0 when the document is valid; otherwise prints one
//! `pointer<TAB>message` line per violation and exits 1. Usage errors exit 2.

use std::io::{Read, Write};
use std::process::ExitCode;

use reel_jsonapi::validate::{DocumentKind, validate_slice};

fn command() -> clap::Command {
    clap::Command::new("jsonapi-lint")
        .about("Reads a JSON:API 1.1 document on stdin and checks it against the spec.")
        .arg(
            clap::Arg::new("as")
                .long("as")
                .value_name("KIND")
                .value_parser([
                    "response",
                    "create",
                    "update",
                    "relationship",
                    "request",
                    "atomic",
                    "atomic-results",
                ])
                .default_value("response")
                .help("what the document is: a server response, a create or update request body, a relationship document, or any request body (`request`: a create or an update), or an Atomic Operations request (`atomic`: `atomic:operations`) or response (`atomic-results`)"),
        )
        .after_help("Prints `ok` and exits 0 when the document is valid; otherwise prints one \
`pointer<TAB>message` line per violation and exits 1. Usage errors exit 2.\n\
Example: echo '{\"data\":{\"type\":\"people\",\"id\":\"1\"}}' | jsonapi-lint")
}

fn main() -> ExitCode {
    // `--help` exits 0; usage errors exit 2 (clap's convention, as documented).
    let matches = command().get_matches();
    let kind = match matches.get_one::<String>("as").map(String::as_str) {
        Some("create") => DocumentKind::Create,
        Some("update") => DocumentKind::Update,
        Some("relationship") => DocumentKind::Relationship,
        Some("request") => DocumentKind::Request,
        Some("atomic") => DocumentKind::AtomicOperations,
        Some("atomic-results") => DocumentKind::AtomicResults,
        _ => DocumentKind::Response,
    };
    let mut input = Vec::new();
    if let Err(error) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("jsonapi-lint: cannot read stdin: {error}");
        return ExitCode::from(2);
    }
    let errors = validate_slice(&input, kind);
    let mut out = std::io::stdout().lock();
    let result = if errors.is_empty() {
        writeln!(out, "ok")
    } else {
        errors.iter().try_for_each(|error| {
            let pointer = error.pointer().unwrap_or("");
            let message = error
                .detail
                .as_deref()
                .or(error.title.as_deref())
                .unwrap_or("invalid");
            writeln!(out, "{pointer}\t{message}")
        })
    };
    if result.is_err() {
        return ExitCode::from(2);
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
