//! The operations chapters (`docs/src/ops/*.md`) against the code: every command in their
//! `sh` blocks is either run here as written (addresses swapped for the real local servers
//! reel-testkit starts) or listed in [`NOT_RUN`] with the reason it cannot run on a test
//! machine. A command added to a chapter and in neither list fails this test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reel_testkit::{Memcached, Redis};

const BIN: &str = env!("CARGO_BIN_EXE_example-edge-api");

/// Commands that need what a test machine does not have, by the start of their text.
const NOT_RUN: &[(&str, &str, &str)] = &[
    (
        "client-ip.md",
        "curl -H 'Forwarded: for=81.2.69.160'",
        "probes the operator's own public deployment (api.example.com) through its real front",
    ),
    (
        "cloudfront-key-rotation.md",
        "mkdir -p ~/cloudfront-keys",
        "writes keys into the operator's home directory",
    ),
    (
        "cloudfront-key-rotation.md",
        "openssl ",
        "generates the operator's production key pair",
    ),
    (
        "cloudfront-key-rotation.md",
        "aws cloudfront",
        "needs AWS credentials and a real key group",
    ),
    (
        "cloudfront-key-rotation.md",
        "URL=$(cargo run",
        "signs for a real distribution with the operator's new key",
    ),
    (
        "cloudfront-key-rotation.md",
        "curl -s -o /dev/null",
        "fetches from a real CloudFront distribution",
    ),
    (
        "geo-data-fresh.md",
        "printf '81.2.69.160\\n' | cargo run -q -p example-geoip-lookup",
        "reads a downloaded GeoLite2 database (MaxMind account) and builds another example",
    ),
    (
        "geo-data-fresh.md",
        "17 5 * * 3,6",
        "a crontab line for MaxMind's geoipupdate, not a command",
    ),
    (
        "mapping-changes.md",
        "curl -s 'localhost:9200/_cat/aliases",
        "inspects the operator's production search cluster",
    ),
    (
        "mapping-changes.md",
        "curl -s localhost:9200/assets/_mapping",
        "inspects the operator's production search cluster",
    ),
    (
        "mapping-changes.md",
        "curl -s 'localhost:9200/_cluster/health/",
        "waits on the operator's production search cluster",
    ),
    (
        "mapping-changes.md",
        "cargo run -p example-search-reindex",
        "reindexes the operator's database (the example's own tests run it)",
    ),
    (
        "mapping-changes.md",
        "curl -s -XDELETE localhost:9200",
        "a rollback step on the operator's cluster",
    ),
    (
        "mapping-changes.md",
        "curl -s -XPOST localhost:9200/_aliases",
        "a rollback step on the operator's cluster",
    ),
    (
        "scaling-cache.md",
        "aws elasticache",
        "needs AWS credentials and an ElastiCache cluster",
    ),
    (
        "scaling-cache.md",
        "printf 'config get cluster",
        "asks an ElastiCache configuration endpoint",
    ),
    (
        "scaling-cache.md",
        "printf '10.0.0.1:11211",
        "edits /etc/cache on the operator's hosts",
    ),
    (
        "scaling-cache.md",
        "mv /etc/cache/",
        "edits /etc/cache on the operator's hosts",
    ),
    (
        "scaling-cache.md",
        "seq 1 100000",
        "part of the key-movement estimate, which builds another example with cargo",
    ),
    (
        "scaling-cache.md",
        "cargo run -q -p example-herd-route",
        "builds another example with cargo inside a test",
    ),
    (
        "scaling-cache.md",
        "paste before.tsv",
        "reads the files of the two herd-route runs above",
    ),
    (
        "scaling-cache.md",
        "cargo run -p example-herd-watch",
        "watches /etc/cache/nodes on the operator's hosts",
    ),
];

/// Every command of the `sh` blocks of `markdown` (continuation lines joined, comments and
/// blank lines skipped).
fn commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            continue;
        }
        if !in_sh || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#'))) {
            continue;
        }
        if !pending.is_empty() {
            pending.push(' ');
        }
        pending.push_str(trimmed.trim_end_matches('\\').trim_end());
        let open_quotes = pending.matches('\'').count() % 2 == 1;
        let open_parens = pending.matches("$(").count() > pending.matches(")").count();
        if !trimmed.ends_with('\\') && !open_quotes && !open_parens {
            commands.push(std::mem::take(&mut pending));
        }
    }
    commands
}

fn ops_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/ops")
}

/// Starts the binary with `env` (plus a free listen and metrics port); returns it and the two
/// addresses it printed (the API's and `/metrics`').
fn start(env: &[(String, String)]) -> (Child, String, Option<String>) {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("REEL_") {
            command.env_remove(name);
        }
    }
    let data_dir = std::env::temp_dir().join(format!("edge-api-ops-{}", std::process::id()));
    command
        .env("REEL_LISTEN", "127.0.0.1:0")
        .env("REEL_METRICS_ADDR", "127.0.0.1:0")
        .env("REEL_DATA_DIR", &data_dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let second = lines.next().and_then(Result::ok).unwrap_or_default();
    std::thread::spawn(move || lines.for_each(drop));
    let Some(api) = first.strip_prefix("edge-api listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("edge-api did not start with {env:?}: {first:?}");
    };
    let metrics = second
        .strip_prefix("metrics on ")
        .map(|url| url.trim_end_matches("/metrics").to_owned());
    (child, api.to_owned(), metrics)
}

/// The body of a GET, through the curl the chapters use.
fn curl(url: &str) -> String {
    let output = Command::new("curl").args(["-s", url]).output().unwrap();
    assert!(output.status.success(), "curl {url}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The `NAME=value` words before `cargo run -p example-edge-api`.
fn env_prefix(command: &str) -> Vec<(String, String)> {
    command
        .split_whitespace()
        .take_while(|word| *word != "cargo")
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn every_ops_command_is_run_or_explained() {
    let redis = Redis::start().unwrap();
    let memcached = Memcached::cluster(2).unwrap();
    let mut run = 0;
    let mut unexplained = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(ops_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    files.sort();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let markdown = std::fs::read_to_string(&path).unwrap();
        for command in commands(&markdown) {
            if NOT_RUN
                .iter()
                .any(|(f, start, _)| *f == file && command.starts_with(start))
            {
                continue;
            }
            match file.as_str() {
                // Starting the service with each store: the variables as written, the hosts
                // swapped for the local servers.
                "rate-limit-store.md" if command.contains("cargo run -p example-edge-api") => {
                    let env: Vec<(String, String)> = env_prefix(&command)
                        .into_iter()
                        .map(|(name, value)| {
                            let value = match name.as_str() {
                                "REEL_REDIS_URL" => redis.url(),
                                "REEL_MEMCACHE_SERVERS" => memcached
                                    .iter()
                                    .map(|m| m.host_port())
                                    .collect::<Vec<_>>()
                                    .join(","),
                                _ => value,
                            };
                            (name, value)
                        })
                        .collect();
                    let (child, api, _) = start(&env);
                    let health: serde_json::Value =
                        serde_json::from_str(&curl(&format!("{api}/healthz"))).unwrap();
                    stop(child);
                    let store = health["backends"]["rateLimit"]["store"].clone();
                    let expected = if env.iter().any(|(k, _)| k == "REEL_RATE_LIMIT_STORE") {
                        "memcache"
                    } else if env.iter().any(|(k, _)| k == "REEL_REDIS_URL") {
                        "redis"
                    } else {
                        "memory"
                    };
                    assert_eq!(store, expected, "{command}: {health}");
                    run += 1;
                }
                // Scraping /metrics after one request.
                "metrics.md" if command.starts_with("curl -s http://127.0.0.1:9464/metrics") => {
                    let (child, api, metrics) = start(&[]);
                    let metrics = metrics.expect("a metrics address is printed");
                    curl(&format!("{api}/v2/assets"));
                    let output = Command::new("sh")
                        .args(["-c", &command.replace("http://127.0.0.1:9464", &metrics)])
                        .output()
                        .unwrap();
                    stop(child);
                    let text = String::from_utf8_lossy(&output.stdout);
                    assert!(output.status.success(), "{command}: {output:?}");
                    assert!(
                        text.contains("# HELP http_server_request_duration_seconds"),
                        "{text}"
                    );
                    assert!(
                        text.contains("reel_edge_cache_total{outcome=\"off\"} 1"),
                        "{text}"
                    );
                    run += 1;
                }
                _ => unexplained.push(format!("{file}: {command}")),
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "commands neither run by this test nor listed in NOT_RUN: {unexplained:#?}"
    );
    assert_eq!(run, 4, "the four runnable commands ran");
}
