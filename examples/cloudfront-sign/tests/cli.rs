//! Runs the `cloudfront-sign` binary and checks its output against known answers (computed with
//! the OpenSSL command line) and against the library.

// Test helpers panic on broken fixtures; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use reel_cloudfront::{
    CookieOptions, HashAlgorithm, Policy, PublicKey, Signer, cloudfront_base64_decode,
};

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/reel-cloudfront/tests/keys"
);
const URL: &str = "https://d111111abcdef8.cloudfront.net/images/photo.jpg?size=large";
/// `printf '%s' "$CANNED_POLICY" | openssl dgst -sha1 -sign rsa2048-pkcs1.pem | base64 | tr '+=/' '-_~'`
const CANNED_SHA1: &str = "R4iyBBzjWW26IobYC6pADSvPUiP8~11KdAZtg8ByXC~KpZ8pR406ZlxM2GKrWxmPLI4JUb58q~zdQ2jT-NIIJXfYKRSRV9yVwhfNdLylrOIs2AYUAfEj46txAGn7mc~gEH~JuB0J6vJVQdPOxX3YyudE-QfujWpEnG6IJTKSPCoRMa-cNOk3ECJHgOYsRQ~Dd3QHn3v9enK7EVaVQ1sKjaITkPCjYfHsHuDi~BjppC-Q-V4w3rFLnp0DIbp2HATBw1nwshmMnVVp1fA2oPirwmLZr5A2KQyjnBThiEGom0CQ0tnKnp~al7OFmZOv0P3U9ZCtV-RvIXjOqWwFAhwNoQ__";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloudfront-sign"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn key(name: &str) -> String {
    format!("{KEYS}/{name}")
}

#[test]
fn canned_url_known_answer() {
    let rsa = key("rsa2048-pkcs1.pem");
    let output = run(&[
        "url",
        "--key-pair-id",
        "K2JCJMDEHXQW5F",
        "--private-key",
        &rsa,
        "--url",
        URL,
        "--expires",
        "1900000000",
    ]);
    assert_eq!(
        stdout(&output),
        format!("{URL}&Expires=1900000000&Signature={CANNED_SHA1}&Key-Pair-Id=K2JCJMDEHXQW5F\n")
    );
    // DER keys and `--flag=value` work the same.
    let der = key("rsa2048-pkcs8.der");
    let output = run(&[
        "url",
        "--key-pair-id=K2JCJMDEHXQW5F",
        "--private-key",
        &der,
        "--url",
        URL,
        "--expires=1900000000",
        "--hash",
        "sha1",
    ]);
    assert!(stdout(&output).contains(CANNED_SHA1));
}

/// Key files as teams have them: `openssl ecparam -genkey` output (an `EC PARAMETERS` block
/// first), a PEM on one line, and an encrypted PKCS#8 key
/// (`openssl pkcs8 -topk8 -v2 aes256 -passout pass:reel-test-passphrase`) with its passphrase
/// from the environment.
#[test]
fn real_world_key_files_sign() {
    let dir = std::env::temp_dir().join(format!("reel-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sec1 = std::fs::read_to_string(key("p256-sec1.pem")).unwrap();
    let with_params = dir.join("ecparam-genkey.pem");
    std::fs::write(
        &with_params,
        format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{sec1}"
        ),
    )
    .unwrap();
    let one_line = dir.join("one-line.pem");
    let pkcs1 = std::fs::read_to_string(key("rsa2048-pkcs1.pem")).unwrap();
    std::fs::write(&one_line, pkcs1.replace('\n', "")).unwrap();
    let url_for = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "url",
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--private-key",
            file,
            "--url",
            URL,
            "--expires",
            "1900000000",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let ec = stdout(&url_for(with_params.to_str().unwrap(), &[]));
    assert!(ec.trim_end().ends_with("&Hash-Algorithm=SHA256"), "{ec}");
    assert!(stdout(&url_for(one_line.to_str().unwrap(), &[])).contains(CANNED_SHA1));

    let encrypted = key("rsa2048-pkcs8-aes256.pem");
    let output = Command::new(env!("CARGO_BIN_EXE_cloudfront-sign"))
        .args([
            "url",
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--private-key",
            &encrypted,
        ])
        .args(["--url", URL, "--expires", "1900000000"])
        .args(["--passphrase-env", "REEL_CLI_TEST_PASSPHRASE"])
        .env("REEL_CLI_TEST_PASSPHRASE", "reel-test-passphrase")
        .output()
        .unwrap();
    assert!(stdout(&output).contains(CANNED_SHA1));
    let without = url_for(&encrypted, &[]);
    assert!(!without.status.success());
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("encrypted"),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn custom_url_and_cookies_match_the_library() {
    let rsa = key("rsa2048-pkcs8.pem");
    let video = "https://d111111abcdef8.cloudfront.net/videos/intro.mp4";
    let flags = [
        "--key-pair-id",
        "K2JCJMDEHXQW5F",
        "--private-key",
        &rsa,
        "--url",
        video,
        "--expires",
        "4102444800",
        "--starts",
        "1700000000",
        "--ip",
        "203.0.113.7",
        "--resource",
        "https://d111111abcdef8.cloudfront.net/videos/*",
        "--hash",
        "sha256",
    ];
    let signer = Signer::from_pem("K2JCJMDEHXQW5F", &std::fs::read_to_string(&rsa).unwrap())
        .unwrap()
        .with_hash_algorithm(HashAlgorithm::Sha256)
        .unwrap();
    let policy = Policy::custom(
        "https://d111111abcdef8.cloudfront.net/videos/*",
        4_102_444_800,
    )
    .starts(1_700_000_000)
    .source_ip("203.0.113.7")
    .build()
    .unwrap();

    let url = stdout(&run(&[&["url"], &flags[..]].concat()));
    assert_eq!(
        url,
        format!("{}\n", signer.signed_url(video, &policy).unwrap())
    );
    assert!(url.trim_end().ends_with("&Hash-Algorithm=SHA256"));

    let cookies = stdout(&run(&[&["cookies"], &flags[..]].concat()));
    let expected: String = signer
        .signed_cookies(&policy, &CookieOptions::new())
        .unwrap()
        .iter()
        .map(|c| format!("{}={}\n", c.name(), c.value()))
        .collect();
    assert_eq!(cookies, expected);
    let names: Vec<&str> = cookies
        .lines()
        .map(|l| l.split_once('=').unwrap().0)
        .collect();
    assert_eq!(
        names,
        [
            "CloudFront-Policy",
            "CloudFront-Signature",
            "CloudFront-Key-Pair-Id",
            "CloudFront-Hash-Algorithm"
        ]
    );
}

#[test]
fn ecdsa_cookies_verify() {
    let output = run(&[
        "cookies",
        "--key-pair-id",
        "KECDSA",
        "--private-key",
        &key("p256-sec1.pem"),
        "--url",
        URL,
        "--expires",
        "4102444800",
    ]);
    let text = stdout(&output);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    assert_eq!(value("CloudFront-Expires"), "4102444800");
    assert_eq!(value("CloudFront-Hash-Algorithm"), "SHA256");
    let public =
        PublicKey::from_pem(&std::fs::read_to_string(key("p256-public.pem")).unwrap()).unwrap();
    let policy = Policy::canned(URL, 4_102_444_800).unwrap();
    let signature = cloudfront_base64_decode(&value("CloudFront-Signature")).unwrap();
    assert!(public.verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha256));
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let rsa = key("rsa2048-pkcs1.pem");
    let cases: [(&[&str], i32, &str); 8] = [
        (&[], 2, "missing command"),
        (&["sign"], 2, "unknown command"),
        (&["url", "--url"], 2, "--url needs a value"),
        (&["url", "--expires", "soon"], 2, "Unix seconds"),
        (&["url", "--hash", "md5"], 2, "sha1 or sha256"),
        (
            &["url", "--private-key", &rsa, "--url", URL, "--expires", "1"],
            1,
            "--key-pair-id is required",
        ),
        (
            &[
                "url",
                "--key-pair-id",
                "K",
                "--private-key",
                &rsa,
                "--url",
                URL,
                "--expires",
                "1",
            ],
            1,
            "not after the current time",
        ),
        (
            &[
                "url",
                "--key-pair-id",
                "K",
                "--private-key",
                &key("p256-sec1.pem"),
                "--url",
                URL,
                "--expires",
                "4102444800",
                "--hash",
                "sha1",
            ],
            1,
            "SHA-256 only",
        ),
    ];
    for (args, code, message) in cases {
        let output = run(args);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let output = run(&[
        "url",
        "--key-pair-id",
        "K",
        "--private-key",
        &key("dsa-pkcs8.pem"),
        "--url",
        URL,
        "--expires",
        "4102444800",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("DSA"));
    let output = run(&[
        "url",
        "--key-pair-id",
        "K",
        "--private-key",
        &rsa,
        "--url",
        URL,
        "--expires",
        "4102444800",
        "--ip",
        "2001:db8::1",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("IPv4 only"));
    assert!(stdout(&run(&["--help"])).contains("usage: cloudfront-sign"));
}

#[test]
fn help_exits_zero() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cloudfront-sign"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("cloudfront-sign"),
        "{output:?}"
    );
}
