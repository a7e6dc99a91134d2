//! `cargo xtask bench --metrics-cost [--quick]`: what each crate's `metrics` feature costs on
//! its hot path. For every crate in [`TARGETS`] that has a `benches/metrics_cost.rs` and a
//! `metrics` feature, the bench runs twice in one sitting — feature off, saved as the
//! criterion baseline `metrics-off`, then feature on (the bench installs a real Prometheus
//! recorder), saved as `metrics-on` — and the table shows on / off per benchmark. The target
//! from issue 21 is below 1.03. A crate without the bench or the feature is skipped with a
//! message.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::workspace::Metadata;

/// The bench target every crate names its metrics-cost bench.
pub const BENCH: &str = "metrics_cost";
/// The criterion baseline of the run without the feature.
pub const OFF: &str = "metrics-off";
/// The criterion baseline of the run with the feature.
pub const ON: &str = "metrics-on";
/// Above this ratio the feature costs too much (issue 21: under 3 %).
pub const TARGET: f64 = 1.03;

/// The crates and the hot operation (a criterion filter) each one measures.
pub const TARGETS: [(&str, &str); 3] = [
    ("reel-herd", "get"),
    ("reel-ratelimit", "check"),
    ("reel-geoip", "lookup"),
];

/// One benchmark measured with the feature off and on.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    /// The crate.
    pub krate: String,
    /// `group/function[/parameter]`.
    pub id: String,
    /// Nanoseconds per iteration, feature off.
    pub off_ns: f64,
    /// Nanoseconds per iteration, feature on.
    pub on_ns: f64,
}

impl CostRow {
    /// on / off: 1.02 means the feature costs 2 %.
    pub fn ratio(&self) -> f64 {
        self.on_ns / self.off_ns
    }
}

/// Whether the manifest at `manifest` declares a feature called `metrics`.
pub fn has_metrics_feature(manifest: &str) -> bool {
    let mut in_features = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features
            && line
                .split_once('=')
                .is_some_and(|(name, _)| name.trim() == "metrics")
        {
            return true;
        }
    }
    false
}

fn time_ns(dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("estimates.json")).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    ["/slope/point_estimate", "/mean/point_estimate"]
        .iter()
        .find_map(|pointer| value.pointer(pointer).and_then(Value::as_f64))
}

/// Every benchmark under `criterion_dir` whose group starts with `prefix` and whose id
/// contains `filter`, with both baselines on disk.
pub fn collect(criterion_dir: &Path, krate: &str, prefix: &str, filter: &str) -> Vec<CostRow> {
    let mut rows = Vec::new();
    let mut stack = vec![criterion_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|name| name == OFF) {
                let Some(bench_dir) = path.parent() else {
                    continue;
                };
                let id = std::fs::read_to_string(path.join("benchmark.json"))
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .and_then(|v| v.get("full_id").and_then(Value::as_str).map(str::to_owned));
                let (Some(id), Some(off_ns), Some(on_ns)) =
                    (id, time_ns(&path), time_ns(&bench_dir.join(ON)))
                else {
                    continue;
                };
                if id.starts_with(prefix) && id.contains(filter) {
                    rows.push(CostRow {
                        krate: krate.to_owned(),
                        id,
                        off_ns,
                        on_ns,
                    });
                }
            } else {
                stack.push(path);
            }
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

/// The table printed at the end.
pub fn render(rows: &[CostRow]) -> String {
    let mut out = String::from(
        "| crate | benchmark | feature off | feature on | on / off |\n| --- | --- | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let verdict = if row.ratio() < TARGET {
            ""
        } else {
            " (over 1.03)"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.3}{verdict} |",
            row.krate,
            row.id,
            crate::bench::format_time(row.off_ns),
            crate::bench::format_time(row.on_ns),
            row.ratio()
        );
    }
    out
}

/// Runs the off/on pairs and prints the table.
pub fn run(sh: &Shell, meta: &Metadata, quick: bool) -> Result<()> {
    let quick_args: Vec<&str> = if quick { vec!["--quick"] } else { vec![] };
    let mut rows = Vec::new();
    for (name, filter) in TARGETS {
        let Some(package) = meta.packages.iter().find(|p| p.name == name) else {
            println!("bench --metrics-cost: {name} is not in this workspace; skipped");
            continue;
        };
        if !package
            .dir()
            .join("benches")
            .join(format!("{BENCH}.rs"))
            .is_file()
        {
            println!("bench --metrics-cost: {name} has no benches/{BENCH}.rs yet; skipped");
            continue;
        }
        let manifest = std::fs::read_to_string(&package.manifest_path)
            .with_context(|| format!("cannot read {}", package.manifest_path.display()))?;
        if !has_metrics_feature(&manifest) {
            println!("bench --metrics-cost: {name} has no `metrics` feature yet; skipped");
            continue;
        }
        let off: Vec<String> = package.bench_features.clone();
        let mut on = off.clone();
        on.push("metrics".to_owned());
        for (features, baseline) in [(off, OFF), (on, ON)] {
            let feature_args: Vec<String> = if features.is_empty() {
                vec![]
            } else {
                vec!["--features".to_owned(), features.join(",")]
            };
            println!(
                "bench --metrics-cost: cargo bench -p {name} --bench {BENCH} {} -- {filter} --save-baseline {baseline} {}",
                feature_args.join(" "),
                quick_args.join(" ")
            );
            let quick_args = &quick_args;
            cmd!(
                sh,
                "cargo bench -p {name} --bench {BENCH} {feature_args...} -- {filter} --save-baseline {baseline} {quick_args...}"
            )
            .run()
            .with_context(|| format!("the metrics-cost bench of {name} failed"))?;
        }
        let prefix = format!("{}/", name.strip_prefix("reel-").unwrap_or(name));
        let found = collect(
            &meta.target_directory.join("criterion"),
            name,
            &prefix,
            filter,
        );
        if found.is_empty() {
            println!(
                "bench --metrics-cost: {name}: no criterion results for `{filter}` in groups `{prefix}*`"
            );
        }
        rows.extend(found);
    }
    println!("{}", render(&rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_metrics_feature_only_in_features() {
        let manifest = "[package]\nname = \"x\"\n\n[features]\ndefault = []\nmetrics = [\"dep:metrics\"]\n\n[dependencies]\n";
        assert!(has_metrics_feature(manifest));
        let dependency_only = "[features]\ndefault = []\n\n[dependencies]\nmetrics = \"0.24\"\n";
        assert!(!has_metrics_feature(dependency_only));
    }

    #[test]
    fn pairs_the_two_baselines_of_each_benchmark() {
        let root = std::env::temp_dir().join(format!("xtask-metrics-cost-{}", std::process::id()));
        let bench = root.join("ratelimit_metrics_cost").join("check");
        for (baseline, ns) in [(OFF, 200.0), (ON, 204.0)] {
            let dir = bench.join(baseline);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("estimates.json"),
                format!("{{\"mean\":{{\"point_estimate\":{ns}}}}}"),
            )
            .unwrap();
            std::fs::write(
                dir.join("benchmark.json"),
                "{\"full_id\":\"ratelimit/metrics_cost/check\"}",
            )
            .unwrap();
        }
        // Another crate's results and a bench without the `on` run are left out.
        let other = root.join("geoip_lookup").join("reel").join(OFF);
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("estimates.json"),
            "{\"mean\":{\"point_estimate\":1}}",
        )
        .unwrap();
        std::fs::write(
            other.join("benchmark.json"),
            "{\"full_id\":\"geoip/lookup/reel\"}",
        )
        .unwrap();

        let rows = collect(&root, "reel-ratelimit", "ratelimit/", "check");
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "ratelimit/metrics_cost/check");
        assert!((rows[0].ratio() - 1.02).abs() < 1e-9);
        let table = render(&rows);
        assert!(
            table.contains("| reel-ratelimit | ratelimit/metrics_cost/check |"),
            "{table}"
        );
        assert!(table.contains("1.020 |"), "{table}");
    }
}
