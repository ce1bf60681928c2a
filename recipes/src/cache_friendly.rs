//! # Cache-friendly structures: fewer allocations, closer together
//!
//! Role: data layouts that keep what a loop reads next in the cache line it
//! already loaded, each beside the layout it replaces.
//!
//! # Use it in your crate
//! Copy this file to `src/cache_friendly.rs`, declare `pub mod cache_friendly;`,
//! and add to `Cargo.toml` (`union` makes `SmallVec<[u32; 4]>` as small as a
//! `Vec`, the sizes quoted here):
//!
//! ```toml
//! [dependencies]
//! smallvec = { version = "1.13", features = ["union"] }
//! ```
//!
//! The doc examples name this module `alloc_recipes::cache_friendly`: in your
//! crate replace `alloc_recipes` with your crate's name. Sizes are for 64-bit
//! targets; the examples say where a 32-bit one differs.
//!
//! The fact a reader gets wrong: the allocator decides where your objects
//! land, so `Vec<Box<T>>` scanned in order is fast *only while* the boxes
//! happen to be allocated in order on an empty heap. The same code on a
//! heap that has been churning (or with boxes created in another order) jumps
//! around memory. A benchmark that builds the boxes in a tight loop and scans
//! them right away measures the lucky case.
//!
//! ## The problem
//! A cache line is 64 bytes (128 on some CPUs, which prefetch pairs). Each
//! pointer hop to a separately allocated object is a likely miss; each byte of a
//! struct the loop does not read is a byte of bandwidth wasted.
//!
//! ## The pattern
//! - Struct of arrays ([`ParticlesSoa`]) when a loop reads one field of many
//!   objects; array of structs ([`Particle`]) when it reads whole objects.
//! - `Vec<T>` instead of `Vec<Box<T>>` or `LinkedList<T>` ([`sum_boxed`],
//!   [`boxes_shuffled`]).
//! - Trees in a `Vec` with `u32` indices ([`ArenaTree`]) instead of a tree of
//!   boxes ([`BoxTree`]): one allocation, nodes in insertion order, half-size links.
//! - `SmallVec<[u32; 4]>` for many short lists ([`SmallGraph`] vs
//!   [`VecGraph`]): up to 4 items live inline, in the outer vector's memory.
//! - Hot/cold splitting ([`AccountHot`] + [`AccountCold`] vs [`AccountFull`]):
//!   the scanned fields together, the rarely read ones elsewhere.
//! - No false sharing: counters written by different threads on different
//!   cache lines ([`PaddedCounters`] vs [`PackedCounters`]).
//!
//! ## When not to
//! SoA makes whole-object access and insertion/removal clumsy. `SmallVec`
//! loses when most lists spill (the inline buffer is dead weight and every
//! push checks inline-or-heap) or when `N` makes the element larger than a
//! `Vec` (`SmallVec<[u32; 8]>` is 40 bytes vs 24). Padding every counter to
//! 128 bytes wastes memory when the counters are not written concurrently.
//!
//! ```
//! use alloc_recipes::cache_friendly::{Particle, ParticlesSoa};
//! let aos = vec![Particle { mass: 2.0, ..Particle::default() }; 3];
//! let soa = ParticlesSoa::from_slice(&aos);
//! assert_eq!(soa.total_mass(), 6.0);
//! ```

// ANCHOR: imports
use smallvec::SmallVec;
use std::collections::LinkedList;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
// ANCHOR_END: imports

// ANCHOR: soa
/// A particle as one struct (array of structs): 32 bytes, of which a
/// mass-only scan reads 4.
///
/// ```
/// use alloc_recipes::cache_friendly::Particle;
/// assert_eq!(std::mem::size_of::<Particle>(), 32);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Particle {
    /// Position.
    pub position: [f32; 3],
    /// Velocity.
    pub velocity: [f32; 3],
    /// Mass.
    pub mass: f32,
    /// Identifier.
    pub id: u32,
}

/// Sums one field over an array of structs: every cache line loaded brings
/// two particles, 8 of its 64 bytes used.
///
/// ```
/// use alloc_recipes::cache_friendly::{total_mass_aos, Particle};
/// let ps = [Particle { mass: 1.5, ..Particle::default() }; 2];
/// assert_eq!(total_mass_aos(&ps), 3.0);
/// ```
pub fn total_mass_aos(particles: &[Particle]) -> f32 {
    particles.iter().map(|p| p.mass).sum()
}

/// The same particles as a struct of arrays: one `Vec` per field, so a
/// mass-only scan reads 16 masses per cache line and nothing else.
///
/// ```
/// use alloc_recipes::cache_friendly::ParticlesSoa;
/// let mut soa = ParticlesSoa::default();
/// soa.push([0.0; 3], [0.0; 3], 2.5, 7);
/// assert_eq!(soa.len(), 1);
/// assert_eq!(soa.total_mass(), 2.5);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParticlesSoa {
    /// Positions.
    pub positions: Vec<[f32; 3]>,
    /// Velocities.
    pub velocities: Vec<[f32; 3]>,
    /// Masses.
    pub masses: Vec<f32>,
    /// Identifiers.
    pub ids: Vec<u32>,
}

impl ParticlesSoa {
    /// Converts an array of structs.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::{Particle, ParticlesSoa};
    /// let soa = ParticlesSoa::from_slice(&[Particle::default(); 4]);
    /// assert_eq!(soa.len(), 4);
    /// ```
    pub fn from_slice(particles: &[Particle]) -> Self {
        ParticlesSoa {
            positions: particles.iter().map(|p| p.position).collect(),
            velocities: particles.iter().map(|p| p.velocity).collect(),
            masses: particles.iter().map(|p| p.mass).collect(),
            ids: particles.iter().map(|p| p.id).collect(),
        }
    }

    /// Appends one particle (one push per field vector).
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ParticlesSoa;
    /// let mut soa = ParticlesSoa::default();
    /// soa.push([1.0; 3], [0.0; 3], 1.0, 1);
    /// assert_eq!(soa.ids, [1]);
    /// ```
    pub fn push(&mut self, position: [f32; 3], velocity: [f32; 3], mass: f32, id: u32) {
        self.positions.push(position);
        self.velocities.push(velocity);
        self.masses.push(mass);
        self.ids.push(id);
    }

    /// Number of particles.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ParticlesSoa;
    /// assert!(ParticlesSoa::default().is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.masses.len()
    }

    /// True when there are no particles.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ParticlesSoa;
    /// assert_eq!(ParticlesSoa::default().len(), 0);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.masses.is_empty()
    }

    /// Sums the masses: reads only the `masses` vector.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ParticlesSoa;
    /// let mut soa = ParticlesSoa::default();
    /// soa.push([0.0; 3], [0.0; 3], 4.0, 0);
    /// assert_eq!(soa.total_mass(), 4.0);
    /// ```
    pub fn total_mass(&self) -> f32 {
        self.masses.iter().sum()
    }
}
// ANCHOR_END: soa

// ANCHOR: boxes
/// Sums a `Vec<Box<u64>>`: one pointer hop per element. Where the boxes are
/// in memory is up to the allocator and the order they were created in.
///
/// ```
/// use alloc_recipes::cache_friendly::sum_boxed;
/// assert_eq!(sum_boxed(&[Box::new(1), Box::new(2)]), 3);
/// ```
pub fn sum_boxed(values: &[Box<u64>]) -> u64 {
    values.iter().map(|b| **b).sum()
}

/// Sums a linked list: one hop per node, and the next address is known only
/// after the current node arrives (the CPU cannot prefetch ahead).
///
/// ```
/// use alloc_recipes::cache_friendly::sum_list;
/// let list: std::collections::LinkedList<u64> = (1..=3).collect();
/// assert_eq!(sum_list(&list), 6);
/// ```
pub fn sum_list(values: &LinkedList<u64>) -> u64 {
    values.iter().sum()
}

/// `n` boxes allocated in index order, then reordered by a fixed
/// pseudo-random permutation: the vector is scanned in an order unrelated to
/// the addresses, as it is after a program has run for a while. The values
/// are `0..n` (in shuffled order), so the sum is the same as in-order.
///
/// ```
/// use alloc_recipes::cache_friendly::{boxes_shuffled, sum_boxed};
/// let v = boxes_shuffled(100);
/// assert_eq!(sum_boxed(&v), (0..100).sum());
/// ```
pub fn boxes_shuffled(n: usize) -> Vec<Box<u64>> {
    let mut boxes: Vec<Box<u64>> = (0..n as u64).map(Box::new).collect();
    shuffle(&mut boxes, 0x9E37_79B9_7F4A_7C15);
    boxes
}

/// Fisher-Yates with a xorshift generator: deterministic, no dependency.
///
/// ```
/// use alloc_recipes::cache_friendly::shuffle;
/// let mut v: Vec<u32> = (0..10).collect();
/// shuffle(&mut v, 42);
/// v.sort();
/// assert_eq!(v, (0..10).collect::<Vec<_>>());
/// ```
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
// ANCHOR_END: boxes

// ANCHOR: trees
/// A binary search tree of boxes: one allocation per node, 16 bytes of links.
///
/// ```
/// use alloc_recipes::cache_friendly::BoxTree;
/// let mut t = BoxTree::default();
/// for k in [5, 2, 8] { t.insert(k); }
/// assert!(t.contains(8) && !t.contains(3));
/// assert_eq!(t.sum(), 15);
/// assert_eq!(format!("{t:?}"), "{2, 5, 8}");
/// ```
#[derive(Default)]
pub struct BoxTree {
    root: Option<Box<BoxNode>>,
}

struct BoxNode {
    key: u64,
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
}

impl BoxTree {
    /// Inserts `key` (duplicates are ignored).
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::BoxTree;
    /// let mut t = BoxTree::default();
    /// t.insert(1);
    /// t.insert(1);
    /// assert_eq!(t.sum(), 1);
    /// ```
    pub fn insert(&mut self, key: u64) {
        let mut slot = &mut self.root;
        while let Some(node) = slot {
            if key == node.key {
                return;
            }
            slot = if key < node.key {
                &mut node.left
            } else {
                &mut node.right
            };
        }
        *slot = Some(Box::new(BoxNode {
            key,
            left: None,
            right: None,
        }));
    }

    /// True when `key` is in the tree.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::BoxTree;
    /// let mut t = BoxTree::default();
    /// t.insert(4);
    /// assert!(t.contains(4));
    /// ```
    pub fn contains(&self, key: u64) -> bool {
        let mut cur = &self.root;
        while let Some(node) = cur {
            if key == node.key {
                return true;
            }
            cur = if key < node.key {
                &node.left
            } else {
                &node.right
            };
        }
        false
    }

    /// Sums every key, depth first (an explicit stack: no recursion limit).
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::BoxTree;
    /// assert_eq!(BoxTree::default().sum(), 0);
    /// ```
    pub fn sum(&self) -> u64 {
        let mut total = 0;
        let mut stack: Vec<&BoxNode> = self.root.as_deref().into_iter().collect();
        while let Some(node) = stack.pop() {
            total += node.key;
            stack.extend(node.left.as_deref());
            stack.extend(node.right.as_deref());
        }
        total
    }
}

impl fmt::Debug for BoxTree {
    /// The keys in order, as a set. Iterative, like `Drop`: a derived
    /// (recursive) `Debug` would overflow the stack on a list-shaped tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        let mut stack: Vec<&BoxNode> = Vec::new();
        let mut cur = self.root.as_deref();
        loop {
            while let Some(node) = cur {
                stack.push(node);
                cur = node.left.as_deref();
            }
            let Some(node) = stack.pop() else { break };
            set.entry(&node.key);
            cur = node.right.as_deref();
        }
        set.finish()
    }
}

impl Drop for BoxTree {
    /// Frees the nodes iteratively (the default recursive drop can overflow
    /// the stack on a degenerate, list-shaped tree).
    fn drop(&mut self) {
        let mut stack: Vec<Box<BoxNode>> = self.root.take().into_iter().collect();
        while let Some(mut node) = stack.pop() {
            stack.extend(node.left.take());
            stack.extend(node.right.take());
        }
    }
}

/// The same tree in one `Vec`, linked by `u32` indices (`u32::MAX` = none):
/// one growing allocation instead of one per node, 8 bytes of links
/// instead of 16, and nodes in insertion order.
///
/// ```
/// use alloc_recipes::cache_friendly::ArenaTree;
/// let mut t = ArenaTree::with_capacity(3);
/// for k in [5, 2, 8] { t.insert(k); }
/// assert!(t.contains(2) && !t.contains(9));
/// assert_eq!(t.sum(), 15);
/// assert_eq!(t.len(), 3);
/// ```
#[derive(Debug, Default, Clone)]
pub struct ArenaTree {
    nodes: Vec<ArenaNode>,
}

#[derive(Debug, Clone, Copy)]
struct ArenaNode {
    key: u64,
    left: u32,
    right: u32,
}

const NONE: u32 = u32::MAX;

impl ArenaTree {
    /// An empty tree with room for `n` nodes (one allocation).
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ArenaTree;
    /// assert!(ArenaTree::with_capacity(10).is_empty());
    /// ```
    pub fn with_capacity(n: usize) -> Self {
        ArenaTree {
            nodes: Vec::with_capacity(n),
        }
    }

    /// Number of nodes.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ArenaTree;
    /// assert_eq!(ArenaTree::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the tree has no node.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ArenaTree;
    /// assert!(ArenaTree::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Inserts `key` (duplicates are ignored).
    ///
    /// # Panics
    /// When the tree already holds `u32::MAX` nodes (the index type is full).
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ArenaTree;
    /// let mut t = ArenaTree::default();
    /// t.insert(3);
    /// t.insert(3);
    /// assert_eq!(t.len(), 1);
    /// ```
    pub fn insert(&mut self, key: u64) {
        let new = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&i| i != NONE)
            .expect("ArenaTree: more than u32::MAX - 1 nodes");
        if self.nodes.is_empty() {
            self.nodes.push(ArenaNode {
                key,
                left: NONE,
                right: NONE,
            });
            return;
        }
        let mut i = 0usize;
        loop {
            let node = self.nodes[i];
            if key == node.key {
                return;
            }
            let next = if key < node.key {
                node.left
            } else {
                node.right
            };
            if next == NONE {
                let n = &mut self.nodes[i];
                if key < n.key {
                    n.left = new;
                } else {
                    n.right = new;
                }
                self.nodes.push(ArenaNode {
                    key,
                    left: NONE,
                    right: NONE,
                });
                return;
            }
            i = next as usize;
        }
    }

    /// True when `key` is in the tree.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ArenaTree;
    /// let mut t = ArenaTree::default();
    /// t.insert(4);
    /// assert!(!t.contains(5));
    /// ```
    pub fn contains(&self, key: u64) -> bool {
        let mut i = if self.nodes.is_empty() { NONE } else { 0 };
        while i != NONE {
            let node = &self.nodes[i as usize];
            if key == node.key {
                return true;
            }
            i = if key < node.key {
                node.left
            } else {
                node.right
            };
        }
        false
    }

    /// Sums every key: a linear scan of the node vector, no pointer chasing.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::ArenaTree;
    /// let mut t = ArenaTree::default();
    /// t.insert(1);
    /// t.insert(2);
    /// assert_eq!(t.sum(), 3);
    /// ```
    pub fn sum(&self) -> u64 {
        self.nodes.iter().map(|n| n.key).sum()
    }
}
// ANCHOR_END: trees

// ANCHOR: smallvec
/// Adjacency lists as `Vec<Vec<u32>>`: every non-empty list is its own
/// allocation, somewhere else in memory.
///
/// ```
/// use alloc_recipes::cache_friendly::VecGraph;
/// let g = VecGraph::from_edges(3, &[(0, 1), (0, 2), (1, 2)]);
/// assert_eq!(g.neighbours(0), [1, 2]);
/// assert_eq!(g.degree_sum(), 5);
/// ```
#[derive(Debug, Clone, Default)]
pub struct VecGraph {
    adjacency: Vec<Vec<u32>>,
}

impl VecGraph {
    /// Builds the graph of `nodes` nodes from directed edges `(from, to)`.
    ///
    /// # Panics
    /// If an edge names a node `>= nodes`.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::VecGraph;
    /// assert_eq!(VecGraph::from_edges(2, &[(1, 0)]).neighbours(1), [0]);
    /// ```
    pub fn from_edges(nodes: usize, edges: &[(u32, u32)]) -> Self {
        let mut adjacency = vec![Vec::new(); nodes];
        for &(from, to) in edges {
            adjacency[from as usize].push(to);
        }
        VecGraph { adjacency }
    }

    /// The neighbours of `node`.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::VecGraph;
    /// assert!(VecGraph::from_edges(1, &[]).neighbours(0).is_empty());
    /// ```
    pub fn neighbours(&self, node: u32) -> &[u32] {
        &self.adjacency[node as usize]
    }

    /// Sums every neighbour id: touches every list once.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::VecGraph;
    /// assert_eq!(VecGraph::from_edges(3, &[(0, 2), (1, 2)]).degree_sum(), 4);
    /// ```
    pub fn degree_sum(&self) -> u64 {
        self.adjacency.iter().flatten().map(|&n| n as u64).sum()
    }
}

/// Adjacency lists as `Vec<SmallVec<[u32; 4]>>`: up to four neighbours live
/// inline in the outer vector (24 bytes per node on 64-bit targets, the
/// same as a `Vec`),
/// so a graph of low-degree nodes is one allocation.
///
/// ```
/// use alloc_recipes::cache_friendly::SmallGraph;
/// let g = SmallGraph::from_edges(3, &[(0, 1), (0, 2), (1, 2)]);
/// assert_eq!(g.neighbours(0), [1, 2]);
/// assert_eq!(g.degree_sum(), 5);
/// assert_eq!(g.spilled(), 0);
/// use std::mem::size_of;
/// // With smallvec's `union` feature: one word of capacity plus 16 bytes,
/// // 24 bytes on 64-bit targets (a `Vec`'s size), 20 on 32-bit ones.
/// assert_eq!(size_of::<smallvec::SmallVec<[u32; 4]>>(), size_of::<usize>() + 16);
/// assert_eq!(size_of::<Vec<u32>>(), 3 * size_of::<usize>());
/// assert_eq!(size_of::<smallvec::SmallVec<[u32; 8]>>(), size_of::<usize>() + 32); // bigger than a Vec
/// ```
#[derive(Debug, Clone, Default)]
pub struct SmallGraph {
    adjacency: Vec<SmallVec<[u32; 4]>>,
}

impl SmallGraph {
    /// Builds the graph of `nodes` nodes from directed edges `(from, to)`.
    ///
    /// # Panics
    /// If an edge names a node `>= nodes`.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::SmallGraph;
    /// assert_eq!(SmallGraph::from_edges(2, &[(1, 0)]).neighbours(1), [0]);
    /// ```
    pub fn from_edges(nodes: usize, edges: &[(u32, u32)]) -> Self {
        let mut adjacency = vec![SmallVec::new(); nodes];
        for &(from, to) in edges {
            adjacency[from as usize].push(to);
        }
        SmallGraph { adjacency }
    }

    /// The neighbours of `node`.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::SmallGraph;
    /// assert!(SmallGraph::from_edges(1, &[]).neighbours(0).is_empty());
    /// ```
    pub fn neighbours(&self, node: u32) -> &[u32] {
        &self.adjacency[node as usize]
    }

    /// Sums every neighbour id: touches every list once.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::SmallGraph;
    /// assert_eq!(SmallGraph::from_edges(3, &[(0, 2), (1, 2)]).degree_sum(), 4);
    /// ```
    pub fn degree_sum(&self) -> u64 {
        self.adjacency.iter().flatten().map(|&n| n as u64).sum()
    }

    /// How many lists outgrew the inline buffer and moved to the heap.
    ///
    /// ```
    /// use alloc_recipes::cache_friendly::SmallGraph;
    /// let edges: Vec<(u32, u32)> = (1..=5).map(|t| (0, t)).collect();
    /// assert_eq!(SmallGraph::from_edges(6, &edges).spilled(), 1);
    /// ```
    pub fn spilled(&self) -> usize {
        self.adjacency.iter().filter(|l| l.spilled()).count()
    }
}
// ANCHOR_END: smallvec

// ANCHOR: hot_cold
/// An account with every field in one struct (112 bytes on 64-bit targets):
/// a scan of balances drags names and addresses through the cache.
///
/// ```
/// use alloc_recipes::cache_friendly::AccountFull;
/// use std::mem::size_of;
/// // Two 16-byte numbers, two `String`s, 48 bytes of day and flags.
/// assert_eq!(size_of::<AccountFull>(), 16 + 2 * size_of::<String>() + 48);
/// if cfg!(target_pointer_width = "64") {
///     assert_eq!(size_of::<AccountFull>(), 112);
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountFull {
    /// Identifier (hot).
    pub id: u64,
    /// Balance in cents (hot).
    pub balance: i64,
    /// Display name (cold).
    pub name: String,
    /// Postal address (cold).
    pub address: String,
    /// Opening date, days since 1970 (cold).
    pub opened_day: u32,
    /// Free-form flags (cold).
    pub flags: [u32; 11],
}

/// The fields a balance scan reads (16 bytes: four per cache line).
///
/// ```
/// use alloc_recipes::cache_friendly::AccountHot;
/// assert_eq!(std::mem::size_of::<AccountHot>(), 16);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountHot {
    /// Identifier.
    pub id: u64,
    /// Balance in cents.
    pub balance: i64,
}

/// The fields read rarely, kept in a parallel `Vec` at the same index.
///
/// ```
/// use alloc_recipes::cache_friendly::AccountCold;
/// let c = AccountCold::default();
/// assert!(c.name.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountCold {
    /// Display name.
    pub name: String,
    /// Postal address.
    pub address: String,
    /// Opening date, days since 1970.
    pub opened_day: u32,
    /// Free-form flags.
    pub flags: [u32; 11],
}

/// Sums balances over full accounts.
///
/// ```
/// use alloc_recipes::cache_friendly::{total_balance_full, AccountFull};
/// let a = AccountFull { balance: 5, ..AccountFull::default() };
/// assert_eq!(total_balance_full(&[a.clone(), a]), 10);
/// ```
pub fn total_balance_full(accounts: &[AccountFull]) -> i64 {
    accounts.iter().map(|a| a.balance).sum()
}

/// Sums balances over the hot part only.
///
/// ```
/// use alloc_recipes::cache_friendly::{total_balance_hot, AccountHot};
/// assert_eq!(total_balance_hot(&[AccountHot { id: 1, balance: 5 }]), 5);
/// ```
pub fn total_balance_hot(accounts: &[AccountHot]) -> i64 {
    accounts.iter().map(|a| a.balance).sum()
}

/// Splits full accounts into hot and cold vectors (same index, same account).
///
/// ```
/// use alloc_recipes::cache_friendly::{split_hot_cold, AccountFull};
/// let (hot, cold) = split_hot_cold(vec![AccountFull { id: 9, ..AccountFull::default() }]);
/// assert_eq!((hot[0].id, cold.len()), (9, 1));
/// ```
pub fn split_hot_cold(accounts: Vec<AccountFull>) -> (Vec<AccountHot>, Vec<AccountCold>) {
    let mut hot = Vec::with_capacity(accounts.len());
    let mut cold = Vec::with_capacity(accounts.len());
    for a in accounts {
        hot.push(AccountHot {
            id: a.id,
            balance: a.balance,
        });
        cold.push(AccountCold {
            name: a.name,
            address: a.address,
            opened_day: a.opened_day,
            flags: a.flags,
        });
    }
    (hot, cold)
}
// ANCHOR_END: hot_cold

// ANCHOR: false_sharing
/// Two per-thread counters side by side: 16 bytes, one cache line. Two
/// threads incrementing "their own" counter still fight over that line.
///
/// ```
/// use alloc_recipes::cache_friendly::PackedCounters;
/// assert_eq!(std::mem::size_of::<PackedCounters>(), 16);
/// ```
#[derive(Debug, Default)]
pub struct PackedCounters {
    /// One counter per thread.
    pub counters: [AtomicU64; 2],
}

/// A value aligned (and so padded) to 128 bytes: two adjacent 64-byte lines,
/// because x86 CPUs prefetch lines in pairs and Apple M-series lines are 128.
///
/// ```
/// use alloc_recipes::cache_friendly::CachePadded;
/// assert_eq!(std::mem::align_of::<CachePadded<u64>>(), 128);
/// let mut c = CachePadded::new(5u64);
/// *c += 1; // DerefMut
/// assert_eq!(*c, 6);
/// assert_eq!(c.into_inner(), 6);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(align(128))]
pub struct CachePadded<T>(pub T);

impl<T> CachePadded<T> {
    /// Pads `value`.
    pub const fn new(value: T) -> Self {
        CachePadded(value)
    }

    /// The value, unpadded.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Two per-thread counters on separate 128-byte blocks: 256 bytes, no line shared.
///
/// ```
/// use alloc_recipes::cache_friendly::PaddedCounters;
/// assert_eq!(std::mem::size_of::<PaddedCounters>(), 256);
/// ```
#[derive(Debug, Default)]
pub struct PaddedCounters {
    /// One counter per thread, each on its own lines.
    pub counters: [CachePadded<AtomicU64>; 2],
}

/// Runs two threads; thread `i` adds 1 to `counter(i)` `iterations` times.
/// Returns the two final values.
///
/// ```
/// use alloc_recipes::cache_friendly::{count_in_two_threads, PackedCounters, PaddedCounters};
/// let packed = PackedCounters::default();
/// assert_eq!(count_in_two_threads(|i| &packed.counters[i], 1000), [1000, 1000]);
/// let padded = PaddedCounters::default();
/// assert_eq!(count_in_two_threads(|i| &*padded.counters[i], 1000), [1000, 1000]);
/// ```
pub fn count_in_two_threads<'a>(
    counter: impl Fn(usize) -> &'a AtomicU64 + Sync,
    iterations: u64,
) -> [u64; 2] {
    std::thread::scope(|s| {
        for i in 0..2 {
            let c = counter(i);
            s.spawn(move || {
                for _ in 0..iterations {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    [
        counter(0).load(Ordering::Relaxed),
        counter(1).load(Ordering::Relaxed),
    ]
}
// ANCHOR_END: false_sharing

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_shaped_box_tree_drops_without_overflowing_the_stack() {
        // Built directly (insertion would be quadratic): a right-leaning chain
        // a million nodes deep, which a recursive drop would overflow.
        let mut root: Option<Box<BoxNode>> = None;
        for key in (0..1_000_000).rev() {
            root = Some(Box::new(BoxNode {
                key,
                left: None,
                right: root,
            }));
        }
        let tree = BoxTree { root };
        assert!(tree.contains(999_999));
        // Debug is iterative too: the derived one overflowed the stack here.
        let shown = format!("{tree:?}");
        assert!(shown.starts_with("{0, 1, 2,") && shown.ends_with(", 999999}"));
        drop(tree);
    }
}
