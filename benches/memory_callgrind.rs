//! Callgrind bench (gungraun) for the memory chapter: instruction counts of
//! the churn workload on one thread (`benches/memory_work/mod.rs`, the same
//! function and size as the criterion bench), under the allocator chosen by
//! `COOKBOOK_ALLOC`. The many-thread run is left out: valgrind runs one
//! thread at a time.
//!
//! The fact a reader gets wrong: most of these instructions are the
//! workload writing its objects, not the allocator; compare allocators on
//! the same row, not the count with the objects' size.
mod common;
mod memory_work;

use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

#[library_benchmark]
#[bench::one_thread()]
fn churn_one_thread() {
    memory_work::churn_one_thread(|_| {});
}

library_benchmark_group!(
    name = memory;
    benchmarks = churn_one_thread
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = memory
);
