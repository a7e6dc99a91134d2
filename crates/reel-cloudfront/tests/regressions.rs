//! Defects found while migrating a service to this crate, each pinned by a test.

// Test helpers panic on broken fixtures; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use reel_cloudfront::{CachingSigner, Error, KeyRing, Policy, Signer, cloudfront_base64_decode};
use reel_core::{ManualClock, SharedClock};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const URL: &str = "https://d111111abcdef8.cloudfront.net/hot/video.mp4";

fn signer(id: &str, key: &str) -> Signer {
    let pem = std::fs::read_to_string(format!("{KEYS}/{key}")).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::at_unix(Duration::from_secs(1_700_000_000)));
    Signer::from_pem(id, &pem).unwrap().with_clock(clock)
}

fn signature(url: &str) -> Vec<u8> {
    let query = url.split_once('?').unwrap().1;
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("Signature="))
        .unwrap();
    cloudfront_base64_decode(value).unwrap()
}

/// A compromised key is replaced under the same key-pair id (the id stays in configuration;
/// the new public key is uploaded under it): the cache must not keep handing out signatures
/// of the old key, which CloudFront would refuse.
#[test]
fn a_key_replaced_under_the_same_id_never_serves_the_old_signature() {
    for (old, new) in [
        ("rsa2048-pkcs1.pem", "rsa2048-second.pem"),
        ("p256-sec1.pem", "p256-second.pem"),
    ] {
        let ring = KeyRing::new(signer("KSAMEID", old));
        let cache = CachingSigner::new(ring.clone(), Duration::from_secs(300), 100);
        let ttl = Duration::from_secs(3600);
        let policy = Policy::canned(URL, cache.expiry_for(ttl)).unwrap();

        let before = cache.canned_url(URL, ttl).unwrap();
        let old_public = ring.active().key().public_key();
        let hash = ring.active().hash_algorithm();
        assert!(old_public.verify(policy.json().as_bytes(), &signature(&before), hash));

        ring.insert(signer("KSAMEID", new));
        let new_public = ring.active().key().public_key();
        assert_ne!(old_public, new_public);
        let after = cache.canned_url(URL, ttl).unwrap();
        assert!(
            new_public.verify(policy.json().as_bytes(), &signature(&after), hash),
            "{old} -> {new}: the cache served the replaced key's signature"
        );
        assert_eq!(cache.stats().misses, 2, "{old} -> {new}");
    }
}

/// CloudFront compares the policy with the URL the client sends, and clients send non-ASCII
/// characters percent-encoded: a policy with raw `é` never matches, so the URL would be
/// answered with 403. Such URLs and resources are refused with a pointer to `encode_url`.
#[test]
fn raw_non_ascii_in_a_url_or_resource_is_refused() {
    let signer = signer("KASCII", "rsa2048-pkcs1.pem");
    for url in [
        "https://d111111abcdef8.cloudfront.net/caf\u{e9}.jpg",
        "https://d111111abcdef8.cloudfront.net/a.jpg?name=\u{fc}ber",
        "https://d111111abcdef8.cloudfront.net/\u{1f3ac}/intro.mp4",
    ] {
        let canned = Policy::canned(url, 1_900_000_000);
        assert!(
            matches!(
                canned,
                Err(Error::ForbiddenCharacter { character, .. }) if !character.is_ascii()
            ),
            "{url}: {canned:?}"
        );
        let error = signer.canned_url(url, 1_900_000_000).unwrap_err();
        assert!(error.to_string().contains("encode_url"), "{error}");
        let custom = Policy::custom(url, 1_900_000_000).build();
        assert!(
            matches!(custom, Err(Error::ForbiddenCharacter { .. })),
            "{url}: {custom:?}"
        );
    }
    // The percent-encoded form is what clients request, and signs.
    let encoded = "https://d111111abcdef8.cloudfront.net/caf%C3%A9.jpg";
    assert!(signer.canned_url(encoded, 1_900_000_000).is_ok());
}
