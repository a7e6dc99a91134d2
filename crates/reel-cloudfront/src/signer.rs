//! The signer: one key-pair id, one parsed key, one hash algorithm; signed URLs and the parts
//! signed cookies are made of.

use std::fmt;
use std::sync::Arc;

use reel_core::{SecretSource, SharedClock, SystemClock};

use crate::Error;
use crate::cookies::{CookieOptions, SignedCookies};
use crate::encoding::cloudfront_base64;
use crate::key::{HashAlgorithm, KeyKind, SigningKey};
use crate::policy::{Policy, validate_url};

/// Signs CloudFront policies with one key.
///
/// Cheap to clone (the parsed key is shared) and `Send + Sync`. The hash algorithm defaults to
/// SHA-1 for RSA keys (no `Hash-Algorithm` parameter, as botocore signs) and SHA-256 for
/// ECDSA keys. The clock (system time unless [`with_clock`](Self::with_clock) says otherwise)
/// is used to refuse policies that have already expired.
///
/// ```
/// use reel_cloudfront::{Policy, Signer};
/// # let pem = include_str!("../tests/keys/rsa2048-pkcs1.pem");
///
/// let signer = Signer::from_pem("K2JCJMDEHXQW5F", pem)?;
/// let url = "https://d111111abcdef8.cloudfront.net/videos/intro.mp4";
/// let signed = signer.canned_url(url, 4_102_444_800)?;
/// assert!(signed.starts_with(&format!("{url}?Expires=4102444800&Signature=")));
/// assert!(signed.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"));
///
/// // A custom policy: a wildcard resource, a start time and an IPv4 range.
/// let policy = Policy::custom("https://d111111abcdef8.cloudfront.net/videos/*", 4_102_444_800)
///     .starts(1_700_000_000)
///     .source_ip("203.0.113.0/24")
///     .build()?;
/// let signed = signer.signed_url(url, &policy)?;
/// assert!(signed.starts_with(&format!("{url}?Policy=")));
/// # Ok::<(), reel_cloudfront::Error>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    key_pair_id: Arc<str>,
    key: Arc<SigningKey>,
    hash: HashAlgorithm,
    clock: SharedClock,
}

impl Signer {
    /// A signer for `key` under CloudFront public-key id `key_pair_id` (letters and digits).
    pub fn new(key_pair_id: impl Into<String>, key: SigningKey) -> Result<Self, Error> {
        Self::from_shared(key_pair_id, Arc::new(key))
    }

    /// Like [`new`](Self::new), sharing an already parsed key.
    pub fn from_shared(
        key_pair_id: impl Into<String>,
        key: Arc<SigningKey>,
    ) -> Result<Self, Error> {
        let key_pair_id = key_pair_id.into();
        if key_pair_id.is_empty() || !key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidKeyPairId { id: key_pair_id });
        }
        Ok(Self {
            key_pair_id: key_pair_id.into(),
            hash: key.kind().default_hash(),
            key,
            clock: Arc::new(SystemClock),
        })
    }

    /// Parses a PEM private key (see [`SigningKey::from_pem`]) and makes a signer of it.
    pub fn from_pem(key_pair_id: impl Into<String>, pem: &str) -> Result<Self, Error> {
        Self::new(key_pair_id, SigningKey::from_pem(pem)?)
    }

    /// Reads a PEM private key from a secret source (literal, `env:NAME` or `file:PATH`).
    pub fn from_secret(
        key_pair_id: impl Into<String>,
        source: &SecretSource,
    ) -> Result<Self, Error> {
        let key_pair_id = key_pair_id.into();
        let key = SigningKey::from_secret(source, &key_pair_id)?;
        Self::new(key_pair_id, key)
    }

    /// Signs with `hash` instead of the key's default. ECDSA keys refuse SHA-1.
    pub fn with_hash_algorithm(mut self, hash: HashAlgorithm) -> Result<Self, Error> {
        if self.key.kind() == KeyKind::EcdsaP256 && hash == HashAlgorithm::Sha1 {
            return Err(Error::EcdsaWithSha1);
        }
        self.hash = hash;
        Ok(self)
    }

    /// Uses `clock` to decide whether a policy has already expired.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The CloudFront key-pair (public key) id.
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The hash algorithm signatures use.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    /// The parsed key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The clock used for expiry checks.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Signs `policy`, refusing one whose expiry is not in the future.
    pub fn sign(&self, policy: &Policy) -> Result<SignedPolicy, Error> {
        let now = self.clock.unix_seconds();
        if policy.expires() <= now {
            return Err(Error::ExpiryInPast {
                expires: policy.expires(),
                now,
            });
        }
        let signature = self.key.sign(policy.json().as_bytes(), self.hash)?;
        Ok(SignedPolicy {
            expires: policy.expires(),
            encoded_policy: (!policy.is_canned())
                .then(|| cloudfront_base64(policy.json().as_bytes())),
            signature: cloudfront_base64(&signature),
            key_pair_id: Arc::clone(&self.key_pair_id),
            hash: self.hash,
        })
    }

    /// A signed URL for `url` under `policy`, which must cover it (the same URL for a canned
    /// policy, a matching pattern for a custom one).
    pub fn signed_url(&self, url: &str, policy: &Policy) -> Result<String, Error> {
        validate_url(url)?;
        if !policy.covers(url) {
            return Err(Error::ResourceMismatch {
                url: url.to_owned(),
                resource: policy.resource().to_owned(),
            });
        }
        Ok(self.sign(policy)?.append_to(url))
    }

    /// A signed URL with a canned policy: `url` until `expires` (Unix seconds).
    pub fn canned_url(&self, url: &str, expires: u64) -> Result<String, Error> {
        let policy = Policy::canned(url, expires)?;
        Ok(self.sign(&policy)?.append_to(url))
    }

    /// Signed cookies for `policy` with the given cookie attributes.
    pub fn signed_cookies(
        &self,
        policy: &Policy,
        options: &CookieOptions,
    ) -> Result<SignedCookies, Error> {
        Ok(self.sign(policy)?.cookies(options))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_pair_id", &self.key_pair_id)
            .field("kind", &self.key.kind())
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// A signed policy: the values that go into a signed URL's query string or into signed
/// cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPolicy {
    expires: u64,
    encoded_policy: Option<String>,
    signature: String,
    key_pair_id: Arc<str>,
    hash: HashAlgorithm,
}

impl SignedPolicy {
    /// The policy's expiry (Unix seconds).
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// Whether the policy was canned (`Expires=`) rather than custom (`Policy=`).
    pub fn is_canned(&self) -> bool {
        self.encoded_policy.is_none()
    }

    /// The custom policy in CloudFront base64, `None` for a canned policy.
    pub fn encoded_policy(&self) -> Option<&str> {
        self.encoded_policy.as_deref()
    }

    /// The signature in CloudFront base64.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The key-pair id.
    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The hash algorithm signed with.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    /// The signature's query parameters in botocore's order: `Expires` or `Policy`,
    /// `Signature`, `Key-Pair-Id`, then `Hash-Algorithm` when it is not SHA-1. Values need no
    /// percent-encoding.
    pub fn query_string(&self) -> String {
        let mut query = String::with_capacity(
            self.signature.len()
                + self.encoded_policy.as_ref().map_or(20, String::len)
                + self.key_pair_id.len()
                + 64,
        );
        self.write_query(&mut query);
        query
    }

    fn write_query(&self, out: &mut String) {
        match &self.encoded_policy {
            Some(policy) => {
                out.push_str("Policy=");
                out.push_str(policy);
            }
            None => {
                out.push_str("Expires=");
                out.push_str(&self.expires.to_string());
            }
        }
        out.push_str("&Signature=");
        out.push_str(&self.signature);
        out.push_str("&Key-Pair-Id=");
        out.push_str(&self.key_pair_id);
        if let Some(hash) = self.hash.parameter() {
            out.push_str("&Hash-Algorithm=");
            out.push_str(hash);
        }
    }

    /// `url` with the signature appended: after `&` if it has a query string, `?` otherwise.
    pub fn append_to(&self, url: &str) -> String {
        let mut signed = String::with_capacity(
            url.len()
                + self.signature.len()
                + self.encoded_policy.as_ref().map_or(20, String::len)
                + 64,
        );
        signed.push_str(url);
        signed.push(if url.contains('?') { '&' } else { '?' });
        self.write_query(&mut signed);
        signed
    }

    /// The signed cookies, with `options`' attributes.
    pub fn cookies(&self, options: &CookieOptions) -> SignedCookies {
        let mut pairs: Vec<(&'static str, String)> = Vec::with_capacity(4);
        match &self.encoded_policy {
            Some(policy) => pairs.push(("CloudFront-Policy", policy.clone())),
            None => pairs.push(("CloudFront-Expires", self.expires.to_string())),
        }
        pairs.push(("CloudFront-Signature", self.signature.clone()));
        pairs.push(("CloudFront-Key-Pair-Id", self.key_pair_id.to_string()));
        if let Some(hash) = self.hash.parameter() {
            pairs.push(("CloudFront-Hash-Algorithm", hash.to_owned()));
        }
        SignedCookies::new(pairs, options, self.expires)
    }
}
