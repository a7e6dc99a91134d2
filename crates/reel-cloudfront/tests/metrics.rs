//! The `metrics` feature: signatures by algorithm and key id, signing latency and cache
//! hits/misses, checked against the exact actions taken through `metrics-util`'s debugging
//! recorder (local to the test; signers bind their handles when they are built).
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reel_cloudfront::{
    AsyncSigner, CachingSigner, HashAlgorithm, KeyRing, Policy, Signer, SigningKey,
};
use reel_testkit::metrics::{DebuggingRecorder, Snapshot};

fn key_text(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The counter `key` (strict: it must have been recorded).
fn counter(seen: &Snapshot, key: &str) -> u64 {
    seen.counter(key).unwrap()
}

/// How many samples the histogram `key` holds (strict), each of them a positive duration.
fn samples(seen: &Snapshot, key: &str) -> usize {
    let samples = seen.histogram(key).unwrap();
    assert!(samples.iter().all(|s| *s > 0.0), "{key}: {samples:?}");
    samples.len()
}

fn expires_in_an_hour() -> u64 {
    reel_core::SystemClock.unix_seconds() + 3600
}

use reel_core::Clock as _;

#[test]
fn signatures_latency_and_cache_outcomes_are_counted_exactly() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (rsa, rsa256, ecdsa, caching) = metrics::with_local_recorder(&recorder, || {
        reel_cloudfront::describe_metrics();
        let rsa = Signer::from_pem("KRSA", &key_text("rsa2048-pkcs1.pem")).unwrap();
        let rsa256 = rsa
            .clone()
            .with_hash_algorithm(HashAlgorithm::Sha256)
            .unwrap();
        let ecdsa = Signer::from_pem("KEC", &key_text("p256-pkcs8.pem")).unwrap();
        let caching =
            CachingSigner::new(KeyRing::new(ecdsa.clone()), Duration::from_secs(300), 100);
        (rsa, rsa256, ecdsa, caching)
    });

    let expires = expires_in_an_hour();
    for i in 0..3 {
        rsa.canned_url(&format!("https://d.example.net/a{i}.jpg"), expires)
            .unwrap();
    }
    rsa256
        .canned_url("https://d.example.net/b.jpg", expires)
        .unwrap();
    ecdsa
        .canned_url("https://d.example.net/c.jpg", expires)
        .unwrap();
    // An expired policy is refused before signing: not a signature.
    assert!(
        ecdsa
            .sign(&Policy::canned("https://d.example.net/old.jpg", 1).unwrap())
            .is_err()
    );
    // Two distinct resources, each asked for three times: 2 misses (2 signatures), 4 hits.
    for _ in 0..3 {
        for path in ["hot1", "hot2"] {
            caching
                .canned_url(
                    &format!("https://d.example.net/{path}.jpg"),
                    Duration::from_secs(3600),
                )
                .unwrap();
        }
    }

    let seen = Snapshot::take(&snapshotter);
    assert_eq!(
        counter(
            &seen,
            "reel_cloudfront_signatures_total{algorithm=rsa_sha1,key_id=KRSA}"
        ),
        3
    );
    assert_eq!(
        counter(
            &seen,
            "reel_cloudfront_signatures_total{algorithm=rsa_sha256,key_id=KRSA}"
        ),
        1
    );
    assert_eq!(
        counter(
            &seen,
            "reel_cloudfront_signatures_total{algorithm=ecdsa_sha256,key_id=KEC}"
        ),
        1 + 2
    );
    assert_eq!(
        samples(
            &seen,
            "reel_cloudfront_sign_duration_seconds{algorithm=rsa_sha1}"
        ),
        3
    );
    assert_eq!(
        samples(
            &seen,
            "reel_cloudfront_sign_duration_seconds{algorithm=rsa_sha256}"
        ),
        1
    );
    assert_eq!(
        samples(
            &seen,
            "reel_cloudfront_sign_duration_seconds{algorithm=ecdsa_sha256}"
        ),
        3
    );
    assert_eq!(
        counter(&seen, "reel_cloudfront_cache_total{outcome=miss}"),
        2
    );
    assert_eq!(
        counter(&seen, "reel_cloudfront_cache_total{outcome=hit}"),
        4
    );
}

#[test]
fn async_signers_count_their_signatures_too() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let signer = metrics::with_local_recorder(&recorder, || {
        let key = SigningKey::from_pem(&key_text("p256-sec1.pem")).unwrap();
        AsyncSigner::new("KASYNC", Arc::new(key)).unwrap()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let expires = expires_in_an_hour();
    runtime.block_on(async {
        for i in 0..2 {
            signer
                .canned_url(&format!("https://d.example.net/{i}.jpg"), expires)
                .await
                .unwrap();
        }
    });
    let seen = Snapshot::take(&snapshotter);
    assert_eq!(
        counter(
            &seen,
            "reel_cloudfront_signatures_total{algorithm=ecdsa_sha256,key_id=KASYNC}"
        ),
        2
    );
}

#[test]
fn describe_metrics_gives_every_metric_a_unit_and_help_text() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        reel_cloudfront::describe_metrics();
        let signer = Signer::from_pem("KRSA", &key_text("rsa2048-pkcs1.pem")).unwrap();
        let caching = CachingSigner::new(KeyRing::new(signer), Duration::from_secs(60), 10);
        caching
            .canned_url("https://d.example.net/x.jpg", Duration::from_secs(60))
            .unwrap();
    });
    let described: HashMap<String, bool> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, help, _)| {
            (
                key.key().name().to_owned(),
                unit.is_some() && help.is_some_and(|h| !h.is_empty()),
            )
        })
        .collect();
    for name in [
        "reel_cloudfront_signatures_total",
        "reel_cloudfront_sign_duration_seconds",
        "reel_cloudfront_cache_total",
    ] {
        assert_eq!(described.get(name), Some(&true), "{name}: {described:?}");
    }
}
