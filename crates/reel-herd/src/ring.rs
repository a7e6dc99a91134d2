//! Key placement: the [`Router`] trait, libmemcached-compatible weighted ketama and
//! rendezvous (highest random weight) hashing.

use std::fmt;

use md5::{Digest, Md5};

use crate::node::Node;

/// Points per server on libmemcached's weighted ketama continuum, before weight scaling.
const KETAMA_POINTS_PER_SERVER: u32 = 160;

/// Builds a placement table ([`Placement`]) for a node list; the cluster calls it whenever
/// the live node set changes and swaps the result in atomically.
pub trait Router: Send + Sync + fmt::Debug + 'static {
    /// Builds the placement for `nodes` (in this order; indexes refer to it).
    fn build(&self, nodes: &[Node]) -> Box<dyn Placement>;
}

/// An immutable key → node table; lookups take `&self` and never lock.
pub trait Placement: Send + Sync + fmt::Debug + 'static {
    /// Index (into the node list given to [`Router::build`]) of the node that owns `key`, or
    /// `None` when there are no nodes.
    fn locate(&self, key: &[u8]) -> Option<usize>;
}

/// libmemcached's weighted ketama (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`): MD5, 160 points per
/// server scaled by weight, four points per digest, node names `host` (port 11211) or
/// `host:port`. A key lands on the same node as with libmemcached, and so with the PHP,
/// Python and other clients built on it, given the same host strings and weights.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ketama;

/// Rendezvous (highest random weight) hashing, weighted: each key goes to the node with the
/// highest score `-weight / ln(hash(node, key))`. No ring to build; lookups cost one hash per
/// node, so it suits small clusters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rendezvous;

/// A built ketama continuum.
#[derive(Clone, Debug)]
pub struct KetamaRing {
    points: Vec<(u32, u32)>,
}

impl KetamaRing {
    /// Builds the continuum for `nodes` as libmemcached's `update_continuum` does.
    pub fn new(nodes: &[Node]) -> Self {
        let total_weight: u64 = nodes.iter().map(|node| u64::from(node.weight())).sum();
        let live = nodes.len();
        let mut points = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            let per_server = ketama_points(node.weight(), total_weight, live);
            let name = node.ketama_name();
            for hash_index in 0..per_server / 4 {
                let digest = Md5::digest(format!("{name}-{hash_index}").as_bytes());
                for alignment in 0..4 {
                    let chunk = &digest[alignment * 4..alignment * 4 + 4];
                    let value = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    points.push((value, index as u32));
                }
            }
        }
        points.sort_by_key(|&(value, _)| value);
        Self { points }
    }

    /// Number of points on the continuum.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the continuum is empty (no nodes).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// libmemcached computes the share in single precision, then adds 1e-10 in double precision
/// before flooring; the same arithmetic gives the same point counts at the edges.
fn ketama_points(weight: u32, total_weight: u64, live: usize) -> u32 {
    if total_weight == 0 {
        return 0;
    }
    let pct = weight as f32 / total_weight as f32;
    let scaled = pct * KETAMA_POINTS_PER_SERVER as f32 / 4.0 * live as f32;
    let nudged = (f64::from(scaled) + 0.000_000_000_1) as f32;
    (nudged.floor() as u32) * 4
}

/// The 32-bit key hash libmemcached uses with `MEMCACHED_HASH_MD5`: the first four bytes of
/// the MD5 digest, little-endian.
pub fn ketama_hash(key: &[u8]) -> u32 {
    let digest = Md5::digest(key);
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl Placement for KetamaRing {
    fn locate(&self, key: &[u8]) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let hash = ketama_hash(key);
        let position = self.points.partition_point(|&(value, _)| value < hash);
        let (_, index) = self.points.get(position).unwrap_or(&self.points[0]);
        Some(*index as usize)
    }
}

impl Router for Ketama {
    fn build(&self, nodes: &[Node]) -> Box<dyn Placement> {
        Box::new(KetamaRing::new(nodes))
    }
}

/// Built rendezvous table: one seed and weight per node.
#[derive(Clone, Debug)]
pub struct RendezvousTable {
    nodes: Vec<(u64, f64)>,
}

impl RendezvousTable {
    /// Prepares `nodes` for rendezvous lookups.
    pub fn new(nodes: &[Node]) -> Self {
        Self {
            nodes: nodes
                .iter()
                .map(|node| (fnv1a(node.address().as_bytes()), f64::from(node.weight())))
                .collect(),
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// splitmix64's finaliser: spreads a combined key/node hash over all 64 bits.
fn mix(mut value: u64) -> u64 {
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

impl Placement for RendezvousTable {
    fn locate(&self, key: &[u8]) -> Option<usize> {
        let key_hash = fnv1a(key);
        let mut best: Option<(usize, f64)> = None;
        for (index, (seed, weight)) in self.nodes.iter().enumerate() {
            let hash = mix(key_hash ^ mix(*seed));
            // A uniform number in (0, 1), never 0 or 1, so the logarithm is finite and < 0.
            let unit = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = -weight / unit.ln();
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((index, score));
            }
        }
        best.map(|(index, _)| index)
    }
}

impl Router for Rendezvous {
    fn build(&self, nodes: &[Node]) -> Box<dyn Placement> {
        Box::new(RendezvousTable::new(nodes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(count: usize) -> Vec<Node> {
        (0..count)
            .map(|i| Node::new(format!("10.0.0.{}", i + 1), 11211))
            .collect()
    }

    fn moved_share(router: &dyn Router, before: &[Node], after: &[Node]) -> f64 {
        let old = router.build(before);
        let new = router.build(after);
        let keys = 20_000;
        let moved = (0..keys)
            .filter(|i| {
                let key = format!("key:{i}");
                let a = &before[old.locate(key.as_bytes()).unwrap()];
                let b = &after[new.locate(key.as_bytes()).unwrap()];
                !a.same_server(b)
            })
            .count();
        moved as f64 / keys as f64
    }

    #[test]
    fn equal_weights_give_160_points_each() {
        assert_eq!(KetamaRing::new(&nodes(3)).len(), 480);
        assert_eq!(ketama_points(1, 3, 3), 160);
        let weighted = vec![Node::new("a", 1).with_weight(3), Node::new("b", 1)];
        assert_eq!(ketama_points(3, 4, 2), 240);
        assert_eq!(KetamaRing::new(&weighted).len(), 240 + 80);
    }

    #[test]
    fn adding_or_removing_one_node_moves_about_one_in_n_keys() {
        for router in [&Ketama as &dyn Router, &Rendezvous] {
            let four = nodes(4);
            let five = nodes(5);
            let added = moved_share(router, &four, &five);
            assert!(
                (0.12..0.28).contains(&added),
                "{router:?} add moved {added}"
            );
            let removed = moved_share(router, &five, &four);
            assert!(
                (0.12..0.28).contains(&removed),
                "{router:?} remove moved {removed}"
            );
        }
    }

    #[test]
    fn placement_follows_weights() {
        for router in [&Ketama as &dyn Router, &Rendezvous] {
            let weighted = vec![Node::new("a", 1).with_weight(3), Node::new("b", 1)];
            let table = router.build(&weighted);
            let on_a = (0..20_000)
                .filter(|i| table.locate(format!("k{i}").as_bytes()) == Some(0))
                .count();
            let share = on_a as f64 / 20_000.0;
            assert!((0.68..0.82).contains(&share), "{router:?}: {share}");
        }
    }

    #[test]
    fn empty_tables_locate_nothing() {
        assert_eq!(Ketama.build(&[]).locate(b"k"), None);
        assert_eq!(Rendezvous.build(&[]).locate(b"k"), None);
    }
}
