//! Starts real servers (memcached, redis, PostgreSQL, a search server) on loopback for reel's tests.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
