//! ElastiCache memcached auto-discovery through the cluster's configuration endpoint.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{BoxFuture, Discovery, DiscoveryError};
use crate::node::Node;

/// Largest configuration reply accepted; a real one is a few kilobytes.
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Asks an ElastiCache (memcached) configuration endpoint for the cluster's nodes.
///
/// Each poll connects, sends `version` and then `config get cluster` (engines from 1.4.14 on)
/// or `get AmazonElastiCache:cluster` (older engines), reads the whole reply up to `END`, and
/// parses the `hostname|ip|port` entries. When the configuration version has not changed
/// since the last poll, the previous list is returned without parsing the entries again.
///
/// Nodes are named by host name (what other ElastiCache clients hash on, so ketama placement
/// agrees with them); when an entry has no host name its IP address is used.
#[derive(Debug)]
pub struct ElastiCacheDiscovery {
    endpoint: String,
    connect_timeout: Duration,
    prefer_ip: bool,
    last: Mutex<Option<(u64, Vec<Node>)>>,
}

impl ElastiCacheDiscovery {
    /// Discovers through `endpoint` (`host:port` of the configuration endpoint).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(2),
            prefer_ip: false,
            last: Mutex::new(None),
        }
    }

    /// Name nodes by IP address instead of host name (default: host name).
    #[must_use]
    pub fn prefer_ip(mut self, prefer_ip: bool) -> Self {
        self.prefer_ip = prefer_ip;
        self
    }

    /// Time allowed to connect to the endpoint (default 2 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The configuration version of the last list read, if any.
    pub fn config_version(&self) -> Option<u64> {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(version, _)| *version)
    }

    async fn fetch(&self) -> Result<Vec<Node>, DiscoveryError> {
        let io_error = |error| DiscoveryError::Io {
            source_name: self.endpoint.clone(),
            error,
        };
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.endpoint))
            .await
            .map_err(|_| DiscoveryError::Timeout(self.connect_timeout))?
            .map_err(io_error)?;
        let mut stream = BufReader::new(stream);
        stream.write_all(b"version\r\n").await.map_err(io_error)?;
        let line = self.read_line(&mut stream).await?;
        let version = line
            .strip_prefix("VERSION ")
            .ok_or_else(|| self.garbage(format!("expected `VERSION x.y.z`, got `{line}`")))?;
        let (command, header_word) = if supports_config_command(version) {
            ("config get cluster\r\n", "CONFIG")
        } else {
            ("get AmazonElastiCache:cluster\r\n", "VALUE")
        };
        stream
            .write_all(command.as_bytes())
            .await
            .map_err(io_error)?;
        let header = self.read_line(&mut stream).await?;
        // `CONFIG cluster 0 <bytes>` or `VALUE AmazonElastiCache:cluster 0 <bytes>`.
        let mut words = header.split(' ');
        if words.next() != Some(header_word) {
            return Err(self.garbage(format!("expected a `{header_word}` reply, got `{header}`")));
        }
        let length: usize = words
            .nth(2)
            .and_then(|length| length.parse().ok())
            .filter(|length| *length <= MAX_CONFIG_BYTES)
            .ok_or_else(|| self.garbage(format!("bad length in `{header}`")))?;
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.map_err(io_error)?;
        // The body is followed by `\r\n` and `END\r\n`; read lines until END, however the
        // reply was split into packets.
        loop {
            let line = self.read_line(&mut stream).await?;
            if line == "END" {
                break;
            }
            if !line.is_empty() {
                return Err(self.garbage(format!("expected END, got `{line}`")));
            }
        }
        let body =
            String::from_utf8(body).map_err(|_| self.garbage("reply is not UTF-8".into()))?;
        self.parse_body(&body)
    }

    fn parse_body(&self, body: &str) -> Result<Vec<Node>, DiscoveryError> {
        let mut lines = body.lines();
        let config_version: u64 = lines
            .next()
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| self.garbage("the first line is not a configuration version".into()))?;
        {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((version, nodes)) = last.as_ref()
                && *version == config_version
            {
                tracing::trace!(config_version, "ElastiCache configuration unchanged");
                return Ok(nodes.clone());
            }
        }
        let entries = lines.next().unwrap_or("");
        let mut nodes = Vec::new();
        for entry in entries.split_whitespace() {
            let mut parts = entry.split('|');
            let (Some(hostname), Some(ip), Some(port), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(self.garbage(format!("entry `{entry}` is not hostname|ip|port")));
            };
            let port: u16 = port
                .parse()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| self.garbage(format!("entry `{entry}` has a bad port")))?;
            let host = match (self.prefer_ip, hostname.is_empty(), ip.is_empty()) {
                (_, true, true) => {
                    return Err(self.garbage(format!("entry `{entry}` has neither host nor IP")));
                }
                (true, _, false) | (_, true, false) => ip,
                _ => hostname,
            };
            nodes.push(Node::new(host, port));
        }
        tracing::debug!(config_version, nodes = nodes.len(), endpoint = %self.endpoint, "ElastiCache configuration read");
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((config_version, nodes.clone()));
        Ok(nodes)
    }

    async fn read_line(&self, stream: &mut BufReader<TcpStream>) -> Result<String, DiscoveryError> {
        let mut line = Vec::new();
        let read = (&mut *stream)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|error| DiscoveryError::Io {
                source_name: self.endpoint.clone(),
                error,
            })?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Err(self.garbage("the connection closed in the middle of a reply".into()));
        }
        let line =
            String::from_utf8(line).map_err(|_| self.garbage("reply is not UTF-8".into()))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn garbage(&self, detail: String) -> DiscoveryError {
        DiscoveryError::Protocol {
            source_name: self.endpoint.clone(),
            detail,
        }
    }
}

/// `config get cluster` exists from engine 1.4.14 on.
fn supports_config_command(version: &str) -> bool {
    let mut parts = version
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let triple = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    triple >= (1, 4, 14)
}

impl Discovery for ElastiCacheDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        Box::pin(self.fetch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_picks_the_command() {
        assert!(supports_config_command("1.6.12"));
        assert!(supports_config_command("1.4.14"));
        assert!(!supports_config_command("1.4.5"));
        assert!(!supports_config_command("1.4"));
    }

    #[test]
    fn body_parsing_uses_host_names_and_skips_unchanged_versions() {
        let discovery = ElastiCacheDiscovery::new("cfg:11211");
        let nodes = discovery
            .parse_body("12\na.cache|10.0.0.1|11211 b.cache|10.0.0.2|11211 |10.0.0.3|11212\n\r\n")
            .unwrap();
        let names: Vec<String> = nodes.iter().map(Node::address).collect();
        assert_eq!(names, ["a.cache:11211", "b.cache:11211", "10.0.0.3:11212"]);
        // Same version: the cached list is returned even if the entries differ.
        let again = discovery.parse_body("12\nx|1.1.1.1|1\n").unwrap();
        assert_eq!(again, nodes);
        assert_eq!(discovery.config_version(), Some(12));
        assert!(discovery.parse_body("13\nbroken-entry\n").is_err());
        assert!(discovery.parse_body("not-a-version\n").is_err());
    }
}
