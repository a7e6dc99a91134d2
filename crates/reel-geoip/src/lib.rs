#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod database;
mod error;
mod file;
mod location;
pub mod metrics;
mod service;

#[cfg(feature = "download")]
mod download;
#[cfg(feature = "testdata")]
pub mod testdata;
#[cfg(feature = "tower")]
pub mod tower;

pub use database::{Database, DatabaseInfo};
pub use error::Error;
pub use file::FileSource;
pub use location::{
    AnonymousIp, Asn, Country, Isp, Locales, Location, Place, RepresentedCountry, Traits,
};
#[cfg(feature = "metrics")]
pub use metrics::describe_metrics;
pub use service::{
    Check, GeoIp, GeoIpBuilder, GeoLookup, ReloadEvent, ReloadOutcome, Slot, SlotStatus,
};

#[cfg(feature = "download")]
pub use download::{DownloadSource, MAXMIND_BASE_URL, Updater};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::client_ip::{ClientIpPreset, ClientIpResolver, IpNet, TrustedProxies};
pub use reel_core::{
    BackgroundTask, Backoff, Clock, Jitter, ManualClock, SecretError, SecretSource, SharedClock,
    SystemClock, TaskError,
};
