//! The dashboard renderer the drill uses (`xtask::dashboard`) on a small dashboard with canned
//! Prometheus answers (`tests/fixtures/dashboard-*.json`), and the shipped dashboard
//! `docs/grafana/reel.json` against a real PromQL parser: promtool, built by `cargo xtask setup`
//! from the same Prometheus module as the server the drill runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use xtask::dashboard::{self, Answer, Mark, Timeline, Variables, parse_query_answer, substitute};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The canned answers, each read back through the parser the drill uses on Prometheus' bodies.
fn canned_answers() -> BTreeMap<String, Answer> {
    fixture("dashboard-answers.json")
        .as_object()
        .unwrap()
        .iter()
        .map(|(expr, body)| {
            (
                expr.clone(),
                parse_query_answer(body.to_string().as_bytes()),
            )
        })
        .collect()
}

fn timeline() -> Timeline {
    Timeline {
        start: 1000.0,
        end: 1010.0,
        step: 1.0,
        phases: vec![
            Mark {
                start: 1000.0,
                end: 1004.0,
                label: "steady".to_owned(),
                outage: false,
            },
            Mark {
                start: 1004.0,
                end: 1007.0,
                label: "redis down".to_owned(),
                outage: true,
            },
            Mark {
                start: 1007.0,
                end: 1010.0,
                label: "redis back".to_owned(),
                outage: false,
            },
        ],
    }
}

#[test]
fn renders_a_small_dashboard_from_canned_answers_and_lists_what_had_no_data() {
    let json = fixture("dashboard-small.json");
    let variables = Variables::for_range(&json, 1.0, 1.0, 10.0);
    assert_eq!(variables.values["__rate_interval"], "4s");
    // Every expression the drill would send, and nothing for the one it cannot fill in.
    let wanted = dashboard::expressions(&json, &variables);
    let answers = canned_answers();
    assert_eq!(wanted.len(), answers.len(), "{wanted:#?}");
    assert!(wanted.iter().all(|expr| answers.contains_key(expr)));

    let rendered = dashboard::render(&json, &answers, &variables, &timeline());
    assert_eq!(rendered.panels, 7);
    assert_eq!(rendered.panels_with_data, 4);
    // A counter that never moved is drawn, and listed apart.
    assert_eq!(rendered.flat, ["panel \"Stays zero\""]);
    let findings = rendered.findings.join("\n");
    assert_eq!(rendered.findings.len(), 4, "{findings}");
    assert!(
        findings.contains("panel \"Latency\": (query B) no data: `never_produced_total`"),
        "{findings}"
    );
    assert!(
        findings.contains("panel \"Never produced\": no data: `sum(rate(missing_total[4s]))`"),
        "{findings}"
    );
    assert!(
        findings.contains("panel \"Broken\": `sum(rate(x_total[4s])`: Prometheus said bad_data"),
        "{findings}"
    );
    assert!(
        findings.contains("panel \"Unknown variable\": the variable `$instance` has no value"),
        "{findings}"
    );

    let svg = &rendered.svg;
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // Titles are escaped, never markup.
    assert!(!svg.contains("<script>"));
    assert!(svg.contains("Requests &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(svg.contains("small &lt;test&gt; &amp; co"));
    // Legends from legendFormat, with and without spaces in the braces.
    assert!(svg.contains(">/v2/assets 200<"), "{svg}");
    assert!(svg.contains(">/v2/search 503<"));
    assert!(svg.contains(">p99<"));
    // The stat panel shows the last value; the latency axis is in milliseconds.
    assert!(svg.contains(">4</text>"), "{svg}");
    assert!(svg.contains(" ms</text>"));
    // The assets series is one line; the search series breaks at its NaN and +Inf points:
    // two runs of two points and a lone point, so two polylines and one dot.
    assert_eq!(svg.matches("<polyline").count(), 1 + 2 + 1 + 1, "{svg}");
    assert_eq!(svg.matches("<circle").count(), 1);
    // Panels without data say so; the outage is shaded, numbered and named in the strip.
    assert_eq!(svg.matches(">No data</text>").count(), 3);
    assert!(svg.contains("stroke-dasharray"));
    assert!(svg.contains("1 redis down"));
    assert!(svg.contains("1970-01-01 00:16:40 to 1970-01-01 00:16:50 UTC"));
    assert_eq!(
        xtask::dashboard::svg::utc(1_796_380_496.0),
        "2026-12-04 10:34:56"
    );
    assert_eq!(
        xtask::dashboard::svg::utc(951_825_599.0),
        "2000-02-29 11:59:59"
    );
}

#[test]
fn template_variables_are_substituted_like_grafana() {
    let json = fixture("dashboard-small.json");
    let variables = Variables::for_range(&json, 2.0, 1.0, 240.0);
    // max(interval + scrape, 4 × scrape): 4 s for a 1 s scrape, wider for a wide step.
    assert_eq!(variables.values["__rate_interval"], "4s");
    assert_eq!(
        Variables::for_range(&json, 10.0, 1.0, 240.0).values["__rate_interval"],
        "11s"
    );
    let expr = "rate(x{job=\"$job\"}[$__rate_interval]) + rate(y[${__rate_interval}]) + \
                label_replace(z, \"a\", \"$1\", \"b\", \"(.*)\") + w[$__range]";
    assert_eq!(
        substitute(expr, &variables).unwrap(),
        "rate(x{job=\"edge-api\"}[4s]) + rate(y[4s]) + \
         label_replace(z, \"a\", \"$1\", \"b\", \"(.*)\") + w[240s]"
    );
    assert!(
        substitute("up{x=\"$nope\"}", &variables)
            .unwrap_err()
            .contains("$nope")
    );
    assert!(substitute("up[${__rate_interval", &variables).is_err());
    // A lone `$` and one at the end stay as they are.
    assert_eq!(substitute("a $ b$", &variables).unwrap(), "a $ b$");
}

#[test]
fn hostile_prometheus_answers_are_errors_not_panics() {
    for body in [
        &b""[..],
        b"<html>502 Bad Gateway</html>",
        b"{\"status\":\"success\"}",
        b"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"values\":[[1,2]]}]}}",
        b"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"values\":[[\"x\",\"1\"]]}]}}",
        b"{\"status\":\"success\",\"data\":{\"resultType\":\"streams\",\"result\":[]}}",
        b"{\"status\":\"error\"}",
        b"\xff\xfe\x00",
    ] {
        assert!(parse_query_answer(body).is_err(), "{body:?}");
    }
    let vector = parse_query_answer(
        br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[5,"-Inf"]}]}}"#,
    )
    .unwrap();
    assert_eq!(vector[0].labels["a"], "b");
    assert!(vector[0].points[0].1.is_infinite());
    let scalar = parse_query_answer(
        br#"{"status":"success","data":{"resultType":"scalar","result":[5,"2.5"]}}"#,
    )
    .unwrap();
    assert_eq!(scalar[0].points, vec![(5.0, 2.5)]);
    // A dashboard that is not one is a finding, and still a (blank) drawing.
    let rendered = dashboard::render(
        &serde_json::json!({"panels": "nope"}),
        &BTreeMap::new(),
        &Variables::default(),
        &timeline(),
    );
    assert_eq!(rendered.findings.len(), 1);
    assert!(rendered.svg.ends_with("</svg>\n"));
}

/// Every expression of the shipped dashboard (panels and annotations), with its variables
/// substituted as the drill does, parses in Prometheus' own parser: each becomes a recording
/// rule that `promtool check rules` must accept. A broken expression must be refused, or the
/// check would prove nothing.
#[test]
fn every_expression_of_the_shipped_dashboard_parses_in_prometheus() {
    let root = root();
    let tools = xtask::workspace::tools_dir(&root);
    let promtool = xtask::prometheus::bin_dir(&tools).join("promtool");
    assert!(
        promtool.is_file(),
        "{} is missing: run `cargo xtask setup` (it builds Prometheus {} and promtool with \
         `go install`)",
        promtool.display(),
        xtask::prometheus::PROMETHEUS_VERSION
    );
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(dashboard::DASHBOARD_PATH)).unwrap(),
    )
    .unwrap();
    let variables = Variables::for_range(&json, 2.0, 1.0, 240.0);
    let mut expressions = Vec::new();
    for panel in dashboard::panels(&json).unwrap() {
        for target in &panel.targets {
            let expr = substitute(&target.expr, &variables)
                .unwrap_or_else(|e| panic!("panel {:?}: {e}", panel.title));
            expressions.push((format!("{} ({})", panel.title, target.ref_id), expr));
        }
    }
    for target in dashboard::annotation_targets(&json) {
        expressions.push((
            target.ref_id.clone(),
            substitute(&target.expr, &variables).unwrap(),
        ));
    }
    assert!(expressions.len() > 30, "{}", expressions.len());
    let dir = std::env::temp_dir().join(format!("reel-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, exprs: &[(String, String)]| {
        let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
        for (i, (_, expr)) in exprs.iter().enumerate() {
            // A JSON string is a YAML double-quoted scalar.
            let _ = write!(
                rules,
                "      - record: dashboard:query_{i}\n        expr: {}\n",
                Value::from(expr.as_str())
            );
        }
        let path = dir.join(name);
        std::fs::write(&path, rules).unwrap();
        Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let shipped = check("dashboard.yml", &expressions);
    let said = String::from_utf8_lossy(&shipped.stdout).to_string()
        + &String::from_utf8_lossy(&shipped.stderr);
    assert!(
        shipped.status.success(),
        "promtool refused an expression of {}:\n{said}\n{expressions:#?}",
        dashboard::DASHBOARD_PATH
    );
    assert!(
        said.contains(&format!("{} rules found", expressions.len())),
        "{said}"
    );
    let broken = check(
        "broken.yml",
        &[("broken".to_owned(), "sum(rate(x_total[4s])".to_owned())],
    );
    assert!(!broken.status.success());
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("parse error")
            || String::from_utf8_lossy(&broken.stdout).contains("parse error")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
