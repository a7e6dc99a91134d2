//! Project automation for reel, run as `cargo xtask <command>`.
//!
//! One module per command, in the style of rust-analyzer's xtask: [`setup`] installs what the
//! tests need, [`mod@test`] runs the workspace's tests, [`docs`] builds the API docs and the guide,
//! [`dev`] starts the local backends the edge API uses, [`drill`] runs an outage drill of
//! the whole stack, [`release`] cuts an independent release
//! of one crate and [`mod@bench`] runs the criterion benchmarks and prints a table of ratios
//! against each crate's peers; [`ci`] builds each crate the way its users do (alone, per
//! feature, packaged) and runs the release-safety checks; [`api`] writes each crate's public-API
//! snapshot (`api.txt`).
//!
//! The binary (`src/main.rs`) only parses the command line; everything it runs lives here so
//! that tests can drive it (the release flow is tested on a scratch git repository).

pub mod api;
pub mod bench;
pub mod ci;
pub mod cli;
pub mod dashboard;
pub mod dev;
pub mod docs;
pub mod drill;
pub mod mdbook;
pub mod metrics_cost;
pub mod metrics_instructions;
pub mod msrv;
pub mod prometheus;
pub mod release;
pub mod setup;
pub mod test;
pub mod workspace;
