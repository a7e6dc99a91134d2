//! CloudFront's URL-safe base64: standard base64 with `+`→`-`, `=`→`_` and `/`→`~`.

use base64::Engine as _;
use base64::alphabet::Alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

/// Standard base64 with CloudFront's replacements for `+` and `/` built into the alphabet.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &match Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~") {
        Ok(alphabet) => alphabet,
        Err(_) => panic!("the CloudFront alphabet is 64 distinct printable characters"),
    },
    GeneralPurposeConfig::new(),
);

/// Encodes `bytes` the way CloudFront expects `Policy` and `Signature` values.
///
/// ```
/// assert_eq!(reel_cloudfront::cloudfront_base64(&[0xfb, 0xff]), "-~8_");
/// ```
pub fn cloudfront_base64(bytes: &[u8]) -> String {
    let mut encoded = ENGINE.encode(bytes);
    // Padding is at most two trailing `=`; CloudFront wants `_`.
    while encoded.ends_with('=') {
        encoded.pop();
    }
    let padding = (3 - bytes.len() % 3) % 3;
    encoded.extend(std::iter::repeat_n('_', padding));
    encoded
}

/// Decodes CloudFront's base64 (for verifying signed URLs and tests).
pub fn cloudfront_base64_decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text.replace('_', "=");
    ENGINE.decode(standard).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_standard_base64_with_replacements() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(97).wrapping_add(251))
                .collect();
            let expected = base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .replace('+', "-")
                .replace('=', "_")
                .replace('/', "~");
            assert_eq!(cloudfront_base64(&bytes), expected);
            assert_eq!(cloudfront_base64_decode(&expected).unwrap(), bytes);
        }
    }
}
