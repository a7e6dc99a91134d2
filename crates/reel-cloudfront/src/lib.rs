//! CloudFront signed URLs and cookies, byte-compatible with AWS's SDKs, with key rotation.
//!
//! This crate is part of [reel](https://github.com/reel-rs/reel). Its functionality is being
//! built; see the workspace README for its status.
