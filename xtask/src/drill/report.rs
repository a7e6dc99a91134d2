//! The drill's report: the phase table, the verdicts, `docs/src/ops/drill.md` and its chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use super::analysis::{Outcome, percentile, status_label};
use super::stack::postgres_bin;
use super::{CLIENT_ADDRESSES, DrillOptions, PhaseKind, promise};

impl Outcome {
    /// Requests per second and p99 per second of the run, for the chart.
    pub(super) fn per_second(&self) -> Vec<(f64, f64)> {
        let end = self
            .spans
            .last()
            .map_or(0, |s| s.end.as_secs() as usize + 1);
        let mut buckets: Vec<Vec<Duration>> = vec![Vec::new(); end];
        for sample in &self.samples {
            if let Some(bucket) = buckets.get_mut(sample.at.as_secs() as usize) {
                bucket.push(sample.latency);
            }
        }
        buckets
            .into_iter()
            .map(|mut bucket| {
                bucket.sort();
                (bucket.len() as f64, percentile(&bucket, 0.99))
            })
            .collect()
    }

    pub(super) fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| Phase | s | Requests | Status codes | req/s | p50 ms | p99 ms | p99 after 1 s | Cache hits | Dropped or hung | /healthz said |\n");
        out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
        for stats in &self.stats {
            let statuses = stats
                .statuses
                .iter()
                .map(|(status, n)| {
                    let by_kind =
                        stats
                            .failed_by_kind
                            .get(status)
                            .map_or_else(String::new, |kinds| {
                                let kinds: Vec<String> = kinds
                                    .iter()
                                    .map(|(kind, n)| format!("{kind} {n}"))
                                    .collect();
                                format!(" ({})", kinds.join(", "))
                            });
                    format!("{} ×{n}{by_kind}", status_label(*status))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
                stats.name,
                stats.seconds,
                stats.requests,
                statuses,
                stats.rps,
                stats.p50_ms,
                stats.p99_ms,
                stats.settled_p99_ms,
                stats
                    .hit_rate
                    .map_or("–".to_owned(), |r| format!("{:.0} %", r * 100.0)),
                stats.dropped + stats.timed_out,
                stats.health
            );
        }
        out
    }

    pub(super) fn verdicts(&self) -> String {
        let mut out = String::new();
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if self.broken.is_empty() {
            out.push_str("- **Every promise held.**\n");
        } else {
            let _ = writeln!(out, "- **{} promise(s) broken:**", self.broken.len());
            for broken in &self.broken {
                let _ = writeln!(out, "  - {broken}");
            }
        }
        out
    }

    pub(super) fn log_text(&self) -> String {
        let mut out = format!(
            "\nThe edge API logged {} line(s) at warn level or above",
            self.edge_log_lines
        );
        if self.edge_log_top.is_empty() {
            out.push_str(".\n");
            return out;
        }
        out.push_str("; the most frequent (digits shown as #):\n\n");
        for (count, message) in &self.edge_log_top {
            let _ = writeln!(out, "- {count} × `{message}`");
        }
        out
    }

    pub(super) fn summary_text(&self) -> String {
        format!(
            "\n{}\n{}{}{}",
            self.table(),
            self.verdicts(),
            self.log_text(),
            self.dashboard_text()
        )
    }

    /// The dashboard's picture, caption and findings, when `--dashboard` drew it.
    pub(super) fn dashboard_text(&self) -> String {
        self.dashboard
            .as_ref()
            .map(super::dashboard::report)
            .unwrap_or_default()
    }

    pub(super) fn markdown(&self, options: &DrillOptions) -> String {
        use promise::*;
        let mut out = String::from(GUIDE_INTRO);
        let _ = write!(
            out,
            "\n## The promises, as the drill checks them\n\n\
             The thresholds live in one place, `xtask/src/drill.rs` (`mod promise`):\n\n\
             - while one cache node, redis, the search server or the geo source is down: reads and \
             writes get no 5xx, no dropped connection and no hang; searches get 200 or a JSON:API \
             503 with `Retry-After` within {search} s;\n\
             - throughput stays above {floor:.0} % of the steady state, and p99 within \
             max({P99_FLOOR_MS} ms, {P99_FACTOR} × the steady p99), apart from the first {grace} s \
             of each outage;\n\
             - after the cache node returns, the hit rate over one second is back to \
             {resume:.0} % of the steady hit rate within {resume_limit} s;\n\
             - after the search server returns, {recovered:.0} % of searches over one second \
             answer 200 within {search_resume} s;\n\
             - with PostgreSQL down, whatever needs it gets a JSON:API 503 with a p99 under \
             {db} ms (cache hits and searches may still answer 200), and within \
             {recovery} s of its return {recovered:.0} % of reads and writes succeed again, \
             without restarting the API.\n",
            search = SEARCH_HANG.as_secs_f64(),
            floor = THROUGHPUT_FLOOR * 100.0,
            grace = GRACE.as_secs(),
            resume = CACHE_RESUME_FRACTION * 100.0,
            resume_limit = CACHE_RESUME_LIMIT.as_secs_f64(),
            search_resume = SEARCH_RESUME_LIMIT.as_secs_f64(),
            db = DATABASE_DOWN_P99.as_millis(),
            recovery = DATABASE_RECOVERY_LIMIT.as_secs_f64(),
            recovered = RECOVERED_FRACTION * 100.0,
        );
        let _ = write!(
            out,
            "\n## Last run\n\n\
             `cargo xtask drill{}{}` — edge API debug build; PostgreSQL {} of the drill's own; \
             redis rate limits; two memcached nodes; search: {}; a GeoLite2-format City database \
             file replaced half-way through the steady phase. Load: {} keep-alive reading clients \
             (4 in 10 lists with `include=owner`, 5 in 10 single reads, 1 in 10 searches) from \
             {} client addresses in `X-Forwarded-For`, and one writer (a PATCH every {} ms). Machine: {}.\n\n",
            if options.short { " --short" } else { "" },
            if options.concurrency == 8 {
                String::new()
            } else {
                format!(" --concurrency {}", options.concurrency)
            },
            postgres_version(),
            self.engine,
            self.concurrency,
            CLIENT_ADDRESSES,
            self.write_interval.as_millis(),
            self.machine,
        );
        out.push_str("![Throughput and p99 latency per second, outages shaded](drill.svg)\n\n");
        out.push_str(&self.table());
        out.push('\n');
        out.push_str(&self.verdicts());
        out.push_str(&self.log_text());
        out.push_str(&self.dashboard_text());
        out
    }

    pub(super) fn svg(&self) -> String {
        let points = self.per_second();
        let (width, height, left, right, panel) = (960.0, 460.0, 60.0, 20.0, 170.0);
        let seconds = points.len().max(1) as f64;
        let x = |t: f64| left + (width - left - right) * t / seconds;
        let max_rps = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.1;
        let max_p99 = points.iter().map(|p| p.1).fold(1.0, f64::max).max(10.0);
        // p99 on a log scale: outages span orders of magnitude.
        let log_top = max_p99.log10().ceil();
        let top1 = 40.0;
        let top2 = top1 + panel + 50.0;
        let mut svg = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{left}" y="20" font-size="14" font-weight="bold">cargo xtask drill: requests/s and p99 latency per second</text>
"##
        );
        for span in &self.spans {
            let (x0, x1) = (x(span.start.as_secs_f64()), x(span.end.as_secs_f64()));
            let fill = match span.phase.kind {
                PhaseKind::WarmUp => "#eeeeee",
                PhaseKind::Steady => "#ffffff",
                PhaseKind::Down(_) => "#fbe3e3",
                PhaseKind::Restored(_) => "#e6f2e6",
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{x0:.1}" y="{top1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
                x1 - x0,
                top2 + panel - top1
            );
            if let PhaseKind::Down(_) = span.phase.kind {
                let _ = writeln!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" transform="rotate(-90 {:.1} {:.1})" fill="#a33">{}</text>"##,
                    x0 + 12.0,
                    top1 + panel - 4.0,
                    x0 + 12.0,
                    top1 + panel - 4.0,
                    span.phase.name()
                );
            }
        }
        for (top, label) in [(top1, "requests/s"), (top2, "p99 ms (log)")] {
            let _ = writeln!(
                svg,
                r##"<rect x="{left}" y="{top}" width="{:.1}" height="{panel}" fill="none" stroke="#888"/>
<text x="{left}" y="{:.1}">{label}</text>"##,
                width - left - right,
                top - 4.0
            );
        }
        for tick in 0..=4 {
            let value = max_rps * f64::from(tick) / 4.0;
            let y = top1 + panel - panel * f64::from(tick) / 4.0;
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{value:.0}</text>"#,
                left - 4.0,
                y + 4.0
            );
        }
        for decade in 0..=(log_top as i32) {
            let y = top2 + panel - panel * f64::from(decade) / log_top.max(1.0);
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>
<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                left - 4.0,
                y + 4.0,
                10f64.powi(decade),
                width - right
            );
        }
        let rps_line: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(t, p)| {
                format!(
                    "{:.1},{:.1}",
                    x(t as f64 + 0.5),
                    top1 + panel - panel * p.0 / max_rps
                )
            })
            .collect();
        let p99_line: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(t, p)| {
                let v = p.1.max(1.0).log10() / log_top.max(1.0);
                format!("{:.1},{:.1}", x(t as f64 + 0.5), top2 + panel - panel * v)
            })
            .collect();
        let _ = writeln!(
            svg,
            r##"<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="{}"/>
<polyline fill="none" stroke="#c05a00" stroke-width="1.5" points="{}"/>"##,
            rps_line.join(" "),
            p99_line.join(" ")
        );
        let mut t = 0;
        while (t as f64) <= seconds {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t} s</text>"#,
                x(t as f64),
                top2 + panel + 16.0
            );
            t += if seconds > 60.0 { 20 } else { 5 };
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// The edge API's log lines grouped by message (after the level, digits masked), the eight
/// most frequent first.
pub(super) fn log_summary(log: &str) -> Vec<(usize, String)> {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines() {
        let message = ["ERROR ", "WARN "]
            .iter()
            .find_map(|level| line.find(level).map(|at| &line[at..]))
            .unwrap_or(line);
        let masked: String = message
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .filter(|c| *c != '`')
            .take(220)
            .collect();
        *groups.entry(masked).or_insert(0) += 1;
    }
    let mut top: Vec<(usize, String)> = groups.into_iter().map(|(m, n)| (n, m)).collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    top.truncate(8);
    top
}

/// The number of cores and the load average, as the report states them.
pub(super) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{cores} cores, load average {load} at the start (other work shares them)")
}

pub(super) fn postgres_version() -> String {
    postgres_bin()
        .ok()
        .and_then(|bin| {
            Command::new(bin.join("postgres"))
                .arg("--version")
                .output()
                .ok()
        })
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .nth(2)
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}

/// The guide's introduction: what a client sees while each backend is down.
pub(super) const GUIDE_INTRO: &str = "\
# Outage drill

reel exists so that an API keeps answering when a backend fails. `cargo xtask drill` proves
it for the edge API: it starts the API on real backends (its own PostgreSQL, redis for rate
limits, two memcached nodes, a search server, a GeoLite2-format database that is replaced
during the run), drives steady mixed load from many client addresses, takes each backend away
and brings it back, and fails when a promise below is broken. `cargo xtask drill --short` is
the same schedule compressed (part of `.ci/run`); `--write-report` rewrites this page from
the run.

## The promises: what a client sees while a backend is down

This is what the stack promises; the drill checks each point, and the last run below shows
which held on the code it ran.

- **One memcached node**: herd ejects it after consecutive failures and its
  keys go to the other node. Reads and writes answer as usual (`x-cache: miss` more often, for
  the keys that moved); `/healthz` answers 503 `degraded` with the node `ejected`. When the node
  returns it is empty and gets its keys back; hits resume within seconds.
- **redis** (the rate-limit store): the limiter fails open — requests are admitted without a
  count, never refused because of the store — and `/healthz` says `rateLimit` is down. Each
  request waits at most the limiter's store timeout (100 ms) until the limiter's circuit
  breaker skips the store; without the breaker, that wait is on every request (see the last
  run below).
- **The search server**: `/v2/search` answers a JSON:API 503 with `Retry-After` within
  seconds, never hangs; reads are untouched; writes succeed in the database and the
  search index catches up when the server returns. `/healthz` says `search` is down.
- **The geo source** (the database file gone, or the download service failing): the loaded
  database keeps serving, so every request keeps its country; `/healthz` reports the failed
  reload. A new database file is picked up without a restart.
- **PostgreSQL**: every request that needs the database gets a fast JSON:API 503 (reads still
  served from the cache may answer 200), no connection is dropped, and the API recovers by
  itself within seconds of the database's return.

## How the drill runs

- Phases: a warm-up (not a reference), the steady state, then for each backend an outage and
  a recovery phase, PostgreSQL last. A cache node and redis are killed with SIGKILL and
  restarted empty on the same port; the search server is frozen with SIGSTOP (a black hole:
  connections stay open, nothing answers) and resumed with SIGCONT; the geo database file is
  moved away and back; PostgreSQL's whole process group gets SIGKILL and the server restarts
  on the same port and data directory (crash recovery). A phase starts when its action is
  done, so a slow restart counts against the outage before it.
- Load: closed-loop keep-alive clients (each sends its next request when the last one is
  answered), so a request that hangs costs throughput as it would hold a worker or a
  connection in a real client. A request with no answer within 10 s, or whose connection
  closes before the answer, is *dropped or hung*.
- Each phase's figures count the requests sent during it; *p99 after 1 s* leaves out the
  first second of the phase, as the promises do. The cache hit rate is over answers that
  carry `x-cache: hit` or `miss`. `/healthz` is asked twice a second; the table lists what
  it answered and which backends it named down.
- The edge API runs as a debug build (the one the test command already built), so absolute
  latencies are higher than in release; every promise is relative to the same run's steady
  state or a generous absolute bound.
";
