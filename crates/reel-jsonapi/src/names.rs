//! Member-name rules (JSON:API 1.1 §7.7) and the `application/vnd.api+json` media type with its
//! `ext` and `profile` parameters.

use std::fmt;

/// The JSON:API media type, `application/vnd.api+json`.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";

/// Which kind of member name a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberName {
    /// A plain member name that follows the naming rules.
    Plain,
    /// An `@`-member; processors ignore these.
    At,
    /// An extension member `namespace:name`.
    Extension,
}

fn globally_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c as u32 >= 0x80
}

fn allowed_inside(c: char) -> bool {
    globally_allowed(c) || c == '-' || c == '_' || c == ' '
}

fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    let (Some(first), Some(last)) = (chars.next(), name.chars().next_back()) else {
        return false;
    };
    globally_allowed(first) && globally_allowed(last) && name.chars().all(allowed_inside)
}

/// Classifies a member name, or returns `None` if it breaks the naming rules.
///
/// ```
/// use reel_jsonapi::names::{member_name, MemberName};
/// assert_eq!(member_name("first-name"), Some(MemberName::Plain));
/// assert_eq!(member_name("@context"), Some(MemberName::At));
/// assert_eq!(member_name("atomic:operations"), Some(MemberName::Extension));
/// assert_eq!(member_name("-leading"), None);
/// assert_eq!(member_name("a+b"), None);
/// ```
pub fn member_name(name: &str) -> Option<MemberName> {
    if let Some(rest) = name.strip_prefix('@') {
        return is_plain(rest).then_some(MemberName::At);
    }
    if let Some((namespace, member)) = name.split_once(':') {
        return (is_namespace(namespace) && is_plain(member)).then_some(MemberName::Extension);
    }
    is_plain(name).then_some(MemberName::Plain)
}

/// Whether `name` is a valid plain member name (no `@`-members or extension members).
pub fn is_valid_member_name(name: &str) -> bool {
    is_plain(name)
}

fn is_namespace(namespace: &str) -> bool {
    // Extension namespaces are restricted to ASCII letters and digits.
    !namespace.is_empty() && namespace.chars().all(|c| c.is_ascii_alphanumeric())
}

/// An `application/vnd.api+json` media type with its `ext` and `profile` URIs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaType {
    /// Extension URIs from the `ext` parameter.
    pub ext: Vec<String>,
    /// Profile URIs from the `profile` parameter.
    pub profile: Vec<String>,
}

/// Why a media type could not be used as a JSON:API media type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaTypeError {
    /// The type is not `application/vnd.api+json`.
    #[error("media type is not application/vnd.api+json")]
    NotJsonApi,
    /// A parameter other than `ext` or `profile` is present (forbidden by the spec).
    #[error("media type parameter `{0}` is not allowed; only `ext` and `profile` are")]
    ForbiddenParameter(String),
    /// A parameter could not be parsed.
    #[error("malformed media type parameter `{0}`")]
    Malformed(String),
}

impl MediaType {
    /// Parses one media range such as `application/vnd.api+json; ext="https://a https://b"`.
    ///
    /// ```
    /// use reel_jsonapi::names::MediaType;
    /// let media = MediaType::parse(r#"application/vnd.api+json; profile="https://example.com/p""#).unwrap();
    /// assert_eq!(media.profile, vec!["https://example.com/p".to_owned()]);
    /// assert!(MediaType::parse("application/vnd.api+json; charset=utf-8").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<Self, MediaTypeError> {
        let mut parts = split_params(value);
        let essence = parts.next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case(MEDIA_TYPE) {
            return Err(MediaTypeError::NotJsonApi);
        }
        let mut media = MediaType::default();
        for param in parts {
            let param = param.trim();
            if param.is_empty() {
                continue;
            }
            let Some((name, raw)) = param.split_once('=') else {
                return Err(MediaTypeError::Malformed(param.to_owned()));
            };
            let name = name.trim().to_ascii_lowercase();
            let raw = raw.trim();
            let value = if let Some(quoted) = raw.strip_prefix('"') {
                quoted
                    .strip_suffix('"')
                    .ok_or_else(|| MediaTypeError::Malformed(param.to_owned()))?
                    .replace("\\\"", "\"")
            } else {
                raw.to_owned()
            };
            let uris = value.split_ascii_whitespace().map(str::to_owned);
            match name.as_str() {
                "ext" => media.ext.extend(uris),
                "profile" => media.profile.extend(uris),
                _ => return Err(MediaTypeError::ForbiddenParameter(name)),
            }
        }
        Ok(media)
    }
}

/// Splits at `;` outside double quotes.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut pieces = Vec::new();
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                pieces.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&value[start..]);
    pieces.into_iter()
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MEDIA_TYPE)?;
        if !self.ext.is_empty() {
            write!(f, "; ext=\"{}\"", self.ext.join(" "))?;
        }
        if !self.profile.is_empty() {
            write!(f, "; profile=\"{}\"", self.profile.join(" "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_follow_the_spec() {
        for good in ["a", "ab", "a-b", "a_b", "a b", "über", "A1", "1"] {
            assert_eq!(member_name(good), Some(MemberName::Plain), "{good}");
        }
        for bad in [
            "", "-a", "a-", "_a", "a_", " a", "a+b", "a.b", "a/b", "a,b", "@", "x:",
        ] {
            assert_eq!(member_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn media_type_round_trips_ext_and_profile() {
        let media = MediaType {
            ext: vec!["https://jsonapi.org/ext/atomic".into()],
            profile: vec!["https://a.example/p1".into(), "https://a.example/p2".into()],
        };
        let text = media.to_string();
        assert_eq!(MediaType::parse(&text), Ok(media));
        assert_eq!(
            MediaType::parse("application/json"),
            Err(MediaTypeError::NotJsonApi)
        );
        assert_eq!(
            MediaType::parse("application/vnd.api+json;q=0.5"),
            Err(MediaTypeError::ForbiddenParameter("q".into()))
        );
    }
}
