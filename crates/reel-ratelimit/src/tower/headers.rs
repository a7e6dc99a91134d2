//! What a response says about the limit: the `X-RateLimit-*`, IETF `RateLimit` and
//! `Retry-After` headers, and the bodies of the 429, 413 and keyless refusals.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use reel_core::Clock;

use super::Config;
use super::key::Policy;
use crate::limiter::Verdict;
use crate::quota::Decision;

/// `X-RateLimit-Limit`: the bucket size.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: requests left now.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`: seconds until the bucket is empty again.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// `RateLimit-Policy` (IETF draft).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (IETF draft).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// How `X-RateLimit-Reset` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResetFormat {
    /// Seconds until the bucket is empty again, rounded up (the default).
    #[default]
    DeltaSeconds,
    /// The Unix time, in seconds (rounded up), at which the bucket is empty again, as
    /// GitHub's API sends it.
    EpochSeconds,
}

impl Config {
    pub(super) fn set_headers(
        &self,
        headers: &mut http::HeaderMap,
        verdict: &Verdict,
        rejected: bool,
    ) {
        let Some(deciding) = verdict.deciding() else {
            return;
        };
        let decision = &deciding.decision;
        if decision.is_fallback() {
            // The store did not answer: the bucket's state is unknown, so no figures are
            // claimed; a fail-closed rejection still says when to come back.
            if rejected && let Some(wait) = decision.retry_after() {
                set_default(headers, RETRY_AFTER, ceil_secs(wait).to_string());
            }
            return;
        }
        if self.legacy {
            let reset = match self.reset_format {
                ResetFormat::DeltaSeconds => ceil_secs(decision.reset()),
                ResetFormat::EpochSeconds => {
                    let at = self.clock.unix_nanos().saturating_add(
                        u64::try_from(decision.reset().as_nanos()).unwrap_or(u64::MAX),
                    );
                    at.div_ceil(1_000_000_000)
                }
            };
            set_default(headers, X_RATELIMIT_LIMIT, decision.limit().to_string());
            set_default(
                headers,
                X_RATELIMIT_REMAINING,
                decision.remaining().to_string(),
            );
            set_default(headers, X_RATELIMIT_RESET, reset.to_string());
        }
        if self.ietf {
            let reported = || verdict.enforced().filter(|o| !o.decision.is_fallback());
            let policies: Vec<String> = reported()
                .map(|o| {
                    format!(
                        "{};q={};w={}",
                        sf_string(&o.name),
                        o.quota.burst(),
                        ceil_secs(o.quota.capacity())
                    )
                })
                .collect();
            let states: Vec<String> = reported()
                .map(|o| {
                    format!(
                        "{};r={};t={}",
                        sf_string(&o.name),
                        o.decision.remaining(),
                        ceil_secs(o.decision.reset())
                    )
                })
                .collect();
            set_default(headers, RATELIMIT_POLICY, policies.join(", "));
            set_default(headers, RATELIMIT, states.join(", "));
        }
        if rejected && let Some(wait) = decision.retry_after() {
            set_default(headers, RETRY_AFTER, ceil_secs(wait).to_string());
        }
    }
}

pub(super) fn default_rejection(decision: &Decision) -> Response<String> {
    let body = match decision.retry_after() {
        Some(wait) => format!("Too Many Requests: retry in {} s\n", ceil_secs(wait)),
        None => "Too Many Requests\n".to_owned(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The answer to a request whose cost exceeds an enforced limit's burst.
pub(super) fn too_costly(policy: &Policy, cost: u32) -> Response<String> {
    let (name, burst) = policy
        .limits
        .iter()
        .filter(|limit| !limit.is_shadow() && limit.quota().burst() < cost)
        .map(|limit| (limit.name(), limit.quota().burst()))
        .next()
        .unwrap_or((&policy.name, 0));
    let mut response = Response::new(format!(
        "Content Too Large: this request costs {cost}, more than the {burst} the `{name}` rate limit admits at once; it can never be admitted, so split it into smaller requests instead of retrying\n"
    ));
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    set_default(headers, X_RATELIMIT_LIMIT, burst.to_string());
    response
}

pub(super) fn keyless_rejection(status: StatusCode, message: &str) -> Response<String> {
    let mut response = Response::new(format!("{message}\n"));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn set_default(headers: &mut http::HeaderMap, name: HeaderName, value: String) {
    if headers.contains_key(&name) {
        return;
    }
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// A structured-field string: quoted, with `"` and `\` escaped and non-ASCII dropped.
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}
