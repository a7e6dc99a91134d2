//! `jsonapi-lint`: reads a JSON:API document on stdin and checks it against the spec.
//!
//! ```text
//! jsonapi-lint [--as response|create|update|relationship|request] < document.json
//! ```
//!
//! Prints `ok` and exits 0 when the document is valid; otherwise prints one
//! `pointer<TAB>message` line per violation and exits 1. Usage errors exit 2.

use std::io::{Read, Write};
use std::process::ExitCode;

use reel_jsonapi::validate::{DocumentKind, validate_slice};

const USAGE: &str =
    "usage: jsonapi-lint [--as response|create|update|relationship|request] < document.json";

fn parse_args() -> Result<DocumentKind, String> {
    let mut kind = DocumentKind::Response;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "--as" => args.next().ok_or("--as needs a value")?,
            "-h" | "--help" => return Err(String::new()),
            other => match other.strip_prefix("--as=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unknown argument `{other}`")),
            },
        };
        kind = match value.as_str() {
            "response" => DocumentKind::Response,
            "create" => DocumentKind::Create,
            "update" => DocumentKind::Update,
            "relationship" => DocumentKind::Relationship,
            "request" => DocumentKind::Request,
            other => return Err(format!("unknown document kind `{other}`")),
        };
    }
    Ok(kind)
}

fn main() -> ExitCode {
    let kind = match parse_args() {
        Ok(kind) => kind,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("jsonapi-lint: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
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
