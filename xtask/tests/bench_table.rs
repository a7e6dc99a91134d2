//! `cargo xtask bench`'s table, built from a criterion output tree written here the way
//! criterion lays it out (`<group>/<function>[/<parameter>]/new/{benchmark,estimates}.json`).

// Helpers as well as tests may panic: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use xtask::bench::{
    Measurement, chart_path, collect, format_time, render_chart, render_page, render_table, rows,
    write_report,
};

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Scratch(std::env::temp_dir().join(format!("xtask-{name}-{}-{nanos}", std::process::id())))
}

/// Writes one result as criterion does; `directory` is the sanitised path criterion uses.
fn result(
    root: &Path,
    directory: &str,
    group: &str,
    function: &str,
    param: Option<&str>,
    mean: f64,
) {
    for kind in ["new", "base"] {
        let dir = root.join(directory).join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let value_str = param.map_or("null".to_owned(), |p| format!("\"{p}\""));
        std::fs::write(
            dir.join("benchmark.json"),
            format!(
                r#"{{"group_id":"{group}","function_id":"{function}","value_str":{value_str},"throughput":null,"full_id":"{group}/{function}","directory_name":"{directory}","title":"{group}/{function}"}}"#
            ),
        )
        .unwrap();
        // `base` holds the previous run; only `new` may be read.
        let mean = if kind == "new" { mean } else { mean * 100.0 };
        std::fs::write(
            dir.join("estimates.json"),
            format!(
                r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{lo},"upper_bound":{hi}}},"point_estimate":{mean},"standard_error":1.0}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0}},"point_estimate":1.5,"standard_error":0.1}}}}"#,
                lo = mean * 0.9,
                hi = mean * 1.1
            ),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join(directory).join("report")).unwrap();
}

/// The results of the fixture tree: criterion's directory, the group, the function, the
/// parameter and the mean in nanoseconds.
const RESULTS: [(&str, &str, &str, Option<&str>, f64); 9] = [
    (
        "reel-ratelimit_check/reel",
        "reel-ratelimit/check",
        "reel",
        None,
        50.0,
    ),
    (
        "reel-ratelimit_check/governor",
        "reel-ratelimit/check",
        "governor",
        None,
        100.0,
    ),
    (
        "reel-geoip_lookup/reel",
        "reel-geoip/lookup",
        "reel",
        None,
        2_000.0,
    ),
    (
        "reel-geoip_lookup/maxminddb",
        "reel-geoip/lookup",
        "maxminddb",
        None,
        1_000.0,
    ),
    (
        "reel-geoip_lookup/libmaxminddb",
        "reel-geoip/lookup",
        "libmaxminddb",
        None,
        4_000.0,
    ),
    (
        "reel-herd_get/reel/64",
        "reel-herd/get",
        "reel",
        Some("64"),
        3.0e6,
    ),
    (
        "reel-herd_get/direct/64",
        "reel-herd/get",
        "direct",
        Some("64"),
        2.0e6,
    ),
    (
        "reel-geoip_lookup/reel_unverified",
        "reel-geoip/lookup",
        "reel_unverified",
        None,
        500.0,
    ),
    (
        "reel-jsonapi_serialize/reel",
        "reel-jsonapi/serialize",
        "reel",
        None,
        700.0,
    ),
];

/// A scratch directory holding the criterion tree of [`RESULTS`] under `criterion/`, and the
/// measurements read back from it.
fn fixture(name: &str) -> (Scratch, Vec<Measurement>) {
    let tmp = scratch(name);
    let criterion = tmp.0.join("criterion");
    for (directory, group, function, param, mean) in RESULTS {
        result(&criterion, directory, group, function, param, mean);
    }
    let measurements = collect(&criterion).unwrap();
    (tmp, measurements)
}

#[test]
fn builds_the_ratio_table_from_a_criterion_tree() {
    let (_tmp, measurements) = fixture("bench");
    assert_eq!(measurements.len(), 9);
    assert!(measurements.contains(&Measurement {
        group: "reel-herd/get".into(),
        function: "direct".into(),
        parameter: Some("64".into()),
        mean_ns: 2.0e6,
    }));

    let table = rows(&measurements);
    let summary: Vec<(String, Option<String>, Option<String>)> = table
        .iter()
        .map(|r| {
            (
                r.label(),
                r.peer.clone(),
                r.ratio().map(|x| format!("{x:.2}")),
            )
        })
        .collect();
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        summary,
        [
            ("reel-geoip/lookup".into(), s("libmaxminddb"), s("0.50")),
            ("reel-geoip/lookup".into(), s("maxminddb"), s("2.00")),
            // A variant of ours is compared with every peer, after plain `reel`.
            (
                "reel-geoip/lookup (reel_unverified)".into(),
                s("libmaxminddb"),
                s("0.12")
            ),
            (
                "reel-geoip/lookup (reel_unverified)".into(),
                s("maxminddb"),
                s("0.50")
            ),
            ("reel-herd/get/64".into(), s("direct"), s("1.50")),
            ("reel-jsonapi/serialize".into(), None, None),
            ("reel-ratelimit/check".into(), s("governor"), s("0.50")),
        ]
    );
    assert_eq!(xtask::bench::format_ratio(0.000_99), "0.0010");
    assert_eq!(xtask::bench::format_ratio(207.4), "207");
}

#[test]
fn renders_the_table_and_one_section_per_crate() {
    let (_tmp, measurements) = fixture("bench-page");
    let table = rows(&measurements);
    let markdown = render_table(&table);
    assert!(
        markdown.contains("| reel-ratelimit/check | 50.0 ns | governor | 100.0 ns | 0.50 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| reel-herd/get/64 | 3.00 ms | direct | 2.00 ms | 1.50 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| reel-jsonapi/serialize | 700.0 ns | — | — | — |"),
        "{markdown}"
    );
    let notes = std::collections::BTreeMap::from([(
        "reel-herd".to_owned(),
        "`direct` is a floor, not a competitor.\n".to_owned(),
    )]);
    let page = render_page(
        &table,
        &notes,
        "2 CPUs (Test CPU), 1.0 GiB RAM",
        "cargo xtask bench",
    );
    assert!(page.starts_with("# Benchmarks\n"));
    assert!(page.contains(
        "`cargo xtask bench` (the latest criterion run of each group) on 2 CPUs (Test CPU)"
    ));
    // One section per crate, each with its own table and chart.
    for family in ["reel-geoip", "reel-herd", "reel-jsonapi", "reel-ratelimit"] {
        assert!(page.contains(&format!("\n## {family}\n")), "{page}");
        assert!(
            page.contains(&format!("]({})", chart_path(family))),
            "{page}"
        );
    }
    let herd = &page[page.find("## reel-herd").unwrap()..page.find("## reel-jsonapi").unwrap()];
    assert!(herd.contains("| reel-herd/get/64 | 3.00 ms |"), "{herd}");
    assert!(!herd.contains("reel-geoip"), "{herd}");
    assert!(
        herd.contains("\n`direct` is a floor, not a competitor.\n"),
        "{herd}"
    );
}

#[test]
fn charts_a_bar_per_ratio_on_a_log_scale() {
    let (_tmp, measurements) = fixture("bench-chart");
    let table = rows(&measurements);
    // The chart: valid-looking SVG, a bar per ratio, coloured by which side of 1× it falls.
    let geoip_rows: Vec<_> = table
        .iter()
        .filter(|r| r.family() == "reel-geoip")
        .cloned()
        .collect();
    let svg = render_chart("geoip <lookup> & co", &geoip_rows);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("geoip &lt;lookup&gt; &amp; co"),
        "titles are escaped"
    );
    assert_eq!(svg.matches("<rect x=").count(), 4, "{svg}");
    assert_eq!(
        svg.matches("fill=\"#c62828\"").count(),
        1,
        "one slower row: {svg}"
    );
    assert!(svg.contains(">2.00</text>") && svg.contains(">0.12</text>"));
    // The axis reaches ×1/8 for the 0.12 ratio and ×2 at least, labelled, with ×1.
    for label in [">×1/8</text>", ">×1</text>", ">×2</text>"] {
        assert!(svg.contains(label), "{label}: {svg}");
    }

    // A ratio far off the scale is drawn to the ×64 edge and says its value.
    let mut extreme = geoip_rows[1].clone();
    extreme.peer_ns = extreme.ours_ns.map(|ours| ours / 30_000.0);
    let svg = render_chart("extreme", &[extreme]);
    assert!(svg.contains(">30000</text>"), "{svg}");
    assert!(
        svg.contains(">×64</text>") && !svg.contains(">×128</text>"),
        "{svg}"
    );
}

#[test]
fn write_report_places_the_page_and_a_chart_per_crate() {
    let (tmp, measurements) = fixture("bench-report");
    let table = rows(&measurements);
    // write_report puts the page and one chart per family in place, dropping stale charts.
    let docs = tmp.0.join("docs-src");
    std::fs::create_dir_all(docs.join("bench")).unwrap();
    std::fs::write(docs.join("bench/stale.svg"), "<svg/>").unwrap();
    std::fs::write(docs.join("bench/reel-geoip.md"), "Notes on geoip.\n").unwrap();
    write_report(&docs, &table, "machine", "cargo xtask bench").unwrap();
    assert!(!docs.join("bench/stale.svg").exists());
    for family in ["reel-geoip", "reel-herd", "reel-jsonapi", "reel-ratelimit"] {
        assert!(docs.join(chart_path(family)).is_file(), "{family}");
    }
    let written = std::fs::read_to_string(docs.join("benchmarks.md")).unwrap();
    assert!(written.contains("## reel-ratelimit"));
    assert!(written.contains("\nNotes on geoip.\n"), "{written}");
    assert!(docs.join("bench/reel-geoip.md").is_file(), "notes are kept");
}

#[test]
fn falls_back_to_directory_names_and_handles_no_results() {
    let tmp = scratch("bench-empty");
    assert!(collect(&tmp.0.join("criterion")).unwrap().is_empty());
    assert!(render_table(&[]).contains("no results yet"));

    // Without benchmark.json (older criterion), the directory names are used.
    let dir = tmp.0.join("criterion/grp/peer/new");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("estimates.json"),
        r#"{"mean":{"point_estimate":1500.0}}"#,
    )
    .unwrap();
    let found = collect(&tmp.0.join("criterion")).unwrap();
    assert_eq!(
        found,
        [Measurement {
            group: "grp".into(),
            function: "peer".into(),
            parameter: None,
            mean_ns: 1500.0
        }]
    );
    let table = rows(&found);
    assert_eq!(table[0].ours_ns, None);
    assert_eq!(table[0].ratio(), None);
    assert_eq!(format_time(1500.0), "1.50 µs");
    assert_eq!(format_time(2.5e9), "2.50 s");

    // With a slope (linear sampling) the slope is the figure, as criterion prints it.
    std::fs::write(
        dir.join("estimates.json"),
        r#"{"mean":{"point_estimate":1500.0},"slope":{"point_estimate":1200.0}}"#,
    )
    .unwrap();
    assert_eq!(
        collect(&tmp.0.join("criterion")).unwrap()[0].mean_ns,
        1200.0
    );

    // A corrupt estimates file is an error naming the file, not a silent gap.
    std::fs::write(dir.join("estimates.json"), "{not json").unwrap();
    let err = collect(&tmp.0.join("criterion")).unwrap_err().to_string();
    assert!(err.contains("estimates.json"), "{err}");
}
