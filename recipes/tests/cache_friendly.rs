//! Tests for `cache_friendly`: each layout gives the same answers as the one it
//! replaces, with the allocation counts it promises (one for an index tree or
//! a SmallVec graph of short lists, one per node or list for the boxed forms).
//! The fact a reader gets wrong: `SmallVec<[u32; 4]>` is no bigger than a
//! `Vec<u32>`, so short lists cost nothing extra (asserted below).

use alloc_cookbook::counting::{count, CountingAlloc};
use alloc_recipes::cache_friendly::*;
use std::alloc::System;

#[global_allocator]
static A: CountingAlloc<System> = CountingAlloc::new(System);

fn keys(n: u64) -> Vec<u64> {
    let mut k: Vec<u64> = (0..n).collect();
    shuffle(&mut k, 7);
    k
}

#[test]
fn arena_tree_is_one_allocation_box_tree_one_per_node() {
    let ks = keys(1000);
    let (arena, c) = count(|| {
        let mut t = ArenaTree::with_capacity(ks.len());
        ks.iter().for_each(|&k| t.insert(k));
        t
    });
    assert_eq!(c.allocs, 1);
    let (boxed, c) = count(|| {
        let mut t = BoxTree::default();
        ks.iter().for_each(|&k| t.insert(k));
        t
    });
    assert_eq!(c.allocs, 1000);
    assert_eq!(arena.sum(), boxed.sum());
    assert_eq!(arena.len(), 1000);
    for k in [0, 1, 500, 999, 1000, 5000] {
        assert_eq!(arena.contains(k), boxed.contains(k), "key {k}");
    }
}

#[test]
fn short_lists_fit_inline() {
    let edges: Vec<(u32, u32)> = (0..1000u32)
        .flat_map(|n| (1..=3).map(move |d| (n, (n + d) % 1000)))
        .collect();
    let (small, c) = count(|| SmallGraph::from_edges(1000, &edges));
    assert_eq!(c.allocs, 1, "one outer vector, every list inline");
    assert_eq!(small.spilled(), 0);
    let (vecs, c) = count(|| VecGraph::from_edges(1000, &edges));
    assert_eq!(c.allocs, 1 + 1000, "one outer vector and one per list");
    assert_eq!(small.degree_sum(), vecs.degree_sum());
    assert_eq!(small.neighbours(999), vecs.neighbours(999));
    // As small as a Vec on 64-bit targets (20 vs 12 bytes on 32-bit ones).
    if cfg!(target_pointer_width = "64") {
        assert_eq!(
            std::mem::size_of::<smallvec::SmallVec<[u32; 4]>>(),
            std::mem::size_of::<Vec<u32>>()
        );
    }
}

#[test]
fn soa_and_aos_agree() {
    let ps: Vec<Particle> = (0..100)
        .map(|i| Particle {
            mass: i as f32,
            id: i,
            ..Particle::default()
        })
        .collect();
    let soa = ParticlesSoa::from_slice(&ps);
    assert_eq!(soa.total_mass(), total_mass_aos(&ps));
    assert_eq!(soa.ids, ps.iter().map(|p| p.id).collect::<Vec<_>>());
}

#[test]
fn hot_cold_split_keeps_every_account() {
    let full: Vec<AccountFull> = (0..50)
        .map(|i| AccountFull {
            id: i,
            balance: i as i64 * 3,
            name: format!("n{i}"),
            ..AccountFull::default()
        })
        .collect();
    let total = total_balance_full(&full);
    let (hot, cold) = split_hot_cold(full);
    assert_eq!(total_balance_hot(&hot), total);
    assert_eq!(cold[7].name, "n7");
    assert_eq!(hot[7].id, 7);
}

#[test]
fn shuffled_boxes_hold_every_value_once() {
    let v = boxes_shuffled(1000);
    let mut values: Vec<u64> = v.iter().map(|b| **b).collect();
    assert_ne!(values, (0..1000).collect::<Vec<_>>(), "the order changed");
    values.sort_unstable();
    assert_eq!(values, (0..1000).collect::<Vec<_>>());
}

#[test]
fn counters_are_exact_and_padded_ones_are_a_line_apart() {
    let packed = PackedCounters::default();
    assert_eq!(
        count_in_two_threads(|i| &packed.counters[i], 10_000),
        [10_000, 10_000]
    );
    let padded = PaddedCounters::default();
    assert_eq!(
        count_in_two_threads(|i| &*padded.counters[i], 10_000),
        [10_000, 10_000]
    );
    let a = &*padded.counters[0] as *const _ as usize;
    let b = &*padded.counters[1] as *const _ as usize;
    assert!(b - a >= 128);
}

#[test]
fn cache_padded_is_a_mutable_wrapper() {
    let mut c = CachePadded::new(vec![1u8]);
    c.push(2); // DerefMut
    assert_eq!(c.into_inner(), [1, 2]);
    assert_eq!(std::mem::align_of::<CachePadded<u8>>(), 128);
}

#[test]
fn box_tree_debug_lists_keys_in_order() {
    let mut t = BoxTree::default();
    for k in [5, 2, 8, 1, 9] {
        t.insert(k);
    }
    assert_eq!(format!("{t:?}"), "{1, 2, 5, 8, 9}");
}
