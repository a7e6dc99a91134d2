//! `cargo xtask bench [--crate X] [--quick] [--write] [--report-only]`: runs the criterion
//! benches and prints one table of ratios, ours / theirs. `--write` also rewrites the tracked
//! page and charts (a plain run leaves the repository untouched); `--report-only` skips the
//! runs and rebuilds the table, the page and the charts from the results already on disk.
//! `--crate` takes the package name or its short form (`ratelimit` for `reel-ratelimit`).
//! `--metrics-cost` runs each crate's `metrics_cost` bench with feature `metrics` off, then on,
//! and prints the ratios instead ([`crate::metrics_cost`]).
//!
//! Convention shared with the crate engineers: a comparison is a criterion group named
//! `<crate without reel->/<what>` (`geoip/lookup`); its function `reel` is ours, functions
//! named `reel_<variant>` are other configurations of ours (`reel_openssl_backend`), and every
//! other function in the group is a peer (`governor`, `libmaxminddb`, ...), run side by side in
//! the same process. Results are read from `<target>/criterion/**/new/{benchmark,estimates}.json`
//! (the mean's point estimate); the tables go to `docs/src/benchmarks.md` with a description of
//! the machine, and one SVG chart per crate to `docs/src/bench/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::cmd;

use clap::ArgMatches;

use crate::cli;
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
    /// Time per iteration in nanoseconds: criterion's slope estimate when it has one (what it
    /// prints), else the mean.
    pub mean_ns: f64,
}

/// One row of the table: one of our variants against one peer in one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The group, with `/<parameter>` appended for parameterised benchmarks.
    pub group: String,
    /// Our function's name (`reel`, or a variant such as `reel_openssl_backend`), if the
    /// group has one.
    pub ours: Option<String>,
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

    /// The part of the group name before the first `/` (`geoip` for `geoip/lookup`): the
    /// crate the row belongs to.
    pub fn family(&self) -> &str {
        self.group.split('/').next().unwrap_or(&self.group)
    }

    /// `group` with our variant named when it is not plain `reel`.
    pub fn label(&self) -> String {
        match self.ours.as_deref() {
            Some(ours) if ours != OURS => format!("{} ({ours})", self.group),
            _ => self.group.clone(),
        }
    }
}

/// Whether a function name is ours: `reel` or a variant of it (`reel_<something>`).
pub fn is_ours(function: &str) -> bool {
    function == OURS || function.starts_with("reel_")
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
    // The slope (time per iteration from a regression over the samples) is the figure
    // criterion itself prints when it has one; flat sampling has only the mean.
    let estimates = read_json(&estimates_path)?;
    let mean_ns = ["/slope/point_estimate", "/mean/point_estimate"]
        .iter()
        .find_map(|pointer| estimates.pointer(pointer).and_then(Value::as_f64))
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

/// Pairs each of our measurements with each peer's, one row per (group, parameter, ours,
/// peer), `reel` first. A group with no peer still gets a row per variant of ours, and a
/// group with peers but nothing of ours gets a row per peer.
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
        let mut ours: Vec<Option<&Measurement>> = members
            .iter()
            .copied()
            .filter(|m| is_ours(&m.function))
            .map(Some)
            .collect();
        // Plain `reel` first, then the variants by name.
        ours.sort_by_key(|m| m.map(|m| (m.function != OURS, m.function.clone())));
        if ours.is_empty() {
            ours.push(None);
        }
        let mut peers: Vec<Option<&Measurement>> = members
            .iter()
            .copied()
            .filter(|m| !is_ours(&m.function))
            .map(Some)
            .collect();
        if peers.is_empty() {
            peers.push(None);
        }
        for our in &ours {
            for peer in &peers {
                rows.push(Row {
                    group: group.clone(),
                    ours: our.map(|m| m.function.clone()),
                    ours_ns: our.map(|m| m.mean_ns),
                    peer: peer.map(|m| m.function.clone()),
                    peer_ns: peer.map(|m| m.mean_ns),
                });
            }
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

/// A ratio with the digits that matter: `0.0010`, `0.32`, `1.03`, `207`.
pub fn format_ratio(ratio: f64) -> String {
    if ratio >= 100.0 {
        format!("{ratio:.0}")
    } else if ratio >= 0.01 {
        format!("{ratio:.2}")
    } else {
        format!("{ratio:.4}")
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
            row.label(),
            row.ours_ns.map_or_else(dash, format_time),
            row.peer.clone().unwrap_or_else(dash),
            row.peer_ns.map_or_else(dash, format_time),
            row.ratio().map_or_else(dash, format_ratio),
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

/// Rows grouped by [`Row::family`], families in name order.
pub fn families(rows: &[Row]) -> BTreeMap<String, Vec<Row>> {
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in rows {
        out.entry(row.family().to_owned())
            .or_default()
            .push(row.clone());
    }
    out
}

/// Where a family's chart lives, relative to `docs/src`.
pub fn chart_path(family: &str) -> String {
    let safe: String = family
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("bench/{safe}.svg")
}

/// The `docs/src/benchmarks.md` page: one section per family, each with its table and the
/// chart at [`chart_path`].
///
/// `notes` maps a family to hand-written Markdown shown under its table (from
/// `docs/src/bench/<family>.md`: what the peers are, which ones are floors rather than
/// competitors).
pub fn render_page(
    rows: &[Row],
    notes: &BTreeMap<String, String>,
    machine: &str,
    command: &str,
) -> String {
    let mut page = format!(
        "# Benchmarks\n\n\
         Each reel crate benchmarks itself against the crate or library a user would otherwise \
         pick, in the same run. The ratio is reel's time per operation divided by the peer's \
         (criterion's slope estimate, or its mean where it has no slope): below 1 means reel \
         is faster. Absolute times on a shared machine are noise; ratios are the \
         figure to quote. A row named `group (reel_variant)` measures one of reel's own \
         variants (another backend, a check turned off) against the same peer. What each \
         group measures is described at the top of the crate's `benches/*.rs` and discussed \
         in the crate's README.\n\n\
         Produced by `{command}` (the latest criterion run of each group) on {machine}.\n\n\
         In the charts a bar left of the 1× line is reel faster, right of it reel slower, on \
         a logarithmic scale; green is faster or within 5 %, red more than 5 % slower. Where a \
         peer is a floor (a raw row stream, a parse that checks nothing) rather than a \
         competitor, the note under the table says so.\n"
    );
    if rows.is_empty() {
        page.push('\n');
        page.push_str(&render_table(rows));
    }
    for (family, members) in families(rows) {
        let _ = write!(page, "\n## {family}\n\n{}", render_table(&members));
        if let Some(note) = notes.get(&family) {
            let _ = write!(page, "\n{}\n", note.trim_end());
        }
        let _ = writeln!(page, "\n![{family}: reel / peer]({})", chart_path(&family));
    }
    page
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart of the rows' ratios as SVG: one bar per row from the 1× line to
/// the ratio, on a log2 scale; rows without a ratio are listed with "no peer".
pub fn render_chart(title: &str, rows: &[Row]) -> String {
    const PLOT: f64 = 460.0;
    const RIGHT: f64 = 70.0;
    // The chart's title names the crate; each row is labelled without the `crate/` prefix.
    let labels: Vec<String> = rows
        .iter()
        .map(|row| {
            let label = row.label();
            let label = match label.split_once('/') {
                Some((_, rest)) => rest.to_owned(),
                None => label,
            };
            match &row.peer {
                Some(peer) => format!("{label} vs {peer}"),
                None => label,
            }
        })
        .collect();
    // About 7 px per character at 13 px sans-serif, plus a margin.
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_width = (longest as f64 * 7.2 + 20.0).max(200.0);
    let width = label_width + PLOT + RIGHT;
    const TOP: f64 = 46.0;
    const ROW: f64 = 26.0;
    const MAX_POWER: f64 = 6.0;
    let ratios: Vec<f64> = rows
        .iter()
        .filter_map(Row::ratio)
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    // The axis spans whole powers of two, always includes ×0.5 and ×2, and stops at
    // ×1/64 and ×64: a bar beyond is drawn to the edge and its figure says how far.
    let lo = ratios
        .iter()
        .fold(0.5f64, |a, b| a.min(*b))
        .log2()
        .floor()
        .max(-MAX_POWER);
    let hi = ratios
        .iter()
        .fold(2.0f64, |a, b| a.max(*b))
        .log2()
        .ceil()
        .min(MAX_POWER);
    let x = |ratio: f64| label_width + (ratio.log2() - lo) / (hi - lo) * PLOT;
    let height = TOP + ROW * rows.len().max(1) as f64 + 34.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height}\" \
         viewBox=\"0 0 {width:.0} {height}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        xml_escape(title)
    );
    let bottom = TOP + ROW * rows.len().max(1) as f64;
    // Grid: one line per power of two; labels on at most seven of them, always on ×1.
    let label_every = ((hi - lo) / 6.0).ceil().max(1.0);
    let mut power = lo;
    while power <= hi {
        let ratio = power.exp2();
        let gx = x(ratio);
        let (stroke, width) = if power == 0.0 {
            ("#333", 1.5)
        } else {
            ("#ddd", 1.0)
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{gx:.1}\" y1=\"{top:.1}\" x2=\"{gx:.1}\" y2=\"{bottom:.1}\" \
             stroke=\"{stroke}\" stroke-width=\"{width}\"/>",
            top = TOP - 8.0,
        );
        if (power / label_every).fract() == 0.0 {
            let label = if ratio >= 1.0 {
                format!("×{ratio:.0}")
            } else {
                format!("×1/{:.0}", 1.0 / ratio)
            };
            let _ = writeln!(
                svg,
                "<text x=\"{gx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" fill=\"#555\">{label}</text>",
                ly = bottom + 18.0,
            );
        }
        power += 1.0;
    }
    let one = x(1.0);
    for (i, (row, label)) in rows.iter().zip(&labels).enumerate() {
        let y = TOP + ROW * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_width - 8.0,
            y + 13.0,
            xml_escape(label)
        );
        match row.ratio().filter(|r| r.is_finite() && *r > 0.0) {
            Some(ratio) => {
                let end = x(ratio.clamp(lo.exp2(), hi.exp2()));
                let (left, width) = if end < one {
                    (end, one - end)
                } else {
                    (one, end - one)
                };
                let colour = if ratio <= 1.05 { "#2e7d32" } else { "#c62828" };
                // The figure sits right of the 1× line for faster rows (the bar runs left,
                // towards the labels) and after the bar for slower ones.
                let tx = if end < one { one + 4.0 } else { end + 4.0 };
                let figure = format_ratio(ratio);
                let _ = writeln!(
                    svg,
                    "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\" \
                     fill=\"{colour}\"/>\n\
                     <text x=\"{tx:.1}\" y=\"{:.1}\">{figure}</text>",
                    y + 2.0,
                    width.max(1.0),
                    y + 14.0,
                );
            }
            None => {
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#777\">no peer in this group</text>",
                    one + 6.0,
                    y + 13.0
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes the page and one chart per family under `docs_src`, removing charts of families
/// that no longer have results.
pub fn write_report(docs_src: &Path, rows: &[Row], machine: &str, command: &str) -> Result<()> {
    let chart_dir = docs_src.join("bench");
    std::fs::create_dir_all(&chart_dir)
        .with_context(|| format!("cannot create {}", chart_dir.display()))?;
    for entry in std::fs::read_dir(&chart_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "svg") {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for (family, members) in families(rows) {
        let path = docs_src.join(chart_path(&family));
        let title = format!("{family}: reel / peer, time per operation");
        std::fs::write(&path, render_chart(&title, &members))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut notes = BTreeMap::new();
    for family in families(rows).into_keys() {
        let path = docs_src.join(chart_path(&family)).with_extension("md");
        if let Ok(note) = std::fs::read_to_string(&path) {
            notes.insert(family, note);
        }
    }
    let page = docs_src.join("benchmarks.md");
    std::fs::write(&page, render_page(rows, &notes, machine, command))
        .with_context(|| format!("cannot write {}", page.display()))
}

/// The package `name` designates: itself when a package has that name, else `reel-<name>`
/// when that one exists (so `--crate ratelimit` works), else `name` unchanged (and the lookup
/// fails later with the list of packages).
pub fn resolve_crate<'a>(name: &str, packages: impl Iterator<Item = &'a str> + Clone) -> String {
    if packages.clone().any(|p| p == name) {
        return name.to_owned();
    }
    let long = format!("reel-{name}");
    if packages.into_iter().any(|p| p == long) {
        long
    } else {
        name.to_owned()
    }
}

/// `cargo xtask bench`
pub fn run(args: &ArgMatches) -> Result<()> {
    let only = cli::value(args, "crate");
    let quick = args.get_flag("quick");
    let report_only = args.get_flag("report-only");
    let write = args.get_flag("write") || report_only;
    let metrics_cost = args.get_flag("metrics-cost");
    let root = workspace::project_root()?;
    let sh = workspace::shell_at(&root)?;
    let meta = Metadata::load(&sh)?;
    if metrics_cost && args.get_flag("instructions") {
        return crate::metrics_instructions::run(&sh);
    }
    if metrics_cost {
        return crate::metrics_cost::run(&sh, &meta, quick);
    }
    // `ratelimit` means `reel-ratelimit` when no package is called `ratelimit`.
    let only = only.map(|name| resolve_crate(&name, meta.packages.iter().map(|p| p.name.as_str())));
    let with_benches: Vec<(String, Vec<String>)> = meta
        .packages
        .iter()
        .filter(|p| p.dir().join("benches").is_dir())
        .filter(|p| only.as_ref().is_none_or(|c| *c == p.name))
        .map(|p| (p.name.clone(), p.bench_features.clone()))
        .collect();
    if let Some(name) = &only {
        meta.package(name)?;
        if with_benches.is_empty() {
            println!("bench: {name} has no benches/ directory yet");
        }
    }
    let quick_args: Vec<&str> = if quick { vec!["--", "--quick"] } else { vec![] };
    for (name, features) in with_benches.iter().filter(|_| !report_only) {
        // The features the bench targets require, or cargo skips those benches silently.
        let feature_args: Vec<String> = if features.is_empty() {
            vec![]
        } else {
            vec!["--features".to_owned(), features.join(",")]
        };
        println!(
            "bench: cargo bench -p {name} --bench '*' {} {}",
            feature_args.join(" "),
            quick_args.join(" ")
        );
        let quick_args = &quick_args;
        // `--bench *`: only the criterion targets. Without it the library's libtest harness
        // runs too and rejects criterion's arguments (`--quick`: "Unrecognized option").
        cmd!(
            sh,
            "cargo bench -p {name} --bench * {feature_args...} {quick_args...}"
        )
        .run()
        .with_context(|| format!("the benchmarks of {name} failed"))?;
    }
    let criterion_dir: PathBuf = meta.target_directory.join("criterion");
    let all = collect(&criterion_dir)?;
    let shown: Vec<Measurement> = match &only {
        Some(name) => {
            // Groups are named after the crate without its `reel-` prefix (`geoip/lookup`).
            let prefix = format!("{}/", name.strip_prefix("reel-").unwrap_or(name));
            all.iter()
                .filter(|m| m.group.starts_with(&prefix))
                .cloned()
                .collect()
        }
        None => all.clone(),
    };
    println!("{}", render_table(&rows(&shown)));
    // The page always holds every group on disk: a run of one crate must not drop the others.
    let docs_src = root.join("docs/src");
    if !write {
        println!(
            "bench: {} left as it is; pass --write to rewrite it and the charts from these results",
            docs_src.join("benchmarks.md").display()
        );
        return Ok(());
    }
    let date = cmd!(sh, "date -u +%F").quiet().read().unwrap_or_default();
    let machine = if date.is_empty() {
        machine_description()
    } else {
        format!("{} (page written {date})", machine_description())
    };
    write_report(&docs_src, &rows(&all), &machine, "cargo xtask bench")?;
    println!(
        "bench: wrote {} and the charts in {}",
        docs_src.join("benchmarks.md").display(),
        docs_src.join("bench").display()
    );
    Ok(())
}

#[cfg(test)]
mod resolve_tests {
    use super::resolve_crate;

    #[test]
    fn short_crate_names_resolve_to_the_reel_package() {
        let packages = ["reel-ratelimit", "reel-geoip", "xtask"];
        assert_eq!(
            resolve_crate("ratelimit", packages.iter().copied()),
            "reel-ratelimit"
        );
        assert_eq!(
            resolve_crate("reel-geoip", packages.iter().copied()),
            "reel-geoip"
        );
        assert_eq!(resolve_crate("xtask", packages.iter().copied()), "xtask");
        assert_eq!(resolve_crate("nope", packages.iter().copied()), "nope");
    }
}
