//! The HTTP side of a download: the request URLs and credentials, one conditional `GET`
//! of the database (size-limited, hashed as it arrives) and of its published SHA-256, the
//! OpenTelemetry spans of the requests, and the errors, with every URL redacted.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::cache::Validators;
use super::unpack::unpack;
use super::{DownloadSource, Origin, lock};
use crate::Error;

impl DownloadSource {
    pub(super) fn http_client(&self) -> Result<reqwest::Client, Error> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("reel-geoip/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
    }

    /// The request URLs (the download, its checksum file) and Basic credentials.
    fn urls(&self) -> Result<Urls, Error> {
        Ok(match &self.origin {
            Origin::MaxMind {
                account_id,
                license_key,
                edition,
                base_url,
            } => Urls {
                download: format!("{base_url}/geoip/databases/{edition}/download?suffix=tar.gz"),
                sha256: Some(format!(
                    "{base_url}/geoip/databases/{edition}/download?suffix=tar.gz.sha256"
                )),
                auth: Some((account_id.clone(), license_key.resolve()?)),
                pin_date: true,
            },
            Origin::Url { url, sha256_url } => Urls {
                download: url.clone(),
                sha256: sha256_url.clone(),
                auth: None,
                pin_date: false,
            },
        })
    }

    /// One attempt: `None` for 304, otherwise the unpacked database and its validators.
    pub(super) async fn fetch_once(
        &self,
        client: &reqwest::Client,
        conditional: bool,
    ) -> Result<Option<(Vec<u8>, Validators)>, Error> {
        let urls = self.urls()?;
        let shown = redact_url(&urls.download);
        let mut request = client.get(&urls.download);
        if let Some((user, key)) = &urls.auth {
            request = request.basic_auth(user, Some(key.expose()));
        }
        if conditional {
            let validators = lock(&self.validators).clone();
            if validators.url.as_deref() == Some(self.describe().as_str()) {
                if let Some(etag) = validators.etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                if let Some(date) = validators.last_modified {
                    request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
                }
            }
        }
        let span = request_span(&urls.download, &shown);
        let sent = tracing::Instrument::instrument(request.send(), span.clone()).await;
        let mut response = sent
            .map_err(|e| network(&shown, e))
            .inspect_err(|e| record_error(&span, e))?;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            let error = status_error(&shown, status.as_u16());
            record_error(&span, &error);
            return Err(error);
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let validators = Validators {
            url: Some(self.describe()),
            sha256: None,
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let release_date = header(reqwest::header::CONTENT_DISPOSITION)
            .as_deref()
            .and_then(release_date);
        let too_large = |what: &str| Error::TooLarge {
            what: what.to_owned(),
            limit: self.max_download_bytes,
            hint: " (raise DownloadSource::max_download_bytes if the file is genuine)",
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_download_bytes)
        {
            return Err(too_large(&shown));
        }
        let mut body = Vec::new();
        let mut hasher = Sha256::new();
        while let Some(chunk) = tracing::Instrument::instrument(response.chunk(), span.clone())
            .await
            .map_err(|e| network(&shown, e))
            .inspect_err(|e| record_error(&span, e))?
        {
            if (body.len() + chunk.len()) as u64 > self.max_download_bytes {
                let error = too_large(&shown);
                record_error(&span, &error);
                return Err(error);
            }
            hasher.update(&chunk);
            body.extend_from_slice(&chunk);
        }
        if let Some(mut sha_url) = urls.sha256 {
            if urls.pin_date {
                // The checksum of the release that arrived, not of one published since.
                if let Some(date) = &release_date {
                    sha_url = sha_url.replacen("?suffix=", &format!("?date={date}&suffix="), 1);
                }
            }
            let sha_shown = redact_url(&sha_url);
            let mut request = client.get(&sha_url);
            if let Some((user, key)) = &urls.auth {
                request = request.basic_auth(user, Some(key.expose()));
            }
            let sha_span = request_span(&sha_url, &sha_shown);
            let sent = tracing::Instrument::instrument(request.send(), sha_span.clone()).await;
            let mut response = sent
                .map_err(|e| network(&sha_shown, e))
                .inspect_err(|e| record_error(&sha_span, e))?;
            sha_span.record("http.response.status_code", response.status().as_u16());
            if !response.status().is_success() {
                let error = status_error(&sha_shown, response.status().as_u16());
                record_error(&sha_span, &error);
                return Err(error);
            }
            // A checksum file is one line; read at most 4 KiB of it.
            let mut text = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| network(&sha_shown, e))? {
                text.extend_from_slice(&chunk[..chunk.len().min(4096 - text.len().min(4096))]);
                if text.len() >= 4096 {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&text);
            let expected = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let actual = hex::encode(hasher.finalize());
            if expected != actual {
                let error = Error::Checksum {
                    url: shown,
                    expected,
                    actual,
                };
                record_error(&span, &error);
                return Err(error);
            }
        }
        let database = unpack(&body, &shown, self.max_database_bytes)
            .inspect_err(|e| record_error(&span, e))?;
        Ok(Some((database, validators)))
    }
}

/// The span of one HTTP request of a download, with OpenTelemetry's HTTP client fields:
/// `http.response.status_code` is recorded when the answer arrives and `error.type` on
/// failure (the status code for an HTTP error, else the error's kind). `url.full` is the
/// redacted URL; credentials never reach a span.
fn request_span(url: &str, shown: &str) -> tracing::Span {
    let parsed = reqwest::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let port = parsed
        .as_ref()
        .and_then(reqwest::Url::port_or_known_default);
    tracing::debug_span!(
        "geoip.download.request",
        otel.kind = "client",
        http.request.method = "GET",
        server.address = %host,
        server.port = port,
        url.full = %shown,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// Records `error` as the span's `error.type`.
fn record_error(span: &tracing::Span, error: &Error) {
    match error {
        Error::HttpStatus { status, .. } => span.record("error.type", status.to_string()),
        other => span.record("error.type", other.kind()),
    };
}

/// Request URLs and credentials of one attempt.
struct Urls {
    download: String,
    sha256: Option<String>,
    auth: Option<(String, reel_core::Secret)>,
    pin_date: bool,
}

/// The release date (`YYYYMMDD`) in MaxMind's `Content-Disposition` file name,
/// `attachment; filename=GeoLite2-City_20261120.tar.gz`.
fn release_date(disposition: &str) -> Option<String> {
    let name = disposition.split("filename=").nth(1)?.trim_matches('"');
    let stem = name.split('.').next()?;
    let date = stem.rsplit('_').next()?;
    (date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit())).then(|| date.to_owned())
}

/// Query parameters whose values are never secret.
const PUBLIC_QUERY_KEYS: [&str; 3] = ["suffix", "date", "edition_id"];

/// `url` with user info and query values (except a few known-public ones) replaced by
/// `REDACTED`, and no fragment: safe for errors, status, logs and health pages.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        // Unparseable: show nothing that could be a secret.
        return "[unparseable URL]".to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("REDACTED");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let value = if PUBLIC_QUERY_KEYS.contains(&k.as_ref()) {
                    v.into_owned()
                } else {
                    "REDACTED".to_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.set_fragment(None);
    parsed.to_string()
}

fn network(url: &str, error: reqwest::Error) -> Error {
    // reqwest's message names the URL it requested, which may carry credentials (user info,
    // a signed storage URL after a redirect): drop it; `url` is already redacted.
    let error = error.without_url();
    // Walk the source chain: "error decoding response body" alone hides the cause.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Network {
        url: url.to_owned(),
        message,
    }
}

fn status_error(url: &str, status: u16) -> Error {
    let hint = match status {
        401 => " (check the account id and license key)",
        403 => " (the account may not have access to this edition)",
        400 | 404 => " (check the edition id, e.g. GeoLite2-City, and the URL)",
        429 => " (download quota or rate limit reached: check less often; not retried soon)",
        _ => "",
    };
    Error::HttpStatus {
        url: url.to_owned(),
        status,
        hint,
    }
}
