//! Secrets from a literal, an environment variable or a file, never printed by `Debug`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use zeroize::Zeroizing;

/// Where a secret comes from: configuration names the source, [`resolve`](Self::resolve) reads
/// it when it is needed.
///
/// Parsed from text with [`FromStr`]: `env:NAME` reads an environment variable, `file:PATH` a
/// file (a trailing newline is removed), anything else is the secret itself (`literal:` may be
/// written in front to be explicit). `Debug` shows the variable name or path, never the value.
///
/// ```
/// use reel_core::SecretSource;
///
/// let source: SecretSource = "env:MAXMIND_LICENSE_KEY".parse().unwrap();
/// assert_eq!(format!("{source:?}"), r#"Env("MAXMIND_LICENSE_KEY")"#);
///
/// let literal: SecretSource = "literal:s3cr3t".parse().unwrap();
/// assert_eq!(format!("{literal:?}"), "Literal([REDACTED])");
/// assert_eq!(literal.resolve().unwrap().expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretSource {
    /// The secret itself.
    Literal(Secret),
    /// The name of an environment variable holding the secret.
    Env(String),
    /// A file holding the secret.
    File(PathBuf),
}

impl SecretSource {
    /// A source that holds the secret itself.
    pub fn literal(value: impl Into<String>) -> Self {
        Self::Literal(Secret::new(value.into()))
    }

    /// A source that reads environment variable `name`.
    pub fn env(name: impl Into<String>) -> Self {
        Self::Env(name.into())
    }

    /// A source that reads the file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File(path.into())
    }

    /// Reads the secret.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            Self::Literal(secret) => Ok(secret.clone()),
            Self::Env(name) => match std::env::var(name) {
                Ok(value) if value.is_empty() => Err(SecretError::Empty {
                    source: self.describe(),
                }),
                Ok(value) => Ok(Secret::new(value)),
                Err(std::env::VarError::NotPresent) => {
                    Err(SecretError::MissingEnv { name: name.clone() })
                }
                Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::NotUnicode {
                    source: self.describe(),
                }),
            },
            Self::File(path) => {
                let bytes =
                    Zeroizing::new(std::fs::read(path).map_err(|error| SecretError::File {
                        path: path.clone(),
                        error,
                    })?);
                let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::NotUnicode {
                    source: self.describe(),
                })?;
                let trimmed = text
                    .strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(text);
                if trimmed.is_empty() {
                    return Err(SecretError::Empty {
                        source: self.describe(),
                    });
                }
                Ok(Secret::new(trimmed.to_owned()))
            }
        }
    }

    /// A description safe to log: the variable name or file path, or `a literal value`.
    pub fn describe(&self) -> String {
        match self {
            Self::Literal(_) => "a literal value".to_owned(),
            Self::Env(name) => format!("environment variable {name}"),
            Self::File(path) => format!("file {}", path.display()),
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("Literal([REDACTED])"),
            Self::Env(name) => f.debug_tuple("Env").field(name).finish(),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl FromStr for SecretSource {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(name) = text.strip_prefix("env:") {
            if name.is_empty() {
                return Err(SecretError::Invalid(
                    "`env:` needs a variable name, as in `env:API_KEY`".into(),
                ));
            }
            Ok(Self::env(name))
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() {
                return Err(SecretError::Invalid(
                    "`file:` needs a path, as in `file:/run/secrets/key`".into(),
                ));
            }
            Ok(Self::file(path))
        } else {
            Ok(Self::literal(text.strip_prefix("literal:").unwrap_or(text)))
        }
    }
}

/// A secret value: `Debug` and `Display` print `[REDACTED]`, the memory is zeroed on drop, and
/// the value is reached only through [`expose`](Self::expose).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret itself. Keep the reference short-lived and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret's bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Why a secret could not be read. Messages name the source, never the value.
#[derive(Debug)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set.
    MissingEnv {
        /// The variable's name.
        name: String,
    },
    /// The file could not be read.
    File {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The source holds no secret.
    Empty {
        /// A description of the source.
        source: String,
    },
    /// The secret is not valid UTF-8.
    NotUnicode {
        /// A description of the source.
        source: String,
    },
    /// The source description could not be parsed.
    Invalid(String),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEnv { name } => write!(
                f,
                "environment variable {name} is not set; export it or use `file:` or a literal instead"
            ),
            Self::File { path, error } => {
                write!(f, "cannot read secret file {}: {error}", path.display())
            }
            Self::Empty { source } => write!(f, "the secret in {source} is empty"),
            Self::NotUnicode { source } => write!(f, "the secret in {source} is not valid UTF-8"),
            Self::Invalid(message) => write!(f, "invalid secret source: {message}"),
        }
    }
}

impl std::error::Error for SecretError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File { error, .. } => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret}").contains("hunter2"));
        let source = SecretSource::literal("hunter2");
        assert!(!format!("{source:?}").contains("hunter2"));
        assert_eq!(source.describe(), "a literal value");
    }

    #[test]
    fn parses_prefixes() {
        assert_eq!(
            "env:KEY".parse::<SecretSource>().unwrap(),
            SecretSource::env("KEY")
        );
        assert_eq!(
            "file:/k".parse::<SecretSource>().unwrap(),
            SecretSource::file("/k")
        );
        assert_eq!(
            "plain".parse::<SecretSource>().unwrap(),
            SecretSource::literal("plain")
        );
        assert_eq!(
            "literal:env:x".parse::<SecretSource>().unwrap(),
            SecretSource::literal("env:x")
        );
        assert!("env:".parse::<SecretSource>().is_err());
        assert!("file:".parse::<SecretSource>().is_err());
    }

    #[test]
    fn reads_env_and_reports_missing() {
        // The variable name is unique to this test; nothing else reads or writes it.
        let name = "REEL_CORE_TEST_SECRET_ENV_4F1A";
        let err = SecretSource::env(name).resolve().unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
        assert!(matches!(err, SecretError::MissingEnv { .. }));
    }

    #[test]
    fn reads_file_trimming_one_newline_and_errors_clearly() {
        let dir = std::env::temp_dir().join(format!("reel-core-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(SecretSource::file(&path).resolve().unwrap().expose(), "abc");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            SecretSource::file(&path).resolve(),
            Err(SecretError::Empty { .. })
        ));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        let err = SecretSource::file(&path).resolve().unwrap_err();
        assert!(matches!(err, SecretError::NotUnicode { .. }));
        let missing = dir.join("missing");
        let err = SecretSource::file(&missing).resolve().unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
