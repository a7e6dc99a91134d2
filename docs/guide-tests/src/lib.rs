//! The guide's Rust blocks, compiled: each chapter of `docs/src` is included as the docs of a
//! module here, so `cargo test --doc -p reel-guide-tests` compiles every ```` ```rust ```` block
//! of the book (and runs those not marked `no_run`) against today's crates. A block marked
//! `ignore` says why on the line before it (`<!-- ignore: reason -->`); blocks that need a server
//! are `no_run`. `xtask/tests/guide_blocks.rs` checks both that every chapter with a Rust block is
//! included here and that reason. `cargo xtask test` runs these with the other doctests.

#[doc = include_str!("../../src/herd.md")]
mod herd {}
#[doc = include_str!("../../src/ratelimit.md")]
mod ratelimit {}
#[doc = include_str!("../../src/jsonapi.md")]
mod jsonapi {}
#[doc = include_str!("../../src/search.md")]
mod search {}
#[doc = include_str!("../../src/cloudfront.md")]
mod cloudfront {}
#[doc = include_str!("../../src/geoip.md")]
mod geoip {}
#[doc = include_str!("../../src/ops/scaling-cache.md")]
mod scaling_cache {}
#[doc = include_str!("../../src/ops/mapping-changes.md")]
mod mapping_changes {}
#[doc = include_str!("../../src/ops/cloudfront-key-rotation.md")]
mod cloudfront_key_rotation {}
#[doc = include_str!("../../src/ops/geo-data-fresh.md")]
mod geo_data_fresh {}
#[doc = include_str!("../../src/ops/rate-limit-store.md")]
mod rate_limit_store {}
#[doc = include_str!("../../src/ops/client-ip.md")]
mod client_ip {}
