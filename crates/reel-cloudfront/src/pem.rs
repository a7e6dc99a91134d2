//! A PEM reader as lenient as Python `cryptography` (what botocore users load keys with), and
//! no more: key files that `cryptography` loads load here, and files it refuses are refused.
//!
//! Accepted, as `cryptography` accepts them: text before `-----BEGIN` and after `-----END`,
//! several blocks (the first private-key block is used, so `openssl ecparam -genkey`'s
//! `EC PARAMETERS` block is skipped), any line width, the whole block on one line, CRLF or CR
//! line endings, indentation, `Key: Value` header lines ended by a blank line, and base64 with
//! or without its `=` padding. Refused: a BEGIN label that differs from the END label, a blank
//! line inside the base64 that does not end a header section, non-canonical base64 (wrong
//! padding, non-zero trailing bits) and any block that does not decode.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64, `=` padding optional but canonical when present.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One decoded PEM block.
pub(crate) struct Block {
    /// The label between `-----BEGIN ` and `-----`.
    pub(crate) label: String,
    /// `Key: Value` header lines (`Proc-Type`, `DEK-Info`), in order.
    pub(crate) headers: Headers,
    /// The decoded contents.
    pub(crate) der: Vec<u8>,
}

impl Drop for Block {
    fn drop(&mut self) {
        // Private key material: do not leave it in freed memory.
        rsa::pkcs8::der::zeroize::Zeroize::zeroize(&mut self.der);
    }
}

/// Whether `bytes` hold PEM text (a `-----BEGIN ` marker anywhere) rather than DER.
pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    find(bytes, b"-----BEGIN ").is_some()
}

/// Every block in `input`, in order, or why the text is not valid PEM.
pub(crate) fn parse_all(input: &[u8]) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut rest = input;
    while let Some((after_begin, _)) = split_at_marker(rest, b"-----BEGIN ") {
        let Some((after_label, label)) = split_at_marker(after_begin, b"-----") else {
            break;
        };
        let data_start = skip_whitespace(after_label);
        let Some((after_end_marker, data)) = split_at_marker(data_start, b"-----END ") else {
            break;
        };
        let Some((after_end, end_label)) = split_at_marker(after_end_marker, b"-----") else {
            break;
        };
        rest = skip_whitespace(after_end);

        let label = std::str::from_utf8(label)
            .map_err(|_| "a BEGIN label is not UTF-8".to_owned())?
            .to_owned();
        let end_label =
            std::str::from_utf8(end_label).map_err(|_| "an END label is not UTF-8".to_owned())?;
        if label.is_empty() {
            return Err("a `-----BEGIN -----` line has no label".into());
        }
        if label != end_label {
            return Err(format!(
                "`-----BEGIN {label}-----` is closed by `-----END {end_label}-----`"
            ));
        }
        let data =
            std::str::from_utf8(data).map_err(|_| format!("the {label} block is not UTF-8"))?;
        let (headers, body) = split_headers(data, &label)?;
        let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = BASE64
            .decode(compact.as_bytes())
            .map_err(|error| format!("the {label} block is not valid base64 ({error})"))?;
        blocks.push(Block {
            label,
            headers,
            der,
        });
    }
    Ok(blocks)
}

/// `Key: Value` header lines.
type Headers = Vec<(String, String)>;

/// Splits `Key: Value` header lines, ended by the first blank line, from the base64 body.
fn split_headers<'a>(data: &'a str, label: &str) -> Result<(Headers, &'a str), String> {
    let blank = [data.find("\n\n"), data.find("\r\n\r\n"), data.find("\r\r")]
        .into_iter()
        .flatten()
        .min();
    let Some(blank) = blank else {
        return Ok((Vec::new(), data));
    };
    let mut headers = Vec::new();
    for line in data[..blank].lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            format!(
                "the {label} block has a blank line inside its base64 \
                 (or a header line without `:`); remove the blank line"
            )
        })?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok((headers, &data[blank..]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// `(after the marker, before the marker)`.
fn split_at_marker<'a>(input: &'a [u8], marker: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = find(input, marker)?;
    Some((&input[at + marker.len()..], &input[..at]))
}

fn skip_whitespace(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(input.len());
    &input[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<(String, Vec<u8>), String> {
        let blocks = parse_all(text.as_bytes())?;
        let block = blocks.first().ok_or("no block")?;
        Ok((block.label.clone(), block.der.clone()))
    }

    #[test]
    fn layouts() {
        let expected = ("X".to_owned(), b"hello world!".to_vec());
        for text in [
            "-----BEGIN X-----\naGVsbG8gd29ybGQh\n-----END X-----\n",
            "-----BEGIN X-----aGVsbG8gd29ybGQh-----END X-----",
            "junk\n-----BEGIN X-----\r\naGVs\r\nbG8gd29ybGQh\r\n-----END X-----\r\n",
            "-----BEGIN X-----\n\n  aGVsbG8g\n\td29ybGQh\n-----END X-----\ntrailing",
            "-----BEGIN X-----\nComment: a\n\naGVsbG8gd29ybGQh\n-----END X-----\n",
        ] {
            assert_eq!(one(text).unwrap(), expected, "{text:?}");
        }
        assert_eq!(
            one("-----BEGIN X-----\naGk\n-----END X-----").unwrap().1,
            b"hi"
        );
    }

    #[test]
    fn refusals() {
        for text in [
            "-----BEGIN X-----\naGVsbG8g\n\nd29ybGQh\n-----END X-----\n",
            "-----BEGIN X-----\naGVsbG8gd29ybGQh\n-----END Y-----\n",
            "-----BEGIN X-----\naGk====\n-----END X-----\n",
            "-----BEGIN X-----\naGl=\n-----END X-----\n",
            "-----BEGIN X-----\na!Gk\n-----END X-----\n",
            "-----BEGIN -----\naGk=\n-----END -----\n",
        ] {
            assert!(parse_all(text.as_bytes()).is_err(), "{text:?}");
        }
        assert!(parse_all(b"no pem here").unwrap().is_empty());
    }
}
