//! Criterion bench of the allocators themselves: `GoAlloc` beside glibc
//! (`System`), mimalloc and jemalloc, each called directly through
//! `GlobalAlloc` in this one binary (the bench's own global allocator,
//! chosen by `COOKBOOK_ALLOC`, only serves criterion and the harness).
//!
//! Every group has the allocators as variants, `system` first (the baseline
//! the book compares the others with). Allocation counts printed by
//! `common` are meaningless here: these calls bypass the counting global
//! allocator on purpose.
//!
//! Groups: alloc+free pairs per size (tiny, small, one byte over a class
//! boundary, large); batches of N allocations then N frees; each of Go's
//! paths on its own (cache hit, central refill, page heap, fresh memory from
//! the OS); producer/consumer across two threads; larson-like server churn;
//! independent churn of mixed small sizes on one and on two threads (the
//! scaling check: two threads doing twice the work should take about as
//! long as one on two free cores).
//!
//! The fact a reader gets wrong: the "fresh memory from the OS" case sets
//! `GoAlloc`'s scavenger threshold to zero for its duration, so every free
//! gives the pages back and every allocation faults them in again; without
//! that, a freed megabyte stays in the page heap and is reused. The other
//! allocators run the same calls under their own policies.
mod common;

use alloc_cookbook::GoAlloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static A: common::BenchAlloc = common::bench_alloc();

static GOALLOC: GoAlloc = GoAlloc::new();
static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
static JEMALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Runs `$body` once per allocator, with `$a` bound to it, as cases of `$g`.
macro_rules! each_allocator {
    ($g:expr, $param:expr, |$a:ident| $body:expr) => {{
        {
            let $a = &System;
            $g.case("system", $param, || $body);
        }
        {
            let $a = &GOALLOC;
            $g.case("goalloc", $param, || $body);
        }
        {
            let $a = &MIMALLOC;
            $g.case("mimalloc", $param, || $body);
        }
        {
            let $a = &JEMALLOC;
            $g.case("jemalloc", $param, || $body);
        }
    }};
}

/// Like `each_allocator`, with `case_threads` (work spread over threads).
macro_rules! each_allocator_threads {
    ($g:expr, $param:expr, |$a:ident| $body:expr) => {{
        {
            let $a = &System;
            $g.case_threads("system", $param, || $body);
        }
        {
            let $a = &GOALLOC;
            $g.case_threads("goalloc", $param, || $body);
        }
        {
            let $a = &MIMALLOC;
            $g.case_threads("mimalloc", $param, || $body);
        }
        {
            let $a = &JEMALLOC;
            $g.case_threads("jemalloc", $param, || $body);
        }
    }};
}

fn lay(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("bench sizes are valid")
}

/// One allocation, one byte written, one free.
#[inline(always)]
fn pair<A: GlobalAlloc>(a: &A, l: Layout) {
    // SAFETY: non-zero layout; the pointer is checked, written within bounds and freed once.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        p.write(1);
        a.dealloc(black_box(p), l);
    }
}

/// `n` allocations of `l`, then `n` frees in allocation order.
fn batch<A: GlobalAlloc>(a: &A, ptrs: &mut Vec<usize>, n: usize, l: Layout) {
    ptrs.clear();
    for _ in 0..n {
        // SAFETY: non-zero layout; every pointer is freed once below.
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        // SAFETY: p holds at least one byte.
        unsafe { p.write(1) };
        ptrs.push(p as usize);
    }
    for &p in ptrs.iter() {
        // SAFETY: allocated above with l.
        unsafe { a.dealloc(p as *mut u8, l) };
    }
}

/// Allocates `bytes` and writes one byte per 4 KiB page, then frees it.
fn touch_pages<A: GlobalAlloc>(a: &A, bytes: usize) {
    let l = lay(bytes);
    // SAFETY: non-zero layout; written within bounds, freed once.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        for off in (0..bytes).step_by(4096) {
            p.add(off).write(1);
        }
        a.dealloc(black_box(p), l);
    }
}

/// One thread allocates `n` objects of `l`, another frees them, in batches of 100.
fn producer_consumer<A: GlobalAlloc + Sync>(a: &A, n: usize, l: Layout) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<usize>>(16);
    std::thread::scope(|s| {
        s.spawn(move || {
            for batch in rx {
                for p in batch {
                    // SAFETY: allocated by the producer with l, freed once here.
                    unsafe { a.dealloc(p as *mut u8, l) };
                }
            }
        });
        let mut batch = Vec::with_capacity(100);
        for _ in 0..n {
            // SAFETY: non-zero layout; freed by the consumer.
            let p = unsafe { a.alloc(l) };
            assert!(!p.is_null());
            // SAFETY: p holds at least one byte.
            unsafe { p.write(1) };
            batch.push(p as usize);
            if batch.len() == 100 {
                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(100)))
                    .unwrap();
            }
        }
        tx.send(batch).unwrap();
        drop(tx);
    });
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Larson-like server churn: `threads` threads each own `slots` objects and
/// replace random ones with random sizes (16..=1024 B); after each round the
/// slots are handed to fresh threads, which free what the old ones made.
fn larson<A: GlobalAlloc + Sync>(
    a: &A,
    threads: usize,
    rounds: usize,
    slots: usize,
    replacements: usize,
) {
    let mut owned: Vec<Vec<(usize, usize)>> = vec![Vec::new(); threads];
    for round in 0..rounds {
        owned = std::thread::scope(|s| {
            let handles: Vec<_> = owned
                .into_iter()
                .enumerate()
                .map(|(t, mut mine)| {
                    s.spawn(move || {
                        let mut rng =
                            Rng(0x9E37_79B9 ^ (((round * threads + t) as u64 + 1) * 0x1234_5677));
                        while mine.len() < slots {
                            let size = 16 + (rng.next() % 1009) as usize;
                            // SAFETY: non-zero layout; freed later by some thread.
                            let p = unsafe { a.alloc(lay(size)) };
                            assert!(!p.is_null());
                            mine.push((p as usize, size));
                        }
                        for _ in 0..replacements {
                            let i = (rng.next() % slots as u64) as usize;
                            let (p, size) = mine[i];
                            // SAFETY: allocated by `a` with this size, freed once.
                            unsafe { a.dealloc(p as *mut u8, lay(size)) };
                            let size = 16 + (rng.next() % 1009) as usize;
                            // SAFETY: non-zero layout.
                            let q = unsafe { a.alloc(lay(size)) };
                            assert!(!q.is_null());
                            // SAFETY: q holds at least one byte.
                            unsafe { q.write(1) };
                            mine[i] = (q as usize, size);
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
    }
    for mine in owned {
        for (p, size) in mine {
            // SAFETY: allocated by `a` with this size, freed once.
            unsafe { a.dealloc(p as *mut u8, lay(size)) };
        }
    }
}

const MIXED: [usize; 8] = [24, 40, 72, 136, 264, 520, 1032, 16];

/// Independent churn: each of `threads` threads does 100 rounds of 500
/// allocations of mixed small sizes, then frees them.
fn mixed_churn<A: GlobalAlloc + Sync>(a: &A, threads: usize) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || {
                let mut ptrs = Vec::with_capacity(500);
                // Enough work per thread that spawning it is a small share.
                for _ in 0..100 {
                    for i in 0..500 {
                        let l = lay(MIXED[i % MIXED.len()]);
                        // SAFETY: non-zero layout; freed below.
                        let p = unsafe { a.alloc(l) };
                        assert!(!p.is_null());
                        // SAFETY: p holds at least one byte.
                        unsafe { p.write(1) };
                        ptrs.push((p as usize, l));
                    }
                    for (p, l) in ptrs.drain(..) {
                        // SAFETY: allocated above with l.
                        unsafe { a.dealloc(p as *mut u8, l) };
                    }
                }
            });
        }
    });
}

fn main() {
    common::check_allocator_env();
    let mut c = common::criterion();

    let mut g = common::group(&mut c, "allocator", "alloc+free pair");
    g.criterion()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    for (param, size) in [
        ("8 B", 8),
        ("16 B", 16),
        ("33 B", 33),
        ("64 B", 64),
        ("1 KiB", 1024),
        ("1025 B", 1025),
        ("32 KiB", 32 << 10),
        ("64 KiB", 64 << 10),
        ("1 MiB", 1 << 20),
    ] {
        let l = lay(size);
        each_allocator!(g, param, |a| pair(a, l));
    }
    g.finish();

    let mut g = common::group(
        &mut c,
        "allocator",
        "batch: N allocations of 64 B, then N frees",
    );
    g.criterion().sample_size(10);
    let mut ptrs = Vec::with_capacity(100_000);
    for n in [1_000, 100_000] {
        each_allocator!(g, n, |a| batch(a, &mut ptrs, n, lay(64)));
    }
    g.finish();

    let mut g = common::group(&mut c, "allocator", "Go's paths, one at a time");
    g.criterion()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(700));
    each_allocator!(g, "cache hit (64 B pair)", |a| pair(a, lay(64)));
    each_allocator!(g, "central refill (256 x 1 KiB, then free)", |a| batch(
        a,
        &mut ptrs,
        256,
        lay(1024)
    ));
    each_allocator!(g, "page heap (64 KiB pair)", |a| pair(a, lay(64 << 10)));
    GOALLOC.set_scavenge_threshold(0);
    each_allocator!(g, "fresh OS memory (1 MiB, every page touched)", |a| {
        touch_pages(a, 1 << 20)
    });
    GOALLOC.set_scavenge_threshold(alloc_cookbook::allocator::DEFAULT_SCAVENGE_THRESHOLD);
    g.finish();

    let mut g = common::group(
        &mut c,
        "allocator",
        "producer/consumer: one thread allocates, another frees",
    );
    g.criterion().sample_size(10);
    each_allocator_threads!(g, "10,000 x 64 B", |a| producer_consumer(
        a,
        10_000,
        lay(64)
    ));
    g.finish();

    let mut g = common::group(&mut c, "allocator", "larson-like server churn, 2 threads");
    g.criterion().sample_size(10);
    each_allocator_threads!(g, "2 rounds x 2 threads x 5,000 replacements", |a| larson(
        a, 2, 2, 500, 5_000
    ));
    g.finish();

    let mut g = common::group(
        &mut c,
        "allocator",
        "independent churn of mixed small sizes",
    );
    g.criterion().sample_size(10);
    each_allocator_threads!(g, "1 thread", |a| mixed_churn(a, 1));
    each_allocator_threads!(g, "2 threads (twice the work)", |a| mixed_churn(a, 2));
    g.finish();

    c.final_summary();
}
