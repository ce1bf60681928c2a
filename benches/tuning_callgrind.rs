//! Callgrind bench (gungraun) for the tuning chapter: instruction counts of
//! the tuning bench's workloads (`benches/tuning_work/mod.rs`, the same
//! functions, at the same scale), under the allocator chosen by
//! `COOKBOOK_ALLOC` and its default settings.
//!
//! The fact a reader gets wrong: callgrind cannot see what the knobs change.
//! A fresh mapping costs a page fault per page, in the kernel, where
//! callgrind does not count; these counts are nearly the same whether the
//! memory was kept or given back, and only the criterion bench's time shows
//! the difference.
mod common;
mod tuning_work;

use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

#[library_benchmark]
#[bench::default()]
fn fresh_buffer() -> u8 {
    black_box(tuning_work::fresh_buffer())
}

#[library_benchmark]
#[bench::default()]
fn tokens_inline() -> usize {
    black_box(tuning_work::tokens_inline())
}

#[library_benchmark]
#[bench::default()]
fn tokens_boxed() -> usize {
    black_box(tuning_work::tokens_boxed())
}

library_benchmark_group!(
    name = tuning;
    benchmarks = fresh_buffer, tokens_inline, tokens_boxed
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = tuning
);
