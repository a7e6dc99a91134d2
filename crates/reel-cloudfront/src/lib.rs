//! CloudFront signed URLs and cookies, byte-compatible with AWS's SDKs, with key rotation.
//!
//! CloudFront serves private content to requests that carry a signature over a *policy*: which
//! URL (or URL pattern), until when, optionally from when and from which IPv4 range. This crate
//! provides:
//!
//! - [`Policy`]: canned policies (one URL and an expiry) and custom ones (`*`/`?` wildcards,
//!   `DateGreaterThan`, `IpAddress`), written byte for byte as botocore writes them, and
//!   refusing input that would change the policy's meaning (policy injection) or that
//!   CloudFront would reject.
//! - [`SigningKey`] / [`Signer`]: RSA 2048 (PKCS#1 or PKCS#8, PEM or DER) with PKCS#1 v1.5 over
//!   SHA-1 (CloudFront's default) or SHA-256, and ECDSA P-256 (SHA-256, DER signatures). Keys
//!   are parsed once, from every PEM layout Python `cryptography` loads (and encrypted keys
//!   with feature `encrypted-keys`).
//! - [`Policy::from_json`]: sign a stored policy as given; [`encode_url`]: percent-encode a URL
//!   as the AWS JS SDK does before signing.
//! - [`KeySigner`] / [`AsyncKeySigner`]: keys held elsewhere (an HSM, AWS KMS), used through
//!   [`Signer::from_key_signer`] and [`AsyncSigner`].
//! - Outputs: signed URLs with botocore's parameter order (`Expires`/`Policy`, `Signature`,
//!   `Key-Pair-Id`, then `Hash-Algorithm=SHA256` for SHA-256) and [`SignedCookies`] as
//!   [`cookie`] values.
//! - [`KeyRing`]: several key-pair ids with one active signer, loaded from
//!   [`reel_core::SecretSource`]s, rotated at run time; [`CachingSigner`]: expiry bucketing and a
//!   bounded signature cache for hot resources.
//! - With feature `key-management`: uploading public keys and managing key groups through
//!   `aws-sdk-cloudfront`.
//!
//! # Example
//!
//! ```
//! use reel_cloudfront::{CookieOptions, HashAlgorithm, Policy, Signer};
//! # let pem = include_str!("../tests/keys/rsa2048-pkcs1.pem");
//!
//! // Parse the key once, at start-up; the signer is cheap to clone and share.
//! let signer = Signer::from_pem("K2JCJMDEHXQW5F", pem)?;
//!
//! // A canned policy: this URL until this time.
//! let url = signer.canned_url("https://d111111abcdef8.cloudfront.net/a.jpg?w=300", 4_102_444_800)?;
//! assert!(url.starts_with("https://d111111abcdef8.cloudfront.net/a.jpg?w=300&Expires=4102444800&Signature="));
//!
//! // SHA-256 adds `Hash-Algorithm=SHA256`.
//! let sha256 = signer.clone().with_hash_algorithm(HashAlgorithm::Sha256)?;
//! let url = sha256.canned_url("https://d111111abcdef8.cloudfront.net/a.jpg", 4_102_444_800)?;
//! assert!(url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F&Hash-Algorithm=SHA256"));
//!
//! // Signed cookies for everything under /videos/, from one network.
//! let policy = Policy::custom("https://d111111abcdef8.cloudfront.net/videos/*", 4_102_444_800)
//!     .source_ip("203.0.113.0/24")
//!     .build()?;
//! let cookies = signer.signed_cookies(&policy, &CookieOptions::new())?;
//! assert_eq!(cookies.iter().count(), 3);
//! # Ok::<(), reel_cloudfront::Error>(())
//! ```
//!
//! Key rotation with a [`KeyRing`]:
//!
//! ```
//! use reel_cloudfront::{KeyRing, Signer};
//! use reel_core::SecretSource;
//! # let old_pem = include_str!("../tests/keys/rsa2048-pkcs1.pem");
//! # let new_pem = include_str!("../tests/keys/p256-sec1.pem");
//!
//! let ring = KeyRing::new(Signer::from_secret("KOLDKEY", &SecretSource::literal(old_pem))?);
//! // The new public key has been uploaded and added to the distribution's key group:
//! ring.insert(Signer::from_secret("KNEWKEY", &SecretSource::literal(new_pem))?);
//! ring.activate("KNEWKEY")?;
//! let url = ring.canned_url("https://d111111abcdef8.cloudfront.net/a.jpg", 4_102_444_800)?;
//! assert!(url.contains("Key-Pair-Id=KNEWKEY"));
//! // Once no URL signed with the old key is still valid, remove it from the key group, then:
//! ring.retire("KOLDKEY")?;
//! # Ok::<(), reel_cloudfront::Error>(())
//! ```
//!
//! # Compatibility
//!
//! For every input botocore's `CloudFrontSigner` accepts and CloudFront can serve, signed URLs
//! are byte-identical to botocore's (RSA PKCS#1 v1.5 signatures are deterministic), and cookie
//! values match `@aws-sdk/cloudfront-signer`'s `getSignedCookies`. The test suite checks both
//! against the real packages over a generated corpus. Pass URLs as clients will request them
//! (percent-encoded, see [`encode_url`]): CloudFront compares the policy with the request it
//! receives, so raw non-ASCII characters, which botocore signs and CloudFront then refuses with
//! 403, are refused here.
//!
//! # Feature flags
//!
//! | Feature          | Default | What it adds                                                          |
//! |------------------|---------|-----------------------------------------------------------------------|
//! | `aws-lc`         | yes     | [`Backend::AwsLc`]: RSA-SHA256 and ECDSA P-256 through AWS-LC, built from source (no system library); RSA-SHA1 stays pure Rust |
//! | `encrypted-keys` | no      | [`SigningKey::from_encrypted`]: encrypted PKCS#8 and legacy `Proc-Type: 4,ENCRYPTED` PEM keys with a passphrase |
//! | `key-management` | no      | `management` module: upload public keys, key groups, via `aws-sdk-cloudfront` |
//! | `openssl`        | no      | `Backend::OpenSsl`: sign through OpenSSL (system libssl), SHA-1 included |
//!
//! Without default features the crate is pure Rust (`rsa` and `p256`).
//!
//! # Minimum supported Rust version
//!
//! Rust 1.94.1.

mod cache;
mod cookies;
mod encoding;
mod error;
mod key;
#[cfg(feature = "key-management")]
pub mod management;
mod pem;
mod policy;
mod ring;
mod signer;

pub use cache::{CacheStats, CachingSigner};
pub use cookie;
pub use cookies::{CookieExpiry, CookieOptions, SignedCookies};
pub use encoding::{cloudfront_base64, cloudfront_base64_decode, encode_url};
pub use error::Error;
pub use key::{Backend, HashAlgorithm, KeyFingerprint, KeyKind, PublicKey, SigningKey};
pub use policy::{CustomPolicyBuilder, Policy, SourceIp};
pub use ring::KeyRing;
pub use signer::{AsyncKeySigner, AsyncSigner, KeySigner, SignatureFuture, SignedPolicy, Signer};
// The reel-core types this crate's API takes or returns, so a user can name them from this
// crate alone: no direct dependency on reel-core to keep at a matching version.
pub use reel_core::{Clock, ManualClock, SecretError, SecretSource, SharedClock, SystemClock};
