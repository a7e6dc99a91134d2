//! Distributed leaky-bucket (GCRA) rate limiter with memory, memcache and redis stores and a tower layer.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
