//! Canned and custom policies: validation and their exact JSON bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::Error;

/// Query parameters CloudFront reads from a signed URL; a URL that already has one cannot be
/// signed unambiguously.
const RESERVED_PARAMETERS: [&str; 5] = [
    "Expires",
    "Policy",
    "Signature",
    "Key-Pair-Id",
    "Hash-Algorithm",
];

/// A CloudFront policy statement: what may be fetched, until when, from when and from where.
///
/// A *canned* policy names one URL and an expiry; CloudFront rebuilds it from the request, so
/// only the expiry travels in the signed URL (`Expires=`). A *custom* policy may use `*` and
/// `?` wildcards in its resource, a start time and an IPv4 source range; it travels
/// base64-encoded (`Policy=`).
///
/// The JSON is built once, byte for byte as botocore's `CloudFrontSigner.build_policy` writes
/// it: no whitespace, conditions in the order `DateLessThan`, `IpAddress`, `DateGreaterThan`.
/// URLs and resources are ASCII (percent-encode the rest, see [`encode_url`](crate::encode_url)).
/// A policy stored as JSON (botocore's `policy=`, the JS SDK's `policy:`) is signed byte for
/// byte as given with [`Policy::from_json`].
///
/// ```
/// use reel_cloudfront::Policy;
///
/// let canned = Policy::canned("https://d111111abcdef8.cloudfront.net/a.jpg", 1_900_000_000)?;
/// assert_eq!(
///     canned.json(),
///     r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/a.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000}}}]}"#
/// );
///
/// let custom = Policy::custom("https://d111111abcdef8.cloudfront.net/videos/*", 1_900_000_000)
///     .starts(1_800_000_000)
///     .source_ip("203.0.113.7")
///     .build()?;
/// assert_eq!(
///     custom.json(),
///     r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/videos/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000},"IpAddress":{"AWS:SourceIp":"203.0.113.7/32"},"DateGreaterThan":{"AWS:EpochTime":1800000000}}}]}"#
/// );
/// # Ok::<(), reel_cloudfront::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    resource: String,
    expires: u64,
    starts: Option<u64>,
    source_ip: Option<SourceIp>,
    canned: bool,
    json: String,
}

impl Policy {
    /// A canned policy for exactly `url`, valid until `expires` (Unix seconds).
    ///
    /// The URL must be an absolute `http://` or `https://` URL as clients will request it
    /// (percent-encoded), including its own query string, without a fragment.
    pub fn canned(url: &str, expires: u64) -> Result<Self, Error> {
        validate_url(url)?;
        let json = write_json(url, expires, None, None);
        Ok(Self {
            resource: url.to_owned(),
            expires,
            starts: None,
            source_ip: None,
            canned: true,
            json,
        })
    }

    /// Starts a custom policy for `resource`, valid until `expires` (Unix seconds).
    ///
    /// The resource is a URL pattern: it starts with `http://`, `https://`, `http*://` or `*`,
    /// and `*` matches any run of characters, `?` any single character.
    pub fn custom(resource: impl Into<String>, expires: u64) -> CustomPolicyBuilder {
        CustomPolicyBuilder {
            resource: resource.into(),
            expires,
            starts: None,
            source_ip: None,
        }
    }

    /// A custom policy from its JSON text, signed exactly as given (botocore's
    /// `generate_presigned_url(url, policy=...)`, the JS SDK's `policy:`, Go's `SignWithPolicy`).
    ///
    /// The text must be a policy CloudFront accepts: one statement with a `Resource` (URL
    /// pattern, ASCII, as for [`Policy::custom`]; absent means every URL) and a `Condition`
    /// with `DateLessThan` and optionally `DateGreaterThan` and `IpAddress` (IPv4 CIDR), each
    /// with its `AWS:EpochTime` / `AWS:SourceIp` value. Anything else is refused, since
    /// CloudFront would refuse the signed URL.
    ///
    /// ```
    /// use reel_cloudfront::Policy;
    ///
    /// let json = r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/videos/*","Condition":{"DateLessThan":{"AWS:EpochTime":1900000000},"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"}}}]}"#;
    /// let policy = Policy::from_json(json)?;
    /// assert_eq!(policy.json(), json);
    /// assert_eq!(policy.expires(), 1_900_000_000);
    /// assert!(policy.covers("https://d111111abcdef8.cloudfront.net/videos/intro.mp4"));
    /// # Ok::<(), reel_cloudfront::Error>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidPolicy { reason };
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|error| invalid(format!("not JSON ({error})")))?;
        let object = value
            .as_object()
            .ok_or_else(|| invalid("the policy is not a JSON object".into()))?;
        if let Some(other) = object.keys().find(|key| *key != "Statement") {
            return Err(invalid(format!(
                "unexpected top-level key {other:?}; a policy has only `Statement`"
            )));
        }
        let statements = object
            .get("Statement")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| invalid("`Statement` is missing or not an array".into()))?;
        let [statement] = statements.as_slice() else {
            return Err(invalid(format!(
                "`Statement` has {} entries; CloudFront accepts exactly one",
                statements.len()
            )));
        };
        let statement = statement
            .as_object()
            .ok_or_else(|| invalid("the statement is not an object".into()))?;
        if let Some(other) = statement
            .keys()
            .find(|key| *key != "Resource" && *key != "Condition")
        {
            return Err(invalid(format!(
                "unexpected statement key {other:?}; a statement has `Resource` and `Condition`"
            )));
        }
        let resource = match statement.get("Resource") {
            None => "*".to_owned(),
            Some(serde_json::Value::String(resource)) => resource.clone(),
            Some(_) => return Err(invalid("`Resource` is not a string".into())),
        };
        validate_resource(&resource)?;
        let conditions = statement
            .get("Condition")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| invalid("`Condition` is missing or not an object".into()))?;
        let condition = |name: &str, key: &str| -> Result<Option<&serde_json::Value>, Error> {
            let Some(block) = conditions.get(name) else {
                return Ok(None);
            };
            let block = block
                .as_object()
                .ok_or_else(|| invalid(format!("`{name}` is not an object")))?;
            if block.len() != 1 {
                return Err(invalid(format!("`{name}` must hold exactly `{key}`")));
            }
            block
                .get(key)
                .map(Some)
                .ok_or_else(|| invalid(format!("`{name}` must hold `{key}`")))
        };
        let epoch = |name: &str| -> Result<Option<u64>, Error> {
            condition(name, "AWS:EpochTime")?
                .map(|value| {
                    value.as_u64().ok_or_else(|| {
                        invalid(format!(
                            "`{name}.AWS:EpochTime` is not a whole number of Unix seconds"
                        ))
                    })
                })
                .transpose()
        };
        if let Some(other) = conditions.keys().find(|key| {
            !matches!(
                key.as_str(),
                "DateLessThan" | "DateGreaterThan" | "IpAddress"
            )
        }) {
            return Err(invalid(format!(
                "unknown condition {other:?}; CloudFront accepts DateLessThan, DateGreaterThan \
                 and IpAddress"
            )));
        }
        let expires = epoch("DateLessThan")?
            .ok_or_else(|| invalid("the required `DateLessThan` condition is missing".into()))?;
        let starts = epoch("DateGreaterThan")?;
        let source_ip = condition("IpAddress", "AWS:SourceIp")?
            .map(|value| {
                value
                    .as_str()
                    .ok_or_else(|| invalid("`IpAddress.AWS:SourceIp` is not a string".into()))?
                    .parse::<SourceIp>()
            })
            .transpose()?;
        if let Some(starts) = starts
            && starts >= expires
        {
            return Err(Error::StartNotBeforeExpiry { starts, expires });
        }
        Ok(Self {
            resource,
            expires,
            starts,
            source_ip,
            canned: false,
            json: json.to_owned(),
        })
    }

    /// The policy's JSON, exactly the bytes that are signed.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The URL (canned) or URL pattern (custom) the policy covers.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `DateLessThan`: the policy is valid before this Unix time.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// `DateGreaterThan`: the policy is valid after this Unix time, if set.
    pub fn starts(&self) -> Option<u64> {
        self.starts
    }

    /// The IPv4 range requests must come from, if set.
    pub fn source_ip(&self) -> Option<SourceIp> {
        self.source_ip
    }

    /// Whether this is a canned policy (signed URLs carry `Expires=`), rather than a custom one
    /// (`Policy=`).
    pub fn is_canned(&self) -> bool {
        self.canned
    }

    /// Whether the policy's resource covers `url`: equality for a canned policy, wildcard
    /// matching for a custom one.
    pub fn covers(&self, url: &str) -> bool {
        if self.canned {
            self.resource == url
        } else {
            wildcard_match(&self.resource, url)
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("canned", &self.canned)
            .field("json", &self.json)
            .finish()
    }
}

/// Builds a custom [`Policy`]; see [`Policy::custom`]. Errors are reported by
/// [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the policy"]
pub struct CustomPolicyBuilder {
    resource: String,
    expires: u64,
    starts: Option<u64>,
    source_ip: Option<SourceIpInput>,
}

#[derive(Debug, Clone)]
enum SourceIpInput {
    Text(String),
    Parsed(SourceIp),
}

impl CustomPolicyBuilder {
    /// `DateGreaterThan`: the policy becomes valid after this Unix time.
    pub fn starts(mut self, starts: u64) -> Self {
        self.starts = Some(starts);
        self
    }

    /// `IpAddress`: requests must come from this IPv4 address or CIDR range. A bare address
    /// gets `/32`.
    pub fn source_ip(mut self, cidr: &str) -> Self {
        self.source_ip = Some(SourceIpInput::Text(cidr.to_owned()));
        self
    }

    /// `IpAddress` from an already parsed range.
    pub fn source_ip_range(mut self, range: SourceIp) -> Self {
        self.source_ip = Some(SourceIpInput::Parsed(range));
        self
    }

    /// Validates the resource and conditions and writes the policy's JSON.
    pub fn build(self) -> Result<Policy, Error> {
        validate_resource(&self.resource)?;
        let source_ip = match self.source_ip {
            None => None,
            Some(SourceIpInput::Parsed(range)) => Some(range),
            Some(SourceIpInput::Text(text)) => Some(text.parse()?),
        };
        if let Some(starts) = self.starts
            && starts >= self.expires
        {
            return Err(Error::StartNotBeforeExpiry {
                starts,
                expires: self.expires,
            });
        }
        let json = write_json(&self.resource, self.expires, source_ip, self.starts);
        Ok(Policy {
            resource: self.resource,
            expires: self.expires,
            starts: self.starts,
            source_ip,
            canned: false,
            json,
        })
    }
}

/// An IPv4 address range in CIDR notation, the value of a policy's `AWS:SourceIp`.
///
/// Parsing accepts `a.b.c.d` (read as `/32`) and `a.b.c.d/n`; IPv6 is refused because CloudFront
/// policies accept IPv4 only. The address is kept as written (host bits are not cleared).
///
/// ```
/// use reel_cloudfront::SourceIp;
///
/// let range: SourceIp = "192.0.2.10".parse()?;
/// assert_eq!(range.to_string(), "192.0.2.10/32");
/// assert!("2001:db8::/32".parse::<SourceIp>().is_err());
/// # Ok::<(), reel_cloudfront::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceIp {
    address: Ipv4Addr,
    prefix: u8,
}

impl SourceIp {
    /// A range from an address and a prefix length (0 to 32).
    pub fn new(address: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        if prefix > 32 {
            return Err(Error::InvalidSourceIp {
                value: format!("{address}/{prefix}"),
                reason: "the prefix length must be between 0 and 32",
            });
        }
        Ok(Self { address, prefix })
    }

    /// The address as written.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for SourceIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for SourceIp {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| Error::InvalidSourceIp {
            value: value.to_owned(),
            reason,
        };
        let (address, prefix) = match value.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (value, None),
        };
        let address = match address.parse::<IpAddr>() {
            Ok(IpAddr::V4(address)) => address,
            Ok(IpAddr::V6(address)) => {
                return Err(Error::Ipv6SourceIp {
                    value: IpAddr::V6(address),
                });
            }
            Err(_) => return Err(invalid("not an IPv4 address")),
        };
        let prefix = match prefix {
            None => 32,
            Some(text) => {
                let canonical = !text.is_empty()
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && (text == "0" || !text.starts_with('0'));
                match text.parse::<u8>() {
                    Ok(prefix) if canonical && prefix <= 32 => prefix,
                    _ => return Err(invalid("the prefix length must be a number from 0 to 32")),
                }
            }
        };
        Ok(Self { address, prefix })
    }
}

/// Checks a URL to sign (or a canned policy's resource).
pub(crate) fn validate_url(url: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    check_characters(url, "the URL")?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("it must start with http:// or https://"))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if authority_end == 0 {
        return Err(invalid("it has no host name"));
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if let Some(reserved) = RESERVED_PARAMETERS.iter().find(|r| **r == name) {
                return Err(Error::ReservedQueryParameter { name: reserved });
            }
        }
    }
    Ok(())
}

/// Checks a custom policy's resource pattern.
fn validate_resource(resource: &str) -> Result<(), Error> {
    check_characters(resource, "the resource")?;
    let accepted = ["http://", "https://", "http*://", "*"]
        .iter()
        .any(|prefix| resource.starts_with(prefix));
    if !accepted {
        return Err(Error::InvalidResource {
            resource: resource.to_owned(),
            reason: "it must start with http://, https://, http*:// or *",
        });
    }
    Ok(())
}

/// Refuses characters that would break out of the JSON string (`"`, `\`), that a request URL
/// never carries raw (control characters, whitespace, non-ASCII: clients percent-encode them,
/// and CloudFront compares the policy with the encoded request) or that never reach CloudFront
/// (`#`).
fn check_characters(text: &str, what: &'static str) -> Result<(), Error> {
    match text.char_indices().find(|(_, c)| {
        matches!(c, '"' | '\\' | '#') || !c.is_ascii() || c.is_control() || c.is_whitespace()
    }) {
        Some((position, character)) => Err(Error::ForbiddenCharacter {
            what,
            character,
            position,
        }),
        None => Ok(()),
    }
}

/// Writes the policy JSON the way botocore does. `resource` has been checked (ASCII, no `"` or
/// `\`); non-ASCII would be escaped as `\uXXXX`, as botocore's `json.dumps` does.
fn write_json(
    resource: &str,
    expires: u64,
    source_ip: Option<SourceIp>,
    starts: Option<u64>,
) -> String {
    use fmt::Write as _;

    let mut json = String::with_capacity(resource.len() + 160);
    json.push_str(r#"{"Statement":[{"Resource":""#);
    for c in resource.chars() {
        if c.is_ascii() {
            json.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                // Writing to a String cannot fail.
                let _ = write!(json, "\\u{unit:04x}");
            }
        }
    }
    let _ = write!(
        json,
        r#"","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}"#
    );
    if let Some(range) = source_ip {
        let _ = write!(json, r#","IpAddress":{{"AWS:SourceIp":"{range}"}}"#);
    }
    if let Some(starts) = starts {
        let _ = write!(json, r#","DateGreaterThan":{{"AWS:EpochTime":{starts}}}"#);
    }
    json.push_str("}}]}");
    json
}

/// CloudFront's resource matching: `*` matches any run of characters (also none), `?` exactly
/// one character. Linear backtracking on the last `*`, so arbitrary input cannot blow up.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_policy_bytes() {
        let policy = Policy::canned("https://d111111abcdef8.cloudfront.net/a.jpg?x=1", 1).unwrap();
        assert_eq!(
            policy.json(),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/a.jpg?x=1","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#
        );
        assert!(policy.is_canned());
        assert!(policy.covers("https://d111111abcdef8.cloudfront.net/a.jpg?x=1"));
        assert!(!policy.covers("https://d111111abcdef8.cloudfront.net/a.jpg"));
    }

    #[test]
    fn non_ascii_is_refused_and_encoded_urls_sign() {
        assert!(matches!(
            Policy::canned("https://example.com/caf\u{e9}/\u{1f600}", 5),
            Err(Error::ForbiddenCharacter {
                character: '\u{e9}',
                position: 23,
                ..
            })
        ));
        let encoded = crate::encode_url("https://example.com/caf\u{e9}/\u{1f600}");
        let policy = Policy::canned(&encoded, 5).unwrap();
        assert!(
            policy
                .json()
                .contains(r#""Resource":"https://example.com/caf%C3%A9/%F0%9F%98%80""#),
            "{}",
            policy.json()
        );
    }

    #[test]
    fn custom_policy_condition_order_matches_botocore() {
        let policy = Policy::custom("http*://example.com/*", 200)
            .starts(100)
            .source_ip("10.0.0.0/8")
            .build()
            .unwrap();
        assert_eq!(
            policy.json(),
            r#"{"Statement":[{"Resource":"http*://example.com/*","Condition":{"DateLessThan":{"AWS:EpochTime":200},"IpAddress":{"AWS:SourceIp":"10.0.0.0/8"},"DateGreaterThan":{"AWS:EpochTime":100}}}]}"#
        );
        let only_start = Policy::custom("*", 200).starts(100).build().unwrap();
        assert_eq!(
            only_start.json(),
            r#"{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":200},"DateGreaterThan":{"AWS:EpochTime":100}}}]}"#
        );
        let plain = Policy::custom("https://e.com/a?b", 7).build().unwrap();
        assert_eq!(
            plain.json(),
            r#"{"Statement":[{"Resource":"https://e.com/a?b","Condition":{"DateLessThan":{"AWS:EpochTime":7}}}]}"#
        );
        assert!(!plain.is_canned());
    }

    #[test]
    fn source_ip_parsing() {
        assert_eq!(
            "1.2.3.4".parse::<SourceIp>().unwrap().to_string(),
            "1.2.3.4/32"
        );
        assert_eq!(
            "1.2.3.0/24".parse::<SourceIp>().unwrap().to_string(),
            "1.2.3.0/24"
        );
        assert_eq!(
            "0.0.0.0/0".parse::<SourceIp>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        for bad in [
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "/8",
            "01.2.3.4",
            "1.2.3.4/08",
            "1.2.3.4/+8",
            "1.2.3.4/8/8",
            "host",
            "",
        ] {
            assert!(
                matches!(bad.parse::<SourceIp>(), Err(Error::InvalidSourceIp { .. })),
                "{bad}"
            );
        }
        for v6 in ["::1", "2001:db8::/32", "::ffff:1.2.3.4"] {
            assert!(
                matches!(v6.parse::<SourceIp>(), Err(Error::Ipv6SourceIp { .. })),
                "{v6}"
            );
        }
        assert!(SourceIp::new(Ipv4Addr::LOCALHOST, 33).is_err());
    }

    #[test]
    fn rejects_injection_and_bad_urls() {
        for (url, expected) in [
            (r#"https://e.com/a"b"#, '"'),
            (r"https://e.com/a\b", '\\'),
            ("https://e.com/a\nb", '\n'),
            ("https://e.com/a\u{0}b", '\u{0}'),
            ("https://e.com/a\u{7f}", '\u{7f}'),
            ("https://e.com/a\u{85}", '\u{85}'),
            ("https://e.com/a b", ' '),
            ("https://e.com/a#frag", '#'),
        ] {
            match Policy::canned(url, 10) {
                Err(Error::ForbiddenCharacter { character, .. }) => assert_eq!(character, expected),
                other => panic!("{url:?}: {other:?}"),
            }
        }
        for url in [
            "ftp://e.com/a",
            "https://",
            "https:///path",
            "e.com/a",
            "HTTPS://e.com/",
        ] {
            assert!(
                matches!(Policy::canned(url, 10), Err(Error::InvalidUrl { .. })),
                "{url}"
            );
        }
        for url in [
            "https://e.com/a?Expires=1",
            "https://e.com/a?x=1&Signature",
            "https://e.com/a?Key-Pair-Id=K&x",
            "https://e.com/a?Policy=",
            "https://e.com/a?Hash-Algorithm=SHA256",
        ] {
            assert!(
                matches!(
                    Policy::canned(url, 10),
                    Err(Error::ReservedQueryParameter { .. })
                ),
                "{url}"
            );
        }
        assert!(Policy::canned("https://e.com/a?expires=1&MyPolicy=2", 10).is_ok());
    }

    #[test]
    fn custom_rejections() {
        assert!(matches!(
            Policy::custom("example.com/*", 10).build(),
            Err(Error::InvalidResource { .. })
        ));
        assert!(matches!(
            Policy::custom(r#"https://e.com/*","Condition":{}"#, 10).build(),
            Err(Error::ForbiddenCharacter { character: '"', .. })
        ));
        assert!(matches!(
            Policy::custom("https://e.com/*", 10).starts(10).build(),
            Err(Error::StartNotBeforeExpiry {
                starts: 10,
                expires: 10
            })
        ));
        assert!(matches!(
            Policy::custom("https://e.com/*", 10).starts(11).build(),
            Err(Error::StartNotBeforeExpiry { .. })
        ));
        assert!(matches!(
            Policy::custom("https://e.com/*", 10)
                .source_ip("2001:db8::1")
                .build(),
            Err(Error::Ipv6SourceIp { .. })
        ));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "https://e.com/x"));
        assert!(wildcard_match("https://e.com/*", "https://e.com/a/b?c=d"));
        assert!(wildcard_match("http*://e.com/a?c", "https://e.com/a/c"));
        assert!(wildcard_match(
            "https://e.com/*.jpg",
            "https://e.com/a.jpg.jpg"
        ));
        assert!(!wildcard_match(
            "https://e.com/*.jpg",
            "https://e.com/a.jpeg"
        ));
        assert!(!wildcard_match("https://e.com/a?", "https://e.com/a"));
        assert!(wildcard_match(
            "*a*a*a*a*b",
            &"a".repeat(200).replace("aa", "ab")
        ));
        assert!(!wildcard_match("*a*a*a*a*c", &"a".repeat(5000)));
    }
}
