//! Callgrind bench (gungraun) for `alloc_recipes::batch`: instruction counts
//! for the same comparisons as `benches/batch.rs`, at the same sizes
//! (100,000 records, a 100,000-node tree): each benchmark runs once under
//! valgrind, so the full size stays within a few seconds.
//!
//! The fact a reader gets wrong: the reused and arena cases are measured in
//! their steady state. Their `setup` runs one batch (two for the arena, whose
//! kept chunk must grow to cover a batch) outside the count, as a long-running
//! program would have; the naive cases have no state to warm.
//! Run: `COOKBOOK_ALLOC=system cargo bench --bench batch_callgrind`.
mod common;

use alloc_recipes::batch::*;
use bumpalo::Bump;
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const N: usize = 100_000;

fn input() -> String {
    sample_records_input(N)
}

#[library_benchmark]
#[bench::records_100k(setup = input)]
fn records_naive(input: String) -> usize {
    parse_records_naive(black_box(&input)).unwrap().len()
}

#[library_benchmark]
#[bench::records_100k(setup = input)]
fn records_presized(input: String) -> usize {
    parse_records_presized(black_box(&input)).unwrap().len()
}

fn reused_setup() -> (RecordBuffer, String) {
    let input = input();
    let mut buf = RecordBuffer::new();
    buf.fill(&input).unwrap();
    (buf, input)
}

#[library_benchmark]
#[bench::records_100k(setup = reused_setup)]
fn records_reused((mut buf, input): (RecordBuffer, String)) -> usize {
    let n = buf.fill(black_box(&input)).unwrap().len();
    std::mem::forget(buf); // dropping the kept buffer is not part of a batch
    n
}

fn arena_setup() -> (Bump, String) {
    let input = input();
    let mut bump = Bump::new();
    for _ in 0..2 {
        parse_records_in(&bump, &input).unwrap();
        bump.reset();
    }
    (bump, input)
}

#[library_benchmark]
#[bench::records_100k(setup = arena_setup)]
fn records_arena((mut bump, input): (Bump, String)) -> usize {
    let n = parse_records_in(&bump, black_box(&input)).unwrap().len();
    bump.reset();
    std::mem::forget(bump); // the kept chunk outlives the batch
    n
}

#[library_benchmark]
#[bench::records_100k(setup = input)]
fn records_packed(input: String) -> usize {
    parse_records_packed(black_box(&input))
        .unwrap()
        .records()
        .len()
}

library_benchmark_group!(
    name = records_100k,
    benchmarks = [
        records_naive,
        records_presized,
        records_reused,
        records_arena,
        records_packed
    ]
);

#[library_benchmark]
#[bench::nodes_100k(N)]
fn tree_box_per_node(n: usize) -> u64 {
    sum_box_tree(build_box_tree(black_box(n)).as_deref())
}

#[library_benchmark]
#[bench::nodes_100k(N)]
fn tree_typed_arena(n: usize) -> u64 {
    let arena = typed_arena::Arena::new();
    sum_ref_tree(build_typed_arena_tree(&arena, black_box(n)))
}

#[library_benchmark]
#[bench::nodes_100k(N)]
fn tree_bumpalo_new_arena(n: usize) -> u64 {
    let bump = Bump::new();
    sum_ref_tree(build_bump_tree(&bump, black_box(n)))
}

fn warm_bump() -> Bump {
    let mut bump = Bump::new();
    for _ in 0..2 {
        build_bump_tree(&bump, N);
        bump.reset();
    }
    bump
}

#[library_benchmark]
#[bench::nodes_100k(setup = warm_bump)]
fn tree_bumpalo_reset(mut bump: Bump) -> u64 {
    let sum = sum_ref_tree(build_bump_tree(&bump, black_box(N)));
    bump.reset();
    std::mem::forget(bump); // the kept chunk outlives the tree
    sum
}

#[library_benchmark]
#[bench::nodes_100k(N)]
fn tree_vec_with_indices(n: usize) -> u64 {
    IndexTree::build(black_box(n)).sum()
}

library_benchmark_group!(
    name = tree_100k,
    benchmarks = [
        tree_box_per_node,
        tree_typed_arena,
        tree_bumpalo_new_arena,
        tree_bumpalo_reset,
        tree_vec_with_indices
    ]
);

#[library_benchmark]
#[bench::u64_100k(N)]
fn vec_push(n: usize) -> usize {
    squares_by_push(black_box(n)).len()
}

#[library_benchmark]
#[bench::u64_100k(N)]
fn vec_with_capacity(n: usize) -> usize {
    squares_presized(black_box(n)).len()
}

#[library_benchmark]
#[bench::points_100k(N)]
fn points_vec_box(n: usize) -> f64 {
    points_boxed(black_box(n)).iter().map(|p| p.x + p.y).sum()
}

#[library_benchmark]
#[bench::points_100k(N)]
fn points_vec_inline(n: usize) -> f64 {
    points_inline(black_box(n)).iter().map(|p| p.x + p.y).sum()
}

library_benchmark_group!(
    name = presize_and_inline,
    benchmarks = [
        vec_push,
        vec_with_capacity,
        points_vec_box,
        points_vec_inline
    ]
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = records_100k, tree_100k, presize_and_inline
);
