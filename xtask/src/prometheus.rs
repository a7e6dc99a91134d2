//! A real Prometheus server for the drill's dashboard, and promtool for the dashboard's tests.
//!
//! Both come from the Go module proxy: `go install` of `cmd/prometheus` and `cmd/promtool` at
//! [`PROMETHEUS_VERSION`] into `<tools dir>/reel-prometheus/<version>` (`cargo xtask setup`,
//! or the drill on first use). The default build tags leave the web UI's assets out; the HTTP
//! API, the scraper and the TSDB are all there, and that is all the drill asks of it.
//!
//! [`Prometheus::start`] runs one on a free loopback port that scrapes a single target (the
//! edge API's `/metrics`) and nothing else, in a temporary directory removed on drop;
//! [`Prometheus::query_range`] asks its `/api/v1/query_range` over plain HTTP/1.0.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::dashboard::{self, Series};

/// The Go module both binaries come from (Apache-2.0).
pub const PROMETHEUS_MODULE: &str = "github.com/prometheus/prometheus";
/// The release installed; changing it installs the new one beside the old on the next setup.
pub const PROMETHEUS_VERSION: &str = "v0.316.0";

/// How long one HTTP request to Prometheus may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Prometheus may take to start answering `/-/ready`.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// `<tools dir>/reel-prometheus/<version>`, where `prometheus` and `promtool` are installed.
pub fn bin_dir(tools: &Path) -> PathBuf {
    tools.join("reel-prometheus").join(PROMETHEUS_VERSION)
}

/// The Go toolchain: `go` on `PATH`, else Go's own install location.
fn go_program() -> Option<PathBuf> {
    if crate::workspace::has_program("go") {
        Some(PathBuf::from("go"))
    } else {
        let fallback = Path::new("/usr/local/go/bin/go");
        fallback.is_file().then(|| fallback.to_path_buf())
    }
}

/// Installs `prometheus` and `promtool` into [`bin_dir`] unless both are there; returns the
/// directory. The first build downloads the module's dependencies and compiles for a few
/// minutes; later calls return at once.
pub fn install(tools: &Path) -> Result<PathBuf> {
    let dir = bin_dir(tools);
    if dir.join("prometheus").is_file() && dir.join("promtool").is_file() {
        return Ok(dir);
    }
    let Some(go) = go_program() else {
        bail!(
            "Prometheus is not installed in {} and Go is missing to build it: install Go, then \
             run `cargo xtask setup`",
            dir.display()
        );
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let packages = [
        format!("{PROMETHEUS_MODULE}/cmd/prometheus@{PROMETHEUS_VERSION}"),
        format!("{PROMETHEUS_MODULE}/cmd/promtool@{PROMETHEUS_VERSION}"),
    ];
    println!(
        "setup: installing Prometheus {PROMETHEUS_VERSION} and promtool into {} \
         (go install {}; minutes the first time)",
        dir.display(),
        packages.join(" ")
    );
    let status = Command::new(&go)
        .arg("install")
        .args(&packages)
        .env("GOBIN", &dir)
        // A binary that does not depend on the clone it was built from.
        .env("GOFLAGS", "-buildvcs=false")
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {} install", go.display()))?;
    if !status.success() {
        bail!(
            "`go install {}` failed ({status}); the output above says why",
            packages.join(" ")
        );
    }
    Ok(dir)
}

/// A Prometheus server of the drill's own; dropping it stops it and removes its data.
#[derive(Debug)]
pub struct Prometheus {
    child: Option<Child>,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
    work: PathBuf,
}

impl Prometheus {
    /// Starts `<bin>/prometheus` on a free loopback port, scraping `http://<target>/metrics`
    /// every `interval` (job `edge-api`), and waits until it is ready.
    pub fn start(bin: &Path, target: SocketAddr, interval: Duration) -> Result<Self> {
        let port = reel_testkit::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let work =
            std::env::temp_dir().join(format!("reel-prometheus-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).context("creating Prometheus' work directory")?;
        let config = work.join("prometheus.yml");
        std::fs::write(&config, scrape_config(target, interval))
            .context("writing prometheus.yml")?;
        let log = std::fs::File::create(work.join("prometheus.log"))
            .context("creating Prometheus' log")?;
        let child = Command::new(bin.join("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", bin.join("prometheus").display()))?;
        let mut server = Self {
            child: Some(child),
            addr,
            work,
        };
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if matches!(server.get("/-/ready"), Ok((200, _))) {
                return Ok(server);
            }
            if let Some(child) = &mut server.child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("Prometheus exited with {status}:\n{}", server.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "Prometheus did not become ready on {addr} within {READY_LIMIT:?}:\n{}",
                    server.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of its log, for an error message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.work.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `GET path` over one HTTP/1.0 connection: the status and the body.
    fn get(&self, path: &str) -> Result<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))
            .with_context(|| format!("connecting to Prometheus on {}", self.addr))?;
        stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .context("reading Prometheus' answer")?;
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("Prometheus' answer has no end of headers")?;
        let head = String::from_utf8_lossy(&answer[..split]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .with_context(|| format!("bad status line from Prometheus: {head:?}"))?;
        Ok((status, answer[split + 4..].to_vec()))
    }

    /// `/api/v1/query_range`: `expr` from `start` to `end` (Unix seconds) every `step`
    /// seconds. `Err` carries what Prometheus (or the connection) said was wrong.
    pub fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<Series>, String> {
        let path = format!(
            "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={step}",
            url_encode(expr)
        );
        let (_, body) = self.get(&path).map_err(|e| format!("{e:#}"))?;
        dashboard::parse_query_answer(&body)
    }

    /// `/api/v1/query` at `at` (Unix seconds).
    pub fn query(&self, expr: &str, at: f64) -> Result<Vec<Series>, String> {
        let path = format!("/api/v1/query?query={}&time={at:.3}", url_encode(expr));
        let (_, body) = self.get(&path).map_err(|e| format!("{e:#}"))?;
        dashboard::parse_query_answer(&body)
    }

    /// Waits until Prometheus holds a scrape of its target taken at or after `at` (Unix
    /// seconds), so that a query up to `at` sees the run's last figures.
    pub fn wait_for_scrape_after(&self, at: f64, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let now = unix_now();
            let latest = self
                .query("max(timestamp(up == 1))", now)
                .ok()
                .and_then(|series| series.first().and_then(|s| s.points.last().map(|p| p.1)));
            if latest.is_some_and(|t| t >= at) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "Prometheus took no successful scrape after {at:.1} within {limit:?} (latest: {latest:?})"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The configuration: one job, one target, nothing else scraped (not even Prometheus itself).
pub fn scrape_config(target: SocketAddr, interval: Duration) -> String {
    let seconds = interval.as_secs_f64();
    format!(
        "global:\n  scrape_interval: {seconds}s\n  scrape_timeout: {seconds}s\n\
         scrape_configs:\n  - job_name: edge-api\n    metrics_path: /metrics\n    \
         static_configs:\n      - targets: ['{target}']\n"
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
