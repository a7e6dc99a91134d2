//! Manage a whole memcached or redis cluster as one.

pub mod discovery;
pub mod node;
pub mod ring;

pub use discovery::{BoxFuture, Discovery, DiscoveryError, ElastiCacheDiscovery, FileDiscovery, StaticDiscovery};
#[cfg(feature = "dns")]
pub use discovery::DnsDiscovery;
pub use node::{Node, ParseNodeError, Topology};
pub use ring::{Ketama, Placement, Rendezvous, Router};
