//! Manage connections to a whole memcached or redis cluster: discovery, consistent hashing, per-node pools, health.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
