//! `core/client_ip`: resolving a request's client from a real `http::HeaderMap` — an honest
//! ALB-style header and two hostile floods of 10 000 entries — against the shortcut many
//! services take instead (`naive_leftmost`: the first `X-Forwarded-For` entry, which the
//! client chooses). The floods show that a hostile header costs little: the
//! `X-Forwarded-For` walk never reads past its hop limit, the `Forwarded` walk scans the line
//! once.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use reel_core::client_ip::{ClientIpResolver, TrustedProxies};

fn naive_leftmost(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get("x-forwarded-for")?.to_str().ok()?;
    value.split(',').next()?.trim().parse().ok()
}

fn resolve(c: &mut Criterion) {
    let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let peer: IpAddr = "10.0.1.23".parse().unwrap();
    let flood = vec!["6.6.6.6"; 10_000].join(", ");
    let forwarded_flood = vec!["for=6.6.6.6"; 10_000].join(", ");
    let cases: [(&str, &str, String); 3] = [
        (
            "honest",
            "x-forwarded-for",
            "198.51.100.7, 10.0.0.2".to_owned(),
        ),
        (
            "xff_flood_10k",
            "x-forwarded-for",
            format!("{flood}, 198.51.100.7"),
        ),
        (
            "forwarded_flood_10k",
            "forwarded",
            format!("{forwarded_flood}, for=198.51.100.7"),
        ),
    ];
    let mut group = c.benchmark_group("core/client_ip");
    for (case, header, value) in &cases {
        let mut headers = HeaderMap::new();
        headers.insert(*header, HeaderValue::from_str(value).unwrap());
        let resolver = if *header == "forwarded" {
            ClientIpResolver::forwarded(trusted.clone())
        } else {
            ClientIpResolver::x_forwarded_for(trusted.clone())
        };
        assert_eq!(
            resolver.resolve_headers(peer, &headers),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        group.bench_with_input(BenchmarkId::new("reel", case), &headers, |b, headers| {
            b.iter(|| resolver.resolve_headers(black_box(peer), black_box(headers)))
        });
        if *header == "x-forwarded-for" {
            group.bench_with_input(
                BenchmarkId::new("naive_leftmost", case),
                &headers,
                |b, headers| b.iter(|| naive_leftmost(black_box(headers))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
