//! Callgrind bench (gungraun) for the zeroed-memory chapter: instruction
//! counts of the criterion bench's workloads (`benches/zeroed_work/mod.rs`,
//! the same functions at the same sizes), under the allocator chosen by
//! `COOKBOOK_ALLOC`.
//!
//! The fact a reader gets wrong: the `memset` that `alloc_zeroed` skips is
//! visible here, as instructions; the page faults it cannot skip are not
//! (they happen in the kernel).
mod common;
mod zeroed_work;

use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

#[library_benchmark]
#[bench::size_4_kib(4 << 10)]
#[bench::size_1_mib(1 << 20)]
#[bench::size_64_mib(64 << 20)]
fn alloc_then_memset(n: usize) -> usize {
    black_box(zeroed_work::alloc_then_memset(n))
}

#[library_benchmark]
#[bench::size_4_kib(4 << 10)]
#[bench::size_1_mib(1 << 20)]
#[bench::size_64_mib(64 << 20)]
fn alloc_zeroed(n: usize) -> usize {
    black_box(zeroed_work::alloc_zeroed_block(n))
}

#[library_benchmark]
#[bench::size_4_kib(4 << 10)]
#[bench::size_1_mib(1 << 20)]
#[bench::size_64_mib(64 << 20)]
fn vec_of_zeros(n: usize) -> usize {
    black_box(zeroed_work::vec_of_zeros(n))
}

library_benchmark_group!(
    name = zeroed;
    benchmarks = alloc_then_memset, alloc_zeroed, vec_of_zeros
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = zeroed
);
