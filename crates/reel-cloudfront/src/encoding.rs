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

/// Percent-encodes a URL's path and query the way `@aws-sdk/cloudfront-signer`'s `getSignedUrl`
/// does before signing (its `encodeUrlPath`), so that the signed URL is the URL clients request
/// and CloudFront compares with the policy.
///
/// The scheme and host are kept. Each path segment is percent-decoded and encoded again with
/// JavaScript's `encodeURIComponent` (so `%20` and a raw space both become `%20`, and `é`
/// becomes `%C3%A9`; a segment that does not decode is encoded as it is). Each query name and
/// value is encoded likewise, keeping `+` and existing `%XX` escapes (upper-cased) and encoding
/// `'`; every pair gets an `=`. A URL without a path is returned unchanged.
///
/// ```
/// use reel_cloudfront::encode_url;
///
/// assert_eq!(
///     encode_url("https://d111111abcdef8.cloudfront.net/caf\u{e9} menu/a b.jpg?q=cr\u{e8}me br\u{fb}l\u{e9}e"),
///     "https://d111111abcdef8.cloudfront.net/caf%C3%A9%20menu/a%20b.jpg?q=cr%C3%A8me%20br%C3%BBl%C3%A9e"
/// );
/// ```
pub fn encode_url(url: &str) -> String {
    let Some(protocol_end) = url.find("//") else {
        return url.to_owned();
    };
    let authority_start = protocol_end + 2;
    let Some(path_start) = url[authority_start..]
        .find('/')
        .map(|at| at + authority_start)
    else {
        return url.to_owned();
    };
    let (origin, rest) = url.split_at(path_start);
    let (raw_path, raw_query) = match rest.find('?') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let mut encoded = String::with_capacity(url.len() * 2);
    encoded.push_str(origin);
    let mut segment = String::new();
    for c in raw_path.chars() {
        if c == '/' {
            push_segment(&mut encoded, &segment);
            segment.clear();
            encoded.push('/');
        } else {
            segment.push(c);
        }
    }
    push_segment(&mut encoded, &segment);
    if let Some(query) = raw_query.strip_prefix('?') {
        let mut first = true;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            encoded.push(if first { '?' } else { '&' });
            first = false;
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            push_query_component(&mut encoded, name);
            encoded.push('=');
            push_query_component(&mut encoded, value);
        }
    }
    encoded
}

/// `encodeURIComponent(decodeURIComponent(segment))`, or `encodeURIComponent(segment)` when the
/// segment does not decode.
fn push_segment(out: &mut String, segment: &str) {
    if segment.is_empty() {
        return;
    }
    match percent_decode(segment) {
        Some(decoded) => push_uri_component(out, decoded.as_bytes(), false),
        None => push_uri_component(out, segment.as_bytes(), false),
    }
}

/// JavaScript's `decodeURIComponent`: `None` for a `%` not followed by two hex digits or bytes
/// that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// JavaScript's `encodeURIComponent` (and, with `quote`, `'` as `%27`).
fn push_uri_component(out: &mut String, bytes: &[u8], quote: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'(' | b')')
            || (byte == b'\'' && !quote);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
}

/// The JS SDK's `encodeQueryComponent`: `+` and `%XX` kept (upper-cased), the rest through
/// `encodeURIComponent` with `'` encoded.
fn push_query_component(out: &mut String, component: &str) {
    let bytes = component.as_bytes();
    let mut plain_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes[i] == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if bytes[i] == b'+' || escape {
            push_uri_component(out, &bytes[plain_start..i], true);
            let len = if escape { 3 } else { 1 };
            out.push_str(&component[i..i + len].to_ascii_uppercase());
            i += len;
            plain_start = i;
        } else {
            i += 1;
        }
    }
    push_uri_component(out, &bytes[plain_start..], true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_js_sdk() {
        for (url, expected) in [
            ("https://e.com", "https://e.com"),
            ("https://e.com/", "https://e.com/"),
            ("https://e.com/a%20b/c d", "https://e.com/a%20b/c%20d"),
            ("https://e.com/100%/x", "https://e.com/100%25/x"),
            ("https://e.com/a;b=c,d", "https://e.com/a%3Bb%3Dc%2Cd"),
            ("https://e.com/?a=1&&b", "https://e.com/?a=1&b="),
            (
                "https://e.com/x?q=a+b%2fc'd",
                "https://e.com/x?q=a+b%2Fc%27d",
            ),
            ("https://e.com/x?", "https://e.com/x"),
        ] {
            assert_eq!(encode_url(url), expected, "{url}");
        }
    }

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
