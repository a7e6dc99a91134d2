//! Redis Cluster against a real six-process cluster (three masters, three replicas) started by
//! reel-testkit; a master is killed mid-run and its replica takes over.
#![cfg(feature = "redis-cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::time::{Duration, Instant};

use reel_herd::{Node, RedisClusterBuilder};
use reel_testkit::RedisCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_spread_workload_survives_a_master_failover() {
    let mut cluster = RedisCluster::start().unwrap();
    let seeds: Vec<Node> = cluster
        .host_ports()
        .iter()
        .map(|s| Node::parse(s).unwrap())
        .collect();
    let client = RedisClusterBuilder::new(seeds)
        .response_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();

    // Multi-key commands and scripts on hash-tagged keys run on one node.
    let _: () = client
        .query(
            redis::cmd("MSET")
                .arg("{user:42}:a")
                .arg("1")
                .arg("{user:42}:b")
                .arg("2"),
        )
        .await
        .unwrap();
    let both: Vec<String> = client
        .query(redis::cmd("MGET").arg("{user:42}:a").arg("{user:42}:b"))
        .await
        .unwrap();
    assert_eq!(both, ["1", "2"]);
    let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let total: i64 = client
        .invoke_script(script.key("{user:42}:a").arg(5))
        .await
        .unwrap();
    assert_eq!(total, 6);

    // The master of the slot of `spread:0` dies while the workload runs.
    let slot: u16 = client
        .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg("spread:0"))
        .await
        .unwrap();
    let victim = cluster.master_of_slot(slot).unwrap();
    let keys = 300;
    let rounds = 20;
    let mut errors: Vec<Instant> = Vec::new();
    let mut killed_at = None;
    let started = Instant::now();
    for round in 0..rounds {
        if round == 3 {
            assert!(cluster.kill(&victim), "{victim} was not running");
            killed_at = Some(Instant::now());
        }
        for i in 0..keys {
            let key = format!("spread:{i}");
            // Each write is retried until it lands (bounded), so the workload completes.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let outcome: Result<(), _> =
                    client.query(redis::cmd("SET").arg(&key).arg(round)).await;
                match outcome {
                    Ok(()) => break,
                    Err(_) if attempts < 200 => {
                        errors.push(Instant::now());
                        // Not a wait: a client backs off between retries; the errors' times
                        // measure the failover window.
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                    Err(error) => panic!("{key} never written: {error}"),
                }
            }
        }
    }
    let killed_at = killed_at.unwrap();
    // Every key holds the last round's value: nothing was lost after the failover.
    for i in 0..keys {
        let value: i64 = client
            .query(redis::cmd("GET").arg(format!("spread:{i}")))
            .await
            .unwrap();
        assert_eq!(value, rounds - 1);
    }
    let new_master = cluster.master_of_slot(slot).unwrap();
    assert_ne!(new_master, victim, "the replica was not promoted");
    // Errors only inside the failover window: none before the kill, none after the window.
    let window = Duration::from_secs(10);
    assert!(
        errors.iter().all(|&at| at >= killed_at),
        "errors before the kill"
    );
    let last = errors.iter().max().map(|&at| at.duration_since(killed_at));
    assert!(
        last.is_none_or(|last| last < window),
        "errors {last:?} after the kill (window {window:?})"
    );
    eprintln!(
        "redis cluster failover: {} failed attempts, last {:?} after the kill; workload {:?}",
        errors.len(),
        last,
        started.elapsed()
    );
}
