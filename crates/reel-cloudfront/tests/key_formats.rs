//! Key files as teams have them: a corpus generated at test time with the openssl command line
//! and Python `cryptography` (RSA 2048 and P-256; PKCS#1, SEC1 and PKCS#8; PEM and DER;
//! encrypted and not), each PEM also rewritten in the layouts keys arrive in (other line
//! widths, one line, CRLF, text around the block, indentation, header lines, literal `\n`...).
//!
//! For every file, reel must accept it exactly when `cryptography` does (botocore users load
//! keys with it), and a key both accept must sign like botocore: byte-identical signed URLs for
//! RSA (deterministic PKCS#1 v1.5), and for ECDSA (randomised) the same URL apart from the
//! signature, with each side's signature verified by the other.
//!
//! Needs the openssl CLI and `botocore` + `cryptography` in the testkit venv
//! (`cargo xtask setup`).

// Test helpers panic on broken fixtures or missing tools; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reel_cloudfront::{Error, KeyKind, Signer, SigningKey, cloudfront_base64_decode};
use reel_core::{ManualClock, SecretSource};
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/key_corpus.py");
const PASSPHRASE: &str = "correct horse battery staple";
const URL: &str = "https://d111111abcdef8.cloudfront.net/keys/corpus.jpg?size=large";
const EXPIRES: u64 = 1_900_000_000;
const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("reel-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}; install the openssl CLI"));
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Key files written by the openssl CLI, named `ossl-<kind>.<layout>`.
fn generate_with_openssl(dir: &Path) {
    generate_rsa_with_openssl(dir);
    generate_ec_with_openssl(dir);
    for kind in ["rsa", "ec"] {
        encrypt_with_openssl(dir, kind);
    }
}

/// RSA: PKCS#8 (genpkey's default) and PKCS#1, PEM and DER.
fn generate_rsa_with_openssl(dir: &Path) {
    let run = |args: &[&str]| openssl(dir, args);
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "ossl-rsa.pkcs8.pem",
    ]);
    run(&[
        "pkey",
        "-in",
        "ossl-rsa.pkcs8.pem",
        "-outform",
        "DER",
        "-out",
        "ossl-rsa.pkcs8.der",
    ]);
    run(&[
        "rsa",
        "-in",
        "ossl-rsa.pkcs8.pem",
        "-traditional",
        "-out",
        "ossl-rsa.pkcs1.pem",
    ]);
    run(&[
        "rsa",
        "-in",
        "ossl-rsa.pkcs8.pem",
        "-traditional",
        "-outform",
        "DER",
        "-out",
        "ossl-rsa.pkcs1.der",
    ]);
}

/// EC: SEC1 with and without the public key or with explicit curve parameters, and PKCS#8.
fn generate_ec_with_openssl(dir: &Path) {
    let run = |args: &[&str]| openssl(dir, args);
    // EC: `ecparam -genkey` writes an EC PARAMETERS block before the SEC1 key.
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-out",
        "ossl-ec.ecparam-genkey.pem",
    ]);
    run(&[
        "ec",
        "-in",
        "ossl-ec.ecparam-genkey.pem",
        "-out",
        "ossl-ec.sec1.pem",
    ]);
    run(&[
        "ec",
        "-in",
        "ossl-ec.sec1.pem",
        "-outform",
        "DER",
        "-out",
        "ossl-ec.sec1.der",
    ]);
    run(&[
        "ec",
        "-in",
        "ossl-ec.sec1.pem",
        "-no_public",
        "-out",
        "ossl-ec.sec1-no-public.pem",
    ]);
    run(&[
        "ec",
        "-in",
        "ossl-ec.sec1.pem",
        "-param_enc",
        "explicit",
        "-out",
        "ossl-ec.sec1-explicit-curve.pem",
    ]);
    run(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "ossl-ec.sec1.pem",
        "-out",
        "ossl-ec.pkcs8.pem",
    ]);
    run(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "ossl-ec.sec1.pem",
        "-outform",
        "DER",
        "-out",
        "ossl-ec.pkcs8.der",
    ]);
}

/// The encrypted PKCS#8 schemes openssl offers, by name, with their `openssl pkcs8` options.
const SCHEMES: [(&str, &[&str]); 9] = [
    ("aes256", &["-v2", "aes256"]),
    ("aes128-sha1", &["-v2", "aes128", "-v2prf", "hmacWithSHA1"]),
    ("des3", &["-v2", "des3"]),
    ("scrypt", &["-scrypt"]),
    ("pbe-sha1-3des", &["-v1", "PBE-SHA1-3DES"]),
    // OpenSSL 3 writes these only with its legacy provider.
    (
        "pbe-md5-des",
        &[
            "-v1",
            "PBE-MD5-DES",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
    ),
    (
        "pbe-sha1-rc4",
        &[
            "-v1",
            "PBE-SHA1-RC4-128",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
    ),
    (
        "pbe-sha1-rc2-40",
        &[
            "-v1",
            "PBE-SHA1-RC2-40",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
    ),
    (
        "pbe-sha1-2des",
        &[
            "-v1",
            "PBE-SHA1-2DES",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
    ),
];

/// `ossl-<kind>.pkcs8.pem` encrypted in every scheme of [`SCHEMES`], PEM and DER, and in
/// OpenSSL's legacy PEM encryption.
fn encrypt_with_openssl(dir: &Path, kind: &str) {
    let pass = format!("pass:{PASSPHRASE}");
    let run = |args: &[&str]| openssl(dir, args);
    let input = format!("ossl-{kind}.pkcs8.pem");
    for (name, scheme) in SCHEMES {
        for form in ["PEM", "DER"] {
            let out = format!("ossl-{kind}.pkcs8-enc-{name}.{}", form.to_lowercase());
            let mut args = vec!["pkcs8", "-topk8", "-in", &input, "-passout", &pass];
            args.extend_from_slice(scheme);
            args.extend_from_slice(&["-outform", form, "-out", &out]);
            run(&args);
        }
    }
    // OpenSSL's legacy PEM encryption (Proc-Type: 4,ENCRYPTED).
    let tool = if kind == "rsa" { "rsa" } else { "ec" };
    let out = format!("ossl-{kind}.traditional-enc-aes256.pem");
    let mut args = vec![
        tool, "-in", &input, "-aes256", "-passout", &pass, "-out", &out,
    ];
    if kind == "rsa" {
        args.push("-traditional");
    }
    run(&args);
}

/// The layouts a PEM key arrives in, each made from the file's own text.
fn layouts(pem: &str) -> Vec<(&'static str, String)> {
    let lf = pem.replace("\r\n", "\n");
    let lines: Vec<&str> = lf.lines().collect();
    let body_lines = |f: &dyn Fn(&str) -> String| -> String {
        lines
            .iter()
            .map(|line| {
                if line.starts_with("-----") || line.contains(':') {
                    (*line).to_owned()
                } else {
                    f(line)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    // Re-wrap the base64 of every block at `width` columns (0: no line breaks at all).
    let rewrap = |width: usize, separator: &str| -> String {
        let mut out = String::new();
        let mut body = String::new();
        for line in &lines {
            if line.starts_with("-----BEGIN") {
                out.push_str(line);
                out.push_str(separator);
            } else if line.starts_with("-----END") {
                if width == 0 {
                    out.push_str(&body);
                } else {
                    let chunks: Vec<String> = body
                        .as_bytes()
                        .chunks(width)
                        .map(|c| String::from_utf8(c.to_vec()).unwrap())
                        .collect();
                    out.push_str(&chunks.join(separator));
                }
                out.push_str(separator);
                out.push_str(line);
                out.push_str(separator);
                body.clear();
            } else if line.contains(':') || line.is_empty() {
                // Header lines (legacy encryption) keep their own lines.
                out.push_str(line);
                out.push('\n');
            } else {
                body.push_str(line);
            }
        }
        out
    };
    let first_body_line = lines
        .iter()
        .position(|l| !l.starts_with("-----") && !l.contains(':') && !l.is_empty())
        .unwrap_or(1);
    let mut with_blank = lines.clone();
    with_blank.insert(first_body_line + 1, "");
    let mut with_header = lines.clone();
    if !lf.contains("Proc-Type") {
        with_header.insert(1, "Comment: exported by a secrets manager");
        with_header.insert(2, "");
    }
    vec![
        ("as-written", pem.to_owned()),
        ("wrapped-76", rewrap(76, "\n")),
        ("wrapped-40", rewrap(40, "\n")),
        ("one-line", rewrap(0, "")),
        ("one-line-spaces", rewrap(0, " ")),
        ("crlf", lf.replace('\n', "\r\n")),
        ("cr-only", lf.replace('\n', "\r")),
        (
            "text-before-and-after",
            format!("Bag Attributes\n    friendlyName: signer\n{lf}trailing notes\n"),
        ),
        ("trailing-blank-lines", format!("{lf}\n\n\n")),
        ("no-final-newline", lf.trim_end().to_owned()),
        ("indented", body_lines(&|line| format!("    {line}"))),
        ("header-line", with_header.join("\n") + "\n"),
        ("literal-backslash-n", lf.replace('\n', "\\n")),
        ("blank-line-in-base64", with_blank.join("\n") + "\n"),
        (
            "mismatched-end-label",
            lf.replacen("-----END ", "-----END OTHER ", 1),
        ),
        (
            "truncated-base64",
            lf.replacen(
                lines[first_body_line],
                &lines[first_body_line][..lines[first_body_line].len() - 3],
                1,
            ),
        ),
    ]
}

struct Item {
    id: usize,
    name: String,
    path: PathBuf,
    passphrase: Option<&'static str>,
}

/// Reel's verdict: the signed URL, or the error.
fn ours(item: &Item) -> Result<(Signer, String), Error> {
    let bytes = std::fs::read(&item.path).unwrap();
    let key = match item.passphrase {
        None => SigningKey::from_bytes(&bytes)?,
        Some(passphrase) => decrypt(&bytes, passphrase)?,
    };
    let signer = Signer::new(KEY_PAIR_ID, key)?.with_clock(Arc::new(ManualClock::at_unix(
        Duration::from_secs(1_700_000_000),
    )));
    let url = signer.canned_url(URL, EXPIRES)?;
    Ok((signer, url))
}

#[cfg(feature = "encrypted-keys")]
fn decrypt(bytes: &[u8], passphrase: &str) -> Result<SigningKey, Error> {
    SigningKey::from_encrypted(bytes, passphrase)
}

#[cfg(not(feature = "encrypted-keys"))]
fn decrypt(bytes: &[u8], _passphrase: &str) -> Result<SigningKey, Error> {
    SigningKey::from_bytes(bytes)
}

fn signature_of(url: &str) -> &str {
    let start = url.find("Signature=").unwrap() + "Signature=".len();
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    &url[start..end]
}

fn without_signature(url: &str) -> String {
    url.replace(signature_of(url), "")
}

/// Files `cryptography` loads and reel knowingly refuses, with the words reel's error must use.
/// RC4 and 40-bit RC2 are broken ciphers reel does not ship: the error names the scheme and
/// gives the conversion command.
const KNOWN_GAPS: [(&str, &str); 2] = [
    // `openssl pkcs8 -v1 PBE-SHA1-RC4-128`.
    ("pbe-sha1-rc4", "PBE-SHA1-RC4-128"),
    // `openssl pkcs8 -v1 PBE-SHA1-RC2-40`.
    ("pbe-sha1-rc2-40", "PBE-SHA1-RC2-40"),
];

fn known_gap(name: &str) -> Option<&'static str> {
    KNOWN_GAPS
        .iter()
        .find(|(fragment, _)| name.contains(fragment))
        .map(|(_, words)| *words)
}

/// Every generated file, and every PEM in every layout (written beside it), with the
/// passphrase to try: encrypted files also once with a wrong one.
fn corpus_items(dir: &Path) -> Vec<Item> {
    let mut items = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let encrypted = name.contains("-enc");
        if !cfg!(feature = "encrypted-keys") && encrypted {
            continue;
        }
        let passphrase = encrypted.then_some(PASSPHRASE);
        let bytes = std::fs::read(&file).unwrap();
        let mut push = |name: String, path: PathBuf, passphrase| {
            items.push(Item {
                id: items.len(),
                name,
                path,
                passphrase,
            });
        };
        if let (true, Ok(text)) = (name.ends_with(".pem"), String::from_utf8(bytes)) {
            for (layout, variant) in layouts(&text) {
                let path = dir.join(format!("{name}.{layout}"));
                std::fs::write(&path, variant).unwrap();
                push(format!("{name} [{layout}]"), path, passphrase);
            }
        } else {
            push(name.clone(), file.clone(), passphrase);
        }
        if encrypted {
            items.push(Item {
                id: items.len(),
                name: format!("{name} [wrong passphrase]"),
                path: file.clone(),
                passphrase: Some("wrong"),
            });
        }
    }

    items
}

/// What `cryptography` and botocore make of each item (by id), told reel's signature.
fn botocore_answers(
    python: &Path,
    items: &[Item],
    results: &[Result<(Signer, String), Error>],
) -> BTreeMap<u64, Value> {
    let input: String = items
        .iter()
        .zip(results)
        .map(|(item, result)| {
            let line = json!({
                "id": item.id,
                "path": item.path,
                "passphrase": item.passphrase,
                "key_pair_id": KEY_PAIR_ID,
                "url": URL,
                "expires": EXPIRES,
                "our_signature": result.as_ref().ok().map(|(_, url)| signature_of(url)),
            });
            format!("{line}\n")
        })
        .collect();
    let mut child = Command::new(python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            (value["id"].as_u64().unwrap(), value)
        })
        .collect()
}

/// The items reel and `cryptography` judge differently, and a count of each agreement.
/// Where both accept, the URLs must be the same (RSA) or each side's signature must verify.
fn judge(
    items: &[Item],
    results: &[Result<(Signer, String), Error>],
    answers: &BTreeMap<u64, Value>,
) -> (Vec<String>, BTreeMap<&'static str, usize>) {
    let mut mismatches = Vec::new();
    let mut counts = BTreeMap::<&str, usize>::new();
    for (item, result) in items.iter().zip(results) {
        let answer = &answers[&(item.id as u64)];
        let theirs_accepted = answer["accepted"] == json!(true);
        match (theirs_accepted, result) {
            (false, Err(_)) => *counts.entry("both refuse").or_default() += 1,
            (false, Ok(_)) => mismatches.push(format!(
                "{}: reel accepts, cryptography refuses ({})",
                item.name, answer["error"]
            )),
            (true, Err(error)) => match known_gap(&item.name) {
                Some(words) if error.to_string().contains(words) => {
                    *counts.entry("known gap").or_default() += 1;
                }
                _ => mismatches.push(format!(
                    "{}: cryptography accepts, reel refuses: {error}",
                    item.name
                )),
            },
            (true, Ok((signer, url))) => {
                let theirs = answer["url"].as_str().unwrap();
                assert_eq!(answer["ours_verified"], json!(true), "{}", item.name);
                if signer.key().kind() == KeyKind::Rsa2048 {
                    assert_eq!(url, theirs, "{}", item.name);
                    *counts.entry("identical RSA URL").or_default() += 1;
                } else {
                    assert_eq!(without_signature(url), without_signature(theirs));
                    let der = hex_decode(answer["signature_der"].as_str().unwrap());
                    let policy = reel_cloudfront::Policy::canned(URL, EXPIRES).unwrap();
                    assert!(
                        signer.key().public_key().verify(
                            policy.json().as_bytes(),
                            &der,
                            signer.hash_algorithm()
                        ),
                        "{}: botocore's ECDSA signature does not verify",
                        item.name
                    );
                    let ours = cloudfront_base64_decode(signature_of(url)).unwrap();
                    assert!(!ours.is_empty());
                    *counts.entry("ECDSA verified both ways").or_default() += 1;
                }
            }
        }
    }
    (mismatches, counts)
}

#[test]
fn reel_accepts_exactly_the_keys_cryptography_accepts_and_signs_like_botocore() {
    let python = reel_testkit::python().unwrap_or_else(|e| panic!("{e}"));
    let scratch = Scratch::new("cloudfront-keys");
    let dir = &scratch.0;
    generate_with_openssl(dir);
    let status = Command::new(&python)
        .args([SCRIPT, "generate"])
        .arg(dir)
        .arg(PASSPHRASE)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{SCRIPT} generate failed; install botocore and cryptography (`cargo xtask setup`)"
    );

    let items = corpus_items(dir);
    let results: Vec<Result<(Signer, String), Error>> = items.iter().map(ours).collect();
    let answers = botocore_answers(&python, &items, &results);
    assert_eq!(answers.len(), items.len());
    let (mismatches, counts) = judge(&items, &results, &answers);
    assert!(
        mismatches.is_empty(),
        "{} of {} files judged differently:\n{}",
        mismatches.len(),
        items.len(),
        mismatches.join("\n")
    );
    assert!(counts["identical RSA URL"] >= 50, "{counts:?}");
    assert!(counts["ECDSA verified both ways"] >= 50, "{counts:?}");
    assert!(counts["both refuse"] >= 20, "{counts:?}");
    eprintln!("{} files: {counts:?}", items.len());
}

/// Environment variables and JSON secrets often carry a PEM with literal `\n` sequences:
/// `cryptography` refuses that text (as `SigningKey::from_pem` does), but a key loaded from a
/// secret source is read with real line breaks.
#[test]
fn a_key_from_an_environment_variable_with_literal_newlines_signs() {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/rsa2048-pkcs1.pem"
    ))
    .unwrap();
    let escaped = pem.trim_end().replace('\n', "\\n");
    assert!(SigningKey::from_pem(&escaped).is_err());
    let expected = Signer::from_pem(KEY_PAIR_ID, &pem)
        .unwrap()
        .canned_url(URL, EXPIRES)
        .unwrap();
    for text in [escaped.clone(), escaped.replace("\\n", "\\r\\n")] {
        let signer = Signer::from_secret(KEY_PAIR_ID, &SecretSource::literal(text)).unwrap();
        assert_eq!(signer.canned_url(URL, EXPIRES).unwrap(), expected);
    }
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
