//! IP geolocation from MaxMind databases that reload live with no failed lookup.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
