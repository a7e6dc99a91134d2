//! The drill's backends: its own PostgreSQL, memcached, redis, the search server and the
//! edge API itself, started (in parallel where they are independent) and taken away on cue.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reel_testkit::{Memcached, OpenSearch, Redis, Search, free_port, wait_for_port};

use super::{RATE_LIMIT, Target};

// ---------------------------------------------------------------------------------------------
// Backends

/// A PostgreSQL instance of the drill's own: a fresh cluster in a temporary directory, on a
/// free loopback port, in its own process group so that SIGKILL takes every backend process.
#[derive(Debug)]
struct OwnPostgres {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `postgres`.
pub(super) fn postgres_bin() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no /usr/lib/postgresql: install the server with `cargo xtask setup`")?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .context("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
}

/// The uid and gid of `postgres` when running as root (the server refuses to run as root).
fn server_user() -> Result<Option<(u32, u32)>> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("running id")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .map(Some)
        .context("running as root and there is no `postgres` user to run the server as")
}

impl OwnPostgres {
    fn start(work: &Path) -> Result<Self> {
        let bin = postgres_bin()?;
        let user = server_user()?;
        let data = work.join("pgdata");
        std::fs::create_dir_all(&data).context("creating the PostgreSQL data directory")?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .context("handing the data directory to postgres")?;
        }
        let log = work.join("postgres.log");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = user {
            initdb.uid(uid).gid(gid);
        }
        let output = initdb.output().context("running initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let mut server = Self {
            bin,
            data,
            log,
            port: free_port()?,
            user,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("opening the PostgreSQL log")?;
        let mut command = Command::new(self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.data.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .process_group(0);
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        self.child = Some(command.spawn().context("starting postgres")?);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = Command::new("psql")
                .args([&self.url(), "-X", "-q", "-At", "-c", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|status| status.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("postgres exited with {status}; see {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "postgres did not accept connections within 30 s; see {}",
            self.log.display()
        )
    }

    /// SIGKILL to the whole process group: the postmaster and every backend die at once.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal("KILL", &format!("-{}", child.id()));
            let _ = child.wait();
            // The backends die with the group; wait until the port is free again.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `kill -<signal> <target>` (a pid, or `-pgid` for a process group).
fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}").as_str(), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The search server: a private OpenSearch node or `osmem-server`, frozen with SIGSTOP.
#[derive(Debug)]
pub(super) enum SearchServer {
    OpenSearch(OpenSearch),
    Osmem(Search),
}

impl SearchServer {
    fn start(short: bool) -> Result<Self> {
        let engine = std::env::var("REEL_SEARCH_ENGINE").unwrap_or_default();
        let osmem = engine == "osmem" || (short && engine != "opensearch");
        if osmem {
            Ok(Self::Osmem(Search::start_osmem_server().context(
                "starting osmem-server (`cargo xtask setup` installs it)",
            )?))
        } else {
            Ok(Self::OpenSearch(OpenSearch::start().context(
                "starting OpenSearch (`cargo xtask setup` builds it; REEL_SEARCH_ENGINE=osmem for the emulator)",
            )?))
        }
    }

    fn url(&self) -> &str {
        match self {
            Self::OpenSearch(node) => node.url(),
            Self::Osmem(server) => server.url(),
        }
    }

    pub(super) fn engine(&self) -> &'static str {
        match self {
            Self::OpenSearch(_) => "OpenSearch 2.19 (real node)",
            Self::Osmem(_) => "osmem-server (emulator)",
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Self::OpenSearch(node) => Some(node.pid()),
            Self::Osmem(server) => server.pid(),
        }
    }

    fn freeze(&self, frozen: bool) {
        if let Some(pid) = self.pid() {
            signal(if frozen { "STOP" } else { "CONT" }, &pid.to_string());
        }
    }
}

impl Drop for SearchServer {
    fn drop(&mut self) {
        // A stopped process cannot notice that its stdin closed.
        self.freeze(false);
    }
}

/// Everything the drill started; dropping it stops all of it.
#[derive(Debug)]
pub(super) struct Stack {
    edge: Option<Child>,
    pub(super) edge_log: PathBuf,
    pub(super) api: SocketAddr,
    /// Where the edge API serves `/metrics` (a free port: never the default 9464, which
    /// another edge API on the machine may hold).
    pub(super) metrics: SocketAddr,
    memcached: Vec<Memcached>,
    redis: Redis,
    pub(super) search: SearchServer,
    postgres: OwnPostgres,
    pub(super) geo_file: PathBuf,
    geo_parked: PathBuf,
    work: PathBuf,
}

impl Stack {
    pub(super) fn start(short: bool) -> Result<Self> {
        let work = std::env::temp_dir().join(format!("reel-drill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).context("creating the drill's work directory")?;
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755))?;
        let began = Instant::now();
        eprintln!(
            "building the edge API (debug) and starting PostgreSQL, memcached x2, redis and the search server, in parallel..."
        );
        // Independent of each other: each starts on its own thread, and the set waits for the
        // slowest rather than for their sum. One that fails stops the others as it drops them.
        let (binary, postgres, memcached, redis, search) = std::thread::scope(|scope| {
            // Each says when it is ready, so that a slow one shows in the log.
            let ready = move |what: &str| {
                eprintln!("[setup {:5.1} s] {what}", began.elapsed().as_secs_f64());
            };
            let work = &work;
            let binary = scope.spawn(move || build_edge_api().inspect(|_| ready("edge API built")));
            let postgres =
                scope.spawn(move || OwnPostgres::start(work).inspect(|_| ready("PostgreSQL up")));
            let memcached = scope.spawn(move || {
                Memcached::cluster(2)
                    .context("starting memcached")
                    .inspect(|_| ready("memcached x2 up"))
            });
            let redis = scope.spawn(move || {
                Redis::start()
                    .context("starting redis")
                    .inspect(|_| ready("redis up"))
            });
            let search = scope
                .spawn(move || SearchServer::start(short).inspect(|_| ready("search server up")));
            anyhow::Ok((
                joined(binary)?,
                joined(postgres)?,
                joined(memcached)?,
                joined(redis)?,
                joined(search)?,
            ))
        })?;
        eprintln!(
            "[setup {:5.1} s] built, backends up; starting the edge API",
            began.elapsed().as_secs_f64()
        );
        let geo_file = work.join("GeoLite2-City.mmdb");
        let geo_parked = work.join("GeoLite2-City.mmdb.parked");
        write_geo_database(&geo_file, 1)?;
        let port = free_port()?;
        let api = SocketAddr::from(([127, 0, 0, 1], port));
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let servers: Vec<String> = memcached.iter().map(Memcached::host_port).collect();
        let edge_log = work.join("edge-api.log");
        let log = File::create(&edge_log).context("creating the edge API log")?;
        let edge = Command::new(&binary)
            .env("REEL_LISTEN", api.to_string())
            .env("REEL_METRICS_ADDR", metrics.to_string())
            .env("REEL_DATABASE_URL", postgres.url())
            .env("REEL_REDIS_URL", redis.url())
            .env("REEL_MEMCACHE_SERVERS", servers.join(","))
            .env("REEL_ES_URL", search.url())
            .env("REEL_ES_INDEX", "drill-assets")
            .env("REEL_GEOIP_DB", &geo_file)
            .env("REEL_DATA_DIR", work.join("edge-data"))
            .env("REEL_RATE_LIMIT", RATE_LIMIT)
            // A first index build slower than the API's start-up limit (a loaded machine, a
            // cold JVM) finishes in the background; the drill waits for `/healthz` anyway.
            .env("REEL_START_DEGRADED", "1")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut stack = Self {
            edge: Some(edge),
            edge_log,
            api,
            metrics,
            memcached,
            redis,
            search,
            postgres,
            geo_file,
            geo_parked,
            work,
        };
        let deadline = Instant::now() + STARTUP_LIMIT;
        while !wait_for_port(api, Duration::from_millis(200)) {
            if let Some(edge) = &mut stack.edge
                && let Ok(Some(status)) = edge.try_wait()
            {
                let log = std::fs::read_to_string(&stack.edge_log).unwrap_or_default();
                bail!("the edge API exited with {status}:\n{log}");
            }
            if Instant::now() > deadline {
                bail!("the edge API did not listen on {api} within {STARTUP_LIMIT:?}");
            }
        }
        // It binds before it connects its backends: wait until /healthz says it is whole.
        while !healthy(api) {
            if let Some(edge) = &mut stack.edge
                && let Ok(Some(status)) = edge.try_wait()
            {
                let log = std::fs::read_to_string(&stack.edge_log).unwrap_or_default();
                bail!("the edge API exited with {status}:\n{log}");
            }
            if Instant::now() > deadline {
                bail!("the edge API's /healthz did not answer 200 within {STARTUP_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "[setup {:5.1} s] the edge API is up and healthy",
            began.elapsed().as_secs_f64()
        );
        Ok(stack)
    }

    /// Takes `target` away (`down`) or brings it back; blocking.
    pub(super) fn act(&mut self, target: Target, down: bool) -> Result<()> {
        match (target, down) {
            (Target::CacheNode, true) => self.memcached[1].kill(),
            (Target::CacheNode, false) => self.memcached[1]
                .restart()
                .context("restarting the cache node")?,
            (Target::Redis, true) => self.redis.kill(),
            (Target::Redis, false) => self.redis.restart().context("restarting redis")?,
            (Target::Search, frozen) => self.search.freeze(frozen),
            (Target::Geo, true) => std::fs::rename(&self.geo_file, &self.geo_parked)
                .context("moving the geo database away")?,
            (Target::Geo, false) => std::fs::rename(&self.geo_parked, &self.geo_file)
                .context("putting the geo database back")?,
            (Target::Database, true) => self.postgres.kill(),
            (Target::Database, false) => self.postgres.spawn()?,
        }
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut edge) = self.edge.take() {
            signal("TERM", &edge.id().to_string());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(edge.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = edge.kill();
            let _ = edge.wait();
        }
        self.postgres.kill();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// How long the edge API may take to listen and then to report every backend healthy (the
/// first search index build included, which a loaded machine can make slow).
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

/// The result of a start-up thread (a panic becomes an error).
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("a start-up thread panicked"))?
}

/// Whether `GET /healthz` answers 200 (blocking, one short connection).
fn healthy(api: SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&api, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Builds the edge API in the debug profile; returns the binary's path.
fn build_edge_api() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    // `cargo run` gives this process the package variables of xtask (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, ...); passed on, they make the build's fingerprints differ from a
    // build in a shell, and each alternation rebuilt the edge API from scratch.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || name == "CARGO_PRIMARY_PACKAGE"
        {
            command.env_remove(name.as_ref());
        }
    }
    let output = command
        .args([
            "build",
            "-q",
            "-p",
            "example-edge-api",
            "--bin",
            "example-edge-api",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build -p example-edge-api")?;
    if !output.status.success() {
        bail!("cargo build -p example-edge-api failed");
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .context("cargo build did not report the edge API's executable")
}

/// Writes a GeoLite2-City-format database atomically (rename over the file), as an updater
/// would; `version` makes each build differ.
pub(super) fn write_geo_database(path: &Path, version: u32) -> Result<()> {
    let bytes = reel_geoip::testdata::CityDatabase::new()
        .version(version)
        .build()
        .map_err(|e| anyhow::anyhow!("building the geo database: {e}"))?;
    let tmp = path.with_extension("mmdb.tmp");
    std::fs::write(&tmp, bytes).context("writing the geo database")?;
    std::fs::rename(&tmp, path).context("installing the geo database")?;
    Ok(())
}
