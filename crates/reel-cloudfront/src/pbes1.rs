//! PKCS#8 keys under the password-based encryption schemes older than PBES2: PKCS#12's
//! `pbeWithSHAAnd3-KeyTripleDES-CBC` (`openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES`, OpenSSL 1.0's
//! default for `-topk8`, and what Java and PKCS#12 tooling write) and PKCS#5 v1.5's
//! `pbeWithMD5AndDES-CBC` (`-v1 PBE-MD5-DES`), the two Python `cryptography` reads with
//! ciphers reel already ships. Schemes on RC2 or RC4, and those `cryptography` refuses, are
//! refused with their name and the command that converts the key.

use rsa::pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::der::{Decode as _, Reader as _, SliceReader};
use rsa::pkcs8::spki::AlgorithmIdentifierRef;

use crate::Error;

const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const PBE_MD5_DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.3");

/// The legacy schemes reel refuses: OID, OpenSSL's `-v1` name, and why.
const REFUSED: [(&str, &str, &str); 8] = [
    (
        "1.2.840.113549.1.12.1.1",
        "PBE-SHA1-RC4-128",
        "RC4 is broken",
    ),
    (
        "1.2.840.113549.1.12.1.2",
        "PBE-SHA1-RC4-40",
        "RC4 with a 40-bit key",
    ),
    ("1.2.840.113549.1.12.1.4", "PBE-SHA1-2DES", "two-key 3DES"),
    ("1.2.840.113549.1.12.1.5", "PBE-SHA1-RC2-128", "RC2"),
    (
        "1.2.840.113549.1.12.1.6",
        "PBE-SHA1-RC2-40",
        "RC2 with a 40-bit key",
    ),
    (
        "1.2.840.113549.1.5.6",
        "PBE-MD5-RC2-64",
        "RC2 with a 64-bit key",
    ),
    ("1.2.840.113549.1.5.10", "PBE-SHA1-DES", "single DES"),
    (
        "1.2.840.113549.1.5.11",
        "PBE-SHA1-RC2-64",
        "RC2 with a 64-bit key",
    ),
];

/// The command that re-encrypts a key with PBES2 (OpenSSL 3 reads the old schemes only with
/// its legacy provider).
pub(crate) const CONVERT: &str = "openssl pkcs8 -topk8 -v2 aes256 -provider legacy \
     -provider default -in key.pem -out key-aes256.pem";

/// Decrypts `der` if it is an `EncryptedPrivateKeyInfo` under a pre-PBES2 scheme: `None` when
/// it is not (PBES2 or not encrypted PKCS#8 at all), else the plaintext PKCS#8 DER or an
/// error naming the scheme.
pub(crate) fn decrypt(der: &[u8], passphrase: &[u8]) -> Option<Result<Zeroizing<Vec<u8>>, Error>> {
    let (oid, parameters, data) = parse(der)?;
    if oid == PBE_SHA1_3DES {
        return Some(pkcs12_3des(parameters, data, passphrase));
    }
    if oid == PBE_MD5_DES {
        return Some(pkcs5_md5_des(parameters, data, passphrase));
    }
    let text = oid.to_string();
    let (_, name, why) = REFUSED.iter().find(|(refused, _, _)| *refused == text)?;
    Some(Err(Error::KeyFormat {
        reason: format!(
            "the PKCS#8 key is encrypted with {name} ({text}), and {why}: reel does not ship \
             that cipher; re-encrypt the key with PBES2: `{CONVERT}`"
        ),
    }))
}

fn parse(der: &[u8]) -> Option<(ObjectIdentifier, Option<AnyRef<'_>>, &[u8])> {
    let mut reader = SliceReader::new(der).ok()?;
    let (oid, parameters, data) = reader
        .sequence(|inner| {
            let algorithm = AlgorithmIdentifierRef::decode(inner)?;
            let data = <&OctetStringRef>::decode(inner)?;
            Ok::<_, rsa::pkcs8::der::Error>((algorithm.oid, algorithm.parameters, data.as_bytes()))
        })
        .ok()?;
    Some((oid, parameters, data))
}

/// `PBEParameter ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER }`.
fn salt_and_iterations(parameters: Option<AnyRef<'_>>) -> Result<(&[u8], u32), Error> {
    let malformed = || Error::KeyFormat {
        reason: "malformed PBE parameters in the encrypted PKCS#8 key".into(),
    };
    let parameters = parameters.ok_or_else(malformed)?;
    let mut reader = SliceReader::new(parameters.value()).map_err(|_| malformed())?;
    let salt = <&OctetStringRef>::decode(&mut reader).map_err(|_| malformed())?;
    let iterations = u32::decode(&mut reader).map_err(|_| malformed())?;
    // OpenSSL writes 2048; a huge count from a hostile file must not hang the loader.
    if !(1..=10_000_000).contains(&iterations) || !reader.is_finished() {
        return Err(malformed());
    }
    Ok((salt.as_bytes(), iterations))
}

fn wrong_passphrase() -> Error {
    Error::KeyFormat {
        reason: "cannot decrypt the key: wrong passphrase".into(),
    }
}

/// PKCS#12 key derivation (RFC 7292, appendix B.2) with SHA-1: `n` bytes for purpose `id`
/// (1 key, 2 IV) from the password as a NUL-terminated BMPString.
fn pkcs12_kdf(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    id: u8,
    n: usize,
) -> Zeroizing<Vec<u8>> {
    use sha1::Digest as _;
    const V: usize = 64;
    const U: usize = 20;
    let fill = |x: &[u8]| -> Vec<u8> {
        if x.is_empty() {
            return Vec::new();
        }
        (0..V * x.len().div_ceil(V))
            .map(|i| x[i % x.len()])
            .collect()
    };
    let mut input = Zeroizing::new(fill(salt));
    input.extend_from_slice(&fill(password));
    let mut out = Zeroizing::new(Vec::with_capacity(n + U));
    loop {
        let mut hash = sha1::Sha1::new();
        hash.update([id; V]);
        hash.update(&*input);
        let mut a = hash.finalize();
        for _ in 1..iterations {
            a = sha1::Sha1::digest(a);
        }
        out.extend_from_slice(&a);
        if out.len() >= n {
            out.truncate(n);
            return out;
        }
        // I_j = (I_j + B + 1) mod 2^(8V), B = A repeated to V bytes.
        for chunk in input.chunks_mut(V) {
            let mut carry = 1u16;
            for k in (0..V).rev() {
                let sum = u16::from(chunk[k]) + u16::from(a[k % U]) + carry;
                chunk[k] = sum as u8;
                carry = sum >> 8;
            }
        }
    }
}

/// The passphrase as PKCS#12 wants it: UTF-16BE with a trailing NUL (bytes that are not
/// UTF-8 are taken as Latin-1, as OpenSSL's `OPENSSL_asc2uni` does).
fn bmp_string(passphrase: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 * passphrase.len() + 2));
    match std::str::from_utf8(passphrase) {
        Ok(text) => {
            for unit in text.encode_utf16() {
                out.extend_from_slice(&unit.to_be_bytes());
            }
        }
        Err(_) => {
            for &byte in passphrase {
                out.extend_from_slice(&[0, byte]);
            }
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

fn pkcs12_3des(
    parameters: Option<AnyRef<'_>>,
    data: &[u8],
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockModeDecrypt as _, KeyIvInit as _};
    let (salt, iterations) = salt_and_iterations(parameters)?;
    let password = bmp_string(passphrase);
    let key = pkcs12_kdf(&password, salt, iterations, 1, 24);
    let iv = pkcs12_kdf(&password, salt, iterations, 2, 8);
    cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
        .map_err(|_| wrong_passphrase())?
        .decrypt_padded_vec::<Pkcs7>(data)
        .map(Zeroizing::new)
        .map_err(|_| wrong_passphrase())
}

/// PKCS#5 v1.5 PBES1: PBKDF1 with MD5 (16 bytes: DES key then IV), DES-CBC.
fn pkcs5_md5_des(
    parameters: Option<AnyRef<'_>>,
    data: &[u8],
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockModeDecrypt as _, KeyIvInit as _};
    use md5::Digest as _;
    let (salt, iterations) = salt_and_iterations(parameters)?;
    let mut hash = md5::Md5::new();
    hash.update(passphrase);
    hash.update(salt);
    let mut derived = hash.finalize();
    for _ in 1..iterations {
        derived = md5::Md5::digest(derived);
    }
    let derived = Zeroizing::new(derived.to_vec());
    cbc::Decryptor::<des::Des>::new_from_slices(&derived[..8], &derived[8..16])
        .map_err(|_| wrong_passphrase())?
        .decrypt_padded_vec::<Pkcs7>(data)
        .map(Zeroizing::new)
        .map_err(|_| wrong_passphrase())
}
