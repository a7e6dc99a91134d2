//! Who is asking: the owner a bearer token authenticates.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use reel_jsonapi::{ErrorDocument, ErrorObject};
use sha2::{Digest, Sha256};

use crate::AppState;

/// Who is asking: the owner a valid `Authorization: Bearer` token names (`REEL_API_TOKENS`),
/// or nobody. A token that matches no one is a 401, not an anonymous request, so that a
/// mistyped token is noticed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Viewer(pub(crate) Option<i64>);

impl Viewer {
    /// A cache-key part: responses differ by who asks.
    pub(crate) fn key(self) -> String {
        self.0
            .map_or_else(|| "anonymous".to_owned(), |id| format!("owner:{id}"))
    }
}

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let unauthorized = |detail: &str| {
            let mut response = ErrorDocument::from(
                ErrorObject::new(401, "Unauthorized").with_detail(detail.to_owned()),
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"edge-api\""),
            );
            response
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                unauthorized(
                    "send `Authorization: Bearer <token>`, or no Authorization header at all",
                )
            })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        state
            .0
            .tokens
            .iter()
            .find(|(known, _)| *known == digest)
            .map(|(_, owner)| Self(Some(*owner)))
            .ok_or_else(|| unauthorized("the bearer token is not valid"))
    }
}
