//! How many keys move when the ring changes, measured with the real ketama ring on 100,000
//! keys (the figures in the ops guide, `docs/src/ops/scaling-cache.md`, come from this test:
//! `cargo test -p reel-herd --test key_movement -- --nocapture`). Each measured share is
//! checked against the consistent-hashing expectation (about `changed weight / total weight`
//! of the keys move to or from the changed node) within a tolerance for ketama's 160 points
//! per server. With equal weights no key moves between two unchanged nodes. With unequal
//! weights some do: libmemcached's weighted ketama gives each server
//! `floor(weight / total_weight * 40 * servers) * 4` points, so a change of the total weight
//! changes every server's point count (reel-herd reproduces libmemcached key for key, so it
//! moves the same keys).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use reel_herd::{Ketama, Node, Router};

const KEYS: usize = 100_000;

fn nodes(weights: &[u32]) -> Vec<Node> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Node::new(format!("10.0.0.{}", i + 1), 11211).with_weight(w))
        .collect()
}

/// The owner (by address) of each key under `nodes`.
fn owners(nodes: &[Node]) -> Vec<String> {
    let ring = Ketama.build(nodes);
    (0..KEYS)
        .map(|i| {
            let key = format!("user:{i}");
            nodes[ring.locate(key.as_bytes()).unwrap()].address()
        })
        .collect()
}

/// Shares of the keys that moved to or from the `changed` node, and that moved between two
/// nodes that did not change.
fn moved(before: &[Node], after: &[Node], changed: &str) -> (f64, f64) {
    let (a, b) = (owners(before), owners(after));
    let (mut with_changed, mut between_others) = (0, 0);
    for (x, y) in a.iter().zip(&b) {
        if x == y {
            continue;
        }
        if x == changed || y == changed {
            with_changed += 1;
        } else {
            between_others += 1;
        }
    }
    let share = |count: usize| count as f64 / KEYS as f64;
    (share(with_changed), share(between_others))
}

/// Prints the figures and checks the share that moved with the changed node.
fn check(label: &str, (with_changed, between_others): (f64, f64), expected: f64) {
    println!(
        "{label}: {:.1} % of keys moved ({:.1} % to/from the changed node, expected about \
         {:.1} %; {:.1} % between unchanged nodes)",
        (with_changed + between_others) * 100.0,
        with_changed * 100.0,
        expected * 100.0,
        between_others * 100.0,
    );
    // Ketama's 160 points per server put a node's share within a few points of its weight.
    assert!(
        (with_changed - expected).abs() < expected * 0.25,
        "{label}: {with_changed} vs {expected}"
    );
}

#[test]
fn adding_or_removing_a_node_moves_only_its_share_of_the_keys() {
    for (from, to) in [(2, 3), (10, 11)] {
        let small = nodes(&vec![1; from]);
        let large = nodes(&vec![1; to]);
        let new = large[to - 1].address();
        let added = moved(&small, &large, &new);
        check(
            &format!("add: {from} -> {to} equal nodes"),
            added,
            1.0 / to as f64,
        );
        let removed = moved(&large, &small, &new);
        check(
            &format!("remove: {to} -> {from} equal nodes"),
            removed,
            1.0 / to as f64,
        );
        // Equal weights: only the keys of the changed node move.
        assert_eq!((added.1, removed.1), (0.0, 0.0));
    }
    // A node of weight 2 joining ten of weight 1: w / (W + w) = 2 / 12.
    let before = nodes(&[1; 10]);
    let mut after = before.clone();
    after.push(Node::new("10.0.0.11", 11211).with_weight(2));
    let weighted = moved(&before, &after, "10.0.0.11:11211");
    check("add: weight 2 to 10 x weight 1", weighted, 2.0 / 12.0);
    // The total weight changed, so did every other server's point count.
    assert!(weighted.1 > 0.0);
    // Ejecting a node of unequal weight (weights 1, 1, 2, 4): its keys, and some more.
    for (index, weight) in [(3usize, 4u32), (0, 1)] {
        let all = nodes(&[1, 1, 2, 4]);
        let mut rest = all.clone();
        let gone = rest.remove(index).address();
        check(
            &format!("eject: weight {weight} of 1+1+2+4"),
            moved(&all, &rest, &gone),
            f64::from(weight) / 8.0,
        );
    }
}
