//! Criterion bench for `alloc_recipes::cache_friendly`: each layout against
//! the one it replaces, on the same data, under the allocator chosen by
//! `COOKBOOK_ALLOC`.
//!
//! The fact a reader gets wrong: most of these groups time a *scan* of data
//! built beforehand, so the allocator matters only through where it put the
//! objects. Wall time here is noisy on a shared machine; the cache-miss
//! counts of `cache_friendly_callgrind` (cache simulator on) are the stable
//! measure of the same effect.
mod common;

use alloc_recipes::cache_friendly::{
    boxes_shuffled, count_in_two_threads, shuffle, split_hot_cold, sum_boxed, sum_list,
    total_balance_full, total_balance_hot, total_mass_aos, AccountFull, ArenaTree, BoxTree,
    PackedCounters, PaddedCounters, Particle, ParticlesSoa, SmallGraph, VecGraph,
};
use std::collections::LinkedList;
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "cache_friendly";

fn particles(n: u32) -> Vec<Particle> {
    (0..n)
        .map(|i| Particle {
            position: [i as f32; 3],
            velocity: [1.0; 3],
            mass: (i % 10) as f32,
            id: i,
        })
        .collect()
}

fn tree_keys(n: u64) -> Vec<u64> {
    let mut k: Vec<u64> = (0..n).collect();
    shuffle(&mut k, 0x5EED);
    k
}

fn edges(nodes: u32, degree: u32) -> Vec<(u32, u32)> {
    (0..nodes)
        .flat_map(|n| (1..=degree).map(move |d| (n, (n.wrapping_mul(31) + d * 7919) % nodes)))
        .collect()
}

fn accounts(n: u64) -> Vec<AccountFull> {
    (0..n)
        .map(|i| AccountFull {
            id: i,
            balance: (i % 1000) as i64,
            ..AccountFull::default()
        })
        .collect()
}

fn main() {
    common::check_allocator_env();
    let mut c = common::criterion();

    {
        let aos = particles(1_000_000);
        let soa = ParticlesSoa::from_slice(&aos);
        let mut g = common::group(&mut c, BENCH, "sum one field of 1M particles");
        g.case("array of structs", "1M x 32 B", || {
            total_mass_aos(black_box(&aos))
        });
        g.case("struct of arrays", "1M x 32 B", || {
            black_box(&soa).total_mass()
        });
        g.finish();
    }

    {
        const N: u64 = 1_000_000;
        let boxes_in_order: Vec<Box<u64>> = (0..N).map(Box::new).collect();
        let boxes_shuffled = boxes_shuffled(N as usize);
        let list: LinkedList<u64> = (0..N).collect();
        let flat: Vec<u64> = (0..N).collect();
        let mut g = common::group(&mut c, BENCH, "sum 1M u64: boxes, list, Vec");
        g.case("Vec<Box<u64>>, allocated in order", "1M", || {
            sum_boxed(black_box(&boxes_in_order))
        });
        g.case("Vec<Box<u64>>, shuffled", "1M", || {
            sum_boxed(black_box(&boxes_shuffled))
        });
        g.case("LinkedList<u64>", "1M", || sum_list(black_box(&list)));
        g.case("Vec<u64>", "1M", || black_box(&flat).iter().sum::<u64>());
        g.finish();
    }

    {
        let keys = tree_keys(100_000);
        let mut g = common::group(&mut c, BENCH, "100k-key tree: build, look up, sum");
        g.case("tree of Boxes", "100k keys", || {
            let mut t = BoxTree::default();
            keys.iter().for_each(|&k| t.insert(k));
            let found = keys.iter().filter(|&&k| t.contains(k)).count() as u64;
            found + t.sum()
        });
        g.case("Vec + u32 indices", "100k keys", || {
            let mut t = ArenaTree::with_capacity(keys.len());
            keys.iter().for_each(|&k| t.insert(k));
            let found = keys.iter().filter(|&&k| t.contains(k)).count() as u64;
            found + t.sum()
        });
        g.finish();
    }

    {
        let mut g = common::group(&mut c, BENCH, "100k adjacency lists: build and sum");
        for degree in [3u32, 16] {
            let es = edges(100_000, degree);
            let param = format!("degree {degree}");
            g.case("Vec<Vec<u32>>", &param, || {
                VecGraph::from_edges(100_000, black_box(&es)).degree_sum()
            });
            g.case("Vec<SmallVec<[u32; 4]>>", &param, || {
                SmallGraph::from_edges(100_000, black_box(&es)).degree_sum()
            });
        }
        g.finish();
    }

    {
        let full = accounts(200_000);
        let (hot, _cold) = split_hot_cold(accounts(200_000));
        let mut g = common::group(&mut c, BENCH, "sum balances of 200k accounts");
        g.case("one struct, 112 B", "200k", || {
            total_balance_full(black_box(&full))
        });
        g.case("hot part only, 16 B", "200k", || {
            total_balance_hot(black_box(&hot))
        });
        g.finish();
    }

    {
        const INCREMENTS: u64 = 1_000_000;
        let packed = PackedCounters::default();
        let padded = PaddedCounters::default();
        let mut g = common::group(&mut c, BENCH, "two threads, one counter each");
        g.criterion().sample_size(10);
        g.case_threads("counters packed in one line", "1M increments each", || {
            count_in_two_threads(|i| &packed.counters[i], INCREMENTS)
        });
        g.case_threads("counters padded to 128 B", "1M increments each", || {
            count_in_two_threads(|i| &*padded.counters[i], INCREMENTS)
        });
        g.finish();
    }

    c.final_summary();
}
