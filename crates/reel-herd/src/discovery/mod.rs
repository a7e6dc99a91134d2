//! Where the node list comes from: the [`Discovery`] trait and its built-in sources.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::node::{Node, ParseNodeError};

#[cfg(feature = "dns")]
mod dns;
mod elasticache;

#[cfg(feature = "dns")]
pub use dns::DnsDiscovery;
pub use elasticache::ElastiCacheDiscovery;

/// A boxed, sendable future, the return type of [`Discovery::discover`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of the cluster's current node list.
///
/// The cluster calls [`discover`](Discovery::discover) at start and then every poll interval,
/// under a timeout and with retries. An error or an empty list never replaces the last good
/// topology. Implement it to plug in your own source (a service registry, an API call):
///
/// ```
/// use reel_herd::{BoxFuture, Discovery, DiscoveryError, Node};
///
/// #[derive(Debug)]
/// struct FromEnv;
///
/// impl Discovery for FromEnv {
///     fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
///         Box::pin(async {
///             let list = std::env::var("CACHE_NODES").unwrap_or_else(|_| "127.0.0.1:11211".into());
///             Ok(Node::parse_list(&list)?)
///         })
///     }
/// }
/// ```
pub trait Discovery: Send + Sync + fmt::Debug + 'static {
    /// Returns the nodes that make up the cluster now.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>>;
}

/// Why a discovery attempt produced no node list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A node entry could not be parsed.
    #[error(transparent)]
    Node(#[from] ParseNodeError),
    /// Talking to the discovery source failed.
    #[error("discovery I/O with {source_name} failed: {error}")]
    Io {
        /// The endpoint, file or name that was asked.
        source_name: String,
        /// The underlying error.
        #[source]
        error: std::io::Error,
    },
    /// The source answered something that is not a node list.
    #[error("discovery source {source_name} answered garbage: {detail}")]
    Protocol {
        /// The endpoint, file or name that was asked.
        source_name: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// The source did not answer within the discovery timeout.
    #[error("discovery timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Anything a custom source wants to report.
    #[error("discovery failed: {0}")]
    Other(String),
}

impl DiscoveryError {
    /// A copy for a `ClusterEvent`: an I/O error is copied by kind and message.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Node(error) => Self::Node(error.clone()),
            Self::Io { source_name, error } => Self::Io {
                source_name: source_name.clone(),
                error: crate::error::copy_io(error),
            },
            Self::Protocol {
                source_name,
                detail,
            } => Self::Protocol {
                source_name: source_name.clone(),
                detail: detail.clone(),
            },
            Self::Timeout(timeout) => Self::Timeout(*timeout),
            Self::Other(message) => Self::Other(message.clone()),
        }
    }
}

/// A fixed list of nodes, for clusters that do not change or for tests.
#[derive(Clone, Debug)]
pub struct StaticDiscovery {
    nodes: Vec<Node>,
}

impl StaticDiscovery {
    /// Always answers `nodes`.
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Self {
        Self {
            nodes: nodes.into_iter().collect(),
        }
    }

    /// Parses `host:port[:weight],...` (commas, whitespace or newlines between entries).
    pub fn parse(list: &str) -> Result<Self, ParseNodeError> {
        Ok(Self::new(Node::parse_list(list)?))
    }

    /// The configured nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
}

impl Discovery for StaticDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        Box::pin(async move { Ok(self.nodes.clone()) })
    }
}

/// A file with one `host:port[:weight]` per line (or comma separated, `#` comments), read
/// again whenever its modification time or size changes.
///
/// Replace the file by renaming a new one over it so a poll never sees half a list; a file that
/// fails to parse is reported as a discovery failure and the last good topology stays.
#[derive(Debug)]
pub struct FileDiscovery {
    path: PathBuf,
    cache: Mutex<Option<(SystemTime, u64, Vec<Node>)>>,
}

impl FileDiscovery {
    /// Reads nodes from `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: Mutex::new(None),
        }
    }

    /// The file being followed.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Discovery for FileDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        Box::pin(async move {
            let io_error = |error| DiscoveryError::Io {
                source_name: self.path.display().to_string(),
                error,
            };
            let metadata = tokio::fs::metadata(&self.path).await.map_err(io_error)?;
            let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let len = metadata.len();
            {
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((seen_modified, seen_len, nodes)) = cache.as_ref()
                    && *seen_modified == modified
                    && *seen_len == len
                {
                    return Ok(nodes.clone());
                }
            }
            let bytes = tokio::fs::read(&self.path).await.map_err(io_error)?;
            let text = String::from_utf8(bytes).map_err(|_| DiscoveryError::Protocol {
                source_name: self.path.display().to_string(),
                detail: "the file is not UTF-8 text".to_owned(),
            })?;
            let nodes = Node::parse_list(&text)?;
            tracing::debug!(path = %self.path.display(), nodes = nodes.len(), "node file read");
            *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((modified, len, nodes.clone()));
            Ok(nodes)
        })
    }
}

impl<D: Discovery + ?Sized> Discovery for std::sync::Arc<D> {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        (**self).discover()
    }
}

impl<D: Discovery + ?Sized> Discovery for Box<D> {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        (**self).discover()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_list_answers_its_nodes() {
        let discovery = StaticDiscovery::parse("a:1,b:2:3").unwrap();
        let nodes = discovery.discover().await.unwrap();
        assert_eq!(nodes, Node::parse_list("a:1 b:2:3").unwrap());
    }

    #[tokio::test]
    async fn file_is_reread_when_it_changes_and_garbage_is_an_error() {
        let dir = std::env::temp_dir().join(format!("reel-herd-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes");
        std::fs::write(&path, "a:1\n").unwrap();
        let discovery = FileDiscovery::new(&path);
        assert_eq!(discovery.discover().await.unwrap().len(), 1);
        std::fs::write(&path, "a:1\nb:2 # second\n").unwrap();
        assert_eq!(discovery.discover().await.unwrap().len(), 2);
        std::fs::write(&path, "a:1\nnot a node at all\n").unwrap();
        assert!(matches!(
            discovery.discover().await,
            Err(DiscoveryError::Node(_))
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            discovery.discover().await,
            Err(DiscoveryError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
