//! Signed cookies as `cookie` crate values.

use cookie::time::OffsetDateTime;
use cookie::{Cookie, Expiration, SameSite};

/// When the browser drops the signed cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CookieExpiry {
    /// No `Expires`: the cookies last until the browser closes. AWS recommends this, as it limits
    /// misuse of copied cookies; the policy's own expiry still applies at CloudFront.
    #[default]
    Session,
    /// `Expires` set to the policy's expiry.
    PolicyExpiry,
}

/// The attributes given to every signed cookie.
///
/// Defaults: no `Domain` (the host that set them), `Path=/`, `Secure`, `HttpOnly`,
/// `SameSite=Lax` (media requests from pages on the same site carry them) and session cookies.
/// `SameSite=None` always gets `Secure`, as browsers require.
///
/// ```
/// use reel_cloudfront::{CookieExpiry, CookieOptions};
/// use cookie::SameSite;
///
/// let options = CookieOptions::new()
///     .domain("media.example.com")
///     .path("/videos")
///     .same_site(SameSite::Strict)
///     .expiry(CookieExpiry::PolicyExpiry);
/// assert_eq!(options.path_value(), "/videos");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieOptions {
    domain: Option<String>,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: SameSite,
    expiry: CookieExpiry,
}

impl Default for CookieOptions {
    fn default() -> Self {
        Self {
            domain: None,
            path: "/".to_owned(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            expiry: CookieExpiry::Session,
        }
    }
}

impl CookieOptions {
    /// The defaults described above.
    pub fn new() -> Self {
        Self::default()
    }

    /// `Domain`: the CloudFront domain or your alternate domain (such as `example.com` to cover
    /// `media.example.com`).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `Path`: the part of the site the cookies are sent to.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `Secure` (default on). Turn off only for plain-HTTP development.
    #[must_use]
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// `HttpOnly` (default on): scripts cannot read the cookies.
    #[must_use]
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `SameSite` (default `Lax`).
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Session cookies (default) or cookies expiring with the policy.
    #[must_use]
    pub fn expiry(mut self, expiry: CookieExpiry) -> Self {
        self.expiry = expiry;
        self
    }

    /// The `Domain` attribute, if set.
    pub fn domain_value(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The `Path` attribute.
    pub fn path_value(&self) -> &str {
        &self.path
    }
}

/// The three or four `Set-Cookie` values of a signed-cookie grant: `CloudFront-Expires` or
/// `CloudFront-Policy`, `CloudFront-Signature`, `CloudFront-Key-Pair-Id` and, for SHA-256,
/// `CloudFront-Hash-Algorithm`.
///
/// ```
/// use reel_cloudfront::{CookieOptions, Policy, Signer};
/// # let pem = include_str!("../tests/keys/rsa2048-pkcs1.pem");
///
/// let signer = Signer::from_pem("K2JCJMDEHXQW5F", pem)?;
/// let policy = Policy::custom("https://media.example.com/videos/*", 4_102_444_800).build()?;
/// let cookies = signer.signed_cookies(&policy, &CookieOptions::new().domain("media.example.com"))?;
/// let names: Vec<&str> = cookies.iter().map(|c| c.name()).collect();
/// assert_eq!(names, ["CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"]);
/// for header in cookies.set_cookie_headers() {
///     assert!(header.ends_with("; HttpOnly; SameSite=Lax; Secure; Path=/; Domain=media.example.com"));
/// }
/// # Ok::<(), reel_cloudfront::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCookies {
    cookies: Vec<Cookie<'static>>,
}

impl SignedCookies {
    pub(crate) fn new(
        pairs: Vec<(&'static str, String)>,
        options: &CookieOptions,
        policy_expires: u64,
    ) -> Self {
        let expiration = match options.expiry {
            CookieExpiry::Session => Expiration::Session,
            CookieExpiry::PolicyExpiry => i64::try_from(policy_expires)
                .ok()
                .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
                .map_or(Expiration::Session, Expiration::DateTime),
        };
        let secure = options.secure || options.same_site == SameSite::None;
        let cookies = pairs
            .into_iter()
            .map(|(name, value)| {
                let mut builder = Cookie::build((name, value))
                    .path(options.path.clone())
                    .secure(secure)
                    .http_only(options.http_only)
                    .same_site(options.same_site)
                    .expires(expiration);
                if let Some(domain) = &options.domain {
                    builder = builder.domain(domain.clone());
                }
                builder.build()
            })
            .collect();
        Self { cookies }
    }

    /// The cookies, in the order listed above.
    pub fn iter(&self) -> std::slice::Iter<'_, Cookie<'static>> {
        self.cookies.iter()
    }

    /// The cookie called `name`, such as `CloudFront-Signature`.
    pub fn get(&self, name: &str) -> Option<&Cookie<'static>> {
        self.cookies.iter().find(|cookie| cookie.name() == name)
    }

    /// One `Set-Cookie` header value per cookie.
    pub fn set_cookie_headers(&self) -> Vec<String> {
        self.cookies.iter().map(ToString::to_string).collect()
    }

    /// The cookies themselves.
    pub fn into_vec(self) -> Vec<Cookie<'static>> {
        self.cookies
    }
}

impl<'a> IntoIterator for &'a SignedCookies {
    type Item = &'a Cookie<'static>;
    type IntoIter = std::slice::Iter<'a, Cookie<'static>>;

    fn into_iter(self) -> Self::IntoIter {
        self.cookies.iter()
    }
}

impl IntoIterator for SignedCookies {
    type Item = Cookie<'static>;
    type IntoIter = std::vec::IntoIter<Cookie<'static>>;

    fn into_iter(self) -> Self::IntoIter {
        self.cookies.into_iter()
    }
}
