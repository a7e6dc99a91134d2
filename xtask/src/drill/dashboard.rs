//! `--dashboard` (and `--write-report`): a real Prometheus scrapes the edge API's `/metrics`,
//! and nothing else, every second during the drill; afterwards every panel of
//! `docs/grafana/reel.json` is evaluated over the drill's time range and drawn
//! ([`crate::dashboard`]). A panel without data is a finding: the dashboard names a metric the
//! run never produced, or its expression is broken. The panels this drill cannot feed are
//! listed in [`EXPECTED_EMPTY`] with the reason, so that any other empty panel stands out.

use std::collections::BTreeMap;
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
pub(super) const EXPECTED_EMPTY: &[(&str, &str)] = &[];

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

/// Why a finding is expected, when its panel is in [`EXPECTED_EMPTY`].
pub(super) fn explanation(finding: &str) -> Option<&'static str> {
    EXPECTED_EMPTY
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
        return out;
    }
    out.push_str(
        " Panels and queries without data (a metric the run never produced, or a broken \
         expression):\n\n",
    );
    for finding in &rendered.findings {
        match explanation(finding) {
            Some(why) => out.push_str(&format!("- {finding} — expected: {why}\n")),
            None => out.push_str(&format!("- **{finding}** — not explained\n")),
        }
    }
    out
}
