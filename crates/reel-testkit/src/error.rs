//! The testkit's error, always with a way forward.

use std::fmt;

/// Why a test server could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A program the test needs is not installed.
    Missing {
        /// The program.
        program: String,
        /// The command that installs it.
        install: String,
    },
    /// The server started but did not become ready.
    NotReady {
        /// Which server.
        server: String,
        /// What was observed.
        detail: String,
    },
    /// An I/O error while managing the server.
    Io {
        /// What was being done.
        context: String,
        /// The error.
        error: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |error| Self::Io { context, error }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { program, install } => {
                write!(
                    f,
                    "`{program}` is not installed; run `{install}` (or `cargo xtask setup`, which installs everything the tests need)"
                )
            }
            Self::NotReady { server, detail } => {
                write!(f, "{server} did not become ready: {detail}")
            }
            Self::Io { context, error } => write!(f, "{context}: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
