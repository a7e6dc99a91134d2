//! Private keys parsed once (RSA 2048 and ECDSA P-256), their public halves and signing.

use std::fmt;
use std::str::FromStr;

use p256::ecdsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
use reel_core::SecretSource;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::{DecodePublicKey as _, ObjectIdentifier, PrivateKeyInfoRef};
use rsa::traits::PublicKeyParts as _;
use sha1::Sha1;
use sha2::Sha256;

use crate::{Error, ec_explicit, pem};

mod load;
mod public;

#[cfg(feature = "openssl")]
use load::openssl_sign;
use load::{
    curve_name, decrypt_legacy_pem, encrypted_without_passphrase, looks_like_encrypted_pkcs8,
    no_private_key_block, refuse_passphrase, unescape_newlines, wrong_passphrase,
};
use public::PublicInner;
pub use public::PublicKey;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// `prime-field` (1.2.840.10045.1.1) as DER: present in explicit EC curve parameters.
const OID_PRIME_FIELD_DER: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

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
///
/// The default is [`AwsLc`](Self::AwsLc) with feature `aws-lc` (on by default) and
/// [`RustCrypto`](Self::RustCrypto) without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto's `rsa` (constant-time, blinded) and `p256`: pure Rust, no C compiler needed.
    /// Also used for RSA with SHA-1 under [`AwsLc`](Self::AwsLc).
    RustCrypto,
    /// AWS-LC through `aws-lc-rs` (feature `aws-lc`, the default): assembly RSA and ECDSA,
    /// built from source with no system library. Signs RSA-SHA256 and ECDSA P-256; RSA with
    /// SHA-1 falls back to [`RustCrypto`](Self::RustCrypto), as AWS-LC's safe API only
    /// verifies PKCS#1 v1.5 SHA-1 signatures.
    #[cfg(feature = "aws-lc")]
    AwsLc,
    /// OpenSSL through the `openssl` crate (feature `openssl`): several times faster, needs the
    /// system's libssl.
    #[cfg(feature = "openssl")]
    OpenSsl,
}

impl Default for Backend {
    fn default() -> Self {
        #[cfg(feature = "aws-lc")]
        return Self::AwsLc;
        #[cfg(not(feature = "aws-lc"))]
        return Self::RustCrypto;
    }
}

/// The SHA-256 of a public key's DER encoding (SubjectPublicKeyInfo): which key material a
/// signature comes from, whatever key-pair id it is filed under.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyFingerprint([u8; 32]);

impl KeyFingerprint {
    /// A fingerprint from 32 bytes (for signers that identify their key another way).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint(")?;
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "..)")
    }
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
/// ECDSA P-256 keys (SEC1 `EC PRIVATE KEY` or PKCS#8, PEM or DER), in every PEM layout Python
/// `cryptography` loads (see [`from_pem`](Self::from_pem)); with feature `encrypted-keys`, also
/// PKCS#8 `ENCRYPTED PRIVATE KEY`s with a passphrase. DSA, Ed25519, other curves, other RSA
/// sizes are refused with an [`Error`] saying what was found. `Debug` shows the key kind only.
///
/// Signatures come from the [`Backend`] chosen: AWS-LC by default (feature `aws-lc`), which
/// covers RSA-SHA256 and ECDSA P-256; RSA with SHA-1 always uses the `rsa` crate (constant-time
/// arithmetic, blinded), because AWS-LC's safe API has no SHA-1 signing.
pub struct SigningKey {
    inner: KeyInner,
    fast: FastKey,
    public: PublicKey,
    fingerprint: KeyFingerprint,
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

/// The key as the selected fast backend holds it.
enum FastKey {
    None,
    #[cfg(feature = "aws-lc")]
    AwsLcRsa(Box<aws_lc_rs::signature::RsaKeyPair>),
    #[cfg(feature = "aws-lc")]
    AwsLcEcdsa(Box<aws_lc_rs::signature::EcdsaKeyPair>),
    #[cfg(feature = "openssl")]
    OpenSsl(openssl::pkey::PKey<openssl::pkey::Private>),
}

/// PEM labels Python `cryptography` looks for when loading a private key.
const PRIVATE_KEY_LABELS: [&str; 5] = [
    "PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
];

impl SigningKey {
    /// Decodes a private key from PEM text (anything with a `-----BEGIN ` line) or DER.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::decode(bytes, None)
    }

    /// Decodes a PEM private key: `RSA PRIVATE KEY`, `PRIVATE KEY` or `EC PRIVATE KEY`.
    ///
    /// Accepts exactly the layouts Python `cryptography`'s `load_pem_private_key` accepts: text
    /// before and after the block, other blocks first (the `EC PARAMETERS` block `openssl
    /// ecparam -genkey` writes), any line width or the whole key on one line, CRLF, indentation,
    /// header lines, unpadded base64. A key copied from an environment variable with literal
    /// `\n` sequences is refused here as there; [`from_secret`](Self::from_secret) accepts it.
    pub fn from_pem(text: &str) -> Result<Self, Error> {
        Self::decode_pem(text.as_bytes(), None)
    }

    /// Decodes a DER private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        Self::decode_der(der, None)
    }

    /// Decodes a private key, PEM or DER, encrypted with `passphrase`: PKCS#8
    /// `ENCRYPTED PRIVATE KEY` (PBES2: PBKDF2 with HMAC-SHA-1 or SHA-2, or scrypt; AES-CBC or
    /// 3DES-CBC: what `openssl pkcs8 -topk8` and `cryptography`'s `BestAvailableEncryption`
    /// write; and the older `PBE-SHA1-3DES` and `PBE-MD5-DES` of `openssl pkcs8 -v1`, which
    /// OpenSSL 1.0 wrote by default — the RC2, RC4 and single-DES `-v1` schemes are refused
    /// with the command that converts the key) or OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED`, AES-CBC or 3DES).
    /// Like `cryptography`, refuses a passphrase for a key that is not encrypted.
    #[cfg(feature = "encrypted-keys")]
    pub fn from_encrypted(bytes: &[u8], passphrase: impl AsRef<[u8]>) -> Result<Self, Error> {
        Self::decode(bytes, Some(passphrase.as_ref()))
    }

    /// Reads the key from a [`SecretSource`] holding PEM text or DER. `key_pair_id` only labels
    /// errors. A PEM whose line breaks arrive as literal `\n` (as environment variables and
    /// JSON secrets often carry keys) is read with real line breaks.
    pub fn from_secret(source: &SecretSource, key_pair_id: &str) -> Result<Self, Error> {
        Self::from_secret_inner(source, key_pair_id, None)
    }

    /// Like [`from_secret`](Self::from_secret) for a key encrypted with the passphrase held in
    /// `passphrase` (see [`from_encrypted`](Self::from_encrypted)).
    #[cfg(feature = "encrypted-keys")]
    pub fn from_encrypted_secret(
        source: &SecretSource,
        passphrase: &SecretSource,
        key_pair_id: &str,
    ) -> Result<Self, Error> {
        let passphrase = passphrase.resolve().map_err(|source| Error::Secret {
            key_pair_id: key_pair_id.to_owned(),
            source,
        })?;
        Self::from_secret_inner(source, key_pair_id, Some(passphrase.expose_bytes()))
    }

    fn from_secret_inner(
        source: &SecretSource,
        key_pair_id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let secret = source.resolve().map_err(|source| Error::Secret {
            key_pair_id: key_pair_id.to_owned(),
            source,
        })?;
        let bytes = secret.expose_bytes();
        match unescape_newlines(bytes) {
            Some(unescaped) => Self::decode(&unescaped, passphrase),
            None => Self::decode(bytes, passphrase),
        }
    }

    fn decode(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self, Error> {
        if pem::looks_like_pem(bytes) {
            Self::decode_pem(bytes, passphrase)
        } else {
            Self::decode_der(bytes, passphrase)
        }
    }

    fn decode_pem(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self, Error> {
        let blocks = pem::parse_all(bytes).map_err(|reason| Error::KeyFormat {
            reason: format!("not a valid PEM file: {reason}"),
        })?;
        let Some(block) = blocks
            .iter()
            .find(|block| PRIVATE_KEY_LABELS.contains(&block.label.as_str()))
        else {
            return Err(no_private_key_block(&blocks, bytes));
        };
        let encrypted_header = block
            .headers
            .iter()
            .any(|(name, value)| name == "Proc-Type" && value.contains("ENCRYPTED"));
        if encrypted_header {
            let Some(passphrase) = passphrase else {
                return Err(encrypted_without_passphrase());
            };
            let der = decrypt_legacy_pem(block, passphrase)?;
            return match block.label.as_str() {
                "RSA PRIVATE KEY" => Self::from_rsa(
                    rsa::PrivateKey::from_pkcs1_der(&der).map_err(|_| wrong_passphrase())?,
                ),
                "EC PRIVATE KEY" => Self::from_sec1(&der),
                "PRIVATE KEY" => Self::from_pkcs8(&der),
                _ => Err(Error::UnsupportedKey {
                    found: "DSA".into(),
                }),
            };
        }
        let der = &block.der;
        if block.label == "ENCRYPTED PRIVATE KEY" {
            return Self::decrypt_pkcs8(der, passphrase);
        }
        refuse_passphrase(passphrase)?;
        match block.label.as_str() {
            "RSA PRIVATE KEY" => {
                Self::from_rsa(rsa::PrivateKey::from_pkcs1_der(der).map_err(|error| {
                    Error::KeyFormat {
                        reason: format!("malformed PKCS#1 RSA key ({error})"),
                    }
                })?)
            }
            "PRIVATE KEY" => Self::from_pkcs8(der),
            "EC PRIVATE KEY" => Self::from_sec1(der),
            _ => Err(Error::UnsupportedKey {
                found: "DSA".into(),
            }),
        }
    }

    fn decode_der(der: &[u8], passphrase: Option<&[u8]>) -> Result<Self, Error> {
        if PrivateKeyInfoRef::try_from(der).is_ok() {
            refuse_passphrase(passphrase)?;
            return Self::from_pkcs8(der);
        }
        if looks_like_encrypted_pkcs8(der) {
            return Self::decrypt_pkcs8(der, passphrase);
        }
        if let Ok(key) = rsa::PrivateKey::from_pkcs1_der(der) {
            refuse_passphrase(passphrase)?;
            return Self::from_rsa(key);
        }
        if p256::SecretKey::from_sec1_der(der).is_ok() {
            refuse_passphrase(passphrase)?;
            return Self::from_sec1(der);
        }
        Err(Error::KeyFormat {
            reason: "not a PEM private key, nor a PKCS#8, PKCS#1 or SEC1 DER private key".into(),
        })
    }

    #[cfg(feature = "encrypted-keys")]
    fn decrypt_pkcs8(der: &[u8], passphrase: Option<&[u8]>) -> Result<Self, Error> {
        let Some(passphrase) = passphrase else {
            return Err(encrypted_without_passphrase());
        };
        if let Some(plain) = crate::pbes1::decrypt(der, passphrase) {
            // A wrong passphrase can pass the padding check by chance and yield garbage.
            return Self::from_pkcs8(&plain?).map_err(|error| match error {
                Error::KeyFormat { .. } => wrong_passphrase(),
                other => other,
            });
        }
        let info =
            pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|error| Error::KeyFormat {
                reason: format!(
                    "cannot decrypt the PKCS#8 key: its encryption scheme is neither PBES2, \
                     PBE-SHA1-3DES nor PBE-MD5-DES, or it is malformed ({error}); re-encrypt it \
                     with PBES2: `{}`",
                    crate::pbes1::CONVERT
                ),
            })?;
        let plain = info.decrypt(passphrase).map_err(|error| Error::KeyFormat {
            reason: format!(
                "cannot decrypt the PKCS#8 key: wrong passphrase or an unsupported scheme \
                 ({error}); PBES2 with PBKDF2 or scrypt and AES-CBC or 3DES is supported"
            ),
        })?;
        Self::from_pkcs8(plain.as_bytes())
    }

    #[cfg(not(feature = "encrypted-keys"))]
    fn decrypt_pkcs8(_der: &[u8], _passphrase: Option<&[u8]>) -> Result<Self, Error> {
        Err(encrypted_without_passphrase())
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
                    Self::with_inner(KeyInner::Ecdsa(key.into()))
                }
                Some(curve) => Err(Error::UnsupportedKey {
                    found: format!("ECDSA on {}", curve_name(curve)),
                }),
                None => match info.algorithm.parameters {
                    // Explicit parameters (`-param_enc explicit`): P-256's are P-256.
                    Some(parameters)
                        if rsa::pkcs8::der::Tagged::tag(&parameters)
                            == rsa::pkcs8::der::Tag::Sequence =>
                    {
                        ec_explicit::check_p256(parameters.value())
                            .map_err(|why| ec_explicit::refused(&why))?;
                        match ec_explicit::sec1_p256(info.private_key.as_bytes()) {
                            Some(Ok(key)) => Self::with_inner(KeyInner::Ecdsa(key.into())),
                            Some(Err(error)) => Err(error),
                            None => Err(Error::KeyFormat {
                                reason: "malformed PKCS#8 EC key (the private key is not a \
                                         SEC1 ECPrivateKey)"
                                    .into(),
                            }),
                        }
                    }
                    _ => Err(Error::UnsupportedKey {
                        found: "ECDSA with unnamed curve parameters".into(),
                    }),
                },
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
            Ok(key) => Self::with_inner(KeyInner::Ecdsa(key.into())),
            Err(_) if contains(der, &OID_PRIME_FIELD_DER) => match ec_explicit::sec1_p256(der) {
                Some(Ok(key)) => Self::with_inner(KeyInner::Ecdsa(key.into())),
                Some(Err(error)) => Err(error),
                None => Err(ec_explicit::refused("malformed")),
            },
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
        Self::with_inner(KeyInner::Rsa(Box::new(RsaKeys {
            sha1: rsa::pkcs1v15::SigningKey::new(key.clone()),
            sha256: rsa::pkcs1v15::SigningKey::new(key),
        })))
    }

    /// The key with the default backend.
    fn with_inner(inner: KeyInner) -> Result<Self, Error> {
        let public = match &inner {
            KeyInner::Rsa(keys) => {
                let private: &rsa::PrivateKey = keys.sha1.as_ref();
                PublicKey {
                    inner: PublicInner::Rsa(private.to_public_key()),
                }
            }
            KeyInner::Ecdsa(key) => PublicKey {
                inner: PublicInner::Ecdsa(*key.verifying_key()),
            },
        };
        let fingerprint = public.fingerprint()?;
        let key = Self {
            inner,
            fast: FastKey::None,
            public,
            fingerprint,
        };
        key.with_backend(Backend::default())
    }

    /// The key as unencrypted PKCS#8 DER, to hand to another library.
    #[cfg(any(feature = "aws-lc", feature = "openssl"))]
    fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        use p256::pkcs8::EncodePrivateKey as _;
        let der = match &self.inner {
            KeyInner::Rsa(keys) => {
                let private: &rsa::PrivateKey = keys.sha1.as_ref();
                private.to_pkcs8_der()
            }
            KeyInner::Ecdsa(key) => key.to_pkcs8_der(),
        }
        .map_err(|error| Error::KeyFormat {
            reason: format!("cannot re-encode the key for the backend ({error})"),
        })?;
        Ok(Zeroizing::new(der.as_bytes().to_vec()))
    }

    /// Signs with `backend` from now on. The key stays the same key: RSA signatures are
    /// identical whichever backend computes them.
    pub fn with_backend(mut self, backend: Backend) -> Result<Self, Error> {
        self.fast = match backend {
            Backend::RustCrypto => FastKey::None,
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                let der = self.pkcs8_der()?;
                let refused = |error: aws_lc_rs::error::KeyRejected| Error::KeyFormat {
                    reason: format!("AWS-LC refused the key ({error})"),
                };
                match &self.inner {
                    KeyInner::Rsa(_) => FastKey::AwsLcRsa(Box::new(
                        aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).map_err(refused)?,
                    )),
                    KeyInner::Ecdsa(_) => FastKey::AwsLcEcdsa(Box::new(
                        aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                            &der,
                        )
                        .map_err(refused)?,
                    )),
                }
            }
            #[cfg(feature = "openssl")]
            Backend::OpenSsl => {
                let der = self.pkcs8_der()?;
                FastKey::OpenSsl(openssl::pkey::PKey::private_key_from_pkcs8(&der).map_err(
                    |error| Error::KeyFormat {
                        reason: format!("OpenSSL refused the key ({error})"),
                    },
                )?)
            }
        };
        Ok(self)
    }

    /// The backend computing signatures (RSA with SHA-1 always uses the `rsa` crate unless the
    /// backend is OpenSSL).
    pub fn backend(&self) -> Backend {
        match self.fast {
            FastKey::None => Backend::RustCrypto,
            #[cfg(feature = "aws-lc")]
            FastKey::AwsLcRsa(_) | FastKey::AwsLcEcdsa(_) => Backend::AwsLc,
            #[cfg(feature = "openssl")]
            FastKey::OpenSsl(_) => Backend::OpenSsl,
        }
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        match self.inner {
            KeyInner::Rsa(_) => KeyKind::Rsa2048,
            KeyInner::Ecdsa(_) => KeyKind::EcdsaP256,
        }
    }

    /// The SHA-256 of the public key's DER encoding: identifies the key material.
    pub fn fingerprint(&self) -> KeyFingerprint {
        self.fingerprint
    }

    /// Signs `message` with `hash`: PKCS#1 v1.5 for RSA, a DER-encoded ECDSA signature for
    /// P-256 (which refuses SHA-1).
    pub fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, Error> {
        if self.kind() == KeyKind::EcdsaP256 && hash == HashAlgorithm::Sha1 {
            return Err(Error::EcdsaWithSha1);
        }
        match (&self.fast, hash) {
            (FastKey::None, _) => {}
            #[cfg(feature = "aws-lc")]
            (FastKey::AwsLcRsa(_), HashAlgorithm::Sha1) => {}
            #[cfg(feature = "aws-lc")]
            (FastKey::AwsLcRsa(key), HashAlgorithm::Sha256) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| Error::Signing {
                    reason: "AWS-LC could not sign with the RSA key".into(),
                })?;
                return Ok(signature);
            }
            #[cfg(feature = "aws-lc")]
            (FastKey::AwsLcEcdsa(key), _) => {
                let signature = key
                    .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                    .map_err(|_| Error::Signing {
                        reason: "AWS-LC could not sign with the ECDSA key".into(),
                    })?;
                return Ok(signature.as_ref().to_vec());
            }
            #[cfg(feature = "openssl")]
            (FastKey::OpenSsl(pkey), _) => return openssl_sign(pkey, message, hash),
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
        self.public.clone()
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
