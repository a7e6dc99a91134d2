//! The client's IP address behind reverse proxies, from `Forwarded` and `X-Forwarded-For`.
//!
//! Proxy headers are written by whoever sends the request, so they are believed only as far
//! as the chain of hops is made of proxies the operator trusts: starting at the TCP peer, each
//! trusted hop vouches for the address it forwarded from, and the first untrusted address is
//! the client. A peer that is not a trusted proxy is the client, whatever its headers say.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// An IP network in CIDR form (`10.0.0.0/8`, `fd00::/8`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// A network from an address and a prefix length; the host bits of `addr` are cleared.
    /// Returns `None` when the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) count
    /// as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let masked = if prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - u32::from(prefix)))
            };
            IpAddr::V4(Ipv4Addr::from(masked))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let masked = if prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - u32::from(prefix)))
            };
            IpAddr::V6(Ipv6Addr::from(masked))
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpNetParseError(String);

impl fmt::Display for IpNetParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an IP address or CIDR network (expected e.g. 10.0.0.0/8 or fd00::/8)",
            self.0
        )
    }
}

impl std::error::Error for IpNetParseError {}

impl FromStr for IpNet {
    type Err = IpNetParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || IpNetParseError(text.to_owned());
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| error())?)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| error())?;
        let addr = addr.to_canonical();
        let prefix = prefix.unwrap_or(if addr.is_ipv4() { 32 } else { 128 });
        Self::new(addr, prefix).ok_or_else(error)
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

    /// Trusts the given networks.
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            networks: networks.into_iter().collect(),
        }
    }

    /// Trusts loopback (`127.0.0.0/8`, `::1`): a proxy on the same host.
    pub fn loopback() -> Self {
        Self::new(
            ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok()),
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
            .filter_map(|n| n.parse().ok()),
        )
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.networks
    }

    /// Whether `ip` belongs to a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = IpNetParseError;

    /// A comma- or whitespace-separated list of addresses and CIDR networks.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<IpNet>, _>>()
            .map(Self::new)
    }
}

/// Which proxy header to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `Forwarded` (RFC 7239) when present, otherwise `X-Forwarded-For`.
    #[default]
    Any,
    /// Only `Forwarded`.
    Forwarded,
    /// Only `X-Forwarded-For`.
    XForwardedFor,
}

/// Resolves the client IP of a request from its TCP peer and proxy headers.
///
/// ```
/// use std::net::IpAddr;
/// use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
///
/// let resolver = ClientIpResolver::new(TrustedProxies::private_networks());
/// let peer: IpAddr = "10.0.0.5".parse().unwrap(); // the load balancer
///
/// // The balancer appended the address it saw; the client's own claim is ignored.
/// let client = resolver.resolve(peer, [], ["6.6.6.6, 198.51.100.7"]);
/// assert_eq!(client, "198.51.100.7".parse::<IpAddr>().unwrap());
///
/// // RFC 7239 `Forwarded`, IPv6 with a port.
/// let client = resolver.resolve(peer, [r#"for="[2001:db8::17]:4711";proto=https"#], []);
/// assert_eq!(client, "2001:db8::17".parse::<IpAddr>().unwrap());
///
/// // A peer that is not trusted is the client, whatever its headers say.
/// let direct: IpAddr = "203.0.113.1".parse().unwrap();
/// assert_eq!(resolver.resolve(direct, [], ["1.2.3.4"]), direct);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: TrustedProxies,
    header: ProxyHeader,
}

impl ClientIpResolver {
    /// A resolver believing headers from `trusted` proxies, reading either header.
    pub fn new(trusted: TrustedProxies) -> Self {
        Self {
            trusted,
            header: ProxyHeader::Any,
        }
    }

    /// Restricts which header is read.
    pub fn with_header(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    /// The trusted proxies.
    pub fn trusted(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The client IP. `forwarded` and `x_forwarded_for` are the values of every occurrence of
    /// those headers, in the order received. Malformed entries are never believed: the walk
    /// stops at the last address that a trusted hop vouched for.
    pub fn resolve<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl IntoIterator<Item = &'a str>,
        x_forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted.contains(peer) {
            return peer;
        }
        let forwarded: Vec<Option<IpAddr>> = match self.header {
            ProxyHeader::XForwardedFor => Vec::new(),
            _ => forwarded.into_iter().flat_map(parse_forwarded).collect(),
        };
        let chain = if !forwarded.is_empty() || self.header == ProxyHeader::Forwarded {
            forwarded
        } else {
            x_forwarded_for
                .into_iter()
                .flat_map(|value| value.split(','))
                .map(parse_xff_entry)
                .collect()
        };
        let mut client = peer;
        for hop in chain.into_iter().rev() {
            let Some(ip) = hop else { return client };
            client = ip.to_canonical();
            if !self.trusted.contains(client) {
                return client;
            }
        }
        client
    }

    /// [`resolve`](Self::resolve) with the headers read from an `http::HeaderMap`; header
    /// values that are not visible ASCII count as malformed entries.
    #[cfg(feature = "http")]
    pub fn resolve_headers(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        // A non-ASCII value becomes a marker that parses as no address, so it stops the walk.
        let forwarded = headers
            .get_all(http::header::FORWARDED)
            .iter()
            .map(|v| v.to_str().unwrap_or("for=invalid"));
        let xff = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("invalid"));
        self.resolve(peer, forwarded, xff)
    }

    /// [`resolve`](Self::resolve) for a peer socket address.
    pub fn resolve_socket<'a>(
        &self,
        peer: SocketAddr,
        forwarded: impl IntoIterator<Item = &'a str>,
        x_forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        self.resolve(peer.ip(), forwarded, x_forwarded_for)
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port or in brackets.
fn parse_xff_entry(entry: &str) -> Option<IpAddr> {
    parse_node(entry.trim())
}

/// The `for=` addresses of one `Forwarded` header value, one per element; an element without
/// a usable `for=` yields `None`.
fn parse_forwarded(value: &str) -> Vec<Option<IpAddr>> {
    split_unquoted(value, ',')
        .into_iter()
        .filter(|element| !element.trim().is_empty())
        .map(|element| {
            split_unquoted(element, ';')
                .into_iter()
                .find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    if !name.trim().eq_ignore_ascii_case("for") {
                        return None;
                    }
                    let value = value.trim();
                    let value = value
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(value);
                    Some(parse_node(value))
                })
                .flatten()
        })
        .collect()
}

/// Splits on `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == separator && !in_quotes {
            parts.push(&text[start..index]);
            start = index + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:80`. `unknown` and obfuscated identifiers are not addresses.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.255.0.1")));
        assert!(
            net.contains(ip("::ffff:10.0.0.1")),
            "v4-mapped v6 counts as v4"
        );
        assert!(!net.contains(ip("11.0.0.1")));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "nonsense",
            "10.0.0/8",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let r = ClientIpResolver::new(TrustedProxies::none());
        assert_eq!(
            r.resolve(ip("10.0.0.1"), ["for=1.1.1.1"], ["2.2.2.2"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn walks_right_to_left_through_trusted_hops() {
        let r = ClientIpResolver::new("10.0.0.0/8".parse().unwrap());
        // client 198.51.100.1 → proxy 10.0.0.2 → proxy 10.0.0.3 (peer)
        assert_eq!(
            r.resolve(ip("10.0.0.3"), [], ["198.51.100.1, 10.0.0.2"]),
            ip("198.51.100.1")
        );
        // A spoofed leftmost entry is not believed: the first untrusted from the right wins.
        assert_eq!(
            r.resolve(ip("10.0.0.3"), [], ["1.1.1.1", "198.51.100.1"]),
            ip("198.51.100.1")
        );
        // Everything trusted: the leftmost address.
        assert_eq!(
            r.resolve(ip("10.0.0.3"), [], ["10.0.0.9, 10.0.0.2"]),
            ip("10.0.0.9")
        );
        // No header: the peer.
        assert_eq!(r.resolve(ip("10.0.0.3"), [], []), ip("10.0.0.3"));
    }

    #[test]
    fn malformed_entries_stop_the_walk() {
        let r = ClientIpResolver::new("10.0.0.0/8".parse().unwrap());
        assert_eq!(
            r.resolve(ip("10.0.0.3"), [], ["1.1.1.1, garbage"]),
            ip("10.0.0.3")
        );
        assert_eq!(
            r.resolve(ip("10.0.0.3"), [], ["1.1.1.1, garbage, 10.0.0.4"]),
            ip("10.0.0.4")
        );
        assert_eq!(
            r.resolve(ip("10.0.0.3"), ["for=unknown"], []),
            ip("10.0.0.3")
        );
        assert_eq!(
            r.resolve(ip("10.0.0.3"), ["for=_hidden, for=10.0.0.7"], []),
            ip("10.0.0.7")
        );
        for junk in [
            "",
            ",,,",
            "\"",
            "for=\"[::1",
            "for=;;;",
            "=,=",
            "for=[zz]:1",
        ] {
            let _ = r.resolve(ip("10.0.0.3"), [junk], [junk]);
        }
    }

    #[test]
    fn forwarded_header_forms() {
        let r = ClientIpResolver::new(TrustedProxies::private_networks());
        let peer = ip("192.168.1.1");
        assert_eq!(
            r.resolve(peer, ["for=192.0.2.60;proto=http;by=203.0.113.43"], []),
            ip("192.0.2.60")
        );
        assert_eq!(
            r.resolve(peer, [r#"For="[2001:db8:cafe::17]:4711""#], []),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            r.resolve(peer, [r#"for="192.0.2.43:47011", for=10.0.0.2"#], []),
            ip("192.0.2.43")
        );
        assert_eq!(
            r.resolve(peer, ["proto=https;for=198.51.100.17"], ["9.9.9.9"]),
            ip("198.51.100.17"),
            "Forwarded wins"
        );
        let xff_only = r.clone().with_header(ProxyHeader::XForwardedFor);
        assert_eq!(
            xff_only.resolve(peer, ["for=198.51.100.17"], ["9.9.9.9"]),
            ip("9.9.9.9")
        );
        let fwd_only = r.with_header(ProxyHeader::Forwarded);
        assert_eq!(fwd_only.resolve(peer, [], ["9.9.9.9"]), peer);
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let r = ClientIpResolver::new(TrustedProxies::loopback());
        assert_eq!(r.resolve(ip("::1"), [], ["2001:db8::1"]), ip("2001:db8::1"));
        assert_eq!(
            r.resolve(ip("::ffff:127.0.0.1"), [], ["[2001:db8::2]:443"]),
            ip("2001:db8::2")
        );
        assert_eq!(
            r.resolve(ip("::1"), [], ["::ffff:203.0.113.5"]),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn trusted_proxies_parse_lists() {
        let t: TrustedProxies = "10.0.0.0/8 192.168.0.1,::1".parse().unwrap();
        assert_eq!(t.networks().len(), 3);
        assert!("10.0.0.0/8, nope".parse::<TrustedProxies>().is_err());
        assert!(TrustedProxies::private_networks().contains(ip("172.20.1.1")));
        assert!(!TrustedProxies::private_networks().contains(ip("172.32.0.1")));
    }

    #[cfg(feature = "http")]
    #[test]
    fn reads_header_maps() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
        headers.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
        let r = ClientIpResolver::new("10.0.0.0/8".parse().unwrap());
        assert_eq!(
            r.resolve_headers(ip("10.0.0.3"), &headers),
            ip("198.51.100.1")
        );
        headers.insert(
            http::header::FORWARDED,
            http::HeaderValue::from_bytes(b"for=\xff").unwrap(),
        );
        assert_eq!(r.resolve_headers(ip("10.0.0.3"), &headers), ip("10.0.0.3"));
    }
}
