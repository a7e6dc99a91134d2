//! `cargo xtask bench [--crate X] [--quick]`: runs the criterion benches and prints one table
//! of ratios, ours / theirs.
//!
//! Convention shared with the crate engineers: a comparison is a criterion group named
//! `<crate>/<what>`; its function `reel` is ours and every other function in the group is a
//! peer (`governor`, `libmaxminddb`, ...), run side by side in the same process. Results are read
//! from `<target>/criterion/**/new/{benchmark,estimates}.json` (the mean's point estimate), and
//! the table also goes to `docs/src/benchmarks.md` with a description of the machine.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::cmd;

use crate::cli::Args;
use crate::workspace::{self, Metadata};

/// The function name that marks our implementation in a comparison group.
pub const OURS: &str = "reel";

/// One measured benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The criterion group, such as `reel-ratelimit/check`.
    pub group: String,
    /// The function inside the group: `reel` or a peer's name.
    pub function: String,
    /// The parameter of a `BenchmarkId::new(function, parameter)`, if any.
    pub parameter: Option<String>,
    /// Mean time per iteration, in nanoseconds.
    pub mean_ns: f64,
}

/// One row of the table: our time against one peer's in one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The group, with `/<parameter>` appended for parameterised benchmarks.
    pub group: String,
    /// Our mean time, if measured.
    pub ours_ns: Option<f64>,
    /// The peer's name, if the group has a peer.
    pub peer: Option<String>,
    /// The peer's mean time.
    pub peer_ns: Option<f64>,
}

impl Row {
    /// ours / theirs: below 1 means reel is faster.
    pub fn ratio(&self) -> Option<f64> {
        match (self.ours_ns, self.peer_ns) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => Some(ours / theirs),
            _ => None,
        }
    }
}

/// Reads every `new/estimates.json` under `criterion_dir` (criterion's output directory).
/// A missing directory means no results yet.
pub fn collect(criterion_dir: &Path) -> Result<Vec<Measurement>> {
    let mut found = Vec::new();
    if criterion_dir.is_dir() {
        walk(criterion_dir, criterion_dir, &mut found)?;
    }
    found.sort_by(|a, b| {
        (&a.group, &a.parameter, &a.function).cmp(&(&b.group, &b.parameter, &b.function))
    });
    Ok(found)
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<Measurement>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if path.join("estimates.json").is_file() {
                found.push(read_measurement(root, &path)?);
            }
        } else if path
            .file_name()
            .is_some_and(|n| n != "report" && n != "base")
        {
            walk(root, &path, found)?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn read_measurement(root: &Path, new_dir: &Path) -> Result<Measurement> {
    let estimates_path = new_dir.join("estimates.json");
    let mean_ns = read_json(&estimates_path)?
        .pointer("/mean/point_estimate")
        .and_then(Value::as_f64)
        .with_context(|| format!("{} has no mean.point_estimate", estimates_path.display()))?;
    // benchmark.json holds the names as written in the bench; the directory names are
    // sanitised (`/` becomes `_`), so they are only the fallback.
    let id = read_json(&new_dir.join("benchmark.json")).ok();
    let field = |key: &str| {
        id.as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let relative: Vec<String> = new_dir
        .parent()
        .unwrap_or(new_dir)
        .strip_prefix(root)
        .unwrap_or(new_dir)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let group = field("group_id")
        .or_else(|| relative.first().cloned())
        .unwrap_or_default();
    let function = field("function_id")
        .or_else(|| relative.get(1).cloned())
        .unwrap_or_default();
    let parameter = if id.is_some() {
        field("value_str")
    } else {
        (relative.len() > 2).then(|| relative[2..].join("/"))
    };
    Ok(Measurement {
        group,
        function,
        parameter,
        mean_ns,
    })
}

/// Pairs our measurement with each peer's, one row per (group, parameter, peer). A group
/// with no peer still gets a row, and so does a peer with no `reel` function beside it.
pub fn rows(measurements: &[Measurement]) -> Vec<Row> {
    let mut groups: BTreeMap<String, Vec<&Measurement>> = BTreeMap::new();
    for m in measurements {
        let key = match &m.parameter {
            Some(p) => format!("{}/{p}", m.group),
            None => m.group.clone(),
        };
        groups.entry(key).or_default().push(m);
    }
    let mut rows = Vec::new();
    for (group, members) in groups {
        let ours_ns = members
            .iter()
            .find(|m| m.function == OURS)
            .map(|m| m.mean_ns);
        let peers: Vec<&&Measurement> = members.iter().filter(|m| m.function != OURS).collect();
        if peers.is_empty() {
            rows.push(Row {
                group: group.clone(),
                ours_ns,
                peer: None,
                peer_ns: None,
            });
        }
        for peer in peers {
            rows.push(Row {
                group: group.clone(),
                ours_ns,
                peer: Some(peer.function.clone()),
                peer_ns: Some(peer.mean_ns),
            });
        }
    }
    rows
}

/// A duration in nanoseconds with a readable unit.
pub fn format_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The rows as a Markdown table.
pub fn render_table(rows: &[Row]) -> String {
    let dash = || "—".to_owned();
    let mut out = String::from("| group | reel | peer | peer time | ratio (reel / peer) |\n");
    out.push_str("| --- | ---: | --- | ---: | ---: |\n");
    if rows.is_empty() {
        out.push_str("| (no results yet) | | | | |\n");
    }
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.group,
            row.ours_ns.map_or_else(dash, format_time),
            row.peer.clone().unwrap_or_else(dash),
            row.peer_ns.map_or_else(dash, format_time),
            row.ratio().map_or_else(dash, |r| format!("{r:.2}")),
        );
    }
    out
}

/// nproc, CPU model and memory of this machine, for the benchmarks page.
pub fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or_else(|| "unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(
            || "unknown memory".to_owned(),
            |kb| format!("{:.1} GiB", kb / 1_048_576.0),
        );
    format!("{cpus} CPUs ({model}), {memory} RAM")
}

/// The `docs/src/benchmarks.md` page.
pub fn render_page(table: &str, machine: &str, command: &str) -> String {
    format!(
        "# Benchmarks\n\n\
         Each reel crate benchmarks itself against the crate or library a user would otherwise \
         pick, in the same run. The ratio is reel's mean time divided by the peer's: below 1 \
         means reel is faster. Absolute times on a shared machine are noise; ratios are the \
         figure to quote.\n\n\
         Produced by `{command}` (the latest criterion run of each group) on {machine}.\n\n{table}"
    )
}

/// `cargo xtask bench`
pub fn run(mut args: Args) -> Result<()> {
    let only = args.value("--crate")?;
    let quick = args.flag("--quick");
    args.finish()?;
    let root = workspace::project_root()?;
    let sh = workspace::shell_at(&root)?;
    let meta = Metadata::load(&sh)?;
    let with_benches: Vec<String> = meta
        .packages
        .iter()
        .filter(|p| p.dir().join("benches").is_dir())
        .filter(|p| only.as_ref().is_none_or(|c| *c == p.name))
        .map(|p| p.name.clone())
        .collect();
    if let Some(name) = &only {
        meta.package(name)?;
        if with_benches.is_empty() {
            println!("bench: {name} has no benches/ directory yet");
        }
    }
    let quick_args: Vec<&str> = if quick { vec!["--", "--quick"] } else { vec![] };
    for name in &with_benches {
        println!("bench: cargo bench -p {name} {}", quick_args.join(" "));
        let quick_args = &quick_args;
        cmd!(sh, "cargo bench -p {name} {quick_args...}")
            .run()
            .with_context(|| format!("the benchmarks of {name} failed"))?;
    }
    let criterion_dir: PathBuf = meta.target_directory.join("criterion");
    let all = collect(&criterion_dir)?;
    let shown: Vec<Measurement> = match &only {
        Some(name) => {
            let prefix = format!("{name}/");
            all.iter()
                .filter(|m| m.group.starts_with(&prefix))
                .cloned()
                .collect()
        }
        None => all.clone(),
    };
    println!("{}", render_table(&rows(&shown)));
    // The page always holds every group on disk: a run of one crate must not drop the others.
    let page = root.join("docs/src/benchmarks.md");
    let text = render_page(
        &render_table(&rows(&all)),
        &machine_description(),
        "cargo xtask bench",
    );
    std::fs::write(&page, text).with_context(|| format!("cannot write {}", page.display()))?;
    println!("bench: wrote {}", page.display());
    Ok(())
}
