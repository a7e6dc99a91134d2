//! The key prefix (namespace) on real memcached and redis servers: applied once, counted in
//! memcached's 250-byte limit, never applied twice, and given back without it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

mod common;

#[cfg(feature = "memcache")]
mod memcache {
    use std::time::Duration;

    use reel_herd::{ClusterBuilder, Error, MemcacheCluster, MetaWrite, StaticDiscovery};
    use reel_testkit::Memcached;

    use crate::common::raw;

    async fn cluster(servers: &[Memcached], prefix: &str) -> MemcacheCluster {
        let list: Vec<String> = servers.iter().map(Memcached::host_port).collect();
        ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
            .key_prefix(prefix)
            .build_memcache()
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_command_sends_the_prefix_once() {
        let servers = Memcached::cluster(2).unwrap();
        let cache = cluster(&servers, "billing:").await;
        let plain = cluster(&servers, "").await;
        let ttl = Duration::from_secs(60);

        for i in 0..10 {
            let key = format!("user:{i}");
            cache.set(&key, b"v", ttl).await.unwrap();
            // Placed by the key without the prefix (libmemcached's namespace rule).
            let owner = cache.node_for(&key).unwrap();
            assert_eq!(Some(&owner), plain.node_for(&key).as_ref());
            let owner = owner.address();
            assert_eq!(
                raw(&owner, &format!("get billing:{key}\r\n")),
                "VALUE billing:user:".to_owned() + &i.to_string() + " 0 1\r\nv\r\nEND\r\n"
            );
            assert_eq!(raw(&owner, &format!("get {key}\r\n")), "END\r\n");
            assert_eq!(
                raw(&owner, &format!("get billing:billing:{key}\r\n")),
                "END\r\n"
            );
            // The same key without the prefix is another item.
            assert_eq!(plain.get(&key).await.unwrap(), None);
            assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(&b"v"[..]));
        }

        // Multi-get gives keys back as asked.
        let keys: Vec<String> = (0..12).map(|i| format!("user:{i}")).collect();
        let found = cache.get_multi(&keys).await.unwrap();
        let mut names: Vec<&String> = found.found.keys().collect();
        names.sort();
        assert_eq!(names.len(), 10);
        assert!(names.iter().all(|k| k.starts_with("user:")), "{names:?}");

        // Read-modify-write paths (meta and classic) use the prefixed key once.
        let MetaWrite::Stored(token) = cache.meta_add("counter", b"1", ttl).await.unwrap() else {
            panic!("meta_add on a fresh key stores");
        };
        let (value, read_token) = cache.meta_get("counter").await.unwrap().unwrap();
        assert_eq!((value.as_slice(), read_token), (&b"1"[..], token));
        assert!(matches!(
            cache.meta_cas("counter", b"2", ttl, token).await.unwrap(),
            MetaWrite::Stored(_)
        ));
        let owner = cache.node_for("counter").unwrap().address();
        assert!(raw(&owner, "get billing:counter\r\n").contains("\r\n2\r\n"));
        cache.set("n", b"5", ttl).await.unwrap();
        assert_eq!(cache.incr("n", 2).await.unwrap(), Some(7));
        assert!(cache.touch("n", ttl).await.unwrap());
        assert!(cache.delete("n").await.unwrap());
        assert_eq!(plain.get("n").await.unwrap(), None);

        // The prefix counts towards the 250-byte limit, checked before anything is sent.
        let longest = "k".repeat(250 - "billing:".len());
        cache.set(&longest, b"v", ttl).await.unwrap();
        assert_eq!(
            cache.get(&longest).await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        let too_long = "k".repeat(250 - "billing:".len() + 1);
        let error = cache.set(&too_long, b"v", ttl).await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidKey { reason, .. } if reason.contains("prefix")),
            "{error}"
        );
        assert!(matches!(
            cache.get_multi(&[too_long.as_str()]).await,
            Err(Error::InvalidKey { .. })
        ));
    }

    #[tokio::test]
    async fn a_prefix_memcached_cannot_take_is_refused_at_build() {
        let server = Memcached::start().unwrap();
        for prefix in ["has space:", "tab\t", &"p".repeat(250)] {
            let error = ClusterBuilder::new(StaticDiscovery::parse(&server.host_port()).unwrap())
                .key_prefix(prefix)
                .build_memcache()
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("key prefix"),
                "{prefix:?}: {error}"
            );
        }
    }
}

#[cfg(feature = "redis")]
mod redis_prefix {
    use reel_herd::{ClusterBuilder, RedisCluster, StaticDiscovery};
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
    async fn multi_key_helpers_and_key_apply_the_prefix_once() {
        let servers = Redis::cluster(2).unwrap();
        let list: Vec<String> = servers.iter().map(Redis::host_port).collect();
        let cache: RedisCluster =
            ClusterBuilder::new(StaticDiscovery::parse(&list.join(",")).unwrap())
                .key_prefix("app:")
                .build_redis()
                .await
                .unwrap();
        let pairs: Vec<(String, String)> = (0..10)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect();
        assert!(cache.mset(&pairs).await.unwrap().is_empty());
        for (key, value) in &pairs {
            let owner = cache.node_for(key).unwrap().address();
            let url = format!("redis://{owner}/");
            assert_eq!(
                direct_get(&url, &format!("app:{key}")).await.as_ref(),
                Some(value)
            );
            assert_eq!(direct_get(&url, key).await, None);
            assert_eq!(direct_get(&url, &format!("app:app:{key}")).await, None);
        }
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let read = cache.mget(&keys).await.unwrap();
        assert!(read.failed.is_empty());
        for (value, (_, expected)) in read.values.iter().zip(&pairs) {
            assert_eq!(value.as_deref(), Some(expected.as_bytes()));
        }
        // Own commands: `key` gives the name on the server, routing takes the bare key.
        assert_eq!(cache.key("k1"), b"app:k1");
        let value: Option<String> = cache
            .query("k1", redis::cmd("GET").arg(cache.key("k1")))
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some("v1"));
        let (removed, failed) = cache.del(&keys).await.unwrap();
        assert_eq!((removed, failed.len()), (10, 0));
    }
}
