//! `cargo xtask setup`: installs what the tests need, and is quiet when all of it is there.
//!
//! - Debian packages (servers the testkit starts, C libraries the benches link) through
//!   `apt-get` when running as root or with password-less sudo; otherwise the command to run.
//! - A Python venv at `<tools dir>/reel-venv` with [`PIP_PACKAGES`].
//! - An npm prefix at `<tools dir>/reel-node` with [`NPM_PACKAGES`].
//! - The OpenSearch node the search tests run on: Maven builds the launcher in
//!   `crates/reel-testkit/opensearch/` and copies it and its Maven Central dependencies to
//!   `<tools dir>/reel-opensearch` (needs Java 17 and Maven, installed with the Debian packages).
//! - mdBook [`crate::mdbook::MDBOOK_VERSION`] for the guide (`cargo install --locked`, skipped
//!   when that version is on `PATH`).
//! - Prometheus and promtool [`crate::prometheus::PROMETHEUS_VERSION`] (`go install` from the
//!   Go module proxy into `<tools dir>/reel-prometheus/<version>`): the drill's dashboard
//!   (`cargo xtask drill --dashboard`) and the test that every dashboard query parses.
//!
//! The tools dir is `$REEL_TOOLS_DIR`, else `$CARGO_TARGET_DIR`, else `<workspace>/target`. A
//! stamp file in the venv and in the npm prefix holds a hash of the package list, so adding a
//! package to a list reinstalls on the next run and nothing happens otherwise.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use xshell::{Cmd, Shell, cmd};

use crate::workspace;

/// Debian packages every test run needs. `postgresql` (the server) is added only when no
/// server answers on 127.0.0.1:5432 and `REEL_DATABASE_URL` is unset.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "memcached",
    "redis-server",
    "redis-tools",
    "postgresql-client",
    "libmemcached-dev",
    "libmaxminddb-dev",
    "mmdb-bin",
    "libssl-dev",
    "pkg-config",
    // actionlint (`cargo xtask ci`) runs it over every workflow `run:` script.
    "shellcheck",
];

/// PyPI packages installed into `<tools dir>/reel-venv`: servers and reference implementations
/// the tests run. Add a package here and the next `cargo xtask setup` installs it.
pub const PIP_PACKAGES: &[&str] = &["osmem-server", "botocore", "cryptography", "moto[server]"];

/// npm packages installed under `<tools dir>/reel-node`: reference implementations and type
/// checkers the tests run. Add a package here and the next `cargo xtask setup` installs it.
pub const NPM_PACKAGES: &[&str] = &[
    "@aws-sdk/cloudfront-signer",
    "jsonapi-validator",
    "@elastic/elasticsearch@9",
    "typescript@5",
];

const STAMP_FILE: &str = ".reel-setup-stamp";

/// `cargo xtask setup`
pub fn run() -> Result<()> {
    let root = workspace::project_root()?;
    setup(&root)
}

/// Installs what is missing; prints one line per part.
pub fn setup(root: &Path) -> Result<()> {
    let sh = workspace::shell_at(root)?;
    let tools = workspace::tools_dir(root);
    debian(&sh)?;
    python_venv(&sh, &tools)?;
    npm_prefix(&sh, &tools)?;
    opensearch(&sh, root, &tools)?;
    crate::mdbook::install(&sh)?;
    crate::prometheus::install(&tools)?;
    Ok(())
}

fn is_installed(sh: &Shell, package: &str) -> bool {
    let format = "${Status}";
    cmd!(sh, "dpkg-query -W -f {format} {package}")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|status| status.trim() == "install ok installed")
}

fn postgres_answers() -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], 5432));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u")
        .quiet()
        .read()
        .is_ok_and(|uid| uid.trim() == "0")
}

fn debian(sh: &Shell) -> Result<()> {
    if !workspace::has_program("dpkg-query") {
        println!(
            "setup: not a Debian system; install these (or their equivalents) yourself: {}",
            DEBIAN_PACKAGES.join(" ")
        );
        return Ok(());
    }
    let mut wanted: Vec<&str> = DEBIAN_PACKAGES.to_vec();
    let need_server = std::env::var_os("REEL_DATABASE_URL").is_none() && !postgres_answers();
    if need_server {
        wanted.push("postgresql");
    }
    if !workspace::has_program("python3") {
        wanted.push("python3");
    }
    if !python_has_venv(sh) {
        wanted.push("python3-venv");
    }
    if !workspace::has_program("npm") {
        wanted.push("npm");
    }
    if !workspace::has_program("javac") {
        wanted.push("openjdk-17-jdk-headless");
    }
    if !workspace::has_program("mvn") {
        wanted.push("maven");
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !is_installed(sh, p))
        .collect();
    let admin = admin_access(sh);
    if missing.is_empty() {
        println!("setup: Debian packages present ({})", wanted.join(", "));
    } else {
        let Some(sudo) = admin else {
            println!(
                "setup: missing Debian packages: {}. Run as root:\n  apt-get update && apt-get install -y {}",
                missing.join(" "),
                missing.join(" ")
            );
            return Ok(());
        };
        println!("setup: installing Debian packages: {}", missing.join(" "));
        let _frontend = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        as_admin(sh, sudo, "apt-get")
            .args(["update", "-qq"])
            .run()
            .context("`apt-get update` failed")?;
        as_admin(sh, sudo, "apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .run()
            .with_context(|| format!("`apt-get install {}` failed", missing.join(" ")))?;
    }
    // A machine image may ship the server installed but stopped (no service runs when a
    // session or CI starts), so start it whenever the tests need it and nothing answers, not
    // only right after installing it.
    if need_server && !postgres_answers() {
        match admin {
            Some(sudo) => start_local_postgres(sh, sudo)?,
            None => println!(
                "setup: nothing answers on 127.0.0.1:5432; as root run `service postgresql start` \
                 or set REEL_DATABASE_URL to a server where the tests may create databases"
            ),
        }
    }
    Ok(())
}

/// `Some(false)` as root, `Some(true)` with password-less sudo, `None` without either.
fn admin_access(sh: &Shell) -> Option<bool> {
    if is_root(sh) {
        Some(false)
    } else if workspace::has_program("sudo")
        && cmd!(sh, "sudo -n true")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok()
    {
        Some(true)
    } else {
        None
    }
}

/// `program`, through `sudo -n` when not running as root.
fn as_admin<'a>(sh: &'a Shell, sudo: bool, program: &str) -> Cmd<'a> {
    if sudo {
        cmd!(sh, "sudo -n {program}")
    } else {
        cmd!(sh, "{program}")
    }
}

fn python_has_venv(sh: &Shell) -> bool {
    workspace::has_program("python3")
        && cmd!(sh, "python3 -c 'import ensurepip, venv'")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok()
}

/// After installing the server ourselves: start it and let the testkit's default URL
/// (`postgres@127.0.0.1`, no password) in, as on the developer machines.
fn start_local_postgres(sh: &Shell, sudo: bool) -> Result<()> {
    let configs = std::fs::read_dir("/etc/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("main").join("pg_hba.conf"))
        .filter(|path| path.is_file());
    for config in configs {
        let text = std::fs::read_to_string(&config).unwrap_or_default();
        if text.contains("# reel: trust loopback") {
            continue;
        }
        let trust = "# reel: trust loopback for the test suite (added by cargo xtask setup)\n\
                     host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust\n";
        match std::fs::write(&config, format!("{trust}{text}")) {
            Ok(()) => println!(
                "setup: allowed password-less loopback logins for `postgres` in {}",
                config.display()
            ),
            Err(err) => println!(
                "setup: could not edit {} ({err}); set REEL_DATABASE_URL to a server the tests may use",
                config.display()
            ),
        }
    }
    let _ = as_admin(sh, sudo, "service")
        .args(["postgresql", "restart"])
        .quiet()
        .run();
    if !wait_for_postgres() && workspace::has_program("pg_ctlcluster") {
        // Without an init system `service` may do nothing; start each cluster directly.
        for version in std::fs::read_dir("/etc/postgresql")
            .into_iter()
            .flatten()
            .flatten()
        {
            let version = version.file_name().to_string_lossy().into_owned();
            let _ = as_admin(sh, sudo, "pg_ctlcluster")
                .args([version.as_str(), "main", "restart"])
                .quiet()
                .run();
        }
    }
    if wait_for_postgres() {
        println!("setup: PostgreSQL is running on 127.0.0.1:5432");
    } else {
        println!("setup: PostgreSQL did not start; start it by hand or set REEL_DATABASE_URL");
    }
    Ok(())
}

/// Polls 127.0.0.1:5432 for up to ten seconds: a server just started needs a moment.
fn wait_for_postgres() -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if postgres_answers() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// FNV-1a of the package list: stable across Rust versions, unlike `DefaultHasher`.
pub fn list_hash(packages: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in packages.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn stamp_matches(dir: &Path, packages: &[&str]) -> bool {
    std::fs::read_to_string(dir.join(STAMP_FILE)).is_ok_and(|s| s.trim() == list_hash(packages))
}

fn write_stamp(dir: &Path, packages: &[&str]) -> Result<()> {
    let path = dir.join(STAMP_FILE);
    std::fs::write(&path, format!("{}\n", list_hash(packages)))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn python_venv(sh: &Shell, tools: &Path) -> Result<()> {
    let venv = tools.join("reel-venv");
    let python = venv.join("bin").join("python3");
    if python.exists() && stamp_matches(&venv, PIP_PACKAGES) {
        println!("setup: Python venv up to date ({})", venv.display());
        return Ok(());
    }
    std::fs::create_dir_all(tools).with_context(|| format!("cannot create {}", tools.display()))?;
    if !python.exists() {
        if !workspace::has_program("python3") {
            bail!("python3 is missing: install it (Debian: apt-get install python3 python3-venv)");
        }
        println!("setup: creating the Python venv {}", venv.display());
        cmd!(sh, "python3 -m venv {venv}")
            .quiet()
            .run()
            .with_context(|| {
                format!(
                    "cannot create the venv {} (Debian: apt-get install python3-venv)",
                    venv.display()
                )
            })?;
    }
    println!("setup: pip install {}", PIP_PACKAGES.join(" "));
    let pip = venv.join("bin").join("pip");
    cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check {PIP_PACKAGES...}"
    )
    .run()
    .with_context(|| {
        format!(
            "pip could not install {} from PyPI into {}",
            PIP_PACKAGES.join(" "),
            venv.display()
        )
    })?;
    write_stamp(&venv, PIP_PACKAGES)
}

fn npm_prefix(sh: &Shell, tools: &Path) -> Result<()> {
    let prefix: PathBuf = tools.join("reel-node");
    if prefix.join("node_modules").is_dir() && stamp_matches(&prefix, NPM_PACKAGES) {
        println!("setup: npm packages up to date ({})", prefix.display());
        return Ok(());
    }
    if !workspace::has_program("npm") {
        bail!("npm is missing: install Node.js and npm (Debian: apt-get install npm)");
    }
    std::fs::create_dir_all(&prefix)
        .with_context(|| format!("cannot create {}", prefix.display()))?;
    println!(
        "setup: npm install {} (prefix {})",
        NPM_PACKAGES.join(" "),
        prefix.display()
    );
    cmd!(
        sh,
        "npm install --prefix {prefix} --no-audit --no-fund --loglevel=error {NPM_PACKAGES...}"
    )
    .run()
    .with_context(|| {
        format!(
            "npm could not install {} into {}",
            NPM_PACKAGES.join(" "),
            prefix.display()
        )
    })?;
    write_stamp(&prefix, NPM_PACKAGES)
}

/// The launcher's sources, relative to the workspace root: a change to any rebuilds it.
const OPENSEARCH_SOURCES: &[&str] = &[
    "crates/reel-testkit/opensearch/pom.xml",
    "crates/reel-testkit/opensearch/src/main/java/reel/testkit/OpenSearchLauncher.java",
];

fn opensearch(sh: &Shell, root: &Path, tools: &Path) -> Result<()> {
    let out = tools.join("reel-opensearch");
    let mut sources = Vec::new();
    for source in OPENSEARCH_SOURCES {
        let path = root.join(source);
        sources.push(
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        );
    }
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    let jar = out.join("build").join("reel-opensearch-launcher.jar");
    if jar.is_file() && out.join("lib").is_dir() && stamp_matches(&out, &sources) {
        println!("setup: OpenSearch launcher up to date ({})", out.display());
        return Ok(());
    }
    if !workspace::has_program("mvn") || !workspace::has_program("javac") {
        bail!(
            "Maven and a Java 17 JDK are needed to build the OpenSearch test node \
             (Debian: apt-get install maven openjdk-17-jdk-headless)"
        );
    }
    println!(
        "setup: building the OpenSearch test node with Maven ({})",
        out.display()
    );
    let _ = std::fs::remove_dir_all(out.join("lib"));
    let pom = root.join(OPENSEARCH_SOURCES[0]);
    let out_arg = format!("-Dreel.out={}", out.display());
    cmd!(
        sh,
        "mvn --batch-mode --quiet --file {pom} {out_arg} package"
    )
    .run()
    .context("Maven could not build the OpenSearch launcher from Maven Central artifacts")?;
    write_stamp(&out, &sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_hash_is_stable_and_order_sensitive() {
        assert_eq!(list_hash(&[]), "cbf29ce484222325");
        assert_eq!(list_hash(&["a"]), "af63dc4c8601ec8c");
        assert_ne!(list_hash(&["a", "b"]), list_hash(&["b", "a"]));
        assert_ne!(list_hash(&["ab"]), list_hash(&["a", "b"]));
    }
}
