//! `cargo xtask bench --metrics-cost --instructions`: what each crate's `metrics` feature
//! costs on its hot path, in instructions, which a loaded machine cannot fake. Each target's
//! bench is built without and with the feature (the latter installs a real Prometheus
//! recorder) and run under `valgrind --tool=callgrind`, counting only the instructions inside
//! the bench's measured function; the table shows both counts and the change. Target from
//! issue 21: under 3 %.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

/// One hot operation measured in instructions.
#[derive(Debug, Clone, Copy)]
pub struct CountTarget {
    /// The package.
    pub krate: &'static str,
    /// The bench target.
    pub bench: &'static str,
    /// Features of the run without `metrics` (comma-separated, may be empty).
    pub features: &'static str,
    /// The environment variable that selects the counting mode, and its value.
    pub env: (&'static str, &'static str),
    /// The function callgrind counts in (`--toggle-collect`).
    pub toggle: &'static str,
    /// How many operations that function runs in all, warm-up included.
    pub operations: u64,
    /// What one operation is.
    pub operation: &'static str,
}

/// herd `get`, ratelimit memory `check`, geoip `lookup`.
pub const TARGETS: [CountTarget; 3] = [
    CountTarget {
        krate: "reel-herd",
        bench: "get_cost",
        features: "memcache",
        env: ("GET_COST_GETS", "2000"),
        toggle: "get_cost::measured",
        operations: 2_200, // 200 warm-up gets
        operation: "herd get",
    },
    CountTarget {
        krate: "reel-ratelimit",
        bench: "metrics_cost",
        features: "",
        env: ("CHECK_COST_CHECKS", "100000"),
        toggle: "metrics_cost::measured",
        operations: 110_000, // a warm-up pass over the 10,000 keys
        operation: "ratelimit memory check",
    },
    CountTarget {
        krate: "reel-geoip",
        bench: "geoip",
        features: "testdata",
        env: ("GEOIP_ONLY", "reel"),
        toggle: "geoip::run_only",
        operations: 262 * 50, // 262 addresses, GEOIP_ROUNDS defaults to 50
        operation: "geoip lookup",
    },
];

/// The total callgrind prints on stderr (`==123== Collected : 24983564`).
pub fn collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, count) = line.split_once("Collected :")?;
        count.trim().parse().ok()
    })
}

/// The bench executable cargo reports in `--message-format=json` output.
pub fn executable(messages: &str, bench: &str) -> Option<String> {
    messages.lines().find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        if value.pointer("/target/name")?.as_str()? != bench {
            return None;
        }
        value.get("executable")?.as_str().map(str::to_owned)
    })
}

fn count(sh: &Shell, target: &CountTarget, metrics: bool) -> Result<u64> {
    let mut features: Vec<&str> = target
        .features
        .split(',')
        .filter(|f| !f.is_empty())
        .collect();
    if metrics {
        features.push("metrics");
    }
    let feature_args: Vec<String> = if features.is_empty() {
        vec![]
    } else {
        vec!["--features".to_owned(), features.join(",")]
    };
    let (krate, bench) = (target.krate, target.bench);
    let messages = cmd!(
        sh,
        "cargo bench -p {krate} --bench {bench} {feature_args...} --no-run --message-format=json"
    )
    .read()
    .with_context(|| format!("building {krate}'s {bench} bench failed"))?;
    let Some(binary) = executable(&messages, bench) else {
        bail!("cargo did not report the {bench} executable of {krate}");
    };
    let toggle = format!("--toggle-collect={}", target.toggle);
    println!(
        "bench --metrics-cost --instructions: {}={} valgrind --tool=callgrind {toggle} {binary}",
        target.env.0, target.env.1
    );
    let output = cmd!(
        sh,
        "valgrind --tool=callgrind {toggle} --callgrind-out-file=/dev/null {binary}"
    )
    .env(target.env.0, target.env.1)
    .ignore_stdout()
    .output()
    .context("valgrind failed (install it: apt-get install valgrind)")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    collected(&stderr).with_context(|| format!("no callgrind total in:\n{stderr}"))
}

/// Builds, counts and prints the table.
pub fn run(sh: &Shell) -> Result<()> {
    let mut table = String::from(
        "| operation | off (instructions) | on (instructions) | change |\n| --- | ---: | ---: | ---: |\n",
    );
    for target in &TARGETS {
        let off = count(sh, target, false)?;
        let on = count(sh, target, true)?;
        #[allow(clippy::cast_precision_loss)] // Instruction counts are far below 2^52.
        let (per_off, per_on) = (
            off as f64 / target.operations as f64,
            on as f64 / target.operations as f64,
        );
        let change = (per_on / per_off - 1.0) * 100.0;
        let _ = writeln!(
            table,
            "| {} | {per_off:.0} | {per_on:.0} | {change:+.2} %{} |",
            target.operation,
            if change < 3.0 { "" } else { " (over 3 %)" }
        );
    }
    println!("{table}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_callgrind_total_and_the_bench_executable() {
        let stderr = "==12== Callgrind, a call-graph generating cache profiler\n==12== \n==12== Events    : Ir\n==12== Collected : 24983564\n==12== \n==12== I   refs:      24,983,564\n";
        assert_eq!(collected(stderr), Some(24_983_564));
        assert_eq!(collected("no total"), None);
        let messages = concat!(
            "{\"reason\":\"compiler-artifact\",\"target\":{\"name\":\"reel_herd\"},\"executable\":null}\n",
            "{\"reason\":\"compiler-artifact\",\"target\":{\"name\":\"get_cost\"},\"executable\":\"/t/release/deps/get_cost-1\"}\n",
            "{\"reason\":\"build-finished\",\"success\":true}\n",
        );
        assert_eq!(
            executable(messages, "get_cost").as_deref(),
            Some("/t/release/deps/get_cost-1")
        );
        assert_eq!(executable(messages, "geoip"), None);
    }
}
