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
//! Why a debug build: it is the build the test command already made, so the drill adds seconds
//! rather than a release build of the whole dependency tree to `.ci/run`. Absolute latencies
//! are higher than in release, but every promise is relative to the same run's steady state
//! (or a generous absolute bound), so the verdicts carry over.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reel_testkit::{Memcached, OpenSearch, Redis, Search, free_port, wait_for_port};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

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
    /// Write `docs/src/ops/drill.md` and its chart.
    pub write_report: bool,
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

/// `cargo xtask drill [--short] [--write-report] [--concurrency N]`.
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

mod stack;
use stack::{Stack, postgres_bin, write_geo_database};

// ---------------------------------------------------------------------------------------------
// Load

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    List,
    Read,
    Search,
    Write,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::List => "list+include",
            Self::Read => "read",
            Self::Search => "search",
            Self::Write => "write",
        }
    }
}

/// Status codes the drill uses for what is not an HTTP answer.
const DROPPED: u16 = 0;
const TIMED_OUT: u16 = 1;

/// `x-cache` values (0: no header).
const CACHE_HIT: u8 = 1;
const CACHE_MISS: u8 = 2;
const CACHE_OTHER: u8 = 3;

/// One request's outcome.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// When it was answered (or given up), since the load started: a request belongs to the
    /// phase in which its client saw the outcome, so one caught by a kill counts in the outage.
    at: Duration,
    latency: Duration,
    /// HTTP status, or [`DROPPED`] / [`TIMED_OUT`].
    status: u16,
    kind: Kind,
    cache: u8,
    retry_after: bool,
    json_api: bool,
}

#[derive(Debug, Clone, Default)]
struct Answer {
    status: u16,
    cache: u8,
    retry_after: bool,
    json_api: bool,
    close: bool,
    body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection (content-length and chunked bodies).
#[derive(Debug)]
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    async fn send(&mut self, request: &[u8]) -> std::io::Result<Answer> {
        self.stream.get_mut().write_all(request).await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the status line",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut answer = Answer {
            status,
            ..Answer::default()
        };
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed in the headers",
                ));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => answer.close = value.eq_ignore_ascii_case("close"),
                "retry-after" => answer.retry_after = true,
                "content-type" => answer.json_api = value.starts_with("application/vnd.api+json"),
                "x-cache" => {
                    answer.cache = match value {
                        "hit" => CACHE_HIT,
                        "miss" => CACHE_MISS,
                        _ => CACHE_OTHER,
                    }
                }
                _ => {}
            }
        }
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                chunk.truncate(size);
                answer.body.extend_from_slice(&chunk);
            }
        } else if let Some(length) = length {
            answer.body = vec![0; length];
            self.stream.read_exact(&mut answer.body).await?;
        } else {
            self.stream.read_to_end(&mut answer.body).await?;
            answer.close = true;
        }
        Ok(answer)
    }
}

/// Sends one request on `connection` (opening it first when needed) within
/// [`REQUEST_TIMEOUT`]; returns the status (or [`DROPPED`] / [`TIMED_OUT`]) and the answer.
async fn exchange(addr: SocketAddr, connection: &mut Option<Connection>, request: &[u8]) -> Answer {
    let attempt = async {
        if connection.is_none() {
            *connection = Some(Connection::open(addr).await?);
        }
        match connection {
            Some(open) => open.send(request).await,
            None => Err(std::io::Error::other("no connection")),
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
        Ok(Ok(answer)) => {
            if answer.close {
                *connection = None;
            }
            answer
        }
        Ok(Err(_)) => {
            *connection = None;
            Answer {
                status: DROPPED,
                ..Answer::default()
            }
        }
        Err(_) => {
            *connection = None;
            Answer {
                status: TIMED_OUT,
                ..Answer::default()
            }
        }
    }
}

fn client_address(n: u32) -> String {
    let n = n % CLIENT_ADDRESSES;
    // 81.2.69.x are in the geo database (a country), the rest are not: both paths run.
    if n.is_multiple_of(16) {
        format!("81.2.69.{}", 160 + n % 32)
    } else {
        format!("10.{}.{}.{}", 1 + n / 65536 % 200, n / 256 % 256, n % 256)
    }
}

fn get_request(addr: SocketAddr, path: &str, client: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/vnd.api+json\r\nX-Forwarded-For: {client}\r\n\r\n"
    )
    .into_bytes()
}

/// A reading client: lists with `include=owner`, single reads and searches.
async fn reader(
    addr: SocketAddr,
    index: usize,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(1 << 16);
    let mut connection = None;
    let mut n: u32 = index as u32 * 7919;
    while !stop.load(Ordering::Relaxed) {
        n = n.wrapping_add(1);
        let (kind, path) = match n % 10 {
            0..=3 => (Kind::List, "/v2/assets?include=owner".to_owned()),
            4..=8 => (Kind::Read, format!("/v2/assets/{}", 1 + n % 8)),
            _ => (Kind::Search, "/v2/search?q=beach".to_owned()),
        };
        let request = get_request(addr, &path, &client_address(n));
        let sent = Instant::now();
        let answer = exchange(addr, &mut connection, &request).await;
        samples.push(Sample {
            at: sent.elapsed() + (sent - epoch),
            latency: sent.elapsed(),
            status: answer.status,
            kind,
            cache: answer.cache,
            retry_after: answer.retry_after,
            json_api: answer.json_api,
        });
        if answer.status == DROPPED {
            // Do not spin while nothing listens.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    samples
}

/// The writing client: a PATCH of an asset's title every `interval`.
async fn writer(
    addr: SocketAddr,
    interval: Duration,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut connection = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        n = n.wrapping_add(1);
        let id = 1 + n % 8;
        let body = format!(
            r#"{{"data":{{"type":"assets","id":"{id}","attributes":{{"title":"Drill edit {n}"}}}}}}"#
        );
        let request = format!(
            "PATCH /v2/assets/{id} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/vnd.api+json\r\nContent-Type: application/vnd.api+json\r\nX-Forwarded-For: {}\r\nContent-Length: {}\r\n\r\n{body}",
            client_address(n * 31),
            body.len()
        );
        let sent = Instant::now();
        let answer = exchange(addr, &mut connection, request.as_bytes()).await;
        samples.push(Sample {
            at: sent.elapsed() + (sent - epoch),
            latency: sent.elapsed(),
            status: answer.status,
            kind: Kind::Write,
            cache: answer.cache,
            retry_after: answer.retry_after,
            json_api: answer.json_api,
        });
    }
    samples
}

/// One `/healthz` answer.
#[derive(Debug, Clone)]
struct Health {
    at: Duration,
    status: u16,
    /// The backends whose `ok` was false, or what went wrong asking.
    down: Vec<String>,
    geo_reloads: Option<u64>,
}

async fn health_poller(addr: SocketAddr, epoch: Instant, stop: Arc<AtomicBool>) -> Vec<Health> {
    let mut seen = Vec::new();
    let mut connection = None;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    while !stop.load(Ordering::Relaxed) {
        let at = epoch.elapsed();
        let answer = exchange(addr, &mut connection, &request).await;
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let mut down = Vec::new();
        if let Some(backends) = body["backends"].as_object() {
            for (name, report) in backends {
                if report["ok"] == false {
                    down.push(name.clone());
                }
            }
        } else if answer.status <= TIMED_OUT {
            down.push(if answer.status == DROPPED {
                "no answer".to_owned()
            } else {
                "timed out".to_owned()
            });
        }
        seen.push(Health {
            at,
            status: answer.status,
            down,
            geo_reloads: body["backends"]["geoip"]["reloads"].as_u64(),
        });
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
    seen
}

#[derive(Debug, Clone)]
struct PhaseSpan {
    phase: Phase,
    start: Duration,
    end: Duration,
}

async fn drill(options: &DrillOptions, interrupted: Arc<AtomicBool>) -> Result<Outcome> {
    let short = options.short;
    let mut stack = tokio::task::block_in_place(|| Stack::start(short))?;
    let addr = stack.api;
    let engine = stack.search.engine();
    eprintln!(
        "edge API on http://{addr}; {} readers + 1 writer; search: {engine}",
        options.concurrency
    );
    let machine = machine();
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
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
    };
    outcome.evaluate();
    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// Analysis

/// The figures of one phase.
#[derive(Debug, Clone, Default)]
struct PhaseStats {
    name: String,
    seconds: f64,
    requests: usize,
    statuses: BTreeMap<u16, usize>,
    p50_ms: f64,
    p99_ms: f64,
    /// p99 and throughput without the first [`promise::GRACE`].
    settled_p99_ms: f64,
    settled_rps: f64,
    rps: f64,
    hit_rate: Option<f64>,
    dropped: usize,
    timed_out: usize,
    health: String,
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn latencies<'a>(samples: impl Iterator<Item = &'a Sample>) -> Vec<Duration> {
    let mut all: Vec<Duration> = samples.map(|s| s.latency).collect();
    all.sort();
    all
}

fn hit_rate<'a>(samples: impl Iterator<Item = &'a Sample>) -> Option<f64> {
    let (mut hits, mut misses) = (0usize, 0usize);
    for sample in samples {
        match sample.cache {
            CACHE_HIT => hits += 1,
            CACHE_MISS => misses += 1,
            _ => {}
        }
    }
    (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
}

fn status_label(status: u16) -> String {
    match status {
        DROPPED => "dropped".to_owned(),
        TIMED_OUT => "timeout".to_owned(),
        other => other.to_string(),
    }
}

/// What the drill found.
#[derive(Debug)]
struct Outcome {
    samples: Vec<Sample>,
    health: Vec<Health>,
    spans: Vec<PhaseSpan>,
    engine: &'static str,
    concurrency: usize,
    write_interval: Duration,
    edge_log_lines: usize,
    /// The edge API's warnings and errors, grouped (digits masked), most frequent first.
    edge_log_top: Vec<(usize, String)>,
    /// Cores and load average when the load started: the figures depend on them.
    machine: String,
    stats: Vec<PhaseStats>,
    broken: Vec<String>,
    notes: Vec<String>,
}

impl Outcome {
    fn in_span(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Sample> + '_ {
        self.samples
            .iter()
            .filter(move |s| s.at >= from && s.at < to)
    }

    fn evaluate(&mut self) {
        use promise::*;
        let spans = self.spans.clone();
        for span in &spans {
            let all: Vec<&Sample> = self.in_span(span.start, span.end).collect();
            let settled_from = (span.start + GRACE).min(span.end);
            // Settled: sent after the grace period (a request sent as the backend went away
            // and answered after its timeout belongs to the first second).
            let settled: Vec<&Sample> = all
                .iter()
                .copied()
                .filter(|s| s.at.saturating_sub(s.latency) >= settled_from)
                .collect();
            let mut statuses = BTreeMap::new();
            for sample in &all {
                *statuses.entry(sample.status).or_insert(0) += 1;
            }
            let sorted = latencies(all.iter().copied());
            let settled_sorted = latencies(settled.iter().copied());
            let seconds = (span.end - span.start).as_secs_f64();
            let settled_seconds = (span.end - settled_from).as_secs_f64().max(1e-3);
            let mut health: BTreeMap<String, usize> = BTreeMap::new();
            for answer in self
                .health
                .iter()
                .filter(|h| h.at >= span.start && h.at < span.end)
            {
                let said = if answer.down.is_empty() {
                    status_label(answer.status)
                } else {
                    format!(
                        "{} ({})",
                        status_label(answer.status),
                        answer.down.join(", ")
                    )
                };
                *health.entry(said).or_insert(0) += 1;
            }
            self.stats.push(PhaseStats {
                name: span.phase.name(),
                seconds,
                requests: all.len(),
                dropped: statuses.get(&DROPPED).copied().unwrap_or(0),
                timed_out: statuses.get(&TIMED_OUT).copied().unwrap_or(0),
                statuses,
                p50_ms: percentile(&sorted, 0.50),
                p99_ms: percentile(&sorted, 0.99),
                settled_p99_ms: percentile(&settled_sorted, 0.99),
                settled_rps: settled.len() as f64 / settled_seconds,
                rps: all.len() as f64 / seconds.max(1e-3),
                hit_rate: hit_rate(all.iter().copied()),
                health: health
                    .iter()
                    .map(|(said, n)| format!("{said} ×{n}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        let Some(steady) = spans
            .iter()
            .position(|span| span.phase.kind == PhaseKind::Steady)
            .map(|index| self.stats[index].clone())
        else {
            self.broken.push("the steady phase did not run".to_owned());
            return;
        };
        if steady.requests == 0 {
            self.broken
                .push("steady state: no request was answered".to_owned());
            return;
        }
        for (index, span) in spans.iter().enumerate() {
            let stats = self.stats[index].clone();
            let name = stats.name.clone();
            let samples: Vec<Sample> = self.in_span(span.start, span.end).copied().collect();
            match span.phase.kind {
                PhaseKind::Down(Target::Database) => self.check_database_down(&name, &samples),
                PhaseKind::Restored(Target::Database) => {
                    self.check_database_back(&name, span, &samples)
                }
                PhaseKind::WarmUp => {}
                kind => {
                    self.check_available(&name, &samples);
                    if kind == PhaseKind::Steady {
                        continue;
                    }
                    let floor = THROUGHPUT_FLOOR * steady.settled_rps;
                    if stats.settled_rps < floor {
                        self.broken.push(format!(
                            "{name}: throughput {:.0} req/s is below {:.0} % of the steady {:.0} req/s",
                            stats.settled_rps,
                            THROUGHPUT_FLOOR * 100.0,
                            steady.settled_rps
                        ));
                    }
                    let limit = P99_FLOOR_MS.max(P99_FACTOR * steady.settled_p99_ms);
                    if stats.settled_p99_ms > limit {
                        self.broken.push(format!(
                            "{name}: p99 {:.1} ms (after the first {} s) is above max({P99_FLOOR_MS} ms, {P99_FACTOR} × steady {:.1} ms) = {limit:.1} ms",
                            stats.settled_p99_ms,
                            GRACE.as_secs(),
                            steady.settled_p99_ms
                        ));
                    }
                    if kind == PhaseKind::Restored(Target::CacheNode) {
                        self.check_cache_resume(&name, span, steady.hit_rate);
                    }
                    if kind == PhaseKind::Restored(Target::Search) {
                        self.check_search_resume(&name, span);
                    }
                }
            }
        }
        let reloads: Vec<u64> = self.health.iter().filter_map(|h| h.geo_reloads).collect();
        if let (Some(first), Some(last)) = (reloads.first(), reloads.last()) {
            self.notes.push(format!(
                "geo database reloads reported by /healthz: {first} at the start, {last} at the end"
            ));
        }
    }

    /// Reads and writes: no 5xx, no dropped connection, no hang; searches: 200 or a JSON:API
    /// 503 with `Retry-After`, never a hang.
    fn check_available(&mut self, name: &str, samples: &[Sample]) {
        let mut failures: BTreeMap<(Kind, String), usize> = BTreeMap::new();
        for sample in samples {
            let bad = match sample.kind {
                Kind::Search => match sample.status {
                    200 => sample.latency > promise::SEARCH_HANG,
                    503 => {
                        !sample.retry_after
                            || !sample.json_api
                            || sample.latency > promise::SEARCH_HANG
                    }
                    _ => true,
                },
                _ => sample.status <= TIMED_OUT || sample.status >= 500,
            };
            if bad {
                let what = if sample.kind == Kind::Search
                    && sample.latency > promise::SEARCH_HANG
                    && sample.status > TIMED_OUT
                {
                    format!("{} after > {:?}", sample.status, promise::SEARCH_HANG)
                } else if sample.status == 503 && sample.kind == Kind::Search {
                    "503 without Retry-After or JSON:API body".to_owned()
                } else {
                    status_label(sample.status)
                };
                *failures.entry((sample.kind, what)).or_insert(0) += 1;
            }
        }
        for ((kind, what), count) in failures {
            self.broken.push(format!(
                "{name}: {count} {} request(s) got {what}",
                kind.label()
            ));
        }
    }

    /// PostgreSQL down: whatever needs the database gets a fast JSON:API 503 (cache hits may
    /// still answer 200); nothing is dropped or hangs. Searches do not need the database and
    /// keep the search promise. A 200 is a right answer whether it came from the cache or
    /// from a database connection that still finished its work (seen in a few requests around
    /// the kill): the promise is that nothing fails slowly, not that nothing succeeds.
    fn check_database_down(&mut self, name: &str, samples: &[Sample]) {
        let mut wrong: BTreeMap<String, usize> = BTreeMap::new();
        let mut latencies = Vec::new();
        let searches: Vec<Sample> = samples
            .iter()
            .filter(|s| s.kind == Kind::Search)
            .copied()
            .collect();
        self.check_available(name, &searches);
        for sample in samples.iter().filter(|s| s.kind != Kind::Search) {
            let ok = match sample.status {
                503 => sample.json_api,
                200 => true,
                _ => false,
            };
            if !ok {
                let cache = match sample.cache {
                    CACHE_HIT => " (x-cache: hit)",
                    CACHE_MISS => " (x-cache: miss)",
                    CACHE_OTHER => " (x-cache: other)",
                    _ => "",
                };
                *wrong
                    .entry(format!(
                        "{} {}{cache}",
                        sample.kind.label(),
                        status_label(sample.status)
                    ))
                    .or_insert(0) += 1;
            }
            latencies.push(sample.latency);
        }
        for (what, count) in wrong {
            self.broken.push(format!(
                "{name}: {count} × {what} (expected a JSON:API 503 or a 200)"
            ));
        }
        latencies.sort();
        let p99 = percentile(&latencies, 0.99);
        let limit = promise::DATABASE_DOWN_P99.as_secs_f64() * 1000.0;
        if p99 > limit {
            self.broken.push(format!(
                "{name}: not fast: p99 of reads and writes {p99:.0} ms > {limit:.0} ms"
            ));
        }
    }

    /// PostgreSQL back: within the limit, a second where reads and writes succeed again.
    fn check_database_back(&mut self, name: &str, span: &PhaseSpan, samples: &[Sample]) {
        match self.first_good_second(span, |window| {
            let relevant: Vec<&Sample> = window.iter().filter(|s| s.kind != Kind::Search).collect();
            let good = relevant
                .iter()
                .filter(|s| (200..300).contains(&s.status))
                .count();
            !relevant.is_empty()
                && good as f64 >= promise::RECOVERED_FRACTION * relevant.len() as f64
        }) {
            Some(after) => {
                self.notes.push(format!(
                    "{name}: recovered {:.1} s after PostgreSQL returned",
                    after.as_secs_f64()
                ));
                if after > promise::DATABASE_RECOVERY_LIMIT {
                    self.broken.push(format!(
                        "{name}: recovery took {:.1} s (> {:?})",
                        after.as_secs_f64(),
                        promise::DATABASE_RECOVERY_LIMIT
                    ));
                }
            }
            None => self.broken.push(format!(
                "{name}: the API did not recover by itself within the phase ({} requests)",
                samples.len()
            )),
        }
        self.check_available_after_grace(name, span);
    }

    /// After the database recovered, the usual availability promise.
    fn check_available_after_grace(&mut self, name: &str, span: &PhaseSpan) {
        let from = span.start + promise::DATABASE_RECOVERY_LIMIT;
        if from >= span.end {
            return;
        }
        let samples: Vec<Sample> = self.in_span(from, span.end).copied().collect();
        self.check_available(&format!("{name} (after recovery)"), &samples);
    }

    /// After the search server returns, searches answer 200 again.
    fn check_search_resume(&mut self, name: &str, span: &PhaseSpan) {
        match self.first_good_second(span, |window| {
            let searches = window.iter().filter(|s| s.kind == Kind::Search);
            let (all, good) = searches.fold((0usize, 0usize), |(all, good), s| {
                (all + 1, good + usize::from(s.status == 200))
            });
            all > 0 && good as f64 >= promise::RECOVERED_FRACTION * all as f64
        }) {
            Some(after) => {
                self.notes.push(format!(
                    "{name}: searches answer 200 again {:.1} s after the server returned",
                    after.as_secs_f64()
                ));
                if after > promise::SEARCH_RESUME_LIMIT {
                    self.broken.push(format!(
                        "{name}: searches took {:.1} s to answer 200 again (> {:?})",
                        after.as_secs_f64(),
                        promise::SEARCH_RESUME_LIMIT
                    ));
                }
            }
            None => self.broken.push(format!(
                "{name}: searches did not answer 200 again within the phase"
            )),
        }
    }

    /// After the cache node returns, the hit rate comes back.
    fn check_cache_resume(&mut self, name: &str, span: &PhaseSpan, steady: Option<f64>) {
        let Some(steady) = steady else {
            self.broken
                .push("steady state: no cache hit or miss was reported (x-cache)".to_owned());
            return;
        };
        let want = promise::CACHE_RESUME_FRACTION * steady;
        match self.first_good_second(span, |window| {
            hit_rate(window.iter()).is_some_and(|rate| rate >= want)
        }) {
            Some(after) => {
                self.notes.push(format!(
                    "{name}: cache hits back to {:.0} % of steady {:.1} s after the node returned",
                    promise::CACHE_RESUME_FRACTION * 100.0,
                    after.as_secs_f64()
                ));
                if after > promise::CACHE_RESUME_LIMIT {
                    self.broken.push(format!(
                        "{name}: cache hits took {:.1} s to resume (> {:?})",
                        after.as_secs_f64(),
                        promise::CACHE_RESUME_LIMIT
                    ));
                }
            }
            None => self.broken.push(format!(
                "{name}: the cache hit rate never came back to {:.0} % of steady ({:.0} %)",
                promise::CACHE_RESUME_FRACTION * 100.0,
                steady * 100.0
            )),
        }
    }

    /// The start of the first one-second window (sliding by 100 ms) from the phase's start
    /// that satisfies `good`, relative to the phase's start.
    fn first_good_second(
        &self,
        span: &PhaseSpan,
        good: impl Fn(&[Sample]) -> bool,
    ) -> Option<Duration> {
        let mut offset = Duration::ZERO;
        while span.start + offset + Duration::from_secs(1) <= span.end {
            let from = span.start + offset;
            let window: Vec<Sample> = self
                .in_span(from, from + Duration::from_secs(1))
                .copied()
                .collect();
            if good(&window) {
                return Some(offset);
            }
            offset += Duration::from_millis(100);
        }
        None
    }

    /// Requests per second and p99 per second of the run, for the chart.
    fn per_second(&self) -> Vec<(f64, f64)> {
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

    fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| Phase | s | Requests | Status codes | req/s | p50 ms | p99 ms | p99 after 1 s | Cache hits | Dropped or hung | /healthz said |\n");
        out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
        for stats in &self.stats {
            let statuses = stats
                .statuses
                .iter()
                .map(|(status, n)| format!("{} ×{n}", status_label(*status)))
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

    fn verdicts(&self) -> String {
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

    fn log_text(&self) -> String {
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

    fn summary_text(&self) -> String {
        format!("\n{}\n{}{}", self.table(), self.verdicts(), self.log_text())
    }

    fn markdown(&self, options: &DrillOptions) -> String {
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
        out
    }

    fn svg(&self) -> String {
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
fn log_summary(log: &str) -> Vec<(usize, String)> {
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
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{cores} cores, load average {load} at the start (other work shares them)")
}

fn postgres_version() -> String {
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
const GUIDE_INTRO: &str = "\
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, latency_ms: u64, status: u16, kind: Kind, cache: u8) -> Sample {
        Sample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(latency_ms),
            status,
            kind,
            cache,
            retry_after: false,
            json_api: true,
        }
    }

    fn span(kind: PhaseKind, from_s: u64, to_s: u64) -> PhaseSpan {
        PhaseSpan {
            phase: Phase {
                kind,
                seconds: (to_s - from_s) as f64,
            },
            start: Duration::from_secs(from_s),
            end: Duration::from_secs(to_s),
        }
    }

    /// Steady load of 100 req/s with 5 ms answers and a 90 % hit rate, from `from_s` to `to_s`.
    fn steady_load(samples: &mut Vec<Sample>, from_s: u64, to_s: u64) {
        for at in (from_s * 1000..to_s * 1000).step_by(10) {
            let cache = if at % 100 == 0 { CACHE_MISS } else { CACHE_HIT };
            samples.push(sample(at, 5, 200, Kind::Read, cache));
        }
    }

    fn outcome(samples: Vec<Sample>, spans: Vec<PhaseSpan>) -> Outcome {
        let mut outcome = Outcome {
            samples,
            health: Vec::new(),
            spans,
            engine: "test",
            concurrency: 1,
            write_interval: Duration::from_secs(1),
            edge_log_lines: 0,
            edge_log_top: Vec::new(),
            machine: String::new(),
            stats: Vec::new(),
            broken: Vec::new(),
            notes: Vec::new(),
        };
        outcome.evaluate();
        outcome
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }

    #[test]
    fn an_outage_that_costs_nothing_keeps_every_promise() {
        let mut samples = Vec::new();
        steady_load(&mut samples, 0, 20);
        let result = outcome(
            samples,
            vec![
                span(PhaseKind::Steady, 0, 10),
                span(PhaseKind::Down(Target::Redis), 10, 15),
                span(PhaseKind::Restored(Target::Redis), 15, 20),
            ],
        );
        assert!(result.broken.is_empty(), "{:?}", result.broken);
        assert_eq!(result.stats[0].requests, 1000);
    }

    #[test]
    fn slow_answers_5xx_and_hanging_searches_are_reported() {
        let mut samples = Vec::new();
        steady_load(&mut samples, 0, 10);
        // redis down: every request waits 100 ms (10 req/s), one read is a 500 and one
        // search hangs for 3 s.
        for at in (10_000..15_000).step_by(100) {
            samples.push(sample(at, 100, 200, Kind::Read, CACHE_HIT));
        }
        samples.push(sample(12_000, 5, 500, Kind::Read, CACHE_OTHER));
        samples.push(sample(12_500, 3000, 200, Kind::Search, CACHE_OTHER));
        samples.sort_by_key(|s| s.at);
        let result = outcome(
            samples,
            vec![
                span(PhaseKind::Steady, 0, 10),
                span(PhaseKind::Down(Target::Redis), 10, 15),
            ],
        );
        let broken = result.broken.join("\n");
        assert!(broken.contains("throughput"), "{broken}");
        assert!(broken.contains("p99"), "{broken}");
        assert!(broken.contains("1 read request(s) got 500"), "{broken}");
        assert!(
            broken.contains("1 search request(s) got 200 after"),
            "{broken}"
        );
    }

    #[test]
    fn with_the_database_down_only_fast_503s_and_answers_pass() {
        let mut samples = Vec::new();
        steady_load(&mut samples, 0, 10);
        for at in (10_000..13_000).step_by(10) {
            samples.push(sample(at, 2, 503, Kind::Read, 0));
        }
        samples.push(sample(11_000, 3, 500, Kind::Write, 0));
        samples.push(sample(11_500, 4, 200, Kind::Write, 0));
        for at in (13_000..16_000).step_by(10) {
            samples.push(sample(at, 5, 200, Kind::Read, CACHE_MISS));
        }
        samples.sort_by_key(|s| s.at);
        let result = outcome(
            samples,
            vec![
                span(PhaseKind::Steady, 0, 10),
                span(PhaseKind::Down(Target::Database), 10, 13),
                span(PhaseKind::Restored(Target::Database), 13, 16),
            ],
        );
        let broken = result.broken.join("\n");
        assert!(broken.contains("1 × write 500"), "{broken}");
        assert_eq!(result.broken.len(), 1, "{broken}");
        assert!(
            result.notes.iter().any(|n| n.contains("recovered 0.0 s")),
            "{:?}",
            result.notes
        );
    }

    #[test]
    fn searches_must_answer_again_soon_after_the_server_returns() {
        let run = |answers_from_ms: u64| {
            let mut samples = Vec::new();
            steady_load(&mut samples, 0, 10);
            for at in (10_000..15_000).step_by(10) {
                samples.push(sample(at, 5, 200, Kind::Read, CACHE_HIT));
                let status = if at < answers_from_ms { 503 } else { 200 };
                let mut search = sample(at + 5, 3, status, Kind::Search, CACHE_OTHER);
                search.retry_after = true;
                samples.push(search);
            }
            outcome(
                samples,
                vec![
                    span(PhaseKind::Steady, 0, 10),
                    span(PhaseKind::Restored(Target::Search), 10, 15),
                ],
            )
        };
        let soon = run(11_000);
        assert!(soon.broken.is_empty(), "{:?}", soon.broken);
        assert!(
            soon.notes.iter().any(|n| n.contains("200 again 1.0 s")),
            "{:?}",
            soon.notes
        );
        let late = run(13_500).broken.join("\n");
        assert!(late.contains("searches took 3.5 s"), "{late}");
        let never = run(20_000).broken.join("\n");
        assert!(never.contains("did not answer 200 again"), "{never}");
    }

    #[test]
    fn the_chart_and_the_report_carry_every_phase() {
        let mut samples = Vec::new();
        steady_load(&mut samples, 0, 20);
        let result = outcome(
            samples,
            vec![
                span(PhaseKind::Steady, 0, 10),
                span(PhaseKind::Down(Target::CacheNode), 10, 15),
                span(PhaseKind::Restored(Target::CacheNode), 15, 20),
            ],
        );
        let svg = result.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("one cache node down"));
        let options = DrillOptions {
            short: true,
            write_report: true,
            concurrency: 8,
        };
        let markdown = result.markdown(&options);
        assert!(markdown.contains("| one cache node back |"), "{markdown}");
        assert!(markdown.contains("cargo xtask drill --short"));
        assert!(markdown.contains("Every promise held"));
    }

    #[test]
    fn log_lines_are_grouped_by_message() {
        let log = "2026-12-03T23:00:01Z  WARN edge: cache read failed error=timeout after 80ms\n\
                   2026-12-03T23:00:02Z  WARN edge: cache read failed error=timeout after 81ms\n\
                   2026-12-03T23:00:03Z ERROR edge: cannot sign\n";
        let top = log_summary(log);
        assert_eq!(
            top[0],
            (
                2,
                "WARN edge: cache read failed error=timeout after ##ms".to_owned()
            )
        );
        assert_eq!(top[1], (1, "ERROR edge: cannot sign".to_owned()));
    }
}
