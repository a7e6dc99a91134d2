//! Compatibility with AWS's own signers, run for real: botocore's `CloudFrontSigner` (Python,
//! with `cryptography` for the RSA/ECDSA operations) and `@aws-sdk/cloudfront-signer`'s
//! `getSignedCookies` (Node). A generated corpus of URLs, query strings, non-ASCII paths,
//! wildcard resources, IPv4 ranges, expiries, hash algorithms and keys goes to one Python and
//! one Node process (JSON lines on stdin), and every answer is compared with this crate's.
//!
//! - RSA PKCS#1 v1.5 signatures are deterministic, so signed URLs must equal botocore's byte for
//!   byte, and cookies built from the same policy must equal the JS SDK's.
//! - ECDSA signatures are randomised by the references, so everything but the signature is
//!   compared, and each side's signature is verified with the other side's code.
//! - Where the JS SDK writes a different but equivalent policy (conditions in another order,
//!   raw UTF-8 instead of `\uXXXX`), the decoded policies are compared as JSON values.
//!
//! Needs `botocore` and `cryptography` in the testkit venv and `@aws-sdk/cloudfront-signer` in
//! its npm prefix (`cargo xtask setup`).

// Test helpers panic on broken fixtures or missing tools; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reel_cloudfront::{
    CookieOptions, HashAlgorithm, KeyKind, Policy, Signer, SigningKey, cloudfront_base64_decode,
    encode_url,
};
use reel_core::ManualClock;
use serde_json::{Value, json};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat");
const NOW: u64 = 1_700_000_000;

struct Case {
    id: usize,
    key_file: &'static str,
    key_pair_id: &'static str,
    hash: HashAlgorithm,
    custom: bool,
    url: String,
    resource: String,
    expires: u64,
    starts: Option<u64>,
    ip: Option<&'static str>,
}

/// A small deterministic generator, so the corpus is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const HOSTS: [&str; 4] = [
    "https://d111111abcdef8.cloudfront.net",
    "http://d111111abcdef8.cloudfront.net",
    "https://media.example.com",
    "https://cdn.example.org:8443",
];
const PATHS: [&str; 14] = [
    "/",
    "/a.jpg",
    "/videos/2024/intro.mp4",
    "/path%20with%20spaces/file.txt",
    "/caf\u{e9}/cr\u{e8}me-br\u{fb}l\u{e9}e.png",
    "/\u{65e5}\u{672c}\u{8a9e}/\u{1f3ac}.mp4",
    "/a+b/c~d/e_f.js",
    "/semi;colon,comma/x=y",
    "/%E2%9C%93/check",
    "/literal*star?/",
    "/deep/er/and/deeper/still/0123456789abcdef0123456789abcdef/segment.m3u8",
    "/hls/master.m3u8",
    "/UPPER/Case.JPG",
    "/'quote'/(paren)/[bracket]/{brace}/|pipe|/^caret^/`tick`",
];
const QUERIES: [&str; 8] = [
    "",
    "",
    "?size=large",
    "?a=1&b=2&c=3",
    "?q=%20x&empty=",
    "?flag",
    "?unicode=\u{fc}ber&emoji=\u{1f680}",
    "?response-content-disposition=attachment%3B%20filename%3D%22a.pdf%22",
];
const EXPIRIES: [u64; 8] = [
    NOW + 1,
    NOW + 60,
    NOW + 3_600,
    NOW + 86_400 * 365 * 10,
    1_900_000_000,
    2_147_483_648,
    4_102_444_800,
    9_999_999_999,
];
const IPS: [&str; 7] = [
    "203.0.113.7",
    "203.0.113.0/24",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "192.0.2.1/32",
    "198.51.100.128/25",
    "255.255.255.255",
];
const KEY_CHOICES: [(&str, &str, HashAlgorithm); 5] = [
    ("rsa2048-pkcs1.pem", "K2JCJMDEHXQW5F", HashAlgorithm::Sha1),
    (
        "rsa2048-pkcs8.pem",
        "APKAEIBAERJR2EXAMPLE",
        HashAlgorithm::Sha256,
    ),
    ("rsa2048-second.pem", "K3SECONDKEY", HashAlgorithm::Sha1),
    ("rsa2048-second.pem", "K3SECONDKEY", HashAlgorithm::Sha256),
    ("p256-sec1.pem", "KECDSAP256", HashAlgorithm::Sha256),
];

/// Wildcard patterns that cover `url` in the ways users write them.
fn resource_for(url: &str, choice: u64) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host_end = rest.find('/').unwrap_or(rest.len());
    let (host, path) = rest.split_at(host_end);
    match choice % 7 {
        0 => url.to_owned(),
        1 => match url.rfind('/') {
            Some(slash) if slash > scheme.len() + 3 => format!("{}*", &url[..=slash]),
            _ => format!("{url}*"),
        },
        2 => format!("{scheme}://{host}/*"),
        3 => format!("http*://{host}{path}"),
        4 => "*".to_owned(),
        5 => {
            // Replace one ASCII character of the path with `?`.
            let chars: Vec<char> = url.chars().collect();
            let candidates: Vec<usize> = (scheme.len() + 3 + host.len()..chars.len())
                .filter(|i| chars[*i].is_ascii_alphanumeric())
                .collect();
            match candidates.get(choice as usize % candidates.len().max(1)) {
                Some(index) => {
                    let mut chars = chars;
                    chars[*index] = '?';
                    chars.into_iter().collect()
                }
                None => url.to_owned(),
            }
        }
        _ => format!("*{path}"),
    }
}

fn corpus() -> Vec<Case> {
    let mut rng = Lcg(0x5eed_c10d_f407);
    let mut cases = Vec::new();
    for id in 0..420 {
        let url = format!(
            "{}{}{}",
            rng.pick(&HOSTS),
            rng.pick(&PATHS),
            rng.pick(&QUERIES)
        );
        // Non-ASCII is refused raw (CloudFront would answer 403): sign the encoded URL clients
        // request, encoded as the JS SDK encodes it.
        let url = if url.is_ascii() {
            url
        } else {
            encode_url(&url)
        };
        let (key_file, key_pair_id, hash) = *rng.pick(&KEY_CHOICES);
        let expires = *rng.pick(&EXPIRIES);
        let custom = id % 3 != 0;
        let (resource, starts, ip) = if custom {
            let resource = resource_for(&url, rng.next());
            let starts = rng
                .next()
                .is_multiple_of(2)
                .then(|| NOW - 86_400 + rng.next() % 86_401);
            let ip = (!rng.next().is_multiple_of(3)).then(|| *rng.pick(&IPS));
            (resource, starts.filter(|s| *s < expires), ip)
        } else {
            (url.clone(), None, None)
        };
        cases.push(Case {
            id,
            key_file,
            key_pair_id,
            hash,
            custom,
            url,
            resource,
            expires,
            starts,
            ip,
        });
    }
    cases
}

struct Ours {
    url: String,
    policy: String,
    signature: String,
    cookies: BTreeMap<String, String>,
}

/// Parsed keys, one per file: parsing is the slow part in debug builds.
fn key(file: &str) -> Arc<SigningKey> {
    static KEYS_BY_FILE: OnceLock<Mutex<BTreeMap<String, Arc<SigningKey>>>> = OnceLock::new();
    let mut keys = KEYS_BY_FILE.get_or_init(Default::default).lock().unwrap();
    Arc::clone(keys.entry(file.to_owned()).or_insert_with(|| {
        let pem = std::fs::read_to_string(format!("{KEYS}/{file}")).unwrap();
        Arc::new(SigningKey::from_pem(&pem).unwrap())
    }))
}

/// The corpus and this crate's answers, computed once for both tests.
fn signed_corpus() -> &'static [(Case, Ours)] {
    static CORPUS: OnceLock<Vec<(Case, Ours)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        // rsa is slow without optimisation, so use every core.
        let cases = corpus();
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let chunk = cases.len().div_ceil(threads);
        let mut signed: Vec<Ours> = Vec::with_capacity(cases.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> = cases
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(sign_ours).collect::<Vec<_>>()))
                .collect();
            for handle in handles {
                signed.extend(handle.join().unwrap());
            }
        });
        cases.into_iter().zip(signed).collect()
    })
}

fn sign_ours(case: &Case) -> Ours {
    let signer = Signer::from_shared(case.key_pair_id, key(case.key_file))
        .unwrap()
        .with_hash_algorithm(case.hash)
        .unwrap()
        .with_clock(Arc::new(ManualClock::at_unix(Duration::from_secs(NOW))));
    let policy = if case.custom {
        let mut builder = Policy::custom(case.resource.clone(), case.expires);
        if let Some(starts) = case.starts {
            builder = builder.starts(starts);
        }
        if let Some(ip) = case.ip {
            builder = builder.source_ip(ip);
        }
        builder.build().unwrap()
    } else {
        Policy::canned(&case.url, case.expires).unwrap()
    };
    let signed = signer.sign(&policy).unwrap();
    let url = signer.signed_url(&case.url, &policy).unwrap();
    let cookies = signed
        .cookies(&CookieOptions::new())
        .iter()
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect();
    Ours {
        url,
        policy: policy.json().to_owned(),
        signature: signed.signature().to_owned(),
        cookies,
    }
}

fn case_json(case: &Case, ours: &Ours) -> Value {
    json!({
        "id": case.id,
        "key": format!("{KEYS}/{}", case.key_file),
        "key_pair_id": case.key_pair_id,
        "hash": case.hash.to_string(),
        "custom": case.custom,
        "url": case.url,
        "resource": case.resource,
        "expires": case.expires,
        "starts": case.starts,
        "ip": case.ip,
        "our_policy": ours.policy,
        "our_signature": ours.signature,
    })
}

/// Runs `command` once over all cases (one JSON line each) and returns its answers by id.
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
    let answers: BTreeMap<u64, Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            (value["id"].as_u64().unwrap(), value)
        })
        .collect();
    assert_eq!(answers.len(), inputs.len(), "one answer per case");
    answers
}

fn without_signature(url: &str) -> String {
    let start = url.find("Signature=").unwrap();
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    format!("{}{}", &url[..start], &url[end..])
}

fn public_key(case: &Case) -> reel_cloudfront::PublicKey {
    key(case.key_file).public_key()
}

fn signed_with_ecdsa(case: &Case) -> bool {
    public_key(case).kind() == KeyKind::EcdsaP256
}

#[test]
fn signed_urls_match_botocore() {
    let python = reel_testkit::python().unwrap_or_else(|e| panic!("{e}"));
    let corpus = signed_corpus();
    let inputs: Vec<Value> = corpus.iter().map(|(c, o)| case_json(c, o)).collect();
    let mut command = Command::new(python);
    command.arg(format!("{SCRIPTS}/botocore_signer.py"));
    let answers = run_batch(
        command,
        &inputs,
        "install botocore and cryptography into reel-venv (`cargo xtask setup`)",
    );

    let (mut exact, mut ecdsa) = (0, 0);
    for (case, ours) in corpus {
        let answer = &answers[&(case.id as u64)];
        let context = format!("case {} ({} {:?})", case.id, case.url, case.resource);
        assert_eq!(answer["policy"].as_str().unwrap(), ours.policy, "{context}");
        assert_eq!(answer["ours_verified"], json!(true), "{context}");
        let theirs = answer["url"].as_str().unwrap();
        if signed_with_ecdsa(case) {
            assert_eq!(
                without_signature(theirs),
                without_signature(&ours.url),
                "{context}"
            );
            let der = hex_decode(answer["signature_der"].as_str().unwrap());
            assert!(
                public_key(case).verify(ours.policy.as_bytes(), &der, case.hash),
                "botocore's ECDSA signature does not verify: {context}"
            );
            ecdsa += 1;
        } else {
            assert_eq!(theirs, ours.url, "{context}");
            exact += 1;
        }
    }
    assert!(exact >= 300 && ecdsa >= 50, "exact {exact}, ecdsa {ecdsa}");
}

#[test]
fn signed_cookies_match_the_js_sdk() {
    let modules = reel_testkit::node_modules().unwrap_or_else(|e| panic!("{e}"));
    let corpus = signed_corpus();
    let inputs: Vec<Value> = corpus.iter().map(|(c, o)| case_json(c, o)).collect();
    let mut command = Command::new("node");
    command
        .arg(format!("{SCRIPTS}/js_signer.cjs"))
        .env("NODE_PATH", &modules);
    let answers = run_batch(
        command,
        &inputs,
        "install @aws-sdk/cloudfront-signer into reel-node (`cargo xtask setup`)",
    );

    let mut counts = BTreeMap::<&str, usize>::new();
    for (case, ours) in corpus {
        let answer = &answers[&(case.id as u64)];
        let context = format!("case {} ({} {:?})", case.id, case.url, case.resource);
        let ecdsa = signed_with_ecdsa(case);
        assert_eq!(answer["ours_verified"], json!(true), "{context}");

        // Cookies the SDK signs from our policy text: identical (RSA) or verifying (ECDSA).
        if case.custom {
            let theirs = cookie_map(&answer["from_policy"]);
            compare_cookies(case, ours, &theirs, ecdsa, ours.policy.as_bytes(), &context);
            *counts.entry("from_policy").or_default() += 1;
        }

        // Cookies the SDK builds from the same parameters.
        let from_params = &answer["from_params"];
        if from_params.is_null() {
            continue;
        }
        let resource_is_url =
            case.resource.starts_with("https://") || case.resource.starts_with("http://");
        if !resource_is_url {
            // The SDK only accepts http(s) URLs as resources; patterns go through `policy`.
            assert!(from_params["error"].is_string(), "{context}: {from_params}");
            *counts.entry("sdk_refuses_pattern").or_default() += 1;
            continue;
        }
        let theirs = cookie_map(from_params);
        let same_bytes = case.resource.is_ascii() && !(case.starts.is_some() && case.ip.is_some());
        if same_bytes {
            compare_cookies(case, ours, &theirs, ecdsa, ours.policy.as_bytes(), &context);
            *counts.entry("from_params_identical").or_default() += 1;
        } else {
            // Equivalent policy, other bytes: compare meaning, check their signature over
            // their own bytes.
            let their_policy = match theirs.get("CloudFront-Policy") {
                Some(encoded) => {
                    String::from_utf8(cloudfront_base64_decode(encoded).unwrap()).unwrap()
                }
                None => {
                    // Canned: the SDK signs the URL with raw UTF-8 (JSON.stringify).
                    assert_eq!(
                        theirs["CloudFront-Expires"],
                        case.expires.to_string(),
                        "{context}"
                    );
                    format!(
                        r#"{{"Statement":[{{"Resource":"{}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{}}}}}}}]}}"#,
                        case.url, case.expires
                    )
                }
            };
            let ours_value: Value = serde_json::from_str(&ours.policy).unwrap();
            let theirs_value: Value = serde_json::from_str(&their_policy).unwrap();
            assert_eq!(ours_value, theirs_value, "{context}");
            let signature = cloudfront_base64_decode(&theirs["CloudFront-Signature"]).unwrap();
            assert!(
                public_key(case).verify(their_policy.as_bytes(), &signature, case.hash),
                "{context}"
            );
            for name in ["CloudFront-Key-Pair-Id", "CloudFront-Hash-Algorithm"] {
                assert_eq!(
                    theirs.get(name),
                    ours.cookies.get(name),
                    "{context}: {name}"
                );
            }
            *counts.entry("from_params_equivalent").or_default() += 1;
        }
    }
    assert!(counts["from_policy"] >= 200, "{counts:?}");
    assert!(counts["from_params_identical"] >= 150, "{counts:?}");
    assert!(counts["from_params_equivalent"] >= 20, "{counts:?}");
    assert!(counts["sdk_refuses_pattern"] >= 10, "{counts:?}");
}

fn cookie_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected cookies, got {value}"))
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

fn compare_cookies(
    case: &Case,
    ours: &Ours,
    theirs: &BTreeMap<String, String>,
    ecdsa: bool,
    signed_bytes: &[u8],
    context: &str,
) {
    if ecdsa {
        let strip = |map: &BTreeMap<String, String>| {
            let mut map = map.clone();
            map.remove("CloudFront-Signature");
            map
        };
        assert_eq!(strip(theirs), strip(&ours.cookies), "{context}");
        let signature = cloudfront_base64_decode(&theirs["CloudFront-Signature"]).unwrap();
        assert!(
            public_key(case).verify(signed_bytes, &signature, case.hash),
            "the SDK's ECDSA signature does not verify: {context}"
        );
    } else {
        assert_eq!(theirs, &ours.cookies, "{context}");
    }
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
