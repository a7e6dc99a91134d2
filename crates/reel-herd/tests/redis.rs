//! The redis backend against real redis-server processes.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

use std::time::Duration;

use common::{Answer, SwitchDiscovery, node};
use reel_herd::{ClusterBuilder, ClusterEvent, Error, RedisCluster, StaticDiscovery};
use reel_testkit::Redis;

async fn direct_get(url: &str, key: &str) -> Option<String> {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_scripts_and_multi_key_helpers_run_on_the_owning_node() {
    let servers = Redis::cluster(3).unwrap();
    let list: Vec<String> = servers.iter().map(Redis::host_port).collect();
    let cache: RedisCluster = ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
        .build_redis()
        .await
        .unwrap();

    for i in 0..20 {
        let key = format!("user:{i}");
        let () = cache
            .query(&key, redis::cmd("SET").arg(&key).arg(i))
            .await
            .unwrap();
        let owner = cache.node_for(&key).unwrap().address();
        for server in &servers {
            let expected = (server.host_port() == owner).then(|| i.to_string());
            assert_eq!(direct_get(&server.url(), &key).await, expected, "{key}");
        }
    }
    let value: Option<i64> = cache
        .query("user:7", redis::cmd("GET").arg("user:7"))
        .await
        .unwrap();
    assert_eq!(value, Some(7));

    let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let first: i64 = cache
        .invoke_script("hits", script.key("hits").arg(3))
        .await
        .unwrap();
    let second: i64 = cache
        .invoke_script("hits", script.key("hits").arg(4))
        .await
        .unwrap();
    assert_eq!((first, second), (3, 7));
    let owner = cache.node_for("hits").unwrap().address();
    let owner_url = servers
        .iter()
        .find(|s| s.host_port() == owner)
        .unwrap()
        .url();
    assert_eq!(direct_get(&owner_url, "hits").await.as_deref(), Some("7"));

    // A server-side error is reported, and it does not count against the node.
    let error = cache
        .query::<i64>("user:1", redis::cmd("INCR").arg("user:1").arg("extra"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Redis { .. }) && !error.is_node_failure(),
        "{error}"
    );

    let pairs: Vec<(String, String)> = (0..50)
        .map(|i| (format!("m:{i}"), format!("v{i}")))
        .collect();
    assert!(cache.mset(&pairs).await.unwrap().is_empty());
    let mut keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    keys.push("m:missing".to_owned());
    let got = cache.mget(&keys).await.unwrap();
    assert!(got.failed.is_empty());
    for (i, value) in got.values.iter().take(50).enumerate() {
        assert_eq!(value.as_deref(), Some(format!("v{i}").as_bytes()));
    }
    assert_eq!(got.values[50], None);
    let (removed, failed) = cache.del(&keys).await.unwrap();
    assert_eq!((removed, failed.len()), (50, 0));
    let stats = cache.stats();
    assert!(
        stats.nodes.iter().all(|n| n.requests > 0 && n.errors == 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_nodes_join_fail_are_ejected_and_return() {
    let mut servers = Redis::cluster(3).unwrap();
    let nodes: Vec<_> = servers.iter().map(|s| node(&s.host_port())).collect();
    let discovery = SwitchDiscovery::new(nodes[..2].to_vec());
    let cache = ClusterBuilder::new(discovery.clone())
        .poll_interval(Duration::from_millis(100))
        .failure_limit(2)
        .ejection_cooldown(Duration::from_millis(200))
        .probe_interval(Duration::from_millis(100))
        .command_timeout(Duration::from_millis(500))
        .build_redis()
        .await
        .unwrap();
    let mut events = cache.events();
    let keys: Vec<String> = (0..60).map(|i| format!("r{i}")).collect();
    let set = |key: String| {
        let cache = cache.clone();
        async move {
            cache
                .query::<()>(&key, redis::cmd("SET").arg(&key).arg("v"))
                .await
        }
    };
    for key in &keys {
        set(key.clone()).await.unwrap();
    }

    // Scale out to three nodes.
    discovery.set(Answer::Nodes(nodes.clone()));
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&event, ClusterEvent::TopologyChanged { added, .. } if added == &nodes[2..].to_vec()),
        "{event:?}"
    );
    for key in &keys {
        set(key.clone()).await.unwrap();
    }
    assert!(keys.iter().any(|k| cache.node_for(k).unwrap() == nodes[2]));

    // Kill the new node: only its keys fail until it is ejected, then all succeed.
    let victim = nodes[2].clone();
    servers[2].kill();
    for key in &keys {
        let owner = cache.node_for(key).unwrap();
        let result = set(key.clone()).await;
        if owner != victim {
            result.unwrap();
        }
    }
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&event, ClusterEvent::NodeDown { node, .. } if *node == victim),
        "{event:?}"
    );
    for key in &keys {
        set(key.clone()).await.unwrap();
    }
    servers[2].restart().unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&event, ClusterEvent::NodeUp { node } if *node == victim),
        "{event:?}"
    );
    for key in &keys {
        set(key.clone()).await.unwrap();
    }
    let stats = cache.stats();
    let victim_stats = stats.nodes.iter().find(|n| n.node == victim).unwrap();
    assert_eq!(victim_stats.ejections, 1);
    assert!(!victim_stats.ejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_authenticate_as_an_acl_user_and_select_the_database() {
    use reel_core::SecretSource;
    use reel_herd::RedisSettings;

    let server = Redis::start().unwrap();
    let url = server.url();
    {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut admin = client.get_multiplexed_async_connection().await.unwrap();
        let () = redis::cmd("ACL")
            .arg(&["SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all"][..])
            .query_async(&mut admin)
            .await
            .unwrap();
        // Nobody gets in without credentials any more.
        let () = redis::cmd("ACL")
            .arg(&["SETUSER", "default", "off"][..])
            .query_async(&mut admin)
            .await
            .unwrap();
    }
    let discovery = StaticDiscovery::parse(&server.host_port()).unwrap();
    let cache = ClusterBuilder::new(discovery)
        .build_redis_with(
            RedisSettings::new()
                .username(SecretSource::literal("app"))
                .password(SecretSource::literal("s3cret"))
                .database(3),
        )
        .await
        .unwrap();
    let () = cache
        .query("acl:key", redis::cmd("SET").arg("acl:key").arg("in-db-3"))
        .await
        .unwrap();
    let authed = format!("redis://app:s3cret@{}/3", server.host_port());
    assert_eq!(
        direct_get(&authed, "acl:key").await.as_deref(),
        Some("in-db-3")
    );
    let db0 = format!("redis://app:s3cret@{}/0", server.host_port());
    assert_eq!(direct_get(&db0, "acl:key").await, None);

    // Without credentials the same cluster is refused, and says so.
    let anonymous = ClusterBuilder::new(StaticDiscovery::parse(&server.host_port()).unwrap())
        .build_redis()
        .await
        .unwrap();
    let refused: Result<(), Error> = anonymous
        .query("acl:key", redis::cmd("GET").arg("acl:key"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
}
