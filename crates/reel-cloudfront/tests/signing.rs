//! Known-answer tests: key formats, exact signed URLs and cookies, ECDSA verification and every
//! rejection. Expected signatures were computed with the OpenSSL command line
//! (`printf '%s' "$POLICY" | openssl dgst -sha1 -sign tests/keys/rsa2048-pkcs1.pem | base64 |
//! tr '+=/' '-_~'`), an implementation independent of this crate.

// Test helpers panic on broken fixtures; that is a failed test, not a crash on user data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use reel_cloudfront::cookie::SameSite;
use reel_cloudfront::{
    CookieExpiry, CookieOptions, Error, HashAlgorithm, KeyKind, Policy, PublicKey, Signer,
    SigningKey, cloudfront_base64_decode,
};
use reel_core::{ManualClock, SecretSource};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const KEY_ID: &str = "K2JCJMDEHXQW5F";

fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).unwrap()
}

fn key_text(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

/// A clock fixed at 2023-11-14 so that expiries in 2030 are in the future forever.
fn clock() -> ManualClock {
    ManualClock::at_unix(Duration::from_secs(1_700_000_000))
}

fn rsa_signer() -> Signer {
    Signer::from_pem(KEY_ID, &key_text("rsa2048-pkcs1.pem"))
        .unwrap()
        .with_clock(Arc::new(clock()))
}

const CANNED_URL: &str = "https://d111111abcdef8.cloudfront.net/images/photo.jpg?size=large";
const CANNED_SHA1: &str = "R4iyBBzjWW26IobYC6pADSvPUiP8~11KdAZtg8ByXC~KpZ8pR406ZlxM2GKrWxmPLI4JUb58q~zdQ2jT-NIIJXfYKRSRV9yVwhfNdLylrOIs2AYUAfEj46txAGn7mc~gEH~JuB0J6vJVQdPOxX3YyudE-QfujWpEnG6IJTKSPCoRMa-cNOk3ECJHgOYsRQ~Dd3QHn3v9enK7EVaVQ1sKjaITkPCjYfHsHuDi~BjppC-Q-V4w3rFLnp0DIbp2HATBw1nwshmMnVVp1fA2oPirwmLZr5A2KQyjnBThiEGom0CQ0tnKnp~al7OFmZOv0P3U9ZCtV-RvIXjOqWwFAhwNoQ__";
const CANNED_SHA256: &str = "M0wqac4mBny~s84dGpTxPZ00Joa0iUM4eMTD1~RTPO9zhemTpVaWc6oSnAIk-gPLqgLDWQMX4fsfUPR2iiN9FusyDWohczF9JoNoaiLpvlJEajPbuewwwZnbmTZIOzKIG8RNzCQFV718pJkO2zFhdXg8SYN3TOHjKYvtF7xUY9evhORcGeqVQi-ZswicF4EkRkCgIawRczOIcZXRKvHHfZYI1dJFdUtfZsoUMrzMBAv2xoUq~2ShjQHTlx7V~52N3~kN0e4PdRC2LTF~nGT-~PbLRkCFu9SipynxobmjJ-fZBRy2i2-NON2LH8~1m-4s1lxgBG0DG2Z7ljWQuZYJrA__";
const CUSTOM_POLICY_B64: &str = "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9kMTExMTExYWJjZGVmOC5jbG91ZGZyb250Lm5ldC92aWRlb3MvKiIsIkNvbmRpdGlvbiI6eyJEYXRlTGVzc1RoYW4iOnsiQVdTOkVwb2NoVGltZSI6MTkwMDAwMDAwMH0sIklwQWRkcmVzcyI6eyJBV1M6U291cmNlSXAiOiIyMDMuMC4xMTMuMC8yNCJ9LCJEYXRlR3JlYXRlclRoYW4iOnsiQVdTOkVwb2NoVGltZSI6MTgwMDAwMDAwMH19fV19";
const CUSTOM_SHA1: &str = "LEeG-RPUAPvbbriFrrYeRNoEVC9i4lahdUrfM3kna8YTt0qvCjAU7wXiWGlnOD-Tsd4HGZz~0IzAqYcVzzGFqfZWSAyTrd21-QiWYTXPnpGDTmOjIV1cLJj4hmY9SffKxuK5a2~PY-CcQbah2aropVWiamQm-iRrR868VH0K7SzeXRILsUYAe3~NPmuNhMMylyKdn4VoHS~LtnSSfMTW1hqE-pUa7v8b10Dr0rjBIx94LHxwKebz7h4Odl-zQEHPYXfMyDJz~NRniZ-iFO-SEkXzksT-7GSzCc4YpvocHyq7~ZpnspYvBVDJiQYxVI8MiOg2uFhzYJgR3tfjZKxvKw__";

fn custom_policy() -> Policy {
    Policy::custom(
        "https://d111111abcdef8.cloudfront.net/videos/*",
        1_900_000_000,
    )
    .starts(1_800_000_000)
    .source_ip("203.0.113.0/24")
    .build()
    .unwrap()
}

#[test]
fn canned_url_sha1_known_answer() {
    let url = rsa_signer().canned_url(CANNED_URL, 1_900_000_000).unwrap();
    assert_eq!(
        url,
        format!("{CANNED_URL}&Expires=1900000000&Signature={CANNED_SHA1}&Key-Pair-Id={KEY_ID}")
    );
}

#[test]
fn canned_url_sha256_known_answer() {
    let signer = rsa_signer()
        .with_hash_algorithm(HashAlgorithm::Sha256)
        .unwrap();
    let url = signer.canned_url(CANNED_URL, 1_900_000_000).unwrap();
    assert_eq!(
        url,
        format!(
            "{CANNED_URL}&Expires=1900000000&Signature={CANNED_SHA256}&Key-Pair-Id={KEY_ID}&Hash-Algorithm=SHA256"
        )
    );
}

#[test]
fn custom_url_known_answer() {
    let url = "https://d111111abcdef8.cloudfront.net/videos/intro.mp4";
    let signed = rsa_signer().signed_url(url, &custom_policy()).unwrap();
    assert_eq!(
        signed,
        format!("{url}?Policy={CUSTOM_POLICY_B64}&Signature={CUSTOM_SHA1}&Key-Pair-Id={KEY_ID}")
    );
}

#[test]
fn every_rsa_encoding_gives_the_same_signature() {
    let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    for name in [
        "rsa2048-pkcs1.pem",
        "rsa2048-pkcs8.pem",
        "rsa2048-pkcs1.der",
        "rsa2048-pkcs8.der",
    ] {
        let key = SigningKey::from_bytes(&key_bytes(name)).unwrap();
        assert_eq!(key.kind(), KeyKind::Rsa2048, "{name}");
        let signer = Signer::new(KEY_ID, key)
            .unwrap()
            .with_clock(Arc::new(clock()));
        assert_eq!(signer.hash_algorithm(), HashAlgorithm::Sha1);
        assert_eq!(
            signer.sign(&policy).unwrap().signature(),
            CANNED_SHA1,
            "{name}"
        );
    }
    let from_der = SigningKey::from_der(&key_bytes("rsa2048-pkcs8.der")).unwrap();
    assert_eq!(from_der.kind(), KeyKind::Rsa2048);
}

#[test]
fn rsa_public_key_matches_openssl_and_verifies() {
    let key = SigningKey::from_pem(&key_text("rsa2048-pkcs8.pem")).unwrap();
    let public = key.public_key();
    assert_eq!(public.to_pem().unwrap(), key_text("rsa2048-public.pem"));
    let from_file = PublicKey::from_pem(&key_text("rsa2048-public.pem")).unwrap();
    assert_eq!(from_file, public);
    let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
        let signature = key.sign(policy.json().as_bytes(), hash).unwrap();
        assert!(from_file.verify(policy.json().as_bytes(), &signature, hash));
        assert!(!from_file.verify(b"another policy", &signature, hash));
    }
    let sha1 = key
        .sign(policy.json().as_bytes(), HashAlgorithm::Sha1)
        .unwrap();
    assert!(!from_file.verify(policy.json().as_bytes(), &sha1, HashAlgorithm::Sha256));
}

#[test]
fn ecdsa_signatures_verify_with_the_public_key() {
    let public = PublicKey::from_pem(&key_text("p256-public.pem")).unwrap();
    assert_eq!(public.kind(), KeyKind::EcdsaP256);
    for name in ["p256-sec1.pem", "p256-pkcs8.pem", "p256-pkcs8.der"] {
        let key = SigningKey::from_bytes(&key_bytes(name)).unwrap();
        assert_eq!(key.kind(), KeyKind::EcdsaP256, "{name}");
        assert_eq!(key.public_key(), public, "{name}");
        let signer = Signer::new(KEY_ID, key)
            .unwrap()
            .with_clock(Arc::new(clock()));
        assert_eq!(signer.hash_algorithm(), HashAlgorithm::Sha256);

        let url = signer.canned_url(CANNED_URL, 1_900_000_000).unwrap();
        let prefix = format!("{CANNED_URL}&Expires=1900000000&Signature=");
        let suffix = format!("&Key-Pair-Id={KEY_ID}&Hash-Algorithm=SHA256");
        assert!(url.starts_with(&prefix) && url.ends_with(&suffix), "{url}");
        let signature = &url[prefix.len()..url.len() - suffix.len()];
        let der = cloudfront_base64_decode(signature).unwrap();
        // A DER SEQUENCE of two INTEGERs.
        assert_eq!(der[0], 0x30, "{name}");
        assert_eq!(usize::from(der[1]) + 2, der.len(), "{name}");
        let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
        assert!(public.verify(policy.json().as_bytes(), &der, HashAlgorithm::Sha256));
        assert!(!public.verify(b"tampered", &der, HashAlgorithm::Sha256));
    }
    assert_eq!(
        SigningKey::from_pem(&key_text("p256-sec1.pem"))
            .unwrap()
            .public_key()
            .to_pem()
            .unwrap(),
        key_text("p256-public.pem")
    );
}

#[test]
fn signed_cookies_canned_and_custom() {
    let signer = rsa_signer();
    let canned = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    let cookies = signer
        .signed_cookies(&canned, &CookieOptions::new())
        .unwrap();
    let pairs: Vec<(&str, &str)> = cookies.iter().map(|c| (c.name(), c.value())).collect();
    assert_eq!(
        pairs,
        [
            ("CloudFront-Expires", "1900000000"),
            ("CloudFront-Signature", CANNED_SHA1),
            ("CloudFront-Key-Pair-Id", KEY_ID),
        ]
    );
    for cookie in &cookies {
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.domain(), None);
        assert!(cookie.expires().is_some_and(|e| e.is_session()));
    }

    let sha256 = signer.with_hash_algorithm(HashAlgorithm::Sha256).unwrap();
    let options = CookieOptions::new()
        .domain("example.org")
        .path("/videos")
        .same_site(SameSite::None)
        .secure(false)
        .expiry(CookieExpiry::PolicyExpiry);
    let cookies = sha256.signed_cookies(&custom_policy(), &options).unwrap();
    let names: Vec<&str> = cookies.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "CloudFront-Policy",
            "CloudFront-Signature",
            "CloudFront-Key-Pair-Id",
            "CloudFront-Hash-Algorithm"
        ]
    );
    assert_eq!(
        cookies.get("CloudFront-Policy").unwrap().value(),
        CUSTOM_POLICY_B64
    );
    assert_eq!(
        cookies.get("CloudFront-Hash-Algorithm").unwrap().value(),
        "SHA256"
    );
    let headers = cookies.set_cookie_headers();
    assert_eq!(headers.len(), 4);
    for cookie in cookies.iter() {
        assert_eq!(cookie.domain(), Some("example.org"));
        assert_eq!(cookie.path(), Some("/videos"));
        // SameSite=None forces Secure.
        assert_eq!(cookie.secure(), Some(true));
        let expires = cookie.expires_datetime().unwrap();
        assert_eq!(expires.unix_timestamp(), 1_900_000_000);
    }
    assert!(
        headers[3].starts_with("CloudFront-Hash-Algorithm=SHA256;"),
        "{}",
        headers[3]
    );
    assert!(
        headers[3].contains("Expires=Sun, 17 Mar 2030 17:46:40 GMT"),
        "{}",
        headers[3]
    );
}

#[test]
fn signed_policy_parts() {
    let signed = rsa_signer().sign(&custom_policy()).unwrap();
    assert!(!signed.is_canned());
    assert_eq!(signed.encoded_policy(), Some(CUSTOM_POLICY_B64));
    assert_eq!(signed.expires(), 1_900_000_000);
    assert_eq!(signed.key_pair_id(), KEY_ID);
    assert_eq!(
        signed.query_string(),
        format!("Policy={CUSTOM_POLICY_B64}&Signature={CUSTOM_SHA1}&Key-Pair-Id={KEY_ID}")
    );
    assert_eq!(
        String::from_utf8(cloudfront_base64_decode(CUSTOM_POLICY_B64).unwrap()).unwrap(),
        custom_policy().json()
    );
}

#[test]
fn key_rejections() {
    for (name, expected_bits) in [("rsa1024.pem", 1024), ("rsa4096.pem", 4096)] {
        match SigningKey::from_bytes(&key_bytes(name)) {
            Err(Error::RsaKeySize { bits }) => assert_eq!(bits, expected_bits),
            other => panic!("{name}: {other:?}"),
        }
    }
    for (name, found) in [
        ("dsa-traditional.pem", "DSA"),
        ("dsa-pkcs8.pem", "DSA"),
        ("ed25519.pem", "Ed25519"),
        ("p384-pkcs8.pem", "P-384"),
        ("p384-sec1.pem", "P-256"),
    ] {
        match SigningKey::from_bytes(&key_bytes(name)) {
            Err(error @ Error::UnsupportedKey { .. }) => {
                assert!(error.to_string().contains(found), "{name}: {error}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for (name, hint) in [
        ("rsa2048-encrypted.pem", "encrypted"),
        ("rsa2048-public.pem", "not a private key"),
    ] {
        match SigningKey::from_bytes(&key_bytes(name)) {
            Err(error @ Error::KeyFormat { .. }) => {
                assert!(error.to_string().contains(hint), "{name}: {error}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for garbage in [
        &b""[..],
        b"not a key",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        &[0x30, 0x03, 0x02, 0x01, 0x00],
    ] {
        assert!(matches!(
            SigningKey::from_bytes(garbage),
            Err(Error::KeyFormat { .. })
        ));
    }
    assert!(matches!(
        PublicKey::from_pem("garbage"),
        Err(Error::KeyFormat { .. })
    ));
}

#[test]
fn signer_rejections() {
    let ecdsa = Signer::from_pem(KEY_ID, &key_text("p256-sec1.pem")).unwrap();
    assert!(matches!(
        ecdsa.with_hash_algorithm(HashAlgorithm::Sha1),
        Err(Error::EcdsaWithSha1)
    ));
    let key = SigningKey::from_pem(&key_text("p256-sec1.pem")).unwrap();
    assert!(matches!(
        key.sign(b"x", HashAlgorithm::Sha1),
        Err(Error::EcdsaWithSha1)
    ));

    for id in ["", "K2 JC", "K2&x=1", "K2;", "KÉ"] {
        let key = SigningKey::from_pem(&key_text("p256-sec1.pem")).unwrap();
        assert!(
            matches!(Signer::new(id, key), Err(Error::InvalidKeyPairId { .. })),
            "{id:?}"
        );
    }

    let signer = rsa_signer();
    match signer.canned_url(CANNED_URL, 1_700_000_000) {
        Err(Error::ExpiryInPast { expires, now }) => {
            assert_eq!((expires, now), (1_700_000_000, 1_700_000_000));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        signer.canned_url(CANNED_URL, 0),
        Err(Error::ExpiryInPast { .. })
    ));
    assert!(signer.canned_url(CANNED_URL, 1_700_000_001).is_ok());

    // The URL must be covered by the policy.
    let canned = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    assert!(matches!(
        signer.signed_url("https://d111111abcdef8.cloudfront.net/other.jpg", &canned),
        Err(Error::ResourceMismatch { .. })
    ));
    assert!(matches!(
        signer.signed_url(
            "https://d111111abcdef8.cloudfront.net/images/a.jpg",
            &custom_policy()
        ),
        Err(Error::ResourceMismatch { .. })
    ));
    assert!(matches!(
        signer.canned_url("https://e.com/a\"}]}", 1_900_000_000),
        Err(Error::ForbiddenCharacter { character: '"', .. })
    ));
    assert!(matches!(
        signer.signed_url(
            "https://d111111abcdef8.cloudfront.net/videos/a b",
            &custom_policy()
        ),
        Err(Error::ForbiddenCharacter { character: ' ', .. })
    ));
}

#[test]
fn secrets_load_keys_and_debug_never_prints_them() {
    let pem = key_text("rsa2048-pkcs1.pem");
    let signer = Signer::from_secret(KEY_ID, &SecretSource::literal(pem.clone())).unwrap();
    let body_line = pem.lines().nth(3).unwrap();
    for debug in [
        format!("{signer:?}"),
        format!("{:?}", signer.key()),
        format!("{:?}", signer.key().public_key()),
    ] {
        assert!(!debug.contains(body_line), "{debug}");
        assert!(!debug.contains("BEGIN"), "{debug}");
    }
    assert!(format!("{signer:?}").contains(KEY_ID));

    let path = format!("{KEYS}/p256-pkcs8.pem");
    let from_file = Signer::from_secret("KFILE", &SecretSource::file(path)).unwrap();
    assert_eq!(from_file.key().kind(), KeyKind::EcdsaP256);

    let missing = Signer::from_secret(
        "KMISSING",
        &SecretSource::env("REEL_CLOUDFRONT_TEST_NO_SUCH_VAR"),
    );
    match missing {
        Err(error @ Error::Secret { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("KMISSING") && text.contains("REEL_CLOUDFRONT_TEST_NO_SUCH_VAR"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[cfg(feature = "openssl")]
#[test]
fn openssl_backend_gives_the_same_answers() {
    use reel_cloudfront::Backend;

    for name in ["rsa2048-pkcs1.pem", "rsa2048-pkcs8.der"] {
        let key = SigningKey::from_bytes(&key_bytes(name))
            .unwrap()
            .with_backend(Backend::OpenSsl)
            .unwrap();
        assert_eq!(key.backend(), Backend::OpenSsl);
        assert!(format!("{key:?}").contains("OpenSsl"));
        let signer = Signer::new(KEY_ID, key)
            .unwrap()
            .with_clock(Arc::new(clock()));
        let url = signer.canned_url(CANNED_URL, 1_900_000_000).unwrap();
        assert!(url.contains(CANNED_SHA1), "{name}");
        let sha256 = signer.with_hash_algorithm(HashAlgorithm::Sha256).unwrap();
        assert!(
            sha256
                .canned_url(CANNED_URL, 1_900_000_000)
                .unwrap()
                .contains(CANNED_SHA256)
        );
    }
    let ecdsa = SigningKey::from_pem(&key_text("p256-pkcs8.pem"))
        .unwrap()
        .with_backend(Backend::OpenSsl)
        .unwrap();
    let public = ecdsa.public_key();
    let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    let signature = ecdsa
        .sign(policy.json().as_bytes(), HashAlgorithm::Sha256)
        .unwrap();
    assert!(public.verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha256));
    assert!(matches!(
        ecdsa.sign(b"x", HashAlgorithm::Sha1),
        Err(Error::EcdsaWithSha1)
    ));
    let back = ecdsa.with_backend(Backend::RustCrypto).unwrap();
    assert_eq!(back.backend(), Backend::RustCrypto);
}

/// `rsa2048-pkcs8-aes256.pem` is `rsa2048-pkcs1.pem` encrypted with
/// `openssl pkcs8 -topk8 -v2 aes256 -passout pass:reel-test-passphrase`.
#[cfg(feature = "encrypted-keys")]
#[test]
fn encrypted_pkcs8_keys_load_with_their_passphrase() {
    let encrypted = key_bytes("rsa2048-pkcs8-aes256.pem");
    let key = SigningKey::from_encrypted(&encrypted, "reel-test-passphrase").unwrap();
    let signer = Signer::new(KEY_ID, key)
        .unwrap()
        .with_clock(Arc::new(clock()));
    let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    assert_eq!(signer.sign(&policy).unwrap().signature(), CANNED_SHA1);

    for (bytes, passphrase, hint) in [
        (&encrypted, "wrong", "wrong passphrase"),
        (
            &key_bytes("rsa2048-pkcs1.pem"),
            "reel-test-passphrase",
            "not encrypted",
        ),
    ] {
        match SigningKey::from_encrypted(bytes, passphrase) {
            Err(error @ Error::KeyFormat { .. }) => {
                assert!(error.to_string().contains(hint), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
    match SigningKey::from_bytes(&encrypted) {
        Err(error) => assert!(error.to_string().contains("from_encrypted"), "{error}"),
        Ok(_) => panic!("an encrypted key loaded without its passphrase"),
    }
    let from_secrets = SigningKey::from_encrypted_secret(
        &SecretSource::literal(String::from_utf8(encrypted.clone()).unwrap()),
        &SecretSource::literal("reel-test-passphrase"),
        KEY_ID,
    )
    .unwrap();
    assert_eq!(from_secrets.public_key(), signer.key().public_key());
}

/// Encrypted PKCS#8 under the schemes older than PBES2, written by the openssl CLI from
/// `rsa2048-pkcs1.pem` / `p256-pkcs8.pem` with `-passout pass:reel-test-passphrase`:
/// `openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES` (PEM, and DER for P-256) and `-v1 PBE-MD5-DES`
/// load and sign like the plain key; `-v1 PBE-SHA1-RC4-128` and `-v1 PBE-SHA1-RC2-40` (with
/// `-provider legacy`) are refused with the scheme's name and the conversion command.
#[cfg(feature = "encrypted-keys")]
#[test]
fn legacy_pbe_encrypted_pkcs8_keys_load_or_are_refused_by_name() {
    const PASSPHRASE: &str = "reel-test-passphrase";
    let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    for name in [
        "rsa2048-pkcs8-pbe-sha1-3des.pem",
        "rsa2048-pkcs8-pbe-md5-des.pem",
    ] {
        let key = SigningKey::from_encrypted(&key_bytes(name), PASSPHRASE)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let signer = Signer::new(KEY_ID, key)
            .unwrap()
            .with_clock(Arc::new(clock()));
        assert_eq!(
            signer.sign(&policy).unwrap().signature(),
            CANNED_SHA1,
            "{name}"
        );
        match SigningKey::from_encrypted(&key_bytes(name), "wrong") {
            Err(error) => assert!(error.to_string().contains("wrong passphrase"), "{error}"),
            Ok(_) => panic!("{name} loaded with a wrong passphrase"),
        }
    }
    let ec =
        SigningKey::from_encrypted(&key_bytes("p256-pkcs8-pbe-sha1-3des.der"), PASSPHRASE).unwrap();
    let plain = SigningKey::from_pem(&key_text("p256-pkcs8.pem")).unwrap();
    assert_eq!(ec.public_key(), plain.public_key());

    for (name, scheme) in [
        ("rsa2048-pkcs8-pbe-sha1-rc4-128.pem", "PBE-SHA1-RC4-128"),
        ("rsa2048-pkcs8-pbe-sha1-rc2-40.pem", "PBE-SHA1-RC2-40"),
    ] {
        match SigningKey::from_encrypted(&key_bytes(name), PASSPHRASE) {
            Err(error) => {
                let text = error.to_string();
                assert!(text.contains(scheme), "{text}");
                assert!(text.contains("openssl pkcs8 -topk8 -v2 aes256"), "{text}");
            }
            Ok(_) => panic!("{name} loaded"),
        }
    }
}

/// EC keys with the curve spelled out, written by the openssl CLI from `p256-sec1.pem`:
/// `openssl ec -param_enc explicit` (and with `-conv_form compressed`, whose base point is
/// compressed), then `openssl pkcs8 -topk8 -nocrypt` of it. P-256's parameters are P-256; the
/// explicit parameters of P-384 (`p384-sec1.pem`) and of secp256k1
/// (`openssl ecparam -name secp256k1 -genkey -param_enc explicit`) are refused by name.
#[test]
fn explicit_curve_keys_with_p256_parameters_are_p256() {
    let named = SigningKey::from_pem(&key_text("p256-sec1.pem")).unwrap();
    let policy = Policy::canned(CANNED_URL, 1_900_000_000).unwrap();
    for name in [
        "p256-sec1-explicit.pem",
        "p256-sec1-explicit-compressed.pem",
        "p256-pkcs8-explicit.pem",
    ] {
        let key = SigningKey::from_pem(&key_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.public_key(), named.public_key(), "{name}");
        let signature = key
            .sign(policy.json().as_bytes(), HashAlgorithm::Sha256)
            .unwrap();
        assert!(
            named
                .public_key()
                .verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha256),
            "{name}"
        );
    }
    for name in ["p384-sec1-explicit.pem", "k256-sec1-explicit.pem"] {
        match SigningKey::from_pem(&key_text(name)) {
            Err(error) => {
                let text = error.to_string();
                assert!(text.contains("not those of P-256"), "{name}: {text}");
                assert!(text.contains("-param_enc named_curve"), "{name}: {text}");
            }
            Ok(_) => panic!("{name} loaded"),
        }
    }
}
