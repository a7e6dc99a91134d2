//! Starts real servers on loopback for reel's tests and stops them on drop.
//!
//! Tests in reel talk to the real thing: [`Memcached`] and [`Redis`] processes on ephemeral
//! ports (several at once, with [`kill`](Memcached::kill) and [`restart`](Memcached::restart)
//! to simulate node failures), a fresh [`Postgres`] database per test run, and a [`Search`]
//! server — a real [`OpenSearch`] node shared by the test binary (built from Maven Central by
//! `cargo xtask setup`), the `osmem-server` emulator with `REEL_SEARCH_ENGINE=osmem`, or any
//! cluster at `REEL_ES_URL`. What is missing fails the test with the command that installs it; nothing silently
//! passes.
//!
//! ```no_run
//! use reel_testkit::{Memcached, Redis};
//!
//! let mut nodes = Memcached::cluster(2)?;
//! let redis = Redis::start()?;
//! println!("memcached at {} and {}, redis at {}", nodes[0].addr(), nodes[1].addr(), redis.url());
//! nodes[1].kill();
//! assert!(!nodes[1].is_running());
//! nodes[1].restart()?;
//! # Ok::<(), reel_testkit::Error>(())
//! ```
//!
//! Where tools are found: `cargo xtask setup` installs Debian packages system-wide, and creates
//! a Python venv (`reel-venv`) and an npm prefix (`reel-node`) inside the Cargo target
//! directory. [`tools_dir`] finds that directory from the running test binary, so a custom
//! `CARGO_TARGET_DIR` works too; `REEL_TOOLS_DIR` overrides it.

pub mod cli;
mod error;
#[cfg(feature = "metrics")]
pub mod metrics;
mod opensearch;
mod postgres;
mod process;
mod redis_cluster;
mod search;
mod tools;
mod wait;

pub use error::Error;
pub use opensearch::{OPENSEARCH_DIR, OPENSEARCH_VERSION, OpenSearch};
pub use postgres::{DEFAULT_ADMIN_URL, Postgres};
pub use process::{Memcached, Redis, free_port, wait_for_port};
pub use redis_cluster::RedisCluster;
pub use search::{Engine, Search};
pub use tools::{node_modules, python, tools_dir, venv_bin};
pub use wait::eventually;

/// The command that installs everything reel's tests need.
pub const SETUP_COMMAND: &str = "cargo xtask setup";
