//! Map Rust models to Elasticsearch indices, query them with a typed DSL, and reindex with zero downtime.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
