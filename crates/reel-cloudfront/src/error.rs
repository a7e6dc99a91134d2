//! The crate's error type.

use std::net::IpAddr;

/// Everything that can go wrong while building a policy, loading a key or signing.
///
/// Messages name the input that was refused and say what to do instead; they never contain
/// key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL to sign is not an absolute `http://` or `https://` URL CloudFront could serve.
    #[error("cannot sign URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A custom policy's resource pattern is not one CloudFront accepts.
    #[error("invalid policy resource {resource:?}: {reason}")]
    InvalidResource {
        /// The resource pattern as given.
        resource: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A character that would change the policy's JSON (`"`, `\`), or that CloudFront never sees
    /// raw in a request URL (control characters, whitespace, `#`, non-ASCII characters, which
    /// clients send percent-encoded), appears in a URL or resource.
    #[error(
        "{what} contains {character:?} at byte {position}: it would change the policy's meaning \
         (policy injection) or never match the request clients send, so CloudFront would answer \
         403; percent-encode it (`reel_cloudfront::encode_url` encodes a URL as the AWS JS SDK does)"
    )]
    ForbiddenCharacter {
        /// `"the URL"` or `"the resource"`.
        what: &'static str,
        /// The refused character.
        character: char,
        /// Its byte offset.
        position: usize,
    },
    /// The URL already carries a query parameter CloudFront reserves for signatures.
    #[error(
        "the URL already has a `{name}` query parameter, which CloudFront reserves for signed \
         URLs; rename the parameter"
    )]
    ReservedQueryParameter {
        /// The reserved name found.
        name: &'static str,
    },
    /// A source IP range that is not IPv4 CIDR notation.
    #[error(
        "invalid source IP {value:?}: {reason}; use an IPv4 address or CIDR such as 203.0.113.0/24"
    )]
    InvalidSourceIp {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// CloudFront policies accept IPv4 source ranges only.
    #[error(
        "source IP {value} is IPv6, but CloudFront's AWS:SourceIp condition accepts IPv4 only; \
         leave the IP condition out for IPv6 clients"
    )]
    Ipv6SourceIp {
        /// The IPv6 address found.
        value: IpAddr,
    },
    /// The expiry is not after the current time, so CloudFront would refuse the URL at once.
    #[error(
        "expiry {expires} (Unix seconds) is not after the current time {now}; sign with a future expiry"
    )]
    ExpiryInPast {
        /// The policy's expiry.
        expires: u64,
        /// The signer clock's current Unix time.
        now: u64,
    },
    /// A custom policy's start time is not before its expiry.
    #[error("start time {starts} is not before expiry {expires}; the policy could never be valid")]
    StartNotBeforeExpiry {
        /// `DateGreaterThan`.
        starts: u64,
        /// `DateLessThan`.
        expires: u64,
    },
    /// A policy given as JSON is not one CloudFront accepts.
    #[error("invalid policy JSON: {reason}")]
    InvalidPolicy {
        /// What is wrong with it.
        reason: String,
    },
    /// The URL to sign is not covered by the policy's resource.
    #[error(
        "the policy's resource {resource:?} does not cover URL {url:?}; CloudFront would refuse it"
    )]
    ResourceMismatch {
        /// The URL.
        url: String,
        /// The policy's resource.
        resource: String,
    },
    /// A key-pair id with characters CloudFront never issues.
    #[error(
        "invalid key-pair id {id:?}: CloudFront key ids are ASCII letters and digits, such as K2JCJMDEHXQW5F"
    )]
    InvalidKeyPairId {
        /// The id as given.
        id: String,
    },
    /// The private key could not be decoded.
    #[error("cannot read private key: {reason}")]
    KeyFormat {
        /// What went wrong (never key material).
        reason: String,
    },
    /// A key type CloudFront does not accept.
    #[error("unsupported key type {found}: CloudFront accepts RSA 2048-bit and ECDSA P-256 keys")]
    UnsupportedKey {
        /// What the key is.
        found: String,
    },
    /// An RSA key that is not 2048 bits.
    #[error("RSA key has {bits} bits, but CloudFront accepts 2048-bit RSA keys only")]
    RsaKeySize {
        /// The modulus size found.
        bits: usize,
    },
    /// ECDSA keys must sign with SHA-256.
    #[error("ECDSA P-256 keys sign with SHA-256 only; CloudFront does not accept ECDSA with SHA-1")]
    EcdsaWithSha1,
    /// The cryptographic backend failed to sign.
    #[error("signing failed: {reason}")]
    Signing {
        /// The backend's message.
        reason: String,
    },
    /// The key's secret source could not be read.
    #[error("cannot load key {key_pair_id}: {source}")]
    Secret {
        /// The key-pair id being loaded.
        key_pair_id: String,
        /// Why the secret could not be read.
        #[source]
        source: reel_core::SecretError,
    },
    /// A key ring operation named a key-pair id the ring does not hold.
    #[error("the key ring has no key {id:?}; add it before activating it")]
    UnknownKeyPairId {
        /// The id asked for.
        id: String,
    },
    /// The active key cannot be retired.
    #[error("key {id:?} is the active signer; activate another key before retiring it")]
    RetireActiveKey {
        /// The active id.
        id: String,
    },
    /// A key ring needs at least one key.
    #[error("a key ring needs at least one key")]
    EmptyKeyRing,
    /// A CloudFront API call failed (feature `key-management`).
    #[cfg(feature = "key-management")]
    #[error("CloudFront {operation} failed: {message}")]
    KeyManagement {
        /// The API operation.
        operation: &'static str,
        /// The service's or transport's message.
        message: String,
    },
}
