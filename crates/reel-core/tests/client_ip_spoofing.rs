//! One table per deployment preset: each row is what the real front writes (AWS ALB,
//! CloudFront + ALB, CloudFront's `CloudFront-Viewer-Address`, nginx, Cloudflare, Envoy with a
//! hop count, an RFC 7239 proxy) plus what
//! a hostile client added; the resolved address is the real client in every row.
//!
//! The header maps are built as the request reaches the service, with every header line
//! kept (`HeaderMap::append`), so duplicated headers reach the resolver as they would over
//! HTTP.

#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::num::NonZeroUsize;

use http::{HeaderMap, HeaderName, HeaderValue};
use reel_core::client_ip::{ClientIpPreset, ClientIpResolver, TrustedProxies};

/// The real client of every row.
const CLIENT: &str = "198.51.100.7";
/// Someone reaching the service without going through the front.
const OUTSIDER: &str = "203.0.113.66";

struct Row {
    /// What the row shows.
    name: &'static str,
    /// The TCP peer.
    peer: &'static str,
    /// The header lines as the service receives them.
    headers: Vec<(&'static str, String)>,
    /// The address the resolver must give.
    expect: &'static str,
}

fn row(name: &'static str, peer: &'static str, headers: &[(&'static str, &str)]) -> Row {
    Row {
        name,
        peer,
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        expect: CLIENT,
    }
}

impl Row {
    fn expect(mut self, expect: &'static str) -> Self {
        self.expect = expect;
        self
    }
}

fn header_map(lines: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in lines {
        map.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Resolves every row; fails listing every row that resolved to someone else.
fn check(resolver: &ClientIpResolver, rows: &[Row]) {
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let peer: IpAddr = row.peer.parse().unwrap();
            let got = resolver.resolve_headers(peer, &header_map(&row.headers));
            let expect: IpAddr = row.expect.parse().unwrap();
            (got != expect).then(|| format!("{}: got {got}, expected {expect}", row.name))
        })
        .collect();
    assert!(wrong.is_empty(), "{resolver:?}\n{}", wrong.join("\n"));
}

/// 10 000 spoofed entries, the kind of header that should cost nothing.
fn flood() -> String {
    vec!["6.6.6.6"; 10_000].join(", ")
}

#[test]
fn aws_alb() {
    // The balancer's nodes live in the VPC; it appends the address it saw to X-Forwarded-For
    // and passes every other header through untouched.
    let resolver = "aws-alb"
        .parse::<ClientIpPreset>()
        .unwrap()
        .resolver("10.0.0.0/16".parse().unwrap());
    assert_eq!(
        resolver,
        ClientIpResolver::aws_alb("10.0.0.0/16".parse().unwrap())
    );
    let alb = "10.0.1.23";
    let appended = |sent: &str| format!("{sent}, {CLIENT}");
    let rows = [
        row("honest", alb, &[("x-forwarded-for", CLIENT)]),
        row(
            "spoofed X-Forwarded-For",
            alb,
            &[("x-forwarded-for", &appended("6.6.6.6"))],
        ),
        row(
            "spoofed trusted-range entry",
            alb,
            &[("x-forwarded-for", &appended("10.0.0.5, 10.0.9.9"))],
        ),
        row(
            "client-sent Forwarded passed through",
            alb,
            &[
                ("forwarded", "for=81.2.69.160"),
                ("x-forwarded-for", CLIENT),
            ],
        ),
        row(
            "client-sent X-Real-IP and CF-Connecting-IP",
            alb,
            &[
                ("x-real-ip", "6.6.6.6"),
                ("cf-connecting-ip", "6.6.6.6"),
                ("x-forwarded-for", CLIENT),
            ],
        ),
        row(
            "duplicated X-Forwarded-For lines",
            alb,
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", &appended("7.7.7.7")),
            ],
        ),
        row(
            "garbage and IPv6 junk",
            alb,
            &[("x-forwarded-for", &appended("garbage, [::1, _hidden"))],
        ),
        row(
            "a flood of entries",
            alb,
            &[("x-forwarded-for", &appended(&flood()))],
        ),
        row(
            "a client inside the VPC",
            alb,
            &[("x-forwarded-for", "6.6.6.6, 10.0.2.2")],
        )
        .expect("10.0.2.2"),
        row(
            "IPv6 client",
            alb,
            &[("x-forwarded-for", "::1, 2001:db8::7")],
        )
        .expect("2001:db8::7"),
        row(
            "someone bypassing the balancer",
            OUTSIDER,
            &[("x-forwarded-for", CLIENT)],
        )
        .expect(OUTSIDER),
    ];
    check(&resolver, &rows);
}

#[test]
fn cloudfront_then_alb() {
    // CloudFront appends the viewer; the balancer appends the CloudFront edge. Trusted: the
    // VPC and CloudFront's origin-facing ranges (130.176.0.0/16 is one of them).
    let trusted: TrustedProxies = "10.0.0.0/16, 130.176.0.0/16".parse().unwrap();
    let resolver = ClientIpPreset::CloudFrontAlb.resolver(trusted.clone());
    assert_eq!(resolver, ClientIpResolver::cloudfront_alb(trusted));
    let (alb, edge) = ("10.0.1.23", "130.176.1.9");
    let chain = |sent: &str| format!("{sent}{CLIENT}, {edge}");
    let rows = [
        row("honest", alb, &[("x-forwarded-for", &chain(""))]),
        row(
            "spoofed X-Forwarded-For",
            alb,
            &[("x-forwarded-for", &chain("6.6.6.6, "))],
        ),
        row(
            "spoofed CloudFront address",
            alb,
            &[("x-forwarded-for", &chain("130.176.1.1, "))],
        ),
        row(
            "client-sent Forwarded and CloudFront-Viewer-Address",
            alb,
            &[
                ("forwarded", "for=6.6.6.6"),
                ("cloudfront-viewer-address", "6.6.6.6:443"),
                ("x-forwarded-for", &chain("")),
            ],
        ),
        row(
            "duplicated lines",
            alb,
            &[
                ("x-forwarded-for", "6.6.6.6, 7.7.7.7"),
                ("x-forwarded-for", &chain("")),
            ],
        ),
        row(
            "a flood of entries",
            alb,
            &[("x-forwarded-for", &chain(&format!("{}, ", flood())))],
        ),
        // Straight to the balancer, skipping CloudFront: the balancer appends the sender.
        row(
            "skipping CloudFront",
            alb,
            &[("x-forwarded-for", &format!("{CLIENT}, {OUTSIDER}"))],
        )
        .expect(OUTSIDER),
        row(
            "straight to the service",
            OUTSIDER,
            &[("x-forwarded-for", &chain(""))],
        )
        .expect(OUTSIDER),
    ];
    check(&resolver, &rows);
}

#[test]
fn cloudfront_viewer_address() {
    // CloudFront writes `CloudFront-Viewer-Address: <viewer ip>:<source port>` (IPv6 without
    // brackets, the port after the last colon) when the origin request policy includes it,
    // replacing a viewer-sent one. Trusted: CloudFront's origin-facing ranges (130.176.0.0/16
    // and 2600:9000::/28 are among them) and, behind an ALB that only CloudFront can reach,
    // the VPC.
    let trusted: TrustedProxies = "130.176.0.0/16, 2600:9000::/28, 10.0.0.0/16"
        .parse()
        .unwrap();
    for name in [
        "cloudfront-viewer-address",
        "cloudfront",
        "CloudFront-Viewer-Address",
    ] {
        let preset: ClientIpPreset = name.parse().unwrap();
        assert_eq!(preset, ClientIpPreset::CloudFrontViewerAddress);
        assert_eq!(preset.to_string(), "cloudfront-viewer-address");
    }
    let resolver = ClientIpPreset::CloudFrontViewerAddress.resolver(trusted.clone());
    assert_eq!(
        resolver,
        ClientIpResolver::cloudfront_viewer_address(trusted)
    );
    let (edge, alb) = ("130.176.1.9", "10.0.1.23");
    let viewer = format!("{CLIENT}:46532");
    let rows = [
        row(
            "honest, CloudFront to the service",
            edge,
            &[
                ("cloudfront-viewer-address", &viewer),
                ("x-forwarded-for", CLIENT),
            ],
        ),
        row(
            "honest, CloudFront to an ALB to the service",
            alb,
            &[
                ("cloudfront-viewer-address", &viewer),
                ("x-forwarded-for", &format!("{CLIENT}, {edge}")),
            ],
        ),
        row(
            "client-sent X-Forwarded-For, Forwarded and True-Client-IP",
            edge,
            &[
                ("cloudfront-viewer-address", &viewer),
                ("x-forwarded-for", &format!("6.6.6.6, {CLIENT}")),
                ("forwarded", "for=6.6.6.6"),
                ("true-client-ip", "6.6.6.6"),
            ],
        ),
        row(
            "IPv6 viewer, unbracketed as CloudFront writes it",
            edge,
            &[("cloudfront-viewer-address", "2001:db8:cafe::17:46532")],
        )
        .expect("2001:db8:cafe::17"),
        row(
            "IPv6 viewer, all eight groups",
            "2600:9000:2000::1",
            &[("cloudfront-viewer-address", "2001:db8:0:0:0:0:0:17:443")],
        )
        .expect("2001:db8::17"),
        row(
            "IPv6 viewer, bracketed",
            edge,
            &[("cloudfront-viewer-address", "[2001:db8::17]:443")],
        )
        .expect("2001:db8::17"),
        row(
            "IPv4-mapped viewer",
            edge,
            &[("cloudfront-viewer-address", "::ffff:198.51.100.7:443")],
        ),
        // Anyone else: their own address, whatever they claim.
        row(
            "straight to the service with a forged header",
            OUTSIDER,
            &[("cloudfront-viewer-address", &viewer)],
        )
        .expect(OUTSIDER),
        // Malformed or doubled: not what CloudFront writes, so the peer.
        row(
            "two lines",
            edge,
            &[
                ("cloudfront-viewer-address", "6.6.6.6:1"),
                ("cloudfront-viewer-address", &viewer),
            ],
        )
        .expect(edge),
        row("no port", edge, &[("cloudfront-viewer-address", CLIENT)]).expect(edge),
        row(
            "port out of range",
            edge,
            &[("cloudfront-viewer-address", &format!("{CLIENT}:65536"))],
        )
        .expect(edge),
        row(
            "signed port",
            edge,
            &[("cloudfront-viewer-address", &format!("{CLIENT}:+443"))],
        )
        .expect(edge),
        row(
            "a list",
            edge,
            &[("cloudfront-viewer-address", &format!("6.6.6.6:1, {viewer}"))],
        )
        .expect(edge),
        row("a flood", edge, &[("cloudfront-viewer-address", &flood())]).expect(edge),
        row(
            "missing (the origin request policy does not include it)",
            edge,
            &[("x-forwarded-for", CLIENT)],
        )
        .expect(edge),
    ];
    check(&resolver, &rows);
}

#[test]
fn nginx_real_ip() {
    // nginx on the same host: `proxy_set_header X-Real-IP $remote_addr;` replaces the header,
    // `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;` appends.
    let resolver = ClientIpPreset::NginxRealIp.resolver(TrustedProxies::loopback());
    let nginx = "127.0.0.1";
    let rows = [
        row("honest", nginx, &[("x-real-ip", CLIENT)]),
        row(
            "spoofed X-Real-IP replaced, spoofed X-Forwarded-For appended to",
            nginx,
            &[
                ("x-real-ip", CLIENT),
                ("x-forwarded-for", &format!("6.6.6.6, {CLIENT}")),
                ("forwarded", "for=6.6.6.6"),
            ],
        ),
        row(
            "two X-Real-IP lines: not believed",
            nginx,
            &[("x-real-ip", "6.6.6.6"), ("x-real-ip", CLIENT)],
        )
        .expect(nginx),
        row("IPv6 client", nginx, &[("x-real-ip", "2001:db8::7")]).expect("2001:db8::7"),
        row(
            "straight to the service",
            OUTSIDER,
            &[("x-real-ip", CLIENT)],
        )
        .expect(OUTSIDER),
    ];
    check(&resolver, &rows);

    // nginx passing only X-Forwarded-For: the default walk, trusting nginx.
    let xff = ClientIpPreset::XForwardedFor.resolver(TrustedProxies::loopback());
    let rows = [
        row("honest", nginx, &[("x-forwarded-for", CLIENT)]),
        row(
            "spoofed entries, Forwarded and X-Real-IP",
            nginx,
            &[
                ("x-forwarded-for", &format!("6.6.6.6, 127.0.0.1, {CLIENT}")),
                ("forwarded", "for=6.6.6.6"),
                ("x-real-ip", "6.6.6.6"),
            ],
        ),
        row(
            "a flood of entries",
            nginx,
            &[("x-forwarded-for", &format!("{}, {CLIENT}", flood()))],
        ),
    ];
    check(&xff, &rows);
}

#[test]
fn cloudflare() {
    // Cloudflare sets CF-Connecting-IP (replacing a client's) and appends to X-Forwarded-For.
    // The operator keeps Cloudflare's published ranges; 173.245.48.0/20 is one of them.
    let ranges: TrustedProxies = "173.245.48.0/20, 2400:cb00::/32".parse().unwrap();
    let resolver = ClientIpPreset::Cloudflare.resolver(ranges);
    let edge = "173.245.48.5";
    let rows = [
        row(
            "honest",
            edge,
            &[("cf-connecting-ip", CLIENT), ("x-forwarded-for", CLIENT)],
        ),
        row(
            "spoofed CF-Connecting-IP replaced, X-Forwarded-For appended to",
            edge,
            &[
                ("cf-connecting-ip", CLIENT),
                ("x-forwarded-for", &format!("6.6.6.6, {CLIENT}")),
                ("forwarded", "for=6.6.6.6"),
                ("true-client-ip", "6.6.6.6"),
            ],
        ),
        row(
            "IPv6 edge and client",
            "2400:cb00:2049::1",
            &[("cf-connecting-ip", "2001:db8::7")],
        )
        .expect("2001:db8::7"),
        row(
            "straight to the origin with a forged CF-Connecting-IP",
            OUTSIDER,
            &[("cf-connecting-ip", CLIENT)],
        )
        .expect(OUTSIDER),
        row(
            "a forged CF-Connecting-IP list",
            edge,
            &[("cf-connecting-ip", &format!("6.6.6.6, {CLIENT}"))],
        )
        .expect(edge),
    ];
    check(&resolver, &rows);
}

#[test]
fn envoy_hop_count() {
    // A cloud load balancer appends the client, Envoy (use_remote_address: true,
    // xff_num_trusted_hops: 1) appends the balancer: two appending proxies, and only they can
    // reach the pod, so every address is "trusted" and the count decides.
    let resolver = "hops:2"
        .parse::<ClientIpPreset>()
        .unwrap()
        .resolver(TrustedProxies::any());
    assert_eq!(
        resolver,
        ClientIpResolver::hop_count(TrustedProxies::any(), NonZeroUsize::new(2).unwrap())
    );
    let envoy = "10.244.0.12";
    let chain = |sent: &str| format!("{sent}{CLIENT}, 10.0.0.8");
    let rows = [
        row("honest", envoy, &[("x-forwarded-for", &chain(""))]),
        row(
            "spoofed entries",
            envoy,
            &[("x-forwarded-for", &chain("6.6.6.6, 7.7.7.7, 8.8.8.8, "))],
        ),
        row(
            "duplicated lines and other headers",
            envoy,
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", &chain("")),
                ("forwarded", "for=6.6.6.6"),
                ("x-envoy-external-address", "6.6.6.6"),
            ],
        ),
        row(
            "a flood of entries",
            envoy,
            &[("x-forwarded-for", &chain(&format!("{}, ", flood())))],
        ),
        row(
            "IPv6 with brackets and a port",
            envoy,
            &[(
                "x-forwarded-for",
                "[2001:db8::6]:1, [2001:db8::7]:443, 10.0.0.8",
            )],
        )
        .expect("2001:db8::7"),
    ];
    check(&resolver, &rows);
}

#[test]
fn rfc_7239_forwarded() {
    // A front configured to append RFC 7239 elements (nginx `$proxy_add_forwarded`, HAProxy
    // `option forwarded`) on loopback.
    let resolver = ClientIpPreset::Forwarded.resolver(TrustedProxies::loopback());
    let proxy = "127.0.0.1";
    let rows = [
        row(
            "honest",
            proxy,
            &[("forwarded", "for=198.51.100.7;proto=https")],
        ),
        row(
            "spoofed element",
            proxy,
            &[("forwarded", "for=6.6.6.6, for=198.51.100.7")],
        ),
        row(
            "spoofed line and X-Forwarded-For",
            proxy,
            &[
                ("forwarded", "for=6.6.6.6;by=127.0.0.1"),
                ("forwarded", "for=\"198.51.100.7:4711\""),
                ("x-forwarded-for", "6.6.6.6"),
            ],
        ),
        row(
            "quoted commas and a doubled for in the client's part",
            proxy,
            &[(
                "forwarded",
                "for=\"6.6.6.6, for=7.7.7.7\";for=8.8.8.8, for=198.51.100.7",
            )],
        ),
        row(
            "obfuscated identifiers left of the client",
            proxy,
            &[("forwarded", "for=_hidden, for=unknown, for=198.51.100.7")],
        ),
        row(
            "a flood of elements",
            proxy,
            &[(
                "forwarded",
                &format!(
                    "{}, for=198.51.100.7",
                    vec!["for=6.6.6.6"; 10_000].join(", ")
                ),
            )],
        ),
        row(
            "an unterminated quote before the proxy's element",
            proxy,
            &[("forwarded", "for=\"6.6.6.6, for=198.51.100.7")],
        ),
        row(
            "an escaped quote before the proxy's element",
            proxy,
            &[(
                "forwarded",
                r#"for="6.6.6.6\", for=7.7.7.7", for=198.51.100.7"#,
            )],
        ),
        row(
            "IPv6 with an obfuscated port",
            proxy,
            &[("forwarded", "for=\"[2001:db8::7]:_x1\"")],
        )
        .expect("2001:db8::7"),
    ];
    check(&resolver, &rows);
}

#[test]
fn direct() {
    // No proxy: nothing a client writes counts.
    let resolver = ClientIpPreset::Direct.resolver(TrustedProxies::private_networks());
    let rows = [row(
        "every header forged",
        CLIENT,
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("cf-connecting-ip", "6.6.6.6"),
        ],
    )];
    check(&resolver, &rows);
}
