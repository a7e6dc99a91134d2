//! Cache nodes (`host:port` with a weight) and the immutable, versioned topology they form.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The memcached port; libmemcached leaves it out of a node's ketama name.
pub const MEMCACHED_DEFAULT_PORT: u16 = 11211;

/// One cache server: where it listens and how much of the key space it should own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    host: String,
    port: u16,
    weight: u32,
}

impl Node {
    /// A node with weight 1.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            weight: 1,
        }
    }

    /// The same node with another weight (0 is read as 1, as libmemcached does).
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }

    /// Host name or IP address, as given (no brackets around IPv6 addresses).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Relative share of the key space (at least 1).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// `host:port` (`[v6]:port` for IPv6), the form to connect to and to print.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parses `host:port[:weight]` (IPv6 as `[addr]:port[:weight]`).
    pub fn parse(input: &str) -> Result<Self, ParseNodeError> {
        let text = input.trim();
        let error = |reason: &'static str| ParseNodeError {
            input: input.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(error("empty entry; expected host:port[:weight]"));
        }
        let (host, rest) = if let Some(after) = text.strip_prefix('[') {
            let (host, rest) = after
                .split_once(']')
                .ok_or_else(|| error("missing `]` after an IPv6 address"))?;
            let rest = rest
                .strip_prefix(':')
                .ok_or_else(|| error("missing `:port` after `[address]`"))?;
            (host, rest)
        } else {
            text.split_once(':')
                .ok_or_else(|| error("missing `:port`; expected host:port[:weight]"))?
        };
        if host.is_empty() {
            return Err(error("empty host; expected host:port[:weight]"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error("host contains whitespace or control characters"));
        }
        let (port, weight) = match rest.split_once(':') {
            Some((port, weight)) => (port, Some(weight)),
            None => (rest, None),
        };
        let port: u16 = port
            .parse()
            .map_err(|_| error("port is not a number between 1 and 65535"))?;
        if port == 0 {
            return Err(error("port is not a number between 1 and 65535"));
        }
        let weight = match weight {
            None => 1,
            Some(weight) => match weight.parse::<u32>() {
                Ok(0) | Err(_) => return Err(error("weight is not a whole number of at least 1")),
                Ok(weight) => weight,
            },
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            weight,
        })
    }

    /// Parses a list of nodes separated by commas, whitespace or newlines; `#` starts a
    /// comment that runs to the end of the line.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, ParseNodeError> {
        input
            .lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .flat_map(|line| line.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|entry| !entry.is_empty())
            .map(Self::parse)
            .collect()
    }

    /// The name libmemcached hashes for this node's points on the ketama continuum:
    /// `host` when the port is 11211, `host:port` otherwise.
    pub fn ketama_name(&self) -> String {
        if self.port == MEMCACHED_DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether two nodes are the same server (weights aside).
    pub fn same_server(&self, other: &Self) -> bool {
        self.host == other.host && self.port == other.port
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address())
    }
}

impl FromStr for Node {
    type Err = ParseNodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A node entry that is not `host:port[:weight]`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid node `{input}`: {reason}")]
pub struct ParseNodeError {
    input: String,
    reason: &'static str,
}

impl ParseNodeError {
    /// The entry as written.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        self.reason
    }
}

/// An immutable list of nodes with a version that grows with every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    version: u64,
    nodes: Arc<[Node]>,
}

impl Topology {
    /// A topology at `version`. Duplicate servers keep their first entry.
    pub fn new(version: u64, nodes: impl IntoIterator<Item = Node>) -> Self {
        let mut unique: Vec<Node> = Vec::new();
        for node in nodes {
            if !unique.iter().any(|seen| seen.same_server(&node)) {
                unique.push(node);
            }
        }
        Self {
            version,
            nodes: unique.into(),
        }
    }

    /// Starts at 0 for the first topology and grows by one per change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The nodes, in discovery order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `nodes` lists the same servers with the same weights, in any order. Duplicate
    /// servers in `nodes` count by their first entry, as in [`Topology::new`].
    pub fn same_nodes(&self, nodes: &[Node]) -> bool {
        let mut theirs: Vec<&Node> = Vec::with_capacity(nodes.len());
        for node in nodes {
            if !theirs.iter().any(|seen| seen.same_server(node)) {
                theirs.push(node);
            }
        }
        let mut mine: Vec<&Node> = self.nodes.iter().collect();
        mine.sort();
        theirs.sort();
        mine == theirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_weight() {
        let node = Node::parse("cache-1.internal:11211:3").unwrap();
        assert_eq!(
            (node.host(), node.port(), node.weight()),
            ("cache-1.internal", 11211, 3)
        );
        let node: Node = "10.0.0.1:11212".parse().unwrap();
        assert_eq!(node.weight(), 1);
        assert_eq!(node.ketama_name(), "10.0.0.1:11212");
        let node = Node::parse("[::1]:11211:2").unwrap();
        assert_eq!((node.host(), node.port(), node.weight()), ("::1", 11211, 2));
        assert_eq!(node.address(), "[::1]:11211");
        assert_eq!(node.ketama_name(), "::1");
    }

    #[test]
    fn rejects_bad_entries_with_a_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("host", "missing `:port`"),
            (":11211", "empty host"),
            ("host:port", "port"),
            ("host:0", "port"),
            ("host:70000", "port"),
            ("host:11211:0", "weight"),
            ("host:11211:x", "weight"),
            ("host:11211:1:2", "weight"),
            ("[::1:11211", "`]`"),
        ] {
            let error = Node::parse(input).unwrap_err();
            assert!(error.to_string().contains(reason), "{input}: {error}");
        }
    }

    #[test]
    fn parses_lists_with_comments() {
        let nodes = Node::parse_list("a:1, b:2:5\n# comment\n c:3 # trailing\n").unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[1].weight(), 5);
        assert!(Node::parse_list("a:1,b").is_err());
    }

    #[test]
    fn topology_compares_sets_and_drops_duplicates() {
        let topology = Topology::new(1, Node::parse_list("a:1,b:2,a:1").unwrap());
        assert_eq!(topology.len(), 2);
        assert!(topology.same_nodes(&Node::parse_list("b:2,a:1").unwrap()));
        assert!(!topology.same_nodes(&Node::parse_list("b:2:2,a:1").unwrap()));
        assert!(!topology.same_nodes(&Node::parse_list("a:1").unwrap()));
    }

    #[test]
    fn a_duplicate_with_two_weights_is_not_a_change() {
        // Whichever weight sorts first, the first entry is the one kept.
        for list in ["a:1:5,b:2,a:1:1", "a:1:1,b:2,a:1:5"] {
            let nodes = Node::parse_list(list).unwrap();
            let topology = Topology::new(1, nodes.clone());
            assert!(topology.same_nodes(&nodes), "{list}");
        }
    }
}
