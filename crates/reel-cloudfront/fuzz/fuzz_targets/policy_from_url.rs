//! Policy building from arbitrary URLs, resources and source ranges must never panic, and
//! whatever it accepts must be valid JSON that says what was asked: the resource survives a
//! JSON round trip unchanged, and no input can add keys (policy injection).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_cloudfront::{Policy, SourceIp, cloudfront_base64, cloudfront_base64_decode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Split the input into a URL, a resource pattern and a source range.
    let mut parts = text.splitn(3, '\u{1}');
    let url = parts.next().unwrap_or_default();
    let resource = parts.next().unwrap_or(url);
    let ip = parts.next();
    let expires = 1_900_000_000 + data.len() as u64;

    if let Ok(policy) = Policy::canned(url, expires) {
        check(&policy, url);
        assert!(policy.covers(url));
    }
    let mut builder = Policy::custom(resource, expires).starts(expires - 1);
    if let Some(ip) = ip {
        builder = builder.source_ip(ip);
        if let Ok(range) = ip.parse::<SourceIp>() {
            assert!(range.prefix() <= 32);
            assert_eq!(range.to_string().parse::<SourceIp>().ok(), Some(range));
        }
    }
    if let Ok(policy) = builder.build() {
        check(&policy, resource);
        // Matching arbitrary text against the pattern must terminate without panicking.
        let _ = policy.covers(url);
    }
    let encoded = cloudfront_base64(data);
    assert_eq!(cloudfront_base64_decode(&encoded).as_deref(), Some(data));
});

/// The JSON parses, has exactly one statement with the expected keys, and the resource reads
/// back exactly.
fn check(policy: &Policy, resource: &str) {
    let json = policy.json();
    assert!(json.is_ascii());
    assert!(json.starts_with(r#"{"Statement":[{"Resource":""#));
    let rest = &json[r#"{"Statement":[{"Resource":""#.len()..];
    let end = rest.find('"').expect("the resource string is closed");
    let decoded = decode_json_string(&rest[..end]);
    assert_eq!(decoded, resource);
    assert!(rest[end..].starts_with(r#"","Condition":{"DateLessThan":{"AWS:EpochTime":"#));
    assert_eq!(json.matches("\"Resource\"").count(), 1);
    assert!(json.ends_with("}}]}"));
}

/// Decodes the only escapes the policy writer emits (`\uXXXX`, with surrogate pairs).
fn decode_json_string(text: &str) -> String {
    let mut units = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            assert_eq!(chars.next(), Some('u'), "only \\u escapes are written");
            let hex: String = chars.by_ref().take(4).collect();
            units.push(u16::from_str_radix(&hex, 16).expect("four hex digits"));
        } else {
            let mut buffer = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buffer));
        }
    }
    String::from_utf16(&units).expect("valid UTF-16")
}
