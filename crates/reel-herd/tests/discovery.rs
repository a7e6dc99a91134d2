//! Discovery sources against loopback servers speaking the real protocols.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reel_herd::{Discovery, DiscoveryError, ElastiCacheDiscovery};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A configuration endpoint: answers `version` and the cluster query of its engine version,
/// sending each reply in small pieces so a client that reads once gets half a list.
#[derive(Clone)]
struct ConfigEndpoint {
    engine: &'static str,
    config: Arc<Mutex<(u64, String)>>,
    commands: Arc<Mutex<Vec<String>>>,
}

impl ConfigEndpoint {
    async fn start(engine: &'static str, version: u64, entries: &str) -> (Self, String) {
        let endpoint = Self {
            engine,
            config: Arc::new(Mutex::new((version, entries.to_owned()))),
            commands: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = endpoint.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move { server.serve(stream).await });
            }
        });
        (endpoint, address)
    }

    fn set(&self, version: u64, entries: &str) {
        *self.config.lock().unwrap() = (version, entries.to_owned());
    }

    async fn serve(&self, stream: tokio::net::TcpStream) {
        let mut stream = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let command = line.trim_end().to_owned();
            self.commands.lock().unwrap().push(command.clone());
            let reply = match command.as_str() {
                "version" => format!("VERSION {}\r\n", self.engine),
                "config get cluster" | "get AmazonElastiCache:cluster" => {
                    let (version, entries) = self.config.lock().unwrap().clone();
                    let body = format!("{version}\n{entries}\n\r\n");
                    let header = if command.starts_with("config") {
                        format!("CONFIG cluster 0 {}\r\n", body.len())
                    } else {
                        format!("VALUE AmazonElastiCache:cluster 0 {}\r\n", body.len())
                    };
                    format!("{header}{body}\r\nEND\r\n")
                }
                _ => "ERROR\r\n".to_owned(),
            };
            for chunk in reply.as_bytes().chunks(7) {
                if stream.get_mut().write_all(chunk).await.is_err() {
                    return;
                }
                stream.get_mut().flush().await.ok();
                // Not a wait: the reply dribbles in 7-byte pieces, the case under test.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

#[tokio::test]
async fn elasticache_config_endpoint_is_read_to_the_end() {
    let (endpoint, address) = ConfigEndpoint::start(
        "1.6.12",
        3,
        "herd-0001.cache.amazonaws.com|10.0.0.1|11211 herd-0002.cache.amazonaws.com|10.0.0.2|11211",
    )
    .await;
    let discovery = ElastiCacheDiscovery::new(&address);
    let nodes = discovery.discover().await.unwrap();
    let names: Vec<String> = nodes.iter().map(|n| n.address()).collect();
    assert_eq!(
        names,
        [
            "herd-0001.cache.amazonaws.com:11211",
            "herd-0002.cache.amazonaws.com:11211"
        ]
    );
    assert_eq!(
        endpoint.commands.lock().unwrap().as_slice(),
        ["version", "config get cluster"]
    );

    // A new version with a third node is picked up.
    endpoint.set(4, "a|10.0.0.1|11211 b|10.0.0.2|11211 c|10.0.0.3|11212");
    assert_eq!(discovery.discover().await.unwrap().len(), 3);
    assert_eq!(discovery.config_version(), Some(4));
    // The same version is not parsed again (even if the entries were different).
    endpoint.set(4, "garbage-that-would-not-parse");
    assert_eq!(discovery.discover().await.unwrap().len(), 3);
    // A new version with garbage is an error; the caller keeps its last list.
    endpoint.set(5, "garbage-that-would-not-parse");
    assert!(matches!(
        discovery.discover().await,
        Err(DiscoveryError::Protocol { .. })
    ));

    let by_ip = ElastiCacheDiscovery::new(&address).prefer_ip(true);
    endpoint.set(6, "a|10.0.0.1|11211");
    assert_eq!(
        by_ip.discover().await.unwrap()[0].address(),
        "10.0.0.1:11211"
    );
}

#[tokio::test]
async fn old_engines_are_asked_with_get() {
    let (endpoint, address) = ConfigEndpoint::start("1.4.5", 1, "old|10.0.0.9|11211").await;
    let nodes = ElastiCacheDiscovery::new(&address)
        .discover()
        .await
        .unwrap();
    assert_eq!(nodes[0].address(), "old:11211");
    assert_eq!(
        endpoint.commands.lock().unwrap().as_slice(),
        ["version", "get AmazonElastiCache:cluster"]
    );
}

#[tokio::test]
async fn unreachable_or_rude_endpoints_are_errors() {
    let port = reel_testkit::free_port().unwrap();
    let refused = ElastiCacheDiscovery::new(format!("127.0.0.1:{port}"));
    assert!(matches!(
        refused.discover().await,
        Err(DiscoveryError::Io { .. })
    ));

    // A server that closes after half a reply.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream
                .write_all(b"VERSION 1.6.12\r\nCONFIG cluster 0 50\r\n1\nhalf")
                .await;
        }
    });
    let error = ElastiCacheDiscovery::new(address)
        .discover()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DiscoveryError::Io { .. } | DiscoveryError::Protocol { .. }
        ),
        "{error}"
    );
}

#[cfg(feature = "memcache")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memcache_cluster_follows_its_elasticache_endpoint() {
    use reel_herd::{ClusterBuilder, ClusterEvent};
    let servers = reel_testkit::Memcached::cluster(3).unwrap();
    let entry = |s: &reel_testkit::Memcached| format!("127.0.0.1|127.0.0.1|{}", s.port());
    let (endpoint, address) = ConfigEndpoint::start(
        "1.6.12",
        1,
        &format!("{} {}", entry(&servers[0]), entry(&servers[1])),
    )
    .await;
    let cache = ClusterBuilder::new(ElastiCacheDiscovery::new(address))
        .poll_interval(Duration::from_millis(100))
        .build_memcache()
        .await
        .unwrap();
    let mut events = cache.events();
    assert_eq!(cache.topology().len(), 2);
    cache.set("k", b"v", Duration::ZERO).await.unwrap();

    endpoint.set(2, &servers.iter().map(entry).collect::<Vec<_>>().join(" "));
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, ClusterEvent::TopologyChanged { version: 2, .. }),
        "{event:?}"
    );
    assert_eq!(cache.topology().len(), 3);
    for i in 0..30 {
        let key = format!("after-scale:{i}");
        cache.set(&key, b"x", Duration::ZERO).await.unwrap();
        assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(&b"x"[..]));
    }
}

#[cfg(feature = "memcache")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_discovery_poll_is_sent_with_its_typed_error() {
    use reel_herd::{ClusterBuilder, ClusterEvent, Error, FileDiscovery};
    let server = reel_testkit::Memcached::start().unwrap();
    let path = std::env::temp_dir().join(format!("reel-herd-nodes-{}", std::process::id()));
    std::fs::write(&path, format!("127.0.0.1:{}\n", server.port())).unwrap();
    let cache = ClusterBuilder::new(FileDiscovery::new(&path))
        .poll_interval(Duration::from_millis(50))
        .discovery_timeout(Duration::from_secs(2))
        .build_memcache()
        .await
        .unwrap();
    let mut events = cache.events();
    // Hostile content: not a node list.
    std::fs::write(&path, "not a node:port:weight\n\u{0}\n").unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap();
    let ClusterEvent::DiscoveryFailed { error } = &event else {
        panic!("expected DiscoveryFailed, got {event:?}");
    };
    assert!(
        matches!(**error, Error::Discovery(DiscoveryError::Node(_))),
        "{error:?}"
    );
    assert_eq!(cache.topology().len(), 1, "the last good topology stays");
    std::fs::remove_file(&path).unwrap();
}

#[cfg(feature = "dns")]
mod dns {
    use super::*;
    use reel_herd::DnsDiscovery;
    use std::net::Ipv4Addr;
    use tokio::net::UdpSocket;

    /// A tiny DNS server: answers A queries for any name with the current address list
    /// (TTL 0), SRV queries with one record per address, and AAAA with no records.
    async fn dns_server(addresses: Arc<Mutex<Vec<Ipv4Addr>>>) -> std::net::SocketAddr {
        zone_server(addresses, false, false).await
    }

    /// The same server; with `dual_stack` every name also has the AAAA record `::1`, with
    /// `srv_priorities` SRV record `i` has priority `i` (0 first, the rest backups).
    async fn zone_server(
        addresses: Arc<Mutex<Vec<Ipv4Addr>>>,
        dual_stack: bool,
        srv_priorities: bool,
    ) -> std::net::SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let query = &buf[..len];
                // Skip the 12-byte header and the question name to find its type.
                let mut pos = 12;
                while pos < len && query[pos] != 0 {
                    pos += 1 + query[pos] as usize;
                }
                let question_end = pos + 5;
                if question_end > len {
                    continue;
                }
                let qtype = u16::from_be_bytes([query[pos + 1], query[pos + 2]]);
                let list = addresses.lock().unwrap().clone();
                let mut answers = Vec::new();
                if qtype == 28 && dual_stack {
                    let mut record = vec![0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 0, 0, 16];
                    record.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
                    answers.push(record);
                }
                for (i, ip) in list.iter().enumerate() {
                    let mut record = vec![0xc0, 0x0c];
                    match qtype {
                        1 => {
                            record.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                            record.extend_from_slice(&ip.octets());
                        }
                        33 => {
                            // SRV: priority 0, weight 1, port 11211 + i, target = the query name.
                            record.extend_from_slice(&[0, 33, 0, 1, 0, 0, 0, 0]);
                            let target = &query[12..pos + 1];
                            let rdlength = (6 + target.len()) as u16;
                            record.extend_from_slice(&rdlength.to_be_bytes());
                            let priority = if srv_priorities { i as u16 } else { 0 };
                            record.extend_from_slice(&priority.to_be_bytes());
                            record.extend_from_slice(&[0, 1]);
                            record.extend_from_slice(&(11211 + i as u16).to_be_bytes());
                            record.extend_from_slice(target);
                        }
                        _ => continue,
                    }
                    answers.push(record);
                }
                let mut reply = Vec::new();
                reply.extend_from_slice(&query[..2]);
                reply.extend_from_slice(&[0x81, 0x80, 0, 1]);
                reply.extend_from_slice(&(answers.len() as u16).to_be_bytes());
                reply.extend_from_slice(&[0, 0, 0, 0]);
                reply.extend_from_slice(&query[12..question_end]);
                for answer in answers {
                    reply.extend_from_slice(&answer);
                }
                let _ = socket.send_to(&reply, peer).await;
            }
        });
        address
    }

    #[tokio::test]
    async fn a_records_become_nodes_and_changes_are_seen() {
        let addresses = Arc::new(Mutex::new(vec![
            Ipv4Addr::new(127, 0, 0, 2),
            Ipv4Addr::new(127, 0, 0, 1),
        ]));
        let server = dns_server(Arc::clone(&addresses)).await;
        let discovery = DnsDiscovery::a_with_server("cache.herd.test.", 11211, server);
        let nodes = discovery.discover().await.unwrap();
        let names: Vec<String> = nodes.iter().map(|n| n.address()).collect();
        assert_eq!(names, ["127.0.0.1:11211", "127.0.0.2:11211"]);

        addresses.lock().unwrap().push(Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(discovery.discover().await.unwrap().len(), 3);
        addresses.lock().unwrap().clear();
        assert!(discovery.discover().await.is_err());
    }

    #[tokio::test]
    async fn srv_records_give_targets_and_ports() {
        let addresses = Arc::new(Mutex::new(vec![
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 2),
        ]));
        let server = dns_server(addresses).await;
        let discovery = DnsDiscovery::srv_with_server("_memcache._tcp.herd.test.", server);
        let nodes = discovery.discover().await.unwrap();
        let names: Vec<String> = nodes.iter().map(|n| n.address()).collect();
        assert_eq!(
            names,
            [
                "_memcache._tcp.herd.test:11211",
                "_memcache._tcp.herd.test:11212"
            ]
        );
    }

    #[tokio::test]
    async fn a_dual_stack_name_is_one_node_per_server() {
        let addresses = Arc::new(Mutex::new(vec![Ipv4Addr::new(127, 0, 0, 1)]));
        let server = zone_server(addresses, true, false).await;
        let discovery = DnsDiscovery::a_with_server("cache.herd.test.", 11211, server);
        let nodes = discovery.discover().await.unwrap();
        let names: Vec<String> = nodes.iter().map(|n| n.address()).collect();
        assert_eq!(names, ["127.0.0.1:11211"]);
    }

    #[tokio::test]
    async fn srv_backup_records_take_no_traffic() {
        let addresses = Arc::new(Mutex::new(vec![
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(127, 0, 0, 2),
        ]));
        let server = zone_server(addresses, false, true).await;
        let discovery = DnsDiscovery::srv_with_server("_memcache._tcp.herd.test.", server);
        let nodes = discovery.discover().await.unwrap();
        let names: Vec<String> = nodes.iter().map(|n| n.address()).collect();
        assert_eq!(names, ["_memcache._tcp.herd.test:11211"]);
    }
}

#[cfg(feature = "memcache")]
mod topology_edges {
    use super::common::{Answer, SwitchDiscovery, node};
    use reel_core::Backoff;
    use reel_herd::{ClusterBuilder, Error};
    use std::time::Duration;

    #[tokio::test]
    async fn a_duplicate_entry_with_two_weights_is_not_a_change_on_every_poll() {
        let nodes = vec![
            node("127.0.0.1:11211:5"),
            node("127.0.0.2:11211"),
            node("127.0.0.1:11211:1"),
        ];
        let cache = ClusterBuilder::new(SwitchDiscovery::new(nodes))
            .poll_interval(Duration::from_secs(3600))
            .build_memcache()
            .await
            .unwrap();
        for _ in 0..3 {
            assert!(
                !cache.refresh().await.unwrap(),
                "the same list read as a change"
            );
        }
        assert_eq!(cache.stats().topology_changes, 1);
        assert_eq!(cache.topology().nodes()[0].weight(), 5);
    }

    #[tokio::test]
    async fn a_weight_only_change_shows_the_new_weight() {
        let discovery =
            SwitchDiscovery::new(vec![node("127.0.0.1:11211"), node("127.0.0.2:11211")]);
        let cache = ClusterBuilder::new(discovery.clone())
            .poll_interval(Duration::from_secs(3600))
            .build_memcache()
            .await
            .unwrap();
        discovery.set(Answer::Nodes(vec![
            node("127.0.0.1:11211:3"),
            node("127.0.0.2:11211"),
        ]));
        assert!(cache.refresh().await.unwrap());
        let stats = cache.stats();
        let reweighted = stats
            .nodes
            .iter()
            .find(|n| n.node.host() == "127.0.0.1")
            .unwrap();
        assert_eq!(reweighted.node.weight(), 3, "{stats:?}");
        // The ring follows the new weight: node_for answers with the node as it is now.
        let owners: Vec<_> = (0..200)
            .filter_map(|i| cache.node_for(format!("k{i}")))
            .filter(|n| n.host() == "127.0.0.1")
            .collect();
        assert!(owners.iter().all(|n| n.weight() == 3));
        assert!(
            owners.len() > 120,
            "weight 3 of 4 owns most keys: {}",
            owners.len()
        );
    }

    #[tokio::test]
    async fn a_discovery_backoff_without_a_retry_cap_still_returns() {
        let discovery = SwitchDiscovery::new(vec![node("127.0.0.1:11211")]);
        discovery.set(Answer::Error);
        let build = ClusterBuilder::new(discovery)
            .poll_interval(Duration::from_millis(500))
            .discovery_timeout(Duration::from_millis(50))
            .discovery_backoff(Backoff::new(
                Duration::from_millis(10),
                Duration::from_millis(20),
            ))
            .build_memcache();
        let outcome = tokio::time::timeout(Duration::from_secs(20), build)
            .await
            .expect("build_memcache() never returned with an uncapped backoff");
        assert!(matches!(outcome, Err(Error::Discovery(_))), "{outcome:?}");
    }
}
