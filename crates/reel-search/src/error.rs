//! The crate's error type.

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP request failed (connection refused, timeout, TLS); retried before surfacing.
    #[error("request to Elasticsearch failed: {0}; check the URL and that the server is reachable")]
    Transport(#[source] elasticsearch::Error),
    /// Elasticsearch answered with an error status.
    #[error("Elasticsearch answered {status} to {operation}: {kind}: {reason}")]
    Api {
        /// What was being done (`create index assets_v2`).
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The error type (`resource_already_exists_exception`).
        kind: String,
        /// The server's explanation.
        reason: String,
    },
    /// A document or index does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// A document or request body could not be (de)serialized.
    #[error("could not encode or decode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A response did not have the expected shape.
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// What was decoded.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The database read failed.
    #[cfg(feature = "postgres")]
    #[error("reading rows from PostgreSQL failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A source stream or preload hook failed.
    #[error("{stage} failed: {source}")]
    Source {
        /// `source stream` or `preload hook`.
        stage: &'static str,
        /// The user's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The [`Repo`](crate::Repo)'s circuit breaker is open after repeated failures: the
    /// request was not sent. Answer with 503 and `Retry-After` (see
    /// [`Error::retry_after`]).
    #[error(
        "the search cluster failed repeatedly and its circuit breaker is open; not sending requests for {retry_in:?}"
    )]
    CircuitOpen {
        /// How long until a probe request may be sent (zero while a probe is in flight).
        retry_in: std::time::Duration,
    },
    /// A migration cannot proceed.
    #[error("migration of `{alias}` failed: {reason}")]
    Migration {
        /// The alias being migrated.
        alias: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The client could not be configured (bad URL).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether the request ran into the client's timeout (the server may still be working
    /// on it; see [`Repo::retry_timeouts`](crate::Repo::retry_timeouts)).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport(error) if error.is_timeout())
    }

    /// Whether retrying could help: 429, 502, 503, 504 and connection errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Whether retrying is safe even for a request that is not idempotent: the server
    /// certainly did not apply it (429 and 503 reject before executing; a refused connection
    /// sent nothing). A timeout, a reset connection, 502 and 504 say nothing about that.
    pub fn is_retryable_unapplied(&self) -> bool {
        match self {
            Self::Transport(error) => connection_refused(error),
            Self::Api { status, .. } => matches!(status, 429 | 503),
            _ => false,
        }
    }

    /// When the circuit breaker refused the call: how long a client should wait before
    /// retrying (at least one second, for a `Retry-After` header).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::CircuitOpen { retry_in } => {
                Some((*retry_in).max(std::time::Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::NotFound { .. } => Some(404),
            _ => None,
        }
    }
}

/// Whether `error` was caused by a refused TCP connection (nothing was sent).
fn connection_refused(error: &elasticsearch::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = cause.source();
    }
    false
}
