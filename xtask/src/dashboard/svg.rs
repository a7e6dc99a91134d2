//! Draws the dashboard's panels at their `gridPos` into one SVG, by plain string building like
//! the drill's own chart: a title, time-series lines with a legend, stat panels as numbers,
//! and the drill's phases (outages shaded, phase boundaries as vertical markers).

use std::fmt::Write as _;

use serde_json::Value;

use super::{Drawn, Panel, Timeline};

/// The drawing's width; Grafana's grid has 24 columns.
const WIDTH: f64 = 1440.0;
const COLUMN: f64 = WIDTH / 24.0;
/// One grid row (Grafana draws 30 px).
const ROW: f64 = 30.0;
/// Title, caption and the phase strip above the panels.
const HEADER: f64 = 112.0;
/// Legend lines a time-series panel shows before "+N more".
const LEGEND_LINES: usize = 3;
/// Grafana's classic palette.
const COLORS: [&str; 12] = [
    "#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0",
    "#508642", "#cca300", "#447ebc", "#c15c17",
];

/// The whole dashboard as one SVG document.
pub fn draw(dashboard: &Value, panels: &[(Panel, Drawn)], timeline: &Timeline) -> String {
    let bottom = panels
        .iter()
        .map(|(panel, _)| panel.grid.y + panel.grid.h)
        .max()
        .unwrap_or(0);
    let height = HEADER + f64::from(bottom) * ROW + 10.0;
    let title = dashboard["title"].as_str().unwrap_or("dashboard");
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#f4f5f5"/>
<text x="10" y="24" font-size="18" font-weight="bold">{}</text>
<text x="10" y="44" fill="#555">docs/grafana/reel.json drawn by cargo xtask drill (not Grafana): each panel's PromQL evaluated by a real Prometheus {} that scraped the edge API every second during the drill, {} to {} UTC</text>
"##,
        escape(title),
        crate::prometheus::PROMETHEUS_VERSION,
        utc(timeline.start),
        utc(timeline.end)
    );
    phase_strip(&mut svg, timeline);
    for (panel, drawn) in panels {
        draw_panel(&mut svg, panel, drawn, timeline);
    }
    svg.push_str("</svg>\n");
    svg
}

/// The drill's phases across the top; outages numbered, as the panels' markers are.
fn phase_strip(svg: &mut String, timeline: &Timeline) {
    let (left, right, top, height) = (10.0, WIDTH - 10.0, 56.0, 22.0);
    let span = (timeline.end - timeline.start).max(1e-3);
    let x = |t: f64| left + (right - left) * ((t - timeline.start) / span).clamp(0.0, 1.0);
    let mut outage = 0;
    let mut key = Vec::new();
    for mark in &timeline.phases {
        let (x0, x1) = (x(mark.start), x(mark.end));
        let fill = if mark.outage { "#f2b8b8" } else { "#dfe8df" };
        let _ = writeln!(
            svg,
            r##"<rect x="{x0:.1}" y="{top}" width="{:.1}" height="{height}" fill="{fill}" stroke="#fff"/>"##,
            (x1 - x0).max(0.0)
        );
        let label = if mark.outage {
            outage += 1;
            key.push(format!("{outage} {}", mark.label));
            outage.to_string()
        } else {
            mark.label.clone()
        };
        if (x1 - x0) > 6.5 * label.len() as f64 + 4.0 {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                (x0 + x1) / 2.0,
                top + 15.0,
                escape(&label)
            );
        }
    }
    let _ = writeln!(
        svg,
        r##"<text x="{left}" y="{:.1}" fill="#a33">outages (shaded in every panel, numbered at their start): {}</text>"##,
        top + height + 16.0,
        escape(&key.join(" · "))
    );
}

fn draw_panel(svg: &mut String, panel: &Panel, drawn: &Drawn, timeline: &Timeline) {
    let px = f64::from(panel.grid.x) * COLUMN + 4.0;
    let py = HEADER + f64::from(panel.grid.y) * ROW;
    let pw = f64::from(panel.grid.w) * COLUMN - 8.0;
    let ph = f64::from(panel.grid.h) * ROW - 6.0;
    if panel.kind == "row" {
        let _ = writeln!(
            svg,
            r##"<text x="{px:.1}" y="{:.1}" font-size="14" font-weight="bold">{}</text>
<line x1="{px:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#bbb"/>"##,
            py + ph - 6.0,
            escape(&panel.title),
            px + pw,
            py + ph,
            py + ph
        );
        return;
    }
    let max_chars = ((pw - 16.0) / 6.6) as usize;
    let _ = writeln!(
        svg,
        r##"<rect x="{px:.1}" y="{py:.1}" width="{pw:.1}" height="{ph:.1}" fill="#ffffff" stroke="#d8d9da"/>
<text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold">{}</text>"##,
        px + 8.0,
        py + 16.0,
        escape(&truncate(&panel.title, max_chars))
    );
    let finite = drawn
        .lines
        .iter()
        .any(|(_, points)| points.iter().any(|(_, v)| v.is_finite()));
    if !finite {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="14" fill="#999">No data</text>"##,
            px + pw / 2.0,
            py + ph / 2.0
        );
        for (i, problem) in drawn.problems.iter().take(4).enumerate() {
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#999">{}</text>"##,
                px + pw / 2.0,
                py + ph / 2.0 + 18.0 + 12.0 * i as f64,
                escape(&truncate(problem.trim(), max_chars + max_chars / 3))
            );
        }
        return;
    }
    let unit = panel.unit.as_deref();
    if panel.kind == "stat" {
        draw_stat(svg, drawn, unit, (px, py, pw, ph));
    } else {
        draw_series(svg, drawn, unit, timeline, (px, py, pw, ph));
    }
}

/// The last finite value of each series, large.
fn draw_stat(
    svg: &mut String,
    drawn: &Drawn,
    unit: Option<&str>,
    (px, py, pw, ph): (f64, f64, f64, f64),
) {
    let values: Vec<(&str, f64)> = drawn
        .lines
        .iter()
        .filter_map(|(label, points)| {
            let last = points.iter().rev().find(|(_, v)| v.is_finite())?;
            Some((label.as_str(), last.1))
        })
        .take(6)
        .collect();
    let each = (ph - 24.0) / values.len().max(1) as f64;
    let size = (each * 0.6).clamp(12.0, 48.0);
    for (i, (label, value)) in values.iter().enumerate() {
        let y = py + 24.0 + each * (i as f64 + 0.5) + size / 3.0;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{y:.1}" text-anchor="middle" font-size="{size:.0}" font-weight="bold" fill="{}">{}</text>"##,
            px + pw / 2.0,
            COLORS[i % COLORS.len()],
            escape(&format_value(*value, unit))
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            px + pw / 2.0,
            y + 14.0,
            escape(label)
        );
    }
}

/// Lines over the timeline with y ticks, time ticks, the phases and a legend.
fn draw_series(
    svg: &mut String,
    drawn: &Drawn,
    unit: Option<&str>,
    timeline: &Timeline,
    (px, py, pw, ph): (f64, f64, f64, f64),
) {
    let legend_lines = legend_layout(drawn, pw - 16.0).len().min(LEGEND_LINES);
    let (left, right) = (px + 58.0, px + pw - 10.0);
    let (top, bottom) = (py + 28.0, py + ph - 20.0 - 13.0 * legend_lines as f64);
    let span = (timeline.end - timeline.start).max(1e-3);
    let x = |t: f64| left + (right - left) * (t - timeline.start) / span;
    let (low, high, step) = y_range(drawn);
    let y = |v: f64| bottom - (bottom - top) * (v - low) / (high - low);
    // The phases: outages shaded, every boundary a dashed marker, outages numbered.
    let mut outage = 0;
    for mark in &timeline.phases {
        let (x0, x1) = (
            x(mark.start.max(timeline.start)),
            x(mark.end.min(timeline.end)),
        );
        if mark.outage {
            outage += 1;
            let _ = writeln!(
                svg,
                r##"<rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#fbe3e3"/>
<text x="{:.1}" y="{:.1}" font-size="9" fill="#a33">{outage}</text>"##,
                (x1 - x0).max(0.0),
                bottom - top,
                x0 + 2.0,
                top + 9.0
            );
        }
        if mark.start > timeline.start {
            let _ = writeln!(
                svg,
                r##"<line x1="{x0:.1}" x2="{x0:.1}" y1="{top:.1}" y2="{bottom:.1}" stroke="#b0b0b0" stroke-dasharray="3,3"/>"##
            );
        }
    }
    let mut tick = low;
    while tick <= high + step / 2.0 {
        let ty = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" x2="{right:.1}" y1="{ty:.1}" y2="{ty:.1}" stroke="#eee"/>
<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            left - 4.0,
            ty + 4.0,
            escape(&axis_value(tick, unit))
        );
        tick += step;
    }
    let every = if span > 150.0 {
        60.0
    } else if span > 40.0 {
        20.0
    } else {
        5.0
    };
    let mut t = 0.0;
    while t <= span + 1e-6 {
        // The first label starts at the axis, clear of the y axis' lowest label.
        let anchor = if t == 0.0 { "start" } else { "middle" };
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" fill="#555">{t:.0} s</text>"##,
            x(timeline.start + t),
            bottom + 12.0
        );
        t += every;
    }
    let gap = timeline.step.max(1e-3) * 2.5;
    for (i, (_, points)) in drawn.lines.iter().enumerate() {
        for run in runs(points, timeline, gap) {
            let coords: Vec<String> = run
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            let color = COLORS[i % COLORS.len()];
            if coords.len() == 1 {
                let (cx, cy) = (x(run[0].0), y(run[0].1));
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="1.5" fill="{color}"/>"#
                );
            } else {
                let _ = writeln!(
                    svg,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.3" points="{}"/>"#,
                    coords.join(" ")
                );
            }
        }
    }
    draw_legend(svg, drawn, px + 8.0, bottom + 26.0, pw - 16.0);
}

/// The finite points inside the timeline, split where a value is missing or not finite.
fn runs(points: &[(f64, f64)], timeline: &Timeline, gap: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for &(t, v) in points {
        let inside = t >= timeline.start - 1e-6 && t <= timeline.end + 1e-6;
        let continues = current.last().is_none_or(|(last, _)| t - last <= gap);
        if !inside || !v.is_finite() || !continues {
            if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
            if !inside || !v.is_finite() {
                continue;
            }
        }
        current.push((t, v));
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The y axis: from zero (or the lowest value, when negative) to a round number above the
/// highest, with the tick step.
fn y_range(drawn: &Drawn) -> (f64, f64, f64) {
    let values = drawn
        .lines
        .iter()
        .flat_map(|(_, points)| points.iter().map(|(_, v)| *v))
        .filter(|v| v.is_finite());
    let (min, max) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let raw = if max - min > 0.0 {
        (max - min) / 4.0
    } else {
        0.25
    };
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let low = (min / step).floor() * step;
    let high = ((max / step).ceil() * step).max(low + step);
    (low, high, step)
}

/// Legend entries as lines of `(series index, label)` that fit `width`.
fn legend_layout(drawn: &Drawn, width: f64) -> Vec<Vec<(usize, String)>> {
    let mut lines: Vec<Vec<(usize, String)>> = vec![Vec::new()];
    let mut used = 0.0;
    for (i, (label, _)) in drawn.lines.iter().enumerate() {
        let label = truncate(
            if label.is_empty() {
                "(no labels)"
            } else {
                label
            },
            48,
        );
        let need = 16.0 + 6.2 * label.chars().count() as f64;
        if used + need > width && !lines.last().is_none_or(Vec::is_empty) {
            lines.push(Vec::new());
            used = 0.0;
        }
        used += need;
        if let Some(line) = lines.last_mut() {
            line.push((i, label));
        }
    }
    lines
}

fn draw_legend(svg: &mut String, drawn: &Drawn, left: f64, top: f64, width: f64) {
    let lines = legend_layout(drawn, width);
    let shown: usize = lines.iter().take(LEGEND_LINES).map(Vec::len).sum();
    for (row, line) in lines.iter().take(LEGEND_LINES).enumerate() {
        let mut x = left;
        let y = top + 13.0 * row as f64;
        let last_row = row + 1 == LEGEND_LINES.min(lines.len());
        for (n, (i, label)) in line.iter().enumerate() {
            let more = drawn.lines.len() - shown;
            let text = if last_row && n + 1 == line.len() && more > 0 {
                format!("{label}  +{more} more")
            } else {
                label.clone()
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="10" height="3" fill="{}"/>
<text x="{:.1}" y="{y:.1}">{}</text>"#,
                y - 4.0,
                COLORS[i % COLORS.len()],
                x + 13.0,
                escape(&text)
            );
            x += 16.0 + 6.2 * label.chars().count() as f64;
        }
    }
}

/// A value with its unit, as a stat or legend shows it (Grafana's unit ids).
pub fn format_value(value: f64, unit: Option<&str>) -> String {
    match unit {
        Some("s") => seconds(value),
        Some("ms") => seconds(value / 1000.0),
        Some("percentunit") => percent(value * 100.0),
        Some("percent") => percent(value),
        Some("reqps") => format!("{} req/s", si(value)),
        Some("ops") => format!("{} ops/s", si(value)),
        Some("rowsps") => format!("{} rows/s", si(value)),
        _ => si(value),
    }
}

/// A tick label: like [`format_value`] without the per-second suffixes.
fn axis_value(value: f64, unit: Option<&str>) -> String {
    match unit {
        Some("s" | "ms" | "percentunit" | "percent") => format_value(value, unit),
        _ => si(value),
    }
}

fn seconds(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0 s".to_owned()
    } else if magnitude < 1e-3 {
        format!("{} µs", trim(value * 1e6))
    } else if magnitude < 1.0 {
        format!("{} ms", trim(value * 1e3))
    } else if magnitude < 120.0 {
        format!("{} s", trim(value))
    } else if magnitude < 7200.0 {
        format!("{} min", trim(value / 60.0))
    } else if magnitude < 172_800.0 {
        format!("{} h", trim(value / 3600.0))
    } else {
        format!("{} d", trim(value / 86_400.0))
    }
}

fn percent(value: f64) -> String {
    format!("{} %", trim(value))
}

/// With k, M, G above a thousand.
fn si(value: f64) -> String {
    let magnitude = value.abs();
    for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if magnitude >= scale {
            return format!("{}{suffix}", trim(value / scale));
        }
    }
    trim(value)
}

/// At most three significant digits, no trailing zeros.
fn trim(value: f64) -> String {
    let magnitude = value.abs();
    let text = if magnitude >= 100.0 || value == value.round() {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), by the days-from-civil algorithm in reverse.
pub fn utc(unix: f64) -> String {
    let seconds = unix.max(0.0) as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Text safe inside an SVG element or attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
