//! Placement of reel's ketama ring compared with libmemcached's own, key by key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use reel_bench_ffi::libmemcached::KetamaHandle;
use reel_herd::{Ketama, Node, Router};

fn compare(servers: &str, keys: usize) {
    let nodes = Node::parse_list(servers).unwrap();
    let mut reference = KetamaHandle::new(true).unwrap();
    for node in &nodes {
        reference
            .add_server(node.host(), node.port(), node.weight())
            .unwrap();
    }
    let ring = Ketama.build(&nodes);
    let mut mismatches = Vec::new();
    for i in 0..keys {
        // A mix of key shapes: short, long, binary-ish, typical cache keys.
        let key = match i % 4 {
            0 => format!("user:{i}"),
            1 => format!("session/{:x}", i.wrapping_mul(2_654_435_761)),
            2 => format!("{i}"),
            _ => format!("feed:{i}:page:{}:{}", i % 7, "x".repeat(i % 50)),
        };
        let ours = ring.locate(key.as_bytes()).unwrap();
        let theirs = reference.server_index(key.as_bytes()).unwrap() as usize;
        if ours != theirs {
            mismatches.push((key, ours, theirs));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{servers}: {} of {keys} keys differ, first: {:?}",
        mismatches.len(),
        mismatches.first()
    );
}

#[test]
fn equal_weights_on_the_default_port_match_libmemcached() {
    compare("10.0.0.1:11211,10.0.0.2:11211,10.0.0.3:11211", 5_000);
}

#[test]
fn other_ports_and_host_names_match_libmemcached() {
    compare(
        "cache-a.internal:11211,cache-b.internal:11212,127.0.0.1:22122,cache-d:11211",
        5_000,
    );
}

#[test]
fn weighted_servers_match_libmemcached() {
    compare("10.0.0.1:11211:1,10.0.0.2:11211:2,10.0.0.3:11211:5", 5_000);
    compare("a:11211:3,b:11211:3,c:11211:1,d:11211:7,e:11300:2", 5_000);
}

#[test]
fn single_and_many_servers_match_libmemcached() {
    compare("only:11211", 1_000);
    let many: Vec<String> = (0..37)
        .map(|i| format!("10.1.{}.{}:{}:{}", i / 10, i, 11211 + (i % 3), 1 + i % 4))
        .collect();
    compare(&many.join(","), 5_000);
}
