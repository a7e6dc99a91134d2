//! JSON:API 1.1 documents: serialize, deserialize, validate, errors and query parameters.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
