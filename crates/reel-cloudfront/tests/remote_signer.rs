//! Pluggable signers: keys this process never holds, behind `AsyncKeySigner` (AWS KMS, a remote
//! HSM) or `KeySigner` (a synchronous HSM API).
//!
//! `InProcessKms` is a FAKE standing in for AWS KMS: it keeps private keys by key id and
//! answers `GetPublicKey` (DER SubjectPublicKeyInfo) and `Sign` with KMS's algorithm names
//! (`RSASSA_PKCS1_V1_5_SHA_256`, `ECDSA_SHA_256`, `MessageType::Raw`), computing signatures with
//! OpenSSL, an implementation independent of this crate's. It yields to the runtime before
//! answering, as a network call would, and can be switched off to play a KMS outage or a
//! disabled key. A real deployment would implement `AsyncKeySigner` over `aws-sdk-kms` the same
//! way `KmsKey` does over this fake.

// Test helpers panic on broken fixtures; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use reel_cloudfront::{
    AsyncKeySigner, AsyncSigner, CachingSigner, CookieOptions, Error, HashAlgorithm, KeyKind,
    KeyRing, KeySigner, Policy, PublicKey, SignatureFuture, Signer, SigningKey,
    cloudfront_base64_decode,
};
use reel_core::{ManualClock, SharedClock};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const URL: &str = "https://d111111abcdef8.cloudfront.net/private/report.pdf";
const EXPIRES: u64 = 1_900_000_000;

fn clock() -> SharedClock {
    Arc::new(ManualClock::at_unix(Duration::from_secs(1_700_000_000)))
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()
}

/// FAKE AWS KMS (see the module docs): keys by id, `GetPublicKey` and `Sign`.
#[derive(Default)]
struct InProcessKms {
    keys: Mutex<BTreeMap<String, PKey<Private>>>,
    available: AtomicBool,
    sign_calls: AtomicUsize,
}

impl InProcessKms {
    fn with_key(key_id: &str, pem: &str) -> Arc<Self> {
        let kms = Self::default();
        kms.available.store(true, Ordering::SeqCst);
        kms.keys.lock().unwrap().insert(
            key_id.to_owned(),
            PKey::private_key_from_pem(pem.as_bytes()).unwrap(),
        );
        Arc::new(kms)
    }

    fn get_public_key(&self, key_id: &str) -> Vec<u8> {
        self.keys.lock().unwrap()[key_id]
            .public_key_to_der()
            .unwrap()
    }

    async fn sign(&self, key_id: &str, message: &[u8], algorithm: &str) -> Result<Vec<u8>, String> {
        tokio::task::yield_now().await;
        self.sign_calls.fetch_add(1, Ordering::SeqCst);
        if !self.available.load(Ordering::SeqCst) {
            return Err(format!("KMSInvalidStateException: {key_id} is disabled"));
        }
        let keys = self.keys.lock().unwrap();
        let key = keys.get(key_id).ok_or("NotFoundException")?;
        let expected = if key.rsa().is_ok() {
            "RSASSA_PKCS1_V1_5_SHA_256"
        } else {
            "ECDSA_SHA_256"
        };
        if algorithm != expected {
            return Err(format!(
                "InvalidKeyUsageException: {algorithm} is not valid for {key_id}"
            ));
        }
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).unwrap();
        signer.update(message).unwrap();
        Ok(signer.sign_to_vec().unwrap())
    }
}

/// An `AsyncKeySigner` over the KMS API, as one would write it over `aws-sdk-kms`.
#[derive(Debug)]
struct KmsKey {
    kms: Arc<InProcessKms>,
    key_id: String,
    public: PublicKey,
}

impl std::fmt::Debug for InProcessKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcessKms")
    }
}

impl KmsKey {
    fn new(kms: Arc<InProcessKms>, key_id: &str) -> Self {
        let public = PublicKey::from_der(&kms.get_public_key(key_id)).unwrap();
        Self {
            kms,
            key_id: key_id.to_owned(),
            public,
        }
    }
}

impl AsyncKeySigner for KmsKey {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn sign<'a>(&'a self, message: &'a [u8], hash: HashAlgorithm) -> SignatureFuture<'a> {
        Box::pin(async move {
            let algorithm = match (self.public.kind(), hash) {
                (KeyKind::Rsa2048, HashAlgorithm::Sha256) => "RSASSA_PKCS1_V1_5_SHA_256",
                (KeyKind::EcdsaP256, HashAlgorithm::Sha256) => "ECDSA_SHA_256",
                _ => {
                    return Err(Error::Signing {
                        reason: "KMS signs with SHA-256 only; use HashAlgorithm::Sha256".into(),
                    });
                }
            };
            self.kms
                .sign(&self.key_id, message, algorithm)
                .await
                .map_err(|reason| Error::Signing {
                    reason: format!("KMS Sign for {}: {reason}", self.key_id),
                })
        })
    }
}

#[tokio::test]
async fn an_rsa_key_in_kms_signs_the_same_urls_as_the_local_key() {
    let pem = pem("rsa2048-pkcs1.pem");
    let kms = InProcessKms::with_key("alias/cloudfront", &pem);
    let remote = AsyncSigner::new(
        "K2JCJMDEHXQW5F",
        Arc::new(KmsKey::new(kms.clone(), "alias/cloudfront")),
    )
    .unwrap()
    .with_hash_algorithm(HashAlgorithm::Sha256)
    .unwrap()
    .with_clock(clock());
    let local = Signer::from_pem("K2JCJMDEHXQW5F", &pem)
        .unwrap()
        .with_hash_algorithm(HashAlgorithm::Sha256)
        .unwrap()
        .with_clock(clock());
    assert_eq!(remote.fingerprint(), local.fingerprint());

    // RSA PKCS#1 v1.5 is deterministic: the KMS URL is the local URL, byte for byte.
    assert_eq!(
        remote.canned_url(URL, EXPIRES).await.unwrap(),
        local.canned_url(URL, EXPIRES).unwrap()
    );
    let policy = Policy::custom("https://d111111abcdef8.cloudfront.net/private/*", EXPIRES)
        .source_ip("203.0.113.0/24")
        .build()
        .unwrap();
    assert_eq!(
        remote.signed_url(URL, &policy).await.unwrap(),
        local.signed_url(URL, &policy).unwrap()
    );
    let cookies = remote
        .signed_cookies(&policy, &CookieOptions::new())
        .await
        .unwrap();
    assert_eq!(
        cookies,
        local
            .signed_cookies(&policy, &CookieOptions::new())
            .unwrap()
    );
    assert_eq!(kms.sign_calls.load(Ordering::SeqCst), 3);

    // SHA-1 (CloudFront's default for RSA) is not a KMS algorithm: a clear error, no call.
    let sha1 = AsyncSigner::new(
        "K2JCJMDEHXQW5F",
        Arc::new(KmsKey::new(kms.clone(), "alias/cloudfront")),
    )
    .unwrap()
    .with_clock(clock());
    let error = sha1.canned_url(URL, EXPIRES).await.unwrap_err();
    assert!(error.to_string().contains("SHA-256 only"), "{error}");
    assert_eq!(kms.sign_calls.load(Ordering::SeqCst), 3);

    // A disabled key or an outage is an error naming the key, never a panic.
    kms.available.store(false, Ordering::SeqCst);
    let error = remote.canned_url(URL, EXPIRES).await.unwrap_err();
    assert!(matches!(error, Error::Signing { .. }), "{error:?}");
    assert!(error.to_string().contains("alias/cloudfront"), "{error}");
    // Expired policies are refused before KMS is called.
    let calls = kms.sign_calls.load(Ordering::SeqCst);
    assert!(matches!(
        remote.canned_url(URL, 1_600_000_000).await,
        Err(Error::ExpiryInPast { .. })
    ));
    assert_eq!(kms.sign_calls.load(Ordering::SeqCst), calls);
}

#[tokio::test]
async fn an_ecdsa_key_in_kms_signs_verifiable_urls() {
    let kms = InProcessKms::with_key("ec-key", &pem("p256-sec1.pem"));
    let remote = AsyncSigner::new("KECDSAP256", Arc::new(KmsKey::new(kms, "ec-key")))
        .unwrap()
        .with_clock(clock());
    assert_eq!(remote.hash_algorithm(), HashAlgorithm::Sha256);
    let url = remote.canned_url(URL, EXPIRES).await.unwrap();
    let prefix = format!("{URL}?Expires={EXPIRES}&Signature=");
    let suffix = "&Key-Pair-Id=KECDSAP256&Hash-Algorithm=SHA256";
    assert!(url.starts_with(&prefix) && url.ends_with(suffix), "{url}");
    let signature = cloudfront_base64_decode(&url[prefix.len()..url.len() - suffix.len()]).unwrap();
    let public = PublicKey::from_pem(&pem("p256-public.pem")).unwrap();
    let policy = Policy::canned(URL, EXPIRES).unwrap();
    assert!(public.verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha256));
    // The local key also works through the async API.
    let local = AsyncSigner::new(
        "KECDSAP256",
        Arc::new(SigningKey::from_pem(&pem("p256-sec1.pem")).unwrap()),
    )
    .unwrap();
    assert_eq!(local.fingerprint(), remote.fingerprint());
}

/// FAKE synchronous HSM: signs with OpenSSL and counts calls.
#[derive(Debug)]
struct InProcessHsm {
    key: PKey<Private>,
    calls: AtomicUsize,
}

impl KeySigner for InProcessHsm {
    fn public_key(&self) -> PublicKey {
        PublicKey::from_der(&self.key.public_key_to_der().unwrap()).unwrap()
    }

    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let digest = match hash {
            HashAlgorithm::Sha1 => MessageDigest::sha1(),
            _ => MessageDigest::sha256(),
        };
        let mut signer = openssl::sign::Signer::new(digest, &self.key).unwrap();
        signer.update(message).unwrap();
        Ok(signer.sign_to_vec().unwrap())
    }
}

#[test]
fn a_synchronous_hsm_signer_works_with_the_ring_and_the_cache() {
    let pem = pem("rsa2048-second.pem");
    let hsm = Arc::new(InProcessHsm {
        key: PKey::private_key_from_pem(pem.as_bytes()).unwrap(),
        calls: AtomicUsize::new(0),
    });
    let signer = Signer::from_key_signer("KHSM", hsm.clone())
        .unwrap()
        .with_clock(clock());
    let local = Signer::from_pem("KHSM", &pem).unwrap().with_clock(clock());
    assert_eq!(signer.hash_algorithm(), HashAlgorithm::Sha1);
    assert_eq!(
        signer.canned_url(URL, EXPIRES).unwrap(),
        local.canned_url(URL, EXPIRES).unwrap()
    );
    let cache = CachingSigner::new(KeyRing::new(signer), Duration::from_secs(300), 10);
    let first = cache.canned_url(URL, Duration::from_secs(3600)).unwrap();
    let second = cache.canned_url(URL, Duration::from_secs(3600)).unwrap();
    assert_eq!(first, second);
    assert_eq!(hsm.calls.load(Ordering::SeqCst), 2);
}
