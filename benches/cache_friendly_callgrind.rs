//! Callgrind bench (gungraun) for `alloc_recipes::cache_friendly`, with the
//! cache simulator on: instructions *and* L1 / last-level misses per layout.
//!
//! The fact a reader gets wrong: instruction counts alone hide this recipe's
//! whole effect (a scan of boxes runs only one more load per element than a
//! scan of a `Vec`); the misses are the honest measure. The simulated caches are
//! fixed here (32 KiB 8-way L1s, an 8 MiB 16-way last level, 64-byte lines)
//! so the counts do not depend on the machine that runs valgrind.
//!
//! Sizes match the criterion bench (a million scanned elements) except the
//! tree and graph builds (smaller, valgrind is ~50x slower). False sharing is
//! left out: valgrind runs one thread at a time and does not simulate
//! coherence traffic, so it cannot see it.
//! Scale: the scans as in the criterion bench (1,000,000 elements); the tree and graph builds at a fifth of it (20,000 keys and nodes; criterion: 100,000). Setup (building the data) is kept
//! out of the measured function, and the data is returned so that its drop
//! is not measured either.
// `Vec<Box<u64>>` is the point of two cases: the pointer hop per element is what is measured.
#![allow(clippy::vec_box)]

mod common;

use alloc_recipes::cache_friendly::{
    boxes_shuffled, shuffle, split_hot_cold, sum_boxed, sum_list, total_balance_full,
    total_balance_hot, total_mass_aos, AccountFull, AccountHot, ArenaTree, BoxTree, Particle,
    ParticlesSoa, SmallGraph, VecGraph,
};
use gungraun::{
    library_benchmark, library_benchmark_group, main, Callgrind, CallgrindMetrics,
    LibraryBenchmarkConfig,
};
use std::collections::LinkedList;
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const SCAN_N: u64 = 1_000_000;
const TREE_N: u64 = 20_000;
const GRAPH_NODES: u32 = 20_000;

fn particles_aos() -> Vec<Particle> {
    (0..SCAN_N as u32)
        .map(|i| Particle {
            position: [i as f32; 3],
            velocity: [1.0; 3],
            mass: (i % 10) as f32,
            id: i,
        })
        .collect()
}

fn particles_soa() -> ParticlesSoa {
    ParticlesSoa::from_slice(&particles_aos())
}

#[library_benchmark]
#[bench::array_of_structs(setup = particles_aos)]
fn sum_one_field_aos(aos: Vec<Particle>) -> (f32, Vec<Particle>) {
    (black_box(total_mass_aos(&aos)), aos)
}

#[library_benchmark]
#[bench::struct_of_arrays(setup = particles_soa)]
fn sum_one_field_soa(soa: ParticlesSoa) -> (f32, ParticlesSoa) {
    (black_box(soa.total_mass()), soa)
}

fn boxes_in_order() -> Vec<Box<u64>> {
    (0..SCAN_N).map(Box::new).collect()
}

fn boxes_in_shuffled_order() -> Vec<Box<u64>> {
    boxes_shuffled(SCAN_N as usize)
}

fn list() -> LinkedList<u64> {
    (0..SCAN_N).collect()
}

fn flat() -> Vec<u64> {
    (0..SCAN_N).collect()
}

#[library_benchmark]
#[bench::allocated_in_order(setup = boxes_in_order)]
#[bench::shuffled(setup = boxes_in_shuffled_order)]
fn sum_vec_of_boxes(v: Vec<Box<u64>>) -> (u64, Vec<Box<u64>>) {
    (black_box(sum_boxed(&v)), v)
}

#[library_benchmark]
#[bench::linked_list(setup = list)]
fn sum_linked_list(l: LinkedList<u64>) -> (u64, LinkedList<u64>) {
    (black_box(sum_list(&l)), l)
}

#[library_benchmark]
#[bench::vec(setup = flat)]
fn sum_vec(v: Vec<u64>) -> (u64, Vec<u64>) {
    (black_box(v.iter().sum::<u64>()), v)
}

fn tree_keys() -> Vec<u64> {
    let mut k: Vec<u64> = (0..TREE_N).collect();
    shuffle(&mut k, 0x5EED);
    k
}

#[library_benchmark]
#[bench::tree_of_boxes(setup = tree_keys)]
fn tree_build_lookup_sum_boxes(keys: Vec<u64>) -> (u64, BoxTree) {
    let mut t = BoxTree::default();
    keys.iter().for_each(|&k| t.insert(k));
    let found = keys.iter().filter(|&&k| t.contains(k)).count() as u64;
    (black_box(found + t.sum()), t)
}

#[library_benchmark]
#[bench::vec_with_u32_indices(setup = tree_keys)]
fn tree_build_lookup_sum_indices(keys: Vec<u64>) -> (u64, ArenaTree) {
    let mut t = ArenaTree::with_capacity(keys.len());
    keys.iter().for_each(|&k| t.insert(k));
    let found = keys.iter().filter(|&&k| t.contains(k)).count() as u64;
    (black_box(found + t.sum()), t)
}

fn edges(degree: u32) -> Vec<(u32, u32)> {
    (0..GRAPH_NODES)
        .flat_map(|n| (1..=degree).map(move |d| (n, (n.wrapping_mul(31) + d * 7919) % GRAPH_NODES)))
        .collect()
}

#[library_benchmark]
#[bench::degree_3(args = (3), setup = edges)]
#[bench::degree_16(args = (16), setup = edges)]
fn graph_vec_of_vecs(es: Vec<(u32, u32)>) -> (u64, VecGraph) {
    let g = VecGraph::from_edges(GRAPH_NODES as usize, &es);
    (black_box(g.degree_sum()), g)
}

#[library_benchmark]
#[bench::degree_3(args = (3), setup = edges)]
#[bench::degree_16(args = (16), setup = edges)]
fn graph_vec_of_smallvecs(es: Vec<(u32, u32)>) -> (u64, SmallGraph) {
    let g = SmallGraph::from_edges(GRAPH_NODES as usize, &es);
    (black_box(g.degree_sum()), g)
}

fn accounts() -> Vec<AccountFull> {
    (0..200_000u64)
        .map(|i| AccountFull {
            id: i,
            balance: (i % 1000) as i64,
            ..AccountFull::default()
        })
        .collect()
}

fn hot_accounts() -> Vec<AccountHot> {
    split_hot_cold(accounts()).0
}

#[library_benchmark]
#[bench::one_struct(setup = accounts)]
fn sum_balances_full(a: Vec<AccountFull>) -> (i64, Vec<AccountFull>) {
    (black_box(total_balance_full(&a)), a)
}

#[library_benchmark]
#[bench::hot_part_only(setup = hot_accounts)]
fn sum_balances_hot(a: Vec<AccountHot>) -> (i64, Vec<AccountHot>) {
    (black_box(total_balance_hot(&a)), a)
}

library_benchmark_group!(
    name = cache_friendly;
    benchmarks =
        sum_one_field_aos, sum_one_field_soa,
        sum_vec_of_boxes, sum_linked_list, sum_vec,
        tree_build_lookup_sum_boxes, tree_build_lookup_sum_indices,
        graph_vec_of_vecs, graph_vec_of_smallvecs,
        sum_balances_full, sum_balances_hot
);

main!(
    config = LibraryBenchmarkConfig::default()
        .pass_through_envs(["COOKBOOK_ALLOC"])
        .tool(
            Callgrind::with_args([
                "--cache-sim=yes",
                "--I1=32768,8,64",
                "--D1=32768,8,64",
                "--LL=8388608,16,64",
            ])
            .format([CallgrindMetrics::Default, CallgrindMetrics::CacheMisses])
        );
    setup = common::check_allocator_env();
    library_benchmark_groups = cache_friendly
);
