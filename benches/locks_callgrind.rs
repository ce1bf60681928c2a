//! Callgrind bench (gungraun) for the locks bench: instructions of one use
//! of each pool on one thread (`benches/locks_work/mod.rs`, the same
//! functions), under the allocator chosen by `COOKBOOK_ALLOC`. The
//! two-thread cases are left out: valgrind runs one thread at a time and
//! cannot see contention.
//!
//! The fact a reader gets wrong: an uncontended lock is a few instructions,
//! one of them an atomic read-modify-write that callgrind counts as one and
//! the CPU pays for in cycles.
mod common;
mod locks_work;

use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use locks_work::{Pool, SIZE};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

/// Uses per measured call.
const CALLS: usize = 32;

fn std_pool() -> Pool<std::sync::Mutex<Vec<Vec<u8>>>> {
    Pool::new()
}
fn pl_pool() -> Pool<parking_lot::Mutex<Vec<Vec<u8>>>> {
    Pool::new()
}
fn crate_pool() -> object_pool::Pool<Vec<u8>> {
    object_pool::Pool::new(locks_work::MAX_IDLE, || Vec::with_capacity(SIZE))
}

#[library_benchmark]
#[bench::size_64_b()]
fn fresh_vec() -> usize {
    (0..CALLS).map(|_| locks_work::fresh_once() as usize).sum()
}

#[library_benchmark]
#[bench::size_64_b(setup = std_pool)]
fn pool_std_mutex(p: Pool<std::sync::Mutex<Vec<Vec<u8>>>>) -> usize {
    (0..CALLS).map(|_| black_box(&p).use_once() as usize).sum()
}

#[library_benchmark]
#[bench::size_64_b(setup = pl_pool)]
fn pool_parking_lot_mutex(p: Pool<parking_lot::Mutex<Vec<Vec<u8>>>>) -> usize {
    (0..CALLS).map(|_| black_box(&p).use_once() as usize).sum()
}

#[library_benchmark]
#[bench::size_64_b(setup = crate_pool)]
fn object_pool_crate(p: object_pool::Pool<Vec<u8>>) -> usize {
    (0..CALLS)
        .map(|_| locks_work::object_pool_once(black_box(&p)) as usize)
        .sum()
}

library_benchmark_group!(
    name = locks;
    benchmarks = fresh_vec, pool_std_mutex, pool_parking_lot_mutex, object_pool_crate
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = locks
);
