//! Helpers shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_herd::{BoxFuture, Discovery, DiscoveryError, Node};

pub(crate) mod fake_memcached;

/// What [`SwitchDiscovery`] answers next; the test flips it.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    Nodes(Vec<Node>),
    Empty,
    Error,
    Hang,
}

/// A discovery source the test controls (stands in for a registry that changes).
#[derive(Clone, Debug)]
pub(crate) struct SwitchDiscovery(Arc<Mutex<Answer>>);

impl SwitchDiscovery {
    pub(crate) fn new(nodes: Vec<Node>) -> Self {
        Self(Arc::new(Mutex::new(Answer::Nodes(nodes))))
    }

    pub(crate) fn set(&self, answer: Answer) {
        *self.0.lock().unwrap() = answer;
    }
}

impl Discovery for SwitchDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Node>, DiscoveryError>> {
        let answer = self.0.lock().unwrap().clone();
        Box::pin(async move {
            match answer {
                Answer::Nodes(nodes) => Ok(nodes),
                Answer::Empty => Ok(Vec::new()),
                Answer::Error => Err(DiscoveryError::Other("registry unavailable".into())),
                Answer::Hang => {
                    std::future::pending::<()>().await;
                    unreachable!()
                }
            }
        })
    }
}

pub(crate) fn node(host_port: &str) -> Node {
    Node::parse(host_port).unwrap()
}

/// Sends one raw command to a memcached and returns the reply up to `END`/a status line.
pub(crate) fn raw(address: &str, command: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.write_all(command.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        reply.push_str(&line);
        let trimmed = line.trim_end();
        let multi_line = reply.starts_with("VALUE") || reply.starts_with("STAT");
        if trimmed == "END" || !multi_line {
            break;
        }
    }
    reply
}

/// memcached's `stats` value `name` on `address`.
pub(crate) fn stat(address: &str, name: &str) -> u64 {
    let reply = raw(address, "stats\r\n");
    reply
        .lines()
        .find_map(|line| {
            let mut parts = line.split_whitespace();
            (parts.next() == Some("STAT") && parts.next() == Some(name))
                .then(|| parts.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no stat {name} in {reply}"))
}
