//! Unit tests of the parser and the walk; the per-deployment spoofing tables live in
//! `tests/client_ip_spoofing.rs`.

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn hops(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

#[test]
fn networks_parse_and_match() {
    let t: TrustedProxies = "10.1.2.3/8".parse().unwrap();
    assert_eq!(t.networks()[0].to_string(), "10.0.0.0/8");
    assert!(t.contains(ip("10.255.0.1")));
    assert!(
        t.contains(ip("::ffff:10.0.0.1")),
        "v4-mapped v6 counts as v4"
    );
    assert!(!t.contains(ip("11.0.0.1")));
    let v6: TrustedProxies = "fd00::/8".parse().unwrap();
    assert!(v6.contains(ip("fd12::1")));
    assert!(!v6.contains(ip("10.0.0.1")));
    let mapped: TrustedProxies = "::ffff:10.0.0.0/104".parse().unwrap();
    assert_eq!(mapped.networks()[0].to_string(), "10.0.0.0/8");
    assert!(mapped.contains(ip("10.9.9.9")));
    assert!(TrustedProxies::any().contains(ip("8.8.8.8")));
    assert!(TrustedProxies::any().contains(ip("2001:db8::1")));
    for bad in [
        "10.0.0.0/33",
        "::/129",
        "nonsense",
        "10.0.0/8",
        "1.2.3.4/x",
        "1.2.3.4/",
        "/8",
    ] {
        let error = bad.parse::<TrustedProxies>().unwrap_err();
        assert!(error.to_string().contains(bad), "{error}");
    }
    assert_eq!(
        "".parse::<TrustedProxies>().unwrap(),
        TrustedProxies::none()
    );
}

#[test]
fn trusted_proxies_parse_lists() {
    let t: TrustedProxies = "10.0.0.0/8 192.168.0.1,::1".parse().unwrap();
    assert_eq!(t.networks().len(), 3);
    assert!("10.0.0.0/8, nope".parse::<TrustedProxies>().is_err());
    assert!(TrustedProxies::private_networks().contains(ip("172.20.1.1")));
    assert!(!TrustedProxies::private_networks().contains(ip("172.32.0.1")));
    let both = TrustedProxies::loopback().union(&"10.0.0.0/8".parse().unwrap());
    assert!(both.contains(ip("127.0.0.1")) && both.contains(ip("10.1.1.1")));
}

#[test]
fn untrusted_peer_is_the_client() {
    let r = ClientIpResolver::x_forwarded_for(TrustedProxies::none());
    assert_eq!(r.resolve(ip("10.0.0.1"), ["2.2.2.2"]), ip("10.0.0.1"));
    assert_eq!(ClientIpResolver::default(), ClientIpResolver::direct());
    assert_eq!(
        ClientIpResolver::direct().resolve(ip("127.0.0.1"), ["2.2.2.2"]),
        ip("127.0.0.1")
    );
}

#[test]
fn walks_right_to_left_through_trusted_hops() {
    let r = ClientIpResolver::new("10.0.0.0/8".parse().unwrap());
    // client 198.51.100.1 → proxy 10.0.0.2 → proxy 10.0.0.3 (peer)
    assert_eq!(
        r.resolve(ip("10.0.0.3"), ["198.51.100.1, 10.0.0.2"]),
        ip("198.51.100.1")
    );
    // A spoofed leftmost entry is not believed, across header lines too.
    assert_eq!(
        r.resolve(ip("10.0.0.3"), ["1.1.1.1", "198.51.100.1"]),
        ip("198.51.100.1")
    );
    // Everything trusted: the leftmost address.
    assert_eq!(
        r.resolve(ip("10.0.0.3"), ["10.0.0.9, 10.0.0.2"]),
        ip("10.0.0.9")
    );
    // No header, or only empty lines: the peer.
    assert_eq!(r.resolve(ip("10.0.0.3"), []), ip("10.0.0.3"));
    assert_eq!(r.resolve(ip("10.0.0.3"), ["", "  "]), ip("10.0.0.3"));
}

#[test]
fn malformed_entries_stop_the_walk() {
    let r = ClientIpResolver::new("10.0.0.0/8".parse().unwrap());
    let peer = ip("10.0.0.3");
    assert_eq!(r.resolve(peer, ["1.1.1.1, garbage"]), peer);
    assert_eq!(
        r.resolve(peer, ["1.1.1.1, garbage, 10.0.0.4"]),
        ip("10.0.0.4")
    );
    assert_eq!(r.resolve(peer, ["1.1.1.1,,10.0.0.4"]), ip("10.0.0.4"));
    for not_an_address in [
        "unknown",
        "_hidden",
        "010.0.0.1",
        "0x7f.0.0.1",
        "2130706433",
        "1.2.3",
        "1.2.3.4.5",
        "fe80::1%eth0",
        "[1.2.3.4]",
        "[2001:db8::1",
        "2001:db8::1]",
        "1.2.3.4:99999",
        "1.2.3.4:",
        "1.2.3.4:+80",
        "[::1]:_",
        "[::1]x",
        "\"1.2.3.4\"",
        "1.2.3.4 5.6.7.8",
    ] {
        assert_eq!(
            r.resolve(peer, [not_an_address]),
            peer,
            "{not_an_address:?} was believed"
        );
    }
}

#[test]
fn ipv6_ports_brackets_and_mapped_addresses() {
    let r = ClientIpResolver::new(TrustedProxies::loopback());
    assert_eq!(r.resolve(ip("::1"), ["2001:db8::1"]), ip("2001:db8::1"));
    assert_eq!(
        r.resolve(ip("::ffff:127.0.0.1"), ["[2001:db8::2]:443"]),
        ip("2001:db8::2")
    );
    assert_eq!(r.resolve(ip("::1"), ["[2001:db8::3]"]), ip("2001:db8::3"));
    assert_eq!(
        r.resolve(ip("::1"), ["198.51.100.4:8080"]),
        ip("198.51.100.4")
    );
    assert_eq!(
        r.resolve(ip("::1"), ["::ffff:203.0.113.5"]),
        ip("203.0.113.5")
    );
    // A mapped loopback entry is a trusted hop like 127.0.0.1.
    assert_eq!(
        r.resolve(ip("::1"), ["198.51.100.6, ::ffff:127.0.0.1"]),
        ip("198.51.100.6")
    );
}

#[test]
fn forwarded_header_forms() {
    let r = ClientIpResolver::forwarded(TrustedProxies::private_networks());
    let peer = ip("192.168.1.1");
    assert_eq!(
        r.resolve(peer, ["for=192.0.2.60;proto=http;by=203.0.113.43"]),
        ip("192.0.2.60")
    );
    assert_eq!(
        r.resolve(peer, [r#"For="[2001:db8:cafe::17]:4711""#]),
        ip("2001:db8:cafe::17")
    );
    assert_eq!(
        r.resolve(peer, [r#"for="[2001:db8:cafe::17]:_p0rt""#]),
        ip("2001:db8:cafe::17"),
        "an obfuscated port hides only the port"
    );
    assert_eq!(
        r.resolve(peer, [r#"for="192.0.2.43:47011", for=10.0.0.2"#]),
        ip("192.0.2.43")
    );
    assert_eq!(
        r.resolve(peer, ["proto=https;for=198.51.100.17"]),
        ip("198.51.100.17")
    );
    // Commas and semicolons inside a quoted string do not split elements.
    assert_eq!(
        r.resolve(peer, [r#"for=198.51.100.1;ext="a,b;c", for=10.0.0.2"#]),
        ip("198.51.100.1")
    );
}

#[test]
fn obfuscated_and_broken_forwarded_elements_stop_the_walk() {
    let r = ClientIpResolver::forwarded("10.0.0.0/8".parse().unwrap());
    let peer = ip("10.0.0.3");
    for element in [
        "for=unknown",
        "for=_hidden",
        r#"for="_gazonk""#,
        "by=10.0.0.1",
        "for=198.51.100.1;for=198.51.100.2",
        "for",
        "for=",
        r#"for="198.51.100.1"#,
        r#"for="198.51.100.1\""#,
        "for=[2001:db8::1]:80x",
        r#"for="[2001:db8::1]:_""#,
        // No proxy escapes an address; an escape is a parser-differential attempt.
        r#"for="198.51\.100.8""#,
    ] {
        assert_eq!(r.resolve(peer, [element]), peer, "{element:?} was believed");
    }
    // The walk stops at the last vouched address, not at the peer.
    assert_eq!(
        r.resolve(peer, ["for=198.51.100.1, for=_hidden, for=10.0.0.7"]),
        ip("10.0.0.7")
    );
    // A client's unterminated quote or stray escape cannot swallow what a proxy appended...
    assert_eq!(
        r.resolve(peer, [r#"for="6.6.6.6, for=198.51.100.9"#]),
        ip("198.51.100.9")
    );
    assert_eq!(
        r.resolve(peer, [r#"for="x\", for=6.6.6.6", for=198.51.100.9"#]),
        ip("198.51.100.9")
    );
    // ...and when the walk reaches it, it is malformed.
    assert_eq!(
        r.resolve(peer, [r#"for="6.6.6.6, for=10.0.0.7"#]),
        ip("10.0.0.7")
    );
    assert_eq!(
        r.resolve(peer, [r#"for="6.6.6\"6", for=10.0.0.7"#]),
        ip("10.0.0.7")
    );
    // Quoted commas inside the proxies' elements do not split them.
    assert_eq!(
        r.resolve(
            peer,
            [r#"for=198.51.100.2;ext="a,b", for=10.0.0.7;ext=",""#]
        ),
        ip("198.51.100.2")
    );
}

#[test]
fn one_header_only_never_both() {
    let peer = ip("10.0.0.3");
    let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let xff = ClientIpResolver::x_forwarded_for(trusted.clone());
    let fwd = ClientIpResolver::forwarded(trusted);
    assert_eq!(xff.header(), ProxyHeader::XForwardedFor);
    assert_eq!(fwd.header(), ProxyHeader::Forwarded);
    // The values given are those of the configured header: a Forwarded-looking value in
    // X-Forwarded-For is garbage, not a second source.
    assert_eq!(xff.resolve(peer, ["for=198.51.100.17"]), peer);
    assert_eq!(fwd.resolve(peer, ["198.51.100.17"]), peer);
}

#[test]
fn hop_counts_take_the_nth_entry_from_the_right() {
    let any = ClientIpResolver::hop_count(TrustedProxies::any(), hops(2));
    let peer = ip("10.0.0.3");
    assert_eq!(
        any.resolve(peer, ["6.6.6.6, 198.51.100.1, 203.0.113.7"]),
        ip("198.51.100.1")
    );
    // Shorter than the count: the leftmost entry (a proxy wrote it).
    assert_eq!(any.resolve(peer, ["198.51.100.2"]), ip("198.51.100.2"));
    assert_eq!(any.resolve(peer, []), peer);
    // With trusted networks, an untrusted entry before the count is the client.
    let cf = ClientIpResolver::hop_count("10.0.0.0/8, 130.176.0.0/16".parse().unwrap(), hops(2));
    assert_eq!(
        cf.resolve(peer, ["6.6.6.6, 198.51.100.3, 130.176.1.1"]),
        ip("198.51.100.3")
    );
    assert_eq!(
        cf.resolve(peer, ["6.6.6.6, 198.51.100.4"]),
        ip("198.51.100.4"),
        "a request that skipped CloudFront is its own sender"
    );
    // A count beyond MAX_HOPS is capped.
    let deep = ClientIpResolver::hop_count(TrustedProxies::any(), hops(1000));
    let chain: Vec<String> = (0..200)
        .map(|i| format!("10.1.{}.{}", i / 250, i % 250))
        .collect();
    let line = chain.join(",");
    assert_eq!(
        deep.resolve(peer, [line.as_str()]),
        ip(&chain[chain.len() - MAX_HOPS])
    );
}

#[test]
fn a_walk_reads_at_most_max_hops_entries() {
    let r = ClientIpResolver::new(TrustedProxies::private_networks());
    let peer = ip("10.0.0.3");
    // 100 000 trusted entries left of a garbage one: never parsed past MAX_HOPS.
    let mut line = "garbage,".to_owned();
    line.push_str(&"10.0.0.1,".repeat(100_000));
    line.push_str("10.0.0.2");
    assert_eq!(r.resolve(peer, [line.as_str()]), ip("10.0.0.1"));
    let fwd = ClientIpResolver::forwarded(TrustedProxies::private_networks());
    let mut line = "for=garbage,".to_owned();
    line.push_str(&"for=10.0.0.1,".repeat(100_000));
    line.push_str("for=10.0.0.2");
    assert_eq!(fwd.resolve(peer, [line.as_str()]), ip("10.0.0.1"));
    // Over many header lines, too.
    let lines: Vec<&str> = std::iter::once("198.51.100.1")
        .chain(std::iter::repeat_n("10.0.0.1", 1_000))
        .collect();
    assert_eq!(r.resolve(peer, lines), ip("10.0.0.1"));
}

#[test]
fn single_value_headers() {
    let nginx = ClientIpResolver::nginx_real_ip(TrustedProxies::loopback());
    let peer = ip("127.0.0.1");
    assert_eq!(nginx.header(), ProxyHeader::XRealIp);
    assert_eq!(nginx.resolve(peer, ["198.51.100.1"]), ip("198.51.100.1"));
    assert_eq!(nginx.resolve(peer, ["[2001:db8::1]:80"]), ip("2001:db8::1"));
    assert_eq!(nginx.resolve(peer, []), peer);
    assert_eq!(nginx.resolve(peer, ["6.6.6.6", "198.51.100.1"]), peer);
    assert_eq!(nginx.resolve(peer, ["6.6.6.6, 198.51.100.1"]), peer);
    assert_eq!(nginx.resolve(peer, ["unknown"]), peer);
    assert_eq!(
        nginx.resolve(ip("203.0.113.1"), ["198.51.100.1"]),
        ip("203.0.113.1")
    );
}

#[test]
fn presets_parse_and_print() {
    for (name, preset) in [
        ("direct", ClientIpPreset::Direct),
        ("x-forwarded-for", ClientIpPreset::XForwardedFor),
        ("forwarded", ClientIpPreset::Forwarded),
        ("aws-alb", ClientIpPreset::AwsAlb),
        ("cloudfront-alb", ClientIpPreset::CloudFrontAlb),
        ("nginx-real-ip", ClientIpPreset::NginxRealIp),
        ("cloudflare", ClientIpPreset::Cloudflare),
        ("hops:3", ClientIpPreset::HopCount(hops(3))),
    ] {
        assert_eq!(name.parse::<ClientIpPreset>().unwrap(), preset);
        assert_eq!(preset.to_string(), name);
    }
    assert_eq!(
        " XFF ".parse::<ClientIpPreset>().unwrap(),
        ClientIpPreset::XForwardedFor
    );
    assert_eq!(
        "ALB".parse::<ClientIpPreset>().unwrap(),
        ClientIpPreset::AwsAlb
    );
    for bad in ["", "hops:0", "hops:65", "hops:x", "hops:", "any", "elb"] {
        let error = bad.parse::<ClientIpPreset>().unwrap_err();
        assert!(error.to_string().contains("hops:N"), "{error}");
    }
    let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    assert_eq!(
        ClientIpPreset::Cloudflare.resolver(trusted.clone()),
        ClientIpResolver::cloudflare(trusted.clone())
    );
    assert_eq!(
        ClientIpPreset::AwsAlb
            .resolver(trusted.clone())
            .hop_count_limit(),
        Some(hops(1))
    );
    assert_eq!(
        ClientIpPreset::Direct.resolver(trusted),
        ClientIpResolver::direct()
    );
}

#[cfg(feature = "http")]
#[test]
fn header_names_match() {
    for header in [
        ProxyHeader::XForwardedFor,
        ProxyHeader::Forwarded,
        ProxyHeader::XRealIp,
        ProxyHeader::CfConnectingIp,
    ] {
        assert_eq!(header.header_name().as_str(), header.name());
        assert_eq!(header.to_string(), header.name());
    }
}

#[cfg(feature = "http")]
#[test]
fn reads_header_maps() {
    let mut headers = http::HeaderMap::new();
    headers.append("x-forwarded-for", "198.51.100.1".parse().unwrap());
    headers.append("x-forwarded-for", "10.0.0.2".parse().unwrap());
    headers.append("forwarded", "for=6.6.6.6".parse().unwrap());
    let r = ClientIpResolver::new("10.0.0.0/8".parse().unwrap());
    assert_eq!(
        r.resolve_headers(ip("10.0.0.3"), &headers),
        ip("198.51.100.1")
    );
    headers.append(
        "x-forwarded-for",
        http::HeaderValue::from_bytes(b"10.0.0.4, \xff").unwrap(),
    );
    assert_eq!(r.resolve_headers(ip("10.0.0.3"), &headers), ip("10.0.0.3"));
}

#[cfg(feature = "http")]
#[test]
fn the_peer_comes_from_the_extensions() {
    let mut request = http::Request::new(());
    assert_eq!(peer_addr(request.extensions()), None);
    assert_eq!(ClientIpResolver::direct().resolve_request(&request), None);
    let plain: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    request.extensions_mut().insert(plain);
    assert_eq!(peer_addr(request.extensions()), Some(plain));
    request
        .headers_mut()
        .insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
    assert_eq!(
        ClientIpResolver::new(TrustedProxies::loopback()).resolve_request(&request),
        Some(ip("198.51.100.1"))
    );
}

#[cfg(feature = "axum")]
#[test]
fn axum_connect_info_is_the_peer_when_both_are_present() {
    let mut extensions = http::Extensions::new();
    let connect: SocketAddr = "192.0.2.1:5000".parse().unwrap();
    extensions.insert(axum::extract::ConnectInfo(connect));
    assert_eq!(peer_addr(&extensions), Some(connect));
    extensions.insert("127.0.0.1:4000".parse::<SocketAddr>().unwrap());
    assert_eq!(peer_addr(&extensions), Some(connect));
}

mod fuzz {
    //! Generated hostile headers: the parser never panics and never returns an address that
    //! a trusted hop did not vouch for.

    use proptest::prelude::*;

    use super::*;

    /// Header text built from the pieces that matter to the parsers.
    fn header_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(",".to_owned()),
            Just(";".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("=".to_owned()),
            Just("for=".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(":".to_owned()),
            Just(" ".to_owned()),
            Just("_x".to_owned()),
            Just("unknown".to_owned()),
            Just("10.0.0.1".to_owned()),
            Just("198.51.100.1".to_owned()),
            Just("2001:db8::1".to_owned()),
            Just("::ffff:10.0.0.2".to_owned()),
            "[ -~]{0,6}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
    }

    /// Whether `result` is the peer or an address written in `lines` (a whole run of address
    /// characters, or an IPv4 address inside a longer one such as `1.2.3.4:_port`): anything
    /// else was invented by the parser.
    fn appears(result: IpAddr, peer: IpAddr, lines: &[String]) -> bool {
        if result == peer {
            return true;
        }
        let runs = lines.iter().flat_map(|line| {
            line.split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        });
        let mut found = false;
        for run in runs {
            found |= parse_node(run).map(|a| a.to_canonical()) == Some(result);
            found |= parse_viewer_address(run).map(|a| a.to_canonical()) == Some(result);
        }
        found || (result.is_ipv4() && lines.iter().any(|l| l.contains(&result.to_string())))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn never_panics_and_never_invents(
            lines in proptest::collection::vec(header_text(), 0..4),
            header in prop_oneof![
                Just(ProxyHeader::XForwardedFor),
                Just(ProxyHeader::Forwarded),
                Just(ProxyHeader::XRealIp),
                Just(ProxyHeader::CloudFrontViewerAddress),
            ],
            count in proptest::option::of(1usize..5),
        ) {
            let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
            let resolver = ClientIpResolver::new(trusted.clone())
                .with_header(header)
                .with_hop_count(count.and_then(NonZeroUsize::new));
            let peer = ip("10.9.9.9");
            let result = resolver.resolve(peer, lines.iter().map(String::as_str));
            prop_assert!(appears(result, peer, &lines), "{result} from {lines:?}");
            // Untrusted peers are never overridden.
            let outsider = ip("203.0.113.50");
            prop_assert_eq!(resolver.resolve(outsider, lines.iter().map(String::as_str)), outsider);
        }

        /// A proxy chain of trusted hops appended to whatever the client sent: the result is
        /// the address the first proxy saw, whatever the client wrote before it.
        #[test]
        fn a_client_prefix_never_changes_the_answer(
            prefix in header_text(),
            client in any::<u32>().prop_filter("outside 10/8", |a| a >> 24 != 10),
            proxies in 0usize..4,
        ) {
            let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
            let client = IpAddr::V4(std::net::Ipv4Addr::from(client));
            let mut appended = vec![client.to_string()];
            appended.extend((0..proxies).map(|i| format!("10.0.0.{}", i + 1)));
            let peer = ip("10.0.0.200");
            // The client's line, then the proxies' appended line (separate header lines).
            let xff = ClientIpResolver::x_forwarded_for(trusted.clone());
            let lines = [prefix.as_str(), &appended.join(", ")];
            prop_assert_eq!(xff.resolve(peer, lines), client);
            // The same appended to the client's line, as ALB and nginx write it.
            let joined = format!("{prefix}, {}", appended.join(", "));
            prop_assert_eq!(xff.resolve(peer, [joined.as_str()]), client);
            let counted = ClientIpResolver::hop_count(trusted.clone(), NonZeroUsize::new(proxies + 1).unwrap());
            prop_assert_eq!(counted.resolve(peer, lines), client);
            let elements: Vec<String> = appended.iter().map(|a| format!("for=\"{a}\"")).collect();
            let fwd = ClientIpResolver::forwarded(trusted);
            let fwd_lines = [prefix.as_str(), &elements.join(", ")];
            prop_assert_eq!(fwd.resolve(peer, fwd_lines), client);
        }
    }
}
