//! The public half of a signing key: PEM for uploading to CloudFront, and signature checks.

use super::*;

/// A CloudFront public key (RSA 2048 or ECDSA P-256): PEM for uploading, and signature checks.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub(super) inner: PublicInner,
}

#[derive(Clone, PartialEq, Eq)]
pub(super) enum PublicInner {
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

    /// Decodes a DER SubjectPublicKeyInfo, as AWS KMS `GetPublicKey` returns it.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(key) = rsa::PublicKey::from_public_key_der(der) {
            let bits = key.n().bit_width_vartime() as usize;
            if bits != RSA_BITS {
                return Err(Error::RsaKeySize { bits });
            }
            return Ok(Self {
                inner: PublicInner::Rsa(key),
            });
        }
        match p256::PublicKey::from_public_key_der(der) {
            Ok(key) => Ok(Self {
                inner: PublicInner::Ecdsa(key.into()),
            }),
            Err(_) => Err(Error::KeyFormat {
                reason: "not an RSA 2048 or P-256 DER SubjectPublicKeyInfo".into(),
            }),
        }
    }

    /// The SHA-256 of the key's DER encoding (SubjectPublicKeyInfo).
    pub fn fingerprint(&self) -> Result<KeyFingerprint, Error> {
        use sha2::Digest as _;
        let der = match &self.inner {
            PublicInner::Rsa(key) => key.to_public_key_der(),
            PublicInner::Ecdsa(key) => key.to_public_key_der(),
        }
        .map_err(|error| Error::KeyFormat {
            reason: format!("cannot encode public key ({error})"),
        })?;
        Ok(KeyFingerprint(Sha256::digest(der.as_bytes()).into()))
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
