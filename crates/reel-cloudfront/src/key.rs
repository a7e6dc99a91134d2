//! Private keys parsed once (RSA 2048 and ECDSA P-256), their public halves and signing.

use std::fmt;
use std::str::FromStr;

use p256::ecdsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
use reel_core::SecretSource;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::der::pem;
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::{DecodePublicKey as _, ObjectIdentifier, PrivateKeyInfoRef};
use rsa::traits::PublicKeyParts as _;
use sha1::Sha1;
use sha2::Sha256;

use crate::Error;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// The RSA modulus size CloudFront accepts.
const RSA_BITS: usize = 2048;

/// The digest signed: SHA-1 (CloudFront's default, no extra parameter) or SHA-256 (adds
/// `Hash-Algorithm=SHA256` to URLs and `CloudFront-Hash-Algorithm=SHA256` to cookies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1, the default for RSA keys.
    #[default]
    Sha1,
    /// SHA-256, required for ECDSA keys.
    Sha256,
}

impl HashAlgorithm {
    /// The `Hash-Algorithm` value to send, `None` for SHA-1 (CloudFront's default).
    pub fn parameter(self) -> Option<&'static str> {
        match self {
            Self::Sha1 => None,
            Self::Sha256 => Some("SHA256"),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        })
    }
}

/// Parses `sha1` or `sha256` (any case, `-` allowed: `SHA-256`).
impl FromStr for HashAlgorithm {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            _ => Err(format!(
                "unknown hash algorithm {text:?}: use sha1 or sha256"
            )),
        }
    }
}

/// The library that computes signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto's `rsa` (constant-time, blinded) and `p256`: pure Rust, the default.
    #[default]
    RustCrypto,
    /// OpenSSL through the `openssl` crate (feature `openssl`): several times faster, needs the
    /// system's libssl.
    #[cfg(feature = "openssl")]
    OpenSsl,
}

/// The kind of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a 2048-bit modulus, PKCS#1 v1.5 signatures.
    Rsa2048,
    /// ECDSA on NIST P-256, DER-encoded signatures over SHA-256.
    EcdsaP256,
}

impl KeyKind {
    /// The hash algorithm a signer uses unless told otherwise: SHA-1 for RSA (what CloudFront
    /// assumes when no `Hash-Algorithm` is sent), SHA-256 for ECDSA (the only one it allows).
    pub fn default_hash(self) -> HashAlgorithm {
        match self {
            Self::Rsa2048 => HashAlgorithm::Sha1,
            Self::EcdsaP256 => HashAlgorithm::Sha256,
        }
    }
}

/// A CloudFront private key, decoded and checked once, ready to sign many policies.
///
/// Accepts RSA 2048-bit keys (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, PEM or DER) and
/// ECDSA P-256 keys (SEC1 `EC PRIVATE KEY` or PKCS#8, PEM or DER). DSA, Ed25519, other curves,
/// other RSA sizes and encrypted keys are refused with an [`Error`] saying what was found.
/// `Debug` shows the key kind only.
///
/// RSA signing uses the `rsa` crate (constant-time arithmetic, blinded); ECDSA uses `p256`
/// (deterministic RFC 6979 nonces).
pub struct SigningKey {
    inner: KeyInner,
    #[cfg(feature = "openssl")]
    openssl: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
}

/// One RSA key, prepared for both digests.
struct RsaKeys {
    sha1: rsa::pkcs1v15::SigningKey<Sha1>,
    sha256: rsa::pkcs1v15::SigningKey<Sha256>,
}

enum KeyInner {
    Rsa(Box<RsaKeys>),
    Ecdsa(p256::ecdsa::SigningKey),
}

impl SigningKey {
    /// Decodes a PEM (`-----BEGIN ...`) or DER private key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        if bytes[start..].starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(&bytes[start..]).map_err(|_| Error::KeyFormat {
                reason: "the PEM text is not valid UTF-8".into(),
            })?;
            Self::from_pem(text)
        } else {
            Self::from_der(bytes)
        }
    }

    /// Decodes a PEM private key: `RSA PRIVATE KEY`, `PRIVATE KEY` or `EC PRIVATE KEY`.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let (label, der) = pem::decode_vec(text.as_bytes()).map_err(|error| Error::KeyFormat {
            reason: format!("not a PEM private key ({error})"),
        })?;
        let der = Zeroizing::new(der);
        match label {
            "RSA PRIVATE KEY" => {
                Self::from_rsa(rsa::PrivateKey::from_pkcs1_der(&der).map_err(|error| {
                    Error::KeyFormat {
                        reason: format!("malformed PKCS#1 RSA key ({error})"),
                    }
                })?)
            }
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "EC PRIVATE KEY" => Self::from_sec1(&der),
            "DSA PRIVATE KEY" => Err(Error::UnsupportedKey {
                found: "DSA".into(),
            }),
            "ENCRYPTED PRIVATE KEY" => Err(Error::KeyFormat {
                reason: "the key is encrypted; decrypt it first \
                         (`openssl pkey -in key.pem -out plain.pem`)"
                    .into(),
            }),
            "OPENSSH PRIVATE KEY" => Err(Error::KeyFormat {
                reason: "OpenSSH key format; convert it with `ssh-keygen -p -m PEM -f key`".into(),
            }),
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => Err(Error::KeyFormat {
                reason: format!("this is a {label}, not a private key"),
            }),
            other => Err(Error::KeyFormat {
                reason: format!("unexpected PEM label {other:?}"),
            }),
        }
    }

    /// Decodes a DER private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if PrivateKeyInfoRef::try_from(der).is_ok() {
            return Self::from_pkcs8(der);
        }
        if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(der) {
            return Self::from_rsa(key);
        }
        if p256::SecretKey::from_sec1_der(der).is_ok() {
            return Self::from_sec1(der);
        }
        Err(Error::KeyFormat {
            reason: "not a PKCS#8, PKCS#1 or SEC1 DER private key".into(),
        })
    }

    /// Reads the key from a [`SecretSource`] holding PEM text. `key_pair_id` only labels
    /// errors.
    pub fn from_secret(source: &SecretSource, key_pair_id: &str) -> Result<Self, Error> {
        let secret = source.resolve().map_err(|source| Error::Secret {
            key_pair_id: key_pair_id.to_owned(),
            source,
        })?;
        Self::from_bytes(secret.expose_bytes())
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        let info = PrivateKeyInfoRef::try_from(der).map_err(|error| Error::KeyFormat {
            reason: format!("malformed PKCS#8 key ({error})"),
        })?;
        let oid = info.algorithm.oid;
        if oid == OID_RSA {
            let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|error| Error::KeyFormat {
                reason: format!("malformed PKCS#8 RSA key ({error})"),
            })?;
            return Self::from_rsa(key);
        }
        if oid == OID_EC {
            let curve = info.algorithm.parameters_oid().ok();
            return match curve {
                Some(curve) if curve == OID_P256 => {
                    let key =
                        p256::SecretKey::from_pkcs8_der(der).map_err(|error| Error::KeyFormat {
                            reason: format!("malformed PKCS#8 P-256 key ({error})"),
                        })?;
                    Ok(Self::with_inner(KeyInner::Ecdsa(key.into())))
                }
                Some(curve) => Err(Error::UnsupportedKey {
                    found: format!("ECDSA on {}", curve_name(curve)),
                }),
                None => Err(Error::UnsupportedKey {
                    found: "ECDSA with unnamed curve parameters".into(),
                }),
            };
        }
        let found = match oid {
            OID_DSA => "DSA".to_owned(),
            OID_ED25519 => "Ed25519".to_owned(),
            OID_ED448 => "Ed448".to_owned(),
            OID_RSA_PSS => "RSA-PSS".to_owned(),
            other => format!("algorithm {other}"),
        };
        Err(Error::UnsupportedKey { found })
    }

    fn from_sec1(der: &[u8]) -> Result<Self, Error> {
        match p256::SecretKey::from_sec1_der(der) {
            Ok(key) => Ok(Self::with_inner(KeyInner::Ecdsa(key.into()))),
            Err(_) => Err(Error::UnsupportedKey {
                found: "an EC key that is not a valid P-256 key (another curve?)".into(),
            }),
        }
    }

    fn from_rsa(key: rsa::PrivateKey) -> Result<Self, Error> {
        let bits = key.n().bit_width_vartime() as usize;
        if bits != RSA_BITS {
            return Err(Error::RsaKeySize { bits });
        }
        Ok(Self::with_inner(KeyInner::Rsa(Box::new(RsaKeys {
            sha1: rsa::pkcs1v15::SigningKey::new(key.clone()),
            sha256: rsa::pkcs1v15::SigningKey::new(key),
        }))))
    }

    fn with_inner(inner: KeyInner) -> Self {
        Self {
            inner,
            #[cfg(feature = "openssl")]
            openssl: None,
        }
    }

    /// Signs with `backend` from now on. The key stays the same key: RSA signatures are
    /// identical whichever backend computes them.
    pub fn with_backend(self, backend: Backend) -> Result<Self, Error> {
        match backend {
            Backend::RustCrypto => Ok(Self::with_inner(self.inner)),
            #[cfg(feature = "openssl")]
            Backend::OpenSsl => {
                use p256::pkcs8::EncodePrivateKey as _;
                let der = match &self.inner {
                    KeyInner::Rsa(keys) => {
                        let private: &rsa::PrivateKey = keys.sha1.as_ref();
                        private.to_pkcs8_der()
                    }
                    KeyInner::Ecdsa(key) => key.to_pkcs8_der(),
                }
                .map_err(|error| Error::KeyFormat {
                    reason: format!("cannot hand the key to OpenSSL ({error})"),
                })?;
                let pkey = openssl::pkey::PKey::private_key_from_pkcs8(der.as_bytes()).map_err(
                    |error| Error::KeyFormat {
                        reason: format!("OpenSSL refused the key ({error})"),
                    },
                )?;
                Ok(Self {
                    inner: self.inner,
                    openssl: Some(pkey),
                })
            }
        }
    }

    /// The backend computing signatures.
    pub fn backend(&self) -> Backend {
        #[cfg(feature = "openssl")]
        if self.openssl.is_some() {
            return Backend::OpenSsl;
        }
        Backend::RustCrypto
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match self.inner {
            KeyInner::Rsa(_) => KeyKind::Rsa2048,
            KeyInner::Ecdsa(_) => KeyKind::EcdsaP256,
        }
    }

    /// Signs `message` with `hash`: PKCS#1 v1.5 for RSA, a DER-encoded ECDSA signature for
    /// P-256 (which refuses SHA-1).
    pub fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, Error> {
        #[cfg(feature = "openssl")]
        if let Some(pkey) = &self.openssl {
            return openssl_sign(pkey, self.kind(), message, hash);
        }
        let failed = |error: rsa::signature::Error| Error::Signing {
            reason: error.to_string(),
        };
        match (&self.inner, hash) {
            (KeyInner::Rsa(keys), HashAlgorithm::Sha1) => {
                Ok(keys.sha1.try_sign(message).map_err(failed)?.to_vec())
            }
            (KeyInner::Rsa(keys), HashAlgorithm::Sha256) => {
                Ok(keys.sha256.try_sign(message).map_err(failed)?.to_vec())
            }
            (KeyInner::Ecdsa(_), HashAlgorithm::Sha1) => Err(Error::EcdsaWithSha1),
            (KeyInner::Ecdsa(key), HashAlgorithm::Sha256) => {
                let signature: p256::ecdsa::DerSignature =
                    key.try_sign(message).map_err(|error| Error::Signing {
                        reason: error.to_string(),
                    })?;
                Ok(signature.to_vec())
            }
        }
    }

    /// The public half, to upload to CloudFront or to verify signatures.
    pub fn public_key(&self) -> PublicKey {
        match &self.inner {
            KeyInner::Rsa(keys) => {
                let private: &rsa::PrivateKey = keys.sha1.as_ref();
                PublicKey {
                    inner: PublicInner::Rsa(private.to_public_key()),
                }
            }
            KeyInner::Ecdsa(key) => PublicKey {
                inner: PublicInner::Ecdsa(*key.verifying_key()),
            },
        }
    }
}

#[cfg(feature = "openssl")]
fn openssl_sign(
    pkey: &openssl::pkey::PKey<openssl::pkey::Private>,
    kind: KeyKind,
    message: &[u8],
    hash: HashAlgorithm,
) -> Result<Vec<u8>, Error> {
    use openssl::hash::MessageDigest;
    let digest = match (kind, hash) {
        (KeyKind::EcdsaP256, HashAlgorithm::Sha1) => return Err(Error::EcdsaWithSha1),
        (_, HashAlgorithm::Sha1) => MessageDigest::sha1(),
        (_, HashAlgorithm::Sha256) => MessageDigest::sha256(),
    };
    let failed = |error: openssl::error::ErrorStack| Error::Signing {
        reason: error.to_string(),
    };
    // RSA keys get PKCS#1 v1.5 padding and ECDSA keys DER signatures, OpenSSL's defaults.
    let mut signer = openssl::sign::Signer::new(digest, pkey).map_err(failed)?;
    signer.update(message).map_err(failed)?;
    signer.sign_to_vec().map_err(failed)
}

fn curve_name(oid: ObjectIdentifier) -> String {
    match oid {
        OID_P384 => "P-384".into(),
        OID_P521 => "P-521".into(),
        other => format!("curve {other}"),
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind())
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// A CloudFront public key (RSA 2048 or ECDSA P-256): PEM for uploading, and signature checks.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: PublicInner,
}

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    Rsa(rsa::PublicKey),
    Ecdsa(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Decodes a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM, as `openssl pkey -pubout` writes it
    /// and CloudFront stores it.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if let Ok(key) = rsa::PublicKey::from_public_key_pem(text) {
            let bits = key.n().bit_width_vartime() as usize;
            if bits != RSA_BITS {
                return Err(Error::RsaKeySize { bits });
            }
            return Ok(Self {
                inner: PublicInner::Rsa(key),
            });
        }
        match p256::PublicKey::from_public_key_pem(text) {
            Ok(key) => Ok(Self {
                inner: PublicInner::Ecdsa(key.into()),
            }),
            Err(_) => Err(Error::KeyFormat {
                reason: "not an RSA 2048 or P-256 `PUBLIC KEY` PEM".into(),
            }),
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match self.inner {
            PublicInner::Rsa(_) => KeyKind::Rsa2048,
            PublicInner::Ecdsa(_) => KeyKind::EcdsaP256,
        }
    }

    /// The `PUBLIC KEY` PEM (SubjectPublicKeyInfo, LF line endings) CloudFront's
    /// `CreatePublicKey` takes as `EncodedKey`.
    pub fn to_pem(&self) -> Result<String, Error> {
        let pem = match &self.inner {
            PublicInner::Rsa(key) => key.to_public_key_pem(LineEnding::LF),
            PublicInner::Ecdsa(key) => key.to_public_key_pem(LineEnding::LF),
        };
        pem.map_err(|error| Error::KeyFormat {
            reason: format!("cannot encode public key ({error})"),
        })
    }

    /// Whether `signature` (raw bytes, not CloudFront base64) is a valid signature of
    /// `message` under `hash`.
    pub fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool {
        match (&self.inner, hash) {
            (PublicInner::Rsa(key), HashAlgorithm::Sha1) => {
                let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return false;
                };
                rsa::pkcs1v15::VerifyingKey::<Sha1>::new(key.clone())
                    .verify(message, &signature)
                    .is_ok()
            }
            (PublicInner::Rsa(key), HashAlgorithm::Sha256) => {
                let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return false;
                };
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                    .verify(message, &signature)
                    .is_ok()
            }
            (PublicInner::Ecdsa(_), HashAlgorithm::Sha1) => false,
            (PublicInner::Ecdsa(key), HashAlgorithm::Sha256) => {
                let Ok(signature) = p256::ecdsa::DerSignature::try_from(signature) else {
                    return false;
                };
                key.verify(message, &signature).is_ok()
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}
