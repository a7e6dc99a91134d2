//! `--dashboard` (and `--write-report`): a real Prometheus scrapes the edge API's `/metrics`,
//! and nothing else, every second during the drill; afterwards every panel of
//! `docs/grafana/reel.json` is evaluated over the drill's time range and drawn
//! ([`crate::dashboard`]). A panel without data is a finding: the dashboard names a metric the
//! run never produced, or its expression is broken. The panels this drill cannot feed are
//! listed in [`EXPECTED_EMPTY`] with the reason, so that any other empty panel stands out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{PhaseKind, PhaseSpan};
use crate::dashboard::{self, Answer, DASHBOARD_PATH, Mark, Rendered, Timeline, Variables};
use crate::prometheus::{self, Prometheus};

/// How often Prometheus scrapes the edge API.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// Where `--write-report` writes the drawing, relative to the workspace root.
pub(super) const DASHBOARD_SVG: &str = "docs/src/ops/dashboard.svg";

/// Panels (by title) that no drill run can feed, and why. Their findings are printed as
/// explained; any other panel without data is a finding to act on.
pub(super) const EXPECTED_EMPTY: &[(&str, &str)] = &[
    (
        "Downloads (1 d) by result",
        "the drill's geo source is a database file replaced on disk, so the edge API downloads \
         nothing during the run and `reel_geoip_downloads_total` (created at the first download) \
         does not exist; the edge API's scrape test (examples/edge-api/tests/metrics.rs) \
         downloads from the MaxMind stand-in and checks it",
    ),
    (
        "JSON:API validation errors by rule",
        "the drill sends only valid documents and queries, and \
         `reel_jsonapi_validation_errors_total` is created at the first rejected request; the \
         edge API's scrape test sends invalid ones and checks it",
    ),
];

/// Panels (by title) whose values can stay at zero through a whole drill, and why.
pub(super) const EXPECTED_ZERO: &[(&str, &str)] = &[
    (
        "Errors by node and type",
        "NOT RIGHT: the killed node's errors happened, but reel-herd creates \
         `reel_herd_errors_total{node, error_type}` at a node's first error, with the errors of \
         that first scrape interval already in it, and then ejects the node, so the series \
         never rises in front of Prometheus and rate() shows 0 — the well-known pitfall of \
         counters not initialised at zero. To fix in reel-herd: register the counters at 0 \
         when a node joins",
    ),
    (
        "Ejections (5 min)",
        "NOT RIGHT: the cache node was ejected once, but `reel_herd_ejections_total{node}` is \
         created by that ejection at 1, so increase() sees no change and shows 0 (same cause \
         as the errors panel; same fix in reel-herd)",
    ),
    (
        "Retries by operation",
        "no search request was retried: while the search server is frozen the search circuit \
         breaker fails requests fast instead (see the breaker panel)",
    ),
    (
        "Migration phase by alias",
        "0 is idle: the edge API's index migration ran at start-up, before the load",
    ),
    (
        "Indexer rows per second",
        "the edge API indexes its rows at start-up, before the load; writes during the run go \
         through the repository's bulk sync (see the bulk items panel), not the indexer",
    ),
];

/// Installs Prometheus on first use; returns the directory of its binaries.
pub(super) fn install() -> Result<PathBuf> {
    let root = crate::workspace::project_root()?;
    prometheus::install(&crate::workspace::tools_dir(&root))
}

/// Starts Prometheus scraping `metrics` and waits for its first successful scrape.
pub(super) fn start(bin: &Path, metrics: SocketAddr) -> Result<Prometheus> {
    let server = Prometheus::start(bin, metrics, SCRAPE_INTERVAL)?;
    server
        .wait_for_scrape_after(prometheus::unix_now(), Duration::from_secs(20))
        .context("Prometheus could not scrape the edge API's /metrics")?;
    eprintln!(
        "Prometheus {} on http://{} scrapes http://{metrics}/metrics every {SCRAPE_INTERVAL:?}",
        prometheus::PROMETHEUS_VERSION,
        server.addr
    );
    Ok(server)
}

/// Evaluates every panel over the load's time range (`epoch_unix` to `epoch_unix +
/// load_end`) and draws the dashboard with the phases of `spans`.
pub(super) fn render(
    server: &Prometheus,
    epoch_unix: f64,
    spans: &[PhaseSpan],
    load_end: Duration,
) -> Result<Rendered> {
    let root = crate::workspace::project_root()?;
    let text = std::fs::read_to_string(root.join(DASHBOARD_PATH))
        .with_context(|| format!("reading {DASHBOARD_PATH}"))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{DASHBOARD_PATH} is not JSON"))?;
    let (start, end) = (epoch_unix, epoch_unix + load_end.as_secs_f64());
    // One or two seconds per point: every scrape for a short run, 120+ points for the full one.
    let step = if end - start > 120.0 { 2.0 } else { 1.0 };
    let variables = Variables::for_range(&json, step, SCRAPE_INTERVAL.as_secs_f64(), end - start);
    let answers: BTreeMap<String, Answer> = dashboard::expressions(&json, &variables)
        .into_iter()
        .map(|expr| {
            let answer = server.query_range(&expr, start, end, step);
            (expr, answer)
        })
        .collect();
    let timeline = Timeline {
        start,
        end,
        step,
        phases: spans
            .iter()
            .map(|span| Mark {
                start: epoch_unix + span.start.as_secs_f64(),
                end: epoch_unix + span.end.as_secs_f64(),
                label: span.phase.name(),
                outage: matches!(span.phase.kind, PhaseKind::Down(_)),
            })
            .collect(),
    };
    Ok(dashboard::render(&json, &answers, &variables, &timeline))
}

/// Why a finding is expected, when its panel is in `table` ([`EXPECTED_EMPTY`] or
/// [`EXPECTED_ZERO`]).
pub(super) fn explanation(table: &[(&str, &'static str)], finding: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(title, _)| finding.starts_with(&format!("panel \"{title}\"")))
        .map(|(_, why)| *why)
}

/// The dashboard's part of the report (Markdown): the picture, its caption, the findings.
pub(super) fn report(rendered: &Rendered) -> String {
    let mut out = format!(
        "\n## The dashboard during this run\n\n\
         ![The Grafana dashboard docs/grafana/reel.json drawn from this run](dashboard.svg)\n\n\
         *What this picture is:* reel's own rendering of the dashboard that ships in \
         `docs/grafana/reel.json`, not a Grafana screenshot. A real Prometheus \
         ({version}, built from its Go module by `cargo xtask setup`) scraped the edge API's \
         `/metrics`, and nothing else, every second during this drill run; afterwards the \
         drill evaluated each panel's PromQL exactly as the dashboard writes it \
         (`$__rate_interval` = 4 s, Grafana's rule for a 1 s scrape) with Prometheus' \
         `/api/v1/query_range` over the run, and drew the answers at the panels' grid \
         positions: lines with their legends, stat panels as their last value, outages \
         shaded and numbered as in the chart above. Grafana itself is not used because it is \
         AGPL-licensed, which the project's package policy excludes; import the same JSON \
         into your Grafana to see it there.\n\n\
         {} of {} panels had data.",
        rendered.panels_with_data,
        rendered.panels,
        version = prometheus::PROMETHEUS_VERSION,
    );
    if rendered.findings.is_empty() {
        out.push_str(" Every panel's queries returned data.\n");
    } else {
        out.push_str(
            " Panels and queries without data (a metric the run never produced, or a broken \
             expression):\n\n",
        );
        for finding in &rendered.findings {
            match explanation(EXPECTED_EMPTY, finding) {
                Some(why) => {
                    let _ = writeln!(out, "- {finding} — expected: {why}.");
                }
                None => {
                    let _ = writeln!(out, "- **{finding}** — not explained.");
                }
            }
        }
    }
    if !rendered.flat.is_empty() {
        out.push_str("\nPanels with data that stayed at zero through the whole run:\n\n");
        for panel in &rendered.flat {
            match explanation(EXPECTED_ZERO, panel) {
                Some(why) => {
                    let _ = writeln!(out, "- {panel}: {why}.");
                }
                None => {
                    let _ = writeln!(out, "- **{panel}**: not explained.");
                }
            }
        }
    }
    out
}
