//! Key ring rotation and the caching signer: counts and outcomes, with a manual clock.

// Test helpers panic on broken fixtures; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use reel_cloudfront::{
    CachingSigner, CookieOptions, Error, HashAlgorithm, KeyRing, Policy, Signer,
    cloudfront_base64_decode,
};
use reel_core::{ManualClock, SecretSource, SharedClock};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const URL: &str = "https://d111111abcdef8.cloudfront.net/hot/video.mp4";

fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

fn clock() -> ManualClock {
    ManualClock::at_unix(Duration::from_secs(1_700_000_000))
}

fn signer(id: &str, key: &str, clock: &ManualClock) -> Signer {
    let shared: SharedClock = Arc::new(clock.clone());
    Signer::from_secret(id, &SecretSource::literal(pem(key)))
        .unwrap()
        .with_clock(shared)
}

/// The key-pair id and signature of a signed URL.
fn id_and_signature(url: &str) -> (String, Vec<u8>) {
    let query = url.split_once('?').unwrap().1;
    let value = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    (
        value("Key-Pair-Id"),
        cloudfront_base64_decode(&value("Signature")).unwrap(),
    )
}

#[test]
fn rotation_flow() {
    let clock = clock();
    let ring = KeyRing::new(signer("KOLD", "rsa2048-pkcs1.pem", &clock));
    let old_public = ring.active().key().public_key();
    let policy = Policy::canned(URL, 1_800_000_000).unwrap();

    let url = ring.canned_url(URL, 1_800_000_000).unwrap();
    let (id, signature) = id_and_signature(&url);
    assert_eq!(id, "KOLD");
    assert!(old_public.verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha1));

    // New key uploaded and in the key group: add it, then switch.
    ring.insert(signer("KNEW", "p256-pkcs8.pem", &clock));
    assert_eq!(ring.key_pair_ids(), ["KNEW", "KOLD"]);
    assert_eq!(
        ring.active().key_pair_id(),
        "KOLD",
        "insert does not activate"
    );
    ring.activate("KNEW").unwrap();
    let url = ring.canned_url(URL, 1_800_000_000).unwrap();
    let (id, signature) = id_and_signature(&url);
    assert_eq!(id, "KNEW");
    assert!(url.ends_with("&Hash-Algorithm=SHA256"));
    let new_public = ring.get("KNEW").unwrap().key().public_key();
    assert!(new_public.verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha256));
    let cookies = ring.signed_cookies(&policy, &CookieOptions::new()).unwrap();
    assert_eq!(
        cookies.get("CloudFront-Key-Pair-Id").unwrap().value(),
        "KNEW"
    );

    // The old key can still be used explicitly until it is retired.
    assert!(
        ring.get("KOLD")
            .unwrap()
            .canned_url(URL, 1_800_000_000)
            .is_ok()
    );
    assert!(matches!(
        ring.retire("KNEW"),
        Err(Error::RetireActiveKey { .. })
    ));
    assert_eq!(ring.retire("KOLD").unwrap().key_pair_id(), "KOLD");
    assert!(ring.get("KOLD").is_none());
    assert!(matches!(
        ring.retire("KOLD"),
        Err(Error::UnknownKeyPairId { .. })
    ));
    assert!(matches!(
        ring.activate("KOLD"),
        Err(Error::UnknownKeyPairId { .. })
    ));
    assert_eq!(ring.key_pair_ids(), ["KNEW"]);
    // insert, activate, retire: three changes.
    assert_eq!(ring.version(), 3);
}

#[test]
fn replacing_the_active_key_takes_effect() {
    let clock = clock();
    let ring = KeyRing::new(signer("KSAME", "p256-sec1.pem", &clock));
    ring.insert(signer("KSAME", "p256-second.pem", &clock));
    let replacement = signer("KSAME", "p256-second.pem", &clock)
        .key()
        .public_key();
    assert_eq!(ring.active().key().public_key(), replacement);
    assert_eq!(ring.key_pair_ids(), ["KSAME"]);
}

#[test]
fn ring_from_secret_sources() {
    let ring = KeyRing::from_sources(
        [
            ("KLITERAL", SecretSource::literal(pem("rsa2048-pkcs8.pem"))),
            (
                "KFILE",
                SecretSource::file(format!("{KEYS}/p256-pkcs8.pem")),
            ),
        ],
        "KFILE",
    )
    .unwrap();
    assert_eq!(ring.active().key_pair_id(), "KFILE");
    assert_eq!(ring.key_pair_ids(), ["KFILE", "KLITERAL"]);
    let debug = format!("{ring:?}");
    assert!(
        debug.contains("KFILE") && debug.contains("KLITERAL"),
        "{debug}"
    );
    assert!(!debug.contains("PRIVATE"), "{debug}");
    let body = pem("rsa2048-pkcs8.pem").lines().nth(2).unwrap().to_owned();
    assert!(!debug.contains(&body));

    assert!(matches!(
        KeyRing::from_sources([("KA", SecretSource::literal(pem("p256-sec1.pem")))], "KB"),
        Err(Error::UnknownKeyPairId { .. })
    ));
    assert!(matches!(
        KeyRing::from_sources(Vec::<(String, SecretSource)>::new(), "KA"),
        Err(Error::EmptyKeyRing)
    ));
    let missing = KeyRing::from_sources(
        [(
            "KMISSING",
            SecretSource::file(format!("{KEYS}/no-such-key.pem")),
        )],
        "KMISSING",
    );
    match missing {
        Err(error @ Error::Secret { .. }) => {
            assert!(error.to_string().contains("no-such-key.pem"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        KeyRing::from_sources(
            [("KDSA", SecretSource::literal(pem("dsa-pkcs8.pem")))],
            "KDSA"
        ),
        Err(Error::UnsupportedKey { .. })
    ));
}

#[test]
fn signing_while_rotating_from_other_threads() {
    let clock = clock();
    let ring = KeyRing::new(signer("KA", "p256-sec1.pem", &clock));
    ring.insert(signer("KB", "p256-second.pem", &clock));
    let publics = [
        ("KA", ring.get("KA").unwrap().key().public_key()),
        ("KB", ring.get("KB").unwrap().key().public_key()),
    ];
    let policy = Policy::canned(URL, 1_800_000_000).unwrap();
    std::thread::scope(|scope| {
        let rotator = scope.spawn(|| {
            for i in 0..40 {
                ring.activate(if i % 2 == 0 { "KB" } else { "KA" }).unwrap();
            }
        });
        let signers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..15 {
                        let url = ring.canned_url(URL, 1_800_000_000).unwrap();
                        let (id, signature) = id_and_signature(&url);
                        let public = &publics.iter().find(|(name, _)| *name == id).unwrap().1;
                        // Id and signature always come from the same key.
                        assert!(public.verify(
                            policy.json().as_bytes(),
                            &signature,
                            HashAlgorithm::Sha256
                        ));
                    }
                })
            })
            .collect();
        rotator.join().unwrap();
        for handle in signers {
            handle.join().unwrap();
        }
    });
}

#[test]
fn bucketed_expiry_reuses_signatures() {
    let clock = clock();
    let ring = KeyRing::new(signer("KHOT", "rsa2048-pkcs1.pem", &clock));
    let cache = CachingSigner::new(ring.clone(), Duration::from_secs(300), 100);
    let ttl = Duration::from_secs(3600);

    // 1_700_000_000 + 3600 rounded up to 5 minutes.
    assert_eq!(cache.expiry_for(ttl), 1_700_003_700);
    let first = cache.canned_url(URL, ttl).unwrap();
    assert!(first.contains("Expires=1700003700&"));
    for _ in 0..9 {
        clock.advance(Duration::from_secs(10));
        assert_eq!(cache.canned_url(URL, ttl).unwrap(), first);
    }
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (9, 1, 1));

    // The same URL signed directly is identical: the cache changes nothing but the cost.
    assert_eq!(ring.canned_url(URL, 1_700_003_700).unwrap(), first);

    // Past the window boundary: a new expiry and a new signature.
    clock.advance(Duration::from_secs(300));
    let second = cache.canned_url(URL, ttl).unwrap();
    assert!(second.contains("Expires=1700004000&"), "{second}");
    assert_eq!(cache.stats().misses, 2);

    // Another resource, and cookies for a custom policy sharing the bucket.
    let policy = Policy::custom(
        "https://d111111abcdef8.cloudfront.net/hot/*",
        cache.expiry_for(ttl),
    )
    .build()
    .unwrap();
    let a = cache
        .signed_cookies(&policy, &CookieOptions::new())
        .unwrap();
    let b = cache.signed_url(URL, &policy).unwrap();
    assert!(b.contains(a.get("CloudFront-Signature").unwrap().value()));
    assert_eq!(cache.stats().misses, 3);
    assert_eq!(cache.stats().hits, 10);
    assert!(matches!(
        cache.signed_url("https://d111111abcdef8.cloudfront.net/cold.mp4", &policy),
        Err(Error::ResourceMismatch { .. })
    ));
}

#[test]
fn rotation_bypasses_cached_signatures() {
    let clock = clock();
    let ring = KeyRing::new(signer("KA", "p256-sec1.pem", &clock));
    ring.insert(signer("KB", "p256-second.pem", &clock));
    let cache = CachingSigner::new(ring.clone(), Duration::from_secs(60), 100);
    let ttl = Duration::from_secs(600);
    let before = cache.canned_url(URL, ttl).unwrap();
    assert_eq!(cache.canned_url(URL, ttl).unwrap(), before);
    ring.activate("KB").unwrap();
    let after = cache.canned_url(URL, ttl).unwrap();
    assert_eq!(id_and_signature(&after).0, "KB");
    assert_eq!(cache.stats().misses, 2);
    ring.activate("KA").unwrap();
    assert_eq!(
        cache.canned_url(URL, ttl).unwrap(),
        before,
        "KA's entry is still cached"
    );
}

#[test]
fn cached_policies_expire_and_the_cache_is_bounded() {
    let clock = clock();
    let ring = KeyRing::new(signer("KA", "p256-sec1.pem", &clock));
    let cache = CachingSigner::new(ring, Duration::from_secs(1), 32);
    let policy = Policy::custom("https://d111111abcdef8.cloudfront.net/*", 1_700_000_100)
        .build()
        .unwrap();
    assert!(cache.sign(&policy).is_ok());
    assert!(cache.sign(&policy).is_ok());
    clock.advance(Duration::from_secs(100));
    assert!(matches!(
        cache.sign(&policy),
        Err(Error::ExpiryInPast { .. })
    ));

    for i in 0..150 {
        let url = format!("https://d111111abcdef8.cloudfront.net/item/{i}.jpg");
        cache.canned_url(&url, Duration::from_secs(60)).unwrap();
    }
    let stats = cache.stats();
    assert_eq!(stats.misses, 151);
    assert!(
        stats.entries <= 64,
        "bounded near 32, got {}",
        stats.entries
    );
    assert!(stats.entries >= 16, "still caching, got {}", stats.entries);
}
