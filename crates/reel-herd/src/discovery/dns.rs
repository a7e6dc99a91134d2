//! DNS discovery: the addresses behind a name (A/AAAA) or its SRV records.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveErrorKind, TokioResolver};

use super::{BoxFuture, Discovery, DiscoveryError};
use crate::node::Node;

/// Resolves a name on every poll, the way a Kubernetes headless service or a Route 53
/// multi-value record exposes a cluster.
///
/// - [`DnsDiscovery::a`]: every address of the name becomes a node on `port` — its IPv4
///   addresses when it has any, its IPv6 addresses otherwise (a dual-stack server is one
///   node, not two);
/// - [`DnsDiscovery::srv`]: every SRV record of the lowest priority value becomes a node at
///   its target and port (higher values are backups and take no traffic; the target name is
///   kept, so ketama placement follows names, not addresses).
///
/// Record TTLs are honoured by the resolver's cache. A name that resolves to nothing is
/// reported as a failure, so the cluster keeps its last good topology.
#[derive(Debug)]
pub struct DnsDiscovery {
    name: String,
    mode: Mode,
    resolver: TokioResolver,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Addresses { port: u16 },
    Srv,
}

impl DnsDiscovery {
    /// Nodes are the A/AAAA addresses of `name`, each on `port`; the system resolver
    /// configuration (`/etc/resolv.conf`) is used.
    pub fn a(name: impl Into<String>, port: u16) -> Result<Self, DiscoveryError> {
        Ok(Self::with_resolver(
            name,
            Mode::Addresses { port },
            system_resolver()?,
        ))
    }

    /// Nodes are the SRV records of `name` (for example `_memcache._tcp.cache.svc`).
    pub fn srv(name: impl Into<String>) -> Result<Self, DiscoveryError> {
        Ok(Self::with_resolver(name, Mode::Srv, system_resolver()?))
    }

    /// Like [`DnsDiscovery::a`], asking only the DNS server at `server` (UDP and TCP).
    pub fn a_with_server(name: impl Into<String>, port: u16, server: SocketAddr) -> Self {
        Self::with_resolver(name, Mode::Addresses { port }, server_resolver(server))
    }

    /// Like [`DnsDiscovery::srv`], asking only the DNS server at `server`.
    pub fn srv_with_server(name: impl Into<String>, server: SocketAddr) -> Self {
        Self::with_resolver(name, Mode::Srv, server_resolver(server))
    }

    fn with_resolver(name: impl Into<String>, mode: Mode, resolver: TokioResolver) -> Self {
        Self {
            name: name.into(),
            mode,
            resolver,
        }
    }

    async fn resolve(&self) -> Result<Vec<Node>, DiscoveryError> {
        let failed = |error: hickory_resolver::ResolveError| {
            if let ResolveErrorKind::Proto(proto) = error.kind()
                && proto.is_no_records_found()
            {
                return self.empty();
            }
            DiscoveryError::Io {
                source_name: self.name.clone(),
                error: std::io::Error::other(error.to_string()),
            }
        };
        let nodes: Vec<Node> = match self.mode {
            Mode::Addresses { port } => {
                let lookup = self
                    .resolver
                    .lookup_ip(self.name.as_str())
                    .await
                    .map_err(failed)?;
                let mut addresses: Vec<IpAddr> = lookup.iter().collect();
                // A dual-stack server has an A and an AAAA record: as two nodes it would own
                // twice its share of keys and be ejected twice. One family is used: IPv4 when
                // the name has any IPv4 address, IPv6 otherwise.
                if addresses.iter().any(IpAddr::is_ipv4) {
                    addresses.retain(IpAddr::is_ipv4);
                }
                // DNS servers rotate answers; a stable order keeps logs and diffs readable.
                addresses.sort();
                addresses.dedup();
                addresses
                    .into_iter()
                    .map(|ip| Node::new(ip.to_string(), port))
                    .collect()
            }
            Mode::Srv => {
                let lookup = self
                    .resolver
                    .srv_lookup(self.name.as_str())
                    .await
                    .map_err(failed)?;
                // RFC 2782: clients use the records of the lowest priority value; the others
                // are backups for when none of those answer, not members of the pool.
                let best = lookup
                    .iter()
                    .filter(|srv| srv.port() != 0)
                    .map(|srv| srv.priority())
                    .min();
                let mut nodes: Vec<Node> = lookup
                    .iter()
                    .filter(|srv| srv.port() != 0 && Some(srv.priority()) == best)
                    .map(|srv| {
                        let target = srv.target().to_utf8();
                        Node::new(target.trim_end_matches('.'), srv.port())
                            .with_weight(u32::from(srv.weight()))
                    })
                    .collect();
                nodes.sort();
                nodes
            }
        };
        if nodes.is_empty() {
            return Err(self.empty());
        }
        Ok(nodes)
    }

    fn empty(&self) -> DiscoveryError {
        DiscoveryError::Protocol {
            source_name: self.name.clone(),
            detail: "the name has no usable records".to_owned(),
        }
    }
}

fn options() -> ResolverOpts {
    let mut options = ResolverOpts::default();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options
}

fn system_resolver() -> Result<TokioResolver, DiscoveryError> {
    let builder = TokioResolver::builder_tokio().map_err(|error| DiscoveryError::Io {
        source_name: "the system resolver configuration".to_owned(),
        error: std::io::Error::other(error.to_string()),
    })?;
    Ok(builder.with_options(options()).build())
}

fn server_resolver(server: SocketAddr) -> TokioResolver {
    let servers = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
    let config = ResolverConfig::from_parts(None, Vec::new(), servers);
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(options())
        .build()
}

impl Discovery for DnsDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        Box::pin(self.resolve())
    }
}
