//! The memcached backend against real memcached processes.
#![cfg(feature = "memcache")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Answer, SwitchDiscovery, node, raw, stat};
use reel_herd::{
    CasOutcome, ClusterBuilder, ClusterEvent, Error, MemcacheCluster, MetaWrite, StaticDiscovery,
    StoreOutcome,
};
use reel_testkit::{Memcached, eventually};

async fn cluster_over(servers: &[Memcached]) -> MemcacheCluster {
    let list: Vec<String> = servers.iter().map(Memcached::host_port).collect();
    ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .build_memcache()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_reports_what_the_server_answered() {
    let servers = Memcached::cluster(3).unwrap();
    let cache = cluster_over(&servers).await;
    let ttl = Duration::from_secs(60);

    // Writes land on the node the ring picks, checked with a raw connection to that node.
    for i in 0..30 {
        let key = format!("user:{i}");
        cache
            .set(&key, format!("v{i}").as_bytes(), ttl)
            .await
            .unwrap();
        let owner = cache.node_for(&key).unwrap().address();
        assert!(
            raw(&owner, &format!("get {key}\r\n")).contains(&format!("v{i}")),
            "{key} on {owner}"
        );
        for other in servers
            .iter()
            .map(Memcached::host_port)
            .filter(|a| *a != owner)
        {
            assert_eq!(raw(&other, &format!("get {key}\r\n")), "END\r\n");
        }
    }
    assert_eq!(
        cache.get("user:3").await.unwrap().as_deref(),
        Some(&b"v3"[..])
    );
    assert_eq!(cache.get("missing").await.unwrap(), None);

    assert_eq!(
        cache.add("fresh", b"1", ttl).await.unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(
        cache.add("fresh", b"2", ttl).await.unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(
        cache.replace("nobody", b"1", ttl).await.unwrap(),
        StoreOutcome::NotStored
    );
    assert_eq!(
        cache.replace("fresh", b"3", ttl).await.unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(
        cache.get("fresh").await.unwrap().as_deref(),
        Some(&b"3"[..])
    );

    assert_eq!(cache.incr("fresh", 5).await.unwrap(), Some(8));
    assert_eq!(cache.decr("fresh", 10).await.unwrap(), Some(0));
    assert_eq!(cache.incr("no-counter", 1).await.unwrap(), None);

    let (value, token) = cache.gets("fresh").await.unwrap().unwrap();
    assert_eq!(value, b"0");
    assert_eq!(
        cache.cas("fresh", b"a", ttl, token).await.unwrap(),
        CasOutcome::Stored
    );
    assert_eq!(
        cache.cas("fresh", b"b", ttl, token).await.unwrap(),
        CasOutcome::Exists
    );
    let (_, token) = cache.gets("fresh").await.unwrap().unwrap();
    assert!(cache.delete("fresh").await.unwrap());
    assert!(!cache.delete("fresh").await.unwrap());
    assert_eq!(
        cache.cas("fresh", b"c", ttl, token).await.unwrap(),
        CasOutcome::NotFound
    );
    assert_eq!(cache.gets("fresh").await.unwrap(), None);

    // An add with a TTL expires (memcached counts whole seconds).
    assert_eq!(
        cache
            .add("short", b"x", Duration::from_secs(1))
            .await
            .unwrap(),
        StoreOutcome::Stored
    );
    assert!(cache.touch("short", Duration::from_secs(1)).await.unwrap());
    assert!(!cache.touch("absent", ttl).await.unwrap());
    // Not a wait: the scenario is the 1 s TTL running out (memcached counts whole seconds).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(cache.get("short").await.unwrap(), None);
    assert_eq!(
        cache.add("short", b"y", ttl).await.unwrap(),
        StoreOutcome::Stored
    );

    // Server-side refusals are errors, not silent successes.
    let big = vec![b'x'; 2 * 1024 * 1024];
    let error = cache.set("big", &big, ttl).await.unwrap_err();
    assert!(error.to_string().contains("SERVER_ERROR"), "{error}");
    cache.set("after-big", b"ok", ttl).await.unwrap();
    assert_eq!(
        cache.get("after-big").await.unwrap().as_deref(),
        Some(&b"ok"[..])
    );
    assert!(matches!(
        cache.set("bad key", b"x", ttl).await,
        Err(reel_herd::Error::InvalidKey { .. })
    ));

    assert!(cache.flush_all().await.is_empty());
    assert_eq!(cache.get("user:3").await.unwrap(), None);
    let stats = cache.stats();
    assert_eq!(stats.nodes.len(), 3);
    assert!(stats.nodes.iter().all(|n| n.requests > 0 && n.errors == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_multi_groups_by_node_and_a_dead_node_fails_only_its_keys() {
    let mut servers = Memcached::cluster(4).unwrap();
    let cache = cluster_over(&servers).await;
    let keys: Vec<String> = (0..100).map(|i| format!("item:{i}")).collect();
    for key in &keys {
        cache
            .set(key, key.as_bytes(), Duration::ZERO)
            .await
            .unwrap();
    }
    let all = cache.get_multi(&keys).await.unwrap();
    assert_eq!(all.found.len(), 100);
    assert!(all.failed.is_empty());
    assert_eq!(all.found["item:42"], b"item:42");

    let dead = servers[2].host_port();
    servers[2].kill();
    let partial = cache.get_multi(&keys).await.unwrap();
    let dead_keys: HashSet<&String> = keys
        .iter()
        .filter(|k| cache.node_for(k.as_str()).unwrap().address() == dead)
        .collect();
    assert!(!dead_keys.is_empty());
    assert_eq!(partial.failed.len(), 1);
    assert_eq!(partial.failed[0].node.address(), dead);
    let failed: HashSet<&String> = partial.failed[0].keys.iter().collect();
    assert_eq!(failed, dead_keys);
    assert_eq!(partial.found.len(), 100 - dead_keys.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_ejected_traffic_continues_and_it_comes_back() {
    let mut servers = Memcached::cluster(3).unwrap();
    let list: Vec<String> = servers.iter().map(Memcached::host_port).collect();
    let cache = ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .failure_limit(3)
        .ejection_cooldown(Duration::from_millis(300))
        .probe_interval(Duration::from_millis(100))
        .read_retries(0)
        .build_memcache()
        .await
        .unwrap();
    let mut events = cache.events();
    let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    for key in &keys {
        cache.set(key, b"v", Duration::ZERO).await.unwrap();
    }
    // Several pooled connections per node, so stale ones would linger after the kill.
    let mut concurrent = tokio::task::JoinSet::new();
    for key in keys.clone() {
        let cache = cache.clone();
        concurrent.spawn(async move { cache.get(&key).await.unwrap() });
    }
    while let Some(done) = concurrent.join_next().await {
        assert!(done.unwrap().is_some());
    }
    let victim = servers[1].host_port();
    let victim_keys: Vec<&String> = keys
        .iter()
        .filter(|k| cache.node_for(k.as_str()).unwrap().address() == victim)
        .collect();
    assert!(victim_keys.len() >= 3);
    servers[1].kill();

    // Before ejection only the victim's keys fail.
    for key in &keys {
        let result = cache.get(key).await;
        let on_victim = victim_keys.contains(&key);
        if !on_victim {
            assert_eq!(result.unwrap().as_deref(), Some(&b"v"[..]), "{key}");
        } else if cache.stats().nodes.iter().all(|n| !n.ejected) {
            assert!(
                result.is_err(),
                "{key} should fail while its node is down and not ejected"
            );
        }
    }
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    // The event carries the typed error that ejected the node, not its text.
    assert!(
        matches!(&event, ClusterEvent::NodeDown { node, error }
            if node.address() == victim
                && error.is_node_failure()
                && error.node() == Some(node)),
        "{event:?}"
    );
    let stats = cache.stats();
    let victim_stats = stats
        .nodes
        .iter()
        .find(|n| n.node.address() == victim)
        .unwrap();
    assert!(victim_stats.ejected);
    assert_eq!(victim_stats.ejections, 1);
    assert_eq!(victim_stats.errors, 3);

    // Ejected: every key is served (the victim's keys moved to the others) without errors.
    for key in &keys {
        cache.set(key, b"w", Duration::ZERO).await.unwrap();
        assert_ne!(cache.node_for(key).unwrap().address(), victim);
    }
    // Still down: probes fail, it stays out. Not a wait: the 300 ms cool-down runs out and
    // several 100 ms probes fail, so a probe that wrongly restored the node would show.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        cache
            .stats()
            .nodes
            .iter()
            .find(|n| n.node.address() == victim)
            .unwrap()
            .ejected
    );

    servers[1].restart().unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&event, ClusterEvent::NodeUp { node } if node.address() == victim),
        "{event:?}"
    );
    for key in &victim_keys {
        assert_eq!(cache.node_for(key.as_str()).unwrap().address(), victim);
        cache.set(key, b"back", Duration::ZERO).await.unwrap();
    }
    assert!(raw(&victim, &format!("get {}\r\n", victim_keys[0])).contains("back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_out_and_back_under_load_needs_no_configuration_change() {
    let servers = Memcached::cluster(4).unwrap();
    let nodes: Vec<_> = servers.iter().map(|s| node(&s.host_port())).collect();
    let idle_connections = stat(&servers[3].host_port(), "curr_connections");
    let discovery = SwitchDiscovery::new(nodes[..2].to_vec());
    let cache = ClusterBuilder::new(discovery.clone())
        .poll_interval(Duration::from_millis(100))
        .build_memcache()
        .await
        .unwrap();
    let mut events = cache.events();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let cache = cache.clone();
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let (mut ops, mut errors) = (0u32, 0u32);
            // Bounded: stops when told to, or after 100,000 rounds whatever happens.
            for round in 0..100_000u32 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let key = format!("load:{}", round % 200);
                if let Err(e) = cache.set(&key, b"x", Duration::ZERO).await {
                    eprintln!("load: set failed: {e}");
                    errors += 1;
                }
                if let Err(e) = cache.get(&key).await {
                    eprintln!("load: get failed: {e}");
                    errors += 1;
                }
                ops += 2;
                if round % 50 == 0 {
                    // Not a wait: spaces the load so the topology changes interleave with it.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            (ops, errors)
        })
    };

    let first_requests = |cache: &MemcacheCluster| {
        cache
            .stats()
            .nodes
            .iter()
            .find(|n| n.node == nodes[0])
            .map(|n| n.requests)
            .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(10), async || first_requests(&cache) > 0).await,
        "the load never reached the first node"
    );
    let before = first_requests(&cache);
    discovery.set(Answer::Nodes(nodes.clone()));
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    match event {
        ClusterEvent::TopologyChanged { added, removed, .. } => {
            assert_eq!(added, nodes[2..].to_vec());
            assert!(removed.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(cache.topology().len(), 4);
    // The node that stayed kept its pool and counters.
    assert!(first_requests(&cache) >= before);
    let new_nodes_serve = |cache: &MemcacheCluster| {
        cache
            .stats()
            .nodes
            .iter()
            .filter(|n| nodes[2..].contains(&n.node))
            .all(|n| n.requests > 0)
    };
    assert!(
        eventually(Duration::from_secs(10), async || new_nodes_serve(&cache)).await,
        "{:?}",
        cache.stats()
    );

    discovery.set(Answer::Nodes(nodes[..2].to_vec()));
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&event, ClusterEvent::TopologyChanged { removed, .. } if removed == &nodes[2..].to_vec()),
        "{event:?}"
    );
    // The load goes on against the shrunk topology before it stops.
    let kept_requests = |cache: &MemcacheCluster| -> u64 {
        cache
            .stats()
            .nodes
            .iter()
            .filter(|n| nodes[..2].contains(&n.node))
            .map(|n| n.requests)
            .sum()
    };
    let after_removal = kept_requests(&cache);
    assert!(
        eventually(Duration::from_secs(10), async || {
            kept_requests(&cache) >= after_removal + 100
        })
        .await,
        "the load stalled after the nodes were removed"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ops, errors) = load.await.unwrap();
    assert!(ops > 100, "the load barely ran: {ops} operations");
    assert_eq!(errors, 0, "{errors} of {ops} operations failed");
    assert_eq!(cache.topology().len(), 2);
    assert_eq!(cache.stats().topology_changes, 3);
    // The removed nodes' pools were closed: memcached sees no client connection left.
    // Polled: each `stat` opens a connection of its own, and memcached may not have counted
    // the previous probe's close yet, so a second read right after a good one can see one more.
    for server in &servers[2..] {
        let mut seen = 0;
        let closed = eventually(Duration::from_secs(10), async || {
            seen = stat(&server.host_port(), "curr_connections");
            seen == idle_connections
        })
        .await;
        assert!(
            closed,
            "{}: {seen} connections, {idle_connections} expected with no client left",
            server.host_port()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_empty_or_hanging_discovery_changes_nothing() {
    let servers = Memcached::cluster(2).unwrap();
    let nodes: Vec<_> = servers.iter().map(|s| node(&s.host_port())).collect();
    let discovery = SwitchDiscovery::new(nodes.clone());
    let cache = ClusterBuilder::new(discovery.clone())
        .poll_interval(Duration::from_secs(3600))
        .discovery_timeout(Duration::from_millis(200))
        .discovery_backoff(
            reel_core::Backoff::new(Duration::from_millis(10), Duration::from_millis(20))
                .with_max_retries(1),
        )
        .build_memcache()
        .await
        .unwrap();
    cache.set("steady", b"1", Duration::ZERO).await.unwrap();
    let version = cache.topology().version();
    for answer in [Answer::Error, Answer::Empty, Answer::Hang] {
        discovery.set(answer.clone());
        assert!(cache.refresh().await.is_err(), "{answer:?}");
        assert_eq!(cache.topology().version(), version);
        assert_eq!(cache.topology().nodes(), &nodes[..]);
        assert_eq!(
            cache.get("steady").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
    }
    let stats = cache.stats();
    assert_eq!(stats.discovery_failures, 2);
    assert_eq!(stats.discovery_empty, 1);
    assert_eq!(stats.topology_changes, 1);
    // Unchanged answers do not bump the version either.
    discovery.set(Answer::Nodes(nodes.iter().rev().cloned().collect()));
    assert!(!cache.refresh().await.unwrap());
    assert_eq!(cache.topology().version(), version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_file_drives_the_cluster_and_a_broken_file_changes_nothing() {
    let servers = Memcached::cluster(3).unwrap();
    let dir = std::env::temp_dir().join(format!("reel-herd-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nodes");
    let write = |text: String| {
        let temporary = dir.join("nodes.tmp");
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
    };
    write(format!(
        "# cache nodes\n{}\n{}\n",
        servers[0].host_port(),
        servers[1].host_port()
    ));
    let cache = ClusterBuilder::new(reel_herd::FileDiscovery::new(&path))
        .poll_interval(Duration::from_secs(3600))
        .discovery_backoff(
            reel_core::Backoff::new(Duration::from_millis(5), Duration::from_millis(10))
                .with_max_retries(1),
        )
        .build_memcache()
        .await
        .unwrap();
    assert_eq!(cache.topology().len(), 2);
    write(format!(
        "{}\n{}\n{}:3\n",
        servers[0].host_port(),
        servers[1].host_port(),
        servers[2].host_port()
    ));
    assert!(cache.refresh().await.unwrap());
    assert_eq!(cache.topology().len(), 3);
    assert_eq!(cache.topology().nodes()[2].weight(), 3);
    let version = cache.topology().version();
    for broken in [
        "127.0.0.1:notaport\n".to_owned(),
        String::new(),
        "# nothing here\n".to_owned(),
    ] {
        write(broken.clone());
        assert!(cache.refresh().await.is_err(), "{broken:?}");
        assert_eq!(cache.topology().version(), version);
    }
    std::fs::remove_file(&path).unwrap();
    assert!(cache.refresh().await.is_err());
    assert_eq!(cache.topology().len(), 3);
    cache
        .set("still-works", b"1", Duration::ZERO)
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_node_times_out_and_is_ejected_but_a_busy_pool_is_not_held_against_it() {
    let server = Memcached::start().unwrap();
    // Accepts connections and never answers, like a frozen server.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_address = hung.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let cache = ClusterBuilder::new(
        StaticDiscovery::parse(&format!("{},{hung_address}", server.host_port())).unwrap(),
    )
    .pool_size(1)
    .command_timeout(Duration::from_millis(300))
    .failure_limit(3)
    .read_retries(0)
    .ejection_cooldown(Duration::from_secs(60))
    .build_memcache()
    .await
    .unwrap();
    let key = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|k| cache.node_for(k).unwrap().address() == hung_address)
        .unwrap();

    // Two at once on a one-connection pool: one times out on the node, the other gives up
    // waiting for the connection, and only the first counts against the node.
    let (first, second) = tokio::join!(cache.get(&key), cache.get(&key));
    let outcomes = [first.unwrap_err(), second.unwrap_err()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|e| matches!(e, Error::Timeout { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|e| matches!(e, Error::Pool { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
    let hung_stats = |cache: &MemcacheCluster| {
        cache
            .stats()
            .nodes
            .into_iter()
            .find(|n| n.node.address() == hung_address)
            .unwrap()
    };
    assert_eq!(hung_stats(&cache).errors, 1);
    assert!(!hung_stats(&cache).ejected);

    for _ in 0..2 {
        assert!(matches!(cache.get(&key).await, Err(Error::Timeout { .. })));
    }
    assert!(hung_stats(&cache).ejected);
    assert_eq!(cache.node_for(&key).unwrap().address(), server.host_port());
    assert_eq!(cache.get(&key).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_commands_return_cas_tokens_for_one_round_trip_updates() {
    let servers = Memcached::cluster(2).unwrap();
    let cache = cluster_over(&servers).await;
    let ttl = Duration::from_secs(60);

    assert_eq!(cache.meta_get("meta:k").await.unwrap(), None);
    let MetaWrite::Stored(first) = cache.meta_add("meta:k", b"one", ttl).await.unwrap() else {
        panic!("meta_add on a missing key must store");
    };
    assert_eq!(
        cache.meta_add("meta:k", b"two", ttl).await.unwrap(),
        MetaWrite::NotStored
    );
    // The token from the write is the token a read sees, and the classic `gets` agrees.
    let (value, token) = cache.meta_get("meta:k").await.unwrap().unwrap();
    assert_eq!((value.as_slice(), token), (&b"one"[..], first));
    assert_eq!(cache.gets("meta:k").await.unwrap().unwrap().1, first);

    // A chain of compare-and-swaps, each using the token the previous one returned.
    let mut token = first;
    for i in 0..5 {
        let value = format!("v{i}");
        match cache
            .meta_cas("meta:k", value.as_bytes(), ttl, token)
            .await
            .unwrap()
        {
            MetaWrite::Stored(next) => {
                assert_ne!(next, token);
                token = next;
            }
            other => panic!("cas {i}: {other:?}"),
        }
    }
    assert_eq!(
        cache.get("meta:k").await.unwrap().as_deref(),
        Some(&b"v4"[..])
    );
    // A stale token is refused and changes nothing; a missing key is reported as such.
    assert_eq!(
        cache
            .meta_cas("meta:k", b"stale", ttl, first)
            .await
            .unwrap(),
        MetaWrite::Exists
    );
    assert_eq!(
        cache.get("meta:k").await.unwrap().as_deref(),
        Some(&b"v4"[..])
    );
    assert_eq!(
        cache.meta_cas("meta:gone", b"x", ttl, token).await.unwrap(),
        MetaWrite::NotFound
    );
    // The TTL is sent: the owner reports it on a raw meta get.
    let owner = cache.node_for("meta:k").unwrap().address();
    let reply = raw(&owner, "mg meta:k t\r\n");
    assert!(reply.starts_with("HD t"), "{reply:?}");
    let left: u64 = reply.trim()[4..].parse().unwrap();
    assert!((58..=60).contains(&left), "{reply:?}");
    // Binary-safe values, including CRLF inside the data block.
    let MetaWrite::Stored(_) = cache.meta_add("meta:bin", b"a\r\nb\0c", ttl).await.unwrap() else {
        panic!("stored");
    };
    assert_eq!(
        cache.meta_get("meta:bin").await.unwrap().unwrap().0,
        b"a\r\nb\0c"
    );
    // Keys are checked like every other command's.
    assert!(matches!(
        cache.meta_get("bad key").await,
        Err(Error::InvalidKey { .. })
    ));
}
