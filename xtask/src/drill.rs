//! `cargo xtask drill`: an outage drill of the whole stack.
//!
//! Starts the edge API (`examples/edge-api`, debug build) on real backends it starts itself —
//! its own PostgreSQL instance (so killing it never touches the system's), redis for rate
//! limits, two memcached nodes, a search server (a real OpenSearch node; `osmem-server` with
//! `--short` or `REEL_SEARCH_ENGINE=osmem`) and a GeoLite2-format City database in a file that
//! is replaced during the run — and drives steady mixed load from many client addresses
//! (`X-Forwarded-For` from loopback, a trusted proxy by default): lists with `include=owner`,
//! single reads, searches, and writes at a fixed rate, over keep-alive connections at a fixed
//! concurrency. On a schedule it takes each backend away and brings it back: one cache node
//! (SIGKILL, restarted on its port), redis (SIGKILL, restarted), the search server (SIGSTOP, a
//! black hole, then SIGCONT), the geo source (the database file disappears, then returns) and
//! PostgreSQL last (SIGKILL of its process group, restarted on its port).
//!
//! Per phase it measures requests, status codes, p50/p99 latency, throughput, the cache hit
//! rate (`x-cache`), what `/healthz` said and dropped connections, checks the promises of the
//! guide (thresholds in [`promise`]) and fails naming each broken one. `--write-report` writes
//! `docs/src/ops/drill.md` and its chart `docs/src/ops/drill.svg`; without it nothing tracked
//! is touched.
//!
//! `--dashboard` (implied by `--write-report`) runs a real Prometheus beside the drill that
//! scrapes the edge API's `/metrics` every second, then draws the Grafana dashboard
//! `docs/grafana/reel.json` from it (`docs/src/ops/dashboard.svg` with `--write-report`) and
//! lists each panel that had no data ([`dashboard`](self::dashboard)).
//!
//! Why a debug build: it is the build the test command already made, so the drill adds seconds
//! rather than a release build of the whole dependency tree to `.ci/run`. Absolute latencies
//! are higher than in release, but every promise is relative to the same run's steady state
//! (or a generous absolute bound), so the verdicts carry over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The promises the drill enforces, in one place (the guide states the same numbers).
pub mod promise {
    use std::time::Duration;

    /// While a cache node, redis, the search server or the geo source is down, throughput stays
    /// above this fraction of the steady state…
    pub const THROUGHPUT_FLOOR: f64 = 0.5;
    /// …and p99 within `max(P99_FLOOR_MS, P99_FACTOR × steady p99)`…
    pub const P99_FLOOR_MS: f64 = 50.0;
    /// …see [`P99_FLOOR_MS`].
    pub const P99_FACTOR: f64 = 5.0;
    /// …apart from this long after the backend went away (or came back).
    pub const GRACE: Duration = Duration::from_secs(1);
    /// A search answer (200, or 503 with `Retry-After`) slower than this is a hang.
    pub const SEARCH_HANG: Duration = Duration::from_secs(2);
    /// After the cache node returns, the hit rate over one second is back to this fraction of
    /// the steady hit rate within [`CACHE_RESUME_LIMIT`].
    pub const CACHE_RESUME_FRACTION: f64 = 0.5;
    /// See [`CACHE_RESUME_FRACTION`].
    pub const CACHE_RESUME_LIMIT: Duration = Duration::from_secs(5);
    /// After the search server returns, one second in which at least [`RECOVERED_FRACTION`]
    /// of searches answer 200 comes within this long (the search breaker's longest cool-down
    /// plus a probe).
    pub const SEARCH_RESUME_LIMIT: Duration = Duration::from_secs(2);
    /// With PostgreSQL down, every request that needs it gets a JSON:API 503 this fast (p99).
    pub const DATABASE_DOWN_P99: Duration = Duration::from_millis(500);
    /// After PostgreSQL returns, one second with at least [`RECOVERED_FRACTION`] of reads and
    /// writes succeeding comes within this long, without a restart of the API.
    pub const DATABASE_RECOVERY_LIMIT: Duration = Duration::from_secs(10);
    /// See [`DATABASE_RECOVERY_LIMIT`].
    pub const RECOVERED_FRACTION: f64 = 0.95;
}

/// The client addresses the load comes from (`X-Forwarded-For`), spread over this many.
const CLIENT_ADDRESSES: u32 = 4096;
/// A request with no answer after this long counts as a hang (status "timeout").
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often `/healthz` is asked.
const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// The edge API's rate limit for the drill: high enough that the load is never denied (the
/// drill measures outages, not quotas), low enough that every request goes through the store.
const RATE_LIMIT: &str = "60000/min burst 6000";
/// Where `--write-report` writes, relative to the workspace root.
const REPORT_PATH: &str = "docs/src/ops/drill.md";
const CHART_PATH: &str = "docs/src/ops/drill.svg";

/// How `cargo xtask drill` runs.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// The compressed schedule for `.ci/run` (and `osmem-server` unless
    /// `REEL_SEARCH_ENGINE=opensearch`).
    pub short: bool,
    /// Write `docs/src/ops/drill.md`, its chart and the dashboard drawing (implies
    /// `dashboard`).
    pub write_report: bool,
    /// Run Prometheus beside the drill and draw `docs/grafana/reel.json` from it; panels
    /// without data are listed.
    pub dashboard: bool,
    /// Concurrent reading clients (each one keep-alive connection); one more client writes.
    pub concurrency: usize,
}

/// The backend a phase takes away or brings back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    CacheNode,
    Redis,
    Search,
    Geo,
    Database,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Self::CacheNode => "one cache node",
            Self::Redis => "redis",
            Self::Search => "search server",
            Self::Geo => "geo source",
            Self::Database => "PostgreSQL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhaseKind {
    /// Connections open, the cache fills; measured but not the reference.
    WarmUp,
    Steady,
    Down(Target),
    Restored(Target),
}

#[derive(Debug, Clone)]
struct Phase {
    kind: PhaseKind,
    seconds: f64,
}

impl Phase {
    fn name(&self) -> String {
        match self.kind {
            PhaseKind::WarmUp => "warm-up".to_owned(),
            PhaseKind::Steady => "steady".to_owned(),
            PhaseKind::Down(target) => format!("{} down", target.label()),
            PhaseKind::Restored(target) => format!("{} back", target.label()),
        }
    }
}

fn schedule(short: bool) -> Vec<Phase> {
    let (warm, steady, down, back, db_down, db_back) = if short {
        (1.5, 3.0, 2.0, 3.0, 2.5, 4.0)
    } else {
        (5.0, 20.0, 15.0, 10.0, 10.0, 15.0)
    };
    let mut phases = vec![
        Phase {
            kind: PhaseKind::WarmUp,
            seconds: warm,
        },
        Phase {
            kind: PhaseKind::Steady,
            seconds: steady,
        },
    ];
    for target in [
        Target::CacheNode,
        Target::Redis,
        Target::Search,
        Target::Geo,
    ] {
        phases.push(Phase {
            kind: PhaseKind::Down(target),
            seconds: down,
        });
        phases.push(Phase {
            kind: PhaseKind::Restored(target),
            seconds: back,
        });
    }
    phases.push(Phase {
        kind: PhaseKind::Down(Target::Database),
        seconds: db_down,
    });
    phases.push(Phase {
        kind: PhaseKind::Restored(Target::Database),
        seconds: db_back,
    });
    phases
}

/// `cargo xtask drill [--short] [--write-report] [--dashboard] [--concurrency N]`.
pub fn run(args: &clap::ArgMatches) -> Result<()> {
    let short = args.get_flag("short");
    let write_report = args.get_flag("write-report");
    let concurrency = match crate::cli::value(args, "concurrency") {
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=256).contains(n))
            .with_context(|| format!("--concurrency `{n}`: a number from 1 to 256"))?,
        None => 8,
    };
    let options = DrillOptions {
        short,
        write_report,
        dashboard: write_report || args.get_flag("dashboard"),
        concurrency,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    let outcome = runtime.block_on(drill(&options, stop))?;
    print!("{}", outcome.summary_text());
    eprintln!(
        "drill finished in {:.1} s (setup included)",
        started.elapsed().as_secs_f64()
    );
    if options.write_report {
        let root = crate::workspace::project_root()?;
        std::fs::write(root.join(REPORT_PATH), outcome.markdown(&options))
            .with_context(|| format!("writing {REPORT_PATH}"))?;
        std::fs::write(root.join(CHART_PATH), outcome.svg())
            .with_context(|| format!("writing {CHART_PATH}"))?;
        eprintln!("wrote {REPORT_PATH} and {CHART_PATH}");
        if let Some(rendered) = &outcome.dashboard {
            std::fs::write(root.join(dashboard::DASHBOARD_SVG), &rendered.svg)
                .with_context(|| format!("writing {}", dashboard::DASHBOARD_SVG))?;
            eprintln!("wrote {}", dashboard::DASHBOARD_SVG);
        }
    } else if let Some(rendered) = &outcome.dashboard {
        // Nothing tracked is touched without --write-report; the drawing goes to the tools dir.
        let root = crate::workspace::project_root()?;
        let path = crate::workspace::tools_dir(&root).join("drill-dashboard.svg");
        std::fs::write(&path, &rendered.svg)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if outcome.broken.is_empty() {
        eprintln!("every promise held");
        Ok(())
    } else {
        for broken in &outcome.broken {
            eprintln!("BROKEN: {broken}");
        }
        bail!("{} promise(s) broken (listed above)", outcome.broken.len())
    }
}

mod analysis;
mod dashboard;
mod load;
mod report;
mod stack;
#[cfg(test)]
mod tests;

use analysis::Outcome;
use load::{health_poller, reader, writer};
use report::{log_summary, machine};
use stack::{Stack, write_geo_database};

/// One phase as it ran: when it started and ended, since the load started.
#[derive(Debug, Clone)]
struct PhaseSpan {
    phase: Phase,
    start: Duration,
    end: Duration,
}

async fn drill(options: &DrillOptions, interrupted: Arc<AtomicBool>) -> Result<Outcome> {
    let short = options.short;
    // Before any server starts: the first use builds Prometheus, which takes minutes.
    let prometheus_bin = if options.dashboard {
        Some(tokio::task::block_in_place(dashboard::install)?)
    } else {
        None
    };
    let mut stack = tokio::task::block_in_place(|| Stack::start(short))?;
    let prometheus = match &prometheus_bin {
        Some(bin) => Some(tokio::task::block_in_place(|| {
            dashboard::start(bin, stack.metrics)
        })?),
        None => None,
    };
    let addr = stack.api;
    let engine = stack.search.engine();
    eprintln!(
        "edge API on http://{addr}; {} readers + 1 writer; search: {engine}",
        options.concurrency
    );
    let machine = machine();
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let epoch_unix = crate::prometheus::unix_now();
    let readers: Vec<_> = (0..options.concurrency)
        .map(|i| tokio::spawn(reader(addr, i, epoch, stop.clone())))
        .collect();
    let write_interval = Duration::from_millis(if short { 250 } else { 500 });
    let writer = tokio::spawn(writer(addr, write_interval, epoch, stop.clone()));
    let health = tokio::spawn(health_poller(addr, epoch, stop.clone()));
    let mut spans: Vec<PhaseSpan> = Vec::new();
    let mut geo_replaced = false;
    let mut failure = None;
    for phase in schedule(short) {
        if interrupted.load(Ordering::SeqCst) {
            failure = Some(anyhow::anyhow!("interrupted"));
            break;
        }
        // A backend taken away is away from the moment the action begins (requests caught by
        // the kill belong to the outage, not to the phase before); one brought back is back
        // when the action is done (a restart that takes a while still belongs to the outage).
        let before_action = epoch.elapsed();
        let action = match phase.kind {
            PhaseKind::WarmUp | PhaseKind::Steady => Ok(()),
            PhaseKind::Down(target) => tokio::task::block_in_place(|| stack.act(target, true)),
            PhaseKind::Restored(target) => tokio::task::block_in_place(|| stack.act(target, false)),
        };
        if let Err(error) = action {
            failure = Some(error);
            break;
        }
        let start = match phase.kind {
            PhaseKind::Down(_) => before_action,
            _ => epoch.elapsed(),
        };
        if let Some(previous) = spans.last_mut() {
            previous.end = start;
        }
        eprintln!("[{:6.1} s] {}", start.as_secs_f64(), phase.name());
        let until = epoch + start + Duration::from_secs_f64(phase.seconds);
        while Instant::now() < until && !interrupted.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A new database release half-way through the steady state: the file source
            // reloads it while the load runs.
            if phase.kind == PhaseKind::Steady
                && !geo_replaced
                && epoch.elapsed() > start + Duration::from_secs_f64(phase.seconds / 2.0)
            {
                geo_replaced = true;
                let path = stack.geo_file.clone();
                tokio::task::block_in_place(|| write_geo_database(&path, 2))?;
            }
        }
        spans.push(PhaseSpan {
            phase,
            start,
            end: epoch.elapsed(),
        });
    }
    stop.store(true, Ordering::SeqCst);
    let load_end = epoch.elapsed();
    let mut samples = Vec::new();
    for reader in readers {
        samples.extend(reader.await.context("a load client panicked")?);
    }
    samples.extend(writer.await.context("the writing client panicked")?);
    let health = health.await.context("the health poller panicked")?;
    let edge_log = std::fs::read_to_string(&stack.edge_log).unwrap_or_default();
    if let Some(server) = &prometheus {
        // The last second of load is in Prometheus before the edge API stops.
        let last = epoch_unix + load_end.as_secs_f64();
        if let Err(error) = tokio::task::block_in_place(|| {
            server.wait_for_scrape_after(last, Duration::from_secs(10))
        }) {
            eprintln!("warning: {error:#}");
        }
    }
    eprintln!(
        "[{:6.1} s] load stopped ({:.1} s to finish the requests in flight); stopping the stack",
        epoch.elapsed().as_secs_f64(),
        (epoch.elapsed() - load_end).as_secs_f64()
    );
    tokio::task::block_in_place(|| drop(stack));
    eprintln!("[{:6.1} s] stack stopped", epoch.elapsed().as_secs_f64());
    if let Some(error) = failure {
        return Err(error.context("the drill could not run its schedule"));
    }
    let dashboard = match &prometheus {
        Some(server) => Some(tokio::task::block_in_place(|| {
            dashboard::render(server, epoch_unix, &spans, load_end)
        })?),
        None => None,
    };
    drop(prometheus);
    samples.sort_by_key(|sample| sample.at);
    let mut outcome = Outcome {
        samples,
        health,
        spans,
        engine,
        concurrency: options.concurrency,
        write_interval,
        edge_log_lines: edge_log.lines().count(),
        edge_log_top: log_summary(&edge_log),
        machine,
        stats: Vec::new(),
        broken: Vec::new(),
        notes: Vec::new(),
        dashboard,
    };
    outcome.evaluate();
    Ok(outcome)
}
