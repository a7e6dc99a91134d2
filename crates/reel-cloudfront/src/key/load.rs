//! Helpers of key loading: escaped line breaks, passphrases and legacy PEM encryption, and
//! the errors that say what a file holds instead of a usable private key.

use super::*;

/// A PEM private key whose line breaks arrived as the two characters `\n` (or `\r\n`): the
/// same text with real line breaks. `None` when the text has real line breaks or no `\n`.
pub(super) fn unescape_newlines(bytes: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains('\n') || !text.contains("\\n") || !text.contains("-----BEGIN ") {
        return None;
    }
    Some(
        text.replace("\\r\\n", "\n")
            .replace("\\n", "\n")
            .into_bytes(),
    )
}

pub(super) fn refuse_passphrase(passphrase: Option<&[u8]>) -> Result<(), Error> {
    match passphrase {
        Some(_) => Err(Error::KeyFormat {
            reason: "a passphrase was given but the key is not encrypted; load it without one"
                .into(),
        }),
        None => Ok(()),
    }
}

pub(super) fn encrypted_without_passphrase() -> Error {
    let how = if cfg!(feature = "encrypted-keys") {
        "load it with its passphrase (`SigningKey::from_encrypted`)"
    } else {
        "enable feature `encrypted-keys` and load it with its passphrase, or decrypt it \
         (`openssl pkey -in key.pem -out plain.pem`)"
    };
    Error::KeyFormat {
        reason: format!("the key is encrypted; {how}"),
    }
}

pub(super) fn wrong_passphrase() -> Error {
    Error::KeyFormat {
        reason: "cannot decrypt the key: wrong passphrase".into(),
    }
}

/// Decrypts OpenSSL's legacy PEM encryption (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: CIPHER,IV`):
/// the key is `EVP_BytesToKey` with MD5, one iteration and the IV's first 8 bytes as salt.
#[cfg(feature = "encrypted-keys")]
pub(super) fn decrypt_legacy_pem(
    block: &pem::Block,
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockModeDecrypt as _, KeyIvInit as _};
    use md5::Digest as _;

    let unsupported = |what: String| Error::KeyFormat {
        reason: format!(
            "the {} uses legacy PEM encryption with {what}; convert it to encrypted PKCS#8 \
             (`openssl pkcs8 -topk8 -v2 aes256 -in key.pem -out key.p8.pem`)",
            block.label
        ),
    };
    let dek_info = block
        .headers
        .iter()
        .find(|(name, _)| name == "DEK-Info")
        .map(|(_, value)| value.as_str())
        .ok_or_else(|| unsupported("no DEK-Info header".into()))?;
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| unsupported(format!("a malformed DEK-Info {dek_info:?}")))?;
    let iv: Vec<u8> = (0..iv_hex.len())
        .step_by(2)
        .map(|i| {
            iv_hex
                .get(i..i + 2)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or_else(|| unsupported(format!("a malformed IV {iv_hex:?}")))?;
    let key_len = match cipher.trim() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        other => return Err(unsupported(format!("cipher {other:?}"))),
    };
    let salt = iv
        .get(..8)
        .ok_or_else(|| unsupported(format!("an IV of {} bytes", iv.len())))?;
    let mut key = Zeroizing::new(Vec::with_capacity(key_len + 16));
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < key_len {
        let mut md5 = md5::Md5::new();
        md5.update(&previous);
        md5.update(passphrase);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(key_len);
    let bad_length = |_| unsupported(format!("an IV of {} bytes", iv.len()));
    let plain = match cipher.trim() {
        "AES-128-CBC" => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .map_err(bad_length)?
            .decrypt_padded_vec::<Pkcs7>(&block.der),
        "AES-192-CBC" => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .map_err(bad_length)?
            .decrypt_padded_vec::<Pkcs7>(&block.der),
        "AES-256-CBC" => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .map_err(bad_length)?
            .decrypt_padded_vec::<Pkcs7>(&block.der),
        _ => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(bad_length)?
            .decrypt_padded_vec::<Pkcs7>(&block.der),
    };
    plain.map(Zeroizing::new).map_err(|_| wrong_passphrase())
}

#[cfg(not(feature = "encrypted-keys"))]
pub(super) fn decrypt_legacy_pem(
    _block: &pem::Block,
    _passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    Err(encrypted_without_passphrase())
}

/// Whether `der` is shaped like a PKCS#8 `EncryptedPrivateKeyInfo`: a SEQUENCE of an
/// AlgorithmIdentifier and an OCTET STRING, nothing after it.
pub(super) fn looks_like_encrypted_pkcs8(der: &[u8]) -> bool {
    use rsa::pkcs8::der::asn1::OctetStringRef;
    use rsa::pkcs8::der::{Decode as _, Reader as _, SliceReader};
    use rsa::pkcs8::spki::AlgorithmIdentifierRef;
    let Ok(mut reader) = SliceReader::new(der) else {
        return false;
    };
    let shaped = reader
        .sequence(|inner| {
            AlgorithmIdentifierRef::decode(inner)?;
            <&OctetStringRef>::decode(inner)?;
            Ok::<_, rsa::pkcs8::der::Error>(())
        })
        .is_ok();
    shaped && reader.is_finished()
}

/// Why a PEM file holds no usable private key.
pub(super) fn no_private_key_block(blocks: &[pem::Block], bytes: &[u8]) -> Error {
    let labels: Vec<&str> = blocks.iter().map(|block| block.label.as_str()).collect();
    let reason = if labels.contains(&"OPENSSH PRIVATE KEY") {
        "OpenSSH key format; convert it with `ssh-keygen -p -m PEM -f key`".to_owned()
    } else if let Some(label) = labels
        .iter()
        .find(|label| matches!(**label, "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE"))
    {
        format!("this is a {label}, not a private key")
    } else if labels.is_empty() {
        let unterminated = String::from_utf8_lossy(bytes).contains("\\n");
        if unterminated {
            "no complete PEM block; the text has literal `\\n` sequences instead of line \
             breaks: replace them with newlines (`SigningKey::from_secret` does so)"
                .to_owned()
        } else {
            "no complete `-----BEGIN ...-----` / `-----END ...-----` block".to_owned()
        }
    } else {
        format!("no private key block, found {labels:?}")
    };
    Error::KeyFormat { reason }
}

#[cfg(feature = "openssl")]
pub(super) fn openssl_sign(
    pkey: &openssl::pkey::PKey<openssl::pkey::Private>,
    message: &[u8],
    hash: HashAlgorithm,
) -> Result<Vec<u8>, Error> {
    use openssl::hash::MessageDigest;
    let digest = match hash {
        HashAlgorithm::Sha1 => MessageDigest::sha1(),
        HashAlgorithm::Sha256 => MessageDigest::sha256(),
    };
    let failed = |error: openssl::error::ErrorStack| Error::Signing {
        reason: error.to_string(),
    };
    // RSA keys get PKCS#1 v1.5 padding and ECDSA keys DER signatures, OpenSSL's defaults.
    let mut signer = openssl::sign::Signer::new(digest, pkey).map_err(failed)?;
    signer.update(message).map_err(failed)?;
    signer.sign_to_vec().map_err(failed)
}

pub(super) fn curve_name(oid: ObjectIdentifier) -> String {
    match oid {
        OID_P384 => "P-384".into(),
        OID_P521 => "P-521".into(),
        other => format!("curve {other}"),
    }
}
