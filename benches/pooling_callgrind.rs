//! Callgrind bench (gungraun) for `alloc_recipes::pooling`: instruction
//! counts for the same comparisons as `benches/pooling.rs`, one thread only.
//!
//! The fact a reader gets wrong: instructions are not time. Callgrind counts
//! what the CPU executes, deterministically, but not page faults or cache
//! misses: a fresh 1 MiB buffer that the kernel must fault in again costs
//! far more time than its instruction count shows. Read these beside the
//! criterion times. Valgrind runs threads one at a time, so the two-thread
//! cases are left to criterion.
//!
//! Each benchmark makes `USES` uses of a buffer of the size named in its id;
//! the pool is created and warmed (one use) in `setup`, outside the count.
//! Run: `COOKBOOK_ALLOC=system cargo bench --bench pooling_callgrind`.
mod common;

use alloc_recipes::pooling::{pull_reset, with_thread_buffer, BufferPool, LocalPool, MutexPool};
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use object_pool::Pool;
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

/// Uses per benchmark: enough that the per-use cost dominates the call.
const USES: usize = 32;

fn source(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

#[inline(always)]
fn use_buffer(buf: &mut Vec<u8>, src: &[u8]) -> u8 {
    buf.extend_from_slice(src);
    black_box(buf[buf.len() / 2])
}

#[library_benchmark]
#[bench::size_64_b(args = (64), setup = source)]
#[bench::size_1_kib(args = (1024), setup = source)]
#[bench::size_64_kib(args = (65536), setup = source)]
#[bench::size_1_mib(args = (1048576), setup = source)]
fn fresh_vec(src: Vec<u8>) -> u8 {
    let mut x = 0;
    for _ in 0..USES {
        let mut buf = Vec::with_capacity(src.len());
        x ^= use_buffer(&mut buf, &src);
    }
    x
}

fn local_pool_setup(size: usize) -> (LocalPool<Vec<u8>>, Vec<u8>) {
    let pool = LocalPool::new(8);
    drop(pool.pull(|| Vec::with_capacity(size)));
    (pool, source(size))
}

#[library_benchmark]
#[bench::size_64_b(args = (64), setup = local_pool_setup)]
#[bench::size_1_kib(args = (1024), setup = local_pool_setup)]
#[bench::size_64_kib(args = (65536), setup = local_pool_setup)]
#[bench::size_1_mib(args = (1048576), setup = local_pool_setup)]
fn local_pool((pool, src): (LocalPool<Vec<u8>>, Vec<u8>)) -> u8 {
    let mut x = 0;
    for _ in 0..USES {
        x ^= use_buffer(&mut pool.pull(|| Vec::with_capacity(src.len())), &src);
    }
    x
}

fn mutex_pool_setup(size: usize) -> (MutexPool<Vec<u8>>, Vec<u8>) {
    let pool = MutexPool::new(8);
    drop(pool.pull(|| Vec::with_capacity(size)));
    (pool, source(size))
}

#[library_benchmark]
#[bench::size_64_b(args = (64), setup = mutex_pool_setup)]
#[bench::size_1_kib(args = (1024), setup = mutex_pool_setup)]
#[bench::size_64_kib(args = (65536), setup = mutex_pool_setup)]
#[bench::size_1_mib(args = (1048576), setup = mutex_pool_setup)]
fn mutex_vec_pool((pool, src): (MutexPool<Vec<u8>>, Vec<u8>)) -> u8 {
    let mut x = 0;
    for _ in 0..USES {
        x ^= use_buffer(&mut pool.pull(|| Vec::with_capacity(src.len())), &src);
    }
    x
}

fn crate_pool_setup(size: usize) -> (Pool<Vec<u8>>, Vec<u8>) {
    (Pool::new(1, || Vec::with_capacity(size)), source(size))
}

#[library_benchmark]
#[bench::size_64_b(args = (64), setup = crate_pool_setup)]
#[bench::size_1_kib(args = (1024), setup = crate_pool_setup)]
#[bench::size_64_kib(args = (65536), setup = crate_pool_setup)]
#[bench::size_1_mib(args = (1048576), setup = crate_pool_setup)]
fn object_pool_crate((pool, src): (Pool<Vec<u8>>, Vec<u8>)) -> u8 {
    let mut x = 0;
    for _ in 0..USES {
        x ^= use_buffer(
            &mut pull_reset(&pool, || Vec::with_capacity(src.len())),
            &src,
        );
    }
    x
}

fn thread_pool_setup(size: usize) -> Vec<u8> {
    with_thread_buffer(size, |_| ());
    source(size)
}

#[library_benchmark]
#[bench::size_64_b(args = (64), setup = thread_pool_setup)]
#[bench::size_1_kib(args = (1024), setup = thread_pool_setup)]
#[bench::size_64_kib(args = (65536), setup = thread_pool_setup)]
#[bench::size_1_mib(args = (1048576), setup = thread_pool_setup)]
fn thread_local_pool(src: Vec<u8>) -> u8 {
    let mut x = 0;
    for _ in 0..USES {
        x ^= with_thread_buffer(src.len(), |buf| use_buffer(buf, &src));
    }
    x
}

fn buffer_pool_setup(size: usize) -> (BufferPool, Vec<u8>) {
    let pool = BufferPool::new(64 << 20);
    drop(pool.get(size));
    (pool, source(size))
}

#[library_benchmark]
#[bench::size_64_b(args = (64), setup = buffer_pool_setup)]
#[bench::size_1_kib(args = (1024), setup = buffer_pool_setup)]
#[bench::size_64_kib(args = (65536), setup = buffer_pool_setup)]
#[bench::size_1_mib(args = (1048576), setup = buffer_pool_setup)]
fn buffer_pool((pool, src): (BufferPool, Vec<u8>)) -> u8 {
    let mut x = 0;
    for _ in 0..USES {
        x ^= use_buffer(&mut pool.get(src.len()), &src);
    }
    x
}

library_benchmark_group!(
    name = fixed_size_one_thread,
    benchmarks = [
        fresh_vec,
        local_pool,
        mutex_vec_pool,
        object_pool_crate,
        thread_local_pool,
        buffer_pool
    ]
);

/// The same request-size stream as the criterion bench (256 requests, 64 B
/// to 1 MiB, mostly small), with a source buffer of the largest size.
fn stream_setup() -> (Vec<usize>, Vec<u8>) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let sizes = (0..256)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = x as usize;
            match r % 100 {
                0..=79 => 64 + r / 100 % (4096 - 64),
                80..=96 => 4096 + r / 100 % (60 * 1024),
                _ => 64 * 1024 + r / 100 % (960 * 1024),
            }
        })
        .collect();
    (sizes, source(1 << 20))
}

#[library_benchmark]
#[bench::requests_256(setup = stream_setup)]
fn stream_fresh_vec((sizes, src): (Vec<usize>, Vec<u8>)) -> u8 {
    sizes.iter().fold(0, |x, &n| {
        x ^ use_buffer(&mut Vec::with_capacity(n), &src[..n])
    })
}

fn stream_pool_setup() -> (BufferPool, Vec<usize>, Vec<u8>) {
    let (sizes, src) = stream_setup();
    let pool = BufferPool::new(64 << 20);
    for &n in &sizes {
        drop(pool.get(n)); // one pass fills the classes: the count is the steady state
    }
    (pool, sizes, src)
}

#[library_benchmark]
#[bench::requests_256(setup = stream_pool_setup)]
fn stream_buffer_pool((pool, sizes, src): (BufferPool, Vec<usize>, Vec<u8>)) -> u8 {
    sizes
        .iter()
        .fold(0, |x, &n| x ^ use_buffer(&mut pool.get(n), &src[..n]))
}

library_benchmark_group!(
    name = mixed_stream,
    benchmarks = [stream_fresh_vec, stream_buffer_pool]
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    setup = common::check_allocator_env();
    library_benchmark_groups = fixed_size_one_thread, mixed_stream
);
