//! The getting-started guide, followed literally: the real backends `cargo xtask dev` starts
//! (two memcached, redis, the search server, a fresh PostgreSQL database — the same
//! reel-testkit code), the edge-api binary started with the `REEL_*` variables, and every
//! `curl` in `docs/src/getting-started.md` run as written (with the listening address swapped
//! in) and checked against the status its comment shows (`(→ 200)`) and what the text says.
//! A curl added to the guide without an expected status fails this test, so the guide cannot
//! drift from the code again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reel_testkit::{Memcached, Postgres, Redis, Search};

const GUIDE: &str = include_str!("../../../docs/src/getting-started.md");

/// One command from the guide's `sh` blocks, with the status its comment promises.
#[derive(Debug)]
struct Step {
    command: String,
    status: Option<u16>,
}

/// Every `curl` command in the guide's `sh` blocks (continuation lines joined), with the
/// `(→ NNN)` of the comment above it.
fn steps(guide: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut in_sh = false;
    let mut status = None;
    let mut pending: Option<String> = None;
    for line in guide.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(command) = pending.as_mut() {
            command.push(' ');
            command.push_str(trimmed.trim_end_matches('\\').trim());
            if !continues(trimmed, command) {
                steps.push(Step {
                    command: pending.take().unwrap_or_default(),
                    status,
                });
            }
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(code) = comment.split("(→ ").nth(1) {
                status = code.get(..3).and_then(|code| code.parse().ok());
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("curl ") {
            let command = trimmed.trim_end_matches('\\').trim().to_owned();
            if continues(trimmed, &command) {
                pending = Some(command);
            } else {
                steps.push(Step { command, status });
            }
        }
    }
    steps
}

/// Whether a command goes on past `line`: a trailing backslash, or a quote still open (the
/// guide's JSON bodies span lines inside single quotes).
fn continues(line: &str, command: &str) -> bool {
    line.ends_with('\\') || command.matches('\'').count() % 2 == 1
}

struct Api(Child);

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_curl_in_the_getting_started_guide_answers_as_shown() {
    let steps = steps(GUIDE);
    assert!(steps.len() >= 9, "curls found in the guide: {steps:#?}");
    for step in &steps {
        assert!(
            step.status.is_some(),
            "the guide's curl has no (→ status) in its comment: {}",
            step.command
        );
    }

    // What `cargo xtask dev` starts, through the same reel-testkit calls.
    let memcached = Memcached::cluster(2).unwrap();
    let redis = Redis::start().unwrap();
    let search = Search::start().unwrap();
    let postgres = Postgres::start().unwrap();
    let servers: Vec<String> = memcached.iter().map(|m| m.host_port()).collect();
    let data_dir = std::env::temp_dir().join(format!("edge-api-guide-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_example-edge-api"));
    for (name, _) in std::env::vars() {
        if name.starts_with("REEL_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .env("REEL_LISTEN", "127.0.0.1:0")
        .env("REEL_METRICS_ADDR", "127.0.0.1:0")
        .env("REEL_DATA_DIR", &data_dir)
        .env("REEL_DATABASE_URL", postgres.url())
        .env("REEL_MEMCACHE_SERVERS", servers.join(","))
        .env("REEL_REDIS_URL", redis.url())
        .env("REEL_ES_URL", search.url())
        .env("REEL_ES_INDEX", search.index("edge-assets"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let api = Api(child);
    let mut stdout = BufReader::new(stdout);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let Some(address) = first.trim().strip_prefix("edge-api listening on http://") else {
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        panic!("the edge API did not start: {log}");
    };
    let address = address.to_owned();
    // Keep draining both pipes: the server must neither block on a full one nor lose its
    // standard output.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));

    for step in &steps {
        let command = step.command.replace("127.0.0.1:8080", &address);
        let expected = step.status.unwrap_or_default();
        if command.contains('|') {
            // A pipeline (`curl -si ... | grep -i x-cache`): it must succeed.
            let output = Command::new("sh").args(["-c", &command]).output().unwrap();
            assert!(output.status.success(), "{command}: {output:?}");
            let text = String::from_utf8_lossy(&output.stdout);
            if command.contains("x-cache") {
                assert!(
                    text.to_ascii_lowercase().contains("x-cache: miss")
                        || text.to_ascii_lowercase().contains("x-cache: hit"),
                    "{command}: {text}"
                );
            }
            continue;
        }
        // Append the status after the body, on a line of its own.
        let with_status = format!("{command} -w '\\n%{{http_code}}'");
        let output = Command::new("sh")
            .args(["-c", &with_status])
            .output()
            .unwrap();
        assert!(output.status.success(), "{command}: {output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        assert_eq!(status.trim(), expected.to_string(), "{command}: {body}");
        // What the guide's text says about particular answers.
        if command.contains("q=lighthouse") {
            assert!(body.contains("Lighthouse at night"), "{command}: {body}");
        }
        if command.contains("q=Video") {
            assert!(body.contains("\"kind\":\"video\""), "{command}: {body}");
        }
        if command.contains("sort=colour") {
            assert!(body.contains("\"parameter\":\"sort\""), "{command}: {body}");
        }
        if command.contains("include=owner") {
            assert!(body.contains("\"included\""), "{command}: {body}");
        }
        if command.ends_with("/healthz") {
            assert!(body.contains("\"status\":\"ok\""), "{command}: {body}");
        }
    }
    drop(api);
    let _ = std::fs::remove_dir_all(&data_dir);
}
