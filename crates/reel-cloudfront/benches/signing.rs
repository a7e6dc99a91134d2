//! Signed URLs per second next to OpenSSL signing the same policy bytes with the same key.
//!
//! `reel` builds the whole signed URL (policy JSON, signature, CloudFront base64, query) with
//! the default build (AWS-LC for RSA-SHA256 and ECDSA, the `rsa` crate for RSA-SHA1);
//! `reel_rust_crypto` is the pure-Rust backend (`default-features = false`); `openssl` computes
//! only the raw signature, so the ratio slightly favours OpenSSL.
//! `cloudfront/cached_hot_resource` compares the caching signer's hot path (one URL requested
//! over and over within an expiry bucket) with OpenSSL signing every request.
//!
//! `cargo bench -p reel-cloudfront --bench signing --features openssl` (the feature adds
//! `reel_openssl_backend`: this crate signing through OpenSSL).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use reel_cloudfront::{CachingSigner, HashAlgorithm, KeyRing, Policy, Signer};

const RSA_PEM: &str = include_str!("../tests/keys/rsa2048-pkcs1.pem");
const EC_PEM: &str = include_str!("../tests/keys/p256-sec1.pem");
const URL: &str = "https://d111111abcdef8.cloudfront.net/videos/2024/intro.mp4?quality=1080p";
const EXPIRES: u64 = 4_102_444_800;

fn group(c: &mut Criterion, name: &str, pem: &str, hash: HashAlgorithm) {
    let signer = Signer::from_pem("K2JCJMDEHXQW5F", pem)
        .unwrap()
        .with_hash_algorithm(hash)
        .unwrap();
    let policy = Policy::canned(URL, EXPIRES).unwrap();
    let key = PKey::private_key_from_pem(pem.as_bytes()).unwrap();
    let digest = match hash {
        HashAlgorithm::Sha256 => MessageDigest::sha256(),
        _ => MessageDigest::sha1(),
    };

    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("reel", |b| {
        b.iter(|| black_box(signer.canned_url(black_box(URL), EXPIRES).unwrap()));
    });
    group.bench_function("openssl", |b| {
        b.iter(|| {
            let mut openssl = openssl::sign::Signer::new(digest, &key).unwrap();
            openssl.update(black_box(policy.json().as_bytes())).unwrap();
            black_box(openssl.sign_to_vec().unwrap())
        });
    });
    let pure = Signer::new(
        "K2JCJMDEHXQW5F",
        reel_cloudfront::SigningKey::from_pem(pem)
            .unwrap()
            .with_backend(reel_cloudfront::Backend::RustCrypto)
            .unwrap(),
    )
    .unwrap()
    .with_hash_algorithm(hash)
    .unwrap();
    group.bench_function("reel_rust_crypto", |b| {
        b.iter(|| black_box(pure.canned_url(black_box(URL), EXPIRES).unwrap()));
    });
    #[cfg(feature = "openssl")]
    {
        let key = reel_cloudfront::SigningKey::from_pem(pem)
            .unwrap()
            .with_backend(reel_cloudfront::Backend::OpenSsl)
            .unwrap();
        let fast = Signer::new("K2JCJMDEHXQW5F", key)
            .unwrap()
            .with_hash_algorithm(hash)
            .unwrap();
        group.bench_function("reel_openssl_backend", |b| {
            b.iter(|| black_box(fast.canned_url(black_box(URL), EXPIRES).unwrap()));
        });
    }
    group.finish();
}

fn sign_rsa_sha1(c: &mut Criterion) {
    group(c, "cloudfront/sign_rsa_sha1", RSA_PEM, HashAlgorithm::Sha1);
}

fn sign_rsa_sha256(c: &mut Criterion) {
    group(
        c,
        "cloudfront/sign_rsa_sha256",
        RSA_PEM,
        HashAlgorithm::Sha256,
    );
}

fn sign_ecdsa_p256(c: &mut Criterion) {
    group(
        c,
        "cloudfront/sign_ecdsa_p256",
        EC_PEM,
        HashAlgorithm::Sha256,
    );
}

fn cached_hot_resource(c: &mut Criterion) {
    let ring = KeyRing::new(Signer::from_pem("K2JCJMDEHXQW5F", RSA_PEM).unwrap());
    let cache = CachingSigner::new(ring, Duration::from_secs(300), 10_000);
    let ttl = Duration::from_secs(3600);
    let key = PKey::private_key_from_pem(RSA_PEM.as_bytes()).unwrap();
    let policy = Policy::canned(URL, EXPIRES).unwrap();

    let mut group = c.benchmark_group("cloudfront/cached_hot_resource");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("reel", |b| {
        b.iter(|| black_box(cache.canned_url(black_box(URL), ttl).unwrap()));
    });
    group.bench_function("openssl", |b| {
        b.iter(|| {
            let mut openssl = openssl::sign::Signer::new(MessageDigest::sha1(), &key).unwrap();
            openssl.update(black_box(policy.json().as_bytes())).unwrap();
            black_box(openssl.sign_to_vec().unwrap())
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    sign_rsa_sha1,
    sign_rsa_sha256,
    sign_ecdsa_p256,
    cached_hot_resource
);
fn main() {
    // With `--features metrics`, every signature and cache lookup records into a real
    // Prometheus recorder, as in an application: compare with a baseline saved without it
    // (`-- cached_hot_resource --save-baseline metrics-off`, then `--features metrics --
    // cached_hot_resource --baseline metrics-off`).
    #[cfg(feature = "metrics")]
    {
        let _handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .unwrap();
        reel_cloudfront::describe_metrics();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
