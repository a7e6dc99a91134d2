//! `cargo xtask dev`: the real local backends the edge API can use, on free loopback ports.
//!
//! Starts two memcached, one redis and a search server (`osmem-server` from the tools venv, or
//! `REEL_ES_URL` when set) through reel-testkit, creates a PostgreSQL database on the local
//! server when it is missing (kept between runs), prints the `REEL_*` lines to paste, and
//! stops everything on Ctrl-C or SIGTERM. With `--run` it runs the edge API with those
//! variables instead (Ctrl-C stops both).

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use reel_testkit::{DEFAULT_ADMIN_URL, Memcached, Redis, Search};

use clap::ArgMatches;

use crate::cli;

/// What `cargo xtask dev` starts.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The PostgreSQL server's admin URL (a database on it is used to create ours).
    pub admin_url: String,
    /// The database the edge API uses, created when missing.
    pub database: String,
    /// A `.mmdb` file for `REEL_GEOIP_DB`; `None` lets the edge API generate its demo database.
    pub geoip_db: Option<PathBuf>,
}

impl Default for DevOptions {
    fn default() -> Self {
        Self {
            admin_url: DEFAULT_ADMIN_URL.to_owned(),
            database: "reel_dev".to_owned(),
            geoip_db: None,
        }
    }
}

/// The running backends; dropping this value stops them (the database stays).
#[derive(Debug)]
pub struct Backends {
    memcached: Vec<Memcached>,
    redis: Redis,
    search: Search,
    database_url: String,
    geoip_db: Option<PathBuf>,
}

impl Backends {
    /// Starts every backend; fails naming the one that could not start and what to do.
    pub fn start(options: &DevOptions) -> Result<Self> {
        let memcached = Memcached::cluster(2)
            .context("starting memcached (is it installed? `cargo xtask setup` installs it)")?;
        let redis = Redis::start()
            .context("starting redis (is it installed? `cargo xtask setup` installs it)")?;
        let search = Search::start().context(
            "starting the search server (osmem-server from `cargo xtask setup`, or set REEL_ES_URL)",
        )?;
        let database_url = ensure_database(&options.admin_url, &options.database)?;
        if let Some(path) = &options.geoip_db
            && !path.is_file()
        {
            bail!("--geoip-db {}: no such file", path.display());
        }
        Ok(Self {
            memcached,
            redis,
            search,
            database_url,
            geoip_db: options.geoip_db.clone(),
        })
    }

    /// The `REEL_*` variables that point the edge API at these backends.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let servers: Vec<String> = self.memcached.iter().map(|m| m.host_port()).collect();
        let mut env = vec![
            ("REEL_DATABASE_URL", self.database_url.clone()),
            ("REEL_MEMCACHE_SERVERS", servers.join(",")),
            ("REEL_REDIS_URL", self.redis.url()),
            ("REEL_ES_URL", self.search.url().to_owned()),
        ];
        if let Some(path) = &self.geoip_db {
            env.push(("REEL_GEOIP_DB", path.display().to_string()));
        }
        env
    }
}

/// Creates `database` on the server at `admin_url` when it does not exist; returns its URL.
fn ensure_database(admin_url: &str, database: &str) -> Result<String> {
    if database.is_empty()
        || !database
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("--database `{database}`: use lower-case letters, digits and _");
    }
    let psql = |url: &str, sql: &str| -> Result<String> {
        let output = Command::new("psql")
            .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .context("running psql (install the PostgreSQL client: `cargo xtask setup`)")?;
        if !output.status.success() {
            bail!(
                "psql {url}: {} (is PostgreSQL running? `cargo xtask setup` installs and starts it)",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let exists = psql(
        admin_url,
        &format!("SELECT 1 FROM pg_database WHERE datname = '{database}'"),
    )?;
    if exists != "1" {
        psql(admin_url, &format!("CREATE DATABASE {database}"))?;
        eprintln!("created the PostgreSQL database `{database}`");
    }
    Ok(with_database(admin_url, database))
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority..].find('/') {
        Some(slash) => &base[..authority + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// `cargo xtask dev [--run] [--database NAME] [--admin-url URL] [--geoip-db FILE]`.
pub fn run(args: &ArgMatches) -> Result<()> {
    let run_api = args.get_flag("run");
    let mut options = DevOptions::default();
    if let Some(database) = cli::value(args, "database") {
        options.database = database;
    }
    if let Some(url) = cli::value(args, "admin-url") {
        options.admin_url = url;
    }
    options.geoip_db = cli::value(args, "geoip-db").map(PathBuf::from);

    let (stop, stopped) = mpsc::channel::<()>();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("installing the Ctrl-C handler")?;

    eprintln!(
        "starting memcached x2, redis, the search server and PostgreSQL `{}`...",
        options.database
    );
    let backends = Backends::start(&options)?;
    let env = backends.env();
    if run_api {
        eprintln!("running the edge API with:");
        for (name, value) in &env {
            eprintln!("  {name}={value}");
        }
        // Ctrl-C reaches the edge API too (same process group); it stops gracefully, then the
        // backends stop when `backends` is dropped.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["run", "-q", "-p", "example-edge-api"])
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .status()
            .context("running `cargo run -p example-edge-api`")?;
        drop(backends);
        if !status.success() && status.code().is_some() {
            bail!("the edge API exited with {status}");
        }
        return Ok(());
    }
    println!("# the local backends are up; paste these lines into another shell:");
    for (name, value) in &env {
        println!("export {name}='{value}'");
    }
    println!("# then: cargo run -p example-edge-api");
    if backends.geoip_db.is_none() {
        println!("# (REEL_GEOIP_DB unset: the edge API generates its demo geo database)");
    }
    eprintln!("press Ctrl-C to stop the backends");
    let _ = stopped.recv();
    eprintln!(
        "stopping the backends (the database `{}` stays)",
        options.database
    );
    drop(backends);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_replaces_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "reel_dev"),
            "postgres://postgres@127.0.0.1:5432/reel_dev"
        );
        assert_eq!(
            with_database("postgres://u:p@db/postgres?sslmode=disable", "edge"),
            "postgres://u:p@db/edge?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://db:5432", "edge"),
            "postgres://db:5432/edge"
        );
    }

    #[test]
    fn database_names_are_checked() {
        assert!(ensure_database(DEFAULT_ADMIN_URL, "bad name; DROP").is_err());
        assert!(ensure_database(DEFAULT_ADMIN_URL, "").is_err());
    }
}
