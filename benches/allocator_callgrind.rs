//! Callgrind bench (gungraun) of the allocators themselves: instructions
//! for alloc+free pairs through `GlobalAlloc`, for `GoAlloc`, glibc
//! (`System`), mimalloc and jemalloc in the same binary.
//!
//! Each benchmark function is named after the allocator (the same variant
//! names as the criterion bench `allocator.rs`); each bench id is a case.
//! A case runs [`PAIRS`] pairs (or one batch) so that the fixed cost of the
//! call into the benchmark is negligible; the id's `_x100` suffix says so,
//! and the book's table divides by it to show instructions per pair. The allocator is warmed up in the setup expression (outside the
//! measurement): one round of the same work, so the thread cache / arena
//! exists and the measured pairs are the steady state, as in the criterion
//! bench. Inputs are smaller than in criterion (valgrind is ~50x slower).
//!
//! The fact a reader gets wrong: instruction counts are not time. A pair
//! that touches a fresh page costs a page fault that callgrind does not
//! count (the kernel runs it), and a cache miss costs 100 instructions' time
//! for one instruction; read these next to the criterion medians.
mod common;

use alloc_cookbook::GoAlloc;
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

static GOALLOC: GoAlloc = GoAlloc::new();
static MIMALLOC: ::mimalloc::MiMalloc = ::mimalloc::MiMalloc;
static JEMALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Pairs per measured call.
const PAIRS: usize = 100;

/// What one measured call does.
#[derive(Clone, Copy)]
enum Work {
    /// `PAIRS` alloc+free pairs of this size.
    Pairs(usize),
    /// 100 allocations of this size, then 100 frees.
    Batch(usize),
}

fn lay(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("bench sizes are valid")
}

#[inline(always)]
fn run<A: GlobalAlloc>(a: &A, w: Work) -> usize {
    let mut sum = 0usize;
    match w {
        Work::Pairs(size) => {
            let l = lay(size);
            for _ in 0..PAIRS {
                // SAFETY: non-zero layout; written within bounds; freed once.
                unsafe {
                    let p = a.alloc(l);
                    p.write(1);
                    sum = sum.wrapping_add(black_box(p) as usize);
                    a.dealloc(p, l);
                }
            }
        }
        Work::Batch(size) => {
            let l = lay(size);
            let mut ptrs = [core::ptr::null_mut::<u8>(); 100];
            for p in ptrs.iter_mut() {
                // SAFETY: non-zero layout; freed below.
                *p = unsafe { a.alloc(l) };
            }
            for &p in black_box(&ptrs).iter() {
                sum = sum.wrapping_add(p as usize);
                // SAFETY: allocated above with l.
                unsafe { a.dealloc(p, l) };
            }
        }
    }
    sum
}

/// Setup: one round of the work on `a` (outside the measurement).
fn warm<A: GlobalAlloc>(a: &A, w: Work) -> Work {
    black_box(run(a, w));
    w
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&System, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&System, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&System, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&System, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&System, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&System, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&System, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&System, Work::Batch(64)))]
fn system(w: Work) -> usize {
    run(&System, w)
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&GOALLOC, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&GOALLOC, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&GOALLOC, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&GOALLOC, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&GOALLOC, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&GOALLOC, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&GOALLOC, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&GOALLOC, Work::Batch(64)))]
fn goalloc(w: Work) -> usize {
    run(&GOALLOC, w)
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&MIMALLOC, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&MIMALLOC, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&MIMALLOC, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&MIMALLOC, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&MIMALLOC, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&MIMALLOC, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&MIMALLOC, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&MIMALLOC, Work::Batch(64)))]
fn mimalloc(w: Work) -> usize {
    run(&MIMALLOC, w)
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&JEMALLOC, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&JEMALLOC, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&JEMALLOC, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&JEMALLOC, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&JEMALLOC, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&JEMALLOC, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&JEMALLOC, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&JEMALLOC, Work::Batch(64)))]
fn jemalloc(w: Work) -> usize {
    run(&JEMALLOC, w)
}

library_benchmark_group!(
    name = allocator,
    benchmarks = [system, goalloc, mimalloc, jemalloc]
);

main!(
    config = LibraryBenchmarkConfig::default().pass_through_envs(["COOKBOOK_ALLOC"]);
    library_benchmark_groups = allocator
);
