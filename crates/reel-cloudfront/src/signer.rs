//! The signer: one key-pair id, one parsed key, one hash algorithm; signed URLs and the parts
//! signed cookies are made of.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use reel_core::{Clock, SecretSource, SharedClock, SystemClock};

use crate::Error;
use crate::cookies::{CookieOptions, SignedCookies};
use crate::encoding::cloudfront_base64;
use crate::key::{HashAlgorithm, KeyFingerprint, KeyKind, PublicKey, SigningKey};
use crate::metrics::SignerMetrics;
use crate::policy::{Policy, validate_url};

/// Computes signatures with one private key: a local [`SigningKey`], or a key held elsewhere
/// (an HSM, a signing service) behind a synchronous call. [`Signer`] builds CloudFront URLs and
/// cookies on top of it. For keys reached over the network (AWS KMS), see [`AsyncKeySigner`].
///
/// An implementation must return RSA PKCS#1 v1.5 signatures for RSA 2048 keys and DER-encoded
/// ECDSA signatures for P-256 keys, over `message` hashed with `hash`.
pub trait KeySigner: fmt::Debug + Send + Sync {
    /// The public half of the key: its kind, and its fingerprint, which keys signature caches.
    fn public_key(&self) -> PublicKey;

    /// Signs `message` (the policy JSON) with `hash`.
    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, Error>;

    /// The key's kind.
    fn kind(&self) -> KeyKind {
        self.public_key().kind()
    }
}

impl KeySigner for SigningKey {
    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(self)
    }

    fn kind(&self) -> KeyKind {
        SigningKey::kind(self)
    }

    fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, Error> {
        SigningKey::sign(self, message, hash)
    }
}

/// The future an [`AsyncKeySigner`] returns.
pub type SignatureFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, Error>> + Send + 'a>>;

/// A [`KeySigner`] whose signing call is asynchronous: a key in AWS KMS (`Sign` with
/// `RSASSA_PKCS1_V1_5_SHA_256` or `ECDSA_SHA_256`, `MessageType::Raw`), a remote HSM. Used by
/// [`AsyncSigner`]. Local keys implement it too.
///
/// An implementation must return RSA PKCS#1 v1.5 signatures for RSA 2048 keys and DER-encoded
/// ECDSA signatures for P-256 keys (KMS returns both in these forms).
pub trait AsyncKeySigner: fmt::Debug + Send + Sync {
    /// The public half of the key (for KMS, from `GetPublicKey`, see [`PublicKey::from_der`]).
    fn public_key(&self) -> PublicKey;

    /// Signs `message` (the policy JSON) with `hash`. Report remote failures as
    /// [`Error::Signing`] with a message saying what to check.
    fn sign<'a>(&'a self, message: &'a [u8], hash: HashAlgorithm) -> SignatureFuture<'a>;
}

impl AsyncKeySigner for SigningKey {
    fn public_key(&self) -> PublicKey {
        SigningKey::public_key(self)
    }

    fn sign<'a>(&'a self, message: &'a [u8], hash: HashAlgorithm) -> SignatureFuture<'a> {
        Box::pin(std::future::ready(SigningKey::sign(self, message, hash)))
    }
}

/// The parts every signer shares: key-pair id, key identity, hash and clock.
#[derive(Clone)]
struct Identity {
    key_pair_id: Arc<str>,
    kind: KeyKind,
    fingerprint: KeyFingerprint,
    hash: HashAlgorithm,
    clock: SharedClock,
    /// Signature metrics for this key and hash (nothing without the `metrics` feature).
    metrics: SignerMetrics,
}

impl Identity {
    fn new(key_pair_id: String, public: &PublicKey) -> Result<Self, Error> {
        if key_pair_id.is_empty() || !key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidKeyPairId { id: key_pair_id });
        }
        let kind = public.kind();
        let hash = kind.default_hash();
        Ok(Self {
            metrics: SignerMetrics::new(&key_pair_id, kind, hash),
            key_pair_id: key_pair_id.into(),
            kind,
            fingerprint: public.fingerprint()?,
            hash,
            clock: Arc::new(SystemClock),
        })
    }

    fn set_hash(&mut self, hash: HashAlgorithm) -> Result<(), Error> {
        if self.kind == KeyKind::EcdsaP256 && hash == HashAlgorithm::Sha1 {
            return Err(Error::EcdsaWithSha1);
        }
        self.hash = hash;
        self.metrics = SignerMetrics::new(&self.key_pair_id, self.kind, hash);
        Ok(())
    }

    fn check_expiry(&self, policy: &Policy) -> Result<(), Error> {
        let now = self.clock.unix_seconds();
        if policy.expires() <= now {
            return Err(Error::ExpiryInPast {
                expires: policy.expires(),
                now,
            });
        }
        Ok(())
    }

    fn signed(&self, policy: &Policy, signature: &[u8]) -> SignedPolicy {
        SignedPolicy {
            expires: policy.expires(),
            encoded_policy: (!policy.is_canned())
                .then(|| cloudfront_base64(policy.json().as_bytes())),
            signature: cloudfront_base64(signature),
            key_pair_id: Arc::clone(&self.key_pair_id),
            hash: self.hash,
        }
    }
}

fn check_covers(url: &str, policy: &Policy) -> Result<(), Error> {
    validate_url(url)?;
    if !policy.covers(url) {
        return Err(Error::ResourceMismatch {
            url: url.to_owned(),
            resource: policy.resource().to_owned(),
        });
    }
    Ok(())
}

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
    identity: Identity,
    key: Arc<dyn KeySigner>,
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
        Self::from_key_signer(key_pair_id, key)
    }

    /// A signer whose signatures come from `key`: a [`SigningKey`] or any other
    /// [`KeySigner`] (an HSM, a signing service).
    pub fn from_key_signer(
        key_pair_id: impl Into<String>,
        key: Arc<dyn KeySigner>,
    ) -> Result<Self, Error> {
        let identity = Identity::new(key_pair_id.into(), &key.public_key())?;
        Ok(Self { identity, key })
    }

    /// Parses a PEM private key (see [`SigningKey::from_pem`]) and makes a signer of it.
    pub fn from_pem(key_pair_id: impl Into<String>, pem: &str) -> Result<Self, Error> {
        Self::new(key_pair_id, SigningKey::from_pem(pem)?)
    }

    /// Reads a PEM or DER private key from a secret source (literal, `env:NAME` or
    /// `file:PATH`); see [`SigningKey::from_secret`].
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
        self.identity.set_hash(hash)?;
        Ok(self)
    }

    /// Uses `clock` to decide whether a policy has already expired.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.identity.clock = Arc::new(clock);
        self
    }

    /// The CloudFront key-pair (public key) id.
    pub fn key_pair_id(&self) -> &str {
        &self.identity.key_pair_id
    }

    /// The hash algorithm signatures use.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.identity.hash
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.identity.kind
    }

    /// The fingerprint of the key signatures come from (see [`KeyFingerprint`]).
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.identity.fingerprint
    }

    /// The key signatures come from.
    pub fn key(&self) -> &dyn KeySigner {
        &*self.key
    }

    /// The clock used for expiry checks.
    pub fn clock(&self) -> &SharedClock {
        &self.identity.clock
    }

    /// Signs `policy`, refusing one whose expiry is not in the future.
    pub fn sign(&self, policy: &Policy) -> Result<SignedPolicy, Error> {
        self.identity.check_expiry(policy)?;
        let start = SignerMetrics::start();
        let signature = self
            .key
            .sign(policy.json().as_bytes(), self.identity.hash)?;
        self.identity.metrics.signed(start);
        Ok(self.identity.signed(policy, &signature))
    }

    /// A signed URL for `url` under `policy`, which must cover it (the same URL for a canned
    /// policy, a matching pattern for a custom one).
    pub fn signed_url(&self, url: &str, policy: &Policy) -> Result<String, Error> {
        check_covers(url, policy)?;
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
            .field("key_pair_id", &self.identity.key_pair_id)
            .field("kind", &self.identity.kind)
            .field("hash", &self.identity.hash)
            .finish_non_exhaustive()
    }
}

/// Signs CloudFront policies with a key behind an asynchronous call ([`AsyncKeySigner`]): AWS
/// KMS, a remote HSM. The same URLs and cookies as [`Signer`], from `async` methods.
///
/// ```
/// use std::sync::Arc;
/// use reel_cloudfront::{AsyncSigner, SigningKey};
/// # let pem = include_str!("../tests/keys/p256-sec1.pem");
///
/// # tokio_test_block_on(async {
/// // A local key stands in here; a KMS client would implement `AsyncKeySigner`.
/// let key = Arc::new(SigningKey::from_pem(pem)?);
/// let signer = AsyncSigner::new("K2JCJMDEHXQW5F", key)?;
/// let url = signer.canned_url("https://d111111abcdef8.cloudfront.net/a.jpg", 4_102_444_800).await?;
/// assert!(url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F&Hash-Algorithm=SHA256"));
/// # Ok::<(), reel_cloudfront::Error>(())
/// # })?;
/// # fn tokio_test_block_on<F: std::future::Future>(future: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
/// # }
/// # Ok::<(), reel_cloudfront::Error>(())
/// ```
#[derive(Clone)]
pub struct AsyncSigner {
    identity: Identity,
    key: Arc<dyn AsyncKeySigner>,
}

impl AsyncSigner {
    /// A signer for `key` under CloudFront public-key id `key_pair_id`. The hash defaults to
    /// SHA-1 for RSA keys and SHA-256 for ECDSA keys, as for [`Signer`]; KMS signs RSA with
    /// SHA-256 only, so call [`with_hash_algorithm`](Self::with_hash_algorithm) for a KMS RSA key.
    pub fn new(
        key_pair_id: impl Into<String>,
        key: Arc<dyn AsyncKeySigner>,
    ) -> Result<Self, Error> {
        let identity = Identity::new(key_pair_id.into(), &key.public_key())?;
        Ok(Self { identity, key })
    }

    /// Signs with `hash` instead of the key's default. ECDSA keys refuse SHA-1.
    pub fn with_hash_algorithm(mut self, hash: HashAlgorithm) -> Result<Self, Error> {
        self.identity.set_hash(hash)?;
        Ok(self)
    }

    /// Uses `clock` to decide whether a policy has already expired.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.identity.clock = Arc::new(clock);
        self
    }

    /// The CloudFront key-pair (public key) id.
    pub fn key_pair_id(&self) -> &str {
        &self.identity.key_pair_id
    }

    /// The hash algorithm signatures use.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.identity.hash
    }

    /// The fingerprint of the key signatures come from.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.identity.fingerprint
    }

    /// The clock used for expiry checks.
    pub fn clock(&self) -> &SharedClock {
        &self.identity.clock
    }

    /// Signs `policy`, refusing one whose expiry is not in the future.
    pub async fn sign(&self, policy: &Policy) -> Result<SignedPolicy, Error> {
        self.identity.check_expiry(policy)?;
        let start = SignerMetrics::start();
        let signature = self
            .key
            .sign(policy.json().as_bytes(), self.identity.hash)
            .await?;
        self.identity.metrics.signed(start);
        Ok(self.identity.signed(policy, &signature))
    }

    /// A signed URL for `url` under `policy`, which must cover it.
    pub async fn signed_url(&self, url: &str, policy: &Policy) -> Result<String, Error> {
        check_covers(url, policy)?;
        Ok(self.sign(policy).await?.append_to(url))
    }

    /// A signed URL with a canned policy: `url` until `expires` (Unix seconds).
    pub async fn canned_url(&self, url: &str, expires: u64) -> Result<String, Error> {
        let policy = Policy::canned(url, expires)?;
        Ok(self.sign(&policy).await?.append_to(url))
    }

    /// Signed cookies for `policy` with the given cookie attributes.
    pub async fn signed_cookies(
        &self,
        policy: &Policy,
        options: &CookieOptions,
    ) -> Result<SignedCookies, Error> {
        Ok(self.sign(policy).await?.cookies(options))
    }
}

impl fmt::Debug for AsyncSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSigner")
            .field("key_pair_id", &self.identity.key_pair_id)
            .field("kind", &self.identity.kind)
            .field("hash", &self.identity.hash)
            .field("key", &self.key)
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
