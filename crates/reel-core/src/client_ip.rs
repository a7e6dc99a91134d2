//! The client's IP address behind reverse proxies: one header, chosen to match what the proxy
//! in front of the service writes, believed only as far as trusted proxies vouch for it.
//!
//! A proxy header is written by whoever sends the request. It tells the truth only in the
//! parts that the operator's own proxies wrote, so a [`ClientIpResolver`] reads exactly one
//! header — the one those proxies write ([`ProxyHeader`]) — and never falls back to another
//! one: a front that appends to `X-Forwarded-For` (AWS ALB, nginx's
//! `$proxy_add_x_forwarded_for`) passes a client-sent `Forwarded` through untouched, and
//! believing that header would let the client pick its own address.
//!
//! The walk starts at the TCP peer. A peer that is not a [`TrustedProxies`] member is the
//! client, whatever its headers say. Otherwise the list header is read from the right (the
//! end that the nearest proxy appended to): each trusted address vouches for the entry to its
//! left, and the first address that is not trusted is the client. A malformed entry, an
//! `unknown` or an obfuscated identifier stops the walk at the last address that a trusted
//! hop vouched for. With a hop count ([`ClientIpResolver::hop_count`], Envoy's
//! `xff_num_trusted_hops`) the walk goes at most that many entries deep.
//!
//! | Front | Resolver | Preset name |
//! |---|---|---|
//! | none, the service faces the internet | [`ClientIpResolver::direct`] | `direct` |
//! | proxies appending to `X-Forwarded-For` | [`ClientIpResolver::x_forwarded_for`] | `x-forwarded-for` |
//! | proxies appending RFC 7239 `Forwarded` | [`ClientIpResolver::forwarded`] | `forwarded` |
//! | AWS Application Load Balancer | [`ClientIpResolver::aws_alb`] | `aws-alb` |
//! | CloudFront in front of an ALB | [`ClientIpResolver::cloudfront_alb`] | `cloudfront-alb` |
//! | nginx setting `X-Real-IP $remote_addr` | [`ClientIpResolver::nginx_real_ip`] | `nginx-real-ip` |
//! | Cloudflare (`CF-Connecting-IP`) | [`ClientIpResolver::cloudflare`] | `cloudflare` |
//! | CloudFront's `CloudFront-Viewer-Address` (direct, or through an ALB that only CloudFront reaches) | [`ClientIpResolver::cloudfront_viewer_address`] | `cloudfront-viewer-address` |
//! | a fixed number of appending proxies (Envoy, Kubernetes ingress) | [`ClientIpResolver::hop_count`] | `hops:N` |
//!
//! Hostile input is expected: entries past [`MAX_HOPS`] are never parsed, a huge header costs
//! at most one scan of its bytes and no allocation per entry, and nothing panics (the unit
//! tests fuzz the parsers with proptest).
//!
//! CIDR networks are [`ipnet::IpNet`] (re-exported as [`IpNet`]).

use std::fmt;
#[cfg(feature = "http")]
use std::net::SocketAddr;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::str::FromStr;

/// An IP network in CIDR form: the [`ipnet`] crate's type, re-exported.
///
/// Until reel-core 0.1 this was a hand-written type with the same name; with `ipnet`,
/// `IpNet::new` returns a `Result` and keeps the host bits (call [`IpNet::trunc`]), and
/// parsing needs a prefix length. [`TrustedProxies`] still parses bare addresses.
pub use ipnet::IpNet;

mod header;

use header::{Walk, parse_node, parse_viewer_address, single_value};

/// The most entries of a list header that a walk reads: no deployment has more proxies, and
/// the bound keeps a hostile header cheap: both list headers are split lazily from the right,
/// and no walk looks past this many entries.
/// A walk that reaches it ends at the address it reached (a trusted proxy).
pub const MAX_HOPS: usize = 64;

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpNetParseError(String);

impl fmt::Display for IpNetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an IP address or CIDR network (expected e.g. 10.0.0.0/8, fd00::/8 or 127.0.0.1)",
            self.0
        )
    }
}

impl std::error::Error for IpNetParseError {}

/// Parses `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128). Host bits are cleared
/// and an IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) becomes its IPv4 network.
fn parse_net(text: &str) -> Result<IpNet, IpNetParseError> {
    let error = || IpNetParseError(text.trim().to_owned());
    let text = text.trim();
    let net = match text.split_once('/') {
        Some(_) => text.parse::<IpNet>().map_err(|_| error())?,
        None => IpNet::from(text.parse::<IpAddr>().map_err(|_| error())?),
    };
    Ok(canonical_net(net))
}

fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    match (net, net.addr().to_canonical()) {
        (IpNet::V6(v6), IpAddr::V4(v4)) if v6.prefix_len() >= 96 => {
            IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).map_or(net, |n| n.trunc())
        }
        _ => net,
    }
}

/// The set of proxies whose forwarding headers are believed.
///
/// ```
/// use reel_core::client_ip::TrustedProxies;
///
/// let trusted: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse().unwrap();
/// assert!(trusted.contains("10.1.2.3".parse().unwrap()));
/// assert!(!trusted.contains("203.0.113.9".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trusts nobody: the TCP peer is always the client. The safe default for a service that
    /// faces the internet directly.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts the given networks (host bits are ignored).
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            networks: networks.into_iter().map(canonical_net).collect(),
        }
    }

    /// Trusts every address. Only for a service that nothing but its proxies can reach (a
    /// private network, a Kubernetes pod behind its ingress) together with a
    /// [hop count](ClientIpResolver::hop_count): then the count alone decides.
    pub fn any() -> Self {
        Self::new(
            ["0.0.0.0/0", "::/0"]
                .iter()
                .filter_map(|n| parse_net(n).ok()),
        )
    }

    /// Trusts loopback (`127.0.0.0/8`, `::1`): a proxy on the same host.
    pub fn loopback() -> Self {
        Self::new(
            ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| parse_net(n).ok()),
        )
    }

    /// Trusts loopback, private (RFC 1918), unique-local (`fc00::/7`) and link-local networks:
    /// load balancers inside a VPC or a cluster network.
    pub fn private_networks() -> Self {
        Self::new(
            [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
                "fc00::/7",
                "fe80::/10",
            ]
            .iter()
            .filter_map(|n| parse_net(n).ok()),
        )
    }

    /// These networks and `other`'s.
    pub fn union(mut self, other: &TrustedProxies) -> Self {
        self.networks.extend(other.networks.iter().copied());
        self
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.networks
    }

    /// Whether `ip` belongs to a trusted proxy. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.networks
            .iter()
            .any(|net| net.contains(&canonical) || net.contains(&ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = IpNetParseError;

    /// A comma- or whitespace-separated list of addresses and CIDR networks.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(parse_net)
            .collect::<Result<Vec<IpNet>, _>>()
            .map(Self::new)
    }
}

/// The one header a [`ClientIpResolver`] reads. No other header is ever consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `X-Forwarded-For`: a comma-separated list, each proxy appending the address it
    /// received the request from. What AWS ALB, CloudFront, nginx, HAProxy, Envoy and most
    /// Kubernetes ingresses write.
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239): the `for=` parameter of each element, each proxy appending an
    /// element. Only for fronts configured to write it (e.g. nginx with
    /// `proxy_set_header Forwarded "$proxy_add_forwarded"`, HAProxy's `option forwarded`).
    Forwarded,
    /// `X-Real-IP`: one address, replaced (not appended to) by the proxy, as nginx's
    /// `proxy_set_header X-Real-IP $remote_addr` does.
    XRealIp,
    /// `CF-Connecting-IP`: one address, set by Cloudflare's edge.
    CfConnectingIp,
    /// `CloudFront-Viewer-Address`: the viewer's address and source port, set by CloudFront
    /// when an origin request policy includes it: `198.51.100.10:46532`, and IPv6 without
    /// brackets, the port after the last colon (`2001:db8::17:46532`).
    CloudFrontViewerAddress,
}

impl ProxyHeader {
    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
            Self::XRealIp => "x-real-ip",
            Self::CfConnectingIp => "cf-connecting-ip",
            Self::CloudFrontViewerAddress => "cloudfront-viewer-address",
        }
    }

    /// The header's name as an `http::HeaderName` (a constant: no parsing per request).
    #[cfg(feature = "http")]
    pub fn header_name(self) -> http::HeaderName {
        const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
        const X_REAL_IP: http::HeaderName = http::HeaderName::from_static("x-real-ip");
        const CF_CONNECTING_IP: http::HeaderName =
            http::HeaderName::from_static("cf-connecting-ip");
        const CLOUDFRONT_VIEWER_ADDRESS: http::HeaderName =
            http::HeaderName::from_static("cloudfront-viewer-address");
        match self {
            Self::XForwardedFor => X_FORWARDED_FOR,
            Self::Forwarded => http::header::FORWARDED,
            Self::XRealIp => X_REAL_IP,
            Self::CfConnectingIp => CF_CONNECTING_IP,
            Self::CloudFrontViewerAddress => CLOUDFRONT_VIEWER_ADDRESS,
        }
    }

    /// Whether the header is a list that proxies append to (walked from the right), rather
    /// than a single address that the proxy sets.
    pub fn is_list(self) -> bool {
        matches!(self, Self::XForwardedFor | Self::Forwarded)
    }
}

impl fmt::Display for ProxyHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named deployment, for configuration files and environment variables; see the
/// [module docs](self) for the table and [`ClientIpResolver`]'s constructors for each.
///
/// ```
/// use reel_core::client_ip::{ClientIpPreset, TrustedProxies};
///
/// let preset: ClientIpPreset = "aws-alb".parse().unwrap();
/// let resolver = preset.resolver("10.0.0.0/16".parse::<TrustedProxies>().unwrap());
/// let client = resolver.resolve("10.0.3.7".parse().unwrap(), ["6.6.6.6, 198.51.100.7"]);
/// assert_eq!(client, "198.51.100.7".parse::<std::net::IpAddr>().unwrap());
/// assert_eq!("hops:2".parse::<ClientIpPreset>().unwrap().to_string(), "hops:2");
/// assert!("alb-ish".parse::<ClientIpPreset>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientIpPreset {
    /// [`ClientIpResolver::direct`] (`direct`).
    Direct,
    /// [`ClientIpResolver::x_forwarded_for`] (`x-forwarded-for` or `xff`).
    XForwardedFor,
    /// [`ClientIpResolver::forwarded`] (`forwarded`).
    Forwarded,
    /// [`ClientIpResolver::aws_alb`] (`aws-alb` or `alb`).
    AwsAlb,
    /// [`ClientIpResolver::cloudfront_alb`] (`cloudfront-alb`).
    CloudFrontAlb,
    /// [`ClientIpResolver::nginx_real_ip`] (`nginx-real-ip`).
    NginxRealIp,
    /// [`ClientIpResolver::cloudflare`] (`cloudflare`).
    Cloudflare,
    /// [`ClientIpResolver::cloudfront_viewer_address`] (`cloudfront-viewer-address` or
    /// `cloudfront`).
    CloudFrontViewerAddress,
    /// [`ClientIpResolver::hop_count`] (`hops:N`, N from 1 to [`MAX_HOPS`]).
    HopCount(NonZeroUsize),
}

impl ClientIpPreset {
    /// The resolver for this deployment, trusting `trusted` (the proxies' networks; see each
    /// constructor for what belongs there).
    pub fn resolver(self, trusted: TrustedProxies) -> ClientIpResolver {
        match self {
            Self::Direct => ClientIpResolver::direct(),
            Self::XForwardedFor => ClientIpResolver::x_forwarded_for(trusted),
            Self::Forwarded => ClientIpResolver::forwarded(trusted),
            Self::AwsAlb => ClientIpResolver::aws_alb(trusted),
            Self::CloudFrontAlb => ClientIpResolver::cloudfront_alb(trusted),
            Self::NginxRealIp => ClientIpResolver::nginx_real_ip(trusted),
            Self::Cloudflare => ClientIpResolver::cloudflare(trusted),
            Self::CloudFrontViewerAddress => ClientIpResolver::cloudfront_viewer_address(trusted),
            Self::HopCount(hops) => ClientIpResolver::hop_count(trusted, hops),
        }
    }
}

impl fmt::Display for ClientIpPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct => f.write_str("direct"),
            Self::XForwardedFor => f.write_str("x-forwarded-for"),
            Self::Forwarded => f.write_str("forwarded"),
            Self::AwsAlb => f.write_str("aws-alb"),
            Self::CloudFrontAlb => f.write_str("cloudfront-alb"),
            Self::NginxRealIp => f.write_str("nginx-real-ip"),
            Self::Cloudflare => f.write_str("cloudflare"),
            Self::CloudFrontViewerAddress => f.write_str("cloudfront-viewer-address"),
            Self::HopCount(hops) => write!(f, "hops:{hops}"),
        }
    }
}

/// Why a preset name could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIpPresetParseError(String);

impl fmt::Display for ClientIpPresetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a client-IP setting; use one of direct, x-forwarded-for, forwarded, \
             aws-alb, cloudfront-alb, cloudfront-viewer-address, nginx-real-ip, cloudflare or hops:N \
             (N from 1 to {MAX_HOPS})",
            self.0
        )
    }
}

impl std::error::Error for ClientIpPresetParseError {}

impl FromStr for ClientIpPreset {
    type Err = ClientIpPresetParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase();
        let error = || ClientIpPresetParseError(text.trim().to_owned());
        Ok(match name.as_str() {
            "direct" | "none" => Self::Direct,
            "x-forwarded-for" | "xff" => Self::XForwardedFor,
            "forwarded" => Self::Forwarded,
            "aws-alb" | "alb" => Self::AwsAlb,
            "cloudfront-alb" => Self::CloudFrontAlb,
            "nginx-real-ip" | "x-real-ip" => Self::NginxRealIp,
            "cloudflare" => Self::Cloudflare,
            "cloudfront-viewer-address" | "cloudfront" => Self::CloudFrontViewerAddress,
            _ => {
                let count = name.strip_prefix("hops:").ok_or_else(error)?;
                let hops = count
                    .trim()
                    .parse::<NonZeroUsize>()
                    .ok()
                    .filter(|n| n.get() <= MAX_HOPS)
                    .ok_or_else(error)?;
                Self::HopCount(hops)
            }
        })
    }
}

/// Resolves the client IP of a request from its TCP peer and the one proxy header that the
/// operator's front writes; see the [module docs](self).
///
/// ```
/// use std::net::IpAddr;
/// use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
///
/// let resolver = ClientIpResolver::x_forwarded_for(TrustedProxies::private_networks());
/// let balancer: IpAddr = "10.0.0.5".parse().unwrap();
///
/// // The balancer appended the address it saw; the client's own claim is ignored.
/// let client = resolver.resolve(balancer, ["6.6.6.6, 198.51.100.7"]);
/// assert_eq!(client, "198.51.100.7".parse::<IpAddr>().unwrap());
///
/// // A peer that is not trusted is the client, whatever its headers say.
/// let direct: IpAddr = "203.0.113.1".parse().unwrap();
/// assert_eq!(resolver.resolve(direct, ["1.2.3.4"]), direct);
///
/// // RFC 7239 `Forwarded` is read only by a resolver made for it.
/// let rfc = ClientIpResolver::forwarded(TrustedProxies::private_networks());
/// let client = rfc.resolve(balancer, [r#"for="[2001:db8::17]:4711";proto=https"#]);
/// assert_eq!(client, "2001:db8::17".parse::<IpAddr>().unwrap());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIpResolver {
    trusted: TrustedProxies,
    header: ProxyHeader,
    hops: Option<NonZeroUsize>,
}

impl ClientIpResolver {
    /// The same as [`x_forwarded_for`](Self::x_forwarded_for).
    pub fn new(trusted: TrustedProxies) -> Self {
        Self::x_forwarded_for(trusted)
    }

    /// No proxy: the TCP peer is the client. For a service that faces the internet (or a
    /// layer-4 load balancer that keeps the client's address, like AWS NLB with client IP
    /// preservation). The [`Default`].
    pub fn direct() -> Self {
        Self::default()
    }

    /// `X-Forwarded-For` walked from the right through the `trusted` proxies: for any chain of
    /// proxies that append to it, when their addresses are known (loopback for a proxy on the
    /// same host, the private networks of a VPC). A client inside a trusted network can
    /// extend the chain with its own entries; when clients share the proxies' networks use
    /// [`hop_count`](Self::hop_count) or [`aws_alb`](Self::aws_alb).
    pub fn x_forwarded_for(trusted: TrustedProxies) -> Self {
        Self {
            trusted,
            header: ProxyHeader::XForwardedFor,
            hops: None,
        }
    }

    /// `Forwarded` (RFC 7239) walked from the right through the `trusted` proxies. Only for
    /// fronts configured to write it: most append to `X-Forwarded-For` and pass a client's
    /// `Forwarded` through untouched.
    pub fn forwarded(trusted: TrustedProxies) -> Self {
        Self {
            trusted,
            header: ProxyHeader::Forwarded,
            hops: None,
        }
    }

    /// AWS Application Load Balancer (`X-Forwarded-For` processing mode `append`, the
    /// default): the rightmost `X-Forwarded-For` entry is the address the balancer saw.
    /// `vpc` holds the balancer's subnets (its nodes connect from there); a request from
    /// elsewhere did not come through the balancer and is keyed by its peer.
    pub fn aws_alb(vpc: TrustedProxies) -> Self {
        Self::hop_count(vpc, NonZeroUsize::MIN)
    }

    /// CloudFront in front of an ALB: CloudFront appends the viewer's address and the
    /// balancer appends CloudFront's, so the client is the second entry from the right.
    /// `trusted` holds the balancer's subnets and CloudFront's origin-facing ranges (AWS's
    /// `ip-ranges.json`, service `CLOUDFRONT_ORIGIN_FACING`, or the managed prefix list): a
    /// request that reached the balancer without CloudFront then resolves to its own
    /// address instead of the entry it wrote.
    pub fn cloudfront_alb(trusted: TrustedProxies) -> Self {
        Self::hop_count(trusted, NonZeroUsize::MIN.saturating_add(1))
    }

    /// nginx setting `proxy_set_header X-Real-IP $remote_addr` (after its own `real_ip`
    /// module, if any, has found the client): `X-Real-IP`, believed from `nginx` only.
    /// nginx replaces the header, so a client-sent one never arrives; a request with several
    /// `X-Real-IP` lines or a malformed one resolves to its peer.
    pub fn nginx_real_ip(nginx: TrustedProxies) -> Self {
        Self {
            trusted: nginx,
            header: ProxyHeader::XRealIp,
            hops: None,
        }
    }

    /// Cloudflare: `CF-Connecting-IP`, believed only when the peer is in `cloudflare`, the
    /// ranges Cloudflare publishes (<https://www.cloudflare.com/ips/>) that the operator keeps
    /// up to date. Anyone else reaching the origin directly is keyed by its own address.
    pub fn cloudflare(cloudflare: TrustedProxies) -> Self {
        Self {
            trusted: cloudflare,
            header: ProxyHeader::CfConnectingIp,
            hops: None,
        }
    }

    /// CloudFront's `CloudFront-Viewer-Address` header (add it to the origin request policy):
    /// the viewer's address as CloudFront saw it, with its source port, which is dropped.
    /// Believed only when the peer is in `trusted`: CloudFront's origin-facing ranges (AWS's
    /// `ip-ranges.json`, service `CLOUDFRONT_ORIGIN_FACING`) when CloudFront connects to the
    /// service, or the balancer's subnets behind CloudFront → ALB — then the balancer must
    /// accept only CloudFront (security group on the `com.amazonaws.global.cloudfront.origin-facing`
    /// managed prefix list), because an ALB passes a client-sent `CloudFront-Viewer-Address`
    /// through. Several lines or a value that is not `address:port` resolve to the peer. Unlike
    /// [`cloudfront_alb`](Self::cloudfront_alb), no hop count to get right and no
    /// `X-Forwarded-For` processing mode on the balancer matters.
    pub fn cloudfront_viewer_address(trusted: TrustedProxies) -> Self {
        Self {
            trusted,
            header: ProxyHeader::CloudFrontViewerAddress,
            hops: None,
        }
    }

    /// A fixed number of proxies, each appending to `X-Forwarded-For`: the client is the
    /// `hops`th entry from the right, unless an entry before it is not in `trusted` (then
    /// that entry is the client: the request skipped the first proxies). Behind an Envoy
    /// with `use_remote_address: true` and `xff_num_trusted_hops: K`, `hops` is K + 1 (the K
    /// proxies Envoy trusts, and Envoy itself). With [`TrustedProxies::any`] the count
    /// alone decides, which is right only when nothing but the proxies can reach the service.
    /// A chain shorter than `hops` ends at its leftmost entry, which a trusted proxy wrote.
    pub fn hop_count(trusted: TrustedProxies, hops: NonZeroUsize) -> Self {
        Self {
            trusted,
            header: ProxyHeader::XForwardedFor,
            hops: Some(hops),
        }
    }

    /// Reads `header` instead (keeping the trusted proxies and the hop count).
    pub fn with_header(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    /// Walks at most `hops` entries of a list header (`None`: up to [`MAX_HOPS`]).
    pub fn with_hop_count(mut self, hops: Option<NonZeroUsize>) -> Self {
        self.hops = hops;
        self
    }

    /// The trusted proxies.
    pub fn trusted(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The header this resolver reads.
    pub fn header(&self) -> ProxyHeader {
        self.header
    }

    /// The hop count, if the walk is bounded by one.
    pub fn hop_count_limit(&self) -> Option<NonZeroUsize> {
        self.hops
    }

    /// The client IP. `values` are the values of every occurrence of
    /// [`header`](Self::header) in the order received (other headers are not looked at).
    /// Malformed entries are never believed: the walk stops at the last address that a
    /// trusted hop vouched for.
    pub fn resolve<'a, I>(&self, peer: IpAddr, values: I) -> IpAddr
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: DoubleEndedIterator,
    {
        self.resolve_lines(peer, values.into_iter().map(Some))
    }

    /// [`resolve`](Self::resolve) with the header read from an `http::HeaderMap`; a value that
    /// is not visible ASCII is a malformed entry.
    #[cfg(feature = "http")]
    pub fn resolve_headers(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        let lines = headers
            .get_all(self.header.header_name())
            .iter()
            .map(|value| value.to_str().ok());
        self.resolve_lines(peer, lines)
    }

    /// The client IP of a request: its peer address ([`peer_addr`]) resolved with its
    /// headers. `None` when the server recorded no peer address.
    #[cfg(feature = "http")]
    pub fn resolve_request<B>(&self, request: &http::Request<B>) -> Option<IpAddr> {
        let peer = peer_addr(request.extensions())?;
        Some(self.resolve_headers(peer.ip(), request.headers()))
    }

    /// The walk over header lines; `None` is a line that is not text (malformed).
    fn resolve_lines<'a>(
        &self,
        peer: IpAddr,
        lines: impl DoubleEndedIterator<Item = Option<&'a str>>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted.contains(peer) {
            return peer;
        }
        if !self.header.is_list() {
            let parse = match self.header {
                ProxyHeader::CloudFrontViewerAddress => parse_viewer_address,
                _ => parse_node,
            };
            return single_value(lines, parse).unwrap_or(peer);
        }
        let limit = self.hops.map_or(MAX_HOPS, |n| n.get().min(MAX_HOPS));
        let mut walk = Walk {
            trusted: &self.trusted,
            client: peer,
            seen: 0,
            limit,
        };
        for line in lines.rev() {
            let Some(line) = line else { return walk.client };
            if line.trim().is_empty() {
                continue;
            }
            let flow = match self.header {
                ProxyHeader::Forwarded => walk.forwarded_line(line),
                _ => walk.xff_line(line),
            };
            if let ControlFlow::Break(client) = flow {
                return client;
            }
        }
        walk.client
    }
}

/// The TCP peer of a request, from its extensions: axum's `ConnectInfo<SocketAddr>` (with
/// feature `axum`; serve with `into_make_service_with_connect_info::<SocketAddr>()`), else a
/// plain `SocketAddr` that a hyper service inserted. Every reel crate reads the peer through
/// this one function, so the layers of one service always agree on it.
#[cfg(feature = "http")]
pub fn peer_addr(extensions: &http::Extensions) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    extensions.get::<SocketAddr>().copied()
}

#[cfg(test)]
mod tests;
