//! EC keys whose curve is spelled out (`openssl ec -param_enc explicit`, RFC 3279
//! `ECParameters`) instead of named by OID: accepted when the parameters are exactly those of
//! P-256 (prime, a, b, base point in any point form, order, cofactor 1), refused with the
//! conversion command otherwise.

/// The command that rewrites a key with a named curve.
const CONVERT: &str = "openssl ec -param_enc named_curve -in key.pem -out named.pem";

/// `prime-field` (1.2.840.10045.1.1), the OID's content bytes.
const PRIME_FIELD: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01];
/// `prime256v1` / P-256 (1.2.840.10045.3.1.7), the OID's content bytes.
const P256_OID: [u8; 8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

const P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const A: &str = "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc";
const B: &str = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b";
const GX: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const GY: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0))
        .collect()
}

/// One DER TLV: the tag, the value and what follows. Definite lengths up to 4 bytes only.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn unsigned(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[zeros..]
}

fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    match tlv(input) {
        Some((found, value, rest)) if found == tag => Ok((value, rest)),
        _ => Err(format!("malformed explicit EC parameters ({what})")),
    }
}

/// Checks an `ECParameters` SEQUENCE's contents against P-256. `Err` says which part differs.
pub(crate) fn check_p256(parameters: &[u8]) -> Result<(), String> {
    let (version, rest) = expect(parameters, 0x02, "version")?;
    if version != [1] {
        return Err("explicit EC parameters of an unknown version".into());
    }
    let (field, rest) = expect(rest, 0x30, "field")?;
    let (field_type, field_rest) = expect(field, 0x06, "field type")?;
    if field_type != PRIME_FIELD {
        return Err("a binary-field curve (not P-256)".into());
    }
    let (prime, _) = expect(field_rest, 0x02, "prime")?;
    let (curve, rest) = expect(rest, 0x30, "curve")?;
    let (a, curve_rest) = expect(curve, 0x04, "a")?;
    let (b, _seed) = expect(curve_rest, 0x04, "b")?;
    let (base, rest) = expect(rest, 0x04, "base point")?;
    let (order, rest) = expect(rest, 0x02, "order")?;
    let cofactor_is_one = match tlv(rest) {
        None => rest.is_empty(),
        Some((0x02, cofactor, after)) => unsigned(cofactor) == [1] && after.is_empty(),
        Some(_) => false,
    };
    let (gx, gy) = (unhex(GX), unhex(GY));
    let y_odd = gy.last().is_some_and(|b| b & 1 == 1);
    let base_is_g = match base.split_first() {
        // Uncompressed, or hybrid with the right parity bit.
        Some((&(0x04 | 0x06 | 0x07), xy)) if xy.len() == 64 => {
            xy[..32] == gx[..]
                && xy[32..] == gy[..]
                && (base[0] == 0x04 || (base[0] == 0x07) == y_odd)
        }
        Some((&(0x02 | 0x03), x)) => x == gx && (base[0] == 0x03) == y_odd,
        _ => false,
    };
    let same = unsigned(prime) == unhex(P)
        && unsigned(a) == unhex(A)
        && unsigned(b) == unhex(B)
        && base_is_g
        && unsigned(order) == unhex(N)
        && cofactor_is_one;
    if same {
        Ok(())
    } else {
        Err("explicit curve parameters that are not those of P-256".into())
    }
}

/// The error for an EC key whose explicit parameters are not P-256's.
pub(crate) fn refused(why: &str) -> crate::Error {
    crate::Error::KeyFormat {
        reason: format!(
            "the EC key spells out its curve parameters (explicit parameters) and they are \
             {why}; only P-256 is accepted. If the key is on a named curve, rewrite it with \
             `{CONVERT}`"
        ),
    }
}

/// Decodes a SEC1 `ECPrivateKey` whose `[0]` parameters, if present, are P-256 (by name or
/// spelled out); checks its `[1]` public key, if present, against the private scalar.
/// `None` when the DER is not shaped like an `ECPrivateKey`.
pub(crate) fn sec1_p256(der: &[u8]) -> Option<Result<p256::SecretKey, crate::Error>> {
    let (0x30, body, _) = tlv(der)? else {
        return None;
    };
    let (0x02, version, rest) = tlv(body)? else {
        return None;
    };
    let (0x04, scalar, mut rest) = tlv(rest)? else {
        return None;
    };
    if version != [1] {
        return None;
    }
    let mut public = None;
    while !rest.is_empty() {
        let (tag, value, after) = tlv(rest)?;
        match tag {
            0xa0 => match tlv(value)? {
                (0x06, oid, _) if oid == P256_OID => {}
                (0x06, _, _) => return Some(Err(refused("a named curve other than P-256"))),
                (0x30, parameters, _) => {
                    if let Err(why) = check_p256(parameters) {
                        return Some(Err(refused(&why)));
                    }
                }
                _ => return None,
            },
            0xa1 => public = Some(value),
            _ => return None,
        }
        rest = after;
    }
    let key = match p256::SecretKey::from_slice(scalar) {
        Ok(key) => key,
        Err(_) => {
            return Some(Err(crate::Error::KeyFormat {
                reason: "malformed EC private key (the scalar is not a valid P-256 key)".into(),
            }));
        }
    };
    if let Some(bits) = public {
        let (0x03, point, _) = tlv(bits)? else {
            return None;
        };
        let ours = key.public_key();
        let matches = point.split_first().is_some_and(|(&unused, encoded)| {
            unused == 0
                && p256::PublicKey::from_sec1_bytes(encoded).is_ok_and(|theirs| theirs == ours)
        });
        if !matches {
            return Some(Err(crate::Error::KeyFormat {
                reason: "the EC key's public key does not belong to its private key".into(),
            }));
        }
    }
    Some(Ok(key))
}
