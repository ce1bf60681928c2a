//! Callgrind bench (gungraun) of the allocators themselves: instructions
//! through `GlobalAlloc`, for `GoAlloc`, glibc (`System`), mimalloc and
//! jemalloc in the same binary. The workloads are the criterion bench's
//! (`allocator.rs`), from `common/allocators.rs`.
//!
//! Each benchmark function is named after the allocator (the same variant
//! names as the criterion bench); each bench id is a case, and its `_xN`
//! suffix says how many operations one measured call runs (100 pairs, or
//! a batch of N allocations and N frees), so that the book's table shows
//! instructions per alloc+free. The allocator is warmed up in the setup
//! expression (outside the measurement): one round of the same work, so the
//! thread cache / arena exists and the measured work is the steady state,
//! as in the criterion bench.
//!
//! The fact a reader gets wrong: instruction counts are not time. A pair
//! that touches a fresh page costs a page fault that callgrind does not
//! count (the kernel runs it), and a cache miss costs 100 instructions' time
//! for one instruction; read these next to the criterion medians.
mod common;

use common::allocators::{
    batch, lay, mixed_batch, pair, preload_lib, preload_pair, GOALLOC, JEMALLOC, MIMALLOC,
};
use gungraun::{library_benchmark, library_benchmark_group, main, LibraryBenchmarkConfig};
use std::alloc::{GlobalAlloc, System};
use std::hint::black_box;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

/// Pairs per measured call.
const PAIRS: usize = 100;

/// What one measured call does.
#[derive(Clone, Copy)]
enum Work {
    /// `PAIRS` alloc+free pairs of this size.
    Pairs(usize),
    /// A batch: this many allocations of this size, then as many frees.
    Batch(usize, usize),
    /// `PAIRS` frees of 64 B objects that the setup allocated on `GoAlloc`
    /// (the measured call only frees), in one of three ways.
    Frees(FreeBy),
    /// `PAIRS` `malloc` + `free` pairs of this size through the C ABI of the
    /// preloadable library ([`preload_lib`]).
    CAbiPairs(usize),
    /// One mixed-size batch (`common::allocators::MIXED_BATCH` objects, 16 B to 1 KiB).
    Mixed,
}

/// How [`Work::Frees`] frees.
#[derive(Clone, Copy)]
enum FreeBy {
    /// `GlobalAlloc::dealloc` with the layout.
    Layout,
    /// `GoAlloc::free`: no layout, the class comes from the page map.
    PointerOnly,
    /// The C ABI's `free` (objects from its `malloc`), as the preloadable
    /// library exports it ([`preload_lib`]: what an `LD_PRELOAD` user runs,
    /// called through a function pointer as a C program calls it through
    /// its PLT).
    CAbi,
}

/// One case: the work and the pointer buffer a batch needs (made in the
/// setup, so the measured call allocates nothing through the harness).
struct Case {
    work: Work,
    ptrs: Vec<usize>,
}

#[inline(always)]
fn run<A: GlobalAlloc>(a: &A, mut c: Case) -> Case {
    match c.work {
        Work::Pairs(size) => {
            let l = lay(size);
            for _ in 0..PAIRS {
                pair(a, l);
            }
        }
        Work::Batch(size, n) => batch(a, &mut c.ptrs, n, lay(size)),
        Work::Mixed => mixed_batch(a),
        Work::Frees(by) => {
            let ptrs = black_box(&c.ptrs).iter();
            // SAFETY (all three loops): each pointer was allocated by the
            // setup in the matching way (`fill`) and is freed once here.
            match by {
                FreeBy::Layout => {
                    ptrs.for_each(|&p| unsafe { GOALLOC.dealloc(p as *mut u8, lay(64)) })
                }
                FreeBy::PointerOnly => ptrs.for_each(|&p| unsafe { GOALLOC.free(p as *mut u8) }),
                FreeBy::CAbi => {
                    let free = preload_lib().free;
                    ptrs.for_each(|&p| unsafe { free(p as *mut _) })
                }
            }
            c.ptrs.clear();
        }
        Work::CAbiPairs(size) => {
            let lib = preload_lib();
            for _ in 0..PAIRS {
                preload_pair(lib, size);
            }
        }
    }
    c
}

/// Setup: one round of the work on `a` (outside the measurement); for
/// [`Work::Frees`], then the objects the measured call frees.
fn warm<A: GlobalAlloc>(a: &A, work: Work) -> Case {
    let n = match work {
        Work::Batch(_, n) => n,
        Work::Frees(_) => PAIRS,
        _ => 0,
    };
    let mut c = Case {
        work,
        ptrs: Vec::with_capacity(n),
    };
    if let Work::Frees(by) = work {
        fill(&mut c.ptrs, by);
    }
    let mut c = run(a, c);
    if let Work::Frees(by) = work {
        fill(&mut c.ptrs, by);
    }
    black_box(c)
}

/// `PAIRS` fresh 64 B objects on `GoAlloc`, allocated the way `by` frees them.
fn fill(ptrs: &mut Vec<usize>, by: FreeBy) {
    for _ in 0..PAIRS {
        let p = match by {
            // SAFETY: non-zero layout; freed once by the measured call.
            FreeBy::Layout | FreeBy::PointerOnly => unsafe { GOALLOC.alloc(lay(64)) },
            // SAFETY: the C API; freed once by the measured call.
            FreeBy::CAbi => unsafe { (preload_lib().malloc)(64).cast() },
        };
        assert!(!p.is_null());
        ptrs.push(p as usize);
    }
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&System, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&System, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&System, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&System, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&System, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&System, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&System, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&System, Work::Batch(64, 100)))]
#[bench::batch_16b_x1000(warm(&System, Work::Batch(16, 1_000)))]
#[bench::batch_64b_x1000(warm(&System, Work::Batch(64, 1_000)))]
#[bench::batch_1kib_x1000(warm(&System, Work::Batch(1024, 1_000)))]
#[bench::batch_16b_x100000(warm(&System, Work::Batch(16, 100_000)))]
#[bench::batch_64b_x100000(warm(&System, Work::Batch(64, 100_000)))]
#[bench::batch_1kib_x100000(warm(&System, Work::Batch(1024, 100_000)))]
#[bench::mixed_batch_x500(warm(&System, Work::Mixed))]
fn system(c: Case) -> Case {
    run(&System, c)
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&GOALLOC, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&GOALLOC, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&GOALLOC, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&GOALLOC, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&GOALLOC, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&GOALLOC, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&GOALLOC, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&GOALLOC, Work::Batch(64, 100)))]
#[bench::batch_16b_x1000(warm(&GOALLOC, Work::Batch(16, 1_000)))]
#[bench::batch_64b_x1000(warm(&GOALLOC, Work::Batch(64, 1_000)))]
#[bench::batch_1kib_x1000(warm(&GOALLOC, Work::Batch(1024, 1_000)))]
#[bench::batch_16b_x100000(warm(&GOALLOC, Work::Batch(16, 100_000)))]
#[bench::batch_64b_x100000(warm(&GOALLOC, Work::Batch(64, 100_000)))]
#[bench::batch_1kib_x100000(warm(&GOALLOC, Work::Batch(1024, 100_000)))]
#[bench::mixed_batch_x500(warm(&GOALLOC, Work::Mixed))]
#[bench::free_with_layout_64b_x100(warm(&GOALLOC, Work::Frees(FreeBy::Layout)))]
#[bench::free_pointer_only_64b_x100(warm(&GOALLOC, Work::Frees(FreeBy::PointerOnly)))]
#[bench::c_abi_free_64b_x100(warm(&GOALLOC, Work::Frees(FreeBy::CAbi)))]
#[bench::c_abi_malloc_free_64b_x100(warm(&GOALLOC, Work::CAbiPairs(64)))]
fn goalloc(c: Case) -> Case {
    run(&GOALLOC, c)
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&MIMALLOC, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&MIMALLOC, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&MIMALLOC, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&MIMALLOC, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&MIMALLOC, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&MIMALLOC, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&MIMALLOC, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&MIMALLOC, Work::Batch(64, 100)))]
#[bench::batch_16b_x1000(warm(&MIMALLOC, Work::Batch(16, 1_000)))]
#[bench::batch_64b_x1000(warm(&MIMALLOC, Work::Batch(64, 1_000)))]
#[bench::batch_1kib_x1000(warm(&MIMALLOC, Work::Batch(1024, 1_000)))]
#[bench::batch_16b_x100000(warm(&MIMALLOC, Work::Batch(16, 100_000)))]
#[bench::batch_64b_x100000(warm(&MIMALLOC, Work::Batch(64, 100_000)))]
#[bench::batch_1kib_x100000(warm(&MIMALLOC, Work::Batch(1024, 100_000)))]
#[bench::mixed_batch_x500(warm(&MIMALLOC, Work::Mixed))]
fn mimalloc(c: Case) -> Case {
    run(&MIMALLOC, c)
}

#[library_benchmark]
#[bench::pair_8b_x100(warm(&JEMALLOC, Work::Pairs(8)))]
#[bench::pair_16b_x100(warm(&JEMALLOC, Work::Pairs(16)))]
#[bench::pair_64b_x100(warm(&JEMALLOC, Work::Pairs(64)))]
#[bench::pair_1kib_x100(warm(&JEMALLOC, Work::Pairs(1024)))]
#[bench::pair_1025b_x100(warm(&JEMALLOC, Work::Pairs(1025)))]
#[bench::pair_32kib_x100(warm(&JEMALLOC, Work::Pairs(32 << 10)))]
#[bench::pair_64kib_x100(warm(&JEMALLOC, Work::Pairs(64 << 10)))]
#[bench::batch_64b_x100(warm(&JEMALLOC, Work::Batch(64, 100)))]
#[bench::batch_16b_x1000(warm(&JEMALLOC, Work::Batch(16, 1_000)))]
#[bench::batch_64b_x1000(warm(&JEMALLOC, Work::Batch(64, 1_000)))]
#[bench::batch_1kib_x1000(warm(&JEMALLOC, Work::Batch(1024, 1_000)))]
#[bench::batch_16b_x100000(warm(&JEMALLOC, Work::Batch(16, 100_000)))]
#[bench::batch_64b_x100000(warm(&JEMALLOC, Work::Batch(64, 100_000)))]
#[bench::batch_1kib_x100000(warm(&JEMALLOC, Work::Batch(1024, 100_000)))]
#[bench::mixed_batch_x500(warm(&JEMALLOC, Work::Mixed))]
fn jemalloc(c: Case) -> Case {
    run(&JEMALLOC, c)
}

library_benchmark_group!(
    name = allocator,
    benchmarks = [system, goalloc, mimalloc, jemalloc]
);

main!(
    config = LibraryBenchmarkConfig::default()
        .pass_through_envs(["COOKBOOK_ALLOC", "COOKBOOK_GOALLOC_LIB"]);
    library_benchmark_groups = allocator
);
