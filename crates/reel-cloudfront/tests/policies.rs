//! Caller-supplied policies and URL encoding, against the references run for real:
//! `Policy::from_json` round-trips botocore's own custom policies (same text, byte-identical
//! signed URLs), and `encode_url` encodes a corpus of paths and queries exactly as
//! `@aws-sdk/cloudfront-signer`'s `getSignedUrl` does.
//!
//! Needs `botocore` + `cryptography` in the testkit venv and `@aws-sdk/cloudfront-signer` in
//! its npm prefix (`cargo xtask setup`).

// Test helpers panic on broken fixtures or missing tools; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reel_cloudfront::{Error, HashAlgorithm, Policy, Signer, encode_url};
use reel_core::ManualClock;
use serde_json::{Value, json};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat");
const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
const NOW: u64 = 1_700_000_000;

fn run_batch(mut command: Command, inputs: &[Value], hint: &str) -> BTreeMap<u64, Value> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}; {hint}"));
    let mut stdin = child.stdin.take().unwrap();
    let input: String = inputs.iter().map(|v| format!("{v}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed ({hint}):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            (value["id"].as_u64().unwrap(), value)
        })
        .collect()
}

fn signer() -> Signer {
    let pem = std::fs::read_to_string(format!("{KEYS}/rsa2048-pkcs1.pem")).unwrap();
    Signer::from_pem(KEY_PAIR_ID, &pem)
        .unwrap()
        .with_clock(Arc::new(ManualClock::at_unix(Duration::from_secs(NOW))))
}

#[test]
fn from_json_round_trips_botocore_custom_policies() {
    let python = reel_testkit::python().unwrap_or_else(|e| panic!("{e}"));
    let resources = [
        (
            "https://d111111abcdef8.cloudfront.net/videos/*",
            "/videos/intro.mp4",
        ),
        ("http*://d111111abcdef8.cloudfront.net/a?c.jpg", "/a/c.jpg"),
        (
            "https://d111111abcdef8.cloudfront.net/exact.jpg?w=300",
            "/exact.jpg?w=300",
        ),
        ("*", "/anything/at/all"),
        (
            "https://cdn.example.org:8443/caf%C3%A9/*",
            "/caf%C3%A9/menu.pdf",
        ),
        ("*/downloads/*.zip", "/downloads/v1.zip"),
    ];
    let ips = [
        None,
        Some("203.0.113.7"),
        Some("10.0.0.0/8"),
        Some("0.0.0.0/0"),
    ];
    let starts = [None, Some(NOW - 60)];
    let expiries = [NOW + 60, 1_900_000_000, 4_102_444_800];
    let mut cases = Vec::new();
    for (resource, path) in resources {
        for ip in ips {
            for start in starts {
                for expires in expiries {
                    let host = if resource.contains("8443") {
                        "https://cdn.example.org:8443"
                    } else {
                        "https://d111111abcdef8.cloudfront.net"
                    };
                    cases.push(json!({
                        "id": cases.len(),
                        "key": format!("{KEYS}/rsa2048-pkcs1.pem"),
                        "key_pair_id": KEY_PAIR_ID,
                        "url": format!("{host}{path}"),
                        "resource": resource,
                        "expires": expires,
                        "starts": start,
                        "ip": ip,
                    }));
                }
            }
        }
    }
    let mut command = Command::new(python);
    command.arg(format!("{SCRIPTS}/policy_roundtrip.py"));
    let answers = run_batch(command, &cases, "install botocore (`cargo xtask setup`)");
    let signer = signer();
    for case in &cases {
        let answer = &answers[&case["id"].as_u64().unwrap()];
        let text = answer["policy"].as_str().unwrap();
        let policy = Policy::from_json(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(policy.json(), text);
        assert!(!policy.is_canned());
        assert_eq!(policy.resource(), case["resource"].as_str().unwrap());
        assert_eq!(policy.expires(), case["expires"].as_u64().unwrap());
        assert_eq!(policy.starts(), case["starts"].as_u64());
        let expected_ip = case["ip"].as_str().map(|ip| {
            if ip.contains('/') {
                ip.to_owned()
            } else {
                format!("{ip}/32")
            }
        });
        assert_eq!(policy.source_ip().map(|ip| ip.to_string()), expected_ip);
        // The builder writes the same bytes botocore does.
        let mut builder = Policy::custom(case["resource"].as_str().unwrap(), policy.expires());
        if let Some(start) = policy.starts() {
            builder = builder.starts(start);
        }
        if let Some(ip) = case["ip"].as_str() {
            builder = builder.source_ip(ip);
        }
        assert_eq!(builder.build().unwrap(), policy);
        let url = case["url"].as_str().unwrap();
        assert_eq!(
            signer.signed_url(url, &policy).unwrap(),
            answer["url"].as_str().unwrap(),
            "{text}"
        );
    }
    assert_eq!(cases.len(), 144);
}

#[test]
fn from_json_keeps_other_writers_bytes_and_refuses_what_cloudfront_refuses() {
    // The JS SDK's order (DateGreaterThan before IpAddress), and pretty-printed text: signed as
    // given.
    let signer = signer().with_hash_algorithm(HashAlgorithm::Sha256).unwrap();
    let public = signer.key().public_key();
    for text in [
        r#"{"Statement":[{"Resource":"https://e.com/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000},"DateGreaterThan":{"AWS:EpochTime":1600000000},"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"}}}]}"#,
        "{\n  \"Statement\": [{\n    \"Condition\": {\"DateLessThan\": {\"AWS:EpochTime\": 1900000000}}\n  }]\n}",
    ] {
        let policy = Policy::from_json(text).unwrap();
        assert_eq!(policy.json(), text);
        let signed = signer.sign(&policy).unwrap();
        let signature = reel_cloudfront::cloudfront_base64_decode(signed.signature()).unwrap();
        assert!(public.verify(text.as_bytes(), &signature, HashAlgorithm::Sha256));
        assert_eq!(
            reel_cloudfront::cloudfront_base64_decode(signed.encoded_policy().unwrap()).unwrap(),
            text.as_bytes()
        );
    }
    assert_eq!(
        Policy::from_json(r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#)
            .unwrap()
            .resource(),
        "*"
    );

    let statement = |condition: &str| {
        format!(r#"{{"Statement":[{{"Resource":"https://e.com/*","Condition":{condition}}}]}}"#)
    };
    let refused = [
        "not json".to_owned(),
        "[]".to_owned(),
        r#"{"Statement":[]}"#.to_owned(),
        r#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":5}}},{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#.to_owned(),
        r#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}],"Version":"2012"}"#.to_owned(),
        r#"{"Statement":[{"Resource":"*","Effect":"Allow","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#.to_owned(),
        statement("{}"),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":"5"}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":-5}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":5.5}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":5,"Other":1}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":5},"StringLike":{"x":"y"}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":5},"DateGreaterThan":{"AWS:EpochTime":9}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"2001:db8::/32"}}"#),
        statement(r#"{"DateLessThan":{"AWS:EpochTime":5},"IpAddress":{"AWS:SourceIp":"1.2.3.4/40"}}"#),
        r#"{"Statement":[{"Resource":"https://e.com/caf\u00e9","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#.to_owned(),
        r#"{"Statement":[{"Resource":"https://e.com/a b","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#.to_owned(),
        r#"{"Statement":[{"Resource":"ftp://e.com/a","Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#.to_owned(),
        r#"{"Statement":[{"Resource":7,"Condition":{"DateLessThan":{"AWS:EpochTime":5}}}]}"#.to_owned(),
    ];
    for text in refused {
        let result = Policy::from_json(&text);
        assert!(result.is_err(), "{text}: accepted");
        if let Err(Error::InvalidPolicy { reason }) = &result {
            assert!(!reason.is_empty());
        }
    }
}

#[test]
fn encode_url_matches_the_js_sdk() {
    let modules = reel_testkit::node_modules().unwrap_or_else(|e| panic!("{e}"));
    let hosts = [
        "https://d111111abcdef8.cloudfront.net",
        "http://cdn.example.org:8080",
    ];
    let paths = [
        "",
        "/",
        "/a.jpg",
        "/path with spaces/file name.txt",
        "/already%20encoded/and raw",
        "/caf\u{e9}/cr\u{e8}me-br\u{fb}l\u{e9}e.png",
        "/\u{65e5}\u{672c}\u{8a9e}/\u{1f3ac}.mp4",
        "/reserved;params,and=signs/a+b@c:d$e&f",
        "/unreserved-_.!~*'()/x",
        "/%E2%9C%93/check%2fslash",
        "/bad%zzescape/100%/%C3(",
        "/quote\"back\\slash/hash#frag",
        "//double//slashes/",
        "/[brackets]/{braces}/|pipe|/^caret^/`tick`",
    ];
    let queries = [
        "",
        "?",
        "?size=large",
        "?a=1&b=2&&c",
        "?q=%20x&empty=&flag",
        "?plus=a+b&space=a b",
        "?unicode=\u{fc}ber&emoji=\u{1f680}",
        "?quote='x'&eq=a=b=c",
        "?lower=%2f%3a&bad=%zz&pct=100%",
        "?response-content-disposition=attachment%3B%20filename%3D%22a.pdf%22",
    ];
    let mut urls = Vec::new();
    for host in hosts {
        for path in paths {
            for query in queries {
                if path.is_empty() && !query.is_empty() {
                    continue;
                }
                urls.push(format!("{host}{path}{query}"));
            }
        }
    }
    let inputs: Vec<Value> = urls
        .iter()
        .enumerate()
        .map(|(id, url)| json!({"id": id, "url": url, "key": format!("{KEYS}/rsa2048-pkcs8.pem")}))
        .collect();
    let mut command = Command::new("node");
    command
        .arg(format!("{SCRIPTS}/js_encode_url.cjs"))
        .env("NODE_PATH", &modules);
    let answers = run_batch(
        command,
        &inputs,
        "install @aws-sdk/cloudfront-signer (`cargo xtask setup`)",
    );
    let signer = signer();
    let mut differences = Vec::new();
    for (id, url) in urls.iter().enumerate() {
        let theirs = answers[&(id as u64)]["encoded"].as_str().unwrap();
        let ours = encode_url(url);
        if ours != theirs {
            differences.push(format!("{url:?}\n  reel: {ours}\n  js:   {theirs}"));
            continue;
        }
        // What the JS SDK would sign is a URL CloudFront can match: it signs here too.
        if let Err(error) = signer.canned_url(&ours, 4_102_444_800) {
            differences.push(format!("{url:?}: encoded {ours:?} does not sign: {error}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} URLs differ:\n{}",
        differences.len(),
        urls.len(),
        differences.join("\n")
    );
    assert!(urls.len() > 250, "{}", urls.len());
}
