//! A real OpenSearch 2.19 node on loopback, started from the launcher `cargo xtask setup` builds.
//!
//! The launcher (Java source and Maven pom in `crates/reel-testkit/opensearch/`) runs a single
//! node with the `transport-netty4`, `analysis-common`, `mapper-extras`, `reindex` and
//! `lang-painless` modules, all from Maven Central, heap capped at 512 MiB. The node keeps its
//! data in a fresh temporary directory, binds HTTP to a free loopback port, prints its URL, and
//! stops (deleting the directory) when its standard input closes: on [`Drop`], or when the test
//! process exits, however it exits.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Error;
use crate::tools::{find_program, tools_dir};

/// The OpenSearch version the launcher runs (kept in step with `opensearch/pom.xml`).
pub const OPENSEARCH_VERSION: &str = "2.19.6";

/// The directory under the tools dir where `cargo xtask setup` puts the launcher and its jars.
pub const OPENSEARCH_DIR: &str = "reel-opensearch";

const MAIN_CLASS: &str = "reel.testkit.OpenSearchLauncher";

static NODES: AtomicU32 = AtomicU32::new(0);

/// A running OpenSearch node, stopped on drop.
///
/// Starting one takes 15–30 s on a small machine; tests share one per test binary through
/// [`shared`](Self::shared) (what [`Search::start`](crate::Search::start) does by default).
#[derive(Debug)]
pub struct OpenSearch {
    url: String,
    home: PathBuf,
    child: Child,
}

impl OpenSearch {
    /// Starts a private node and waits until it answers HTTP.
    pub fn start() -> Result<Self, Error> {
        let (launcher, lib) = launcher_paths()?;
        let java = java_binary()?;
        let home = std::env::temp_dir().join(format!(
            "reel-opensearch-{}-{}",
            std::process::id(),
            NODES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home)
            .map_err(Error::io(format!("creating {}", home.display())))?;
        let log_path = home.join("launcher.log");
        let log = std::fs::File::create(&log_path)
            .map_err(Error::io(format!("creating {}", log_path.display())))?;
        let classpath = format!("{}:{}/*", launcher.display(), lib.display());
        let mut child = Command::new(&java)
            .args([
                "-Xms512m",
                "-Xmx512m",
                "-XX:+UseSerialGC",
                "-XX:-HeapDumpOnOutOfMemoryError",
                "-Djava.awt.headless=true",
                "-Dfile.encoding=UTF-8",
                "-Dlog4j2.disable.jmx=true",
                "-cp",
                &classpath,
                MAIN_CLASS,
            ])
            .arg(&home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(Error::io(format!("spawning {}", java.display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(not_ready("no stdout", &log_path));
        };
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    let url = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(str::to_owned));
                    if let Some(url) = url {
                        break Some(url);
                    }
                }
                Some(Err(_)) | None => break None,
            }
        };
        match url {
            Some(url) => Ok(Self { url, home, child }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(not_ready(
                    "the node exited before printing its URL",
                    &log_path,
                ))
            }
        }
    }

    /// The node shared by every test of this process, started on first use.
    ///
    /// It lives until the process exits (its standard input closes then, and it stops).
    pub fn shared() -> Result<&'static Self, Error> {
        static SHARED: OnceLock<Result<OpenSearch, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|detail| Error::NotReady {
                server: format!("OpenSearch {OPENSEARCH_VERSION}"),
                detail: detail.clone(),
            })
    }

    /// The node's HTTP URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The node's process id, to send it signals (SIGSTOP freezes the node with its
    /// connections open; SIGCONT resumes it). A stopped node cannot see its standard input
    /// close, so send SIGCONT before dropping it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OpenSearch {
    fn drop(&mut self) {
        // Closing stdin asks the launcher to close the node and delete its directory.
        drop(self.child.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.home);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn not_ready(detail: &str, log: &std::path::Path) -> Error {
    let tail = std::fs::read_to_string(log)
        .map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        })
        .unwrap_or_default();
    Error::NotReady {
        server: format!("OpenSearch {OPENSEARCH_VERSION}"),
        detail: format!("{detail}; log {}:\n{tail}", log.display()),
    }
}

/// The launcher jar and the directory of its dependencies.
fn launcher_paths() -> Result<(PathBuf, PathBuf), Error> {
    let dir = match std::env::var_os("REEL_OPENSEARCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => tools_dir().join(OPENSEARCH_DIR),
    };
    let launcher = dir.join("build").join("reel-opensearch-launcher.jar");
    let lib = dir.join("lib");
    if launcher.is_file() && lib.is_dir() {
        Ok((launcher, lib))
    } else {
        Err(Error::Missing {
            program: format!("the OpenSearch launcher ({})", launcher.display()),
            install: crate::SETUP_COMMAND.into(),
        })
    }
}

/// `$JAVA_HOME/bin/java`, else `java` on the path.
fn java_binary() -> Result<PathBuf, Error> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.is_file() {
            return Ok(java);
        }
    }
    find_program("java").ok_or_else(|| Error::Missing {
        program: "java (17 or newer)".into(),
        install: "apt-get install openjdk-17-jre-headless".into(),
    })
}
