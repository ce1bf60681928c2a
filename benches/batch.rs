//! Criterion bench for `alloc_recipes::batch`: building and dropping 100,000
//! records with small strings (naive vs pre-sized vs reused vs arena vs
//! packed), building and walking a 100,000-node tree (Box vs typed-arena vs
//! bumpalo vs Vec with indices), and the smaller pre-sizing, reuse and
//! one-allocation-for-many patterns, each against the naive code it replaces
//! on the same input.
//!
//! The fact a reader gets wrong: an operation here is a whole batch (100,000
//! records, a whole tree), so allocs/op counts every allocation of the batch;
//! the time includes freeing it, because dropping 200,000 strings one by one
//! is part of what the arena and the packed layout save.
//!
//! Run: `COOKBOOK_ALLOC=system cargo bench --bench batch` (under a minute;
//! `-- --quick` for a fast pass), and again with `mimalloc`, `jemalloc`, `goalloc`.
mod common;

use alloc_recipes::batch::*;
use bumpalo::Bump;
use criterion::SamplingMode;
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

const BENCH: &str = "batch";
const N: usize = 100_000;

fn records(c: &mut criterion::Criterion) {
    let input = sample_records_input(N);
    let param = "100,000 records";
    let mut g = common::group(
        c,
        BENCH,
        "100,000 records with small strings, build and drop",
    );
    g.criterion().sampling_mode(SamplingMode::Flat);
    g.case("naive", param, || {
        parse_records_naive(&input).unwrap().len()
    });
    g.case("pre-sized", param, || {
        parse_records_presized(&input).unwrap().len()
    });
    let mut reused = RecordBuffer::new();
    g.case("reused", param, || reused.fill(&input).unwrap().len());
    let mut bump = Bump::new();
    for _ in 0..2 {
        parse_records_in(&bump, &input).unwrap();
        bump.reset();
    }
    g.case("arena (bumpalo, reset per batch)", param, || {
        let n = parse_records_in(&bump, &input).unwrap().len();
        bump.reset();
        n
    });
    g.case("packed (string table)", param, || {
        parse_records_packed(&input).unwrap().records().len()
    });
    g.finish();
}

fn tree(c: &mut criterion::Criterion) {
    let param = "100,000 nodes";
    let mut g = common::group(c, BENCH, "100,000-node tree, build, walk and drop");
    g.criterion().sampling_mode(SamplingMode::Flat);
    g.case("Box per node", param, || {
        sum_box_tree(build_box_tree(black_box(N)).as_deref())
    });
    g.case("typed-arena", param, || {
        let arena = typed_arena::Arena::new();
        sum_ref_tree(build_typed_arena_tree(&arena, black_box(N)))
    });
    g.case("bumpalo, new arena per tree", param, || {
        let bump = Bump::new();
        sum_ref_tree(build_bump_tree(&bump, black_box(N)))
    });
    let mut bump = Bump::new();
    // A reset keeps only the last chunk: after one tree that chunk is half a
    // tree; after the second it covers a whole one. Warm it like a long run would.
    for _ in 0..2 {
        build_bump_tree(&bump, N);
        bump.reset();
    }
    g.case("bumpalo, reset per tree", param, || {
        let sum = sum_ref_tree(build_bump_tree(&bump, black_box(N)));
        bump.reset();
        sum
    });
    g.case("Vec with indices", param, || {
        IndexTree::build(black_box(N)).sum()
    });
    g.finish();
}

fn presizing(c: &mut criterion::Criterion) {
    let param = "100,000 u64";
    let mut g = common::group(c, BENCH, "Vec of 100,000 u64");
    g.case("push", param, || squares_by_push(black_box(N)));
    g.case("with_capacity", param, || squares_presized(black_box(N)));
    g.case("collect (exact size)", param, || {
        squares_collected(black_box(N))
    });
    g.finish();

    let owned: Vec<String> = (0..N).map(|i| format!("word{i}")).collect();
    let words: Vec<&str> = owned.iter().map(String::as_str).collect();
    let param = "100,000 keys";
    let mut g = common::group(c, BENCH, "HashMap of 100,000 words");
    g.criterion().sampling_mode(SamplingMode::Flat);
    g.case("insert", param, || index_by_insert(&words).len());
    g.case("with_capacity", param, || index_presized(&words).len());
    g.finish();
}

fn reuse(c: &mut criterion::Criterion) {
    let text = sample_records_input(N);
    let param = "100,000 lines";
    let mut g = common::group(c, BENCH, "read 100,000 lines");
    g.criterion().sampling_mode(SamplingMode::Flat);
    g.case("lines() (a String per line)", param, || {
        count_matching_lines_fresh(text.as_bytes(), "oslo").unwrap()
    });
    g.case("read_line into one String", param, || {
        count_matching_lines_reused(text.as_bytes(), "oslo").unwrap()
    });
    g.finish();
}

fn one_for_many(c: &mut criterion::Criterion) {
    let param = "100,000 points";
    let mut g = common::group(c, BENCH, "100,000 points, build, sum and drop");
    g.criterion().sampling_mode(SamplingMode::Flat);
    g.case("Vec<Box<Point>>", param, || {
        points_boxed(black_box(N))
            .iter()
            .map(|p| p.x + p.y)
            .sum::<f64>()
    });
    g.case("Vec<Point>", param, || {
        points_inline(black_box(N))
            .iter()
            .map(|p| p.x + p.y)
            .sum::<f64>()
    });
    g.finish();
}

fn main() {
    common::check_allocator_env();
    let mut c = common::criterion();
    records(&mut c);
    tree(&mut c);
    presizing(&mut c);
    reuse(&mut c);
    one_for_many(&mut c);
    c.final_summary();
}
