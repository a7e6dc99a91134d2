//! A fresh PostgreSQL database per test run.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Error;
use crate::tools::find_program;

/// The server used when `REEL_DATABASE_URL` is not set: the local one, trust auth.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for this test run on `REEL_DATABASE_URL` (or the local server), dropped
/// with everything in it when this value is dropped.
///
/// The database is created with the `psql` client, so the testkit needs no database driver;
/// tests connect with whatever client they use through [`url`](Self::url).
#[derive(Debug)]
pub struct Postgres {
    admin_url: String,
    database: String,
    url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Postgres {
    /// Creates a fresh, uniquely named database.
    pub fn start() -> Result<Self, Error> {
        let admin_url =
            std::env::var("REEL_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let database = format!(
            "reel_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        psql(&admin_url, &format!("CREATE DATABASE {database}"))?;
        let url = with_database(&admin_url, &database);
        Ok(Self {
            admin_url,
            database,
            url,
        })
    }

    /// The connection URL of the fresh database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The fresh database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Runs SQL in the fresh database with `psql` (for fixtures).
    pub fn execute(&self, sql: &str) -> Result<String, Error> {
        psql(&self.url, sql)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
        );
    }
}

/// Replaces the database name (the URL path) of `url`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..path_start], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn psql(url: &str, sql: &str) -> Result<String, Error> {
    let program = find_program("psql").ok_or_else(|| Error::Missing {
        program: "psql".into(),
        install: "sudo apt-get install -y postgresql-client".into(),
    })?;
    let output = Command::new(program)
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .output()
        .map_err(Error::io("running psql"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::NotReady {
            server: "PostgreSQL".into(),
            detail: format!(
                "`{sql}` failed: {}. Is PostgreSQL running? Set REEL_DATABASE_URL to a server where you may create databases.",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
