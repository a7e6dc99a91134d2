//! An Elasticsearch-compatible server for a test: a real OpenSearch node shared by the test
//! binary (the default), `osmem-server` (`REEL_SEARCH_ENGINE=osmem`), or `REEL_ES_URL`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::Error;
use crate::opensearch::OpenSearch;
use crate::tools::tools_dir;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which engine a [`Search`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// A real OpenSearch node started by the testkit (see [`OpenSearch`]).
    OpenSearch,
    /// `osmem-server`, the in-memory emulator from PyPI (`REEL_SEARCH_ENGINE=osmem`).
    Osmem,
    /// Whatever answers at `REEL_ES_URL` (Elasticsearch or OpenSearch).
    External,
}

impl Engine {
    /// Whether the engine runs Painless scripts, tasks and the rest of a real cluster's API
    /// (everything but the emulator).
    pub fn is_real(self) -> bool {
        !matches!(self, Self::Osmem)
    }
}

/// A search server for one test.
///
/// - By default, a real OpenSearch node started once per test binary
///   ([`OpenSearch::shared`]) and shared by every test in it.
/// - With `REEL_SEARCH_ENGINE=osmem`, a private `osmem-server` process (an in-memory
///   OpenSearch-compatible emulator from PyPI): fast, but not Lucene.
/// - With `REEL_ES_URL`, any external cluster (the GitHub workflow's Elasticsearch 8 and 9).
///
/// Tests name their indices through [`index`](Self::index), which adds a prefix unique to
/// this value, so tests can share a server; on a shared or external server those indices are
/// deleted on drop.
#[derive(Debug)]
pub struct Search {
    url: String,
    prefix: String,
    engine: Engine,
    child: Option<Child>,
}

impl Search {
    /// Connects to the engine chosen by the environment (see [`Search`]), starting it if
    /// needed.
    pub fn start() -> Result<Self, Error> {
        let prefix = format!(
            "reel-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if let Ok(url) = std::env::var("REEL_ES_URL") {
            let url = url.trim_end_matches('/').to_owned();
            return Ok(Self {
                url,
                prefix,
                engine: Engine::External,
                child: None,
            });
        }
        match std::env::var("REEL_SEARCH_ENGINE").as_deref() {
            Ok("osmem") => Self::start_osmem(prefix),
            Ok("opensearch") | Ok("") | Err(_) => Ok(Self {
                url: OpenSearch::shared()?.url().to_owned(),
                prefix,
                engine: Engine::OpenSearch,
                child: None,
            }),
            Ok(other) => Err(Error::NotReady {
                server: "search".into(),
                detail: format!(
                    "REEL_SEARCH_ENGINE={other:?} is not an engine; use `opensearch` (the \
                     default) or `osmem`, or set REEL_ES_URL"
                ),
            }),
        }
    }

    /// Starts a private `osmem-server`, whatever the environment says.
    pub fn start_osmem_server() -> Result<Self, Error> {
        let prefix = format!(
            "reel-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self::start_osmem(prefix)
    }

    fn start_osmem(prefix: String) -> Result<Self, Error> {
        let binary = osmem_binary()?;
        let mut child = Command::new(&binary)
            .args([
                "-addr",
                "127.0.0.1:0",
                "-parent-pid",
                &std::process::id().to_string(),
                "-no-stdin-watch",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(Error::io(format!("spawning {}", binary.display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(Error::NotReady {
                server: "osmem-server".into(),
                detail: "no stdout".into(),
            });
        };
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let url = read
            .ok()
            .and_then(|_| serde_json::from_str::<serde_json::Value>(&line).ok())
            .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(str::to_owned));
        match url {
            Some(url) => Ok(Self {
                url,
                prefix,
                engine: Engine::Osmem,
                child: Some(child),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(Error::NotReady {
                    server: "osmem-server".into(),
                    detail: format!("unexpected first line {line:?}"),
                })
            }
        }
    }

    /// The server's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The engine this server is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Whether this is a real engine (the OpenSearch node or `REEL_ES_URL`) rather than the
    /// `osmem-server` emulator: scripts, tasks and Lucene's behaviour are there.
    pub fn is_external(&self) -> bool {
        self.engine.is_real()
    }

    /// An index name unique to this test: `<prefix>-<name>`.
    pub fn index(&self, name: &str) -> String {
        format!("{}-{}", self.prefix, name)
    }

    /// The prefix of every name from [`index`](Self::index).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Kills the server process, to test outages. Only an `osmem-server` of this test can be
    /// killed: on a shared or external server this does nothing (check
    /// [`can_kill`](Self::can_kill)).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Search {
    /// Whether [`kill`](Self::kill) stops the server (a private `osmem-server` only).
    pub fn can_kill(&self) -> bool {
        self.child.is_some()
    }

    /// The process id of a private `osmem-server` while it runs (`None` on a shared or
    /// external server), to send it signals such as SIGSTOP.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Search {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill();
        } else {
            // Shared or external server: remove this test's indices (best effort, plain HTTP
            // only).
            let _ = http_delete(&self.url, &format!("/{}-*", self.prefix));
        }
    }
}

fn osmem_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("REEL_OSMEM_BIN") {
        return Ok(PathBuf::from(path));
    }
    let lib = tools_dir().join("reel-venv").join("lib");
    if let Ok(entries) = std::fs::read_dir(&lib) {
        for entry in entries.flatten() {
            let candidate = entry
                .path()
                .join("site-packages/osmem_server/bin/osmem-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Error::Missing {
        program: format!("osmem-server (looked in {})", lib.display()),
        install: "cargo xtask setup".into(),
    })
}

fn http_delete(base: &str, path: &str) -> std::io::Result<()> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// is cleaned up"))?;
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
    Ok(())
}
