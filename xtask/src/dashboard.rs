//! The Grafana dashboard `docs/grafana/reel.json`, read and drawn without Grafana.
//!
//! Grafana itself is not used: it is AGPL-licensed, which the project's package policy
//! excludes. What the drill needs from a dashboard is small and checkable: for each panel,
//! each target's PromQL expression (with the dashboard's template variables substituted) is
//! evaluated by a real Prometheus over the drill's time range, and the answers are drawn at
//! the panels' `gridPos` ([`svg`]). A panel whose queries return no data, or an error, is a
//! *finding*: the dashboard names a metric the run never produced, or its expression is
//! broken.
//!
//! This module is pure (no process, no network): [`panels`] reads the dashboard,
//! [`substitute`] fills in the variables, [`parse_query_answer`] reads Prometheus' HTTP API
//! answers and [`render`] draws them, so its tests run on canned answers.

use std::collections::BTreeMap;

use serde_json::Value;

pub mod svg;

/// Where the dashboard lives, relative to the workspace root.
pub const DASHBOARD_PATH: &str = "docs/grafana/reel.json";

/// One series of a Prometheus answer: its labels and its `(unix seconds, value)` points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The series' labels (`__name__` included when Prometheus kept it).
    pub labels: BTreeMap<String, String>,
    /// The points in time order; `NaN` and infinities are kept as Prometheus sent them.
    pub points: Vec<(f64, f64)>,
}

/// What one query gave: series, or what went wrong.
pub type Answer = Result<Vec<Series>, String>;

/// Reads an answer of `/api/v1/query_range` or `/api/v1/query` (matrix, vector or scalar).
/// An error answer (`"status": "error"`) or anything unreadable is an `Err` that says why.
pub fn parse_query_answer(body: &[u8]) -> Answer {
    let answer: Value = serde_json::from_slice(body).map_err(|error| {
        let preview: String = String::from_utf8_lossy(body).chars().take(200).collect();
        format!("not a JSON answer ({error}): {preview:?}")
    })?;
    if answer["status"] != "success" {
        return Err(format!(
            "{}: {}",
            answer["errorType"].as_str().unwrap_or("error"),
            answer["error"].as_str().unwrap_or("no error message")
        ));
    }
    let data = &answer["data"];
    let result = &data["result"];
    let labels = |series: &Value| -> BTreeMap<String, String> {
        series["metric"]
            .as_object()
            .map(|metric| {
                metric
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    match data["resultType"].as_str() {
        Some("matrix") => result
            .as_array()
            .ok_or("a matrix answer without a result list")?
            .iter()
            .map(|series| {
                let points = series["values"]
                    .as_array()
                    .ok_or("a matrix series without values")?
                    .iter()
                    .map(point)
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Series {
                    labels: labels(series),
                    points,
                })
            })
            .collect(),
        Some("vector") => result
            .as_array()
            .ok_or("a vector answer without a result list")?
            .iter()
            .map(|series| {
                Ok(Series {
                    labels: labels(series),
                    points: vec![point(&series["value"])?],
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Series {
            labels: BTreeMap::new(),
            points: vec![point(result)?],
        }]),
        other => Err(format!("unexpected result type {other:?}")),
    }
}

/// One `[unix seconds, "value"]` pair.
fn point(pair: &Value) -> Result<(f64, f64), String> {
    let bad = || format!("a malformed sample {pair}");
    let pair = pair.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
    let at = pair[0].as_f64().ok_or_else(bad)?;
    let value = pair[1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(bad)?;
    Ok((at, value))
}

/// A panel's place on Grafana's grid: 24 columns, rows of one unit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grid {
    /// Column of the left edge (0 to 23).
    pub x: u32,
    /// Row of the top edge.
    pub y: u32,
    /// Width in columns.
    pub w: u32,
    /// Height in rows.
    pub h: u32,
}

/// One query of a panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Grafana's `refId` (A, B, ...).
    pub ref_id: String,
    /// The PromQL expression as the dashboard writes it (variables not yet substituted).
    pub expr: String,
    /// The legend template (`{{label}}` placeholders), empty for Grafana's default.
    pub legend: String,
}

/// One panel of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// Its title.
    pub title: String,
    /// Grafana's panel type: `timeseries`, `stat`, `row`, ...
    pub kind: String,
    /// Where it is drawn.
    pub grid: Grid,
    /// `fieldConfig.defaults.unit` (`s`, `reqps`, `percentunit`, ...), when set.
    pub unit: Option<String>,
    /// Its queries.
    pub targets: Vec<Target>,
}

/// The dashboard's panels, rows included, in the order of the file; the panels of a
/// collapsed row follow it. `Err` when the JSON is not a dashboard.
pub fn panels(dashboard: &Value) -> Result<Vec<Panel>, String> {
    let list = dashboard["panels"]
        .as_array()
        .ok_or("the dashboard has no `panels` list")?;
    let mut out = Vec::new();
    for panel in list {
        out.push(read_panel(panel)?);
        for inner in panel["panels"].as_array().into_iter().flatten() {
            out.push(read_panel(inner)?);
        }
    }
    Ok(out)
}

fn read_panel(panel: &Value) -> Result<Panel, String> {
    let title = panel["title"].as_str().unwrap_or("(untitled)").to_owned();
    let number = |name: &str| {
        panel["gridPos"][name]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("panel {title:?}: gridPos.{name} is missing or not a number"))
    };
    let grid = Grid {
        x: number("x")?.min(23),
        y: number("y")?,
        w: number("w")?.clamp(1, 24),
        h: number("h")?.max(1),
    };
    let targets = panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|target| target["hide"] != true)
        .filter_map(|target| {
            Some(Target {
                ref_id: target["refId"].as_str().unwrap_or("?").to_owned(),
                expr: target["expr"].as_str()?.to_owned(),
                legend: target["legendFormat"].as_str().unwrap_or("").to_owned(),
            })
        })
        .collect();
    Ok(Panel {
        title,
        kind: panel["type"].as_str().unwrap_or("timeseries").to_owned(),
        grid,
        unit: panel["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .map(str::to_owned),
        targets,
    })
}

/// Values for the template variables a query may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    /// By name, without the `$`: Grafana's built-ins (`__rate_interval`, `__interval`,
    /// `__range`, ...) and the dashboard's own.
    pub values: BTreeMap<String, String>,
}

impl Variables {
    /// Grafana's built-ins for a range drawn every `step` seconds from data scraped every
    /// `scrape` seconds, over `range` seconds, and the dashboard's own variables with a
    /// current value (`templating.list[].current.value`, or `query` for a constant).
    ///
    /// `$__rate_interval` is Grafana's rule: `max($__interval + scrape interval, 4 × scrape
    /// interval)`, so a `rate()` always spans at least four scrapes.
    pub fn for_range(dashboard: &Value, step: f64, scrape: f64, range: f64) -> Self {
        let seconds = |s: f64| format!("{}s", s.round().max(1.0));
        let mut values = BTreeMap::new();
        values.insert("__interval".to_owned(), seconds(step));
        values.insert(
            "__interval_ms".to_owned(),
            format!("{}", (step * 1000.0).round()),
        );
        values.insert(
            "__rate_interval".to_owned(),
            seconds((step + scrape).max(4.0 * scrape)),
        );
        values.insert("__range".to_owned(), seconds(range));
        values.insert("__range_s".to_owned(), format!("{}", range.round()));
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(name) = variable["name"].as_str() else {
                continue;
            };
            let current = &variable["current"]["value"];
            let value = current
                .as_str()
                .or_else(|| current.as_array().and_then(|v| v.first()?.as_str()))
                .or_else(|| {
                    (variable["type"] == "constant")
                        .then(|| variable["query"].as_str())
                        .flatten()
                });
            if let Some(value) = value {
                values.insert(name.to_owned(), value.to_owned());
            }
        }
        Self { values }
    }
}

/// `expr` with every `$name` and `${name}` replaced by its value. A variable without a value
/// is an `Err` naming it (the query cannot be evaluated as Grafana would). A `$` followed by a
/// digit (a `label_replace` group such as `$1`) is left alone.
pub fn substitute(expr: &str, variables: &Variables) -> Result<String, String> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => {
                    let inner = &braced[..end];
                    // `${name:format}`: the format does not change a plain value.
                    (inner.split(':').next().unwrap_or(inner), end + 2)
                }
                None => return Err(format!("an unclosed `${{` in `{expr}`")),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            out.push('$');
            rest = after;
            continue;
        }
        let value = variables
            .values
            .get(name)
            .ok_or_else(|| format!("the variable `${name}` has no value"))?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every expression to evaluate: each target's, variables substituted, once each (the
/// dashboard's annotation queries too). Targets whose variables cannot be filled are left out
/// ([`render`] reports them).
pub fn expressions(dashboard: &Value, variables: &Variables) -> Vec<String> {
    let mut out: Vec<String> = panels(dashboard)
        .unwrap_or_default()
        .iter()
        .flat_map(|panel| panel.targets.iter())
        .chain(annotation_targets(dashboard).iter())
        .filter_map(|target| substitute(&target.expr, variables).ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The dashboard's annotation queries, as targets (`name` as the ref).
pub fn annotation_targets(dashboard: &Value) -> Vec<Target> {
    dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|annotation| {
            Some(Target {
                ref_id: annotation["name"]
                    .as_str()
                    .unwrap_or("annotation")
                    .to_owned(),
                expr: annotation["expr"].as_str()?.to_owned(),
                legend: String::new(),
            })
        })
        .collect()
}

/// The time the dashboard is drawn over, and the drill's phases on it.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Unix seconds of the left edge.
    pub start: f64,
    /// Unix seconds of the right edge.
    pub end: f64,
    /// Seconds between two points of a query.
    pub step: f64,
    /// The drill's phases, in order.
    pub phases: Vec<Mark>,
}

/// One phase of the drill on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Unix seconds it began.
    pub start: f64,
    /// Unix seconds it ended.
    pub end: f64,
    /// Its name (`redis down`).
    pub label: String,
    /// Whether a backend was away during it (shaded).
    pub outage: bool,
}

/// The drawing and what it found.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The SVG document.
    pub svg: String,
    /// One line per panel (or target) without data or with a broken query.
    pub findings: Vec<String>,
    /// Panels with data whose every value was zero (`panel "<title>"`): a counter that never
    /// moved, or one Prometheus could not see move (created at its first increment).
    pub flat: Vec<String>,
    /// Panels with queries.
    pub panels: usize,
    /// Panels of those with at least one finite point.
    pub panels_with_data: usize,
}

/// A panel's series ready to draw: legend label and points, per target.
#[derive(Debug, Clone, Default)]
pub struct Drawn {
    /// `(legend label, points)`, targets in order.
    pub lines: Vec<(String, Vec<(f64, f64)>)>,
    /// What went wrong with its queries (shown in a panel without data).
    pub problems: Vec<String>,
}

/// Draws every panel from `answers` (keyed by substituted expression) and lists the findings.
pub fn render(
    dashboard: &Value,
    answers: &BTreeMap<String, Answer>,
    variables: &Variables,
    timeline: &Timeline,
) -> Rendered {
    let mut rendered = Rendered::default();
    let panels = match panels(dashboard) {
        Ok(panels) => panels,
        Err(error) => {
            rendered.findings.push(format!("the dashboard: {error}"));
            rendered.svg = svg::draw(dashboard, &[], timeline);
            return rendered;
        }
    };
    let mut drawn = Vec::with_capacity(panels.len());
    for panel in &panels {
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for target in &panel.targets {
            let which = if panel.targets.len() > 1 {
                format!(" (query {})", target.ref_id)
            } else {
                String::new()
            };
            let expr = match substitute(&target.expr, variables) {
                Ok(expr) => expr,
                Err(error) => {
                    problems.push(format!("{which} {error}"));
                    continue;
                }
            };
            match answers.get(&expr) {
                None => problems.push(format!("{which} was not evaluated")),
                Some(Err(error)) => {
                    problems.push(format!("{which} `{expr}`: Prometheus said {error}"));
                }
                Some(Ok(series)) => {
                    let finite = series
                        .iter()
                        .any(|s| s.points.iter().any(|(_, v)| v.is_finite()));
                    if series.is_empty() {
                        problems.push(format!("{which} no data: `{expr}`"));
                    } else if !finite {
                        problems.push(format!("{which} only NaN: `{expr}`"));
                    }
                    for s in series {
                        lines.push((legend(&target.legend, &s.labels, &expr), s.points.clone()));
                    }
                }
            }
        }
        if !panel.targets.is_empty() {
            rendered.panels += 1;
            let has_data = lines
                .iter()
                .any(|(_, points)| points.iter().any(|(_, v)| v.is_finite()));
            rendered.panels_with_data += usize::from(has_data);
            let all_zero = lines
                .iter()
                .flat_map(|(_, points)| points.iter())
                .all(|(_, v)| !v.is_finite() || *v == 0.0);
            if has_data && all_zero {
                rendered.flat.push(format!("panel \"{}\"", panel.title));
            }
        }
        for problem in &problems {
            rendered
                .findings
                .push(format!("panel \"{}\":{problem}", panel.title));
        }
        drawn.push((panel.clone(), Drawn { lines, problems }));
    }
    for target in annotation_targets(dashboard) {
        if let Ok(expr) = substitute(&target.expr, variables)
            && let Some(Err(error)) = answers.get(&expr)
        {
            rendered.findings.push(format!(
                "annotation \"{}\" `{expr}`: Prometheus said {error}",
                target.ref_id
            ));
        }
    }
    rendered.svg = svg::draw(dashboard, &drawn, timeline);
    rendered
}

/// A series' legend: `template` with `{{label}}` replaced by the label's value; without a
/// template (or `__auto`), the labels as PromQL writes them, else the expression.
pub fn legend(template: &str, labels: &BTreeMap<String, String>, expr: &str) -> String {
    if template.is_empty() || template == "__auto" {
        let shown: Vec<String> = labels
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        return if shown.is_empty() {
            expr.to_owned()
        } else {
            format!("{{{}}}", shown.join(", "))
        };
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = after[..close].trim();
        out.push_str(labels.get(name).map_or("", String::as_str));
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out.trim().to_owned()
}
